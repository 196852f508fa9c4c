// Logging to stderr with sd-daemon priority prefixes ("<3>message"), so that
// journald files each line at its priority and a terminal still reads it.
// Thread-safety: each call writes one line with a single write(2); lines from
// different threads never interleave.
#pragma once

#include <string_view>

namespace ttscache::log {

enum class Priority { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// Lines below this priority are dropped (default: kInfo).
void SetMaxPriority(Priority max);

void Write(Priority priority, std::string_view message);
inline void Error(std::string_view m) { Write(Priority::kError, m); }
inline void Warning(std::string_view m) { Write(Priority::kWarning, m); }
inline void Notice(std::string_view m) { Write(Priority::kNotice, m); }
inline void Info(std::string_view m) { Write(Priority::kInfo, m); }
inline void Debug(std::string_view m) { Write(Priority::kDebug, m); }

}  // namespace ttscache::log
