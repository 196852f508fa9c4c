// A small argument reader for the ttscache CLI's commands: "--flag VALUE",
// "--flag=VALUE", boolean "--flag", and positional arguments. Usage errors
// carry the message the CLI prints before exiting 2.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace ttscache::cli {

struct ParsedArgs {
  std::map<std::string, std::string> values;  // "--bitrate" → "24" (the last one given)
  std::map<std::string, std::vector<std::string>> every;  // each value, for repeatable flags
  std::set<std::string> switches;                         // "--local"
  std::vector<std::string> positional;

  bool has(const std::string& flag) const { return switches.count(flag) || values.count(flag); }
  std::optional<std::string> value(const std::string& flag) const;
};

// `with_value` lists flags that take a value, `switches` those that do not;
// "-o" is a flag like any other. A lone "-" is positional (stdin/stdout).
Result<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                             const std::set<std::string>& with_value,
                             const std::set<std::string>& switches);

// Parses an integer flag within [min, max]; usage error naming the flag otherwise.
Result<int> IntFlag(const ParsedArgs& args, const std::string& flag, int fallback, int min,
                    int max);

}  // namespace ttscache::cli
