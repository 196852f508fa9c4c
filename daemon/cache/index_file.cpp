// See index_file.hpp.
#include "daemon/cache/index_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ttscache {

IndexFile::IndexFile(IndexFile&& o) noexcept
    : fd_(std::move(o.fd_)),
      mapping_(std::move(o.mapping_)),
      memory_(std::exchange(o.memory_, {})),
      index_(std::move(o.index_)),
      shown_path_(std::move(o.shown_path_)) {}

IndexFile::~IndexFile() = default;

Result<IndexFile::Opened> IndexFile::Open(int dir_fd, const std::string& shown_path,
                                          const std::vector<std::string>& engines,
                                          uint32_t entry_capacity) {
  const size_t size = IndexFileSize(entry_capacity, CacheIndex::BucketCountFor(entry_capacity));
  IndexFile f;
  f.shown_path_ = shown_path;
  f.fd_.reset(::openat(dir_fd, kIndexFileName, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!f.fd_.valid()) return ErrnoError(errno, "open index " + shown_path);
  struct stat st;
  if (::fstat(f.fd_.get(), &st) != 0) return ErrnoError(errno, "stat index " + shown_path);
  std::string reason;
  // An index of another layout version (an older daemon's) is rebuilt, and
  // the log says so rather than blaming its size.
  IndexHeader old{};
  const bool has_header =
      st.st_size >= static_cast<off_t>(sizeof(old)) &&
      ::pread(f.fd_.get(), &old, sizeof(old), 0) == static_cast<ssize_t>(sizeof(old));
  if (st.st_size == 0) {
    reason = "no index yet";
  } else if (has_header && std::memcmp(old.magic, kIndexMagic, sizeof(kIndexMagic)) == 0 &&
             old.version != kIndexVersion) {
    reason = "index has layout version " + std::to_string(old.version) +
             ", this daemon's is version " + std::to_string(kIndexVersion) +
             " (voices): rebuilding it from the folder";
  } else if (static_cast<size_t>(st.st_size) != size) {
    reason = "index is " + std::to_string(st.st_size) + " bytes, expected " + std::to_string(size) +
             " (truncated, or max_entries/engines changed)";
  }
  if (!reason.empty()) {
    // Start from zeros: truncating to 0 first drops any old contents.
    if (::ftruncate(f.fd_.get(), 0) != 0 ||
        ::ftruncate(f.fd_.get(), static_cast<off_t>(size)) != 0) {
      return ErrnoError(errno, "size index " + shown_path);
    }
  }
  Result<MappedRegion> mapped = MappedRegion::Map(f.fd_.get(), size, true, "index " + shown_path);
  if (!mapped) return mapped.error();
  f.mapping_ = std::move(*mapped);
  f.memory_ = f.mapping_.bytes();

  if (reason.empty()) {
    const auto* h = reinterpret_cast<const IndexHeader*>(f.memory_.data());
    if (h->clean != 1) {
      reason = "index was not closed cleanly (crash or kill)";
    } else if (h->checksum != CacheIndex::Checksum(f.memory_)) {
      reason = "index checksum mismatch";
    } else {
      Result<CacheIndex> attached = CacheIndex::Attach(f.memory_, engines, entry_capacity);
      if (attached) {
        f.index_.emplace(*attached);
      } else {
        reason = attached.error().message;
      }
    }
  }
  if (!f.index_) f.index_.emplace(CacheIndex::Format(f.memory_, engines, entry_capacity));
  // From here until MarkClean the file on disk says "not clean".
  f.index_->header().clean = 0;
  if (::msync(f.memory_.data(), kIndexHeaderSize, MS_SYNC) != 0) {
    return ErrnoError(errno, "msync index " + shown_path);
  }
  return Opened{std::move(f), std::move(reason)};
}

Status IndexFile::MarkClean() {
  IndexHeader& h = index_->header();
  h.clean = 1;
  h.checksum = CacheIndex::Checksum(memory_);
  if (::msync(memory_.data(), memory_.size(), MS_SYNC) != 0) {
    return ErrnoError(errno, "msync index " + shown_path_);
  }
  return {};
}

}  // namespace ttscache
