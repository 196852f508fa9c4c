// The ttscache commands that talk to the daemon: ping, put, get, and
// encode without --local (stats is in stats_command.cpp). Each connects with libttscache; "cannot
// connect" exits 4, a refusal from the daemon 3, a cache miss (get) 1.
#include <sys/stat.h>

#include <iostream>

#include "client/cli/cli_args.hpp"
#include "client/cli/cli_io.hpp"
#include "client/cli/commands.hpp"
#include "client/cli/exit_codes.hpp"
#include "core/config/config.hpp"
#include "ttscache/build_info.hpp"
#include "ttscache/client.hpp"

namespace ttscache::cli {
namespace {

// --socket, else $TTSCACHE_SOCKET (both already in `global`), else the
// installed configuration's socket, else the built-in default.
std::string SocketPath(const GlobalOptions& global) {
  if (!global.socket.empty()) return global.socket;
  struct stat st;
  std::optional<std::string> path;
  if (::stat(build::kDefaultConfigPath, &st) == 0) path = build::kDefaultConfigPath;
  Result<LoadedConfig> config = LoadConfigFile(path);
  return config ? config->config.daemon.socket : DefaultConfig().daemon.socket;
}

}  // namespace

int ExitFor(const Error& e) {
  std::cerr << "ttscache: " << e.message << "\n";
  switch (e.code) {
    case Errc::kUnavailable:
      return kExitCannotConnect;
    case Errc::kNotFound:
      return kExitMiss;
    default:
      return kExitFailed;
  }
}

Result<Client> ConnectTo(const GlobalOptions& global) {
  ClientOptions options;
  options.socket_path = SocketPath(global);
  options.timeout_ms = global.timeout_ms;
  options.daemon_uid = global.daemon_uid;
  return Client::Connect(options);
}

namespace {

const char* const kPingUsage = "usage: ttscache ping\n\nChecks that the daemon answers.\n";
const char* const kPutUsage =
    "usage: ttscache put --engine E [--voice V] (--text T | --text-file F) [WAV|-]\n\n"
    "Stores a WAV (default: stdin) as the cache entry for the text.\n";
const char* const kGetUsage =
    "usage: ttscache get --engine E [--voice V] (--text T | --text-file F) [--format wav|opus]\n"
    "                    [--bitrate K] [--complexity C] [--application A] [-o FILE|-]\n\n"
    "Writes the cached audio (default: stdout, never a terminal). Exit 1 on a miss.\n"
    "--format opus returns the entry's Ogg Opus variant, encoded once on first request.\n";

}  // namespace

int RunPing(const std::vector<std::string>& argv, const GlobalOptions& global) {
  Result<ParsedArgs> args = ParseArgs(argv, {}, {"--help"});
  if (!args || !args->positional.empty()) return UsageError("ping takes no arguments", kPingUsage);
  if (args->has("--help")) return (std::cout << kPingUsage), kExitOk;
  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  if (Status s = client->Ping(); !s) return ExitFor(s.error());
  std::cout << "pong\n";
  return kExitOk;
}

int RunPut(const std::vector<std::string>& argv, const GlobalOptions& global) {
  Result<ParsedArgs> args =
      ParseArgs(argv, {"--engine", "--voice", "--text", "--text-file"}, {"--help"});
  if (!args) return UsageError(args.error().message, kPutUsage);
  if (args->has("--help")) return (std::cout << kPutUsage), kExitOk;
  if (args->positional.size() > 1) return UsageError("at most one WAV", kPutUsage);
  Result<std::string> engine = EngineFromArgs(*args);
  if (!engine) return UsageError(engine.error().message, kPutUsage);
  Result<std::string> text = TextFromArgs(*args);
  if (!text) return UsageError(text.error().message, kPutUsage);
  Result<std::vector<uint8_t>> wav =
      ReadInput(args->positional.empty() ? "-" : args->positional[0]);
  if (!wav) return Fail(wav.error().message);
  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  if (Status s = client->Put(*engine, *text, *wav); !s) return ExitFor(s.error());
  return kExitOk;
}

int RunGet(const std::vector<std::string>& argv, const GlobalOptions& global) {
  Result<ParsedArgs> args =
      ParseArgs(argv,
                {"--engine", "--voice", "--text", "--text-file", "--format", "--bitrate",
                 "--complexity", "--application", "--vbr", "--frame-ms", "-o"},
                {"--help"});
  if (!args) return UsageError(args.error().message, kGetUsage);
  if (args->has("--help")) return (std::cout << kGetUsage), kExitOk;
  if (!args->positional.empty()) return UsageError("unexpected argument", kGetUsage);
  Result<std::string> engine = EngineFromArgs(*args);
  if (!engine) return UsageError(engine.error().message, kGetUsage);
  Result<std::string> text = TextFromArgs(*args);
  if (!text) return UsageError(text.error().message, kGetUsage);
  std::string format = args->value("--format").value_or("wav");
  if (format != "wav" && format != "opus") {
    return UsageError("--format " + format + ": expected wav or opus", kGetUsage);
  }
  OpusParams params = DaemonDefaultOpus();
  if (args->has("--bitrate") || args->has("--complexity") || args->has("--application") ||
      args->has("--vbr") || args->has("--frame-ms")) {
    Result<OpusParams> p = OpusParamsFromArgs(*args);
    if (!p) return UsageError(p.error().message, kGetUsage);
    params = *p;
  }
  std::string output = args->value("-o").value_or("-");
  if (IsTerminalOutput(output)) {
    return UsageError("refusing to write binary audio to a terminal; use -o FILE or a pipe",
                      kGetUsage);
  }
  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  Result<AudioBuffer> audio =
      client->Get(*engine, *text, format == "wav" ? Format::kWav : Format::kOpus, params);
  if (!audio) return ExitFor(audio.error());
  if (Status s = WriteOutput(output, audio->u8()); !s) return Fail(s.error().message);
  return kExitOk;
}

int EncodeThroughDaemon(const std::vector<uint8_t>& wav, const OpusParams& params,
                        const std::string& output, const GlobalOptions& global) {
  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  Result<AudioBuffer> opus = client->Encode(wav, params);
  if (!opus) return ExitFor(opus.error());
  if (Status s = WriteOutput(output, opus->u8()); !s) return Fail(s.error().message);
  return kExitOk;
}

}  // namespace ttscache::cli
