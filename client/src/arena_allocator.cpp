// See arena_allocator.hpp.
#include "ttscache/arena_allocator.hpp"

#include <boost/interprocess/managed_external_buffer.hpp>

namespace ttscache {

struct ArenaAllocator::Impl {
  boost::interprocess::managed_external_buffer segment;
};

ArenaAllocator::ArenaAllocator(std::span<uint8_t> arena)
    : arena_(arena),
      impl_(new Impl{boost::interprocess::managed_external_buffer(boost::interprocess::create_only,
                                                                  arena.data(), arena.size())}) {}

ArenaAllocator::~ArenaAllocator() = default;

Result<std::span<uint8_t>> ArenaAllocator::Allocate(size_t bytes) {
  void* p = impl_->segment.allocate(bytes, std::nothrow);
  if (!p) {
    return MakeError(Errc::kTooLarge, "arena has " + std::to_string(free_bytes()) +
                                          " bytes free, " + std::to_string(bytes) + " asked");
  }
  return std::span<uint8_t>(static_cast<uint8_t*>(p), bytes);
}

void ArenaAllocator::Free(std::span<uint8_t> buffer) { impl_->segment.deallocate(buffer.data()); }

uint64_t ArenaAllocator::OffsetOf(std::span<const uint8_t> buffer) const {
  return static_cast<uint64_t>(buffer.data() - arena_.data());
}

size_t ArenaAllocator::free_bytes() const { return impl_->segment.get_free_memory(); }

}  // namespace ttscache
