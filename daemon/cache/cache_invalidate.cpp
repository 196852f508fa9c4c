// Invalidation: Delete/DeleteKey (one entry with its variants) and Purge
// (every entry of an engine, or of one voice, that existed when it began);
// see cache_store.hpp for the contract. Both take names out of the index and
// unlink them holding publish_mutex (State::publish_mutex's rule), so a
// concurrent put of the same key never has its new file unlinked: it
// publishes before (and is what gets deleted) or after (and stays).
// A purge works in batches of slots, taking the locks per batch, so gets
// and puts go on between batches; what it removes is fixed by generation:
// an entry put (or put again) after the purge began has a newer one.
#include <algorithm>

#include "core/log.hpp"
#include "daemon/cache/cache_store_internal.hpp"

namespace ttscache {
namespace {

// Slots examined per hold of the locks: short enough that a get waits
// microseconds, long enough that a million-entry purge is ~1,000 holds.
constexpr uint32_t kPurgeBatchSlots = 1024;

Error ClosedStore() { return MakeError(Errc::kInternal, "cache is closed"); }

// Flushes the folders whose names changed, so an unlink survives a crash
// (else a rebuild would adopt the deleted files again).
Status SyncFolders(CacheDirectory& directory, const std::vector<DoomedFile>& removed) {
  std::vector<const Folder*> done;
  for (const DoomedFile& f : removed) {
    if (std::any_of(done.begin(), done.end(), [&](const Folder* d) { return *d == f.folder; })) {
      continue;
    }
    done.push_back(&f.folder);
    if (Status s = directory.SyncFolder(f.folder); !s) return s;
  }
  return {};
}

}  // namespace

Result<DeleteOutcome> CacheStore::State::DeleteEntry(const EngineRef& ref, const CacheKey& key) {
  DeleteOutcome outcome;
  std::vector<DoomedFile> doomed;
  {
    MutexLock publishing(publish_mutex);
    {
      MutexLock lock(mutex);
      if (closed) return ClosedStore();
      const std::optional<uint16_t> voice = VoiceIdLocked(ref);
      std::optional<uint32_t> slot;
      if (voice) slot = index().Find(ref.engine, key, *voice);
      if (!slot) return outcome;
      // No put is between its publish and its reinsert (they hold
      // publish_mutex): the index names exactly the files there are.
      const auto [bytes, variants] = EvictLocked(*slot, false, &doomed);
      outcome = DeleteOutcome{true, bytes, variants};
      deleted_count++;
    }
    RemoveFiles(doomed);
  }
  if (Status s = SyncFolders(*directory, doomed); !s) return s.error();
  return outcome;
}

Result<DeleteOutcome> CacheStore::Delete(std::string_view engine, std::string_view text) {
  Result<EntryRef> entry = state_->ResolveEntry(engine, text);
  if (!entry) return entry.error();
  return state_->DeleteEntry(entry->owner, entry->key);
}

Result<DeleteOutcome> CacheStore::DeleteKey(std::string_view engine, const CacheKey& key) {
  Result<EngineRef> owner = state_->ParseEngine(engine);
  if (!owner) return owner.error();
  return state_->DeleteEntry(*owner, key);
}

Result<PurgeOutcome> CacheStore::Purge(std::string_view engine) {
  Result<EngineRef> owner = state_->ParseEngine(engine);
  if (!owner) return owner.error();
  const EngineRef ref = *owner;
  State& s = *state_;
  uint64_t cutoff = 0;
  {
    MutexLock lock(s.mutex);
    if (s.closed) return ClosedStore();
    // Every entry there is now has a generation up to this one; a put from
    // here on gets a newer one and is not purged.
    cutoff = s.last_generation;
  }
  PurgeOutcome outcome;
  std::vector<DoomedFile> removed;  // for the folder syncs at the end
  for (uint32_t first = 0;; first += kPurgeBatchSlots) {
    std::vector<DoomedFile> doomed;
    MutexLock publishing(s.publish_mutex);
    {
      MutexLock lock(s.mutex);
      if (s.closed) return ClosedStore();
      CacheIndex& idx = s.index();
      const uint32_t used = idx.header().used_slots;
      if (first >= used) break;
      // By name, per batch: a voice emptied by this purge may have given
      // its place to a new voice since, whose entries are all newer.
      std::optional<uint16_t> voice = s.VoiceIdLocked(ref);
      if (!voice) break;  // the voice has no entries (left)
      const uint32_t end = std::min(used, first + kPurgeBatchSlots);
      for (uint32_t slot = first; slot < end; ++slot) {
        const IndexEntry& e = idx.entry(slot);
        if (!e.in_use || e.engine != ref.engine) continue;
        if (!ref.voice.empty() && e.voice != *voice) continue;
        if (s.generations[slot] > cutoff) continue;
        const auto [bytes, variants] = s.EvictLocked(slot, false, &doomed);
        outcome.entries++;
        outcome.bytes += bytes;
        s.purged_count++;
      }
    }
    s.RemoveFiles(doomed);
    removed.insert(removed.end(), doomed.begin(), doomed.end());
  }
  if (Status sync = SyncFolders(*s.directory, removed); !sync) return sync.error();
  return outcome;
}

}  // namespace ttscache
