// See cli_format.hpp.
#include "client/cli/cli_format.hpp"

#include "core/config/config_values.hpp"

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

// The configuration's own parsers, so `--max-idle 30d` and `--min-size 2M`
// read as `max_age = 30d` and `max_bytes = 2M` do in the config file.
namespace {

Result<uint64_t> Parsed(std::string_view flag, std::string_view text,
                        const config_values::Problem& problem, uint64_t value) {
  if (problem) {
    return MakeError(Errc::kInvalidArgument,
                     std::string(flag) + " \"" + std::string(text) + "\": " + *problem);
  }
  return value;
}

}  // namespace

Result<uint64_t> ParseDuration(std::string_view flag, std::string_view text) {
  uint64_t seconds = 0;
  config_values::Problem problem = config_values::ParseDuration(text, &seconds);
  return Parsed(flag, text, problem, seconds);
}

Result<uint64_t> ParseBytes(std::string_view flag, std::string_view text) {
  uint64_t bytes = 0;
  config_values::Problem problem = config_values::ParseByteSize(text, &bytes);
  return Parsed(flag, text, problem, bytes);
}

}  // namespace ttscache::cli
