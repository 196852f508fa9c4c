// CacheStore's private state, shared by cache_store.cpp (requests) and
// cache_rebuild.cpp (adopting a directory into a fresh index). Not a public
// interface.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <vector>

#include "daemon/cache/cache_directory.hpp"
#include "daemon/cache/cache_store.hpp"
#include "daemon/cache/index_file.hpp"
#include "daemon/cache/open_file_cache.hpp"

namespace ttscache {

// An entry looked up with the store's mutex held (slot empty on a miss,
// which is already counted).
struct LockedLookup {
  std::unique_lock<std::mutex> lock;
  uint8_t engine;
  CacheKey key;
  std::optional<uint32_t> slot;
  EngineCounters* counters;
};

struct CacheStore::State {
  CacheOptions options;
  std::optional<CacheDirectory> directory;
  std::optional<IndexFile> index_file;
  uint64_t capacity_per_engine = 0;
  mutable std::mutex mutex;  // guards the index, the limits and `closed`
  bool closed = false;
  // options.limits.max_text_bytes, readable without the mutex: Resolve runs
  // before any lock is taken, while SetLimits may change the limits.
  std::atomic<uint64_t> max_text_bytes{0};
  // Per slot, the generation of the entry in it (in memory only: no variant
  // encode survives a restart). Unique per store; 0 is never assigned.
  std::vector<uint64_t> generations;
  uint64_t last_generation = 0;
  // Descriptors of recently served files; EvictLocked forgets an entry's.
  OpenFileCache open_files{DefaultOpenFileCacheCapacity()};
  // Random per store: file identities from an earlier daemon never match.
  const uint64_t open_file_nonce = RandomNonce();

  CacheIndex& index() { return index_file->index(); }

  // Takes the mutex and finds (engine, key); errors if the store is closed.
  Result<LockedLookup> LookUp(uint8_t engine, const CacheKey& key);
  // Adds an entry with a new generation. REQUIRES: mutex held, as Insert.
  uint32_t InsertLocked(uint8_t engine, const CacheKey& key, uint64_t wav_bytes);
  // Opens the entry's WAV read-only, checked (OpenKeptLocked). Opened under
  // the lock, so an eviction cannot unlink it between lookup and open. A file
  // gone or not what the index says drops the entry (nullopt); any other
  // failure (kBusy: out of descriptors) keeps it and is returned.
  // REQUIRES: mutex held.
  Result<std::optional<CachedFile>> OpenWavLocked(uint32_t slot);
  // A cache file (WAV or variant) by its OpenFileCache key: the kept
  // descriptor, or a checked open that is then kept, with the file's
  // identity when kept. Checked: a regular file, owned by our euid, of the
  // indexed size; a file gone or failing a check is Errc::kNotFound (the
  // caller drops it), anything else is the open's own error.
  // REQUIRES: mutex held.
  Result<CachedFile> OpenKeptLocked(uint64_t open_key, uint8_t engine, const std::string& name,
                                    uint64_t bytes);
  // Unlinks an entry's files and forgets it. REQUIRES: mutex held.
  void EvictLocked(uint32_t slot, bool count_eviction);
  // Evicts LRU entries until the limits hold; `keep` (a slot just added) is
  // never chosen. Returns how many went. REQUIRES: mutex held.
  uint64_t EnforceLimitsLocked(std::optional<uint32_t> keep);

  // Fills the freshly formatted index from the directory (rebuild after a
  // crash, or adoption of a Node-module cache). REQUIRES: mutex held.
  Status RebuildLocked(CacheOpenReport* report);
};

}  // namespace ttscache
