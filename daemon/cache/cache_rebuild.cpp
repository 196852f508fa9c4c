// Rebuilding the index from the cache directory: after a crash, after the
// index was damaged or deleted, and on first start over a folder written by
// the Node.js module. Files are classified by name:
//   <64 hex>.wav               an entry: adopted if it is a complete WAV,
//                              deleted if truncated (never serve it)
//   <64 hex>.<tag>.opus        a variant: attached to its entry, or deleted
//   .tmp-*                     an interrupted put: deleted
//   anything else              not ours: left alone, logged
// Entries are inserted oldest mtime first, so the newest ends up most
// recently used: mtime is the first LRU order.
#include <fcntl.h>

#include <algorithm>

#include "core/audio/wav_reader.hpp"
#include "core/log.hpp"
#include "core/mapped_region.hpp"
#include "daemon/cache/cache_store_internal.hpp"

namespace ttscache {
namespace {

struct Candidate {
  uint8_t engine;
  CacheKey key;
  uint64_t size;
  int64_t mtime_ns;
  std::string name;
};

struct VariantCandidate {
  uint8_t engine;
  CacheKey key;
  OpusParams params;
  uint64_t size;
  std::string name;
};

// Checks a WAV file is complete without reading its samples: the mapping is
// only touched where the chunk headers are.
Status CheckWavFile(CacheDirectory& dir, uint8_t engine, const std::string& name, uint64_t size) {
  if (size == 0) return MakeError(Errc::kBadAudio, "empty file");
  Result<UniqueFd> fd = dir.OpenReadOnly(engine, name);
  if (!fd) return fd.error();
  Result<MappedRegion> map = MappedRegion::Map(fd->get(), size, false, dir.PathOf(engine, name));
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
  for (size_t e = 0; e < options.engines.size(); ++e) {
    const uint8_t engine = static_cast<uint8_t>(e);
    Result<std::vector<DirEntryInfo>> listing = directory->Scan(engine);
    if (!listing) return listing.error();
    for (const DirEntryInfo& f : *listing) {
      CacheKey key;
      const bool hex_name = f.name.size() > 64 && ParseCacheKeyHex(f.name.substr(0, 64), &key);
      if (f.name.starts_with(kTempPrefix)) {
        if (Status s = directory->Remove(engine, f.name); !s) log::Warning(s.error().message);
        report->temporaries_removed++;
      } else if (hex_name && f.regular && f.name.size() == 68 && f.name.ends_with(".wav")) {
        entries.push_back({engine, key, f.size, f.mtime_ns, f.name});
      } else if (OpusParams p;
                 hex_name && f.regular && f.name[64] == '.' && f.name.ends_with(".opus") &&
                 ParseVariantTag(std::string_view(f.name).substr(65, f.name.size() - 70), &p)) {
        variants.push_back({engine, key, p, f.size, f.name});
      } else {
        log::Notice("cache: leaving unknown file " + directory->PathOf(engine, f.name) + " alone");
        report->unknown_left++;
      }
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const Candidate& a, const Candidate& b) { return a.mtime_ns < b.mtime_ns; });
  CacheIndex& idx = index();
  for (const Candidate& c : entries) {
    if (Status ok = CheckWavFile(*directory, c.engine, c.name, c.size); !ok) {
      log::Warning("cache: removing incomplete entry " + directory->PathOf(c.engine, c.name) +
                   ": " + ok.error().message);
      (void)directory->Remove(c.engine, c.name);
      report->invalid_removed++;
      continue;
    }
    while (idx.header().engines[c.engine].entries >= limits.max_entries || !idx.HasFreeSlot()) {
      std::optional<uint32_t> victim = idx.LeastRecentOf(c.engine);
      if (!victim) break;
      std::vector<DoomedFile> doomed;
      EvictLocked(*victim, false, &doomed);
      RemoveFiles(doomed);
      report->evicted_to_limits++;
    }
    InsertLocked(c.engine, c.key, c.size);
    report->adopted++;
  }
  for (const VariantCandidate& v : variants) {
    std::optional<uint32_t> slot = idx.Find(v.engine, v.key);
    if (slot && v.size > 0 && idx.FindVariant(*slot, v.params) < 0 &&
        idx.AddVariant(*slot, v.params, v.size) >= 0) {
      report->variants_adopted++;
      continue;
    }
    (void)directory->Remove(v.engine, v.name);
    report->orphans_removed++;
  }
  for (size_t e = 0; e < options.engines.size(); ++e) {
    if (Status s = directory->SyncFolder(e); !s) return s;
  }
  return {};
}

}  // namespace ttscache
