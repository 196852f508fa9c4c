// See cli_args.hpp.
#include "client/cli/cli_args.hpp"

#include <charconv>

namespace ttscache::cli {

std::optional<std::string> ParsedArgs::value(const std::string& flag) const {
  auto it = values.find(flag);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

Result<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                             const std::set<std::string>& with_value,
                             const std::set<std::string>& switches) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') {
      parsed.positional.push_back(a);
      continue;
    }
    std::string flag = a;
    std::optional<std::string> inline_value;
    if (size_t eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
      flag = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
    }
    if (with_value.count(flag)) {
      if (inline_value) {
        parsed.values[flag] = *inline_value;
      } else if (i + 1 < args.size()) {
        parsed.values[flag] = args[++i];
      } else {
        return MakeError(Errc::kInvalidArgument, flag + " needs a value");
      }
      parsed.every[flag].push_back(parsed.values[flag]);
    } else if (switches.count(flag) && !inline_value) {
      parsed.switches.insert(flag);
    } else {
      return MakeError(Errc::kInvalidArgument, "unknown option \"" + a + "\"");
    }
  }
  return parsed;
}

Result<int> IntFlag(const ParsedArgs& args, const std::string& flag, int fallback, int min,
                    int max) {
  std::optional<std::string> text = args.value(flag);
  if (!text) return fallback;
  int value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size() || value < min ||
      value > max) {
    return MakeError(Errc::kInvalidArgument, flag + " " + *text + ": expected an integer " +
                                                 std::to_string(min) + "–" + std::to_string(max));
  }
  return value;
}

}  // namespace ttscache::cli
