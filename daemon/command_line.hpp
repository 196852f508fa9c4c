// ttscached's command line: what to do (serve, print or check the
// configuration) and with which file. Pure parsing; see docs/config.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace ttscache {

struct DaemonCommandLine {
  enum class Action {
    kServe,
    kPrintConfig,
    kCheckConfig,
    kVersion,
    kHelp,
    kVerify
  } action = Action::kServe;
  std::optional<std::string> config_path;  // nullopt: the installed default, if present
  // --verify DIR [--repair]: check (and repair) a stopped daemon's cache dir.
  std::string verify_dir;
  bool repair = false;
};

// Parses argv (without argv[0]). Errors are usage errors (exit 2).
Result<DaemonCommandLine> ParseDaemonCommandLine(const std::vector<std::string>& args);

extern const char* const kDaemonUsage;

}  // namespace ttscache
