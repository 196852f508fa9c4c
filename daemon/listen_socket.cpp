// See listen_socket.hpp.
#include "daemon/listen_socket.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace ttscache {
namespace {

sockaddr_un Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// True when something accepts connections at `path`.
bool SomeoneListens(const std::string& path) {
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = Address(path);
  return probe.valid() &&
         ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

// A directory only this process's user can enter (0700), made next to the
// socket path so that rename() can move the socket from it into place. The
// socket is bound, given its group and mode inside it, where nobody else can
// reach it whatever mode bind() gave it; the process umask is never touched
// (it is shared with the worker threads that create cache files meanwhile).
// Removes what is left in it when it goes.
class PrivateBindDir {
 public:
  static Result<PrivateBindDir> Make(const std::string& socket_path) {
    size_t slash = socket_path.rfind('/');
    std::string parent = slash == std::string::npos ? "." : socket_path.substr(0, slash);
    if (parent.empty()) parent = "/";
    std::string pattern = parent + "/.ttscached-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) return ErrnoError(errno, "mkdtemp " + pattern);
    PrivateBindDir dir;
    dir.path_ = pattern;
    return dir;
  }
  PrivateBindDir(PrivateBindDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  PrivateBindDir& operator=(PrivateBindDir&&) = delete;
  ~PrivateBindDir() {
    if (path_.empty()) return;
    ::unlink(socket_path().c_str());  // still here when something failed before the rename
    ::rmdir(path_.c_str());
  }
  std::string socket_path() const { return path_ + "/s"; }

 private:
  PrivateBindDir() = default;
  std::string path_;
};

}  // namespace

Result<ListenSocket> OpenListenSocket(const DaemonSettings& s) {
  ListenSocket out;
  out.path = s.socket;
  int passed = sd_listen_fds(1);
  if (passed < 0) return ErrnoError(-passed, "sd_listen_fds");
  if (passed > 1) {
    return MakeError(Errc::kInvalidArgument,
                     "systemd passed " + std::to_string(passed) + " sockets, expected 1");
  }
  if (passed == 1) {
    if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, nullptr, 0) <= 0) {
      return MakeError(Errc::kInvalidArgument,
                       "the socket systemd passed is not a listening AF_UNIX stream socket");
    }
    out.fd.reset(SD_LISTEN_FDS_START);
    ::fcntl(out.fd.get(), F_SETFD, FD_CLOEXEC);
    ::fcntl(out.fd.get(), F_SETFL, ::fcntl(out.fd.get(), F_GETFL) | O_NONBLOCK);
    out.activated = true;
    return out;
  }

  if (s.socket.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return MakeError(Errc::kInvalidArgument, "socket path too long: " + s.socket);
  }
  struct stat st;
  if (::lstat(s.socket.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return MakeError(Errc::kInvalidArgument, s.socket + " exists and is not a socket");
    }
    if (SomeoneListens(s.socket)) {
      return MakeError(Errc::kLocked, "another process is listening on " + s.socket);
    }
    // Stale (left by a daemon that did not exit cleanly): the rename below replaces it.
  }
  Result<PrivateBindDir> dir = PrivateBindDir::Make(s.socket);
  if (!dir) return dir.error();
  const std::string bound_path = dir->socket_path();
  if (bound_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return MakeError(Errc::kInvalidArgument,
                     "socket path too long: " + s.socket + " (bound first as " + bound_path +
                         ", which must fit in " +
                         std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
  }
  out.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!out.fd.valid()) return ErrnoError(errno, "socket");
  sockaddr_un addr = Address(bound_path);
  if (::bind(out.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoError(errno, "bind " + bound_path);
  }
  if (!s.socket_group.empty()) {
    gid_t gid = 0;
    if (group* g = ::getgrnam(s.socket_group.c_str())) {
      gid = g->gr_gid;
    } else {
      gid = static_cast<gid_t>(std::stoul(s.socket_group));  // validated numeric by the config
    }
    if (::chown(bound_path.c_str(), static_cast<uid_t>(-1), gid) != 0) {
      return ErrnoError(errno, "chgrp " + bound_path + " to " + s.socket_group);
    }
  }
  if (::chmod(bound_path.c_str(), s.socket_mode) != 0)
    return ErrnoError(errno, "chmod " + bound_path);
  // Listening before the rename: a client that sees the file can connect.
  if (::listen(out.fd.get(), 256) != 0) return ErrnoError(errno, "listen " + s.socket);
  if (::rename(bound_path.c_str(), s.socket.c_str()) != 0) {
    return ErrnoError(errno, "rename " + bound_path + " to " + s.socket);
  }
  return out;
}

}  // namespace ttscache
