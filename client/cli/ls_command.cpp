// `ttscache ls`: what the cache holds, listed page by page through LIST's
// cursor and printed as each page arrives, so a million entries list with
// neither the daemon nor this process holding them all (at most one page of
// 1,024 entries is in memory). Text is a table; --json is JSON Lines, one
// object per entry (docs/cli.md gives the fields).
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <limits>

#include "client/cli/cli_args.hpp"
#include "client/cli/cli_format.hpp"
#include "client/cli/commands.hpp"
#include "client/cli/exit_codes.hpp"
#include "core/audio/opus_params.hpp"
#include "ttscache/client.hpp"

namespace ttscache::cli {
namespace {

const char* const kLsUsage =
    "usage: ttscache ls [--engine E [--voice V]] [--min-idle DUR] [--max-idle DUR]\n"
    "                   [--min-size BYTES] [--max-size BYTES] [--json] [--limit N]\n"
    "\n"
    "Lists cache entries as the daemon pages through its index (printed as they come).\n"
    "  --engine E       only this engine's entries (with all its voices)\n"
    "  --voice V        with --engine: only this voice's entries\n"
    "  --min-idle DUR   unused for at least DUR (seconds; or with s, m, h, d: 15m, 7d)\n"
    "  --max-idle DUR   used within the last DUR\n"
    "  --min-size BYTES total size (WAV and variants) at least BYTES (K, M, G suffixes)\n"
    "  --max-size BYTES total size at most BYTES\n"
    "  --json           JSON Lines: one object per entry\n"
    "  --limit N        stop after N entries\n"
    "Text: ENGINE KEY SIZE LAST_USED VARIANTS, one line per entry (LAST_USED in UTC).\n";

std::string Hex(const std::array<uint8_t, 32>& key) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : key) out += digits[b >> 4], out += digits[b & 15];
  return out;
}

std::string JsonLine(const ListedEntry& e) {
  const size_t slash = e.engine.find('/');
  std::string out = "{\"engine\":" + JsonString(e.engine.substr(0, slash)) + ",\"voice\":" +
                    (slash == std::string::npos ? "null" : JsonString(e.engine.substr(slash + 1)));
  out += ",\"key\":\"" + Hex(e.key) + "\",\"wav_bytes\":" + std::to_string(e.wav_bytes) +
         ",\"total_bytes\":" + std::to_string(e.total_bytes) + ",\"last_access\":\"" +
         IsoTime(e.last_access_ns) + "\",\"last_access_ns\":" + std::to_string(e.last_access_ns) +
         ",\"variants\":[";
  for (size_t i = 0; i < e.variants.size(); ++i) {
    const OpusParams& p = e.variants[i].params;
    char frame_ms[16];
    std::snprintf(frame_ms, sizeof(frame_ms), "%g", p.frame_us / 1000.0);
    out += std::string(i ? "," : "") + "{\"bitrate_kbps\":" + std::to_string(p.bitrate_kbps) +
           ",\"vbr\":\"" + VbrModeName(p.vbr) + "\",\"application\":\"" +
           ApplicationName(p.application) + "\",\"complexity\":" + std::to_string(p.complexity) +
           ",\"frame_ms\":" + frame_ms + ",\"bytes\":" + std::to_string(e.variants[i].bytes) + "}";
  }
  return out + "]}";
}

// The filter flags; a usage error names the flag.
Result<ListFilter> FilterFromArgs(const ParsedArgs& args) {
  ListFilter f;
  if (args.has("--engine") || args.has("--voice")) {
    Result<std::string> engine = EngineFromArgs(args);
    if (!engine) return engine.error();
    f.engine = *engine;
  }
  struct Bound {
    const char* flag;
    uint64_t* value;
    bool duration;
  };
  for (const Bound& b :
       {Bound{"--min-idle", &f.min_idle_s, true}, Bound{"--max-idle", &f.max_idle_s, true},
        Bound{"--min-size", &f.min_bytes, false}, Bound{"--max-size", &f.max_bytes, false}}) {
    std::optional<std::string> text = args.value(b.flag);
    if (!text) continue;
    Result<uint64_t> v = b.duration ? ParseDuration(b.flag, *text) : ParseBytes(b.flag, *text);
    if (!v) return v.error();
    *b.value = *v;
  }
  if (f.max_idle_s && f.min_idle_s > f.max_idle_s) {
    return MakeError(Errc::kInvalidArgument, "--min-idle is above --max-idle: nothing can match");
  }
  if (f.max_bytes && f.min_bytes > f.max_bytes) {
    return MakeError(Errc::kInvalidArgument, "--min-size is above --max-size: nothing can match");
  }
  return f;
}

}  // namespace

int RunLs(const std::vector<std::string>& argv, const GlobalOptions& global) {
  Result<ParsedArgs> args = ParseArgs(
      argv,
      {"--engine", "--voice", "--min-idle", "--max-idle", "--min-size", "--max-size", "--limit"},
      {"--json", "--help"});
  if (!args) return UsageError(args.error().message, kLsUsage);
  if (args->has("--help")) return (std::cout << kLsUsage), kExitOk;
  if (!args->positional.empty()) return UsageError("unexpected argument", kLsUsage);
  Result<ListFilter> filter = FilterFromArgs(*args);
  if (!filter) return UsageError(filter.error().message, kLsUsage);
  uint64_t limit = std::numeric_limits<uint64_t>::max();
  if (std::optional<std::string> text = args->value("--limit")) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (text->empty() || ec != std::errc() || end != text->data() + text->size()) {
      return UsageError("--limit \"" + *text + "\": expected a number of entries", kLsUsage);
    }
  }
  const bool json = args->has("--json");
  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  if (!json)
    std::printf("%-24s %-64s %8s %-20s %s\n", "ENGINE", "KEY", "SIZE", "LAST_USED", "VARIANTS");
  uint64_t printed = 0, cursor = 0;
  while (printed < limit) {
    const uint32_t ask = static_cast<uint32_t>(std::min<uint64_t>(1024, limit - printed));
    Result<ListPage> page = client->List(cursor, *filter, ask);
    if (!page) {
      std::fflush(stdout);
      return ExitFor(page.error());
    }
    for (const ListedEntry& e : page->entries) {
      if (printed == limit) break;
      if (json) {
        std::printf("%s\n", JsonLine(e).c_str());
      } else {
        std::printf("%-24s %s %8s %-20s %zu\n", e.engine.c_str(), Hex(e.key).c_str(),
                    HumanBytes(e.total_bytes).c_str(), IsoTime(e.last_access_ns).c_str(),
                    e.variants.size());
      }
      ++printed;
    }
    std::fflush(stdout);  // each page leaves as it came
    cursor = page->next_cursor;
    if (cursor == 0) break;
  }
  return kExitOk;
}

}  // namespace ttscache::cli
