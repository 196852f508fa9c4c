// `ttscache encode`: WAV → Ogg Opus. With --local it encodes in-process with
// the same codec the daemon uses, so it works without a daemon; a bad WAV
// prints the reader's message and writes no output file.
#include "client/cli/commands.hpp"

#include <iostream>

#include "client/cli/cli_args.hpp"
#include "client/cli/cli_io.hpp"
#include "client/cli/exit_codes.hpp"
#include "core/audio/ogg_opus_encoder.hpp"
#include "core/config/config_values.hpp"
#include "ttscache/client.hpp"

namespace ttscache::cli {

const char* const kEncodeUsage =
    "usage: ttscache encode [--local] [--bitrate K] [--complexity C] [--application A]\n"
    "                       [--vbr on|off|constrained] [--frame-ms MS] [IN.wav|-] [-o OUT.opus|-]\n"
    "\n"
    "Encodes a WAV file (default: stdin) to Ogg Opus (default: stdout, never a terminal).\n"
    "  --local           encode in this process, without the daemon\n"
    "  --bitrate K       6–510 kb/s (default 32)\n"
    "  --complexity C    0–10 (default 10)\n"
    "  --application A   voip, audio or lowdelay (default voip)\n"
    "  --vbr MODE        on, off or constrained (default on)\n"
    "  --frame-ms MS     2.5, 5, 10, 20, 40 or 60 (default 20)\n";

Result<OpusParams> OpusParamsFromArgs(const ParsedArgs& args) {
  OpusParams params;
  Result<int> bitrate =
      IntFlag(args, "--bitrate", params.bitrate_kbps, kMinBitrateKbps, kMaxBitrateKbps);
  if (!bitrate) return bitrate.error();
  params.bitrate_kbps = *bitrate;
  Result<int> complexity = IntFlag(args, "--complexity", params.complexity, 0, kMaxComplexity);
  if (!complexity) return complexity.error();
  params.complexity = *complexity;
  if (auto a = args.value("--application"); a && !ParseApplication(*a, &params.application)) {
    return MakeError(Errc::kInvalidArgument,
                     "--application " + *a + ": expected voip, audio or lowdelay");
  }
  if (auto v = args.value("--vbr"); v && !ParseVbrMode(*v, &params.vbr)) {
    return MakeError(Errc::kInvalidArgument, "--vbr " + *v + ": expected on, off or constrained");
  }
  if (auto f = args.value("--frame-ms")) {
    if (auto problem = config_values::ParseFrameMs(*f, &params.frame_us)) {
      return MakeError(Errc::kInvalidArgument, "--frame-ms " + *f + ": " + *problem);
    }
  }
  return params;
}

int RunEncode(const std::vector<std::string>& argv, const GlobalOptions& global) {
  Result<ParsedArgs> args =
      ParseArgs(argv, {"--bitrate", "--complexity", "--application", "--vbr", "--frame-ms", "-o"},
                {"--local", "--help"});
  if (!args) return UsageError(args.error().message, kEncodeUsage);
  if (args->has("--help")) {
    std::cout << kEncodeUsage;
    return kExitOk;
  }
  if (args->positional.size() > 1) return UsageError("at most one input file", kEncodeUsage);
  Result<OpusParams> params = OpusParamsFromArgs(*args);
  if (!params) return UsageError(params.error().message, kEncodeUsage);
  std::string input = args->positional.empty() ? "-" : args->positional[0];
  std::string output = args->value("-o").value_or("-");
  if (IsTerminalOutput(output)) {
    return UsageError("refusing to write binary audio to a terminal; use -o FILE or a pipe",
                      kEncodeUsage);
  }
  Result<std::vector<uint8_t>> wav = ReadInput(input);
  if (!wav) return Fail(wav.error().message);
  if (!args->has("--local")) {
    bool explicit_params = args->has("--bitrate") || args->has("--complexity") ||
                           args->has("--application") || args->has("--vbr") ||
                           args->has("--frame-ms");
    return EncodeThroughDaemon(*wav, explicit_params ? *params : DaemonDefaultOpus(), output,
                               global);
  }
  VectorSink sink;
  if (Status s = EncodeWavToOggOpus(*wav, *params, &sink); !s) {
    return Fail((input == "-" ? std::string("stdin") : input) + ": " + s.error().message);
  }
  if (Status s = WriteOutput(output, sink.bytes()); !s) return Fail(s.error().message);
  return kExitOk;
}

}  // namespace ttscache::cli
