// See cli_io.hpp.
#include "client/cli/cli_io.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/unique_fd.hpp"
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

namespace {

// A regular file (or a path not there yet) is written to a temporary beside it
// and renamed into place, so a failed command leaves no partial file.
Status ReplaceAtomically(const std::string& path, std::span<const uint8_t> bytes) {
  std::string temporary = path + ".tmp." + std::to_string(::getpid());
  // O_EXCL | O_NOFOLLOW: never write through something already at that name.
  UniqueFd fd(
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoError(errno, "create " + temporary);
  Status written = WriteAll(fd.get(), bytes, temporary);
  if (written && ::fsync(fd.get()) != 0) written = ErrnoError(errno, "fsync " + temporary);
  if (::close(fd.release()) != 0 && written) written = ErrnoError(errno, "close " + temporary);
  if (written && ::rename(temporary.c_str(), path.c_str()) != 0) {
    written = ErrnoError(errno, "rename " + temporary + " to " + path);
  }
  if (!written) ::unlink(temporary.c_str());
  return written;
}

// Anything else that exists — a character device such as /dev/null, a FIFO,
// a socket — is written through: replacing it would destroy it (as root,
// rename() replaces /dev/null with a regular file).
Status WriteThrough(const std::string& path, bool socket, std::span<const uint8_t> bytes) {
  UniqueFd fd;
  if (socket) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
      return MakeError(Errc::kInvalidArgument, "socket path too long: " + path);
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return ErrnoError(errno, "socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return ErrnoError(errno, "connect to " + path);
    }
  } else {
    fd.reset(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(errno, "open " + path);
  }
  Status written = WriteAll(fd.get(), bytes, path);
  if (::close(fd.release()) != 0 && written) written = ErrnoError(errno, "close " + path);
  return written;
}

}  // namespace

Status WriteOutput(const std::string& path, std::span<const uint8_t> bytes) {
  if (path == "-") {
    if (IsTerminalOutput(path)) {
      return MakeError(Errc::kInvalidArgument,
                       "refusing to write binary audio to a terminal; use -o FILE or a pipe");
    }
    return WriteAll(STDOUT_FILENO, bytes, "stdout");
  }
  struct stat link;
  if (::lstat(path.c_str(), &link) != 0) {
    if (errno == ENOENT) return ReplaceAtomically(path, bytes);
    return ErrnoError(errno, "stat " + path);
  }
  if (S_ISLNK(link.st_mode)) {
    // Follow the link: its target is the output, the link stays as it is.
    struct stat target;
    if (::stat(path.c_str(), &target) != 0) {
      if (errno != ENOENT) return ErrnoError(errno, "stat " + path);
      // A dangling link: creating through it makes its target.
      UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!fd.valid()) return ErrnoError(errno, "create " + path);
      return WriteAll(fd.get(), bytes, path);
    }
    if (!S_ISREG(target.st_mode)) return WriteThrough(path, S_ISSOCK(target.st_mode), bytes);
    char* resolved = ::realpath(path.c_str(), nullptr);
    if (!resolved) return ErrnoError(errno, "resolve " + path);
    std::string real(resolved);
    std::free(resolved);
    return ReplaceAtomically(real, bytes);
  }
  if (S_ISREG(link.st_mode)) return ReplaceAtomically(path, bytes);
  return WriteThrough(path, S_ISSOCK(link.st_mode), bytes);
}

}  // namespace ttscache::cli
