// A "server" that accepts TCP connections on a free loopback port (the
// kernel's backlog) and never reads or answers a byte: the peer a tier's
// timeouts must hold against. Header-only, for test programs.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "core/unique_fd.hpp"

namespace ttscache::testing {

class SilentServer {
 public:
  SilentServer() {
    fd_.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listening_ = bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                 listen(fd_.get(), 64) == 0;
    socklen_t len = sizeof addr;
    getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  bool listening() const { return listening_; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  UniqueFd fd_;
  int port_ = 0;
  bool listening_ = false;
};

}  // namespace ttscache::testing
