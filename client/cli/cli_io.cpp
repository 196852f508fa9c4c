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
#include <utility>

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

// A socket is connected to, never replaced.
Result<UniqueFd> ConnectSocket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return MakeError(Errc::kInvalidArgument, "socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoError(errno, "connect to " + path);
  }
  return fd;
}

}  // namespace

OutputFile::OutputFile(OutputFile&& o) noexcept
    : fd_(std::move(o.fd_)),
      is_stdout_(o.is_stdout_),
      name_(std::move(o.name_)),
      temporary_(std::exchange(o.temporary_, {})),
      final_(std::move(o.final_)) {}

OutputFile::~OutputFile() {
  if (!temporary_.empty()) ::unlink(temporary_.c_str());
}

Result<OutputFile> OutputFile::Open(const std::string& path) {
  OutputFile out;
  out.name_ = path == "-" ? "stdout" : path;
  if (path == "-") {
    if (IsTerminalOutput(path)) {
      return MakeError(Errc::kInvalidArgument,
                       "refusing to write binary audio to a terminal; use -o FILE or a pipe");
    }
    out.is_stdout_ = true;
    return out;
  }
  // A regular file (or a path not there yet) is written to a temporary beside
  // it and renamed into place by Commit, so a failed command leaves no
  // partial file. Anything else that exists — a character device such as
  // /dev/null, a FIFO, a socket — is written through: replacing it would
  // destroy it (as root, rename() replaces /dev/null with a regular file).
  std::string replace;
  bool through_socket = false;
  struct stat link;
  if (::lstat(path.c_str(), &link) != 0) {
    if (errno != ENOENT) return ErrnoError(errno, "stat " + path);
    replace = path;
  } else if (S_ISLNK(link.st_mode)) {
    // Follow the link: its target is the output, the link stays as it is.
    struct stat target;
    if (::stat(path.c_str(), &target) != 0) {
      if (errno != ENOENT) return ErrnoError(errno, "stat " + path);
      // A dangling link: creating through it makes its target.
      out.fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!out.fd_.valid()) return ErrnoError(errno, "create " + path);
      return out;
    }
    if (S_ISREG(target.st_mode)) {
      char* resolved = ::realpath(path.c_str(), nullptr);
      if (!resolved) return ErrnoError(errno, "resolve " + path);
      replace = resolved;
      std::free(resolved);
    } else {
      through_socket = S_ISSOCK(target.st_mode);
    }
  } else if (S_ISREG(link.st_mode)) {
    replace = path;
  } else {
    through_socket = S_ISSOCK(link.st_mode);
  }
  if (!replace.empty()) {
    std::string temporary = replace + ".tmp." + std::to_string(::getpid());
    // O_EXCL | O_NOFOLLOW: never write through something already at that name.
    out.fd_.reset(
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!out.fd_.valid()) return ErrnoError(errno, "create " + temporary);
    out.temporary_ = std::move(temporary);
    out.final_ = std::move(replace);
    return out;
  }
  if (through_socket) {
    Result<UniqueFd> fd = ConnectSocket(path);
    if (!fd) return fd.error();
    out.fd_ = std::move(*fd);
  } else {
    out.fd_.reset(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!out.fd_.valid()) return ErrnoError(errno, "open " + path);
  }
  return out;
}

Status OutputFile::Write(std::span<const uint8_t> bytes) {
  return WriteAll(is_stdout_ ? STDOUT_FILENO : fd_.get(), bytes,
                  temporary_.empty() ? name_ : temporary_);
}

Status OutputFile::Commit() {
  if (is_stdout_) return {};
  const std::string& written = temporary_.empty() ? name_ : temporary_;
  Status s;
  if (!temporary_.empty() && ::fsync(fd_.get()) != 0) s = ErrnoError(errno, "fsync " + written);
  if (::close(fd_.release()) != 0 && s) s = ErrnoError(errno, "close " + written);
  if (!s || temporary_.empty()) return s;
  if (::rename(temporary_.c_str(), final_.c_str()) != 0) {
    return ErrnoError(errno, "rename " + temporary_ + " to " + final_);  // ~OutputFile unlinks
  }
  temporary_.clear();
  return {};
}

Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> bytes) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty())
    return MakeError(Errc::kInvalidArgument, "--output " + path + ": not a file name");
  // A dot-name: node-exporter's textfile collector reads only *.prom.
  std::string temporary = dir + "/." + base + ".XXXXXX";
  UniqueFd fd(::mkostemp(temporary.data(), O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "create a temporary for " + path + " in " + dir);
  auto fail = [&](Error e) {
    ::unlink(temporary.c_str());
    return e;
  };
  if (Status s = WriteAll(fd.get(), bytes, temporary); !s) return fail(s.error());
  if (::fchmod(fd.get(), 0644) != 0) return fail(ErrnoError(errno, "chmod 0644 " + temporary));
  if (::fsync(fd.get()) != 0) return fail(ErrnoError(errno, "fsync " + temporary));
  if (::close(fd.release()) != 0) return fail(ErrnoError(errno, "close " + temporary));
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return fail(ErrnoError(errno, "rename " + temporary + " to " + path));
  }
  // The rename itself survives a crash once the directory is on disk.
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.valid()) ::fsync(dir_fd.get());
  return {};
}

Status WriteOutput(const std::string& path, std::span<const uint8_t> bytes) {
  Result<OutputFile> out = OutputFile::Open(path);
  if (!out) return out.error();
  if (Status s = out->Write(bytes); !s) return s;
  return out->Commit();
}

}  // namespace ttscache::cli
