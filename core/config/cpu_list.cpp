// The cpulist parser behind `cpus =`; see cpu_list.hpp. Kept strict: a typo in
// a pinning list should stop the daemon, not silently pin it elsewhere.
#include "core/config/cpu_list.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>

namespace ttscache {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseCpuNumber(std::string_view s, int* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && *out >= 0 && *out <= kMaxCpuId;
}

}  // namespace

Result<std::vector<int>> ParseCpuList(std::string_view text) {
  std::vector<int> cpus;
  text = Trim(text);
  if (text.empty()) return cpus;
  while (true) {
    size_t comma = text.find(',');
    std::string_view item = Trim(text.substr(0, comma));
    size_t dash = item.find('-');
    int first = 0;
    int last = 0;
    bool ok = dash == std::string_view::npos
                  ? ParseCpuNumber(item, &first) && ((last = first), true)
                  : ParseCpuNumber(Trim(item.substr(0, dash)), &first) &&
                        ParseCpuNumber(Trim(item.substr(dash + 1)), &last) && first <= last;
    if (!ok) {
      return MakeError(Errc::kInvalidArgument, "bad CPU list item \"" + std::string(item) +
                                                   "\", expected N or N-M with 0 <= N <= M <= " +
                                                   std::to_string(kMaxCpuId));
    }
    for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string FormatCpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

std::vector<int> UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

Status CheckCpusUsable(const std::vector<int>& wanted, const std::vector<int>& usable) {
  for (int cpu : wanted) {
    if (!std::binary_search(usable.begin(), usable.end(), cpu)) {
      return MakeError(Errc::kInvalidArgument, "CPU " + std::to_string(cpu) +
                                                   " is not one this process may use (usable: " +
                                                   FormatCpuList(usable) + ")");
    }
  }
  return {};
}

}  // namespace ttscache
