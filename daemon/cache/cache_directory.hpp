// CacheDirectory: the cache's filesystem edge. It owns the cache dir, one
// directory fd per engine and the dir lock, and does every file operation
// the store needs: crash-safe publication (an unnamed O_TMPFILE inode, or a
// ".tmp-" file where the filesystem lacks O_TMPFILE; fsync; link or rename
// into place; directory fsync), read-only opens, unlinks and scans. All paths are built
// from validated engine names and hex keys; nothing here takes a caller's
// path. Thread-safe (each call is independent system calls on owned fds).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

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

  // Writes `bytes` to a new file in the engine's folder that no reader can
  // see yet and, with fsync on, flushes it. Publish or Discard it.
  Result<PendingFile> WriteTemporary(size_t engine, std::span<const uint8_t> bytes);
  // A copy of a passed file, in three steps so a large one can be spread
  // over several turns of a worker: StartCopy makes the pending file (as
  // WriteTemporary does); CopySlice copies the next bytes of `source` (a
  // regular file, checked by the caller) in the kernel (copy_file_range,
  // else sendfile) — the source is never mapped, so a file truncated
  // meanwhile is a short copy (kBadAudio), not SIGBUS; FinishCopy lets
  // `check` see the copy (a file no one else can change), sets its mtime
  // (Unix ns) and flushes it. On any error the pending file is discarded.
  Result<PendingFile> StartCopy(size_t engine);
  // Copies [*copied, min(*copied + max_bytes, size)) and advances *copied.
  Status CopySlice(size_t engine, PendingFile& pending, int source, uint64_t size,
                   uint64_t max_bytes, uint64_t* copied);
  Status FinishCopy(size_t engine, PendingFile& pending, uint64_t size, uint64_t mtime_ns,
                    const std::function<Status(std::span<const uint8_t>)>& check);
  // Gives the pending file the name `name` (replacing any file of that name).
  Status Publish(size_t engine, PendingFile& pending, const std::string& name);
  void Discard(size_t engine, PendingFile& pending);
  // False where the filesystem has no O_TMPFILE (or /proc is missing, which
  // linking an unnamed inode needs): then temporaries are named files.
  bool unnamed_temporaries() const { return unnamed_temporaries_; }
  // Flushes the engine folder's entries (after Publish/Remove), with fsync on.
  Status SyncFolder(size_t engine);

  // Opens without following a symlink and without blocking (a FIFO opens at
  // once); the caller checks what it opened.
  Result<UniqueFd> OpenReadOnly(size_t engine, const std::string& name);
  // Unlinks `name`; a file already gone is not an error.
  Status Remove(size_t engine, const std::string& name);
  Result<std::vector<DirEntryInfo>> Scan(size_t engine);

  int root_fd() const { return root_.get(); }
  const std::string& root() const { return root_path_; }
  const std::string& engine_name(size_t engine) const { return engines_[engine]; }
  std::string PathOf(size_t engine, const std::string& name) const;

 private:
  CacheDirectory() = default;
  // A new file no reader can see (unnamed, or a named temporary), read-write.
  Result<PendingFile> CreateTemporary(size_t engine);
  // Flushes and (a named one) closes it; on any error discards it.
  Status FinishTemporary(size_t engine, PendingFile& pending, Status written);

  std::string root_path_;
  UniqueFd root_;
  UniqueFd lock_;
  std::vector<std::string> engines_;
  std::vector<UniqueFd> engine_dirs_;
  bool fsync_ = true;
  bool unnamed_temporaries_ = false;
};

}  // namespace ttscache
