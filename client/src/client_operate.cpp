// Client::Impl's calls that operate the cache — DELETE, PURGE, LIST, VERIFY
// and STATS with its detail (docs/protocol.md, "Operating the cache") — kept
// apart from the audio calls in client_impl.cpp. Like every reply, these are
// not trusted: the codecs (ipc/messages.cpp) bound every count before
// anything is allocated for it (a LIST page holds at most 1,024 entries, a
// VERIFY reply 1,000 problems), and what the codec cannot see is checked
// here against the request (a page longer than asked for, a cursor that does
// not move). A reply that breaks the protocol ends the connection.
#include <string>

#include "client/src/client_impl.hpp"
#include "ipc/protocol.hpp"

namespace ttscache {
namespace {

ListedEntry EntryFromWire(ipc::ListEntry&& w) {
  ListedEntry e;
  e.engine = std::move(w.engine);
  e.key = w.key;
  e.wav_bytes = w.wav_bytes;
  e.total_bytes = w.total_bytes;
  e.last_access_ns = w.last_access_ns;
  e.variants.reserve(w.variants.size());
  for (const ipc::ListVariant& v : w.variants) e.variants.push_back({v.params, v.bytes});
  return e;
}

// An engine field the daemon would refuse anyway, refused before sending so
// the caller's mistake is not reported as the daemon's.
Status CheckEngineField(std::string_view engine, bool may_be_empty) {
  if (engine.empty() && !may_be_empty) {
    return MakeError(Errc::kInvalidArgument, "an engine name is required");
  }
  if (engine.size() > ipc::kMaxEngineField) {
    return MakeError(Errc::kInvalidArgument,
                     "engine \"" + std::string(engine.substr(0, 40)) + "...\" is " +
                         std::to_string(engine.size()) + " bytes (at most " +
                         std::to_string(ipc::kMaxEngineField) + ": engine/voice)");
  }
  return {};
}

}  // namespace

Result<DeleteResult> Client::Impl::Delete(std::string_view engine, ipc::DeleteBy by,
                                          std::string_view text, std::span<const uint8_t> key) {
  if (Status s = CheckEngineField(engine, false); !s) return s.error();
  ipc::DeleteRequest request{engine, by, text, key};
  Result<Reply> r = Call(ipc::Opcode::kDelete, ipc::EncodeDeleteRequest(request));
  if (!r) return r.error();
  Result<ipc::DeleteReply> d = FromDaemon(ipc::DecodeDeleteReply(r->body));
  if (!d) return d.error();
  if (!d->deleted && (d->bytes != 0 || d->variants != 0)) {
    return DropConnection("DELETE reply: nothing deleted, yet " + std::to_string(d->bytes) +
                          " bytes and " + std::to_string(d->variants) + " variants freed");
  }
  return DeleteResult{d->deleted, d->bytes, d->variants};
}

Result<PurgeResult> Client::Impl::Purge(std::string_view engine) {
  if (Status s = CheckEngineField(engine, false); !s) return s.error();
  Result<Reply> r = Call(ipc::Opcode::kPurge, ipc::EncodePurgeRequest(engine));
  if (!r) return r.error();
  Result<ipc::PurgeReply> p = FromDaemon(ipc::DecodePurgeReply(r->body));
  if (!p) return p.error();
  return PurgeResult{p->entries, p->bytes};
}

Result<ListPage> Client::Impl::List(uint64_t cursor, const ListFilter& filter,
                                    uint32_t max_entries) {
  if (max_entries == 0 || max_entries > ipc::kMaxListEntries) {
    return MakeError(Errc::kInvalidArgument, "List: max_entries " + std::to_string(max_entries) +
                                                 " (expected 1 to " +
                                                 std::to_string(ipc::kMaxListEntries) + ")");
  }
  if (Status s = CheckEngineField(filter.engine, true); !s) return s.error();
  ipc::ListRequest request;
  request.cursor = cursor;
  request.max_entries = max_entries;
  request.engine = filter.engine;
  request.min_idle_s = filter.min_idle_s;
  request.max_idle_s = filter.max_idle_s;
  request.min_bytes = filter.min_bytes;
  request.max_bytes = filter.max_bytes;
  Result<Reply> r = Call(ipc::Opcode::kList, ipc::EncodeListRequest(request));
  if (!r) return r.error();
  Result<ipc::ListReply> l = FromDaemon(ipc::DecodeListReply(r->body));
  if (!l) return l.error();
  if (l->entries.size() > max_entries) {
    return DropConnection("LIST answered " + std::to_string(l->entries.size()) +
                          " entries, more than the " + std::to_string(max_entries) + " asked for");
  }
  // Every LIST visits at least one slot: a cursor that does not move would
  // have ForEachEntry ask the same page forever.
  if (l->next_cursor != 0 && l->next_cursor == cursor) {
    return DropConnection("LIST answered cursor " + std::to_string(cursor) +
                          " with the same cursor");
  }
  ListPage page;
  page.next_cursor = l->next_cursor;
  page.entries.reserve(l->entries.size());
  for (ipc::ListEntry& e : l->entries) page.entries.push_back(EntryFromWire(std::move(e)));
  return page;
}

Status Client::Impl::ForEachEntry(const ListFilter& filter,
                                  const std::function<bool(const ListedEntry&)>& each) {
  uint64_t cursor = 0;
  do {
    Result<ListPage> page = List(cursor, filter, ipc::kMaxListEntries);
    if (!page) return page.error();
    for (const ListedEntry& e : page->entries) {
      if (!each(e)) return {};
    }
    cursor = page->next_cursor;
  } while (cursor != 0);
  return {};
}

Result<VerifyResult> Client::Impl::Verify(bool repair) {
  Result<Reply> r = Call(ipc::Opcode::kVerify, ipc::EncodeVerifyRequest({repair}));
  if (!r) return r.error();
  Result<ipc::VerifyReply> v = FromDaemon(ipc::DecodeVerifyReply(r->body));
  if (!v) return v.error();
  if (v->problems_total < v->problems.size()) {
    return DropConnection("VERIFY reply lists " + std::to_string(v->problems.size()) +
                          " problems of a total of " + std::to_string(v->problems_total));
  }
  VerifyResult result;
  result.verdict = static_cast<VerifyVerdict>(v->verdict);
  result.entries_checked = v->entries_checked;
  result.files_checked = v->files_checked;
  result.problems_total = v->problems_total;
  result.problems.reserve(v->problems.size());
  for (ipc::VerifyProblem& p : v->problems) {
    result.problems.push_back(
        {std::move(p.kind), std::move(p.path), std::move(p.detail), p.repaired});
  }
  return result;
}

Result<ttscache::StatsDetail> Client::Impl::StatsDetail() {
  Result<ipc::StatsReply> w = Stats(ipc::kStatsLimits | ipc::kStatsStreams | ipc::kStatsDetail);
  if (!w) return w.error();
  ttscache::StatsDetail s;
  s.stats = internal::StatsFromWire(*w);
  s.has_detail = w->has_detail;
  if (!w->has_detail) return s;
  const ipc::StatsDetail& d = w->detail;
  if (d.oldest_access_ns.size() != w->engines.size()) {
    return DropConnection("STATS detail: " + std::to_string(d.oldest_access_ns.size()) +
                          " oldest entries for " + std::to_string(w->engines.size()) + " engines");
  }
  for (size_t i = 1; i < d.encode_buckets.size(); ++i) {
    if (d.encode_buckets[i] < d.encode_buckets[i - 1]) {
      return DropConnection("STATS detail: the encode histogram is not cumulative");
    }
  }
  if (d.encode_buckets.back() > d.encode_count) {
    return DropConnection("STATS detail: more encodes in a bucket than in total");
  }
  s.disk_free_bytes = d.disk_free_bytes;
  s.disk_total_bytes = d.disk_total_bytes;
  s.min_free_bytes = d.min_free_bytes;
  s.max_age_s = d.max_age_s;
  s.expired = d.expired;
  s.evicted_for_space = d.evicted_for_space;
  s.deleted = d.deleted;
  s.purged = d.purged;
  s.oldest_access_ns = d.oldest_access_ns;
  s.queue_depth = d.queue_depth;
  s.queue_capacity = d.queue_capacity;
  s.connections_open = d.connections_open;
  s.forbidden = d.forbidden;
  s.encode_buckets = d.encode_buckets;
  s.encode_count = d.encode_count;
  s.encode_sum_us = d.encode_sum_us;
  return s;
}

}  // namespace ttscache
