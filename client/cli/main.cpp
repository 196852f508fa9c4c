// ttscache: the command-line client. Global options, then a command; see
// docs/cli.md for every command and exit code.
#include <charconv>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "client/cli/commands.hpp"
#include "client/cli/exit_codes.hpp"
#include "ttscache/build_info.hpp"

namespace ttscache::cli {

const char* const kUsage =
    "usage: ttscache [--socket PATH] [--timeout MS] [--daemon-uid UID] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  put       store a WAV for a text\n"
    "  get       fetch the cached WAV or its Opus variant (exit 1 on a miss)\n"
    "  encode    WAV → Ogg Opus (--local: without the daemon)\n"
    "  stats     cache and daemon counters (--format text|json|prometheus)\n"
    "  ls        list cache entries (filters, --json)\n"
    "  delete    remove one entry (admin)\n"
    "  purge     remove every entry of an engine or a voice (admin)\n"
    "  verify    check the cache against its folder (--repair: admin)\n"
    "  adopt     take over the old Node module's cache folder\n"
    "  slot run  run a command holding a unit of a synthesis slot\n"
    "  ping      check that the daemon answers\n"
    "  key       the cache key and entry path of a text (no daemon needed)\n"
    "  version   print the version\n"
    "\n"
    "Run 'ttscache COMMAND --help' for a command's options.\n"
    "Exit codes: 0 ok, 1 miss (delete: not cached; verify: repaired), 2 usage,\n"
    "3 request failed, 4 cannot connect, 5 adopt: some entries were not adopted,\n"
    "6 verify: damaged, 75 slot run: no unit came free in time (else the command's).\n";

int UsageError(const std::string& message, const char* usage) {
  std::cerr << "ttscache: " << message << "\n" << usage;
  return kExitUsage;
}

// A uid (0 … 2^32-2), or nullopt.
std::optional<int64_t> ParseUid(const std::string& text) {
  int64_t uid = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), uid);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || uid < 0 ||
      uid > 0xFFFFFFFELL) {
    return std::nullopt;
  }
  return uid;
}

int Fail(const std::string& message) {
  std::cerr << "ttscache: " << message << "\n";
  return kExitFailed;
}

}  // namespace ttscache::cli

int main(int argc, char** argv) {
  using namespace ttscache::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  GlobalOptions global;
  if (const char* env = std::getenv("TTSCACHE_SOCKET"); env && *env) global.socket = env;
  if (const char* env = std::getenv("TTSCACHE_DAEMON_UID"); env && *env) {
    std::optional<int64_t> uid = ParseUid(env);
    if (!uid)
      return UsageError("TTSCACHE_DAEMON_UID wants a uid, got \"" + std::string(env) + "\"",
                        kUsage);
    global.daemon_uid = *uid;
  }
  size_t i = 0;
  for (; i < args.size() && args[i].starts_with("--"); ++i) {
    if (args[i] == "--help") {
      std::cout << kUsage;
      return kExitOk;
    }
    if (args[i] == "--version") args[i] = "version";
    if (args[i] == "version") break;
    if ((args[i] == "--socket" || args[i] == "--timeout" || args[i] == "--daemon-uid") &&
        i + 1 < args.size()) {
      if (args[i] == "--socket") {
        global.socket = args[i + 1];
      } else if (args[i] == "--daemon-uid") {
        std::optional<int64_t> uid = ParseUid(args[i + 1]);
        if (!uid)
          return UsageError("--daemon-uid wants a uid, got \"" + args[i + 1] + "\"", kUsage);
        global.daemon_uid = *uid;
      } else {
        const std::string& v = args[i + 1];
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), global.timeout_ms);
        if (ec != std::errc() || end != v.data() + v.size() || global.timeout_ms <= 0) {
          return UsageError("--timeout wants milliseconds > 0, got \"" + v + "\"", kUsage);
        }
      }
      ++i;
      continue;
    }
    return UsageError("unknown option \"" + args[i] + "\"", kUsage);
  }
  if (i >= args.size()) return UsageError("no command", kUsage);
  std::string command = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1, args.end());
  if (command == "encode") return RunEncode(rest, global);
  if (command == "key") return RunKey(rest, global);
  if (command == "ping") return RunPing(rest, global);
  if (command == "stats") return RunStats(rest, global);
  if (command == "put") return RunPut(rest, global);
  if (command == "get") return RunGet(rest, global);
  if (command == "adopt") return RunAdopt(rest, global);
  if (command == "delete") return RunDelete(rest, global);
  if (command == "purge") return RunPurge(rest, global);
  if (command == "ls") return RunLs(rest, global);
  if (command == "verify") return RunVerify(rest, global);
  if (command == "slot") return RunSlot(rest, global);
  if (command == "version") {
    std::cout << "ttscache " << ttscache::build::kVersion << "\n";
    return kExitOk;
  }
  return UsageError("unknown command \"" + command + "\"", kUsage);
}
