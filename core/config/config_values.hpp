// Parsers for the value types of config keys. Each returns an empty optional
// on success, or a short description of what is allowed ("expected an integer
// 6–510"), which the loader combines with file, line, key and value.
// Pure functions apart from the user/group lookups; thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ttscache {
struct TierServer;
}

namespace ttscache::config_values {

using Problem = std::optional<std::string>;

Problem ParseInteger(std::string_view text, int64_t min, int64_t max, int64_t* out);
// Bytes with an optional binary suffix K, M, G or T (1K = 1024): "512M", "2G", "0".
Problem ParseByteSize(std::string_view text, uint64_t* out);
// Bytes as ParseByteSize, or a percent of a filesystem: "2G", "5%", "0.5%".
Problem ParseByteSizeOrPercent(std::string_view text, uint64_t* bytes, double* percent);
// Seconds with an optional suffix s, m, h or d: "3600", "90m", "30d"; 0 = never.
Problem ParseDuration(std::string_view text, uint64_t* seconds);
Problem ParseBool(std::string_view text, bool* out);        // true/false, yes/no, on/off, 1/0
Problem ParseFileMode(std::string_view text, mode_t* out);  // octal, at most 0777
// Comma-separated numeric ids or names, resolved with getpwnam/getgrnam.
Problem ParseUidList(std::string_view text, std::vector<uid_t>* out);
Problem ParseGidList(std::string_view text, std::vector<gid_t>* out);
// Comma-separated engine names, each valid and none repeated, at least one.
Problem ParseEngineList(std::string_view text, std::vector<std::string>* out);
// Synthesis slot sizes ([coordinate] slots): `name:size` items separated by
// commas (and blanks), name [a-z0-9][a-z0-9_-]{0,31}, size 0–1024 (0: no
// limit), no name twice, in the text's order. Empty text: no slots.
Problem ParseSlotList(std::string_view text, std::vector<std::pair<std::string, int>>* out);
// [tier] servers: items separated by commas (and blanks), each `host:port`,
// `host` (port 11211), `[v6addr]:port` (or `[v6addr]`) or the absolute path
// of a Unix socket (1–107 bytes); host [A-Za-z0-9.-]{1,253}, port 1–65535;
// at most 64, none twice. Empty text: no servers (the tier is off).
Problem ParseTierServers(std::string_view text, std::vector<TierServer>* out);
// [tier] share: `wav` and/or `opus` separated by commas, none twice; empty: neither.
Problem ParseTierShare(std::string_view text, bool* wav, bool* opus);
// [tier] key_prefix: [A-Za-z0-9_.-]{1,32}.
Problem ParseKeyPrefix(std::string_view text, std::string* out);
// "2.5", "5", "10", "20", "40" or "60" (milliseconds) → microseconds.
Problem ParseFrameMs(std::string_view text, int* frame_us);

std::string_view Trim(std::string_view s);
std::vector<std::string_view> SplitList(std::string_view text);  // on ',' and blanks

}  // namespace ttscache::config_values
