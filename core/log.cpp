// See log.hpp. The prefix format is sd-daemon(3)'s: "<N>" where N is the
// syslog priority; journald strips it. It is written only when stderr is the
// journal: on a terminal or in a test's pipe it would be noise.
#include "core/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <string>

namespace ttscache::log {
namespace {

std::atomic<int> g_max_priority{static_cast<int>(Priority::kInfo)};
// -1: not decided yet; 0: not the journal; 1: the journal.
std::atomic<int> g_journal{-1};

// $JOURNAL_STREAM is "<st_dev>:<st_ino>" in decimal (systemd.exec(5)).
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) return false;
  std::string_view text(stream);
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  unsigned long long dev = 0, ino = 0;
  auto parse = [](std::string_view s, unsigned long long* out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
  };
  if (!parse(text.substr(0, colon), &dev) || !parse(text.substr(colon + 1), &ino)) return false;
  struct stat st;
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace

void SetMaxPriority(Priority max) { g_max_priority.store(static_cast<int>(max)); }

void DetectJournal() { g_journal.store(StderrIsJournal() ? 1 : 0); }

bool WritesToJournal() {
  if (g_journal.load(std::memory_order_relaxed) < 0) DetectJournal();
  return g_journal.load(std::memory_order_relaxed) == 1;
}

void Write(Priority priority, std::string_view message) {
  if (static_cast<int>(priority) > g_max_priority.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(message.size() + 10);
  if (WritesToJournal()) {
    line += '<';
    line += static_cast<char>('0' + static_cast<int>(priority));
    line += '>';
  } else if (priority == Priority::kError) {
    line += "error: ";
  } else if (priority == Priority::kWarning) {
    line += "warning: ";
  }
  line += message;
  line += '\n';
  // One write per line keeps concurrent lines whole; a short write to stderr is
  // not worth retrying for a log line.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace ttscache::log
