// IndexFile: the memory mapping of .ttscache-index (MAP_SHARED), sized for
// the configured capacity. Open() attaches to it when the previous run
// closed it cleanly and it checks out (clean mark, checksum, layout, every
// link); otherwise it reformats it and says why, and the store rebuilds the
// entries from the directory. The mark is cleared while the daemon runs, so
// a crash always leads to a rebuild. Move-only; not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_region.hpp"
#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "daemon/cache/cache_directory.hpp"
#include "daemon/cache/cache_index.hpp"

namespace ttscache {

class IndexFile {
 public:
  struct Opened;
  // `dir_fd`: the cache dir. Errors only for I/O (cannot create, map).
  static Result<Opened> Open(int dir_fd, const std::string& shown_path,
                             const std::vector<std::string>& engines, uint32_t entry_capacity);

  IndexFile(IndexFile&&) noexcept;
  IndexFile& operator=(IndexFile&&) = delete;
  ~IndexFile();  // unmaps; does NOT mark clean (see MarkClean)

  CacheIndex& index() { return *index_; }
  // Writes the checksum and the clean mark and flushes the mapping.
  Status MarkClean();

 private:
  IndexFile() = default;
  UniqueFd fd_;
  MappedRegion mapping_;
  std::span<uint8_t> memory_;  // mapping_.bytes()
  std::optional<CacheIndex> index_;
  std::string shown_path_;
};

struct IndexFile::Opened {
  IndexFile file;
  // Empty when the index was reused; else why it was reformatted ("no index
  // file", "not closed cleanly", "checksum mismatch", ...): rebuild from disk.
  std::string rebuild_reason;
};

}  // namespace ttscache
