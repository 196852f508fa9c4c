// What one connection can cost the daemon: an idle connection is closed after
// `idle_timeout_s` while a busy one is not, and the memory a peer can pin is
// bounded — idle connections cost a few KiB each, and a frame that declares a
// huge body holds only the bytes that actually arrived (never the declared
// size). Each check runs beside a well-behaved client that must keep working.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ipc/frame.hpp"
#include "tests/e2e/daemon_process.hpp"

namespace ttscache {
namespace {

using testing::DaemonProcess;

UniqueFd ConnectRaw(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  path.copy(a.sun_path, sizeof(a.sun_path) - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return UniqueFd();
  return fd;
}

long RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// True when the daemon has closed `fd` (recv sees EOF) within `seconds`.
bool ClosedByPeerWithin(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char byte;
  return ::recv(fd, &byte, 1, 0) == 0;
}

TEST(ConnectionLimits, AnIdleConnectionIsClosedAndABusyOneIsNot) {
  DaemonProcess d(testing::Keys{{"idle_timeout_s", "1"}});
  ASSERT_TRUE(d.Start());
  UniqueFd idle = ConnectRaw(d.socket_path());
  ASSERT_TRUE(idle.valid());
  Client busy = d.Connect();
  auto started = std::chrono::steady_clock::now();
  // The busy client pings every 300 ms, so it is never idle for a second.
  std::thread pinger([&] {
    for (int i = 0; i < 12; ++i) {
      EXPECT_TRUE(busy.Ping().ok()) << "ping " << i;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  EXPECT_TRUE(ClosedByPeerWithin(idle.get(), 5)) << "the idle connection was not closed";
  double after_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GE(after_s, 0.9) << "closed before the timeout";
  pinger.join();
  EXPECT_TRUE(busy.Ping().ok()) << "the busy connection (same age) was closed";
}

TEST(ConnectionLimits, ZeroMeansIdleConnectionsStay) {
  DaemonProcess d(testing::Keys{{"idle_timeout_s", "0"}});
  ASSERT_TRUE(d.Start());
  UniqueFd idle = ConnectRaw(d.socket_path());
  EXPECT_FALSE(ClosedByPeerWithin(idle.get(), 3));
}

TEST(ConnectionLimits, MemoryPerConnectionIsBounded) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client good = d.Connect();
  ASSERT_TRUE(good.Ping().ok());
  const long baseline_kb = RssKb(d.pid());
  ASSERT_GT(baseline_kb, 0);

  // 200 connections that say nothing.
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 200; ++i) idle.push_back(ConnectRaw(d.socket_path()));
  ASSERT_TRUE(good.Ping().ok());  // the loop has accepted them all by now
  const long idle_kb = RssKb(d.pid()) - baseline_kb;
  EXPECT_LT(idle_kb, 200 * 16) << "an idle connection costs over 16 KiB";

  // 100 connections each declaring a 60 MiB PUT and sending 128 KiB of it:
  // the daemon may hold what arrived (12.5 MiB in all), not 6 GiB.
  constexpr size_t kSent = 128 * 1024;
  std::vector<UniqueFd> stalled;
  for (int i = 0; i < 100; ++i) {
    UniqueFd fd = ConnectRaw(d.socket_path());
    std::vector<uint8_t> bytes(ipc::kHeaderSize + kSent, 0x5A);
    ipc::EncodeHeader({static_cast<uint8_t>(ipc::Opcode::kPut), 0, 1, 60u << 20}, bytes.data());
    ASSERT_EQ(::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
    stalled.push_back(std::move(fd));
  }
  ASSERT_TRUE(good.Ping().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the loop drain the sockets
  const long stalled_kb = RssKb(d.pid()) - baseline_kb - idle_kb;
  const long received_kb = 100 * kSent / 1024;
  std::printf(
      "RSS: baseline %ld KiB; +%ld KiB for 200 idle connections; +%ld KiB for 100 "
      "stalled 60 MiB frames with %ld KiB received\n",
      baseline_kb, idle_kb, stalled_kb, received_kb);
  // Growing a buffer by doubling may hold up to twice what arrived, and
  // ASan's quarantine keeps freed buffers a while: 4× still tells "what
  // arrived" (12.5 MiB) from "what was declared" (6,000 MiB).
  EXPECT_LT(stalled_kb, received_kb * 4 + 8192)
      << "the daemon holds more than what arrived: it sized buffers by the declared length";
  EXPECT_TRUE(good.Get("piper", "nothing", Format::kWav).error().code == Errc::kNotFound);
}

}  // namespace
}  // namespace ttscache
