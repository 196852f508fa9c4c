// See mapped_region.hpp.
#include "core/mapped_region.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <utility>

namespace ttscache {

MappedRegion::MappedRegion(MappedRegion&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

MappedRegion& MappedRegion::operator=(MappedRegion&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

MappedRegion::~MappedRegion() {
  if (data_) ::munmap(data_, size_);
}

Result<MappedRegion> MappedRegion::Map(int fd, size_t size, bool writable,
                                       const std::string& what) {
  if (size == 0) return MappedRegion();
  void* p = ::mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                   writable ? MAP_SHARED : MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return ErrnoError(errno, "mmap " + what);
  return MappedRegion(p, size);
}

}  // namespace ttscache
