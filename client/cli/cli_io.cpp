// See cli_io.hpp.
#include "client/cli/cli_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/write_all.hpp"

namespace ttscache::cli {

Result<std::vector<uint8_t>> ReadInput(const std::string& path) {
  int fd = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open " + path);
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error e = ErrnoError(errno, "read " + path);
      if (fd != STDIN_FILENO) ::close(fd);
      return e;
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  if (fd != STDIN_FILENO) ::close(fd);
  return bytes;
}

bool IsTerminalOutput(const std::string& path) { return path == "-" && ::isatty(STDOUT_FILENO); }

Status WriteOutput(const std::string& path, std::span<const uint8_t> bytes) {
  if (path == "-") {
    if (IsTerminalOutput(path)) {
      return MakeError(Errc::kInvalidArgument,
                       "refusing to write binary audio to a terminal; use -o FILE or a pipe");
    }
    return WriteAll(STDOUT_FILENO, bytes, "stdout");
  }
  std::string temporary = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "create " + temporary);
  Status written = WriteAll(fd, bytes, temporary);
  if (written && ::fsync(fd) != 0) written = ErrnoError(errno, "fsync " + temporary);
  if (::close(fd) != 0 && written) written = ErrnoError(errno, "close " + temporary);
  if (written && ::rename(temporary.c_str(), path.c_str()) != 0) {
    written = ErrnoError(errno, "rename " + temporary + " to " + path);
  }
  if (!written) ::unlink(temporary.c_str());
  return written;
}

}  // namespace ttscache::cli
