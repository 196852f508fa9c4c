// See systemd_notify.hpp. sd_notify(3) is the whole protocol: a datagram of
// "KEY=value" lines to $NOTIFY_SOCKET; its failures are ignored on purpose
// (systemd not being there is not the daemon's problem).
#include "daemon/systemd_notify.hpp"

#include <systemd/sd-daemon.h>

namespace ttscache {

constexpr int64_t kStatusIntervalMs = 5000;

void SystemdNotifier::Send(const std::string& state) { sd_notify(0, state.c_str()); }

void SystemdNotifier::StartWatchdog() {
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0) {
    watchdog_interval_ms_ = static_cast<int64_t>(watchdog_usec / 2000);
  }
}

void SystemdNotifier::Ready(const std::string& status) { Send("READY=1\nSTATUS=" + status); }

void SystemdNotifier::Reloading() { Send("RELOADING=1"); }

void SystemdNotifier::Reloaded() { Send("READY=1"); }

void SystemdNotifier::Stopping() { Send("STOPPING=1"); }

void SystemdNotifier::Tick(int64_t now_ms, const std::function<std::string()>& status) {
  if (watchdog_interval_ms_ > 0 && now_ms - last_watchdog_ms_ >= watchdog_interval_ms_) {
    Send("WATCHDOG=1");
    last_watchdog_ms_ = now_ms;
  }
  if (now_ms - last_status_ms_ >= kStatusIntervalMs) {
    Send("STATUS=" + status());
    last_status_ms_ = now_ms;
  }
}

}  // namespace ttscache
