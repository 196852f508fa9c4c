// `ttscache slot run`: runs a command while holding a unit of a synthesis
// slot (docs/protocol.md, "Synthesis slots"), so shell pipelines — Piper
// reading stdin, a script calling a GPU model — share the host-wide limit
// that the daemon's other clients observe.
//
// The unit belongs to this process's connection: the daemon releases it when
// the connection closes, so a `slot run` killed with SIGKILL frees its unit
// at once. The command must not inherit that connection (it is opened
// close-on-exec), or a command that outlives us — a daemonized child —
// would keep the unit. SIGINT, SIGTERM and SIGHUP sent to us are passed on to
// the command and we wait for it, so the unit is released only when the
// command is really done. The exit status is the command's (128 + N when a
// signal N ended it), which lets `slot run` stand in for the command in a
// script.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "client/cli/cli_args.hpp"
#include "client/cli/commands.hpp"
#include "client/cli/exit_codes.hpp"
#include "core/config/config.hpp"
#include "ttscache/client.hpp"

namespace ttscache::cli {
namespace {

const char* const kSlotUsage =
    "usage: ttscache slot run (--engine NAME | --slot NAME) [--wait SECONDS] -- COMMAND [ARGS...]\n"
    "\n"
    "Runs COMMAND while holding a unit of a synthesis slot of the daemon, so that\n"
    "no more syntheses than the slot's size run at once over every process on the\n"
    "host. The unit is released when COMMAND ends (or this process dies).\n"
    "  --engine NAME   the engine's slot ([coordinate] slots, else default_slots)\n"
    "  --slot NAME     a slot named in [coordinate] slots (e.g. gpu)\n"
    "  --wait SECONDS  how long to wait in line for a unit (default 60; 0: not at all)\n"
    "SIGINT, SIGTERM and SIGHUP are passed on to COMMAND. Exit status: COMMAND's\n"
    "(128+N if signal N ended it), 75 if no unit came free within --wait,\n"
    "4 if no daemon answers, 2 for usage, 126/127 if COMMAND cannot be run.\n";

constexpr double kMaxWaitSeconds = 86400;  // the daemon cuts it to max_wait_s anyway

// The command's pid for the forwarding handler; 0 until it is running.
volatile sig_atomic_t g_child = 0;
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP};

void Forward(int sig) {
  const pid_t child = g_child;
  if (child > 0) ::kill(child, sig);
}

// Seconds as milliseconds: a non-negative decimal number, at most a day.
Result<uint32_t> WaitMs(const std::string& text) {
  double seconds = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(seconds) || seconds < 0 || seconds > kMaxWaitSeconds) {
    return MakeError(Errc::kInvalidArgument,
                     "--wait wants seconds from 0 to 86400, got \"" + text + "\"");
  }
  return static_cast<uint32_t>(std::llround(seconds * 1000));
}

// Forks and execs `command` with the forwarded signals at their defaults,
// forwards them meanwhile, and returns its exit code as a shell reports it.
int RunHolding(const std::vector<std::string>& command) {
  sigset_t forwarded, previous;
  sigemptyset(&forwarded);
  for (int sig : kForwarded) sigaddset(&forwarded, sig);
  // Blocked across fork so no signal is lost before g_child names the child.
  ::sigprocmask(SIG_BLOCK, &forwarded, &previous);
  struct sigaction forward {};
  forward.sa_handler = Forward;
  sigemptyset(&forward.sa_mask);
  struct sigaction old[std::size(kForwarded)];
  for (size_t i = 0; i < std::size(kForwarded); ++i) {
    ::sigaction(kForwarded[i], &forward, &old[i]);
  }
  std::vector<char*> argv;
  for (const std::string& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (size_t i = 0; i < std::size(kForwarded); ++i) ::sigaction(kForwarded[i], &old[i], nullptr);
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    ::execvp(argv[0], argv.data());
    const int e = errno;
    const std::string message =
        "ttscache: cannot run " + command[0] + ": " + std::strerror(e) + "\n";
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, message.data(), message.size());
    ::_exit(e == ENOENT ? 127 : 126);
  }
  if (pid < 0) {
    const int e = errno;
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    std::cerr << "ttscache: fork: " << std::strerror(e) << "\n";
    return kExitFailed;
  }
  g_child = pid;
  ::sigprocmask(SIG_SETMASK, &previous, nullptr);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      std::cerr << "ttscache: waitpid: " << std::strerror(errno) << "\n";
      return kExitFailed;
    }
  }
  g_child = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitFailed;
}

}  // namespace

int RunSlot(const std::vector<std::string>& argv, const GlobalOptions& global) {
  if (argv.empty()) return UsageError("slot: expected \"run\"", kSlotUsage);
  if (argv[0] == "--help") return (std::cout << kSlotUsage), kExitOk;
  if (argv[0] != "run")
    return UsageError("slot: unknown subcommand \"" + argv[0] + "\"", kSlotUsage);
  // Everything after "--" is the command, taken as it is.
  auto dashes = std::find(argv.begin() + 1, argv.end(), "--");
  std::vector<std::string> options(argv.begin() + 1, dashes);
  std::vector<std::string> command(dashes == argv.end() ? argv.end() : dashes + 1, argv.end());
  Result<ParsedArgs> args = ParseArgs(options, {"--engine", "--slot", "--wait"}, {"--help"});
  if (!args) return UsageError(args.error().message, kSlotUsage);
  if (args->has("--help")) return (std::cout << kSlotUsage), kExitOk;
  if (!args->positional.empty()) {
    return UsageError("unexpected \"" + args->positional[0] + "\" (the command goes after --)",
                      kSlotUsage);
  }
  if (command.empty()) return UsageError("no command to run (after --)", kSlotUsage);
  std::optional<std::string> engine = args->value("--engine"), slot = args->value("--slot");
  if (engine.has_value() == slot.has_value()) {
    return UsageError("name the slot with one of --engine or --slot", kSlotUsage);
  }
  if (engine && !IsValidEngineName(*engine)) {
    return UsageError("--engine \"" + *engine + "\": expected [a-z0-9][a-z0-9_-]{0,31}",
                      kSlotUsage);
  }
  if (slot && (slot->empty() || slot->size() > 64)) {
    return UsageError("--slot wants a name of 1 to 64 bytes", kSlotUsage);
  }
  const std::string name = engine ? *engine : *slot;
  uint32_t wait_ms = 60000;
  if (std::optional<std::string> w = args->value("--wait")) {
    Result<uint32_t> parsed = WaitMs(*w);
    if (!parsed) return UsageError(parsed.error().message, kSlotUsage);
    wait_ms = *parsed;
  }

  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  Result<SlotHold> hold = client->AcquireSlot(name, wait_ms);
  if (!hold) {
    if (hold.error().code == Errc::kBusy) {
      std::cerr << "ttscache: no unit of slot \"" << name << "\" came free within "
                << wait_ms / 1000.0 << " s: " << hold.error().message << "\n";
      return kExitNoSlot;
    }
    if (hold.error().code == Errc::kUnknownEngine) {
      std::cerr << "ttscache: the daemon has no slot \"" << name << "\": " << hold.error().message
                << "\n";
      return kExitFailed;
    }
    return ExitFor(hold.error());
  }
  const int code = RunHolding(command);
  // Closing the connection would release the unit too; releasing says so if
  // it did not go as expected.
  if (Status released = client->ReleaseSlot(*hold); !released) {
    std::cerr << "ttscache: releasing the slot: " << released.error().message << "\n";
  }
  return code;
}

}  // namespace ttscache::cli
