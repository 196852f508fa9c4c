// The ttscache CLI's commands, one file each; main.cpp dispatches on the
// first word. Each returns the process exit code (exit_codes.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client/cli/cli_args.hpp"
#include "core/audio/opus_params.hpp"
#include "ttscache/client.hpp"

namespace ttscache::cli {

struct GlobalOptions {
  std::string socket;  // --socket, else $TTSCACHE_SOCKET, else the config's
  int timeout_ms = 10000;
  // --daemon-uid, else $TTSCACHE_DAEMON_UID; -1: the socket file's owner (root always passes)
  int64_t daemon_uid = -1;
};

int RunEncode(const std::vector<std::string>& args, const GlobalOptions& global);
int RunKey(const std::vector<std::string>& args, const GlobalOptions& global);
int RunPing(const std::vector<std::string>& args, const GlobalOptions& global);
int RunStats(const std::vector<std::string>& args, const GlobalOptions& global);
int RunPut(const std::vector<std::string>& args, const GlobalOptions& global);
int RunGet(const std::vector<std::string>& args, const GlobalOptions& global);
int RunDelete(const std::vector<std::string>& args, const GlobalOptions& global);
int RunPurge(const std::vector<std::string>& args, const GlobalOptions& global);
int RunLs(const std::vector<std::string>& args, const GlobalOptions& global);
int RunVerify(const std::vector<std::string>& args, const GlobalOptions& global);
int RunAdopt(const std::vector<std::string>& args, const GlobalOptions& global);
int RunSlot(const std::vector<std::string>& args, const GlobalOptions& global);
// `encode` without --local.
int EncodeThroughDaemon(const std::vector<uint8_t>& wav, const OpusParams& params,
                        const std::string& output, const GlobalOptions& global);
// `encode --stream`: `input` "-" is stdin.
int EncodeStreamThroughDaemon(const ParsedArgs& args, const OpusParams& params,
                              const std::string& input, const std::string& output,
                              const GlobalOptions& global, const char* usage);

// --text T | --text-file F; --engine E [--voice V] (validated as names),
// as the wire's engine field: "E" or "E/V".
Result<std::string> TextFromArgs(const ParsedArgs& args);
Result<std::string> EngineFromArgs(const ParsedArgs& args);

// A client of the daemon at --socket / $TTSCACHE_SOCKET / the configuration's socket.
Result<Client> ConnectTo(const GlobalOptions& global);
// Prints the error; returns 4 (cannot connect), 1 (a miss) or 3.
int ExitFor(const Error& e);

// Prints "ttscache: <message>" and the usage, returns kExitUsage.
int UsageError(const std::string& message, const char* usage);
// Prints "ttscache: <message>", returns kExitFailed.
int Fail(const std::string& message);

// --bitrate, --complexity, --application, --vbr, --frame-ms → OpusParams.
Result<OpusParams> OpusParamsFromArgs(const ParsedArgs& args);

}  // namespace ttscache::cli
