// See arena_allocator.hpp. The arena is managed with Boost.Interprocess
// (managed_external_buffer: a best-fit allocator whose bookkeeping lives in
// the buffer it manages); its exceptions stop here.
#include "ttscache/arena_allocator.hpp"

#include <boost/interprocess/managed_external_buffer.hpp>
#include <new>
#include <string>

#include "core/result.hpp"

namespace ttscache {

struct ArenaAllocator::Impl {
  std::span<uint8_t> arena;
  boost::interprocess::managed_external_buffer segment;
};

ArenaAllocator::ArenaAllocator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ArenaAllocator::ArenaAllocator(ArenaAllocator&&) noexcept = default;
ArenaAllocator& ArenaAllocator::operator=(ArenaAllocator&&) noexcept = default;
ArenaAllocator::~ArenaAllocator() = default;

Result<ArenaAllocator> ArenaAllocator::Create(std::span<uint8_t> arena) {
  try {
    auto impl = std::make_unique<Impl>(
        Impl{arena, boost::interprocess::managed_external_buffer(boost::interprocess::create_only,
                                                                 arena.data(), arena.size())});
    return ArenaAllocator(std::move(impl));
  } catch (const std::bad_alloc&) {
    return Error{Errc::kOutOfMemory, "out of memory"};
  } catch (const std::exception& e) {
    return MakeError(Errc::kTooLarge, "cannot manage an arena of " + std::to_string(arena.size()) +
                                          " bytes: " + e.what());
  }
}

Result<std::span<uint8_t>> ArenaAllocator::Allocate(size_t bytes) {
  // Boost rounds the size up to its alignment without checking for overflow:
  // SIZE_MAX would wrap to a tiny block handed out as SIZE_MAX bytes.
  void* p = bytes <= impl_->arena.size() ? impl_->segment.allocate(bytes, std::nothrow) : nullptr;
  if (!p) {
    return MakeError(Errc::kTooLarge, "arena has " + std::to_string(free_bytes()) +
                                          " bytes free, " + std::to_string(bytes) + " asked");
  }
  return std::span<uint8_t>(static_cast<uint8_t*>(p), bytes);
}

void ArenaAllocator::Free(std::span<uint8_t> buffer) { impl_->segment.deallocate(buffer.data()); }

uint64_t ArenaAllocator::OffsetOf(std::span<const uint8_t> buffer) const {
  return static_cast<uint64_t>(buffer.data() - impl_->arena.data());
}

size_t ArenaAllocator::free_bytes() const { return impl_->segment.get_free_memory(); }

}  // namespace ttscache
