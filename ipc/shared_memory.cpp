// See shared_memory.hpp.
#include "ipc/shared_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>

namespace ttscache::ipc {

Result<UniqueFd> CreateSealedMemfd(const char* name, uint64_t size) {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return ErrnoError(errno, "memfd_create");
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    return ErrnoError(errno, "ftruncate memfd");
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return ErrnoError(errno, "seal memfd");
  }
  return fd;
}

Result<MappedRegion> MapPeerArena(int fd, uint64_t max_bytes) {
  int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    return MakeError(Errc::kInvalidArgument,
                     "the arena descriptor is not a memfd (F_GET_SEALS failed)");
  }
  if (!(seals & F_SEAL_SHRINK)) {
    return MakeError(
        Errc::kInvalidArgument,
        "the arena memfd is not sealed with F_SEAL_SHRINK; it could be truncated under "
        "the daemon");
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(errno, "fstat arena");
  if (static_cast<uint64_t>(st.st_size) > max_bytes || st.st_size <= 0) {
    return MakeError(Errc::kTooLarge, "arena of " + std::to_string(st.st_size) +
                                          " bytes, expected 1–" + std::to_string(max_bytes));
  }
  return MappedRegion::Map(fd, static_cast<size_t>(st.st_size), true, "arena");
}

}  // namespace ttscache::ipc
