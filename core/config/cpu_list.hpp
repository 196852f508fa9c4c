// CPU lists as written in `cpus = 6-9` or `0,2,4-5` (the kernel's cpulist
// format), and the set of CPUs this process may run on.
// Pure functions except UsableCpus(); thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace ttscache {

// The highest CPU number accepted (CPU_SETSIZE - 1).
inline constexpr int kMaxCpuId = 1023;

// Parses a cpulist into sorted, unique CPU numbers. Empty text → empty list.
// Errors name the offending item: "6-x", "9-6", "-", "2000".
Result<std::vector<int>> ParseCpuList(std::string_view text);

// Formats sorted CPUs back as a cpulist with ranges ("0,2,4-5").
std::string FormatCpuList(const std::vector<int>& cpus);

// The CPUs in this process's affinity mask (sched_getaffinity).
std::vector<int> UsableCpus();

// Ok when every CPU in `wanted` is in `usable`; otherwise an error naming the
// first one that is not and listing the usable set.
Status CheckCpusUsable(const std::vector<int>& wanted, const std::vector<int>& usable);

}  // namespace ttscache
