// ArenaAllocator: carves buffers out of a Client's shared-memory arena, so a
// TTS engine can write its WAV straight into memory the daemon reads (no copy
// on either side). Its bookkeeping lives in the arena itself. Offsets it
// returns are what PutFromArena/EncodeInArena take. Not thread-safe; one
// allocator per arena.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "ttscache/export.hpp"
#include "ttscache/result.hpp"

namespace ttscache {

class TTSCACHE_EXPORT ArenaAllocator {
 public:
  // Takes over `arena` (its contents are overwritten). Errc::kTooLarge if it
  // is too small for the bookkeeping.
  // REQUIRES: `arena` outlives the allocator and is not used otherwise.
  static Result<ArenaAllocator> Create(std::span<uint8_t> arena);
  ArenaAllocator(ArenaAllocator&&) noexcept;
  ArenaAllocator& operator=(ArenaAllocator&&) noexcept;
  ~ArenaAllocator();

  // A buffer of `bytes` inside the arena; Errc::kTooLarge when it does not fit.
  Result<std::span<uint8_t>> Allocate(size_t bytes);
  // REQUIRES: `buffer` came from Allocate and was not freed yet.
  void Free(std::span<uint8_t> buffer);
  // Where `buffer` starts, as an offset into the arena (for requests).
  uint64_t OffsetOf(std::span<const uint8_t> buffer) const;
  size_t free_bytes() const;

 private:
  struct Impl;
  explicit ArenaAllocator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ttscache
