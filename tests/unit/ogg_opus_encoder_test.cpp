// The encoder and its Ogg encapsulation, checked in-process against RFC 7845:
// header pages, granule positions, end trimming, page flushing, incremental
// output. Real decoders check the same output in tests/interop.
#include "core/audio/ogg_opus_encoder.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opus.h>

#include "core/audio/resampler.hpp"
#include "core/audio/wav_reader.hpp"
#include "tests/support/ogg_pages.hpp"
#include "tests/support/wav_builder.hpp"
#include "ttscache/build_info.hpp"

namespace ttscache {
namespace {

using ::testing::HasSubstr;
using testing::OggPageInfo;

std::vector<uint8_t> ToneWav(int rate, int channels, double seconds, uint16_t bits = 16,
                             uint16_t tag = 1) {
  testing::WavSpec spec;
  spec.rate = static_cast<uint32_t>(rate);
  spec.channels = static_cast<uint16_t>(channels);
  spec.bits = bits;
  spec.tag = tag;
  return testing::MakeWav(
      spec, testing::EncodeSamples(spec, testing::HarmonicSignal(rate, channels, seconds)));
}

uint32_t Le32(const std::vector<uint8_t>& v, size_t at) {
  return v[at] | (v[at + 1] << 8) | (v[at + 2] << 16) | (uint32_t{v[at + 3]} << 24);
}

int64_t ExpectedDecodedLength(uint64_t frames, int rate) {
  return static_cast<int64_t>((frames * 48000 + rate - 1) / rate);
}

struct RateCase {
  int rate;
  int channels;
  double seconds;
};

class EncoderStructure : public ::testing::TestWithParam<RateCase> {};

TEST_P(EncoderStructure, FollowsRfc7845) {
  const RateCase c = GetParam();
  std::vector<uint8_t> wav = ToneWav(c.rate, c.channels, c.seconds);
  const uint64_t frames = ParseWav(wav)->frames;
  VectorSink sink;
  ASSERT_TRUE(EncodeWavToOggOpus(wav, OpusParams{}, &sink).ok());

  bool ok = false;
  std::vector<OggPageInfo> pages = testing::SplitOgg(sink.bytes(), &ok);
  ASSERT_TRUE(ok);
  ASSERT_GE(pages.size(), 3u);

  // OpusHead alone on the BOS page.
  ASSERT_TRUE(pages[0].bos);
  ASSERT_EQ(pages[0].packets.size(), 1u);
  const std::vector<uint8_t>& head = pages[0].packets[0].bytes;
  ASSERT_EQ(head.size(), 19u);
  EXPECT_EQ(std::string(head.begin(), head.begin() + 8), "OpusHead");
  EXPECT_EQ(head[8], 1);  // version
  EXPECT_EQ(head[9], c.channels);
  const int pre_skip = head[10] | (head[11] << 8);
  EXPECT_GT(pre_skip, 0);
  EXPECT_EQ(Le32(head, 12), static_cast<uint32_t>(c.rate));  // the original rate
  EXPECT_EQ(head[16] | (head[17] << 8), 0);                  // output gain
  EXPECT_EQ(head[18], 0);                                    // mapping family
  EXPECT_EQ(pages[0].granule, 0);

  // OpusTags completing its own page.
  ASSERT_EQ(pages[1].packets.size(), 1u);
  EXPECT_FALSE(pages[1].bos);
  const std::vector<uint8_t>& tags = pages[1].packets[0].bytes;
  EXPECT_EQ(std::string(tags.begin(), tags.begin() + 8), "OpusTags");
  const uint32_t vendor_length = Le32(tags, 8);
  EXPECT_EQ(std::string(tags.begin() + 12, tags.begin() + 12 + vendor_length),
            opus_get_version_string());
  const size_t comments_at = 12 + vendor_length;
  EXPECT_EQ(Le32(tags, comments_at), 1u);
  const uint32_t comment_length = Le32(tags, comments_at + 4);
  EXPECT_EQ(
      std::string(tags.begin() + comments_at + 8, tags.begin() + comments_at + 8 + comment_length),
      std::string("ENCODER=ttscache ") + build::kVersion);
  EXPECT_EQ(pages[1].granule, 0);

  // Audio: no empty packets, granules grow, a page at least every second,
  // the last page ends the stream with the trimmed granule.
  int64_t previous = 0;
  for (size_t i = 2; i < pages.size(); ++i) {
    for (const auto& packet : pages[i].packets) EXPECT_FALSE(packet.bytes.empty());
    EXPECT_EQ(pages[i].serial, pages[0].serial);
    if (pages[i].packets_completed > 0) {
      EXPECT_GE(pages[i].granule, previous) << "page " << i;
      EXPECT_LE(pages[i].granule - previous, 48000 + 960) << "page " << i;
      previous = pages[i].granule;
    }
    EXPECT_EQ(pages[i].eos, i + 1 == pages.size());
  }
  EXPECT_EQ(pages.back().granule, pre_skip + ExpectedDecodedLength(frames, c.rate));

  // The packets really cover the trimmed length: decode them with libopus.
  int error = 0;
  OpusDecoder* decoder = opus_decoder_create(48000, c.channels, &error);
  ASSERT_EQ(error, OPUS_OK);
  std::vector<float> pcm(5760 * c.channels);
  int64_t decoded = 0;
  for (size_t i = 2; i < pages.size(); ++i) {
    for (const auto& packet : pages[i].packets) {
      int n = opus_decode_float(decoder, packet.bytes.data(),
                                static_cast<opus_int32>(packet.bytes.size()), pcm.data(), 5760, 0);
      ASSERT_GT(n, 0);
      decoded += n;
    }
  }
  opus_decoder_destroy(decoder);
  EXPECT_GE(decoded, pages.back().granule);
  EXPECT_LT(decoded - pages.back().granule, 960) << "more than one frame of padding";
}

INSTANTIATE_TEST_SUITE_P(
    Rates, EncoderStructure,
    ::testing::Values(RateCase{8000, 1, 0.5}, RateCase{16000, 2, 1.3}, RateCase{22050, 1, 2.7},
                      RateCase{24000, 1, 0.02}, RateCase{44100, 2, 1.0}, RateCase{48000, 1, 3.1},
                      RateCase{11025, 1, 0.4}, RateCase{96000, 2, 0.3}, RateCase{22050, 1, 0.0005}),
    [](const auto& info) {
      return std::to_string(info.param.rate) + "Hz" + std::to_string(info.param.channels) + "ch" +
             std::to_string(static_cast<int>(info.param.seconds * 10000)) + "e4s";
    });

TEST(Encoder, EverySampleFormatEncodes) {
  for (auto [bits, tag] : std::vector<std::pair<uint16_t, uint16_t>>{
           {8, 1}, {16, 1}, {24, 1}, {32, 1}, {32, 3}, {64, 3}}) {
    VectorSink sink;
    Status s = EncodeWavToOggOpus(ToneWav(22050, 2, 0.3, bits, tag), OpusParams{}, &sink);
    EXPECT_TRUE(s.ok()) << bits << "-bit tag " << tag << ": " << (s ? "" : s.error().message);
  }
}

TEST(Encoder, EveryParameterCombinationEncodes) {
  std::vector<uint8_t> wav = ToneWav(24000, 1, 0.5);
  for (int frame_us : {2500, 5000, 10000, 20000, 40000, 60000}) {
    for (VbrMode vbr : {VbrMode::kOn, VbrMode::kOff, VbrMode::kConstrained}) {
      for (OpusApplication app :
           {OpusApplication::kVoip, OpusApplication::kAudio, OpusApplication::kLowDelay}) {
        OpusParams p{6 + frame_us % 500, vbr, app, frame_us % 11, frame_us};
        VectorSink sink;
        ASSERT_TRUE(EncodeWavToOggOpus(wav, p, &sink).ok()) << VariantTag(p);
        bool ok = false;
        auto pages = testing::SplitOgg(sink.bytes(), &ok);
        ASSERT_TRUE(ok);
        const int pre_skip = pages[0].packets[0].bytes[10] | (pages[0].packets[0].bytes[11] << 8);
        EXPECT_EQ(pages.back().granule, pre_skip + ExpectedDecodedLength(12000, 24000))
            << VariantTag(p);
      }
    }
  }
}

TEST(Encoder, RefusesBadParametersAndEmptyAudio) {
  VectorSink sink;
  OpusParams p;
  p.bitrate_kbps = 900;
  Status s = EncodeWavToOggOpus(ToneWav(22050, 1, 0.1), p, &sink);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(s.error().message, HasSubstr("6–510"));

  testing::WavSpec spec;
  s = EncodeWavToOggOpus(testing::MakeWav(spec, {}), OpusParams{}, &sink);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kBadAudio);
  EXPECT_THAT(s.error().message, HasSubstr("no samples"));
  EXPECT_TRUE(sink.bytes().empty()) << "nothing is written for a refused input";
}

TEST(Encoder, SerialNumbersAreRandom) {
  std::vector<uint8_t> wav = ToneWav(16000, 1, 0.1);
  VectorSink a, b;
  ASSERT_TRUE(EncodeWavToOggOpus(wav, OpusParams{}, &a).ok());
  ASSERT_TRUE(EncodeWavToOggOpus(wav, OpusParams{}, &b).ok());
  bool ok = false;
  EXPECT_NE(testing::SplitOgg(a.bytes(), &ok)[0].serial,
            testing::SplitOgg(b.bytes(), &ok)[0].serial);
}

TEST(Encoder, PcmInAnyChunkingGivesTheSameBytes) {
  std::vector<uint8_t> wav = ToneWav(22050, 2, 1.1, 24);
  WavView view = ParseWav(wav).value();
  EncoderOptions options;
  options.serial = 1234;
  VectorSink whole;
  ASSERT_TRUE(EncodeWavToOggOpus(wav, OpusParams{}, &whole, options).ok());

  VectorSink pieces;
  Result<OggOpusEncoder> encoder =
      OggOpusEncoder::Create(view.format, OpusParams{}, &pieces, options);
  ASSERT_TRUE(encoder.ok());
  for (size_t at = 0; at < view.data.size(); at += 7) {  // 7 bytes: never a whole frame
    ASSERT_TRUE(
        encoder->PushPcm(view.data.subspan(at, std::min<size_t>(7, view.data.size() - at))).ok());
  }
  ASSERT_TRUE(encoder->Finish().ok());
  EXPECT_EQ(encoder->input_frames(), view.frames);
  EXPECT_EQ(pieces.bytes(), whole.bytes());
}

TEST(Encoder, IncrementalModeEmitsPagesBeforeTheLastChunk) {
  std::vector<uint8_t> wav = ToneWav(22050, 1, 2.0);
  WavView view = ParseWav(wav).value();
  EncoderOptions streaming;
  streaming.pages = PageFlush::kEveryPacket;
  VectorSink sink;
  Result<OggOpusEncoder> encoder =
      OggOpusEncoder::Create(view.format, OpusParams{}, &sink, streaming);
  ASSERT_TRUE(encoder.ok());
  const size_t headers = sink.bytes().size();
  const size_t chunk = 2205 * 2;  // 100 ms of s16 mono, as a TTS engine might emit
  bool ok = false;
  ASSERT_TRUE(encoder->PushPcm(view.data.subspan(0, chunk)).ok());
  std::vector<OggPageInfo> after_first = testing::SplitOgg(sink.bytes(), &ok);
  ASSERT_GT(sink.bytes().size(), headers) << "no audio page after the first chunk";
  ASSERT_GE(after_first.size(), 3u);
  EXPECT_GT(after_first[2].granule, 0);
  for (size_t at = chunk; at < view.data.size(); at += chunk) {
    ASSERT_TRUE(
        encoder->PushPcm(view.data.subspan(at, std::min(chunk, view.data.size() - at))).ok());
  }
  ASSERT_TRUE(encoder->Finish().ok());

  VectorSink whole;
  ASSERT_TRUE(EncodeWavToOggOpus(wav, OpusParams{}, &whole).ok());
  std::vector<OggPageInfo> streamed = testing::SplitOgg(sink.bytes(), &ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(streamed.back().granule, testing::SplitOgg(whole.bytes(), &ok).back().granule);
  // One packet per page in streaming mode.
  for (size_t i = 2; i < streamed.size(); ++i) EXPECT_EQ(streamed[i].packets.size(), 1u);
}

TEST(Encoder, TruncatedFrameAtFinishIsAnError) {
  PcmFormat format{SampleEncoding::kSigned16, 2, 24000};
  VectorSink sink;
  Result<OggOpusEncoder> encoder = OggOpusEncoder::Create(format, OpusParams{}, &sink);
  ASSERT_TRUE(encoder.ok());
  std::vector<uint8_t> pcm(4 * 100 + 3, 0);
  ASSERT_TRUE(encoder->PushPcm(pcm).ok());
  Status s = encoder->Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kBadAudio);
  EXPECT_THAT(s.error().message, HasSubstr("3 bytes of a 4-byte frame"));
}

TEST(Encoder, SpanSinkReportsTheSizeItNeeds) {
  std::vector<uint8_t> wav = ToneWav(24000, 1, 0.5);
  EncoderOptions options;
  options.serial = 7;
  VectorSink reference;
  ASSERT_TRUE(EncodeWavToOggOpus(wav, OpusParams{}, &reference, options).ok());

  std::vector<uint8_t> small(100);
  SpanSink too_small(small);
  ASSERT_TRUE(EncodeWavToOggOpus(wav, OpusParams{}, &too_small, options).ok());
  EXPECT_TRUE(too_small.overflowed());
  EXPECT_EQ(too_small.needed(), reference.bytes().size());

  std::vector<uint8_t> big(reference.bytes().size());
  SpanSink fits(big);
  ASSERT_TRUE(EncodeWavToOggOpus(wav, OpusParams{}, &fits, options).ok());
  EXPECT_FALSE(fits.overflowed());
  EXPECT_EQ(big, reference.bytes());
}

TEST(Resampler, OutputLengthAndAlignment) {
  // An impulse in the middle stays in the middle after 22050 → 24000.
  std::vector<float> in(22050, 0.0f);
  in[11025] = 1.0f;
  Result<Resampler> r = Resampler::Create(22050, 24000, 1);
  ASSERT_TRUE(r.ok());
  std::vector<float> out;
  ASSERT_TRUE(r->Process(in.data(), 5000, &out).ok());
  ASSERT_TRUE(r->Process(in.data() + 5000, in.size() - 5000, &out).ok());
  ASSERT_TRUE(r->Flush(&out).ok());
  EXPECT_NEAR(static_cast<double>(out.size()), 24000.0, 1.0);
  size_t peak = std::max_element(out.begin(), out.end()) - out.begin();
  EXPECT_NEAR(static_cast<double>(peak), 12000.0, 1.0);
  EXPECT_EQ(OpusRateFor(22050), 24000);
  EXPECT_EQ(OpusRateFor(44100), 48000);
  EXPECT_EQ(OpusRateFor(8000), 8000);
  EXPECT_EQ(OpusRateFor(11025), 12000);
  EXPECT_EQ(OpusRateFor(96000), 48000);
}

}  // namespace
}  // namespace ttscache
