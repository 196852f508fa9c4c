// CacheStore::Verify: the checks of cache_verify.hpp on the cache a daemon
// is serving, while it serves. It goes in batches: the entries by slot, then
// each folder's files. Per batch it holds publish_mutex (no name in the
// folder changes, so what it sees is what the index means) and takes the
// index mutex only to copy what it checks and to apply repairs — the file
// I/O happens without it, so gets never wait for the disk, and a put waits
// at most one batch. A repair applies only if the entry is still the one
// checked (its generation), so an entry replaced meanwhile is left alone.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <map>

#include "core/log.hpp"
#include "daemon/cache/cache_store_internal.hpp"
#include "daemon/cache/cache_verify.hpp"

namespace ttscache {
namespace {

constexpr uint32_t kSlotsPerBatch = 64;
constexpr size_t kFilesPerBatch = 256;
// A named temporary younger than this may be a put's in flight.
constexpr uint64_t kTemporaryAgeS = 600;

// An entry as the index had it when the batch was copied.
struct SeenEntry {
  uint32_t slot;
  uint64_t generation;
  uint8_t engine;
  Folder folder;
  std::string folder_path;  // relative to the cache dir: "engine" or "engine/voice"
  CacheKey key;
  uint64_t wav_bytes;
  std::array<IndexVariant, kMaxVariants> variants;
};

// What to do about one entry after its files were checked.
struct EntryVerdict {
  bool drop = false;                  // the WAV is bad: the entry goes
  std::vector<int> variants_to_drop;  // bad variants of a sound WAV
  std::vector<size_t> findings;       // indexes into the report, marked repaired if done
};

}  // namespace

Result<VerifyReport> CacheStore::Verify(bool repair) {
  State& s = *state_;
  VerifyReport report;
  const uid_t owner = ::geteuid();
  auto closed = [] { return MakeError(Errc::kInternal, "cache is closed"); };
  // Folders by their path relative to the cache dir, opened when first
  // needed (a voice's folder may appear while this runs); -1: none. Kept
  // per batch of entries, per folder after: there may be more voice folders
  // on disk than descriptors to spare (each voice ever put left one).
  std::map<std::string, UniqueFd> folder_fds;
  auto folder_fd = [&](const std::string& path) -> Result<int> {
    auto [it, added] = folder_fds.try_emplace(path);
    if (added) {
      it->second.reset(::openat(s.directory->root_fd(), path.c_str(),
                                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!it->second.valid() && errno != ENOENT) {
        return ErrnoError(errno, "open cache folder " + s.directory->root() + "/" + path);
      }
    }
    return it->second.get();
  };
  auto path_of = [&](const Folder& f) {
    return s.options.engines[f.engine] + (f.voice.empty() ? "" : "/" + f.voice);
  };

  // The entries, by slot.
  for (uint32_t first = 0;; first += kSlotsPerBatch) {
    folder_fds.clear();  // at most one batch's folders open
    std::vector<SeenEntry> seen;
    MutexLock publishing(s.publish_mutex);
    {
      MutexLock lock(s.mutex);
      if (s.closed) return closed();
      CacheIndex& idx = s.index();
      const uint32_t end = idx.header().used_slots;
      if (first >= end) break;
      for (uint32_t slot = first; slot < std::min(end, first + kSlotsPerBatch); ++slot) {
        const IndexEntry& e = idx.entry(slot);
        if (!e.in_use) continue;
        SeenEntry& entry = seen.emplace_back();
        entry.slot = slot;
        entry.generation = s.generations[slot];
        entry.engine = e.engine;
        entry.folder = s.FolderOfLocked(slot);
        entry.folder_path = path_of(entry.folder);
        entry.key = idx.KeyOf(slot);
        entry.wav_bytes = e.wav_bytes;
        std::copy(std::begin(e.variants), std::end(e.variants), entry.variants.begin());
      }
    }
    std::vector<EntryVerdict> verdicts(seen.size());
    for (size_t i = 0; i < seen.size(); ++i) {
      const SeenEntry& entry = seen[i];
      Result<int> dir = folder_fd(entry.folder_path);
      if (!dir) return dir.error();
      const std::string& folder = entry.folder_path;
      auto note = [&](verify::Problem problem, const std::string& name) {
        verdicts[i].findings.push_back(report.findings.size());
        report.findings.push_back(
            VerifyFinding{std::move(problem.kind), folder + "/" + name, std::move(problem.detail)});
      };
      report.entries_checked++;
      report.files_checked++;
      const std::string wav_name = WavFileName(entry.key);
      Result<std::optional<verify::Problem>> wav =
          verify::CheckIndexedFile(*dir, wav_name, entry.wav_bytes, owner, true);
      if (!wav) return wav.error();
      if (*wav) {
        note(std::move(**wav), wav_name);
        verdicts[i].drop = true;
      }
      for (int v = 0; v < static_cast<int>(kMaxVariants); ++v) {
        const IndexVariant& variant = entry.variants[static_cast<size_t>(v)];
        if (variant.bitrate_kbps == 0) continue;
        report.files_checked++;
        const std::string name = VariantFileName(entry.key, CacheIndex::VariantParams(variant));
        Result<std::optional<verify::Problem>> problem =
            verify::CheckIndexedFile(*dir, name, variant.bytes, owner, false);
        if (!problem) return problem.error();
        if (*problem) {
          note(std::move(**problem), name);
          verdicts[i].variants_to_drop.push_back(v);
        }
      }
    }
    if (!repair) continue;
    std::vector<DoomedFile> doomed;
    {
      MutexLock lock(s.mutex);
      if (s.closed) return closed();
      CacheIndex& idx = s.index();
      for (size_t i = 0; i < seen.size(); ++i) {
        const SeenEntry& entry = seen[i];
        EntryVerdict& verdict = verdicts[i];
        if (verdict.findings.empty()) continue;
        const bool same =
            idx.entry(entry.slot).in_use && s.generations[entry.slot] == entry.generation;
        if (!same) {
          // Dropped (a get found the file bad) or replaced by a put meanwhile:
          // what was found is no longer what the index names.
          for (size_t f : verdict.findings) report.findings[f].repaired = true;
          continue;
        }
        if (verdict.drop) {
          s.EvictLocked(entry.slot, false, &doomed);
        } else {
          for (int v : verdict.variants_to_drop) {
            const IndexVariant& variant = idx.entry(entry.slot).variants[v];
            if (variant.bitrate_kbps == 0) continue;
            doomed.push_back(
                {entry.folder, VariantFileName(entry.key, CacheIndex::VariantParams(variant))});
            idx.RemoveVariant(entry.slot, v);
            s.open_files.Forget(OpenFileCache::VariantKey(entry.slot, v));
          }
        }
        for (size_t f : verdict.findings) report.findings[f].repaired = true;
      }
    }
    s.RemoveFiles(doomed);  // publish_mutex held: no put can be reusing these names
  }

  // The files in each folder.
  Result<std::vector<Folder>> layout = ListLayoutFolders(*s.directory, s.options.engines.size());
  if (!layout) return layout.error();
  folder_fds.clear();
  for (const Folder& layout_folder : *layout) {
    const uint8_t engine = layout_folder.engine;
    const std::string folder = path_of(layout_folder);
    folder_fds.clear();  // only this folder's open
    Result<int> dir = folder_fd(folder);
    if (!dir) return dir.error();
    if (*dir < 0) continue;  // gone meanwhile
    Result<std::vector<verify::FolderFile>> files =
        verify::ListFolder(*dir, s.directory->root() + "/" + folder);
    if (!files) return files.error();
    for (size_t first = 0; first < files->size(); first += kFilesPerBatch) {
      MutexLock publishing(s.publish_mutex);
      for (size_t i = first; i < std::min(files->size(), first + kFilesPerBatch); ++i) {
        verify::FolderFile file = (*files)[i];
        // Seen again now that no name can change: the listing may be old.
        if (::fstatat(*dir, file.name.c_str(), &file.st, AT_SYMLINK_NOFOLLOW) != 0) {
          continue;
        }
        if (layout_folder.voice.empty() && S_ISDIR(file.st.st_mode) &&
            IsValidVoiceName(file.name)) {
          continue;  // a voice's folder: walked as a folder of its own
        }
        report.files_checked++;
        bool stopped = false;
        auto indexed = [&](const verify::ClassifiedName& name) {
          MutexLock lock(s.mutex);
          if (s.closed) {
            stopped = true;
            return verify::Indexed::kYes;
          }
          uint16_t voice = kNoVoice;
          if (!layout_folder.voice.empty()) {
            voice = s.index().FindVoice(engine, layout_folder.voice);
            if (voice == kNoVoice) return verify::Indexed::kNo;  // no entry of this voice
          }
          std::optional<uint32_t> slot = s.index().Find(engine, name.key, voice);
          if (name.kind == verify::NameKind::kWav || !slot) {
            return slot ? verify::Indexed::kYes : verify::Indexed::kNo;
          }
          return s.index().FindVariant(*slot, name.params) >= 0 ? verify::Indexed::kYes
                                                                : verify::Indexed::kNo;
        };
        Result<std::optional<VerifyFinding>> found = verify::ExamineFolderFile(
            *dir, folder, layout_folder.voice.empty(), file, owner, kTemporaryAgeS, indexed);
        if (stopped) return closed();
        if (!found) return found.error();
        if (!*found) continue;
        VerifyFinding& finding = **found;
        if (repair && finding.damage) {
          if (finding.kind == verify::kNotIndexed) {
            MutexLock lock(s.mutex);
            if (s.closed) return closed();
            CacheIndex& idx = s.index();
            const uint64_t size = static_cast<uint64_t>(file.st.st_size);
            const CacheKey key = verify::ClassifyName(file.name).key;
            const bool room =
                idx.header().engines[engine].entries < s.limits.max_entries && idx.HasFreeSlot() &&
                (s.limits.max_bytes == 0 || idx.header().bytes + size <= s.limits.max_bytes);
            Result<uint16_t> voice = room ? s.AddVoiceLocked(EngineRef{engine, layout_folder.voice})
                                          : Result<uint16_t>(kNoVoice);
            if (!voice) {
              finding.detail += "; not adopted: " + voice.error().message;
            } else if (room && !idx.Find(engine, key, *voice)) {
              const uint64_t mtime = static_cast<uint64_t>(file.st.st_mtim.tv_sec) * 1000000000 +
                                     static_cast<uint64_t>(file.st.st_mtim.tv_nsec);
              s.InsertLocked(engine, *voice, key, size, mtime);
              finding.repaired = true;
              finding.detail += "; adopted";
            } else {
              finding.detail += "; not adopted: the cache is at its limits";
            }
          } else {
            // bad-wav (not indexed), temporary, orphan-variant: no entry names
            // it, and publish_mutex is held, so no put is reusing the name.
            if (Status removed = s.directory->Remove(layout_folder, file.name); removed) {
              finding.repaired = true;
            } else {
              finding.detail += "; " + removed.error().message;
            }
          }
        }
        report.findings.push_back(std::move(finding));
      }
    }
  }
  report.verdict = verify::VerdictOf(report.findings);
  if (repair) {
    for (const Folder& f : *layout) {
      if (Status synced = s.directory->SyncFolder(f); !synced) return synced.error();
    }
  }
  return report;
}

}  // namespace ttscache
