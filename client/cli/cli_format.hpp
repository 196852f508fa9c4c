// Text the ttscache CLI's operating commands (ls, verify, stats) print and
// read: JSON strings, sizes and times for people, and the durations and
// sizes their filters take. Pure functions, thread-safe; parsers return a
// usage error naming the flag and what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace ttscache::cli {

// `s` as a JSON string literal, quotes included (control characters as
// \u00XX; bytes ≥ 0x80 passed through: the names and paths are UTF-8).
std::string JsonString(std::string_view s);

// Bytes for people: "834", "12.3K", "1.5M", "2.0G" (1024-based, no space,
// so a column stays one word).
std::string HumanBytes(uint64_t bytes);

// Unix nanoseconds as UTC ISO-8601 to the second: "2026-12-03T06:13:19Z".
std::string IsoTime(uint64_t unix_ns);

// Seconds for people: "45s", "12m", "3h", "2d".
std::string HumanSeconds(uint64_t seconds);

// DUR: seconds with an optional s/m/h/d suffix ("90", "15m", "7d").
Result<uint64_t> ParseDuration(std::string_view flag, std::string_view text);
// BYTES with an optional K/M/G suffix (1024-based: "512K", "2M").
Result<uint64_t> ParseBytes(std::string_view flag, std::string_view text);

}  // namespace ttscache::cli
