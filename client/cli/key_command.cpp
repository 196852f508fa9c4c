// `ttscache key`: the cache key of a text and its entry's path, computed
// locally with the same function as the daemon (and the old Node module), so
// scripts can find an entry in {dir}/{engine}/ without a daemon.
#include <cctype>
#include <iostream>

#include "client/cli/cli_args.hpp"
#include "client/cli/cli_io.hpp"
#include "client/cli/commands.hpp"
#include "client/cli/exit_codes.hpp"
#include "core/cachekey/cache_key.hpp"
#include "core/config/config.hpp"

namespace ttscache::cli {

const char* const kKeyUsage =
    "usage: ttscache key --engine E [--voice V] (--text T | --text-file F)\n"
    "\n"
    "Prints the cache key of the text (sha256 of the normalized text) and the\n"
    "entry's path relative to the cache dir:\n"
    "  key <64 hex digits>\n"
    "  path <engine>/<key>.wav (with --voice: <engine>/<voice>/<key>.wav)\n";

Result<std::string> TextFromArgs(const ParsedArgs& args) {
  std::optional<std::string> text = args.value("--text");
  std::optional<std::string> file = args.value("--text-file");
  if (text.has_value() == file.has_value()) {
    return MakeError(Errc::kInvalidArgument, "give exactly one of --text and --text-file");
  }
  if (text) return *text;
  Result<std::vector<uint8_t>> bytes = ReadInput(*file);
  if (!bytes) return bytes.error();
  return std::string(bytes->begin(), bytes->end());
}

bool IsValidVoiceName(std::string_view voice) {
  if (voice.empty() || voice.size() > 64 || !std::isalnum(static_cast<unsigned char>(voice[0]))) {
    return false;
  }
  for (char c : voice) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

Result<std::string> EngineFromArgs(const ParsedArgs& args) {
  std::optional<std::string> engine = args.value("--engine");
  if (!engine) {
    if (args.has("--voice")) return MakeError(Errc::kInvalidArgument, "--voice needs --engine");
    return MakeError(Errc::kInvalidArgument, "--engine is required");
  }
  if (!IsValidEngineName(*engine)) {
    return MakeError(Errc::kInvalidArgument,
                     "--engine \"" + *engine + "\": expected [a-z0-9][a-z0-9_-]{0,31}");
  }
  std::optional<std::string> voice = args.value("--voice");
  if (!voice) return *engine;
  if (!IsValidVoiceName(*voice)) {
    return MakeError(Errc::kInvalidArgument,
                     "--voice \"" + *voice + "\": expected [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
  }
  return EngineWithVoice(*engine, *voice);
}

int RunKey(const std::vector<std::string>& argv, const GlobalOptions&) {
  Result<ParsedArgs> args =
      ParseArgs(argv, {"--engine", "--voice", "--text", "--text-file"}, {"--help"});
  if (!args) return UsageError(args.error().message, kKeyUsage);
  if (args->has("--help")) {
    std::cout << kKeyUsage;
    return kExitOk;
  }
  if (!args->positional.empty()) return UsageError("unexpected argument", kKeyUsage);
  Result<std::string> engine = EngineFromArgs(*args);
  if (!engine) return UsageError(engine.error().message, kKeyUsage);
  Result<std::string> text = TextFromArgs(*args);
  if (!text) {
    if (text.error().code == Errc::kInvalidArgument)
      return UsageError(text.error().message, kKeyUsage);
    return Fail(text.error().message);
  }
  Result<CacheKey> key = ComputeCacheKey(*text);
  if (!key) return Fail(key.error().message);
  std::cout << "key " << key->hex() << "\npath " << EntryRelativePath(*engine, *key) << "\n";
  return kExitOk;
}

}  // namespace ttscache::cli
