// See fd_passing.hpp.
#include "ipc/fd_passing.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace ttscache::ipc {

Result<size_t> SendWithFd(int socket, std::span<const uint8_t> bytes, int fd) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    std::memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  while (true) {
    ssize_t n = ::sendmsg(socket, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
    return ErrnoError(errno, "sendmsg");
  }
}

Result<size_t> ReceiveWithFds(int socket, std::span<uint8_t> buffer, std::vector<UniqueFd>* fds,
                              size_t max_fds, Wait wait) {
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // Room for more than we accept, so an excess is seen (and closed), not truncated.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | (wait == Wait::kNever ? MSG_DONTWAIT : 0));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return MakeError(Errc::kNotFound, "no data yet");
    return ErrnoError(errno, "recvmsg");
  }
  std::vector<UniqueFd> received;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      received.emplace_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    return MakeError(Errc::kInvalidArgument, "descriptor data truncated (too many descriptors)");
  }
  if (fds->size() + received.size() > max_fds) {
    return MakeError(Errc::kInvalidArgument, "peer sent " + std::to_string(received.size()) +
                                                 " descriptors, at most " +
                                                 std::to_string(max_fds) + " expected");
  }
  for (UniqueFd& fd : received) fds->push_back(std::move(fd));
  return static_cast<size_t>(n);
}

}  // namespace ttscache::ipc
