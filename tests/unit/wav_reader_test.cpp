// The WAV reader: every supported variant parses to the right format and
// samples; every malformed case gives its own error naming field and value.
#include "core/audio/wav_reader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/wav_builder.hpp"

namespace ttscache {
namespace {

using testing::Chunk;
using ::testing::HasSubstr;
using testing::MakeWav;
using testing::WavSpec;

std::vector<float> Ramp(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = -0.9f + 1.8f * static_cast<float>(i) / n;
  return v;
}

struct GoodCase {
  const char* name;
  WavSpec spec;
  SampleEncoding encoding;
};

void PrintTo(const GoodCase& c, std::ostream* os) { *os << c.name; }

class WavVariants : public ::testing::TestWithParam<GoodCase> {};

TEST_P(WavVariants, ParseWithoutCopyingAndConvertBack) {
  const GoodCase& c = GetParam();
  const size_t frames = 101;  // odd, so 8-bit mono data needs a pad byte
  std::vector<float> samples = Ramp(frames * c.spec.channels);
  std::vector<uint8_t> pcm = testing::EncodeSamples(c.spec, samples);
  std::vector<uint8_t> wav = MakeWav(c.spec, pcm);

  Result<WavView> view = ParseWav(wav);
  ASSERT_TRUE(view.ok()) << view.error().message;
  EXPECT_EQ(view->format.encoding, c.encoding);
  EXPECT_EQ(view->format.channels, c.spec.channels);
  EXPECT_EQ(view->format.sample_rate, static_cast<int>(c.spec.rate));
  EXPECT_EQ(view->frames, frames);
  // The view points into the caller's buffer: no copy was made.
  EXPECT_GE(view->data.data(), wav.data());
  EXPECT_LE(view->data.data() + view->data.size(), wav.data() + wav.size());

  std::vector<float> back(samples.size());
  PcmToFloat(view->format, view->data, back.data());
  const float tolerance = c.spec.bits == 8 ? 1.0f / 100 : 1e-4f;
  for (size_t i = 0; i < samples.size(); ++i) {
    ASSERT_NEAR(back[i], samples[i], tolerance) << "sample " << i;
  }
}

WavSpec Spec(uint16_t tag, uint16_t bits, uint16_t channels = 1, uint32_t rate = 22050) {
  WavSpec s;
  s.tag = tag;
  s.bits = bits;
  s.channels = channels;
  s.rate = rate;
  return s;
}

WavSpec With(WavSpec s, auto change) {
  change(s);
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Table, WavVariants,
    ::testing::Values(
        GoodCase{"pcm8", Spec(1, 8), SampleEncoding::kUnsigned8},
        GoodCase{"pcm16", Spec(1, 16), SampleEncoding::kSigned16},
        GoodCase{"pcm24", Spec(1, 24), SampleEncoding::kSigned24},
        GoodCase{"pcm32", Spec(1, 32), SampleEncoding::kSigned32},
        GoodCase{"float32", Spec(3, 32), SampleEncoding::kFloat32},
        GoodCase{"float64", Spec(3, 64), SampleEncoding::kFloat64},
        GoodCase{"stereo16", Spec(1, 16, 2, 44100), SampleEncoding::kSigned16},
        GoodCase{"stereo8", Spec(1, 8, 2, 8000), SampleEncoding::kUnsigned8},
        GoodCase{"rate192k", Spec(1, 16, 1, 192000), SampleEncoding::kSigned16},
        GoodCase{"ext_pcm24", With(Spec(1, 24, 2), [](WavSpec& s) { s.extensible = true; }),
                 SampleEncoding::kSigned24},
        GoodCase{"ext_float32", With(Spec(3, 32), [](WavSpec& s) { s.extensible = true; }),
                 SampleEncoding::kFloat32},
        GoodCase{"streaming_ffffffff",
                 With(Spec(1, 16),
                      [](WavSpec& s) {
                        s.riff_size = 0xFFFFFFFF;
                        s.data_size = 0xFFFFFFFF;
                      }),
                 SampleEncoding::kSigned16},
        GoodCase{"streaming_zero",
                 With(Spec(1, 16),
                      [](WavSpec& s) {
                        s.riff_size = 0;
                        s.data_size = 0;
                      }),
                 SampleEncoding::kSigned16},
        GoodCase{"chunks_skipped",
                 With(Spec(1, 16),
                      [](WavSpec& s) {
                        s.before_fmt = {Chunk{"JUNK", std::vector<uint8_t>(7, 0xAB), {}}};
                        s.between = {Chunk{"LIST", std::vector<uint8_t>(13, 'x'), {}},
                                     Chunk{"fact", {4, 0, 0, 0}, {}},
                                     Chunk{"cue ", std::vector<uint8_t>(28, 0), {}}};
                        s.after_data = {Chunk{"LIST", std::vector<uint8_t>(5, 'y'), {}}};
                      }),
                 SampleEncoding::kSigned16},
        GoodCase{"data_before_fmt", With(Spec(1, 8), [](WavSpec& s) { s.data_before_fmt = true; }),
                 SampleEncoding::kUnsigned8},
        GoodCase{"riff_size_short_with_trailing_junk",
                 With(Spec(1, 16),
                      [](WavSpec& s) {
                        s.after_data = {Chunk{"junk", {1, 2, 3}, {0x7FFFFFF0}}};
                      }),
                 SampleEncoding::kSigned16}));

struct BadCase {
  const char* name;
  std::vector<uint8_t> bytes;
  const char* expected;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class WavErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(WavErrors, EachHasItsOwnMessage) {
  const BadCase& c = GetParam();
  Result<WavView> view = ParseWav(c.bytes);
  ASSERT_FALSE(view.ok()) << c.name;
  EXPECT_EQ(view.error().code, Errc::kBadAudio);
  EXPECT_THAT(view.error().message, HasSubstr(c.expected)) << c.name;
}

std::vector<uint8_t> Pcm16(size_t frames, int channels = 1) {
  return std::vector<uint8_t>(frames * 2 * channels, 0x10);
}

std::vector<uint8_t> Patched(std::vector<uint8_t> v, size_t offset, std::vector<uint8_t> bytes) {
  std::copy(bytes.begin(), bytes.end(), v.begin() + static_cast<long>(offset));
  return v;
}

std::vector<uint8_t> Truncated(std::vector<uint8_t> v, size_t keep) {
  v.resize(keep);
  return v;
}

const std::vector<uint8_t> kGood = MakeWav(WavSpec{}, Pcm16(100));

INSTANTIATE_TEST_SUITE_P(
    Table, WavErrors,
    ::testing::Values(
        BadCase{"empty", {}, "file is 0 bytes, expected a RIFF header of 12"},
        BadCase{"not_riff", Patched(kGood, 0, {'R', 'I', 'F', 'G'}),
                "not RIFF: file starts with 'RIFG', expected 'RIFF'"},
        BadCase{"rifx", Patched(kGood, 0, {'R', 'I', 'F', 'X'}), "big-endian RIFX"},
        BadCase{"ogg", Patched(kGood, 0, {'O', 'g', 'g', 'S'}), "this is an Ogg file"},
        BadCase{"not_wave", Patched(kGood, 8, {'A', 'V', 'I', ' '}),
                "not WAVE: RIFF form type is 'AVI ', expected 'WAVE'"},
        BadCase{"no_fmt", MakeWav(With(WavSpec{}, [](WavSpec& s) { s.omit_fmt = true; }), Pcm16(4)),
                "no fmt chunk"},
        BadCase{"no_data", MakeWav(With(WavSpec{}, [](WavSpec& s) { s.omit_data = true; }), {}),
                "no data chunk"},
        BadCase{"mp3", MakeWav(Spec(0x55, 16), Pcm16(4)), "unsupported format tag 0x0055 (MP3)"},
        BadCase{"adpcm", MakeWav(Spec(2, 16), Pcm16(4)),
                "unsupported format tag 0x0002 (Microsoft ADPCM)"},
        BadCase{"mulaw", MakeWav(Spec(7, 8), Pcm16(4)), "0x0007 (µ-law)"},
        BadCase{"ext_mp3",
                MakeWav(With(Spec(0x55, 16), [](WavSpec& s) { s.extensible = true; }), Pcm16(4)),
                "unsupported format tag 0x0055 (MP3)"},
        BadCase{"six_channels", MakeWav(Spec(1, 16, 6), Pcm16(4, 6)),
                "channels = 6, expected 1 or 2"},
        BadCase{"zero_channels", MakeWav(Spec(1, 16, 0), {}), "channels = 0, expected 1 or 2"},
        BadCase{"pcm12", MakeWav(With(Spec(1, 12), [](WavSpec& s) { s.block_align = 2; }), {}),
                "bits per sample 12 for PCM, expected 8, 16, 24 or 32"},
        BadCase{"float16", MakeWav(Spec(3, 16), Pcm16(4)),
                "bits per sample 16 for IEEE float, expected 32 or 64"},
        BadCase{"block_align",
                MakeWav(With(Spec(1, 16, 2), [](WavSpec& s) { s.block_align = 3; }), Pcm16(4, 2)),
                "block align mismatch: header says 3, expected 4 (2 channels × 16 bits)"},
        BadCase{"rate_zero", MakeWav(Spec(1, 16, 1, 0), Pcm16(4)), "sample rate 0"},
        BadCase{"rate_low", MakeWav(Spec(1, 16, 1, 4000), Pcm16(4)),
                "sample rate 4000 Hz, expected 8000–192000 Hz"},
        BadCase{"rate_high", MakeWav(Spec(1, 16, 1, 384000), Pcm16(4)), "sample rate 384000 Hz"},
        BadCase{"truncated_data", Truncated(kGood, kGood.size() - 50),
                "truncated data chunk: header says 200 bytes, 150 present"},
        BadCase{"data_size_huge",
                MakeWav(With(WavSpec{}, [](WavSpec& s) { s.data_size = 0xFFFFFFFE; }), Pcm16(10)),
                "truncated data chunk: header says 4294967294 bytes, 20 present"},
        BadCase{"partial_frame", MakeWav(Spec(1, 16, 2), Pcm16(5, 1)),
                "data chunk of 10 bytes is not a whole number of 4-byte frames"},
        BadCase{"short_fmt",
                MakeWav(With(WavSpec{},
                             [](WavSpec& s) {
                               s.omit_fmt = true;
                               s.before_fmt = {Chunk{"fmt ", {1, 0, 1, 0}, {}}};
                             }),
                        Pcm16(4)),
                "fmt chunk is 4 bytes, expected at least 16"},
        BadCase{"truncated_fmt", Truncated(kGood, 30), "truncated fmt chunk: header says 16 bytes"},
        BadCase{"truncated_list",
                MakeWav(With(WavSpec{},
                             [](WavSpec& s) {
                               s.before_fmt = {Chunk{"LIST", {1, 2}, {0xFFFFFFF0}}};
                             }),
                        Pcm16(4)),
                "truncated 'LIST' chunk at offset 12: header says 4294967280 bytes"},
        BadCase{"binary_chunk_id", Patched(Truncated(kGood, 24), 12, {0xFF, 0, 'x', 1}),
                "truncated '\\xFF\\x00x\\x01' chunk at offset 12"},
        BadCase{"ext_short", Patched(MakeWav(Spec(1, 16), Pcm16(4)), 20, {0xFE, 0xFF}),
                "WAVE_FORMAT_EXTENSIBLE fmt chunk is 16 bytes, expected at least 40"},
        BadCase{
            "ext_bad_guid",
            Patched(MakeWav(With(Spec(1, 16), [](WavSpec& s) { s.extensible = true; }), Pcm16(4)),
                    46, {0x12}),
            "subformat is not a KSDATAFORMAT_SUBTYPE GUID"}));

TEST(WaveFormatTagName, NamesCommonTags) {
  EXPECT_STREQ(WaveFormatTagName(0x0055), "MP3");
  EXPECT_STREQ(WaveFormatTagName(0x0002), "Microsoft ADPCM");
  EXPECT_STREQ(WaveFormatTagName(0x1234), "unknown");
}

}  // namespace
}  // namespace ttscache
