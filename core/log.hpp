// Logging to stderr. Under systemd, where stderr is the journal's stream,
// each line starts with its sd-daemon priority prefix ("<3>message") so that
// journald files it at that priority; anywhere else (a terminal, a pipe, a
// file) the line is left readable: no prefix, and "error: " or "warning: "
// before errors and warnings. stderr is the journal when $JOURNAL_STREAM
// ("dev:ino", set by systemd) names the device and inode stderr has, as
// sd_journal_stream_fd(3)'s callers and systemd's own tools check.
// Thread-safety: each call writes one line with a single write(2); lines from
// different threads never interleave.
#pragma once

#include <string>
#include <string_view>

namespace ttscache::log {

enum class Priority { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// Lines below this priority are dropped (default: kInfo).
void SetMaxPriority(Priority max);

// Decides again whether stderr is the journal (done once at the first line;
// call it after redirecting stderr or changing JOURNAL_STREAM).
void DetectJournal();
// Whether lines carry "<N>" prefixes (stderr is the journal).
bool WritesToJournal();

void Write(Priority priority, std::string_view message);
inline void Error(std::string_view m) { Write(Priority::kError, m); }
inline void Warning(std::string_view m) { Write(Priority::kWarning, m); }
inline void Notice(std::string_view m) { Write(Priority::kNotice, m); }
inline void Info(std::string_view m) { Write(Priority::kInfo, m); }
inline void Debug(std::string_view m) { Write(Priority::kDebug, m); }

// `s` with control bytes replaced by '?': for text that came from outside
// (a client's engine field, a file name in the cache folder) before it goes
// into a log line or a table, where a newline would forge a line of its own.
inline std::string Printable(std::string s) {
  for (char& ch : s) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F) ch = '?';
  }
  return s;
}

}  // namespace ttscache::log
