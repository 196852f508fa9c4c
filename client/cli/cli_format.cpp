// See cli_format.hpp.
#include "client/cli/cli_format.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <limits>

namespace ttscache::cli {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof(buffer), "\\u%04x", static_cast<unsigned char>(c));
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes);
  const char* units = "KMGTPE";
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < 6) value /= 1024, ++unit;
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f%c", value, units[unit]);
  return buffer;
}

std::string IsoTime(uint64_t unix_ns) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ns / 1000000000ull);
  std::tm tm{};
  char buffer[32] = "?";
  if (::gmtime_r(&seconds, &tm)) std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string HumanSeconds(uint64_t seconds) {
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 2 * 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

namespace {

// A number with one optional suffix from `suffixes` (each with its factor).
Result<uint64_t> ParseScaled(std::string_view flag, std::string_view text,
                             std::initializer_list<std::pair<char, uint64_t>> suffixes,
                             const char* expected) {
  uint64_t factor = 1;
  std::string_view digits = text;
  if (!text.empty()) {
    for (auto [suffix, f] : suffixes) {
      if (text.back() == suffix) {
        factor = f;
        digits = text.substr(0, text.size() - 1);
      }
    }
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      value > std::numeric_limits<uint64_t>::max() / factor) {
    return MakeError(Errc::kInvalidArgument,
                     std::string(flag) + " \"" + std::string(text) + "\": expected " + expected);
  }
  return value * factor;
}

}  // namespace

Result<uint64_t> ParseDuration(std::string_view flag, std::string_view text) {
  return ParseScaled(flag, text, {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}},
                     "seconds with an optional s, m, h or d suffix (e.g. 90, 15m, 7d)");
}

Result<uint64_t> ParseBytes(std::string_view flag, std::string_view text) {
  return ParseScaled(flag, text, {{'K', 1ull << 10}, {'M', 1ull << 20}, {'G', 1ull << 30}},
                     "bytes with an optional K, M or G suffix (e.g. 4096, 512K, 2M)");
}

}  // namespace ttscache::cli
