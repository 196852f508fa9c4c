// See write_all.hpp.
#include "core/write_all.hpp"

#include <unistd.h>

#include <cerrno>

namespace ttscache {

Status WriteAll(int fd, std::span<const uint8_t> bytes, const std::string& what) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "write " + what);
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace ttscache
