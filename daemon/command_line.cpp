// Parses ttscached's few options by hand: getopt_long would add global state
// for five flags.
#include "daemon/command_line.hpp"

namespace ttscache {

const char* const kDaemonUsage =
    "usage: ttscached [--config FILE] [--print-config]\n"
    "       ttscached --check-config FILE\n"
    "       ttscached --version | --help\n"
    "\n"
    "  --config FILE        read FILE instead of the installed default\n"
    "  --print-config       print the effective configuration and where each value came from\n"
    "  --check-config FILE  validate FILE and exit 0, or 78 with one line per problem\n";

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
  return cl;
}

}  // namespace ttscache
