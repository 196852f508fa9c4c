// The encoder's output checked by independent decoders from Debian: opusinfo
// (no warnings), opusdec and ffmpeg (decoded length equals the input length
// at 48 kHz, to the sample), ffprobe (codec, duration, original rate), and
// the decoded audio compared with the input (correlation, time alignment).
// Inputs: espeak-ng speech resampled by ffmpeg, and a synthetic harmonic tone,
// at 8, 16, 22.05, 24, 44.1 and 48 kHz, mono and stereo.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/audio/encode_session.hpp"
#include "core/audio/ogg_opus_encoder.hpp"
#include "core/audio/resampler.hpp"
#include "core/audio/wav_reader.hpp"
#include "tests/support/wav_builder.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

struct Ran {
  int status;
  std::string output;  // stdout and stderr
};

Ran RunCommand(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::vector<uint8_t> ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<float> ToFloat(const WavView& v) {
  std::vector<float> out(v.frames * v.format.channels);
  PcmToFloat(v.format, v.data, out.data());
  return out;
}

// Normalized cross-correlation of channel 0 of a and b, with b shifted by lag.
double Correlation(const std::vector<float>& a, const std::vector<float>& b, int channels,
                   int lag) {
  double ab = 0, aa = 0, bb = 0;
  const long frames = static_cast<long>(std::min(a.size(), b.size()) / channels);
  for (long i = 0; i < frames; ++i) {
    long j = i + lag;
    if (j < 0 || j >= frames) continue;
    double x = a[i * channels], y = b[j * channels];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0;
}

fs::path TempDir() {
  const char* env = std::getenv("TTSCACHE_TEST_TMP");
  fs::path dir = env ? fs::path(env) : fs::temp_directory_path() / "ttscache-interop";
  fs::create_directories(dir);
  return dir;
}

struct InteropCase {
  int rate;
  int channels;
  bool speech;  // espeak-ng speech, else the harmonic tone
};

std::string CaseName(const InteropCase& c) {
  return std::string(c.speech ? "speech" : "tone") + std::to_string(c.rate) + "Hz" +
         std::to_string(c.channels) + "ch";
}

class CodecInterop : public ::testing::TestWithParam<InteropCase> {
 protected:
  // The input WAV for this case, made with espeak-ng (22.05 kHz mono) and
  // converted by ffmpeg, or synthesized.
  std::vector<uint8_t> MakeInput(const fs::path& dir) {
    const InteropCase& c = GetParam();
    if (!c.speech) {
      testing::WavSpec spec;
      spec.rate = static_cast<uint32_t>(c.rate);
      spec.channels = static_cast<uint16_t>(c.channels);
      return testing::MakeWav(
          spec, testing::EncodeSamples(spec, testing::HarmonicSignal(c.rate, c.channels, 2.3)));
    }
    fs::path source = dir / "espeak.wav";
    if (!fs::exists(source)) {
      Ran r =
          RunCommand("espeak-ng -w " + source.string() +
                     " 'One moment please. The lights in the kitchen are on, and it is twenty one "
                     "degrees.'");
      EXPECT_EQ(r.status, 0) << r.output;
    }
    fs::path converted = dir / (CaseName(c) + ".wav");
    Ran r =
        RunCommand("ffmpeg -v error -y -i " + source.string() + " -ar " + std::to_string(c.rate) +
                   " -ac " + std::to_string(c.channels) + " -c:a pcm_s16le " + converted.string());
    EXPECT_EQ(r.status, 0) << r.output;
    return ReadFile(converted);
  }
};

TEST_P(CodecInterop, DecodersAgreeOnLengthAndAudio) {
  const InteropCase& c = GetParam();
  const fs::path dir = TempDir();
  const std::string name = CaseName(c);
  std::vector<uint8_t> wav = MakeInput(dir);
  Result<WavView> input = ParseWav(wav);
  ASSERT_TRUE(input.ok()) << input.error().message;
  const int64_t expected_48k =
      static_cast<int64_t>((input->frames * 48000 + c.rate - 1) / static_cast<uint64_t>(c.rate));

  VectorSink sink;
  ASSERT_TRUE(EncodeWavToOggOpus(wav, OpusParams{}, &sink).ok());
  const fs::path opus = dir / (name + ".opus");
  WriteFile(opus, sink.bytes());

  // opusinfo: a clean bill of health.
  Ran info = RunCommand("opusinfo " + opus.string());
  EXPECT_EQ(info.status, 0) << info.output;
  EXPECT_THAT(info.output, Not(HasSubstr("WARNING")));
  EXPECT_THAT(info.output, Not(HasSubstr("ERROR")));
  EXPECT_THAT(info.output, HasSubstr("Original sample rate: " + std::to_string(c.rate) + " Hz"));

  // opusdec at 48 kHz: the decoded length is the input's, to the sample.
  const fs::path decoded_path = dir / (name + ".opusdec.wav");
  Ran dec =
      RunCommand("opusdec --quiet --rate 48000 " + opus.string() + " " + decoded_path.string());
  ASSERT_EQ(dec.status, 0) << dec.output;
  std::vector<uint8_t> decoded_wav = ReadFile(decoded_path);
  Result<WavView> decoded = ParseWav(decoded_wav);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->format.sample_rate, 48000);
  EXPECT_EQ(decoded->format.channels, c.channels);
  EXPECT_EQ(static_cast<int64_t>(decoded->frames), expected_48k) << "opusdec length";

  // ffmpeg's own decoder agrees.
  const fs::path raw = dir / (name + ".ffmpeg.f32");
  Ran ff =
      RunCommand("ffmpeg -v error -y -i " + opus.string() + " -f f32le -ar 48000 " + raw.string());
  ASSERT_EQ(ff.status, 0) << ff.output;
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(raw) / 4 / c.channels), expected_48k)
      << "ffmpeg length";

  // ffprobe: codec, duration and, from OpusHead in the extradata, the original rate.
  Ran probe =
      RunCommand("ffprobe -v error -show_data -show_entries stream=codec_name,duration,extradata " +
                 opus.string());
  ASSERT_EQ(probe.status, 0) << probe.output;
  EXPECT_THAT(probe.output, HasSubstr("codec_name=opus"));
  double duration = 0;
  if (size_t at = probe.output.find("duration="); at != std::string::npos) {
    duration = std::atof(probe.output.c_str() + at + 9);
  }
  // ffmpeg 5.1 reports the duration before pre-skip is removed (the last
  // granule position / 48 kHz); allow for that, and not a sample more.
  const int pre_skip = sink.bytes()[28 + 10] | (sink.bytes()[28 + 11] << 8);  // OpusHead on page 1
  EXPECT_GE(duration, static_cast<double>(expected_48k) / 48000 - 0.0005) << probe.output;
  EXPECT_LE(duration, static_cast<double>(expected_48k + pre_skip) / 48000 + 0.0005)
      << probe.output;
  size_t dump = probe.output.find("00000000: ");
  ASSERT_NE(dump, std::string::npos) << probe.output;
  std::istringstream hex(probe.output.substr(dump + 10, 39));
  std::vector<unsigned> head_bytes;
  for (std::string word; hex >> word && head_bytes.size() < 16;) {
    unsigned v = std::stoul(word, nullptr, 16);
    head_bytes.push_back(v >> 8);
    head_bytes.push_back(v & 0xFF);
  }
  ASSERT_EQ(head_bytes.size(), 16u);
  EXPECT_EQ(
      head_bytes[12] | (head_bytes[13] << 8) | (head_bytes[14] << 16) | (head_bytes[15] << 24),
      static_cast<unsigned>(c.rate))
      << "original rate in OpusHead";

  // The audio: compare with the input brought to 48 kHz by soxr (time-aligned).
  std::vector<float> reference = ToFloat(*input);
  if (c.rate != 48000) {
    Result<Resampler> r = Resampler::Create(c.rate, 48000, c.channels);
    ASSERT_TRUE(r.ok());
    std::vector<float> up;
    ASSERT_TRUE(r->Process(reference.data(), input->frames, &up).ok());
    ASSERT_TRUE(r->Flush(&up).ok());
    reference = std::move(up);
  }
  std::vector<float> output = ToFloat(*decoded);
  int best_lag = 0;
  double best = -1;
  for (int lag = -48; lag <= 48; ++lag) {
    double r = Correlation(reference, output, c.channels, lag);
    if (r > best) best = r, best_lag = lag;
  }
  const double at_zero = Correlation(reference, output, c.channels, 0);
  // Time alignment: the decoded audio lines up with the input. Opus is not
  // phase-exact: measured here, the correlation peak sits 2–10 samples at
  // 48 kHz (under 0.2 ms) from lag 0 for speech and the tone, the same with and
  // without our resampler (48 kHz input). The mistakes this guards against are
  // far larger: a pre-skip off by the encoder lookahead is 312 samples, an
  // uncompensated soxr filter delay 700–3500 (soxr_delay()). So: |best lag| <= 16.
  EXPECT_LE(std::abs(best_lag), 16) << "best lag " << best_lag << " (r=" << best << ")";
  // Fidelity: Opus at 32 kb/s is perceptual, not waveform-exact; measured
  // here the correlation peaks at 0.94–0.97 and is 0.84–0.93 at lag 0 for
  // both signals. 0.9 at the peak and 0.8 at lag 0 fail for a wrong channel
  // order, a sign flip, dropped or duplicated frames, or noise, while leaving
  // room for codec and library version differences.
  EXPECT_GE(best, 0.9) << name << " peak correlation";
  EXPECT_GE(at_zero, 0.8) << name << " correlation at lag 0";
  std::printf("%s: %lld samples at 48 kHz, correlation %.4f, best lag %d\n", name.c_str(),
              static_cast<long long>(expected_48k), at_zero, best_lag);
}

// An encode stream (EncodeSession: what the daemon runs for STREAM_PUSH),
// fed as raw PCM in every chunking — a byte at a time, 7 bytes, one frame,
// 4096 frames, everything at once — and as a WAV: each result passes
// opusinfo and decodes with opusdec to exactly the whole-file encode's
// audio, sample for sample, ceil(N × 48000 / rate) samples long.
TEST_P(CodecInterop, StreamedInAnyChunkingDecodesToTheWholeFileAudio) {
  const InteropCase& c = GetParam();
  const fs::path dir = TempDir();
  const std::string name = CaseName(c) + ".stream";
  std::vector<uint8_t> wav = MakeInput(dir);
  Result<WavView> input = ParseWav(wav);
  ASSERT_TRUE(input.ok()) << input.error().message;
  const int64_t expected_48k =
      static_cast<int64_t>((input->frames * 48000 + c.rate - 1) / static_cast<uint64_t>(c.rate));

  auto decode = [&](const std::vector<uint8_t>& ogg, const std::string& tag) {
    const fs::path opus = dir / (name + tag + ".opus");
    const fs::path out = dir / (name + tag + ".wav");
    WriteFile(opus, ogg);
    Ran info = RunCommand("opusinfo " + opus.string());
    EXPECT_EQ(info.status, 0) << tag << info.output;
    EXPECT_THAT(info.output, Not(HasSubstr("WARNING"))) << tag;
    EXPECT_THAT(info.output, Not(HasSubstr("ERROR"))) << tag;
    Ran dec = RunCommand("opusdec --quiet --rate 48000 " + opus.string() + " " + out.string());
    EXPECT_EQ(dec.status, 0) << tag << dec.output;
    return ReadFile(out);
  };
  VectorSink whole;
  ASSERT_TRUE(EncodeWavToOggOpus(wav, OpusParams{}, &whole).ok());
  const std::vector<uint8_t> whole_audio = decode(whole.bytes(), ".whole");
  Result<WavView> whole_view = ParseWav(whole_audio);
  ASSERT_TRUE(whole_view.ok());
  ASSERT_EQ(static_cast<int64_t>(whole_view->frames), expected_48k);

  const size_t frame = static_cast<size_t>(input->format.bytes_per_frame());
  for (size_t chunk : {size_t{1}, size_t{7}, frame, frame * 4096, wav.size()}) {
    for (bool as_wav : {false, true}) {
      if (chunk == 1 && as_wav) continue;  // the raw byte-at-a-time run covers it
      const std::string tag = "." + std::to_string(chunk) + (as_wav ? "wav" : "raw");
      EncodeSessionSpec spec;
      if (!as_wav) spec.raw = input->format;
      Result<std::unique_ptr<EncodeSession>> session = EncodeSession::Create(spec);
      ASSERT_TRUE(session.ok());
      const std::span<const uint8_t> bytes = as_wav ? std::span<const uint8_t>(wav) : input->data;
      std::vector<uint8_t> ogg;
      for (size_t at = 0; at < bytes.size(); at += chunk) {
        ASSERT_TRUE(
            (*session)->Push(bytes.subspan(at, std::min(chunk, bytes.size() - at)), &ogg).ok());
      }
      ASSERT_TRUE((*session)->Finish(&ogg).ok());
      EXPECT_EQ(decode(ogg, tag), whole_audio) << tag << ": decoded audio differs";
    }
  }
}

std::vector<InteropCase> AllCases() {
  std::vector<InteropCase> cases;
  for (bool speech : {true, false}) {
    for (int rate : {8000, 16000, 22050, 24000, 44100, 48000}) {
      for (int channels : {1, 2}) cases.push_back({rate, channels, speech});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Decoders, CodecInterop, ::testing::ValuesIn(AllCases()),
                         [](const auto& info) { return CaseName(info.param); });

}  // namespace
}  // namespace ttscache
