// CacheStore: the persistent TTS audio cache the daemon calls. Entries are
// WAV files at {dir}/{engine}/{sha256}.wav (the Node module's layout and key,
// see cache_key.hpp), plus derived Ogg Opus variants beside them
// ({sha256}.{VariantTag}.opus) that live and die with their entry.
//
// - Put publishes crash-safely (temporary file, fsync, rename, folder fsync):
//   a reader never sees a partial file, concurrent puts of one key leave one
//   complete file. Published files are never modified.
// - Get returns an open read-only descriptor and the size: a later eviction
//   (unlink) never breaks a reader holding it.
// - True LRU: a get moves the entry to the front; a put evicts least recently
//   used entries until `max_entries` (per engine) and `max_bytes` (whole
//   cache) hold. The index is mmap'd (index_file.hpp); after a crash it is
//   rebuilt from the directory, adopting files in the layout and deleting
//   temporaries and truncated WAVs.
// - One daemon per dir: a second Open fails with Errc::kLocked naming the pid.
// - Voices: every `engine` argument is "engine" or "engine/voice" (voice:
//   [A-Za-z0-9][A-Za-z0-9._-]{0,63}). A voice's entries are
//   {dir}/{engine}/{voice}/{sha256}.wav; an engine's limits count all its
//   voices; a request naming no voice is exactly the Node module's entry.
//   A malformed voice is kUnknownEngine too (naming the value and the form).
//   The index knows up to 1,024 voices (kMaxVoices) at once; a put of a new
//   voice while all hold entries is kBusy (docs/layout.md).
//
// - Files in the folder are not trusted: a file is served only if it is a
//   regular file owned by the daemon's euid with the size the index recorded.
//   One that is gone or is something else drops its entry (a miss); a
//   shortage (EMFILE, ENFILE, ENOMEM) drops nothing and fails with kBusy.
// - Every entry has a generation, new on each put: a variant made from one
//   WAV is stored only while that WAV is still the entry's (PutVariant).
//
// Thread-safe: one mutex guards the index; file writes and fsyncs of new
// data happen outside it. Errors: kUnknownEngine, kTooLarge (text or audio
// over the limits), kBadAudio (not a complete WAV), kNoSpace, kBusy, kIo.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/audio/opus_params.hpp"
#include "core/cachekey/cache_key.hpp"
#include "core/config/config.hpp"
#include "core/result.hpp"
#include "core/shared_fd.hpp"
#include "core/unique_fd.hpp"

namespace ttscache {

// Defaults: the configuration's ([cache] in core/config's key table).
struct CacheLimits {
  uint64_t max_entries = DefaultConfig().cache.max_entries;  // per engine
  uint64_t max_bytes = DefaultConfig().cache.max_bytes;  // whole cache, WAVs and variants; 0 = none
  uint64_t max_text_bytes = DefaultConfig().cache.max_text_bytes;
  // Free space to keep on the cache's filesystem (bytes, or percent of its
  // size; both 0: none) and the idle time after which an entry expires (0: never).
  uint64_t min_free_bytes = DefaultConfig().cache.min_free_bytes;
  double min_free_percent = DefaultConfig().cache.min_free_percent;
  uint64_t max_age_s = DefaultConfig().cache.max_age_s;
};

struct CacheOptions {
  std::string dir;
  std::vector<std::string> engines;
  CacheLimits limits;
  bool fsync = DefaultConfig().cache.fsync;
  // Publish through unnamed O_TMPFILE inodes where the filesystem allows
  // (false: always a named ".tmp-" file; tests cover both paths).
  bool unnamed_temporaries = true;
};

struct CachedFile {
  SharedFd fd;  // read-only; shared with the store's cache of open files
  uint64_t size = 0;
  // Names this open file while the store keeps it open (a random nonce per
  // store, a sequence per open): equal identities mean equal bytes, so a
  // client may reuse a mapping it made of it. {0, 0} when not kept open.
  uint64_t id_nonce = 0, id_sequence = 0;
};

struct CacheCounters {
  uint64_t entries = 0, bytes = 0, hits = 0, misses = 0, puts = 0, evictions = 0, variant_hits = 0,
           variant_misses = 0;
  bool operator==(const CacheCounters&) const = default;
};

struct CacheStats {
  std::vector<std::pair<std::string, CacheCounters>> engines;
  CacheCounters total;
  // Per engine, in `engines` order: the least recently used entry's last
  // use (Unix ns; 0 for an empty engine).
  std::vector<uint64_t> oldest_access_ns;
  // statvfs of the cache dir: what an unprivileged writer may still use, and the size.
  uint64_t disk_free_bytes = 0, disk_total_bytes = 0;
  uint64_t min_free_bytes = 0;  // min_free in force, in bytes (a percent resolved)
  uint64_t max_age_s = 0;
  // Entries removed since Open by max_age, by min_free, by Delete, by Purge.
  uint64_t expired = 0, evicted_for_space = 0, deleted = 0, purged = 0;
};

// What Delete removed: whether the entry was there, its bytes (WAV and
// variants) and how many variant files went with it.
struct DeleteOutcome {
  bool deleted = false;
  uint64_t bytes = 0;
  uint32_t variants = 0;
};

struct PurgeOutcome {
  uint64_t entries = 0, bytes = 0;
};

// LIST's filters; 0 is "no bound". `engine`: "" (all), "engine" (with all
// its voices) or "engine/voice". Idle time is now − last use, in seconds;
// bytes are the entry's total (WAV and variants). Bounds are inclusive.
struct ListFilter {
  std::string engine;
  uint64_t min_idle_s = 0, max_idle_s = 0;
  uint64_t min_bytes = 0, max_bytes = 0;
};

struct ListedVariant {
  OpusParams params;
  uint64_t bytes = 0;
};

struct ListedEntry {
  std::string engine;  // "engine" or "engine/voice"
  CacheKey key;
  uint64_t wav_bytes = 0, total_bytes = 0;
  uint64_t last_access_ns = 0;
  std::vector<ListedVariant> variants;
};

struct ListPage {
  std::vector<ListedEntry> entries;
  uint64_t next_cursor = 0;  // 0: the end
};

// What Maintain did: entries removed for max_age and for min_free.
struct MaintenanceOutcome {
  uint64_t expired = 0, evicted_for_space = 0;
};

// One finding of Verify. `kind` is short and stable (docs/cli.md lists
// them); `path` is relative to the cache dir ("" for the index itself).
struct VerifyFinding {
  std::string kind, path, detail;
  bool damage = true;  // false: a remark (an unknown file left alone)
  bool repaired = false;
};

enum class VerifyVerdict { kClean, kRepaired, kDamaged };

struct VerifyReport {
  VerifyVerdict verdict = VerifyVerdict::kClean;
  uint64_t entries_checked = 0, files_checked = 0;
  std::vector<VerifyFinding> findings;
};

// What Open found and did, for the start-up log line and the tests.
struct CacheOpenReport {
  std::string rebuild_reason;  // empty: the index was reused as is
  uint64_t adopted = 0, variants_adopted = 0, temporaries_removed = 0, invalid_removed = 0,
           orphans_removed = 0, unknown_left = 0, evicted_to_limits = 0;
  double seconds = 0;
  bool unnamed_temporaries = false;  // writes go through O_TMPFILE (else named temporaries)
};

// What PutFile did with the file it was given.
enum class PutFileOutcome {
  kStored,
  kAlreadyCached,  // the key was cached: the daemon's entry is kept, nothing copied
  kEvictedAtOnce,  // stored, but older than every entry of a full engine: evicted
};

struct PutFileResult {
  PutFileOutcome outcome = PutFileOutcome::kStored;
  uint64_t size = 0;
};

// A PutFile under way (CacheStore::StartPutFile): the checked source and the
// daemon's copy so far. Destroyed unfinished (the client left), it discards
// the copy. Used by one thread at a time.
class FileAdoption {
 public:
  ~FileAdoption();
  FileAdoption(const FileAdoption&) = delete;
  FileAdoption& operator=(const FileAdoption&) = delete;

 private:
  friend class CacheStore;
  FileAdoption() = default;
  struct Copy;
  std::unique_ptr<Copy> copy_;
};

// A variant lookup: the variant when it exists; else, when the entry exists,
// its WAV (to encode from); neither when the entry is missing.
// `generation` identifies the entry whose WAV this is (0 when missing): pass
// it to PutVariant with an encoding of that WAV.
// What Put stored: the new entry's generation (for PutVariant) and its key,
// so a caller need not hash the text again (a claim, the tier's offer).
struct StoredEntry {
  uint64_t generation = 0;
  CacheKey key;
};

struct VariantLookup {
  std::optional<CachedFile> variant;
  std::optional<CachedFile> wav;
  uint64_t generation = 0;
};

class CacheStore {
 public:
  static Result<std::unique_ptr<CacheStore>> Open(const CacheOptions& options);
  ~CacheStore();  // Close()

  // Marks the index clean. Further calls fail. Idempotent.
  Status Close();
  const CacheOpenReport& open_report() const { return report_; }

  // The entry's WAV; nullopt on a miss. kBusy: it could not be opened now
  // (out of descriptors), try again; the entry is kept.
  Result<std::optional<CachedFile>> Get(std::string_view engine, std::string_view text);
  // The entry's WAV (`variant` null) or that variant, opened as Get opens it,
  // but counting no hit or miss and leaving the LRU order as it is: for the
  // tier's writer, which reads what it was offered. nullopt when missing.
  Result<std::optional<CachedFile>> Peek(std::string_view engine, const CacheKey& key,
                                         const OpusParams* variant);
  // Stores `wav` as the entry (replacing any, with its variants); returns the
  // new entry's generation and key.
  Result<StoredEntry> Put(std::string_view engine, std::string_view text,
                          std::span<const uint8_t> wav);
  // Adopts a WAV another program cached (the Node module's folder): copies
  // `source`, a descriptor a client passed, as the entry `key` of `engine`,
  // last used at `last_used_ns` (Unix time; clamped to now) — so the old
  // cache's LRU order carries over. The source is not trusted: it must be a
  // regular file open for reading, of 1 to `max_size` bytes (and max_bytes),
  // and the copy (read, never mapped: a file truncated meanwhile is an error,
  // not SIGBUS) must be a complete WAV, as Put checks. The copy is the
  // daemon's, published as Put publishes. An entry already cached is kept.
  // In steps, so a large file is copied a slice per turn: StartPutFile
  // checks the descriptor, ContinuePutFile copies up to `slice_bytes` (true
  // when all is copied), FinishPutFile checks and publishes. PutFile does all.
  // REQUIRES: `source` stays open until FinishPutFile or the adoption's end.
  Result<std::unique_ptr<FileAdoption>> StartPutFile(std::string_view engine, const CacheKey& key,
                                                     int source, uint64_t last_used_ns,
                                                     uint64_t max_size);
  Result<bool> ContinuePutFile(FileAdoption& adoption, uint64_t slice_bytes);
  Result<PutFileResult> FinishPutFile(FileAdoption& adoption);
  Result<PutFileResult> PutFile(std::string_view engine, const CacheKey& key, int source,
                                uint64_t last_used_ns, uint64_t max_size);
  // Which of `keys` the engine holds, in order. Counts no hit or miss and
  // moves nothing in the LRU order: a question about the cache, not a use.
  Result<std::vector<bool>> HasKeys(std::string_view engine, std::span<const CacheKey> keys) const;
  Result<VariantLookup> GetVariant(std::string_view engine, std::string_view text,
                                   const OpusParams& params);
  // Stores an encoding of the entry of `generation` (from Put or GetVariant);
  // kNotFound when that entry is gone or was replaced meanwhile (the encoding
  // is of a WAV no longer cached). When all variant slots are taken, the
  // first is replaced.
  Status PutVariant(std::string_view engine, std::string_view text, uint64_t generation,
                    const OpusParams& params, std::span<const uint8_t> ogg);

  // Invalidation. An entry (engine, text) or (engine, key) with its
  // variants: out of the index, then its files unlinked. Not cached: deleted
  // false, not an error. kUnknownEngine as everywhere.
  Result<DeleteOutcome> Delete(std::string_view engine, std::string_view text);
  Result<DeleteOutcome> DeleteKey(std::string_view engine, const CacheKey& key);
  // Every entry of "engine" (all voices) or "engine/voice" that existed when
  // it started; entries put meanwhile stay. Works in batches, taking the
  // locks per batch, so gets and puts go on while it runs (it may take
  // seconds for a million entries: run it on a worker).
  Result<PurgeOutcome> Purge(std::string_view engine);

  // A page of the index in slot order, from `cursor` (0: the start): at
  // most `max_entries` matching entries, visiting at most `max_visit`
  // slots. Stable under concurrent change: an entry present throughout is
  // listed exactly once. Counts nothing, moves nothing. Bounded work: may
  // run on the event loop. max_entries and max_visit of 0: kInvalidArgument;
  // a cursor past the end: an empty page, next_cursor 0.
  Result<ListPage> List(uint64_t cursor, const ListFilter& filter, uint32_t max_entries,
                        uint32_t max_visit) const;

  // Applies max_age (expired entries, from the LRU end) and min_free
  // (statvfs; LRU entries while free space is short). Bounded work per call:
  // the daemon calls it once a second and after puts; nothing scans the folder.
  Result<MaintenanceOutcome> Maintain();

  // Checks every indexed entry's files (exist, regular, ours, the indexed
  // size, a WAV header that parses, variants present) and every file in the
  // folder (indexed, or a temporary, or unknown). With `repair`: entries
  // whose files are bad are dropped (bad files removed), sound WAVs in the
  // layout that the index lacks are adopted, temporaries removed; a sound
  // entry is never dropped. Runs in batches like Purge (a worker's job).
  Result<VerifyReport> Verify(bool repair);

  CacheStats Stats() const;
  // Applies new limits (config reload), evicting down to them. max_entries
  // may not exceed the value the store was opened with (the index capacity).
  Status SetLimits(const CacheLimits& limits);

  // The engine's number; kUnknownEngine names the engines served.
  Result<uint8_t> EngineId(std::string_view engine) const;
  // Validates engine and text and computes the key (no I/O).
  Result<std::pair<uint8_t, CacheKey>> Resolve(std::string_view engine,
                                               std::string_view text) const;

  CacheStore(const CacheStore&) = delete;
  CacheStore& operator=(const CacheStore&) = delete;

 private:
  struct State;
  explicit CacheStore(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
  CacheOpenReport report_;
};

// `ttscached --verify DIR`: the same checks on a cache no daemon holds
// (takes the dir lock: kLocked naming the daemon's pid when one runs), plus
// the index file itself (missing, not closed cleanly, checksum, layout).
// With `repair` a bad index is rebuilt from the folder and the rest
// repaired as Verify does; without, nothing is written.
Result<VerifyReport> VerifyCacheDirectory(const CacheOptions& options, bool repair);

// Reads all of `file` into memory with pread. A file truncated behind the
// daemon's back is a clear error here, where a mapping of it would raise
// SIGBUS in whoever touched the missing pages.
Result<std::vector<uint8_t>> ReadCachedFile(const CachedFile& file);

// File names inside an engine folder.
std::string WavFileName(const CacheKey& key);
std::string VariantFileName(const CacheKey& key, const OpusParams& params);

}  // namespace ttscache
