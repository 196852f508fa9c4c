// Shared memory for audio: a sealed memfd and its mapping.
// - Clients: CreateSealedMemfd makes a memfd of a fixed size sealed against
//   shrinking and growing (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), so the
//   daemon can map it without fear of SIGBUS.
// - Daemon: MapPeerArena accepts a descriptor only if it is a memfd carrying
//   F_SEAL_SHRINK and at most `max_bytes` long, and maps it shared.
// MappedRegion owns a mapping (munmap on destruction); move-only.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "ttscache/export.hpp"

namespace ttscache::ipc {

class TTSCACHE_EXPORT MappedRegion {
 public:
  MappedRegion() = default;
  MappedRegion(void* data, size_t size) : data_(static_cast<uint8_t*>(data)), size_(size) {}
  MappedRegion(MappedRegion&& o) noexcept;
  MappedRegion& operator=(MappedRegion&& o) noexcept;
  ~MappedRegion();

  std::span<uint8_t> bytes() const { return {data_, size_}; }
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  // Maps `size` bytes of `fd` read-only (private) or read-write (shared).
  static Result<MappedRegion> Map(int fd, size_t size, bool writable, const std::string& what);

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

Result<UniqueFd> CreateSealedMemfd(const char* name, uint64_t size);

// REQUIRES: fd is open. Errc::kInvalidArgument names what is wrong with it.
Result<MappedRegion> MapPeerArena(int fd, uint64_t max_bytes);

// True when [offset, offset + length) lies inside a region of `size` bytes
// (written to be overflow-proof for hostile 64-bit values).
inline bool RangeInside(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

}  // namespace ttscache::ipc
