// See listen_socket.hpp.
#include "daemon/listen_socket.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstring>

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
    ::unlink(s.socket.c_str());  // stale: left by a daemon that did not exit cleanly
  }
  out.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!out.fd.valid()) return ErrnoError(errno, "socket");
  sockaddr_un addr = Address(s.socket);
  // Create the file with no access, then set the configured mode: no window
  // in which the umask's mode applies.
  mode_t old_umask = ::umask(0777);
  int bound = ::bind(out.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int bind_errno = errno;
  ::umask(old_umask);
  if (bound != 0) return ErrnoError(bind_errno, "bind " + s.socket);
  if (!s.socket_group.empty()) {
    gid_t gid = 0;
    if (group* g = ::getgrnam(s.socket_group.c_str())) {
      gid = g->gr_gid;
    } else {
      gid = static_cast<gid_t>(std::stoul(s.socket_group));  // validated numeric by the config
    }
    if (::chown(s.socket.c_str(), static_cast<uid_t>(-1), gid) != 0) {
      return ErrnoError(errno, "chgrp " + s.socket + " to " + s.socket_group);
    }
  }
  if (::chmod(s.socket.c_str(), s.socket_mode) != 0) return ErrnoError(errno, "chmod " + s.socket);
  if (::listen(out.fd.get(), 256) != 0) return ErrnoError(errno, "listen " + s.socket);
  return out;
}

}  // namespace ttscache
