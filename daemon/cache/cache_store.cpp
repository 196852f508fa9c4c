// Requests against the cache; see cache_store.hpp for the contract. The
// pattern for every write: new bytes go to a file no reader can see yet (an
// unnamed inode, or a named temporary) and are flushed outside any lock.
// Then, holding publish_mutex (which gets never take): the link or rename
// publishes under a name the index does not hold, a short hold of the index
// mutex makes the entry visible and picks the evictions, and the evicted
// files are unlinked after it. A hit waits for index work only, never for
// a link or an unlink (a cold unlink took 258 µs here).
#include "daemon/cache/cache_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <chrono>

#include "core/audio/wav_reader.hpp"
#include "core/config/config.hpp"
#include "core/log.hpp"
#include "daemon/cache/cache_store_internal.hpp"

namespace ttscache {

std::string WavFileName(const CacheKey& key) { return key.hex() + ".wav"; }

std::string VariantFileName(const CacheKey& key, const OpusParams& params) {
  return key.hex() + "." + VariantTag(params) + ".opus";
}

CacheStore::CacheStore(std::unique_ptr<State> state) : state_(std::move(state)) {}

CacheStore::~CacheStore() {
  if (Status s = Close(); !s) log::Error("closing cache: " + s.error().message);
}

Result<std::unique_ptr<CacheStore>> CacheStore::Open(const CacheOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (options.engines.empty() || options.engines.size() > kMaxEngines) {
    return MakeError(Errc::kInvalidArgument, "expected 1–" + std::to_string(kMaxEngines) +
                                                 " engines, got " +
                                                 std::to_string(options.engines.size()));
  }
  for (const std::string& e : options.engines) {
    if (!IsValidEngineName(e)) return MakeError(Errc::kInvalidArgument, "bad engine name " + e);
  }
  const uint64_t capacity = options.limits.max_entries * options.engines.size();
  if (options.limits.max_entries == 0 || capacity > 0xFFFFFFF0ull) {
    return MakeError(Errc::kInvalidArgument, "max_entries × engines out of range");
  }
  auto state = std::make_unique<State>();
  state->options = options;
  state->max_text_bytes = options.limits.max_text_bytes;
  state->capacity_per_engine = options.limits.max_entries;
  Result<CacheDirectory> dir = CacheDirectory::Open(options.dir, options.engines, options.fsync,
                                                    options.unnamed_temporaries);
  if (!dir) return dir.error();
  state->directory.emplace(std::move(*dir));
  Result<IndexFile::Opened> opened =
      IndexFile::Open(state->directory->root_fd(), options.dir + "/" + kIndexFileName,
                      options.engines, static_cast<uint32_t>(capacity));
  if (!opened) return opened.error();

  std::unique_ptr<CacheStore> store(new CacheStore(std::move(state)));
  store->report_.rebuild_reason = opened->rebuild_reason;
  store->report_.unnamed_temporaries = store->state_->directory->unnamed_temporaries();
  {
    MutexLock lock(store->state_->mutex);  // alone: nothing else runs yet
    store->state_->index_file.emplace(std::move(opened->file));
    store->state_->limits = options.limits;
    // Entries of a reused index get generations as if just inserted.
    store->state_->generations.resize(capacity);
    for (uint64_t& g : store->state_->generations) g = ++store->state_->last_generation;
    if (!opened->rebuild_reason.empty()) {
      if (Status s = store->state_->RebuildLocked(&store->report_); !s) return s.error();
    }
    // Limits may have been lowered since the index was written.
    std::vector<DoomedFile> doomed;
    store->report_.evicted_to_limits += store->state_->EnforceLimitsLocked(std::nullopt, &doomed);
    store->state_->RemoveFiles(doomed);
  }
  store->report_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return store;
}

Status CacheStore::Close() {
  MutexLock publishing(state_->publish_mutex);  // no put is half done
  MutexLock lock(state_->mutex);
  if (state_->closed) return {};
  state_->closed = true;
  state_->open_files.Clear();
  return state_->index_file->MarkClean();
}

Result<EngineRef> CacheStore::State::ParseEngine(std::string_view engine) const {
  const EnginePath path = SplitEnginePath(engine);
  const auto& engines = options.engines;
  size_t id = 0;
  while (id < engines.size() && engines[id] != path.engine) ++id;
  if (id == engines.size()) {
    std::string known;
    for (const std::string& e : engines) known += (known.empty() ? "" : ", ") + e;
    return MakeError(Errc::kUnknownEngine,
                     "unknown engine \"" + std::string(engine.substr(0, 128)) +
                         "\", expected one of: " + known + " (or ENGINE/VOICE)");
  }
  // Unknown engine too (what the wire has always said of a bad engine
  // field), with the reason: no such voice can exist.
  if (path.has_voice && !IsValidVoiceName(path.voice)) {
    return MakeError(
        Errc::kUnknownEngine,
        "bad voice in \"" + std::string(engine.substr(0, 128)) +
            "\": expected ENGINE/VOICE, VOICE matching [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
  }
  return EngineRef{static_cast<uint8_t>(id), path.voice};
}

Result<EntryRef> CacheStore::State::ResolveEntry(std::string_view engine,
                                                 std::string_view text) const {
  Result<EngineRef> owner = ParseEngine(engine);
  if (!owner) return owner.error();
  if (const uint64_t max_text = max_text_bytes.load(std::memory_order_relaxed);
      text.size() > max_text) {
    return MakeError(Errc::kTooLarge, "text is " + std::to_string(text.size()) +
                                          " bytes, max_text_bytes is " + std::to_string(max_text));
  }
  Result<CacheKey> key = ComputeCacheKey(text);
  if (!key) return key.error();
  return EntryRef{*owner, *key};
}

std::optional<uint16_t> CacheStore::State::VoiceIdLocked(const EngineRef& ref) {
  if (ref.voice.empty()) return kNoVoice;
  const uint16_t id = index().FindVoice(ref.engine, ref.voice);
  if (id == kNoVoice) return std::nullopt;
  return id;
}

Result<uint16_t> CacheStore::State::AddVoiceLocked(const EngineRef& ref) {
  if (ref.voice.empty()) return kNoVoice;
  Result<uint16_t> id = index().AddVoice(ref.engine, ref.voice);
  if (!id) {
    return MakeError(id.error().code, options.engines[ref.engine] + "/" + std::string(ref.voice) +
                                          ": " + id.error().message);
  }
  return id;
}

Folder CacheStore::State::FolderOfLocked(uint32_t slot) {
  const IndexEntry& e = index().entry(slot);
  return Folder{e.engine, std::string(index().VoiceName(e.voice))};
}

std::string CacheStore::State::EnginePathOfLocked(uint32_t slot) {
  const IndexEntry& e = index().entry(slot);
  if (e.voice == kNoVoice) return options.engines[e.engine];
  return options.engines[e.engine] + "/" + std::string(index().VoiceName(e.voice));
}

Result<uint8_t> CacheStore::EngineId(std::string_view engine) const {
  Result<EngineRef> ref = state_->ParseEngine(engine);
  if (!ref) return ref.error();
  return ref->engine;
}

Result<std::pair<uint8_t, CacheKey>> CacheStore::Resolve(std::string_view engine,
                                                         std::string_view text) const {
  Result<EntryRef> entry = state_->ResolveEntry(engine, text);
  if (!entry) return entry.error();
  return std::pair<uint8_t, CacheKey>{entry->owner.engine, entry->key};
}

std::pair<uint64_t, uint32_t> CacheStore::State::EvictLocked(uint32_t slot, bool count_eviction,
                                                             std::vector<DoomedFile>* doomed) {
  CacheIndex& idx = index();
  const IndexEntry& e = idx.entry(slot);
  const CacheKey key = idx.KeyOf(slot);
  const uint8_t engine = e.engine;
  const Folder folder = FolderOfLocked(slot);
  const uint64_t bytes = idx.EntryBytes(slot);
  uint32_t variants = 0;
  for (const IndexVariant& v : e.variants) {
    if (v.bitrate_kbps == 0) continue;
    doomed->push_back({folder, VariantFileName(key, CacheIndex::VariantParams(v))});
    ++variants;
  }
  doomed->push_back({folder, WavFileName(key)});
  ForgetLocked(slot);
  if (count_eviction) idx.header().engines[engine].counters.evictions++;
  return {bytes, variants};
}

void CacheStore::State::ForgetLocked(uint32_t slot) {
  open_files.ForgetEntry(slot, static_cast<int>(kMaxVariants));
  index().Remove(slot);
}

void CacheStore::State::StripVariantsLocked(uint32_t slot, std::vector<DoomedFile>* doomed) {
  CacheIndex& idx = index();
  const CacheKey key = idx.KeyOf(slot);
  const Folder folder = FolderOfLocked(slot);
  for (int v = 0; v < static_cast<int>(kMaxVariants); ++v) {
    const IndexVariant& variant = idx.entry(slot).variants[v];
    if (variant.bitrate_kbps == 0) continue;
    doomed->push_back({folder, VariantFileName(key, CacheIndex::VariantParams(variant))});
    idx.RemoveVariant(slot, v);
    open_files.Forget(OpenFileCache::VariantKey(slot, v));
  }
}

void CacheStore::State::RemoveFiles(const std::vector<DoomedFile>& doomed) {
  const Folder* last_voice_folder = nullptr;
  for (const DoomedFile& f : doomed) {
    if (Status s = directory->Remove(f.folder, f.name); !s) {
      log::Warning("evicting: " + s.error().message);
    }
    // A voice folder left empty goes (checked once per run of its files).
    if (!f.folder.voice.empty() && last_voice_folder &&
        !(last_voice_folder->engine == f.folder.engine &&
          last_voice_folder->voice == f.folder.voice)) {
      directory->RemoveVoiceFolderIfEmpty(*last_voice_folder);
    }
    if (!f.folder.voice.empty()) last_voice_folder = &f.folder;
  }
  if (last_voice_folder) directory->RemoveVoiceFolderIfEmpty(*last_voice_folder);
}

uint64_t CacheStore::State::EnforceLimitsLocked(std::optional<uint32_t> keep,
                                                std::vector<DoomedFile>* doomed) {
  CacheIndex& idx = index();
  uint64_t evicted = 0;
  for (size_t e = 0; e < options.engines.size(); ++e) {
    while (idx.header().engines[e].entries > limits.max_entries) {
      std::optional<uint32_t> victim = idx.LeastRecentOf(static_cast<uint8_t>(e));
      if (!victim || victim == keep) break;
      EvictLocked(*victim, true, doomed);
      ++evicted;
    }
  }
  while (limits.max_bytes != 0 && idx.header().bytes > limits.max_bytes) {
    std::optional<uint32_t> victim = idx.LeastRecentOverall();
    if (!victim || victim == keep) break;
    EvictLocked(*victim, true, doomed);
    ++evicted;
  }
  return evicted;
}

namespace {

// Opens `name` and checks it is still the file the store published: a
// regular file of ours with the size the index recorded. Whatever was put
// there behind the daemon's back (removed, replaced, a FIFO, a device, a
// symlink, another user's file) must not be served: kNotFound. The open is
// non-blocking, so a FIFO cannot stall the caller (the event loop).
// `other_size`, when not 0, is a second size accepted (the new WAV of a put
// replacing the entry); the file served then has that size.
Result<CachedFile> OpenChecked(CacheDirectory& dir, const Folder& folder, const std::string& name,
                               uint64_t expected_size, uint64_t other_size) {
  const std::string path = dir.PathOf(folder, name);
  Result<UniqueFd> fd = dir.OpenReadOnly(folder, name);
  if (!fd) {
    // O_NOFOLLOW refuses a symlink with ELOOP: not our file either.
    if (fd.error().sys_errno == ELOOP) {
      return MakeError(Errc::kNotFound, path + " is a symbolic link");
    }
    return fd.error();
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoError(errno, "stat " + path);
  if (!S_ISREG(st.st_mode)) return MakeError(Errc::kNotFound, path + " is not a regular file");
  if (st.st_uid != ::geteuid()) {
    return MakeError(Errc::kNotFound, path + " is owned by uid " + std::to_string(st.st_uid) +
                                          ", not by the daemon's " + std::to_string(::geteuid()));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size != expected_size && (other_size == 0 || size != other_size)) {
    return MakeError(Errc::kNotFound, path + " is " + std::to_string(st.st_size) +
                                          " bytes, the index says " +
                                          std::to_string(expected_size));
  }
  return CachedFile{std::move(*fd), size};
}

Error ClosedError() { return MakeError(Errc::kInternal, "cache is closed"); }

}  // namespace

Result<std::vector<uint8_t>> ReadCachedFile(const CachedFile& file) {
  std::vector<uint8_t> bytes(file.size);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n =
        ::pread(file.fd.get(), bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "read a cached file");
    if (n == 0) {
      return MakeError(Errc::kIo, "a cached file was truncated behind the daemon's back: " +
                                      std::to_string(done) + " of " + std::to_string(file.size) +
                                      " bytes left");
    }
    done += static_cast<size_t>(n);
  }
  return bytes;
}

uint32_t CacheStore::State::InsertLocked(uint8_t engine, uint16_t voice, const CacheKey& key,
                                         uint64_t wav_bytes, std::optional<uint64_t> last_used_ns) {
  // A time that would read as an old index's counter (PUT_FILE of a file
  // with an epoch mtime, Verify adopting one) would sit at the LRU end where
  // max_age stops: it is taken as the oldest plausible time instead.
  const uint32_t slot =
      last_used_ns ? index().InsertAt(engine, key, wav_bytes,
                                      std::max(*last_used_ns, kOldestPlausibleTimeNs), voice)
                   : index().Insert(engine, key, wav_bytes, voice);
  generations[slot] = ++last_generation;
  return slot;
}

Result<IndexLookup> CacheStore::State::LookUpLocked(const EngineRef& ref, const CacheKey& key) {
  if (closed) return ClosedError();
  EngineCounters* counters = &index().header().engines[ref.engine].counters;
  // A voice the index does not know has nothing cached: a miss.
  const std::optional<uint16_t> voice = VoiceIdLocked(ref);
  std::optional<uint32_t> slot;
  if (voice) slot = index().Find(ref.engine, key, *voice);
  if (!slot) counters->misses++;
  return IndexLookup{ref.engine, voice.value_or(kNoVoice), key, slot, counters};
}

std::optional<uint32_t> CacheStore::State::FindGenerationLocked(const EngineRef& ref,
                                                                const CacheKey& key,
                                                                uint64_t generation) {
  if (closed) return std::nullopt;
  const std::optional<uint16_t> voice = VoiceIdLocked(ref);
  if (!voice) return std::nullopt;
  std::optional<uint32_t> slot = index().Find(ref.engine, key, *voice);
  if (slot && generations[*slot] != generation) return std::nullopt;
  return slot;
}

Result<CachedFile> CacheStore::State::OpenKeptLocked(uint64_t open_key, const Folder& folder,
                                                     const std::string& name, uint64_t bytes,
                                                     uint64_t other_bytes) {
  if (std::optional<OpenFileCache::Open> open = open_files.Find(open_key)) {
    return CachedFile{std::move(open->fd), bytes, open_file_nonce, open->sequence};
  }
  Result<CachedFile> file = OpenChecked(*directory, folder, name, bytes, other_bytes);
  if (!file) return file.error();
  // The new WAV of a put still replacing the entry (another size) is served
  // but not kept: a later hit would pair its descriptor with the index's
  // old size. (Kept or not, the put's reinsert forgets the slot's files.)
  if (file->size != bytes) return file;
  if (uint64_t sequence = open_files.Remember(open_key, file->fd)) {
    file->id_nonce = open_file_nonce;
    file->id_sequence = sequence;
  }
  return file;
}

Result<std::optional<CachedFile>> CacheStore::State::OpenWavLocked(uint32_t slot) {
  CacheIndex& idx = index();
  const IndexEntry& e = idx.entry(slot);
  const bool being_replaced = replacing && replacing->slot == slot;
  Result<CachedFile> file = OpenKeptLocked(OpenFileCache::WavKey(slot), FolderOfLocked(slot),
                                           WavFileName(idx.KeyOf(slot)), e.wav_bytes,
                                           being_replaced ? replacing->new_bytes : 0);
  if (file) return std::optional<CachedFile>(std::move(*file));
  // Only a file that is gone or not ours costs the entry; a shortage of
  // descriptors or memory says nothing about the file. Nor is a name a put
  // is replacing ours to judge: that put owns it until it reinserts.
  if (file.error().code != Errc::kNotFound) return file.error();
  if (being_replaced) return std::optional<CachedFile>();
  log::Warning("dropping cache entry: " + file.error().message);
  // The index names the file until EvictLocked, so no put can be changing
  // the name meanwhile: unlinking it here, under the mutex, is safe.
  std::vector<DoomedFile> doomed;
  EvictLocked(slot, false, &doomed);
  RemoveFiles(doomed);
  return std::optional<CachedFile>();
}

Result<std::optional<CachedFile>> CacheStore::Get(std::string_view engine, std::string_view text) {
  Result<EntryRef> resolved = state_->ResolveEntry(engine, text);
  if (!resolved) return resolved.error();
  MutexLock lock(state_->mutex);
  Result<IndexLookup> found = state_->LookUpLocked(resolved->owner, resolved->key);
  if (!found) return found.error();
  if (!found->slot) return std::optional<CachedFile>();
  Result<std::optional<CachedFile>> file = state_->OpenWavLocked(*found->slot);
  if (!file) return file.error();
  if (!*file) {
    found->counters->misses++;
    return std::optional<CachedFile>();
  }
  state_->index().Touch(*found->slot);
  found->counters->hits++;
  return file;
}

namespace {

// What a put and an adopted file must both be to be cached: a WAV this
// daemon can read, with at least one sample.
Status CheckCacheableWav(std::span<const uint8_t> wav) {
  Result<WavView> parsed = ParseWav(wav);
  if (!parsed) return MakeError(Errc::kBadAudio, "refusing to cache: " + parsed.error().message);
  if (parsed->frames == 0) return MakeError(Errc::kBadAudio, "refusing to cache: no samples");
  return {};
}

}  // namespace

Result<StoredEntry> CacheStore::Put(std::string_view engine, std::string_view text,
                                    std::span<const uint8_t> wav) {
  Result<EntryRef> resolved = state_->ResolveEntry(engine, text);
  if (!resolved) return resolved.error();
  const EngineRef owner = resolved->owner;
  const uint8_t id = owner.engine;
  const CacheKey key = resolved->key;
  const Folder folder = owner.folder();
  if (Status cacheable = CheckCacheableWav(wav); !cacheable) return cacheable.error();
  {
    MutexLock lock(state_->mutex);
    const uint64_t max_bytes = state_->limits.max_bytes;
    if (max_bytes != 0 && wav.size() > max_bytes) {
      return MakeError(Errc::kTooLarge, "WAV is " + std::to_string(wav.size()) +
                                            " bytes, larger than max_bytes " +
                                            std::to_string(max_bytes));
    }
  }
  CacheDirectory& dir = *state_->directory;
  Result<PendingFile> pending = dir.WriteTemporary(folder, wav);
  if (!pending) return pending.error();
  const std::string name = WavFileName(key);
  uint64_t generation = 0;
  uint16_t voice = kNoVoice;
  std::vector<DoomedFile> doomed;
  {
    MutexLock publishing(state_->publish_mutex);
    {
      MutexLock lock(state_->mutex);
      if (state_->closed) {
        dir.Discard(folder, *pending);
        return ClosedError();
      }
      // The voice's id, taken now (a new voice's place in the table) and
      // kept by publish_mutex until the entry holds it.
      Result<uint16_t> voice_id = state_->AddVoiceLocked(owner);
      if (!voice_id) {
        dir.Discard(folder, *pending);
        return voice_id.error();
      }
      voice = *voice_id;
      // A new WAV for an existing key: its variants were made from the old
      // one and go now. The entry stays served (old WAV, or the new one once
      // renamed over it) until it is reinserted below.
      if (std::optional<uint32_t> old = state_->index().Find(id, key, voice)) {
        state_->StripVariantsLocked(*old, &doomed);
        state_->replacing = Replacing{*old, wav.size()};
      }
    }
    state_->RemoveFiles(doomed);
    doomed.clear();
    Status published = dir.Publish(folder, *pending, name);
    {
      MutexLock lock(state_->mutex);
      state_->replacing.reset();
      CacheIndex& idx = state_->index();
      std::optional<uint32_t> old = idx.Find(id, key, voice);
      if (!published) {
        dir.Discard(folder, *pending);
        // The old entry stays as it was, without its variants.
        return published.error();
      }
      if (old) state_->ForgetLocked(*old);
      while (idx.header().engines[id].entries >= state_->limits.max_entries || !idx.HasFreeSlot()) {
        std::optional<uint32_t> victim = idx.LeastRecentOf(id);
        if (!victim) break;
        state_->EvictLocked(*victim, true, &doomed);
      }
      uint32_t slot = state_->InsertLocked(id, voice, key, wav.size());
      generation = state_->generations[slot];
      idx.header().engines[id].counters.puts++;
      state_->EnforceLimitsLocked(slot, &doomed);
    }
    state_->RemoveFiles(doomed);
  }
  // min_free between the daemon's Maintain calls: one statvfs when there is room.
  state_->KeepMinFree(kMaintainBudget);
  if (Status s = dir.SyncFolder(folder); !s) return s.error();
  return StoredEntry{generation, key};
}

namespace {

const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

// The passed descriptor, checked before a byte is read: a regular file open
// for reading, of 1 to `max_size` bytes. Returns its size.
Result<uint64_t> CheckPassedFile(int source, uint64_t max_size) {
  const int flags = ::fcntl(source, F_GETFL);
  if (flags < 0) return ErrnoError(errno, "the passed descriptor");
#ifdef O_PATH
  if ((flags & O_PATH) != 0) {
    return MakeError(Errc::kInvalidArgument,
                     "the passed descriptor is an O_PATH handle, expected a file open for reading");
  }
#endif
  if ((flags & O_ACCMODE) == O_WRONLY) {
    return MakeError(Errc::kInvalidArgument,
                     "the passed file is open write-only, expected it open for reading");
  }
  struct stat st;
  if (::fstat(source, &st) != 0) return ErrnoError(errno, "stat the passed file");
  if (!S_ISREG(st.st_mode)) {
    return MakeError(Errc::kInvalidArgument, std::string("the passed descriptor is ") +
                                                 FileTypeName(st.st_mode) +
                                                 ", expected a regular file (a WAV)");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == 0) return MakeError(Errc::kBadAudio, "refusing to cache: the passed file is empty");
  if (size > max_size) {
    return MakeError(Errc::kTooLarge, "the passed file is " + std::to_string(size) +
                                          " bytes, more than the daemon's limit of " +
                                          std::to_string(max_size) + " bytes for one put");
  }
  return size;
}

}  // namespace

struct FileAdoption::Copy {
  CacheDirectory* directory = nullptr;
  std::string engine_path;  // the request's "engine" or "engine/voice"
  EngineRef owner;          // views engine_path
  Folder folder;
  CacheKey key;
  int source = -1;
  uint64_t size = 0, copied = 0, last_used = 0;
  bool already_cached = false;
  PendingFile pending;
};

FileAdoption::~FileAdoption() {
  if (copy_ && copy_->pending.in_use()) copy_->directory->Discard(copy_->folder, copy_->pending);
}

Result<std::unique_ptr<FileAdoption>> CacheStore::StartPutFile(std::string_view engine,
                                                               const CacheKey& key, int source,
                                                               uint64_t last_used_ns,
                                                               uint64_t max_size) {
  std::unique_ptr<FileAdoption> adoption(new FileAdoption());
  adoption->copy_ = std::make_unique<FileAdoption::Copy>();
  FileAdoption::Copy& c = *adoption->copy_;
  c.engine_path = std::string(engine);
  Result<EngineRef> owner = state_->ParseEngine(c.engine_path);
  if (!owner) return owner.error();
  c.owner = *owner;
  c.folder = owner->folder();
  c.directory = &*state_->directory;
  c.key = key;
  c.source = source;
  const uint64_t now = UnixTimeNs();
  c.last_used = last_used_ns == 0 ? now : std::min(last_used_ns, now);
  {
    MutexLock lock(state_->mutex);
    if (state_->limits.max_bytes != 0) max_size = std::min(max_size, state_->limits.max_bytes);
  }
  // The descriptor is judged first, cached key or not: a client learns what
  // it passed was wrong whatever the cache holds.
  Result<uint64_t> size = CheckPassedFile(source, max_size);
  if (!size) return size.error();
  c.size = *size;
  {
    MutexLock lock(state_->mutex);
    if (state_->closed) return ClosedError();
    const std::optional<uint16_t> voice = state_->VoiceIdLocked(c.owner);
    c.already_cached = voice && state_->index().Find(c.owner.engine, key, *voice).has_value();
  }
  if (!c.already_cached) {
    Result<PendingFile> pending = c.directory->StartCopy(c.folder);
    if (!pending) return pending.error();
    c.pending = std::move(*pending);
  }
  return adoption;
}

Result<bool> CacheStore::ContinuePutFile(FileAdoption& adoption, uint64_t slice_bytes) {
  FileAdoption::Copy& c = *adoption.copy_;
  if (c.already_cached || c.copied == c.size) return true;
  if (!c.pending.in_use()) return MakeError(Errc::kInternal, "PutFile: the copy was discarded");
  if (Status s =
          c.directory->CopySlice(c.folder, c.pending, c.source, c.size, slice_bytes, &c.copied);
      !s) {
    return s.error();
  }
  return c.copied == c.size;
}

Result<PutFileResult> CacheStore::FinishPutFile(FileAdoption& adoption) {
  FileAdoption::Copy& c = *adoption.copy_;
  if (c.already_cached) return PutFileResult{PutFileOutcome::kAlreadyCached, 0};
  if (c.copied != c.size || !c.pending.in_use()) {
    return MakeError(Errc::kInternal, "PutFile: finished before the copy was complete");
  }
  const uint8_t id = c.owner.engine;
  const CacheKey key = c.key;
  const Folder& folder = c.folder;
  CacheDirectory& dir = *c.directory;
  if (Status s = dir.FinishCopy(folder, c.pending, c.size, c.last_used, CheckCacheableWav); !s) {
    return s.error();
  }
  const uint64_t last_used = c.last_used;
  PutFileResult result{PutFileOutcome::kStored, c.size};
  std::vector<DoomedFile> doomed;
  uint16_t voice = kNoVoice;
  {
    MutexLock publishing(state_->publish_mutex);
    {
      // Puts publish only under publish_mutex: what is not cached now stays
      // so until this publish is done.
      MutexLock lock(state_->mutex);
      if (state_->closed) {
        dir.Discard(folder, c.pending);
        return ClosedError();
      }
      Result<uint16_t> voice_id = state_->AddVoiceLocked(c.owner);
      if (!voice_id) {
        dir.Discard(folder, c.pending);
        return voice_id.error();
      }
      voice = *voice_id;
      if (state_->index().Find(id, key, voice)) {
        dir.Discard(folder, c.pending);
        return PutFileResult{PutFileOutcome::kAlreadyCached, 0};
      }
    }
    Status published = dir.Publish(folder, c.pending, WavFileName(key));
    {
      MutexLock lock(state_->mutex);
      if (!published) {
        dir.Discard(folder, c.pending);
        return published.error();
      }
      CacheIndex& idx = state_->index();
      while (!idx.HasFreeSlot()) {
        std::optional<uint32_t> victim = idx.LeastRecentOf(id);
        if (!victim) break;
        state_->EvictLocked(*victim, true, &doomed);
      }
      state_->InsertLocked(id, voice, key, c.size, last_used);
      idx.header().engines[id].counters.puts++;
      // Unlike a put, the new entry may itself be the least recently used.
      state_->EnforceLimitsLocked(std::nullopt, &doomed);
      if (!idx.Find(id, key, voice)) result.outcome = PutFileOutcome::kEvictedAtOnce;
    }
    state_->RemoveFiles(doomed);
  }
  state_->KeepMinFree(kMaintainBudget);
  if (Status s = dir.SyncFolder(folder); !s) return s.error();
  if (result.outcome == PutFileOutcome::kStored) {
    MutexLock lock(state_->mutex);
    if (!state_->closed && !state_->index().Find(id, key, voice)) {
      result.outcome = PutFileOutcome::kEvictedAtOnce;
    }
  }
  return result;
}

Result<PutFileResult> CacheStore::PutFile(std::string_view engine, const CacheKey& key, int source,
                                          uint64_t last_used_ns, uint64_t max_size) {
  Result<std::unique_ptr<FileAdoption>> adoption =
      StartPutFile(engine, key, source, last_used_ns, max_size);
  if (!adoption) return adoption.error();
  Result<bool> copied = ContinuePutFile(**adoption, UINT64_MAX);
  if (!copied) return copied.error();
  return FinishPutFile(**adoption);
}

Result<std::vector<bool>> CacheStore::HasKeys(std::string_view engine,
                                              std::span<const CacheKey> keys) const {
  Result<EngineRef> owner = state_->ParseEngine(engine);
  if (!owner) return owner.error();
  std::vector<bool> cached;
  cached.reserve(keys.size());
  MutexLock lock(state_->mutex);
  if (state_->closed) return ClosedError();
  const std::optional<uint16_t> voice = state_->VoiceIdLocked(*owner);
  for (const CacheKey& key : keys) {
    cached.push_back(voice && state_->index().Find(owner->engine, key, *voice).has_value());
  }
  return cached;
}

Result<VariantLookup> CacheStore::GetVariant(std::string_view engine, std::string_view text,
                                             const OpusParams& params) {
  if (Status valid = Validate(params); !valid) return valid.error();
  Result<EntryRef> resolved = state_->ResolveEntry(engine, text);
  if (!resolved) return resolved.error();
  MutexLock lock(state_->mutex);
  Result<IndexLookup> entry = state_->LookUpLocked(resolved->owner, resolved->key);
  if (!entry) return entry.error();
  if (!entry->slot) return VariantLookup{};
  const Folder folder = resolved->owner.folder();
  const CacheKey& key = entry->key;
  const std::optional<uint32_t>& slot = entry->slot;
  EngineCounters& counters = *entry->counters;
  CacheIndex& idx = state_->index();
  VariantLookup found;
  found.generation = state_->generations[*slot];
  if (int v = idx.FindVariant(*slot, params); v >= 0) {
    const std::string name = VariantFileName(key, params);
    Result<CachedFile> file = state_->OpenKeptLocked(OpenFileCache::VariantKey(*slot, v), folder,
                                                     name, idx.entry(*slot).variants[v].bytes, 0);
    if (file) {
      found.variant = std::move(*file);
    } else if (file.error().code == Errc::kNotFound) {
      // Gone or not ours: forget it and remove whatever has its name, so no
      // orphan stays behind; the entry encodes it anew.
      log::Warning("dropping cache variant: " + file.error().message);
      if (Status s = state_->directory->Remove(folder, name); !s) log::Warning(s.error().message);
      idx.RemoveVariant(*slot, v);
      state_->open_files.Forget(OpenFileCache::VariantKey(*slot, v));
    } else {
      return file.error();  // a shortage: the variant stays; retry later
    }
  }
  if (!found.variant) {
    Result<std::optional<CachedFile>> wav = state_->OpenWavLocked(*slot);
    if (!wav) return wav.error();
    if (!*wav) {
      counters.misses++;
      return VariantLookup{};
    }
    found.wav = std::move(**wav);
    counters.variant_misses++;
  } else {
    counters.variant_hits++;
  }
  idx.Touch(*slot);
  return found;
}

Status CacheStore::PutVariant(std::string_view engine, std::string_view text, uint64_t generation,
                              const OpusParams& params, std::span<const uint8_t> ogg) {
  if (Status valid = Validate(params); !valid) return valid;
  Result<EntryRef> resolved = state_->ResolveEntry(engine, text);
  if (!resolved) return resolved.error();
  const EngineRef owner = resolved->owner;
  const CacheKey key = resolved->key;
  const Folder folder = owner.folder();
  if (ogg.empty()) return MakeError(Errc::kBadAudio, "empty variant");
  CacheDirectory& dir = *state_->directory;
  Result<PendingFile> pending = dir.WriteTemporary(folder, ogg);
  if (!pending) return pending.error();
  const std::string name = VariantFileName(key, params);
  auto gone = [&] {
    return MakeError(Errc::kNotFound, "entry " + EntryRelativePath(engine, key) +
                                          " is gone or was replaced since its WAV was read; "
                                          "variant not stored");
  };
  std::vector<DoomedFile> doomed;
  {
    MutexLock publishing(state_->publish_mutex);
    {
      MutexLock lock(state_->mutex);
      CacheIndex& idx = state_->index();
      std::optional<uint32_t> slot = state_->FindGenerationLocked(owner, key, generation);
      if (!slot) {
        dir.Discard(folder, *pending);
        return gone();
      }
      if (idx.FindVariant(*slot, params) >= 0) {  // another worker stored it first
        dir.Discard(folder, *pending);
        return {};
      }
      bool full = true;
      for (const IndexVariant& v : idx.entry(*slot).variants) full = full && v.bitrate_kbps != 0;
      if (full) {  // replace the first variant
        const OpusParams first = CacheIndex::VariantParams(idx.entry(*slot).variants[0]);
        doomed.push_back({folder, VariantFileName(key, first)});
        idx.RemoveVariant(*slot, 0);
        state_->open_files.Forget(OpenFileCache::VariantKey(*slot, 0));
      }
    }
    state_->RemoveFiles(doomed);
    doomed.clear();
    if (Status s = dir.Publish(folder, *pending, name); !s) {
      dir.Discard(folder, *pending);
      return s;
    }
    bool orphaned = false;
    {
      MutexLock lock(state_->mutex);
      std::optional<uint32_t> slot = state_->FindGenerationLocked(owner, key, generation);
      // Dropped meanwhile (a get found its WAV gone): the file just
      // published is no one's.
      orphaned = !slot;
      if (orphaned) {
        doomed.push_back({folder, name});
      } else {
        state_->index().AddVariant(*slot, params, ogg.size());
        state_->EnforceLimitsLocked(*slot, &doomed);
      }
    }
    state_->RemoveFiles(doomed);
    if (orphaned) return gone();
  }
  return dir.SyncFolder(folder);
}

CacheStats CacheStore::Stats() const {
  // The filesystem first, outside the lock: a slow statvfs delays no get.
  Result<DiskSpace> disk = StatDiskSpace(state_->directory->root_fd(), state_->directory->root());
  MutexLock lock(state_->mutex);
  CacheStats stats;
  if (disk) {
    stats.disk_free_bytes = disk->free_bytes;
    stats.disk_total_bytes = disk->total_bytes;
  }
  stats.min_free_bytes = MinFreeBytes(state_->limits, stats.disk_total_bytes);
  stats.max_age_s = state_->limits.max_age_s;
  stats.expired = state_->expired_count;
  stats.evicted_for_space = state_->evicted_for_space_count;
  stats.deleted = state_->deleted_count;
  stats.purged = state_->purged_count;
  const CacheIndex& idx = state_->index_file->index();
  const IndexHeader& h = idx.header();
  for (size_t e = 0; e < state_->options.engines.size(); ++e) {
    std::optional<uint32_t> oldest = idx.LeastRecentOf(static_cast<uint8_t>(e));
    stats.oldest_access_ns.push_back(oldest ? idx.entry(*oldest).last_access : 0);
    const IndexEngine& eng = h.engines[e];
    CacheCounters c{eng.entries,
                    eng.bytes,
                    eng.counters.hits,
                    eng.counters.misses,
                    eng.counters.puts,
                    eng.counters.evictions,
                    eng.counters.variant_hits,
                    eng.counters.variant_misses};
    stats.total.entries += c.entries;
    stats.total.bytes += c.bytes;
    stats.total.hits += c.hits;
    stats.total.misses += c.misses;
    stats.total.puts += c.puts;
    stats.total.evictions += c.evictions;
    stats.total.variant_hits += c.variant_hits;
    stats.total.variant_misses += c.variant_misses;
    stats.engines.emplace_back(state_->options.engines[e], c);
  }
  return stats;
}

Status CacheStore::SetLimits(const CacheLimits& limits) {
  MutexLock publishing(state_->publish_mutex);
  std::vector<DoomedFile> doomed;
  {
    MutexLock lock(state_->mutex);
    if (limits.max_entries == 0 || limits.max_entries > state_->capacity_per_engine) {
      return MakeError(Errc::kInvalidArgument,
                       "max_entries " + std::to_string(limits.max_entries) + " must be 1–" +
                           std::to_string(state_->capacity_per_engine) +
                           " (the index capacity; raising it needs a restart)");
    }
    state_->limits = limits;
    state_->max_text_bytes = limits.max_text_bytes;
    state_->EnforceLimitsLocked(std::nullopt, &doomed);
  }
  state_->RemoveFiles(doomed);
  // New min_free and max_age (already in `limits`) apply at the next Maintain.
  return {};
}

}  // namespace ttscache
