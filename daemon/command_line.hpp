// ttscached's command line: what to do (serve, print or check the
// configuration) and with which file. Pure parsing; see docs/config.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace ttscache {

struct DaemonCommandLine {
  enum class Action { kServe, kPrintConfig, kCheckConfig, kVersion, kHelp } action = Action::kServe;
  std::optional<std::string> config_path;  // nullopt: the installed default, if present
};

// Parses argv (without argv[0]). Errors are usage errors (exit 2).
Result<DaemonCommandLine> ParseDaemonCommandLine(const std::vector<std::string>& args);

extern const char* const kDaemonUsage;

}  // namespace ttscache
