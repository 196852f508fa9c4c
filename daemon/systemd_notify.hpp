// SystemdNotifier: ttscached's one edge to systemd's notify socket. The loop
// tells it what happened (ready, reloading, stopping) and calls Tick once a
// second; it sends WATCHDOG=1 at half the interval systemd asked for
// (WatchdogSec=, read once by StartWatchdog) and a STATUS= line every 5 s.
// Without NOTIFY_SOCKET (not run by systemd, or in tests) every call is a
// no-op inside sd_notify. Thread-safety: the loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace ttscache {

class SystemdNotifier {
 public:
  // Reads WATCHDOG_USEC/WATCHDOG_PID; the watchdog stays off without them.
  void StartWatchdog();
  // READY=1 with a STATUS= line.
  void Ready(const std::string& status);
  // A reload starts (RELOADING=1); Ready() or Reloaded() ends it.
  void Reloading();
  void Reloaded();
  void Stopping();
  // At `now_ms` (monotonic): the watchdog ping when due, and `status()` as
  // STATUS= when the last one is 5 s old.
  void Tick(int64_t now_ms, const std::function<std::string()>& status);

 private:
  static void Send(const std::string& state);

  int64_t watchdog_interval_ms_ = 0;  // 0: no watchdog
  int64_t last_watchdog_ms_ = 0;
  int64_t last_status_ms_ = 0;
};

}  // namespace ttscache
