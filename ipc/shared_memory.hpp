// Shared memory for audio: a sealed memfd and its mapping.
// - Clients: CreateSealedMemfd makes a memfd of a fixed size sealed against
//   shrinking and growing (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), so the
//   daemon can map it without fear of SIGBUS.
// - Daemon: MapPeerArena accepts a descriptor only if it is a memfd carrying
//   F_SEAL_SHRINK and at most `max_bytes` long, and maps it shared.
// Mappings are owned by MappedRegion (core/mapped_region.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/mapped_region.hpp"
#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace ttscache::ipc {

Result<UniqueFd> CreateSealedMemfd(const char* name, uint64_t size);

// REQUIRES: fd is open. Errc::kInvalidArgument names what is wrong with it.
Result<MappedRegion> MapPeerArena(int fd, uint64_t max_bytes);

// True when [offset, offset + length) lies inside a region of `size` bytes
// (written to be overflow-proof for hostile 64-bit values).
inline bool RangeInside(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

}  // namespace ttscache::ipc
