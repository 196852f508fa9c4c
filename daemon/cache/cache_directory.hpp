// CacheDirectory: the cache's filesystem edge. It owns the cache dir, one
// directory fd per engine (and per voice subfolder, opened when first
// used, a bounded number kept) and the dir lock, and does every file operation the store needs:
// crash-safe publication (an unnamed O_TMPFILE inode, or a ".tmp-" file
// where the filesystem lacks O_TMPFILE; fsync; link or rename into place;
// directory fsync), read-only opens, unlinks and scans. All paths are built
// from validated engine and voice names and hex keys; nothing here takes a
// caller's path. Thread-safe (each call is independent system calls on
// owned fds; the voice folders' fds are kept under a mutex of their own).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <map>
#include <memory>
#include <utility>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace ttscache {

inline constexpr const char* kTempPrefix = ".tmp-";
inline constexpr const char* kIndexFileName = ".ttscache-index";
inline constexpr const char* kLockFileName = ".ttscache-lock";

// A written file not yet in the folder. Preferably an unnamed inode
// (O_TMPFILE): publishing it is one directory insert where create + rename
// are three, and after a crash there is nothing to clean up (the kernel
// frees it). Else a named ".tmp-" file that Publish renames.
struct PendingFile {
  UniqueFd fd;        // the unnamed inode, until published or discarded
  std::string name;   // the named temporary, or empty
  std::string shown;  // how messages name it
  bool in_use() const { return fd.valid() || !name.empty(); }
};

struct DirEntryInfo {
  std::string name;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  bool regular = false;
  bool directory = false;  // a real directory (not a symlink to one)
};

// Where an entry's files live: its engine's folder {dir}/{engine} (the Node
// module's layout), or for a voice the subfolder {dir}/{engine}/{voice}.
// REQUIRES (of every user): `engine` configured, `voice` "" or valid
// (IsValidVoiceName).
struct Folder {
  uint8_t engine = 0;
  std::string voice;  // "": the engine's own folder
  bool operator==(const Folder&) const = default;
};

class CacheDirectory {
 public:
  // Creates `root` and one folder per engine as needed, and takes the dir
  // lock (flock on .ttscache-lock holding our pid). Errc::kLocked names the
  // pid of the process that holds it.
  // `unnamed_temporaries`: use O_TMPFILE where it works (tests turn it off to
  // cover the named path).
  static Result<CacheDirectory> Open(const std::string& root,
                                     const std::vector<std::string>& engines, bool fsync,
                                     bool unnamed_temporaries = true);
  CacheDirectory(CacheDirectory&&) noexcept;
  CacheDirectory& operator=(CacheDirectory&&) noexcept;
  ~CacheDirectory();

  // A voice's folder is made when a file is first written to it; reading,
  // removing or scanning one that does not exist is ENOENT (kNotFound) or,
  // for Remove, nothing to do.
  // Writes `bytes` to a new file in the folder that no reader can
  // see yet and, with fsync on, flushes it. Publish or Discard it.
  Result<PendingFile> WriteTemporary(const Folder& folder, std::span<const uint8_t> bytes);
  // A copy of a passed file, in three steps so a large one can be spread
  // over several turns of a worker: StartCopy makes the pending file (as
  // WriteTemporary does); CopySlice copies the next bytes of `source` (a
  // regular file, checked by the caller) in the kernel (copy_file_range,
  // else sendfile) — the source is never mapped, so a file truncated
  // meanwhile is a short copy (kBadAudio), not SIGBUS; FinishCopy lets
  // `check` see the copy (a file no one else can change), sets its mtime
  // (Unix ns) and flushes it. On any error the pending file is discarded.
  Result<PendingFile> StartCopy(const Folder& folder);
  // Copies [*copied, min(*copied + max_bytes, size)) and advances *copied.
  Status CopySlice(const Folder& folder, PendingFile& pending, int source, uint64_t size,
                   uint64_t max_bytes, uint64_t* copied);
  Status FinishCopy(const Folder& folder, PendingFile& pending, uint64_t size, uint64_t mtime_ns,
                    const std::function<Status(std::span<const uint8_t>)>& check);
  // Gives the pending file the name `name` (replacing any file of that name).
  Status Publish(const Folder& folder, PendingFile& pending, const std::string& name);
  void Discard(const Folder& folder, PendingFile& pending);
  // False where the filesystem has no O_TMPFILE (or /proc is missing, which
  // linking an unnamed inode needs): then temporaries are named files.
  bool unnamed_temporaries() const { return unnamed_temporaries_; }
  // Flushes the folder's entries (after Publish/Remove), with fsync on.
  Status SyncFolder(const Folder& folder);

  // Opens without following a symlink and without blocking (a FIFO opens at
  // once); the caller checks what it opened.
  Result<UniqueFd> OpenReadOnly(const Folder& folder, const std::string& name);
  // Unlinks `name`; a file already gone is not an error.
  Status Remove(const Folder& folder, const std::string& name);
  // Removes a voice's folder if it holds nothing (an engine's folder stays):
  // a client may put to ever-new voice names, and a folder left behind per
  // name would grow the cache dir without bound. A put whose unnamed file
  // was meant for a folder removed meanwhile makes it anew (Publish).
  void RemoveVoiceFolderIfEmpty(const Folder& folder);
  Result<std::vector<DirEntryInfo>> Scan(const Folder& folder);

  int root_fd() const { return root_.get(); }
  const std::string& root() const { return root_path_; }
  const std::string& engine_name(size_t engine) const { return engines_[engine]; }
  // "engine" or "engine/voice": the folder relative to the cache dir.
  std::string RelativePath(const Folder& folder) const;
  std::string PathOf(const Folder& folder, const std::string& name) const;

 private:
  CacheDirectory() = default;
  // A folder's directory fd, valid while the FolderRef lives: an engine's
  // (owned by the CacheDirectory), or a voice's (shared with the kept set,
  // which may drop it meanwhile without closing it under the caller).
  struct FolderRef {
    int fd = -1;
    std::shared_ptr<const UniqueFd> keep;  // null for an engine's folder
    int get() const { return fd; }
  };
  // The folder's directory fd: an engine's, or a voice's (opened when first
  // used and kept, up to kMaxKeptVoiceFolders of them; with `create`, made
  // first if missing). A voice folder that is a symlink or not a directory
  // is kNotFound, as a missing one.
  Result<FolderRef> FolderFd(const Folder& folder, bool create);
  // FolderFd(create), made anew when the kept descriptor is of a voice
  // folder that was removed (RemoveVoiceFolderIfEmpty, or by hand).
  Result<FolderRef> LiveFolderFd(const Folder& folder);
  // Drops a kept voice folder fd (its folder was removed behind our back).
  void ForgetFolder(const Folder& folder);
  // A new file no reader can see (unnamed, or a named temporary), read-write.
  Result<PendingFile> CreateTemporary(const Folder& folder);
  // Flushes and (a named one) closes it; on any error discards it.
  Status FinishTemporary(const Folder& folder, PendingFile& pending, Status written);

  std::string root_path_;
  UniqueFd root_;
  UniqueFd lock_;
  std::vector<std::string> engines_;
  std::vector<UniqueFd> engine_dirs_;
  struct VoiceFolders;  // a mutex and (engine, voice) → fd
  std::unique_ptr<VoiceFolders> voice_folders_;
  bool fsync_ = true;
  bool unnamed_temporaries_ = false;
};

}  // namespace ttscache
