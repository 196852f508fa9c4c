// Test support: a raw connection to a daemon, for frames and behaviours
// libttscache would never produce (hostile and careless clients). Header-only.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "core/unique_fd.hpp"
#include "ipc/frame.hpp"

namespace ttscache::testing {

// A raw connection for frames libttscache would never send.
struct RawPeer {
  explicit RawPeer(const std::string& path) {
    fd.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    connected = connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    timeval tv{5, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  // Sends `bytes` (with up to two descriptors); returns what sendmsg returned.
  ssize_t Send(std::span<const uint8_t> bytes, int pass_fd = -1, int pass_fd2 = -1, int flags = 0) {
    iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
    if (pass_fd >= 0) {
      int fds[2] = {pass_fd, pass_fd2};
      int count = pass_fd2 >= 0 ? 2 : 1;
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(count * sizeof(int));
      std::memcpy(CMSG_DATA(c), fds, count * sizeof(int));
    }
    return sendmsg(fd.get(), &msg, MSG_NOSIGNAL | flags);
  }
  // The next reply frame: (opcode, request id, body); opcode 0 on EOF/timeout.
  std::tuple<uint8_t, uint64_t, std::vector<uint8_t>> Read() {
    uint8_t header[ipc::kHeaderSize];
    if (!ReadAll(header, sizeof(header))) return {0, 0, {}};
    auto h = ipc::DecodeHeader(header, ipc::kMaxFrameBody).value();
    std::vector<uint8_t> body(h.body_length);
    if (!ReadAll(body.data(), body.size())) return {0, 0, {}};
    return {h.opcode, h.request_id, body};
  }
  bool ReadAll(uint8_t* p, size_t n) {
    while (n > 0) {
      ssize_t r = recv(fd.get(), p, n, 0);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  }
  UniqueFd fd;
  bool connected = false;
};

}  // namespace ttscache::testing
