// Listing the cache (LIST, `ttscache ls`): a page of the index in slot
// order; see cache_store.hpp for the contract. The cursor is the next slot
// + 1, so it survives any change between pages: an entry keeps its slot for
// as long as it is cached (nothing compacts the table), which is what makes
// an entry present throughout a listing come up exactly once. Each page
// visits a bounded number of slots under one short hold of the mutex and
// reads the index only: no hit, no miss, no LRU move, no file opened.
#include <algorithm>

#include "daemon/cache/cache_store_internal.hpp"

namespace ttscache {
namespace {

// Whether the entry passes the idle and size bounds (0: no bound).
bool PassesBounds(const ListFilter& f, uint64_t idle_s, uint64_t total_bytes) {
  if (f.min_idle_s != 0 && idle_s < f.min_idle_s) return false;
  if (f.max_idle_s != 0 && idle_s > f.max_idle_s) return false;
  if (f.min_bytes != 0 && total_bytes < f.min_bytes) return false;
  if (f.max_bytes != 0 && total_bytes > f.max_bytes) return false;
  return true;
}

}  // namespace

Result<ListPage> CacheStore::List(uint64_t cursor, const ListFilter& filter, uint32_t max_entries,
                                  uint32_t max_visit) const {
  if (max_entries == 0 || max_visit == 0) {
    return MakeError(Errc::kInvalidArgument,
                     "LIST needs max_entries and max_visit of at least 1 (got " +
                         std::to_string(max_entries) + " and " + std::to_string(max_visit) + ")");
  }
  std::optional<EngineRef> only;
  if (!filter.engine.empty()) {
    Result<EngineRef> ref = state_->ParseEngine(filter.engine);
    if (!ref) return ref.error();
    only = *ref;
  }
  const uint64_t now = UnixTimeNs();
  State& s = *state_;
  ListPage page;
  MutexLock lock(s.mutex);
  if (s.closed) return MakeError(Errc::kInternal, "cache is closed");
  CacheIndex& idx = s.index();
  const uint32_t used = idx.header().used_slots;
  if (cursor > used) return page;  // past the end: the end
  std::optional<uint16_t> voice;
  if (only && !only->voice.empty()) {
    voice = s.VoiceIdLocked(*only);
    if (!voice) return page;  // a voice the index does not know lists nothing
  }
  uint32_t slot = cursor == 0 ? 0 : static_cast<uint32_t>(cursor - 1);
  for (uint32_t visited = 0;
       slot < used && visited < max_visit && page.entries.size() < max_entries; ++slot, ++visited) {
    const IndexEntry& e = idx.entry(slot);
    if (!e.in_use) continue;
    if (only && e.engine != only->engine) continue;
    if (voice && e.voice != *voice) continue;
    const uint64_t total = idx.EntryBytes(slot);
    const uint64_t idle_s = now > e.last_access ? (now - e.last_access) / 1000000000u : 0;
    if (!PassesBounds(filter, idle_s, total)) continue;
    ListedEntry entry;
    entry.engine = s.EnginePathOfLocked(slot);
    entry.key = idx.KeyOf(slot);
    entry.wav_bytes = e.wav_bytes;
    entry.total_bytes = total;
    entry.last_access_ns = e.last_access;
    for (const IndexVariant& v : e.variants) {
      if (v.bitrate_kbps != 0) entry.variants.push_back({CacheIndex::VariantParams(v), v.bytes});
    }
    page.entries.push_back(std::move(entry));
  }
  page.next_cursor = slot < used ? uint64_t{slot} + 1 : 0;
  return page;
}

}  // namespace ttscache
