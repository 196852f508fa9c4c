// `ttscache delete`, `purge` and `verify`: the commands that change or check
// what the cache holds (docs/cli.md, "Operating the cache"). Delete, purge
// and verify --repair are admin operations: the daemon refuses anyone else
// with its own message, printed as it is (exit 3). Verify's exit code is its
// verdict: 0 clean, 1 repaired, 6 damaged.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "client/cli/cli_args.hpp"
#include "client/cli/cli_format.hpp"
#include "client/cli/commands.hpp"
#include "client/cli/exit_codes.hpp"
#include "core/cachekey/cache_key.hpp"
#include "core/log.hpp"
#include "ttscache/client.hpp"

namespace ttscache::cli {
namespace {

const char* const kDeleteUsage =
    "usage: ttscache delete --engine E [--voice V] (TEXT | --text T | --text-file F | --key HEX)\n"
    "\n"
    "Removes one cache entry and its Opus variants, named by its text (normalized and\n"
    "hashed as get does) or by its key (64 hex digits, as `ttscache key` or `ls` print).\n"
    "Prints \"deleted E[/V] KEY (N bytes, K variants)\". Admin only.\n"
    "Exit 0 deleted, 1 not cached, 3 refused or failed, 4 cannot connect.\n";

const char* const kPurgeUsage =
    "usage: ttscache purge --engine E [--voice V]\n"
    "\n"
    "Removes every entry of an engine (all its voices) or, with --voice, of one voice.\n"
    "Gets and puts go on meanwhile; entries put while it runs stay. Prints\n"
    "\"purged N entries (B bytes) of E[/V]\". Admin only.\n";

const char* const kVerifyUsage =
    "usage: ttscache verify [--repair] [--json]\n"
    "\n"
    "Checks the daemon's index against the cache folder and every WAV header and\n"
    "prints the problems found (KIND PATH DETAIL REPAIRED) and a summary.\n"
    "  --repair   drop entries whose files are bad, adopt sound WAVs the index lacks,\n"
    "             remove temporaries; a sound entry is never dropped (admin only)\n"
    "  --json     one JSON object: verdict, counts and problems\n"
    "Exit 0 clean, 1 repaired (everything found was fixed), 6 damaged,\n"
    "3 refused or failed, 4 cannot connect.\n";

// 64 hex digits as the 32 bytes of a key.
std::optional<std::array<uint8_t, 32>> ParseKey(const std::string& hex) {
  if (hex.size() != 64) return std::nullopt;
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < 32; ++i) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    key[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return key;
}

std::string Hex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) out += digits[b >> 4], out += digits[b & 15];
  return out;
}

const char* VerdictName(VerifyVerdict v) {
  switch (v) {
    case VerifyVerdict::kClean:
      return "clean";
    case VerifyVerdict::kRepaired:
      return "repaired";
    case VerifyVerdict::kDamaged:
      break;
  }
  return "damaged";
}

int VerdictExit(VerifyVerdict v) {
  switch (v) {
    case VerifyVerdict::kClean:
      return kExitOk;
    case VerifyVerdict::kRepaired:
      return kExitRepaired;
    case VerifyVerdict::kDamaged:
      break;
  }
  return kExitDamaged;
}

void PrintVerifyJson(const VerifyResult& r) {
  std::cout << "{\"verdict\":\"" << VerdictName(r.verdict)
            << "\",\"entries_checked\":" << r.entries_checked
            << ",\"files_checked\":" << r.files_checked
            << ",\"problems_total\":" << r.problems_total << ",\"problems\":[";
  for (size_t i = 0; i < r.problems.size(); ++i) {
    const VerifyProblem& p = r.problems[i];
    std::cout << (i ? "," : "") << "{\"kind\":" << JsonString(p.kind)
              << ",\"path\":" << JsonString(p.path) << ",\"detail\":" << JsonString(p.detail)
              << ",\"repaired\":" << (p.repaired ? "true" : "false") << "}";
  }
  std::cout << "]}\n";
}

void PrintVerifyTable(VerifyResult r) {
  // Paths are file names from the cache folder, anyone's text: no control
  // byte reaches the terminal or a script reading the table line by line.
  for (VerifyProblem& p : r.problems) {
    p.path = log::Printable(std::move(p.path));
    p.detail = log::Printable(std::move(p.detail));
  }
  size_t kind_width = 4, path_width = 4, detail_width = 6;
  for (const VerifyProblem& p : r.problems) {
    kind_width = std::max(kind_width, p.kind.size());
    path_width = std::max(path_width, std::max<size_t>(p.path.size(), 1));
    detail_width = std::max(detail_width, p.detail.size());
  }
  auto row = [&](const std::string& kind, const std::string& path, const std::string& detail,
                 const char* repaired) {
    std::printf("%-*s  %-*s  %-*s  %s\n", static_cast<int>(kind_width), kind.c_str(),
                static_cast<int>(path_width), path.empty() ? "-" : path.c_str(),
                static_cast<int>(detail_width), detail.c_str(), repaired);
  };
  if (!r.problems.empty()) {
    row("KIND", "PATH", "DETAIL", "REPAIRED");
    for (const VerifyProblem& p : r.problems) {
      row(p.kind, p.path, p.detail, p.repaired ? "yes" : "no");
    }
  }
  const uint64_t repaired =
      std::count_if(r.problems.begin(), r.problems.end(), [](auto& p) { return p.repaired; });
  std::printf("%s: %llu entries and %llu files checked, %llu problems (%llu repaired)%s\n",
              VerdictName(r.verdict), static_cast<unsigned long long>(r.entries_checked),
              static_cast<unsigned long long>(r.files_checked),
              static_cast<unsigned long long>(r.problems_total),
              static_cast<unsigned long long>(repaired),
              r.problems_total > r.problems.size()
                  ? (", the first " + std::to_string(r.problems.size()) + " listed").c_str()
                  : "");
  std::fflush(stdout);
}

}  // namespace

int RunDelete(const std::vector<std::string>& argv, const GlobalOptions& global) {
  Result<ParsedArgs> args =
      ParseArgs(argv, {"--engine", "--voice", "--text", "--text-file", "--key"}, {"--help"});
  if (!args) return UsageError(args.error().message, kDeleteUsage);
  if (args->has("--help")) return (std::cout << kDeleteUsage), kExitOk;
  Result<std::string> engine = EngineFromArgs(*args);
  if (!engine) return UsageError(engine.error().message, kDeleteUsage);
  const int named = static_cast<int>(args->positional.size()) + args->has("--text") +
                    args->has("--text-file") + args->has("--key");
  if (named != 1) {
    return UsageError("name the entry once: TEXT, --text, --text-file or --key", kDeleteUsage);
  }
  std::array<uint8_t, 32> key{};
  std::optional<std::string> text;
  if (std::optional<std::string> hex = args->value("--key")) {
    std::optional<std::array<uint8_t, 32>> parsed = ParseKey(*hex);
    if (!parsed) return UsageError("--key \"" + *hex + "\": expected 64 hex digits", kDeleteUsage);
    key = *parsed;
  } else {
    if (!args->positional.empty()) {
      text = args->positional[0];
    } else {
      Result<std::string> t = TextFromArgs(*args);
      if (!t) return Fail(t.error().message);
      text = *t;
    }
    Result<CacheKey> computed = ComputeCacheKey(*text);
    if (!computed) return Fail(computed.error().message);
    std::copy(computed->digest.begin(), computed->digest.end(), key.begin());
  }
  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  Result<DeleteResult> r = text ? client->Delete(*engine, *text) : client->DeleteKey(*engine, key);
  if (!r) return ExitFor(r.error());
  if (!r->deleted) {
    std::cerr << "ttscache: not cached: " << *engine << " " << Hex(key) << "\n";
    return kExitNotCached;
  }
  std::cout << "deleted " << *engine << " " << Hex(key) << " (" << r->bytes << " bytes, "
            << r->variants << " variants)\n";
  return kExitOk;
}

int RunPurge(const std::vector<std::string>& argv, const GlobalOptions& global) {
  Result<ParsedArgs> args = ParseArgs(argv, {"--engine", "--voice"}, {"--help"});
  if (!args) return UsageError(args.error().message, kPurgeUsage);
  if (args->has("--help")) return (std::cout << kPurgeUsage), kExitOk;
  if (!args->positional.empty()) return UsageError("unexpected argument", kPurgeUsage);
  Result<std::string> engine = EngineFromArgs(*args);
  if (!engine) return UsageError(engine.error().message, kPurgeUsage);
  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  Result<PurgeResult> r = client->Purge(*engine);
  if (!r) return ExitFor(r.error());
  std::cout << "purged " << r->entries << " entries (" << r->bytes << " bytes) of " << *engine
            << "\n";
  return kExitOk;
}

int RunVerify(const std::vector<std::string>& argv, const GlobalOptions& global) {
  Result<ParsedArgs> args = ParseArgs(argv, {}, {"--repair", "--json", "--help"});
  if (!args) return UsageError(args.error().message, kVerifyUsage);
  if (args->has("--help")) return (std::cout << kVerifyUsage), kExitOk;
  if (!args->positional.empty()) return UsageError("unexpected argument", kVerifyUsage);
  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  Result<VerifyResult> r = client->Verify(args->has("--repair"));
  if (!r) return ExitFor(r.error());
  if (args->has("--json")) {
    PrintVerifyJson(*r);
  } else {
    PrintVerifyTable(*r);
  }
  return VerdictExit(r->verdict);
}

}  // namespace ttscache::cli
