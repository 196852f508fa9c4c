// Rebuilding the index from the cache directory: after a crash, after the
// index was damaged, deleted or written by an older daemon (another layout
// version), and on first start over a folder written by the Node.js module.
// Files are classified by name (docs/layout.md):
//   {engine}/<64 hex>.wav          an entry: adopted if it is a complete WAV,
//                                  deleted if truncated (never serve it)
//   {engine}/<64 hex>.<tag>.opus   a variant: attached to its entry, or deleted
//   {engine}/<voice>/...           a voice's entries and variants, the same way
//   .tmp-*                         an interrupted put: deleted
//   anything else                  not ours: left alone, logged
// Entries are inserted oldest mtime first, so the newest ends up most
// recently used: mtime is the first LRU order.
#include <fcntl.h>

#include <algorithm>

#include "core/audio/wav_reader.hpp"
#include "core/log.hpp"
#include "core/mapped_region.hpp"
#include "daemon/cache/cache_store_internal.hpp"

namespace ttscache {

FolderItem ClassifyFolderItem(const DirEntryInfo& f, bool in_engine_folder) {
  FolderItem item;
  const std::string& name = f.name;
  const bool hex_name = name.size() > 64 && ParseCacheKeyHex(name.substr(0, 64), &item.key);
  if (name.starts_with(kTempPrefix)) {
    item.kind = FolderItemKind::kTemporary;
  } else if (hex_name && f.regular && name.size() == 68 && name.ends_with(".wav")) {
    item.kind = FolderItemKind::kEntry;
  } else if (hex_name && f.regular && name[64] == '.' && name.ends_with(".opus") &&
             name.size() > 70 &&
             ParseVariantTag(std::string_view(name).substr(65, name.size() - 70), &item.params)) {
    item.kind = FolderItemKind::kVariant;
  } else if (in_engine_folder && f.directory && IsValidVoiceName(name)) {
    item.kind = FolderItemKind::kVoiceFolder;
  } else {
    item.kind = FolderItemKind::kUnknown;
  }
  return item;
}

Result<std::vector<Folder>> ListLayoutFolders(CacheDirectory& directory, size_t engines) {
  std::vector<Folder> folders;
  for (size_t e = 0; e < engines; ++e) {
    const uint8_t engine = static_cast<uint8_t>(e);
    folders.push_back(Folder{engine, ""});
    Result<std::vector<DirEntryInfo>> listing = directory.Scan(Folder{engine, ""});
    if (!listing) return listing.error();
    std::vector<std::string> voices;
    for (const DirEntryInfo& f : *listing) {
      if (ClassifyFolderItem(f, true).kind == FolderItemKind::kVoiceFolder)
        voices.push_back(f.name);
    }
    std::sort(voices.begin(), voices.end());
    for (std::string& v : voices) folders.push_back(Folder{engine, std::move(v)});
  }
  return folders;
}

namespace {

struct Candidate {
  Folder folder;
  CacheKey key;
  uint64_t size;
  int64_t mtime_ns;
  std::string name;
};

struct VariantCandidate {
  Folder folder;
  CacheKey key;
  OpusParams params;
  uint64_t size;
  std::string name;
};

// Checks a WAV file is complete without reading its samples: the mapping is
// only touched where the chunk headers are.
Status CheckWavFile(CacheDirectory& dir, const Folder& folder, const std::string& name,
                    uint64_t size) {
  if (size == 0) return MakeError(Errc::kBadAudio, "empty file");
  Result<UniqueFd> fd = dir.OpenReadOnly(folder, name);
  if (!fd) return fd.error();
  Result<MappedRegion> map = MappedRegion::Map(fd->get(), size, false, dir.PathOf(folder, name));
  if (!map) return map.error();
  Result<WavView> wav = ParseWav(map->bytes());
  if (!wav) return wav.error();
  if (wav->frames == 0) return MakeError(Errc::kBadAudio, "no samples");
  return {};
}

}  // namespace

Status CacheStore::State::RebuildLocked(CacheOpenReport* report) {
  std::vector<Candidate> entries;
  std::vector<VariantCandidate> variants;
  Result<std::vector<Folder>> folders = ListLayoutFolders(*directory, options.engines.size());
  if (!folders) return folders.error();
  for (const Folder& folder : *folders) {
    Result<std::vector<DirEntryInfo>> listing = directory->Scan(folder);
    if (!listing) return listing.error();
    for (const DirEntryInfo& f : *listing) {
      const FolderItem item = ClassifyFolderItem(f, folder.voice.empty());
      switch (item.kind) {
        case FolderItemKind::kTemporary:
          if (Status s = directory->Remove(folder, f.name); !s) log::Warning(s.error().message);
          report->temporaries_removed++;
          break;
        case FolderItemKind::kEntry:
          entries.push_back({folder, item.key, f.size, f.mtime_ns, f.name});
          break;
        case FolderItemKind::kVariant:
          variants.push_back({folder, item.key, item.params, f.size, f.name});
          break;
        case FolderItemKind::kVoiceFolder:
          break;  // in `folders`, scanned in its turn
        case FolderItemKind::kUnknown:
          log::Notice("cache: leaving unknown file " + directory->PathOf(folder, f.name) +
                      " alone");
          report->unknown_left++;
          break;
      }
    }
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Candidate& a, const Candidate& b) { return a.mtime_ns < b.mtime_ns; });
  CacheIndex& idx = index();
  for (const Candidate& c : entries) {
    if (Status ok = CheckWavFile(*directory, c.folder, c.name, c.size); !ok) {
      log::Warning("cache: removing incomplete entry " + directory->PathOf(c.folder, c.name) +
                   ": " + ok.error().message);
      (void)directory->Remove(c.folder, c.name);
      report->invalid_removed++;
      continue;
    }
    const uint8_t engine = c.folder.engine;
    while (idx.header().engines[engine].entries >= limits.max_entries || !idx.HasFreeSlot()) {
      std::optional<uint32_t> victim = idx.LeastRecentOf(engine);
      if (!victim) break;
      std::vector<DoomedFile> doomed;
      EvictLocked(*victim, false, &doomed);
      RemoveFiles(doomed);
      report->evicted_to_limits++;
    }
    // After the evictions: only a voice addition reuses a voice's place.
    Result<uint16_t> voice = AddVoiceLocked(EngineRef{engine, c.folder.voice});
    if (!voice) {
      log::Warning("cache: leaving " + directory->PathOf(c.folder, c.name) +
                   " alone: " + voice.error().message);
      report->unknown_left++;
      continue;
    }
    InsertLocked(engine, *voice, c.key, c.size);
    report->adopted++;
  }
  for (const VariantCandidate& v : variants) {
    const std::optional<uint16_t> voice = VoiceIdLocked(EngineRef{v.folder.engine, v.folder.voice});
    std::optional<uint32_t> slot;
    if (voice) slot = idx.Find(v.folder.engine, v.key, *voice);
    if (slot && v.size > 0 && idx.FindVariant(*slot, v.params) < 0 &&
        idx.AddVariant(*slot, v.params, v.size) >= 0) {
      report->variants_adopted++;
      continue;
    }
    (void)directory->Remove(v.folder, v.name);
    report->orphans_removed++;
  }
  for (const Folder& folder : *folders) {
    if (Status s = directory->SyncFolder(folder); !s) return s;
  }
  return {};
}

}  // namespace ttscache
