// Busy polling (`[daemon] busy_poll_us`): the event loop stays awake between
// the requests of a client that asks every millisecond — its CPU time then
// tracks the wall clock — and falls asleep when traffic stops, so an idle
// daemon costs nothing. Off by default; a reload (SIGHUP) switches it on.
// The daemon's CPU time is read from /proc (utime + stime, clock ticks).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/e2e/daemon_process.hpp"

namespace ttscache {
namespace {

using testing::DaemonProcess;
using Clock = std::chrono::steady_clock;

// The daemon's CPU time as a share of `seconds` of wall clock while `client`
// pings every millisecond (or stays silent when `ping` is false).
double CpuShare(pid_t pid, Client& client, double seconds, bool ping) {
  const double cpu_before = testing::CpuSeconds(pid);
  const auto start = Clock::now();
  const auto until = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < until) {
    if (ping) {
      EXPECT_TRUE(client.Ping().ok());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  return (testing::CpuSeconds(pid) - cpu_before) / wall;
}

TEST(BusyPoll, OffSleepsBetweenRequestsOnSpinsAndIdleSleeps) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client client = d.Connect();

  // Off (the default): ~1,000 pings a second cost the daemon a few percent.
  const double off = CpuShare(d.pid(), client, 1.0, true);
  EXPECT_LT(off, 0.25) << "busy polling is off, yet the daemon used " << off * 100 << "% CPU";

  // On: each ping keeps the loop polling for 10 ms, longer than the 1 ms gaps.
  d.daemon_keys()["busy_poll_us"] = "10000";
  d.WriteConfig();
  d.Signal(SIGHUP);
  ASSERT_TRUE(client.Ping().ok());
  for (int i = 0; i < 100 && d.log().find("reload: opus") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_NE(d.log().find("reload: opus"), std::string::npos) << d.log();
  const double on = CpuShare(d.pid(), client, 1.0, true);
  EXPECT_GT(on, 0.4) << "busy polling is on, yet the daemon used only " << on * 100 << "% CPU";
  EXPECT_GT(on, 3 * off);
  std::printf("daemon CPU share while pinging every ms: off %.1f%%, on %.1f%%\n", off * 100,
              on * 100);

  // Silence: polling stops 10 ms after the last request (and once after each
  // 1 s timer tick), so the daemon sleeps.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const double idle = CpuShare(d.pid(), client, 1.5, false);
  EXPECT_LT(idle, 0.1) << "idle with busy polling on, the daemon used " << idle * 100 << "% CPU";
  std::printf("idle with busy polling on: %.1f%%\n", idle * 100);
  EXPECT_TRUE(client.Ping().ok());
}

}  // namespace
}  // namespace ttscache
