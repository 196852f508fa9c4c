// VerifyCacheDirectory (`ttscached --verify DIR`): the checks of
// cache_verify.hpp on a cache no daemon holds, plus the index file itself.
// The look is read-only: the dir lock is taken on a read-only descriptor (so
// no daemon starts meanwhile) and the index is read into memory, never opened
// for writing — without --repair nothing in the folder changes. A repair
// opens the cache as the daemon does (CacheStore::Open rebuilds an index that
// is not clean or does not check out), repairs the rest with Verify, closes
// it cleanly, and looks again: a finding is repaired when the second look no
// longer sees it. Files are expected to belong to the cache dir's owner (the
// daemon's user), whoever runs the check.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "core/unique_fd.hpp"
#include "daemon/cache/cache_directory.hpp"
#include "daemon/cache/cache_index.hpp"
#include "daemon/cache/cache_verify.hpp"

namespace ttscache {
namespace {

// Takes the dir lock as CacheDirectory::Open does, without writing our pid:
// kLocked names the pid a running daemon wrote. O_NONBLOCK: a FIFO in its
// place must not block the open. A lock file this creates (no daemon ever
// ran here) goes to the dir's owner: one left root's, 0640, would keep the
// daemon's user from opening it, and the daemon from starting.
Result<UniqueFd> LockReadOnly(int root_fd, const std::string& root) {
  constexpr int kFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  UniqueFd fd(::openat(root_fd, kLockFileName, kFlags));
  if (!fd.valid() && errno == ENOENT) {
    fd.reset(::openat(root_fd, kLockFileName, kFlags | O_CREAT | O_EXCL, 0640));
    struct stat dir;
    if (fd.valid() && ::fstat(root_fd, &dir) == 0 && dir.st_uid != ::geteuid() &&
        ::fchown(fd.get(), dir.st_uid, dir.st_gid) != 0) {
      return ErrnoError(errno, "give " + root + "/" + kLockFileName + " to the dir's owner uid " +
                                   std::to_string(dir.st_uid));
    }
    if (!fd.valid() && errno == EEXIST) fd.reset(::openat(root_fd, kLockFileName, kFlags));
  }
  if (!fd.valid()) return ErrnoError(errno, "open " + root + "/" + kLockFileName);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, "stat " + root + "/" + kLockFileName);
  if (!S_ISREG(st.st_mode)) {
    return MakeError(Errc::kInternal,
                     root + "/" + kLockFileName + " is not a regular file: not a cache dir's lock");
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) return ErrnoError(err, "flock " + root + "/" + kLockFileName);
    char pid[32] = {};
    const ssize_t n = ::pread(fd.get(), pid, sizeof(pid) - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return MakeError(Errc::kLocked, "cache dir " + root + " is in use by pid " + holder +
                                        " (a running ttscached): stop it first, or ask it to "
                                        "check its cache with `ttscache verify`");
  }
  return fd;
}

// The index file as the last daemon left it, read into memory (8-byte
// aligned for the layout's fields). `index` is set when it checks out as the
// daemon's Open would accept it; otherwise `finding` says why not.
struct IndexRead {
  std::vector<uint64_t> words;
  std::optional<CacheIndex> index;
  std::optional<VerifyFinding> finding;
};

Result<IndexRead> ReadIndex(int root_fd, const CacheOptions& options) {
  IndexRead read;
  auto bad = [&](const char* kind, std::string detail) {
    read.finding = VerifyFinding{kind, kIndexFileName, std::move(detail)};
    return std::move(read);
  };
  // O_NONBLOCK: a FIFO in its place is reported (below), not waited on.
  UniqueFd fd(::openat(root_fd, kIndexFileName, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return bad(verify::kIndexMissing, "no index file");
    return ErrnoError(errno, "open " + options.dir + "/" + kIndexFileName);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, "stat the index");
  if (!S_ISREG(st.st_mode)) return bad(verify::kIndexLayout, "not a regular file");
  if (st.st_size == 0) return bad(verify::kIndexMissing, "an empty index file");
  const uint64_t capacity = options.limits.max_entries * options.engines.size();
  const size_t expected = IndexFileSize(
      static_cast<uint32_t>(capacity), CacheIndex::BucketCountFor(static_cast<uint32_t>(capacity)));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < sizeof(IndexHeader)) {
    return bad(verify::kIndexLayout, std::to_string(size) + " bytes, shorter than its header");
  }
  // The header first: a version or size from another configuration. Only
  // the header of a file whose size is not the expected one: a huge
  // (sparse) file must not be read into memory.
  const uint64_t to_read = size == expected ? size : sizeof(IndexHeader);
  read.words.resize((std::max<uint64_t>(to_read, expected) + 7) / 8);
  auto* bytes = reinterpret_cast<uint8_t*>(read.words.data());
  for (size_t done = 0; done < to_read;) {
    const ssize_t n = ::pread(fd.get(), bytes + done, to_read - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "read " + options.dir + "/" + kIndexFileName);
    if (n == 0) return bad(verify::kIndexLayout, "shorter than its size while read");
    done += static_cast<size_t>(n);
  }
  const auto* h = reinterpret_cast<const IndexHeader*>(bytes);
  if (std::memcmp(h->magic, kIndexMagic, sizeof(kIndexMagic)) != 0) {
    return bad(verify::kIndexLayout, "not a ttscache index (bad magic)");
  }
  if (h->version != kIndexVersion) {
    return bad(verify::kIndexVersion, "version " + std::to_string(h->version) + ", expected " +
                                          std::to_string(kIndexVersion));
  }
  if (size != expected) {
    return bad(verify::kIndexLayout,
               "index is " + std::to_string(size) + " bytes, expected " + std::to_string(expected) +
                   " for max_entries " + std::to_string(options.limits.max_entries) + " × " +
                   std::to_string(options.engines.size()) + " engines (another configuration?)");
  }
  const std::span<uint8_t> memory(bytes, static_cast<size_t>(size));
  if (h->clean != 1) {
    return bad(verify::kIndexUnclean, "not closed cleanly (the daemon crashed or was killed)");
  }
  if (h->checksum != CacheIndex::Checksum(memory)) {
    return bad(verify::kIndexChecksum, "checksum mismatch: the file changed after a clean close");
  }
  Result<CacheIndex> attached =
      CacheIndex::Attach(memory, options.engines, static_cast<uint32_t>(capacity));
  if (!attached) return bad(verify::kIndexLayout, attached.error().message);
  read.index.emplace(*attached);
  return read;
}

// One read-only look at the cache dir. The caller holds the dir lock.
Result<VerifyReport> LookAt(int root_fd, const CacheOptions& options, uid_t owner) {
  VerifyReport report;
  Result<IndexRead> read = ReadIndex(root_fd, options);
  if (!read) return read.error();
  if (read->finding) report.findings.push_back(*read->finding);
  const std::optional<CacheIndex>& index = read->index;

  // Every folder of the layout: each engine's, then its voices' subfolders.
  // Only the engines' folders are held open: a voice's is opened when used
  // and closed after (there may be more voice folders on disk than this
  // process may open descriptors: each voice ever put left one).
  struct LayoutFolder {
    uint8_t engine;
    std::string voice, path;  // path: relative to the cache dir
    UniqueFd fd;              // an engine's; invalid: the folder does not exist (or a voice's)
  };
  std::vector<int> engine_fds(options.engines.size(), -1);
  std::vector<LayoutFolder> folders;
  auto open_folder = [&](int at, const std::string& name,
                         const std::string& path) -> Result<UniqueFd> {
    UniqueFd fd(::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid() && errno != ENOENT) {
      return ErrnoError(errno, "open cache folder " + options.dir + "/" + path);
    }
    return fd;
  };
  for (size_t e = 0; e < options.engines.size(); ++e) {
    const std::string& engine = options.engines[e];
    Result<UniqueFd> fd = open_folder(root_fd, engine, engine);
    if (!fd) return fd.error();
    const size_t engine_at = folders.size();
    folders.push_back({static_cast<uint8_t>(e), "", engine, std::move(*fd)});
    engine_fds[e] = folders[engine_at].fd.get();
    if (!folders[engine_at].fd.valid()) continue;
    Result<std::vector<verify::FolderFile>> items =
        verify::ListFolder(folders[engine_at].fd.get(), options.dir + "/" + engine);
    if (!items) return items.error();
    std::vector<std::string> voices;
    for (const verify::FolderFile& f : *items) {
      if (S_ISDIR(f.st.st_mode) && IsValidVoiceName(f.name)) voices.push_back(f.name);
    }
    std::sort(voices.begin(), voices.end());
    for (const std::string& voice : voices) {
      folders.push_back({static_cast<uint8_t>(e), voice, engine + "/" + voice, UniqueFd()});
    }
  }
  // A folder's fd for the entries' checks: an engine's, or a voice's from a
  // few kept (entries come in slot order, their voices mixed); -1: missing.
  std::map<std::string, UniqueFd> voice_fds;
  auto fd_of = [&](uint8_t engine, std::string_view voice, const std::string& path) -> Result<int> {
    if (voice.empty() || engine_fds[engine] < 0) return engine_fds[engine];
    if (auto it = voice_fds.find(path); it != voice_fds.end()) return it->second.get();
    if (voice_fds.size() >= 64) voice_fds.clear();
    Result<UniqueFd> fd = open_folder(engine_fds[engine], std::string(voice), path);
    if (!fd) return fd.error();
    return voice_fds.emplace(path, std::move(*fd)).first->second.get();
  };

  if (index) {
    for (uint32_t slot = 0; slot < index->header().used_slots; ++slot) {
      const IndexEntry& e = index->entry(slot);
      if (!e.in_use) continue;
      report.entries_checked++;
      const std::string_view voice = index->VoiceName(e.voice);
      const std::string folder =
          options.engines[e.engine] + (voice.empty() ? "" : "/" + std::string(voice));
      Result<int> folder_fd = fd_of(e.engine, voice, folder);
      if (!folder_fd) return folder_fd.error();
      const int dir = *folder_fd;
      const CacheKey key = index->KeyOf(slot);
      auto check = [&](const std::string& name, uint64_t bytes, bool wav) -> Status {
        report.files_checked++;
        Result<std::optional<verify::Problem>> problem =
            verify::CheckIndexedFile(dir, name, bytes, owner, wav);
        if (!problem) return problem.error();
        if (*problem) {
          report.findings.push_back(
              {std::move((*problem)->kind), folder + "/" + name, std::move((*problem)->detail)});
        }
        return {};
      };
      if (Status s = check(WavFileName(key), e.wav_bytes, true); !s) return s.error();
      for (const IndexVariant& v : e.variants) {
        if (v.bitrate_kbps == 0) continue;
        if (Status s = check(VariantFileName(key, CacheIndex::VariantParams(v)), v.bytes, false);
            !s) {
          return s.error();
        }
      }
    }
  }
  voice_fds.clear();
  for (const LayoutFolder& folder : folders) {
    UniqueFd voice_fd;  // a voice's folder, open while it is looked at
    if (!folder.voice.empty() && engine_fds[folder.engine] >= 0) {
      Result<UniqueFd> opened = open_folder(engine_fds[folder.engine], folder.voice, folder.path);
      if (!opened) return opened.error();
      voice_fd = std::move(*opened);
    }
    const int dir = folder.voice.empty() ? folder.fd.get() : voice_fd.get();
    if (dir < 0) continue;
    Result<std::vector<verify::FolderFile>> files =
        verify::ListFolder(dir, options.dir + "/" + folder.path);
    if (!files) return files.error();
    // Without an index, a variant is an orphan when no WAV of its key is here.
    std::set<std::string> wav_keys;
    for (const verify::FolderFile& f : *files) {
      const verify::ClassifiedName name = verify::ClassifyName(f.name);
      if (name.kind == verify::NameKind::kWav) wav_keys.insert(name.key.hex());
    }
    auto indexed = [&](const verify::ClassifiedName& name) {
      if (!index) {
        if (name.kind == verify::NameKind::kWav) return verify::Indexed::kNoIndex;
        return wav_keys.contains(name.key.hex()) ? verify::Indexed::kNoIndex : verify::Indexed::kNo;
      }
      uint16_t voice = kNoVoice;
      if (!folder.voice.empty()) {
        voice = index->FindVoice(folder.engine, folder.voice);
        if (voice == kNoVoice) return verify::Indexed::kNo;
      }
      std::optional<uint32_t> slot = index->Find(folder.engine, name.key, voice);
      if (!slot) return verify::Indexed::kNo;
      if (name.kind == verify::NameKind::kWav) return verify::Indexed::kYes;
      return index->FindVariant(*slot, name.params) >= 0 ? verify::Indexed::kYes
                                                         : verify::Indexed::kNo;
    };
    for (const verify::FolderFile& f : *files) {
      if (folder.voice.empty() && S_ISDIR(f.st.st_mode) && IsValidVoiceName(f.name)) continue;
      report.files_checked++;
      Result<std::optional<VerifyFinding>> found =
          verify::ExamineFolderFile(dir, folder.path, folder.voice.empty(), f, owner, 0, indexed);
      if (!found) return found.error();
      if (*found) report.findings.push_back(std::move(**found));
    }
  }
  report.verdict = verify::VerdictOf(report.findings);
  return report;
}

bool SameFinding(const VerifyFinding& a, const VerifyFinding& b) {
  return a.kind == b.kind && a.path == b.path;
}

}  // namespace

Result<VerifyReport> VerifyCacheDirectory(const CacheOptions& options, bool repair) {
  UniqueFd root(::open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoError(errno, "open cache dir " + options.dir);
  struct stat st;
  if (::fstat(root.get(), &st) != 0) return ErrnoError(errno, "stat cache dir " + options.dir);
  const uid_t owner = st.st_uid;
  VerifyReport before;
  {
    Result<UniqueFd> lock = LockReadOnly(root.get(), options.dir);
    if (!lock) return lock.error();
    Result<VerifyReport> looked = LookAt(root.get(), options, owner);
    if (!looked) return looked.error();
    before = std::move(*looked);
  }  // the lock is released here: CacheStore::Open takes it on its own descriptor
  if (!repair || before.verdict == VerifyVerdict::kClean) return before;
  if (::geteuid() != owner) {
    // A repair as another user would judge every file "wrong-owner" and
    // leave an index the daemon cannot open.
    return MakeError(Errc::kForbidden,
                     "--repair must run as the cache dir's owner (uid " + std::to_string(owner) +
                         "), the daemon's user; this is uid " + std::to_string(::geteuid()));
  }
  {
    CacheOptions opening = options;
    Result<std::unique_ptr<CacheStore>> store = CacheStore::Open(opening);
    if (!store) return store.error();  // kLocked: a daemon started meanwhile
    Result<VerifyReport> repaired = (*store)->Verify(true);
    if (!repaired) return repaired.error();
    if (Status closed = (*store)->Close(); !closed) return closed.error();
  }
  Result<UniqueFd> lock = LockReadOnly(root.get(), options.dir);
  if (!lock) return lock.error();
  // Temporaries: Verify leaves young ones (a running daemon's put may be
  // writing them); with the daemon stopped and the lock held, none is.
  for (const VerifyFinding& f : before.findings) {
    if (f.kind != verify::kTemporary) continue;
    const size_t slash = f.path.rfind('/');
    if (slash == std::string::npos) continue;
    UniqueFd folder(::openat(root.get(), f.path.substr(0, slash).c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (folder.valid()) ::unlinkat(folder.get(), f.path.substr(slash + 1).c_str(), 0);
  }
  Result<VerifyReport> after = LookAt(root.get(), options, owner);
  if (!after) return after.error();
  VerifyReport report = std::move(before);
  for (VerifyFinding& f : report.findings) {
    if (!f.damage) continue;
    f.repaired = std::none_of(after->findings.begin(), after->findings.end(),
                              [&](const VerifyFinding& a) { return SameFinding(a, f); });
  }
  for (const VerifyFinding& a : after->findings) {
    const bool known = std::any_of(report.findings.begin(), report.findings.end(),
                                   [&](const VerifyFinding& f) { return SameFinding(a, f); });
    if (!known) report.findings.push_back(a);
  }
  report.entries_checked = after->entries_checked;
  report.files_checked = std::max(report.files_checked, after->files_checked);
  report.verdict = verify::VerdictOf(report.findings);
  return report;
}

}  // namespace ttscache
