// WAV → Ogg Opus, four ways side by side in one run (docs/benchmarks.md):
//   ffmpeg    the Node backend's command, one process per request, via pipes
//   opusenc   opus-tools, one process per request, via pipes
//   ttscache  our encoder in-process (WAV parse, soxr, libopus, libogg)
//   bare      libopus + soxr only, no WAV parsing and no container: the limit
// Inputs: TTSCACHE_BENCH_DIR/speech_<rate>_<seconds>s.wav, made by
// bench/run_encode_bench.sh from espeak-ng speech.
#include <benchmark/benchmark.h>
#include <opus.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "bench/process_pipe.hpp"
#include "core/audio/ogg_opus_encoder.hpp"
#include "core/audio/resampler.hpp"
#include "core/audio/wav_reader.hpp"

namespace ttscache::bench {
namespace {

const std::vector<uint8_t>& Input(int rate, int seconds) {
  static std::map<std::pair<int, int>, std::vector<uint8_t>> cache;
  auto& bytes = cache[{rate, seconds}];
  if (bytes.empty()) {
    const char* dir = std::getenv("TTSCACHE_BENCH_DIR");
    std::string path = std::string(dir ? dir : "bench-data") + "/speech_" + std::to_string(rate) +
                       "_" + std::to_string(seconds) + "s.wav";
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
    if (bytes.empty()) throw std::runtime_error("missing " + path);
  }
  return bytes;
}

void BM_Ffmpeg(benchmark::State& state) {
  const auto& wav = Input(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    auto out =
        RunPiped({"ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-c:a", "libopus",
                  "-b:a", "32k", "-vbr", "on", "-application", "voip", "-f", "ogg", "pipe:1"},
                 wav);
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_Opusenc(benchmark::State& state) {
  const auto& wav = Input(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    auto out = RunPiped(
        {"opusenc", "--quiet", "--bitrate", "32", "--vbr", "--comp", "10", "--speech", "-", "-"},
        wav);
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_Ttscache(benchmark::State& state) {
  const auto& wav = Input(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    VectorSink sink;
    if (!EncodeWavToOggOpus(wav, OpusParams{}, &sink)) state.SkipWithError("encode failed");
    benchmark::DoNotOptimize(sink.bytes().data());
  }
}

// The same codec work with nothing around it: float samples already in
// memory, one soxr pass, libopus frame by frame, packets thrown away.
void BM_BareLibopusSoxr(benchmark::State& state) {
  const auto& wav = Input(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  WavView view = ParseWav(wav).value();
  std::vector<float> samples(view.frames);
  PcmToFloat(view.format, view.data, samples.data());
  const int rate = OpusRateFor(view.format.sample_rate);
  const int frame = rate / 50;
  std::vector<uint8_t> packet(4000);
  for (auto _ : state) {
    std::vector<float> pcm;
    if (rate != view.format.sample_rate) {
      Resampler r = Resampler::Create(view.format.sample_rate, rate, 1).value();
      (void)r.Process(samples.data(), samples.size(), &pcm);
      (void)r.Flush(&pcm);
    } else {
      pcm = samples;
    }
    int error = 0;
    OpusEncoder* e = opus_encoder_create(rate, 1, OPUS_APPLICATION_VOIP, &error);
    opus_encoder_ctl(e, OPUS_SET_BITRATE(32000));
    opus_encoder_ctl(e, OPUS_SET_VBR(1));
    opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(10));
    opus_encoder_ctl(e, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
    pcm.resize((pcm.size() / frame + 2) * frame, 0.0f);
    for (size_t at = 0; at + frame <= pcm.size(); at += frame) {
      int n = opus_encode_float(e, pcm.data() + at, frame, packet.data(), 4000);
      benchmark::DoNotOptimize(n);
    }
    opus_encoder_destroy(e);
  }
}

void Args(benchmark::internal::Benchmark* b) {
  for (int rate : {22050, 24000}) {
    for (int seconds : {1, 7, 30}) b->Args({rate, seconds});
  }
  b->ArgNames({"rate", "seconds"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Ffmpeg)->Apply(Args);
BENCHMARK(BM_Opusenc)->Apply(Args);
BENCHMARK(BM_Ttscache)->Apply(Args);
BENCHMARK(BM_BareLibopusSoxr)->Apply(Args);

}  // namespace
}  // namespace ttscache::bench

BENCHMARK_MAIN();
