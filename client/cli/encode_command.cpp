// `ttscache encode`: WAV → Ogg Opus. With --local it encodes in-process with
// the same codec the daemon uses, so it works without a daemon; a bad WAV
// prints the reader's message and writes no output file.
//
// With --stream, PCM or a piped WAV goes in and Ogg Opus comes out while the
// input is still arriving — `piper --output_raw | ttscache encode --stream
// --rate 22050 | player`. One loop polls the input and the daemon's socket:
// each read() is pushed as it comes (no buffer is filled first: an engine
// writes a sentence at a time), and each page the daemon completes is written
// out at once from the page callback, so the first sound leaves after the
// first chunk, not after the last. Memory stays bounded whatever the input's
// length: one read buffer, and libttscache's window of pushes in flight. A
// reader that goes away (EPIPE) aborts the stream; nothing is stored.
#include "client/cli/commands.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>

#include "client/cli/cli_args.hpp"
#include "client/cli/cli_io.hpp"
#include "client/cli/exit_codes.hpp"
#include "core/audio/ogg_opus_encoder.hpp"
#include "core/config/config_values.hpp"
#include "core/unique_fd.hpp"
#include "ttscache/client.hpp"

namespace ttscache::cli {
namespace {

// One read() at most this much; a pipe rarely holds more than 64 KiB.
constexpr size_t kReadChunk = 64 * 1024;
// While the input pauses (an engine waiting for its next line of text), an
// empty push this often keeps the daemon's [stream] idle_timeout_s (at
// least 1 s, default 30 s) from ending a stream whose producer is alive.
constexpr auto kKeepAlive = std::chrono::milliseconds(1000);

std::optional<SampleFormat> ParseSampleFormat(const std::string& name) {
  if (name == "u8") return SampleFormat::kU8;
  if (name == "s16le") return SampleFormat::kS16;
  if (name == "s24le") return SampleFormat::kS24;
  if (name == "s32le") return SampleFormat::kS32;
  if (name == "f32le") return SampleFormat::kF32;
  if (name == "f64le") return SampleFormat::kF64;
  return std::nullopt;
}

Result<StreamFormat> StreamFormatFromArgs(const ParsedArgs& args) {
  StreamFormat format;
  if (args.has("--wav")) {
    for (const char* raw_only : {"--rate", "--channels", "--sample-format"}) {
      if (args.has(raw_only)) {
        return MakeError(Errc::kInvalidArgument, std::string(raw_only) +
                                                     " describes raw PCM; a --wav input's "
                                                     "format comes from its header");
      }
    }
    format.wav = true;
    return format;
  }
  if (!args.has("--rate")) {
    return MakeError(Errc::kInvalidArgument,
                     "raw PCM needs --rate HZ (e.g. 22050 for most piper voices), or give --wav");
  }
  Result<int> rate = IntFlag(args, "--rate", 0, 8000, 192000);
  if (!rate) return rate.error();
  Result<int> channels = IntFlag(args, "--channels", 1, 1, 2);
  if (!channels) return channels.error();
  std::string name = args.value("--sample-format").value_or("s16le");
  std::optional<SampleFormat> sample_format = ParseSampleFormat(name);
  if (!sample_format) {
    return MakeError(Errc::kInvalidArgument, "--sample-format " + name +
                                                 ": expected u8, s16le, s24le, s32le, f32le "
                                                 "or f64le");
  }
  format.sample_rate = *rate;
  format.channels = *channels;
  format.sample_format = *sample_format;
  return format;
}

const char* CachedText(const StreamResult& r) {
  switch (r.cached) {
    case StreamResult::Cached::kStored:
      return "stored in the cache";
    case StreamResult::Cached::kNotStored:
      return "not stored in the cache";
    default:
      return "not cached (no --engine/--text)";
  }
}

}  // namespace

int EncodeStreamThroughDaemon(const ParsedArgs& args, const OpusParams& params,
                              const std::string& input, const std::string& output,
                              const GlobalOptions& global, const char* usage) {
  Result<StreamFormat> format = StreamFormatFromArgs(args);
  if (!format) return UsageError(format.error().message, usage);
  std::string engine, text;
  if (args.has("--engine") || args.has("--voice") || args.has("--text") ||
      args.has("--text-file")) {
    Result<std::string> e = EngineFromArgs(args);
    if (!e) return UsageError(e.error().message + " (with --text, to cache the stream)", usage);
    Result<std::string> t = TextFromArgs(args);
    if (!t) {
      if (t.error().code == Errc::kInvalidArgument) return UsageError(t.error().message, usage);
      return Fail(t.error().message);
    }
    engine = *e;
    text = *t;
  }
  const bool verbose = args.has("--verbose");
  const std::string input_name = input == "-" ? "stdin" : input;
  UniqueFd opened;
  int in_fd = STDIN_FILENO;
  if (input != "-") {
    opened.reset(::open(input.c_str(), O_RDONLY | O_CLOEXEC));
    if (!opened.valid()) return Fail(ErrnoError(errno, "open " + input).message);
    in_fd = opened.get();
  }
  Result<OutputFile> out = OutputFile::Open(output);
  if (!out) return Fail(out.error().message);
  // A reader that leaves must surface as EPIPE from write(), not kill us
  // before the stream is aborted.
  std::signal(SIGPIPE, SIG_IGN);

  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  std::optional<Error> write_failed;
  uint64_t bytes_out = 0;
  // From the first input byte read to the first page written: what a
  // listener waits beyond the engine's own latency.
  std::optional<std::chrono::steady_clock::time_point> first_input;
  std::optional<std::chrono::steady_clock::duration> first_page_after;
  auto on_pages = [&](std::span<const uint8_t> pages) {
    if (write_failed) return;
    if (Status s = out->Write(pages); !s) {
      write_failed = s.error();
      return;
    }
    if (!first_page_after && first_input) {
      first_page_after = std::chrono::steady_clock::now() - *first_input;
    }
    bytes_out += pages.size();
  };
  Result<EncodeStream> stream = client->OpenEncodeStream(*format, on_pages, params, engine, text);
  if (!stream) return ExitFor(stream.error());

  // Ends the stream after a failed write: nothing more can reach the reader.
  auto output_failed = [&]() {
    (void)stream->Abort();
    if (write_failed->sys_errno == EPIPE) {
      std::cerr << "ttscache: " << out->name() << " closed by its reader; stream aborted\n";
    } else {
      std::cerr << "ttscache: " << write_failed->message << "; stream aborted\n";
    }
    return kExitFailed;
  };
  auto stream_failed = [&](const Error& e) {
    return ExitFor(MakeError(e.code, "encode stream of " + input_name + ": " + e.message));
  };

  std::vector<uint8_t> buffer(kReadChunk);
  uint64_t bytes_in = 0;
  auto last_push = std::chrono::steady_clock::now();
  while (true) {
    // The socket is watched only while pushes are in flight: an idle
    // connection the daemon closed would otherwise poll readable forever.
    pollfd fds[2] = {{in_fd, POLLIN, 0}, {-1, POLLIN, 0}};
    if (stream->pushes_in_flight() > 0) fds[1].fd = stream->poll_fd();
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        last_push + kKeepAlive - std::chrono::steady_clock::now());
    const int ready = ::poll(fds, 2, static_cast<int>(std::max<int64_t>(wait.count(), 0)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      (void)stream->Abort();
      return Fail(ErrnoError(errno, "poll").message);
    }
    if (ready == 0) {
      if (Status s = stream->Push({}); !s) return stream_failed(s.error());
      last_push = std::chrono::steady_clock::now();
      continue;
    }
    if (fds[1].revents != 0) {
      if (Status s = stream->Collect(); !s) return stream_failed(s.error());
      if (write_failed) return output_failed();
    }
    if (fds[0].revents == 0) continue;
    ssize_t n = ::read(in_fd, buffer.data(), buffer.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      Error e = ErrnoError(errno, "read " + input_name);
      (void)stream->Abort();
      return Fail(e.message + "; stream aborted");
    }
    if (n == 0) break;
    if (!first_input) first_input = std::chrono::steady_clock::now();
    bytes_in += static_cast<uint64_t>(n);
    if (Status s = stream->Push({buffer.data(), static_cast<size_t>(n)}); !s) {
      return stream_failed(s.error());
    }
    last_push = std::chrono::steady_clock::now();
    if (write_failed) return output_failed();
  }
  if (bytes_in == 0) {
    (void)stream->Abort();
    return Fail(input_name + ": no input (expected " +
                (format->wav ? std::string("a WAV") : std::string("raw PCM")) + ")");
  }
  Result<StreamResult> end = stream->Finish();
  if (!end) return stream_failed(end.error());
  if (write_failed) return output_failed();
  if (Status s = out->Commit(); !s) return Fail(s.error().message);
  if (end->cached == StreamResult::Cached::kNotStored) {
    std::cerr << "ttscache: warning: the stream was encoded but not stored in the cache: "
              << end->note << "\n";
  }
  if (verbose) {
    const double seconds = static_cast<double>(end->samples_48k) / 48000.0;
    const double first_ms =
        first_page_after ? std::chrono::duration<double, std::milli>(*first_page_after).count()
                         : 0.0;
    std::fprintf(stderr,
                 "ttscache: streamed %llu bytes in, %llu bytes of Ogg Opus out, %.3f s of audio "
                 "(%llu samples at 48 kHz); first page after %.1f ms; %s\n",
                 static_cast<unsigned long long>(bytes_in),
                 static_cast<unsigned long long>(bytes_out), seconds,
                 static_cast<unsigned long long>(end->samples_48k), first_ms, CachedText(*end));
  }
  return kExitOk;
}

const char* const kEncodeUsage =
    "usage: ttscache encode [--local] [--bitrate K] [--complexity C] [--application A]\n"
    "                       [--vbr on|off|constrained] [--frame-ms MS] [IN.wav|-] [-o OUT.opus|-]\n"
    "       ttscache encode --stream (--rate HZ [--channels N] [--sample-format F] | --wav)\n"
    "                       [--engine E [--voice V] (--text T | --text-file F)] [--verbose]\n"
    "                       [Opus options] [IN|-] [-o OUT.opus|-]\n"
    "\n"
    "Encodes a WAV file (default: stdin) to Ogg Opus (default: stdout, never a terminal).\n"
    "  --local           encode in this process, without the daemon\n"
    "  --bitrate K       6–510 kb/s (default 32)\n"
    "  --complexity C    0–10 (default 10)\n"
    "  --application A   voip, audio or lowdelay (default voip)\n"
    "  --vbr MODE        on, off or constrained (default on)\n"
    "  --frame-ms MS     2.5, 5, 10, 20, 40 or 60 (default 20)\n"
    "\n"
    "With --stream, the input is encoded by the daemon as it arrives and each Ogg page\n"
    "is written out as soon as it is made (piper --output_raw | ttscache encode --stream\n"
    "--rate 22050 > out.opus). The input is raw little-endian PCM, or a WAV with --wav.\n"
    "  --stream          push each read of the input, write pages as they come\n"
    "  --rate HZ         raw PCM: sample rate, 8000–192000 (required)\n"
    "  --channels N      raw PCM: 1 or 2 (default 1)\n"
    "  --sample-format F raw PCM: u8, s16le, s24le, s32le, f32le or f64le (default s16le)\n"
    "  --wav             the input is a WAV (sizes in its header may be unknown)\n"
    "  --engine E        with --text or --text-file: store the finished stream as that\n"
    "                    cache entry (WAV and Opus variant)\n"
    "  --voice V         with --engine: the entry of that voice of the engine\n"
    "  --text T, --text-file F   the entry's text\n"
    "  --verbose         print the stream's length, first-page latency and cache outcome\n";

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
  Result<ParsedArgs> args = ParseArgs(
      argv,
      {"--bitrate", "--complexity", "--application", "--vbr", "--frame-ms", "-o", "--rate",
       "--channels", "--sample-format", "--engine", "--voice", "--text", "--text-file"},
      {"--local", "--help", "--stream", "--wav", "--verbose"});
  if (!args) return UsageError(args.error().message, kEncodeUsage);
  if (args->has("--help")) {
    std::cout << kEncodeUsage;
    return kExitOk;
  }
  if (args->positional.size() > 1) return UsageError("at most one input file", kEncodeUsage);
  const bool stream = args->has("--stream");
  if (stream && args->has("--local")) {
    return UsageError("--stream encodes through the daemon; it cannot be --local", kEncodeUsage);
  }
  if (!stream) {
    for (const char* flag : {"--rate", "--channels", "--sample-format", "--wav", "--engine",
                             "--voice", "--text", "--text-file", "--verbose"}) {
      if (args->has(flag)) return UsageError(std::string(flag) + " needs --stream", kEncodeUsage);
    }
  }
  Result<OpusParams> params = OpusParamsFromArgs(*args);
  if (!params) return UsageError(params.error().message, kEncodeUsage);
  std::string input = args->positional.empty() ? "-" : args->positional[0];
  std::string output = args->value("-o").value_or("-");
  if (IsTerminalOutput(output)) {
    return UsageError("refusing to write binary audio to a terminal; use -o FILE or a pipe",
                      kEncodeUsage);
  }
  bool explicit_params = args->has("--bitrate") || args->has("--complexity") ||
                         args->has("--application") || args->has("--vbr") ||
                         args->has("--frame-ms");
  if (stream) {
    return EncodeStreamThroughDaemon(*args, explicit_params ? *params : DaemonDefaultOpus(), input,
                                     output, global, kEncodeUsage);
  }
  Result<std::vector<uint8_t>> wav = ReadInput(input);
  if (!wav) return Fail(wav.error().message);
  if (!args->has("--local")) {
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
