// SystemdNotifier against a stand-in for systemd's notify socket: the
// messages it sends for each state, the watchdog at half of WATCHDOG_USEC,
// STATUS= every 5 s, and silence in between.
#include "daemon/systemd_notify.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/unique_fd.hpp"
#include "tests/support/temp_dir.hpp"

namespace ttscache {
namespace {

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) {
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~NotifySocket() { ::unsetenv("NOTIFY_SOCKET"); }

  // The datagrams received so far.
  std::vector<std::string> Received() {
    std::vector<std::string> out;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd_.get(), buf, sizeof(buf), 0)) > 0;) {
      out.emplace_back(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  UniqueFd fd_;
};

using Messages = std::vector<std::string>;

TEST(SystemdNotifier, TellsEachStateAndPingsTheWatchdogAtHalfItsInterval) {
  testing::TempDir dir;
  NotifySocket systemd(dir.path() + "/notify");
  ::setenv("WATCHDOG_USEC", "2000000", 1);  // 2 s: a ping every second
  ::unsetenv("WATCHDOG_PID");
  SystemdNotifier n;
  n.StartWatchdog();
  ::unsetenv("WATCHDOG_USEC");
  n.Ready("ready, 3 entries");
  EXPECT_EQ(systemd.Received(), (Messages{"READY=1\nSTATUS=ready, 3 entries"}));

  int asked = 0;
  auto status = [&asked] { return "status " + std::to_string(++asked); };
  n.Tick(100000, status);
  EXPECT_EQ(systemd.Received(), (Messages{"WATCHDOG=1", "STATUS=status 1"}));
  n.Tick(100500, status);
  EXPECT_EQ(systemd.Received(), Messages{});
  n.Tick(101000, status);
  EXPECT_EQ(systemd.Received(), (Messages{"WATCHDOG=1"}));
  n.Tick(105000, status);
  EXPECT_EQ(systemd.Received(), (Messages{"WATCHDOG=1", "STATUS=status 2"}));
  EXPECT_EQ(asked, 2) << "the status is built only when it is sent";

  n.Reloading();
  n.Reloaded();
  n.Stopping();
  EXPECT_EQ(systemd.Received(), (Messages{"RELOADING=1", "READY=1", "STOPPING=1"}));
}

TEST(SystemdNotifier, NoWatchdogUnlessSystemdAsks) {
  testing::TempDir dir;
  NotifySocket systemd(dir.path() + "/notify");
  ::unsetenv("WATCHDOG_USEC");
  SystemdNotifier n;
  n.StartWatchdog();
  n.Tick(100000, [] { return std::string("idle"); });
  n.Tick(101000, [] { return std::string("idle"); });
  EXPECT_EQ(systemd.Received(), (Messages{"STATUS=idle"}));
}

}  // namespace
}  // namespace ttscache
