// See log.hpp. The prefix format is sd-daemon(3)'s: "<N>" where N is the
// syslog priority; journald strips it, a terminal shows it.
#include "core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <string>

namespace ttscache::log {
namespace {
std::atomic<int> g_max_priority{static_cast<int>(Priority::kInfo)};
}

void SetMaxPriority(Priority max) { g_max_priority.store(static_cast<int>(max)); }

void Write(Priority priority, std::string_view message) {
  if (static_cast<int>(priority) > g_max_priority.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(message.size() + 5);
  line += '<';
  line += static_cast<char>('0' + static_cast<int>(priority));
  line += '>';
  line += message;
  line += '\n';
  // One write per line keeps concurrent lines whole; a short write to stderr is
  // not worth retrying for a log line.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace ttscache::log
