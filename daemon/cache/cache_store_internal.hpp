// CacheStore's private state, shared by cache_store.cpp (requests),
// cache_rebuild.cpp (adopting a directory into a fresh index) and the
// operating files (invalidation, listing, maintenance, verification). Not a
// public interface.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mutex.hpp"
#include "core/thread_annotations.hpp"
#include "daemon/cache/cache_directory.hpp"
#include "daemon/cache/cache_store.hpp"
#include "daemon/cache/index_file.hpp"
#include "daemon/cache/open_file_cache.hpp"

namespace ttscache {

// A file to unlink once the index no longer names it (see State::publish_mutex).
struct DoomedFile {
  Folder folder;
  std::string name;
};

// An `engine` argument, checked: the engine's number and the voice it names
// ("" for none). A view of the caller's argument: valid while it is.
struct EngineRef {
  uint8_t engine = 0;
  std::string_view voice;
  Folder folder() const { return Folder{engine, std::string(voice)}; }
};

// An entry's identity as a request names it: engine, voice and key.
struct EntryRef {
  EngineRef owner;
  CacheKey key;
};

// A put replacing an entry, between its index lock and its publish: gets
// may meet the old file or the new one under the entry's name.
struct Replacing {
  uint32_t slot;
  uint64_t new_bytes;
};

// An entry looked up with the store's mutex held (slot empty on a miss,
// which is already counted). Valid while the caller still holds the mutex.
struct IndexLookup {
  uint8_t engine;
  uint16_t voice;
  CacheKey key;
  std::optional<uint32_t> slot;
  EngineCounters* counters;
};

// What a name in an entry folder is, by the layout (docs/layout.md): an
// entry's WAV or variant (a regular file named by its key), a temporary
// (".tmp-*"), a voice's subfolder (a real directory with a voice's name,
// recognized only directly in an engine's folder), or not ours.
enum class FolderItemKind { kEntry, kVariant, kTemporary, kVoiceFolder, kUnknown };
struct FolderItem {
  FolderItemKind kind = FolderItemKind::kUnknown;
  CacheKey key;       // kEntry, kVariant
  OpusParams params;  // kVariant
};
FolderItem ClassifyFolderItem(const DirEntryInfo& item, bool in_engine_folder);
// Every folder of the layout: each engine's, each followed by its voice
// subfolders (valid names, real directories; sorted). Scans the engines'
// folders.
Result<std::vector<Folder>> ListLayoutFolders(CacheDirectory& directory, size_t engines);

// The cache filesystem's space (fstatvfs of the cache dir): f_bavail ×
// f_frsize, what an unprivileged writer (the daemon) may still use, and
// f_blocks × f_frsize. cache_maintenance.cpp.
struct DiskSpace {
  uint64_t free_bytes = 0, total_bytes = 0;
};
Result<DiskSpace> StatDiskSpace(int dir_fd, const std::string& shown);
// min_free in bytes on a filesystem of `total_bytes`: the larger of the
// byte amount and the percent of the size (0: none).
uint64_t MinFreeBytes(const CacheLimits& limits, uint64_t total_bytes);

// At most this many entries go per Maintain for max_age, and as many for
// min_free (per Maintain, and per put).
inline constexpr uint64_t kMaintainBudget = 4096;
// last_access values below this (2001-09-09 in Unix ns) are an older
// index's counter, not a time: their age is unknown, so max_age never
// expires them (and stops at them: they are the LRU end). A last-used time
// given to InsertLocked is never older than this.
inline constexpr uint64_t kOldestPlausibleTimeNs = 1'000'000'000'000'000'000ull;

struct CacheStore::State {
  // As opened; constant after Open, so read without a lock (Resolve reads
  // the engines). The limits in force are `limits`, which SetLimits changes.
  CacheOptions options;
  std::optional<CacheDirectory> directory;
  uint64_t capacity_per_engine = 0;
  // Serializes every change of a name in the folder (publishing a file,
  // unlinking an evicted one): puts, variant puts, SetLimits, Close. Gets
  // never take it, so a hit never waits for the disk work of a put. Taken
  // before `mutex`, never while holding it. The rule that makes unlinking
  // outside `mutex` safe: a name is changed only by its holder, and only
  // while the index does not name it (or names it as `replacing`), so a get
  // (which opens only names the index holds) never meets a half-done change,
  // and an unlink of an evicted name can never remove a file a later put
  // published under it (that put waits for this mutex).
  Mutex publish_mutex ACQUIRED_BEFORE(mutex);
  // Guards the index, what is kept per slot beside it, the limits, `closed`.
  mutable Mutex mutex;
  std::optional<IndexFile> index_file GUARDED_BY(mutex);
  CacheLimits limits GUARDED_BY(mutex);
  bool closed GUARDED_BY(mutex) = false;
  std::optional<Replacing> replacing GUARDED_BY(mutex);
  // limits.max_text_bytes, readable without the mutex: Resolve runs before
  // any lock is taken, while SetLimits may change the limits.
  std::atomic<uint64_t> max_text_bytes{0};
  // Per slot, the generation of the entry in it (in memory only: no variant
  // encode survives a restart). Unique per store; 0 is never assigned.
  std::vector<uint64_t> generations GUARDED_BY(mutex);
  uint64_t last_generation GUARDED_BY(mutex) = 0;
  // Descriptors of recently served files; EvictLocked forgets an entry's.
  OpenFileCache open_files GUARDED_BY(mutex){DefaultOpenFileCacheCapacity()};
  // Random per store: file identities from an earlier daemon never match.
  const uint64_t open_file_nonce = RandomNonce();
  // Entries removed since Open: by max_age, by min_free, by Delete/DeleteKey, by Purge.
  uint64_t expired_count GUARDED_BY(mutex) = 0;
  uint64_t evicted_for_space_count GUARDED_BY(mutex) = 0;
  uint64_t deleted_count GUARDED_BY(mutex) = 0;
  uint64_t purged_count GUARDED_BY(mutex) = 0;

  CacheIndex& index() REQUIRES(mutex) { return index_file->index(); }

  // Checks an `engine` argument ("engine" or "engine/voice"): kUnknownEngine
  // for an engine not served or a malformed voice, the message naming the
  // value and the expected form. No lock: engines are constant.
  Result<EngineRef> ParseEngine(std::string_view engine) const;
  // ParseEngine, the text's length and its key.
  Result<EntryRef> ResolveEntry(std::string_view engine, std::string_view text) const;
  // The index's id of the ref's voice: kNoVoice for none, nullopt when the
  // index knows no such voice (nothing of it is cached: a miss).
  std::optional<uint16_t> VoiceIdLocked(const EngineRef& ref) REQUIRES(mutex);
  // The id of the ref's voice, adding it to the voice table when new (kBusy
  // when the table is full). REQUIRES: publish_mutex held too, until the id
  // is in an entry — only voice additions reuse a voice's place, and they
  // run under publish_mutex, so an id taken under it stays that voice's.
  Result<uint16_t> AddVoiceLocked(const EngineRef& ref) REQUIRES(mutex);
  // Where the entry in `slot` lives: its folder (engine, voice), "engine" or
  // "engine/voice" as requests name it (and as its folder relative to dir).
  Folder FolderOfLocked(uint32_t slot) REQUIRES(mutex);
  std::string EnginePathOfLocked(uint32_t slot) REQUIRES(mutex);

  // Finds the entry, counting a miss; errors if the store is closed.
  Result<IndexLookup> LookUpLocked(const EngineRef& ref, const CacheKey& key) REQUIRES(mutex);
  // The slot of the entry of `generation`, when it is still in the index
  // (and the store is open).
  std::optional<uint32_t> FindGenerationLocked(const EngineRef& ref, const CacheKey& key,
                                               uint64_t generation) REQUIRES(mutex);
  // Adds an entry with a new generation, as the most recently used or, with
  // `last_used_ns`, placed by that time (CacheIndex::InsertAt; a time before
  // kOldestPlausibleTimeNs, e.g. a file's epoch mtime, counts as that). REQUIRES: as
  // Insert; `voice` kNoVoice or from AddVoiceLocked.
  uint32_t InsertLocked(uint8_t engine, uint16_t voice, const CacheKey& key, uint64_t wav_bytes,
                        std::optional<uint64_t> last_used_ns = std::nullopt) REQUIRES(mutex);
  // Opens the entry's WAV read-only, checked (OpenKeptLocked). Opened under
  // the lock, so an eviction cannot unlink it between lookup and open. A file
  // gone or not what the index says drops the entry (nullopt); any other
  // failure (kBusy: out of descriptors) keeps it and is returned. While a put
  // replaces the entry, either WAV is served and nothing is dropped.
  Result<std::optional<CachedFile>> OpenWavLocked(uint32_t slot) REQUIRES(mutex);
  // A cache file (WAV or variant) by its OpenFileCache key: the kept
  // descriptor, or a checked open that is then kept, with the file's
  // identity when kept. Checked: a regular file, owned by our euid, of the
  // indexed size; a file gone or failing a check is Errc::kNotFound (the
  // caller drops it), anything else is the open's own error.
  // `other_bytes` (not 0): a second size accepted, for the new WAV of a put
  // replacing the entry; such a file is served but not kept.
  Result<CachedFile> OpenKeptLocked(uint64_t open_key, const Folder& folder,
                                    const std::string& name, uint64_t bytes, uint64_t other_bytes)
      REQUIRES(mutex);
  // Forgets an entry and adds its files (WAV and variants) to `doomed`, for
  // RemoveFiles once the mutex is released. Returns its bytes (WAV and
  // variants) and how many variant files it had.
  std::pair<uint64_t, uint32_t> EvictLocked(uint32_t slot, bool count_eviction,
                                            std::vector<DoomedFile>* doomed) REQUIRES(mutex);
  // Forgets an entry without touching its files (a put has just published
  // the new WAV under its name; its variants are already stripped).
  void ForgetLocked(uint32_t slot) REQUIRES(mutex);
  // Takes every variant out of the entry, adding their files to `doomed`.
  void StripVariantsLocked(uint32_t slot, std::vector<DoomedFile>* doomed) REQUIRES(mutex);
  // Evicts LRU entries until the limits hold; `keep` (a slot just added) is
  // never chosen. Returns how many went.
  uint64_t EnforceLimitsLocked(std::optional<uint32_t> keep, std::vector<DoomedFile>* doomed)
      REQUIRES(mutex);
  // Delete and DeleteKey: takes the entry out of the index and unlinks its
  // files, holding publish_mutex throughout. Takes both locks.
  Result<DeleteOutcome> DeleteEntry(const EngineRef& ref, const CacheKey& key)
      EXCLUDES(publish_mutex, mutex);
  // Unlinks the files of evicted entries. REQUIRES: publish_mutex held, or
  // mutex held with the names just taken out of the index under it (a get
  // dropping a bad file, a rebuild). (Either lock will do, so the analysis
  // cannot state it.)
  void RemoveFiles(const std::vector<DoomedFile>& doomed);

  // cache_maintenance.cpp. Expires up to `budget` entries unused for
  // max_age, from the LRU end; returns how many went.
  uint64_t ExpireOld(uint64_t budget) EXCLUDES(publish_mutex, mutex);
  // Evicts LRU entries while the filesystem's free space is under min_free
  // (at most `budget`); returns how many went. Stops when the cache is empty.
  uint64_t KeepMinFree(uint64_t budget) EXCLUDES(publish_mutex, mutex);

  // Fills the freshly formatted index from the directory (rebuild after a
  // crash, or adoption of a Node-module cache).
  Status RebuildLocked(CacheOpenReport* report) REQUIRES(mutex);
};

}  // namespace ttscache
