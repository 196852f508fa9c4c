// Operating the cache over the wire (Server's members, see server.hpp):
// DELETE, PURGE, LIST, VERIFY, STATS detail and the maintenance timer.
// What unlinks files or reads the folder (DELETE, PURGE, VERIFY, Maintain)
// runs on the workers, never on the loop; LIST runs on the loop because one
// call visits at most kMaxListVisit index slots. DELETE, PURGE and VERIFY
// with repair are admin operations (docs/protocol.md): the peer's
// credentials were read at accept (SO_PEERCRED), and each deletion, purge
// and repair is logged with the peer's uid and pid.
#include <unistd.h>

#include <algorithm>

#include "core/log.hpp"
#include "daemon/server.hpp"
#include "ipc/error_codes.hpp"

namespace ttscache {
namespace {

// The worker pool's owner id for maintenance jobs: connection ids start at 1.
constexpr uint64_t kMaintenanceOwner = 0;
constexpr int64_t kMaintenanceWarningIntervalMs = 60000;
constexpr int64_t kRefusalLogIntervalMs = 10000;  // as connection_io.cpp's
constexpr uint32_t kVerifyRetryMs = 1000;
// VERIFY reply strings are bounded by the decoder (ipc/messages.cpp).
constexpr size_t kMaxProblemKind = 64, kMaxProblemText = 4096;

using ipc::ReplyOpcode;

// A job's ERROR completion (Completion is Server's private type, named by
// the caller).
template <class Completion>
Completion Failed(const Error& e) {
  Completion done;
  done.opcode = static_cast<uint8_t>(ipc::Opcode::kError);
  done.body = ipc::EncodeErrorReply({ipc::ToWireError(e.code), 0, 0, e.message});
  done.error = true;
  return done;
}

std::string Peer(uid_t uid, pid_t pid) {
  return "uid " + std::to_string(uid) + " pid " + std::to_string(pid);
}

using log::Printable;

std::string Clip(const std::string& s, size_t max) {
  return s.size() <= max ? s : s.substr(0, max - 3) + "...";
}

template <class Id>
bool Contains(const std::vector<Id>& ids, Id id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

bool Server::IsAdmin(const Connection& c) const {
  const DaemonSettings& d = config_.config.daemon;
  return c.uid == ::geteuid() || Contains(d.admin_uids, c.uid) || Contains(d.admin_gids, c.gid);
}

bool Server::RefuseUnlessAdmin(Connection& c, uint64_t request, const std::string& what) {
  if (IsAdmin(c)) return false;
  forbidden_++;
  // One line per interval, shared with the refusals at accept: a peer
  // retrying in a loop must not flood the journal.
  const int64_t now = NowMs();
  if (last_refusal_log_ms_ < 0 || now - last_refusal_log_ms_ >= kRefusalLogIntervalMs) {
    log::Notice("refused " + what + " from " + Peer(c.uid, c.pid) + " gid " +
                std::to_string(c.gid) + ": not an admin" +
                (refusals_unlogged_ ? " (and " + std::to_string(refusals_unlogged_) +
                                          " refusals not logged since the last line)"
                                    : ""));
    last_refusal_log_ms_ = now;
    refusals_unlogged_ = 0;
  } else {
    refusals_unlogged_++;
  }
  QueueError(c, request,
             MakeError(Errc::kForbidden,
                       what + " is an admin operation: uid " + std::to_string(c.uid) + " (gid " +
                           std::to_string(c.gid) +
                           ") is not in [daemon] admin_uids or admin_gids, and is not the "
                           "daemon's own user"));
  return true;
}

void Server::HandleDelete(Connection& c, uint64_t request, std::span<const uint8_t> body) {
  Result<ipc::DeleteRequest> del = ipc::DecodeDeleteRequest(body);
  if (!del) return QueueError(c, request, del.error());
  if (RefuseUnlessAdmin(c, request, "DELETE")) return;
  const bool by_key = del->by == ipc::DeleteBy::kKey;
  CacheKey key;
  if (by_key) std::copy(del->key.begin(), del->key.end(), key.digest.begin());
  // Unlinking runs on a worker; the body's views are copied for it. Not
  // cancellable: a deletion asked for happens even if the client leaves.
  SubmitJob(c, request,
            [this, engine = std::string(del->engine), text = std::string(del->text), by_key, key,
             uid = c.uid, pid = c.pid]() -> std::optional<Completion> {
              Result<DeleteOutcome> out =
                  by_key ? store_->DeleteKey(engine, key) : store_->Delete(engine, text);
              std::optional<CacheKey> entry_key = by_key ? std::optional(key) : std::nullopt;
              if (!by_key) {
                Result<std::pair<uint8_t, CacheKey>> resolved = store_->Resolve(engine, text);
                if (resolved) entry_key = resolved->second;
              }
              const std::string name = entry_key ? entry_key->hex() : "(text)";
              if (!out) {
                log::Notice(Printable("delete " + engine + " " + name + " for " + Peer(uid, pid) +
                                      " failed: " + out.error().message));
                return Failed<Completion>(out.error());
              }
              log::Info("delete " + engine + " " + name + ": " +
                        (out->deleted ? std::to_string(out->bytes) + " bytes, " +
                                            std::to_string(out->variants) + " variants removed"
                                      : std::string("not cached")) +
                        " (" + Peer(uid, pid) + ")");
              // Cached here or not, the fleet's copy goes too: else the next
              // miss of any host (this one included) would bring it back.
              if (tier_ && entry_key) tier_->ForgetWav(engine, *entry_key);
              Completion done;
              done.opcode = ReplyOpcode(ipc::Opcode::kDelete);
              done.body = ipc::EncodeDeleteReply({out->deleted, out->bytes, out->variants});
              return done;
            });
}

void Server::HandlePurge(Connection& c, uint64_t request, std::span<const uint8_t> body) {
  Result<std::string_view> engine = ipc::DecodePurgeRequest(body);
  if (!engine) return QueueError(c, request, engine.error());
  if (engine->empty()) {
    return QueueError(c, request,
                      MakeError(Errc::kInvalidArgument,
                                "PURGE names no engine (expected \"engine\" or \"engine/voice\")"));
  }
  if (RefuseUnlessAdmin(c, request, "PURGE")) return;
  // One job under the connection's turn: it may take seconds; the store
  // takes its locks per batch, so gets and puts go on meanwhile.
  SubmitJob(c, request,
            [this, engine = std::string(*engine), uid = c.uid,
             pid = c.pid]() -> std::optional<Completion> {
              Result<PurgeOutcome> out = store_->Purge(engine);
              if (!out) {
                log::Notice(Printable("purge " + engine + " for " + Peer(uid, pid) +
                                      " failed: " + out.error().message));
                return Failed<Completion>(out.error());
              }
              log::Info("purge " + engine + ": " + std::to_string(out->entries) + " entries, " +
                        std::to_string(out->bytes) + " bytes removed (" + Peer(uid, pid) + ")");
              Completion done;
              done.opcode = ReplyOpcode(ipc::Opcode::kPurge);
              done.body = ipc::EncodePurgeReply({out->entries, out->bytes});
              return done;
            });
}

void Server::HandleList(Connection& c, uint64_t request, std::span<const uint8_t> body) {
  Result<ipc::ListRequest> list = ipc::DecodeListRequest(body);
  if (!list) return QueueError(c, request, list.error());
  ListFilter filter;
  filter.engine = std::string(list->engine);
  filter.min_idle_s = list->min_idle_s;
  filter.max_idle_s = list->max_idle_s;
  filter.min_bytes = list->min_bytes;
  filter.max_bytes = list->max_bytes;
  // On the loop: at most kMaxListVisit slots of the mapped index, at most
  // kMaxListEntries entries in the reply (a few hundred KiB).
  Result<ListPage> page = store_->List(list->cursor, filter, list->max_entries, ipc::kMaxListVisit);
  if (!page) return QueueError(c, request, page.error());
  ipc::ListReply reply;
  reply.next_cursor = page->next_cursor;
  reply.entries.reserve(page->entries.size());
  for (ListedEntry& e : page->entries) {
    ipc::ListEntry& out = reply.entries.emplace_back();
    out.engine = std::move(e.engine);
    out.key = e.key.digest;
    out.wav_bytes = e.wav_bytes;
    out.total_bytes = e.total_bytes;
    out.last_access_ns = e.last_access_ns;
    for (const ListedVariant& v : e.variants) out.variants.push_back({v.params, v.bytes});
  }
  Queue(c, {ipc::BuildFrame(ReplyOpcode(ipc::Opcode::kList), request, ipc::EncodeListReply(reply)),
            {}});
}

void Server::HandleVerify(Connection& c, uint64_t request, std::span<const uint8_t> body) {
  Result<ipc::VerifyRequest> verify = ipc::DecodeVerifyRequest(body);
  if (!verify) return QueueError(c, request, verify.error());
  if (verify->repair && RefuseUnlessAdmin(c, request, "VERIFY with repair")) return;
  if (verify_running_) {
    busy_++;
    return QueueError(c, request,
                      MakeError(Errc::kBusy, "a VERIFY is running (one at a time); retry"),
                      kVerifyRetryMs);
  }
  // Its completion, handled on the loop, clears verify_running_ (so a burst
  // of VERIFYs pipelined on a connection meets BUSY deterministically).
  verify_running_ = SubmitJob(
      c, request,
      [this, repair = verify->repair, uid = c.uid, pid = c.pid]() -> std::optional<Completion> {
        Result<VerifyReport> report = store_->Verify(repair);
        if (!report) {
          Completion failed = Failed<Completion>(report.error());
          failed.ends_verify = true;
          return failed;
        }
        ipc::VerifyReply reply;
        reply.verdict = report->verdict == VerifyVerdict::kClean ? ipc::VerifyVerdict::kClean
                        : report->verdict == VerifyVerdict::kRepaired
                            ? ipc::VerifyVerdict::kRepaired
                            : ipc::VerifyVerdict::kDamaged;
        reply.entries_checked = report->entries_checked;
        reply.files_checked = report->files_checked;
        reply.problems_total = report->findings.size();
        uint64_t repaired = 0;
        for (const VerifyFinding& f : report->findings) {
          repaired += f.repaired ? 1 : 0;
          if (reply.problems.size() >= ipc::kMaxVerifyProblems) continue;
          reply.problems.push_back({Clip(f.kind, kMaxProblemKind), Clip(f.path, kMaxProblemText),
                                    Clip(f.detail, kMaxProblemText), f.repaired});
        }
        if (repair) {
          log::Info("verify with repair: " + std::to_string(report->entries_checked) +
                    " entries and " + std::to_string(report->files_checked) + " files checked, " +
                    std::to_string(report->findings.size()) + " problems, " +
                    std::to_string(repaired) + " repaired (" + Peer(uid, pid) + ")");
        }
        Completion done;
        done.ends_verify = true;
        done.opcode = ReplyOpcode(ipc::Opcode::kVerify);
        done.body = ipc::EncodeVerifyReply(reply);
        return done;
      });
}

void Server::FillStatsDetail(const CacheStats& s, ipc::StatsDetail* d) const {
  d->disk_free_bytes = s.disk_free_bytes;
  d->disk_total_bytes = s.disk_total_bytes;
  d->min_free_bytes = s.min_free_bytes;
  d->max_age_s = s.max_age_s;
  d->expired = s.expired;
  d->evicted_for_space = s.evicted_for_space;
  d->deleted = s.deleted;
  d->purged = s.purged;
  // One per engine, in the reply's engine order (the decoder checks the count).
  d->oldest_access_ns = s.oldest_access_ns;
  d->oldest_access_ns.resize(s.engines.size(), 0);
  d->queue_depth = workers_->queued();
  d->queue_capacity = static_cast<uint64_t>(config_.config.daemon.queue_depth);
  d->connections_open = connections_.size();
  d->forbidden = forbidden_;
  encode_histogram_.Snapshot(d);
}

void Server::StartMaintenance() {
  const CacheSettings& cache = config_.config.cache;
  if (stopping_ ||
      (cache.min_free_bytes == 0 && cache.min_free_percent == 0 && cache.max_age_s == 0)) {
    return;
  }
  if (maintenance_running_.exchange(true)) return;  // the last one is still at it
  jobs_running_++;
  // It unlinks files: a worker's job, never the loop's. A full queue skips
  // this second's round; the next tick tries again.
  const bool queued = workers_->TrySubmit(kMaintenanceOwner, [this] {
    Result<MaintenanceOutcome> out = store_->Maintain();
    if (!out) {
      const int64_t now = NowMs();
      if (maintenance_warned_ms_ < 0 ||
          now - maintenance_warned_ms_ >= kMaintenanceWarningIntervalMs) {
        log::Warning("cache maintenance (max_age, min_free) failed: " + out.error().message);
        maintenance_warned_ms_ = now;
      }
    } else if (out->expired > 0 || out->evicted_for_space > 0) {
      log::Info("cache maintenance: removed " + std::to_string(out->expired) +
                " entries unused past max_age and " + std::to_string(out->evicted_for_space) +
                " least recently used entries to keep min_free");
    }
    maintenance_running_ = false;
    jobs_running_--;
  });
  if (!queued) {
    maintenance_running_ = false;
    jobs_running_--;
  }
}

}  // namespace ttscache
