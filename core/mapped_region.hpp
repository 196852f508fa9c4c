// MappedRegion: the one owner of a memory mapping in ttscache. Every mmap the
// daemon and the client make — a peer's arena, a cached file a client maps,
// the cache index, a file checked during a rebuild or an adoption — is held
// by one, so each mapping has exactly one munmap, on destruction. Move-only.
// Map() turns errno into an Error once, here. Thread-safety: a value type;
// the bytes it maps are the caller's to synchronise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/result.hpp"

namespace ttscache {

class MappedRegion {
 public:
  MappedRegion() = default;
  // Adopts a mapping made elsewhere; it is unmapped on destruction.
  MappedRegion(void* data, size_t size) : data_(static_cast<uint8_t*>(data)), size_(size) {}
  MappedRegion(MappedRegion&& o) noexcept;
  MappedRegion& operator=(MappedRegion&& o) noexcept;
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;
  ~MappedRegion();

  std::span<uint8_t> bytes() const { return {data_, size_}; }
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Maps `size` bytes of `fd` read-only (private) or read-write (shared); a
  // size of 0 gives an empty region. Errors read "mmap <what>: <errno text>".
  static Result<MappedRegion> Map(int fd, size_t size, bool writable, const std::string& what);

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ttscache
