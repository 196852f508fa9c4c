// Test support: a fake ttscached that lies. It listens on a Unix socket in a
// temp dir and hands every request frame to a test-supplied answer, which may
// reply with anything (wrong sizes, devices, floods, malformed bodies). It
// serves from a thread of the test process; RunInChild runs the client side
// in a forked child, so a crash there (SIGBUS, an abort) is reported as a
// test failure instead of ending the test binary.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/unique_fd.hpp"
#include "ipc/fd_passing.hpp"
#include "ipc/frame.hpp"
#include "ipc/frame_reader.hpp"
#include "tests/support/temp_dir.hpp"

namespace ttscache::testing {

class FakeDaemon {
 public:
  // Called on the serving thread for each request; `socket` is the client's.
  using Answer = std::function<void(int socket, const ipc::Frame& request)>;

  explicit FakeDaemon(Answer answer) : answer_(std::move(answer)) {
    path_ = dir_.path() + "/fake.sock";
    // The kernel reports whoever called listen() as the peer (SO_PEERCRED).
    // Run as root, the fake listens as `nobody`, so tests see a peer that is
    // not root (root is always trusted); otherwise as the test's own uid.
    if (::getuid() == 0) {
      peer_uid_ = 65534;
      listen_ = ListenInChildAs(peer_uid_);
    } else {
      peer_uid_ = ::getuid();
      listen_ = Listen(path_);
    }
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    stop_read_.reset(p[0]);
    stop_write_.reset(p[1]);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeDaemon() {
    stop_write_.reset();  // EOF on stop_read_
    thread_.join();
  }
  const std::string& path() const { return path_; }
  // The uid a client sees at the other end (SO_PEERCRED); it owns the socket file.
  uid_t peer_uid() const { return peer_uid_; }

  // Sends a whole frame (blocking up to 5 s); false once the client is gone.
  static bool Reply(int socket, uint8_t opcode, uint64_t id, std::span<const uint8_t> body,
                    int fd = -1) {
    std::vector<uint8_t> frame = ipc::BuildFrame(opcode, id, body, fd >= 0 ? ipc::kFlagFd : 0);
    size_t sent = 0;
    while (sent < frame.size()) {
      Result<size_t> n =
          ipc::SendWithFd(socket, {frame.data() + sent, frame.size() - sent}, sent == 0 ? fd : -1);
      if (!n) return false;
      sent += *n;
      if (*n == 0) {
        pollfd p{socket, POLLOUT, 0};
        if (::poll(&p, 1, 5000) <= 0 || (p.revents & (POLLERR | POLLHUP))) return false;
      }
    }
    return true;
  }

 private:
  static UniqueFd Listen(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd.get(), 8) != 0) {
      return UniqueFd();
    }
    return fd;
  }
  // A child drops to `uid`, listens at path_ and passes the socket back.
  UniqueFd ListenInChildAs(uid_t uid) {
    EXPECT_EQ(::chmod(dir_.path().c_str(), 0777), 0);
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd parent_end(pair[0]), child_end(pair[1]);
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) ::_exit(1);
      UniqueFd fd = Listen(path_);
      const uint8_t byte = 1;
      ::_exit(fd.valid() && ipc::SendWithFd(child_end.get(), {&byte, 1}, fd.get()).ok() ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the listening child failed";
    uint8_t byte;
    std::vector<UniqueFd> fds;
    Result<size_t> n = ipc::ReceiveWithFds(parent_end.get(), {&byte, 1}, &fds, 1);
    if (!n || fds.size() != 1) return UniqueFd();
    return std::move(fds[0]);
  }

  bool Stopped(int fd) {
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    while (::poll(p, 2, -1) < 0) {
    }
    return p[1].revents != 0;
  }
  void Serve() {
    while (!Stopped(listen_.get())) {
      UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn.valid()) continue;
      ipc::FrameReader reader;
      while (!Stopped(conn.get())) {
        uint8_t buffer[65536];
        std::vector<UniqueFd> fds;  // an arena: accepted with its frame, then dropped
        Result<size_t> n = ipc::ReceiveWithFds(conn.get(), buffer, &fds, 4);
        if (!n && n.error().code == Errc::kNotFound) continue;
        if (!n || *n == 0 || !reader.Feed({buffer, *n}, std::move(fds)).ok()) break;
        while (std::optional<ipc::ReceivedFrame> f = reader.Next()) answer_(conn.get(), f->frame);
      }
    }
  }

  TempDir dir_;
  std::string path_;
  uid_t peer_uid_ = 0;
  Answer answer_;
  UniqueFd listen_, stop_read_, stop_write_;
  std::thread thread_;
};

// Runs `client` in a forked child and returns "" when it exited 0, else what
// happened (its exit code, or the signal that killed it). An exception
// escaping `client` (which would abort a real program) exits 3.
inline std::string RunInChild(const std::function<int()>& client) {
  std::fflush(nullptr);  // the child must not write the parent's buffered output again
  pid_t pid = ::fork();
  if (pid == 0) {
    int code = 3;
    try {
      code = client();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "uncaught exception: %s\n", e.what());
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  return "exited " + std::to_string(WEXITSTATUS(status));
}

}  // namespace ttscache::testing
