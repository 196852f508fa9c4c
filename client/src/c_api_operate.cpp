// The C API's calls that operate the cache: delete, purge, a LIST page, a
// VERIFY report and STATS with its detail. What the library hands out
// (a page, a report, the detail) is one allocated block each: the public
// struct first, then the storage its pointers point into, so each _free is
// one delete and a caller never frees a piece of it.
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "c_api_internal.hpp"

using namespace ttscache::capi;  // NOLINT: the C entry points below are its callers

namespace {

struct ListBlock {
  ttscache_list_page pub{};
  std::vector<ttscache_list_entry> entries;
  std::vector<std::string> engines;                          // one per entry
  std::vector<std::vector<ttscache_list_variant>> variants;  // one per entry
};
static_assert(std::is_standard_layout_v<ListBlock>);

struct VerifyBlock {
  ttscache_verify_report pub{};
  std::vector<ttscache_verify_problem> problems;
  std::vector<ttscache::VerifyProblem> owned;  // the strings the problems point into
};
static_assert(std::is_standard_layout_v<VerifyBlock>);

struct DetailBlock {
  ttscache_stats_detail pub{};
  StatsBlock stats;
  std::vector<uint64_t> oldest;
};
static_assert(std::is_standard_layout_v<DetailBlock>);

ttscache_opus_params ToC(const ttscache::OpusParams& p) {
  ttscache_opus_params c;
  ttscache_opus_params_init(&c);
  c.bitrate_kbps = p.bitrate_kbps;
  c.vbr = static_cast<int>(p.vbr) + 1;  // TTSCACHE_VBR_ON is VbrMode::kOn + 1, and so on
  c.application = static_cast<int>(p.application) + 1;
  c.complexity = p.complexity;
  c.frame_us = p.frame_us;
  return c;
}

int DeleteResultOut(ttscache_client* client, const ttscache::Result<ttscache::DeleteResult>& r,
                    ttscache_delete_result* out) {
  if (!r) return Fail(client, r.error());
  if (out) {
    out->deleted = r->deleted ? 1 : 0;
    out->bytes = r->bytes;
    out->variants = r->variants;
  }
  Ok(client);
  return r->deleted ? TTSCACHE_OK : TTSCACHE_MISS;
}

}  // namespace

extern "C" {

int ttscache_delete(ttscache_client* client, const char* engine, const char* text,
                    size_t text_length, ttscache_delete_result* out) {
  if (out) *out = ttscache_delete_result{};
  if (!client || !engine) return Invalid(client, "NULL argument");
  if (const char* bad = BadText(text, text_length)) return Invalid(client, bad);
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    return DeleteResultOut(client, client->client->Delete(engine, {text, text_length}), out);
  });
}

int ttscache_delete_key(ttscache_client* client, const char* engine, const uint8_t key[32],
                        ttscache_delete_result* out) {
  if (out) *out = ttscache_delete_result{};
  if (!client || !engine || !key) return Invalid(client, "NULL argument");
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    return DeleteResultOut(
        client, client->client->DeleteKey(engine, std::span<const uint8_t, 32>(key, 32)), out);
  });
}

int ttscache_purge(ttscache_client* client, const char* engine, ttscache_purge_result* out) {
  if (out) *out = ttscache_purge_result{};
  if (!client || !engine) return Invalid(client, "NULL argument");
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto r = client->client->Purge(engine);
    if (!r) return Fail(client, r.error());
    if (out) {
      out->entries = r->entries;
      out->bytes = r->bytes;
    }
    return Ok(client);
  });
}

int ttscache_list(ttscache_client* client, uint64_t cursor, const ttscache_list_filter* filter,
                  uint32_t max_entries, ttscache_list_page** out) {
  if (out) *out = nullptr;
  if (!client || !out) return Invalid(client, "NULL argument");
  if (max_entries == 0 || max_entries > 1024) return Invalid(client, "max_entries must be 1-1024");
  if (filter) {
    for (uint64_t r : filter->reserved_) {
      if (r != 0)
        return Invalid(client, "ttscache_list_filter.reserved_ must be 0 (zero it first)");
    }
  }
  return Guarded(client, [&] {
    ttscache::ListFilter f;
    if (filter) {
      f.engine = filter->engine ? filter->engine : "";
      f.min_idle_s = filter->min_idle_s;
      f.max_idle_s = filter->max_idle_s;
      f.min_bytes = filter->min_bytes;
      f.max_bytes = filter->max_bytes;
    }
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto page = client->client->List(cursor, f, max_entries);
    if (!page) return Fail(client, page.error());
    auto block = std::make_unique<ListBlock>();
    const size_t n = page->entries.size();
    block->engines.reserve(n);
    block->variants.reserve(n);
    block->entries.reserve(n);
    for (const ttscache::ListedEntry& e : page->entries) {
      block->engines.push_back(e.engine);
      std::vector<ttscache_list_variant>& vs = block->variants.emplace_back();
      vs.reserve(e.variants.size());
      for (const ttscache::ListedVariant& v : e.variants) vs.push_back({ToC(v.params), v.bytes});
      ttscache_list_entry c{};
      c.engine = block->engines.back().c_str();
      std::memcpy(c.key, e.key.data(), sizeof(c.key));
      c.wav_bytes = e.wav_bytes;
      c.total_bytes = e.total_bytes;
      c.last_access_ns = e.last_access_ns;
      c.variant_count = vs.size();
      c.variants = vs.data();
      block->entries.push_back(c);
    }
    block->pub.next_cursor = page->next_cursor;
    block->pub.count = block->entries.size();
    block->pub.entries = block->entries.data();
    *out = &block.release()->pub;
    return Ok(client);
  });
}

void ttscache_list_free(ttscache_list_page* page) { delete reinterpret_cast<ListBlock*>(page); }

int ttscache_verify(ttscache_client* client, int repair, ttscache_verify_report** out) {
  if (out) *out = nullptr;
  if (!client || !out) return Invalid(client, "NULL argument");
  if (repair != 0 && repair != 1) return Invalid(client, "repair must be 0 or 1");
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto r = client->client->Verify(repair == 1);
    if (!r) return Fail(client, r.error());
    auto block = std::make_unique<VerifyBlock>();
    block->owned = std::move(r->problems);
    block->problems.reserve(block->owned.size());
    for (const ttscache::VerifyProblem& p : block->owned) {
      block->problems.push_back(
          {p.kind.c_str(), p.path.c_str(), p.detail.c_str(), p.repaired ? 1 : 0, {}});
    }
    ttscache_verify_report& v = block->pub;
    v.verdict = static_cast<int>(r->verdict);
    v.entries_checked = r->entries_checked;
    v.files_checked = r->files_checked;
    v.problems_total = r->problems_total;
    v.problem_count = block->problems.size();
    v.problems = block->problems.data();
    *out = &block.release()->pub;
    return Ok(client);
  });
}

void ttscache_verify_free(ttscache_verify_report* report) {
  delete reinterpret_cast<VerifyBlock*>(report);
}

int ttscache_stats_detail_get(ttscache_client* client, ttscache_stats_detail** out) {
  if (out) *out = nullptr;
  if (!client || !out) return Invalid(client, "NULL argument");
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto r = client->client->StatsDetail();
    if (!r) return Fail(client, r.error());
    auto block = std::make_unique<DetailBlock>();
    FillStats(r->stats, &block->stats);
    block->oldest = r->oldest_access_ns;
    ttscache_stats_detail& d = block->pub;
    d.stats = &block->stats.pub;
    d.has_detail = r->has_detail ? 1 : 0;
    d.disk_free_bytes = r->disk_free_bytes;
    d.disk_total_bytes = r->disk_total_bytes;
    d.min_free_bytes = r->min_free_bytes;
    d.max_age_s = r->max_age_s;
    d.expired = r->expired;
    d.evicted_for_space = r->evicted_for_space;
    d.deleted = r->deleted;
    d.purged = r->purged;
    // One per engine even from a daemon without the detail (all 0 then).
    block->oldest.resize(r->stats.engines.size());
    d.oldest_access_ns = block->oldest.data();
    d.queue_depth = r->queue_depth;
    d.queue_capacity = r->queue_capacity;
    d.connections_open = r->connections_open;
    d.forbidden = r->forbidden;
    static_assert(TTSCACHE_ENCODE_BUCKETS == ttscache::StatsDetail::kEncodeBuckets);
    for (size_t i = 0; i < TTSCACHE_ENCODE_BUCKETS; ++i) {
      d.encode_bucket_bounds_us[i] = ttscache::StatsDetail::kEncodeBucketBoundsUs[i];
      d.encode_buckets[i] = r->encode_buckets[i];
    }
    d.encode_count = r->encode_count;
    d.encode_sum_us = r->encode_sum_us;
    *out = &block.release()->pub;
    return Ok(client);
  });
}

void ttscache_stats_detail_free(ttscache_stats_detail* detail) {
  delete reinterpret_cast<DetailBlock*>(detail);
}

}  // extern "C"
