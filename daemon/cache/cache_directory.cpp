// See cache_directory.hpp. Every call works relative to a directory fd
// (openat, renameat, unlinkat), so a cache folder renamed or replaced under
// the daemon cannot redirect writes elsewhere.
#include "daemon/cache/cache_directory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/mapped_region.hpp"
#include "core/mutex.hpp"
#include "core/thread_annotations.hpp"
#include "core/write_all.hpp"

namespace ttscache {
namespace {

std::string RandomSuffix() {
  uint64_t r = 0;
  if (getrandom(&r, sizeof(r), 0) != sizeof(r)) r = static_cast<uint64_t>(getpid()) << 32;
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 0; i < 16; ++i) s[i] = kDigits[(r >> (4 * i)) & 15];
  return s;
}

// Links an unnamed (O_TMPFILE) inode into `dir` as `name`. Through
// /proc/self/fd, the way open(2) describes, because linkat(AT_EMPTY_PATH)
// needs CAP_DAC_READ_SEARCH (linkat(2)). Fails with EEXIST when the name is
// taken.
int LinkUnnamed(int fd, int dir, const std::string& name) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  return ::linkat(AT_FDCWD, path.c_str(), dir, name.c_str(), AT_SYMLINK_FOLLOW);
}

// Whether an unnamed inode can be made and linked in `dir` (filesystem and
// /proc permitting): tried once at open, with a probe file removed at once.
bool UnnamedTemporariesWork(int dir) {
  UniqueFd fd(::openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0640));
  if (!fd.valid()) return false;
  const std::string probe = std::string(kTempPrefix) + "probe-" + RandomSuffix();
  if (LinkUnnamed(fd.get(), dir, probe) != 0) return false;
  ::unlinkat(dir, probe.c_str(), 0);
  return true;
}

Status MakeDirectory(int at, const std::string& name, const std::string& shown) {
  if (::mkdirat(at, name.c_str(), 0750) != 0 && errno != EEXIST) {
    return ErrnoError(errno, "create cache folder " + shown);
  }
  return {};
}

}  // namespace

// Voice folders are opened when first used and kept open: a voice's every
// request would otherwise pay an openat of its folder. At most
// kMaxKeptVoiceFolders are kept: any client may put to new voice names
// without end (the index gives an emptied voice's place to the next), and a
// descriptor kept per name ever used ran the daemon out of descriptors. A
// folder dropped from the set (to make room, or removed behind the daemon's
// back: ForgetFolder) is closed by its last user, never under one, since
// another thread may be using its number.
constexpr size_t kMaxKeptVoiceFolders = 128;

struct CacheDirectory::VoiceFolders {
  // Orders (engine, voice) keys whether the voice is a string or a view, so
  // a lookup allocates nothing.
  struct Less {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      if (a.first != b.first) return a.first < b.first;
      return std::string_view(a.second) < std::string_view(b.second);
    }
  };
  Mutex mutex;
  std::map<std::pair<uint8_t, std::string>, std::shared_ptr<const UniqueFd>, Less> fds
      GUARDED_BY(mutex);
};

CacheDirectory::CacheDirectory(CacheDirectory&&) noexcept = default;
CacheDirectory& CacheDirectory::operator=(CacheDirectory&&) noexcept = default;
CacheDirectory::~CacheDirectory() = default;

Result<CacheDirectory> CacheDirectory::Open(const std::string& root,
                                            const std::vector<std::string>& engines, bool fsync,
                                            bool unnamed_temporaries) {
  CacheDirectory d;
  d.voice_folders_ = std::make_unique<VoiceFolders>();
  d.root_path_ = root;
  d.engines_ = engines;
  d.fsync_ = fsync;
  // Create the root and its parents, as `mkdir -p` would.
  for (size_t slash = root.find('/', 1);; slash = root.find('/', slash + 1)) {
    std::string prefix = root.substr(0, slash);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0750) != 0 && errno != EEXIST) {
      return ErrnoError(errno, "create cache dir " + prefix);
    }
    if (slash == std::string::npos) break;
  }
  d.root_.reset(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d.root_.valid()) return ErrnoError(errno, "open cache dir " + root);

  d.lock_.reset(::openat(d.root_.get(), kLockFileName, O_RDWR | O_CREAT | O_CLOEXEC, 0640));
  if (!d.lock_.valid()) return ErrnoError(errno, "open " + root + "/" + kLockFileName);
  if (::flock(d.lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK) return ErrnoError(err, "flock " + root + "/" + kLockFileName);
    char pid[32] = {};
    ssize_t n = ::pread(d.lock_.get(), pid, sizeof(pid) - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return MakeError(Errc::kLocked,
                     "cache dir " + root + " is in use by pid " + holder + " (another ttscached?)");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(d.lock_.get(), 0) != 0 ||
      ::pwrite(d.lock_.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return ErrnoError(errno, "write pid to " + root + "/" + kLockFileName);
  }

  for (const std::string& engine : engines) {
    if (Status s = MakeDirectory(d.root_.get(), engine, root + "/" + engine); !s) return s.error();
    UniqueFd fd(
        ::openat(d.root_.get(), engine.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(errno, "open cache folder " + root + "/" + engine);
    d.engine_dirs_.push_back(std::move(fd));
  }
  d.unnamed_temporaries_ = unnamed_temporaries && !d.engine_dirs_.empty() &&
                           UnnamedTemporariesWork(d.engine_dirs_[0].get());
  return d;
}

std::string CacheDirectory::RelativePath(const Folder& folder) const {
  return folder.voice.empty() ? engines_[folder.engine]
                              : engines_[folder.engine] + "/" + folder.voice;
}

std::string CacheDirectory::PathOf(const Folder& folder, const std::string& name) const {
  return root_path_ + "/" + RelativePath(folder) + "/" + name;
}

Result<CacheDirectory::FolderRef> CacheDirectory::FolderFd(const Folder& folder, bool create) {
  const int engine_fd = engine_dirs_[folder.engine].get();
  if (folder.voice.empty()) return FolderRef{engine_fd, nullptr};
  VoiceFolders& v = *voice_folders_;
  MutexLock lock(v.mutex);
  auto it = v.fds.find(std::pair<uint8_t, std::string_view>(folder.engine, folder.voice));
  if (it != v.fds.end()) return FolderRef{it->second->get(), it->second};
  const std::string shown = root_path_ + "/" + RelativePath(folder);
  if (create) {
    if (Status s = MakeDirectory(engine_fd, folder.voice, shown); !s) return s.error();
  }
  UniqueFd fd(
      ::openat(engine_fd, folder.voice.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    // Something else under the voice's name (a symlink, a file) is not its
    // folder: as good as missing, and never followed.
    if (errno == ELOOP || errno == ENOTDIR) {
      return MakeError(Errc::kNotFound, shown + " is not a folder (" + ErrnoText(errno) + ")");
    }
    return ErrnoError(errno, "open voice folder " + shown);
  }
  // Room for it: any other kept one goes (its users still hold it).
  if (v.fds.size() >= kMaxKeptVoiceFolders) v.fds.erase(v.fds.begin());
  auto kept = std::make_shared<const UniqueFd>(std::move(fd));
  v.fds.emplace(std::pair<uint8_t, std::string>(folder.engine, folder.voice), kept);
  return FolderRef{kept->get(), kept};
}

Result<CacheDirectory::FolderRef> CacheDirectory::LiveFolderFd(const Folder& folder) {
  Result<FolderRef> dir = FolderFd(folder, true);
  struct stat st;
  if (dir && !folder.voice.empty() && ::fstat(dir->get(), &st) == 0 && st.st_nlink == 0) {
    ForgetFolder(folder);
    dir = FolderFd(folder, true);
  }
  return dir;
}

void CacheDirectory::RemoveVoiceFolderIfEmpty(const Folder& folder) {
  if (folder.voice.empty()) return;
  ForgetFolder(folder);
  // ENOTEMPTY (entries or a named temporary still in it) and ENOENT are the
  // expected failures; any other leaves the folder, which costs nothing.
  ::unlinkat(engine_dirs_[folder.engine].get(), folder.voice.c_str(), AT_REMOVEDIR);
}

void CacheDirectory::ForgetFolder(const Folder& folder) {
  if (folder.voice.empty()) return;
  VoiceFolders& v = *voice_folders_;
  MutexLock lock(v.mutex);
  auto it = v.fds.find(std::pair<uint8_t, std::string_view>(folder.engine, folder.voice));
  if (it == v.fds.end()) return;
  v.fds.erase(it);  // closed by its last user
}

Result<PendingFile> CacheDirectory::CreateTemporary(const Folder& folder) {
  PendingFile pending;
  for (int attempt = 0;; ++attempt) {
    Result<FolderRef> dir = FolderFd(folder, true);
    if (!dir) return dir.error();
    if (unnamed_temporaries_) {
      pending.fd.reset(::openat(dir->get(), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0640));
      pending.shown = "a new file in " + root_path_ + "/" + RelativePath(folder);
    } else {
      const std::string name = std::string(kTempPrefix) + RandomSuffix();
      pending.fd.reset(::openat(dir->get(), name.c_str(),
                                O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640));
      pending.shown = PathOf(folder, name);
      if (pending.fd.valid()) pending.name = name;
    }
    if (pending.fd.valid()) return pending;
    const int err = errno;
    // A voice folder removed behind our back (its kept descriptor is of a
    // directory no longer linked: creates fail, with ENOENT or for
    // O_TMPFILE EPERM): make it anew, once.
    struct stat st;
    if (!folder.voice.empty() && attempt == 0 && ::fstat(dir->get(), &st) == 0 &&
        st.st_nlink == 0) {
      ForgetFolder(folder);
      continue;
    }
    return ErrnoError(err, "create " + pending.shown);
  }
}

Status CacheDirectory::FinishTemporary(const Folder& folder, PendingFile& pending, Status written) {
  const std::string& shown = pending.shown;
  if (written && fsync_ && ::fsync(pending.fd.get()) != 0) {
    written = ErrnoError(errno, "fsync " + shown);
  }
  // A named temporary is closed before the rename, so a late write error
  // that close reports (NFS) is not published; an unnamed one stays open
  // until it is linked (its descriptor is its only handle).
  if (written && !pending.name.empty() && ::close(pending.fd.release()) != 0) {
    written = ErrnoError(errno, "close " + shown);
  }
  if (!written) Discard(folder, pending);
  return written;
}

Result<PendingFile> CacheDirectory::WriteTemporary(const Folder& folder,
                                                   std::span<const uint8_t> bytes) {
  Result<PendingFile> pending = CreateTemporary(folder);
  if (!pending) return pending.error();
  Status written = WriteAll(pending->fd.get(), bytes, pending->shown);
  if (Status s = FinishTemporary(folder, *pending, std::move(written)); !s) return s.error();
  return std::move(*pending);
}

namespace {

// Copies [*at, end) of `source` to the same offsets of `target` inside the
// kernel. copy_file_range first (a reflink or an in-kernel copy); where it
// is not offered for this pair (another filesystem, special files of some
// filesystems, a seccomp filter without it) sendfile, which reads through
// the page cache.
Status CopyRange(int source, int target, uint64_t* at, uint64_t end, uint64_t size,
                 const std::string& shown) {
  bool use_sendfile = false;
  while (*at < end) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(end - *at, 8u << 20));
    off_t in = static_cast<off_t>(*at), out = static_cast<off_t>(*at);
    ssize_t n;
    if (!use_sendfile) {
      n = ::copy_file_range(source, &in, target, &out, want, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
                    errno == EPERM)) {
        use_sendfile = true;
        continue;
      }
    } else {
      if (::lseek(target, out, SEEK_SET) < 0) return ErrnoError(errno, "seek " + shown);
      n = ::sendfile(target, source, &in, want);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EBADF) {
      return MakeError(Errc::kInvalidArgument, "the passed file is not open for reading");
    }
    if (n < 0) return ErrnoError(errno, "copy the passed file to " + shown);
    if (n == 0) {
      return MakeError(Errc::kBadAudio, "the passed file ended after " + std::to_string(*at) +
                                            " of its " + std::to_string(size) +
                                            " bytes (truncated while being copied?)");
    }
    *at += static_cast<uint64_t>(n);
  }
  return {};
}

}  // namespace

Result<PendingFile> CacheDirectory::StartCopy(const Folder& folder) {
  return CreateTemporary(folder);
}

Status CacheDirectory::CopySlice(const Folder& folder, PendingFile& pending, int source,
                                 uint64_t size, uint64_t max_bytes, uint64_t* copied) {
  const uint64_t end = *copied + std::min(max_bytes, size - *copied);
  Status s = CopyRange(source, pending.fd.get(), copied, end, size, pending.shown);
  if (!s) Discard(folder, pending);
  return s;
}

Status CacheDirectory::FinishCopy(const Folder& folder, PendingFile& pending, uint64_t size,
                                  uint64_t mtime_ns,
                                  const std::function<Status(std::span<const uint8_t>)>& check) {
  // The copy is ours alone (unnamed, or named in a folder only the daemon
  // writes): mapping it to check it cannot fault.
  Status done;
  if (Result<MappedRegion> map = MappedRegion::Map(pending.fd.get(), size, false, pending.shown);
      !map) {
    done = map.error();
  } else {
    done = check(map->bytes());
  }
  if (done) {
    const timespec times[2] = {
        {0, UTIME_OMIT},
        {static_cast<time_t>(mtime_ns / 1000000000u), static_cast<long>(mtime_ns % 1000000000u)}};
    if (::futimens(pending.fd.get(), times) != 0) {
      done = ErrnoError(errno, "set mtime " + pending.shown);
    }
  }
  return FinishTemporary(folder, pending, std::move(done));
}

Status CacheDirectory::Publish(const Folder& folder, PendingFile& pending,
                               const std::string& name) {
  // An unnamed file belongs to no folder until it is linked, so a voice
  // folder emptied and removed since it was made is simply made again; a
  // named temporary keeps its folder from being removed.
  Result<FolderRef> folder_fd =
      pending.name.empty() ? LiveFolderFd(folder) : FolderFd(folder, false);
  if (!folder_fd) return folder_fd.error();
  const int dir = folder_fd->get();
  if (pending.name.empty()) {
    if (LinkUnnamed(pending.fd.get(), dir, name) == 0) {
      pending.fd.reset();
      return {};
    }
    if (errno != EEXIST) return ErrnoError(errno, "link the new file as " + PathOf(folder, name));
    // A file of that name the index does not know (copied in by hand, or
    // written by the old module meanwhile): replace it, as rename does.
    std::string temporary = std::string(kTempPrefix) + RandomSuffix();
    if (LinkUnnamed(pending.fd.get(), dir, temporary) != 0) {
      return ErrnoError(errno, "link the new file as " + PathOf(folder, temporary));
    }
    pending.name = std::move(temporary);
    pending.fd.reset();
  }
  if (::renameat(dir, pending.name.c_str(), dir, name.c_str()) != 0) {
    return ErrnoError(errno, "rename " + PathOf(folder, pending.name) + " to " + name);
  }
  pending.name.clear();
  return {};
}

void CacheDirectory::Discard(const Folder& folder, PendingFile& pending) {
  if (!pending.name.empty()) {
    if (Result<FolderRef> dir = FolderFd(folder, false); dir) {
      ::unlinkat(dir->get(), pending.name.c_str(), 0);
    }
  }
  pending.name.clear();
  pending.fd.reset();  // an unnamed inode is freed with its last descriptor
}

Status CacheDirectory::SyncFolder(const Folder& folder) {
  if (!fsync_) return {};
  Result<FolderRef> dir = FolderFd(folder, false);
  if (!dir && !(folder.voice.empty() || dir.error().code != Errc::kNotFound)) {
    // A voice folder removed once emptied (RemoveVoiceFolderIfEmpty): what
    // changed is its engine folder, flushed below.
  } else if (!dir) {
    return dir.error();
  } else if (::fsync(dir->get()) != 0) {
    return ErrnoError(errno, "fsync folder " + root_path_ + "/" + RelativePath(folder));
  }
  // A voice folder's own name is in its engine's folder: flushed the first
  // time, cheaply after (nothing to write).
  if (!folder.voice.empty() && ::fsync(engine_dirs_[folder.engine].get()) != 0) {
    return ErrnoError(errno, "fsync folder " + root_path_ + "/" + engines_[folder.engine]);
  }
  return {};
}

Result<UniqueFd> CacheDirectory::OpenReadOnly(const Folder& folder, const std::string& name) {
  // O_NONBLOCK: a FIFO (or a device) put in place of a cache file must not
  // block the open; the caller's fstat then refuses anything not regular.
  Result<FolderRef> dir = FolderFd(folder, false);
  if (!dir) return dir.error();
  UniqueFd fd(::openat(dir->get(), name.c_str(),
                       O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid()) return ErrnoError(errno, "open " + PathOf(folder, name));
  return fd;
}

Status CacheDirectory::Remove(const Folder& folder, const std::string& name) {
  Result<FolderRef> dir = FolderFd(folder, false);
  if (!dir) return dir.error().code == Errc::kNotFound ? Status() : Status(dir.error());
  if (::unlinkat(dir->get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoError(errno, "unlink " + PathOf(folder, name));
  }
  return {};
}

Result<std::vector<DirEntryInfo>> CacheDirectory::Scan(const Folder& folder) {
  Result<FolderRef> folder_fd = FolderFd(folder, false);
  if (!folder_fd) return folder_fd.error();
  const std::string shown = root_path_ + "/" + RelativePath(folder);
  int fd = ::openat(folder_fd->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open folder " + shown);
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    int err = errno;
    ::close(fd);
    return ErrnoError(err, "read folder " + shown);
  }
  std::vector<DirEntryInfo> entries;
  while (dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    DirEntryInfo info;
    info.name = e->d_name;
    struct stat st;
    if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      info.regular = S_ISREG(st.st_mode);
      info.directory = S_ISDIR(st.st_mode);
      info.size = static_cast<uint64_t>(st.st_size);
      info.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    }
    entries.push_back(std::move(info));
  }
  ::closedir(dir);
  return entries;
}

}  // namespace ttscache
