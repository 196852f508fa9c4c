// Parses ttscached's few options by hand: getopt_long would add global state
// for a handful of flags.
#include "daemon/command_line.hpp"

namespace ttscache {

const char* const kDaemonUsage =
    "usage: ttscached [--config FILE] [--print-config]\n"
    "       ttscached --check-config FILE\n"
    "       ttscached --verify DIR [--repair] [--config FILE]\n"
    "       ttscached --version | --help\n"
    "\n"
    "  --config FILE        read FILE instead of the installed default\n"
    "  --print-config       print the effective configuration and where each value came from\n"
    "  --check-config FILE  validate FILE and exit 0, or 78 with one line per problem\n"
    "  --verify DIR         check the cache in DIR (daemon stopped; engines and limits from\n"
    "                       the configuration): exit 0 clean, 1 repaired, 6 damaged,\n"
    "                       75 a daemon holds DIR\n"
    "  --repair             with --verify: repair what can be (bad entries dropped, files\n"
    "                       adopted or removed, the index rebuilt); without it nothing is "
    "written\n";

Result<DaemonCommandLine> ParseDaemonCommandLine(const std::vector<std::string>& args) {
  DaemonCommandLine cl;
  auto usage_error = [](std::string message) {
    return MakeError(Errc::kInvalidArgument, std::move(message));
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto take_value = [&](const std::string& flag) -> std::optional<std::string> {
      if (a.size() > flag.size() && a.compare(0, flag.size() + 1, flag + "=") == 0) {
        return a.substr(flag.size() + 1);
      }
      if (a == flag && i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (a == "--config" || a.starts_with("--config=")) {
      cl.config_path = take_value("--config");
      if (!cl.config_path) return usage_error("--config needs a FILE");
    } else if (a == "--check-config" || a.starts_with("--check-config=")) {
      cl.action = DaemonCommandLine::Action::kCheckConfig;
      cl.config_path = take_value("--check-config");
      if (!cl.config_path) return usage_error("--check-config needs a FILE");
    } else if (a == "--verify" || a.starts_with("--verify=")) {
      cl.action = DaemonCommandLine::Action::kVerify;
      std::optional<std::string> dir = take_value("--verify");
      if (!dir || dir->empty()) return usage_error("--verify needs a DIR (the cache dir)");
      cl.verify_dir = *dir;
    } else if (a == "--repair") {
      cl.repair = true;
    } else if (a == "--print-config") {
      cl.action = DaemonCommandLine::Action::kPrintConfig;
    } else if (a == "--version") {
      cl.action = DaemonCommandLine::Action::kVersion;
    } else if (a == "--help" || a == "-h") {
      cl.action = DaemonCommandLine::Action::kHelp;
    } else {
      return usage_error("unknown argument \"" + a + "\"");
    }
  }
  if (cl.repair && cl.action != DaemonCommandLine::Action::kVerify) {
    return usage_error("--repair goes with --verify DIR");
  }
  return cl;
}

}  // namespace ttscache
