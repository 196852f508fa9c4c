// The ttscache CLI's exit codes, documented in docs/cli.md.
#pragma once

namespace ttscache::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitMiss = 1;           // get: not in the cache
inline constexpr int kExitUsage = 2;          // bad command line
inline constexpr int kExitFailed = 3;         // the daemon (or local encoder) refused or failed
inline constexpr int kExitCannotConnect = 4;  // no daemon at the socket
inline constexpr int kExitPartial = 5;        // adopt: some entries were not adopted
// delete: the entry was not cached (kExitMiss). verify: everything found was
// repaired (kExitRepaired), or something is still wrong (kExitDamaged).
inline constexpr int kExitNotCached = 1;
inline constexpr int kExitRepaired = 1;
inline constexpr int kExitDamaged = 6;
// slot run: no unit of the slot came free within --wait (EX_TEMPFAIL:
// try again later). Otherwise it exits with the command's own status.
inline constexpr int kExitNoSlot = 75;

}  // namespace ttscache::cli
