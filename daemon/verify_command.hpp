// `ttscached --verify DIR [--repair]`: runs VerifyCacheDirectory on a stopped
// daemon's cache and prints its findings as a table (KIND PATH DETAIL
// REPAIRED) and a summary line. Exit codes (docs/cli.md): 0 clean,
// 1 repaired, 6 damaged, 75 a daemon holds the dir, 77 --repair as a user
// other than the dir's owner, 74 the dir cannot be read. Output goes to
// `out`, errors to the log (stderr).
#pragma once

#include <ostream>
#include <string>

#include "core/config/config.hpp"
#include "daemon/cache/cache_store.hpp"

namespace ttscache {

inline constexpr int kExitVerifyRepaired = 1;
inline constexpr int kExitVerifyDamaged = 6;
inline constexpr int kExitVerifyLocked = 75;   // EX_TEMPFAIL
inline constexpr int kExitVerifyNoPerm = 77;   // EX_NOPERM
inline constexpr int kExitVerifyIoError = 74;  // EX_IOERR

// The table and the summary line, as printed.
std::string FormatVerifyReport(const VerifyReport& report, bool repair);

// Checks `dir` with the engines and limits of `config` (its [cache] dir is
// ignored); returns the exit code.
int RunVerifyCommand(const Config& config, const std::string& dir, bool repair, std::ostream& out);

}  // namespace ttscache
