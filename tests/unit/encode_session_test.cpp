// EncodeSession: a streamed encode gives the same Opus packets as the
// whole-file encoder for every rate, channel count and chunking; its pages
// leave as pushes complete them; a streamed WAV's header is checked like a
// whole one; limits and truncation are errors that name what was wrong.
#include "core/audio/encode_session.hpp"

#include <gtest/gtest.h>

#include "core/audio/ogg_opus_encoder.hpp"
#include "core/audio/wav_reader.hpp"
#include "tests/support/ogg_pages.hpp"
#include "tests/support/wav_builder.hpp"

namespace ttscache {
namespace {

using testing::OggPageInfo;

std::vector<uint8_t> ToneWav(int rate, int channels, double seconds) {
  testing::WavSpec spec;
  spec.rate = static_cast<uint32_t>(rate);
  spec.channels = static_cast<uint16_t>(channels);
  return testing::MakeWav(
      spec, testing::EncodeSamples(spec, testing::HarmonicSignal(rate, channels, seconds)));
}

std::vector<std::vector<uint8_t>> AudioPackets(const std::vector<uint8_t>& ogg, int64_t* last) {
  bool ok = false;
  std::vector<OggPageInfo> pages = testing::SplitOgg(ogg, &ok);
  EXPECT_TRUE(ok);
  std::vector<std::vector<uint8_t>> packets;
  for (size_t i = 2; i < pages.size(); ++i) {
    for (auto& p : pages[i].packets) packets.push_back(p.bytes);
  }
  *last = pages.empty() ? -1 : pages.back().granule;
  return packets;
}

struct Streamed {
  std::vector<uint8_t> ogg;
  std::vector<size_t> bytes_per_push;
  uint64_t samples_48k = 0;
};

Streamed StreamInChunks(const EncodeSessionSpec& spec, std::span<const uint8_t> input,
                        size_t chunk) {
  Streamed out;
  auto session = EncodeSession::Create(spec);
  EXPECT_TRUE(session.ok());
  if (!session.ok()) return out;
  for (size_t at = 0; at < input.size(); at += chunk) {
    const size_t before = out.ogg.size();
    Status s = (*session)->Push(input.subspan(at, std::min(chunk, input.size() - at)), &out.ogg);
    EXPECT_TRUE(s.ok()) << s.error().message;
    out.bytes_per_push.push_back(out.ogg.size() - before);
  }
  Status s = (*session)->Finish(&out.ogg);
  EXPECT_TRUE(s.ok()) << s.error().message;
  out.samples_48k = (*session)->decoded_samples_48k();
  return out;
}

struct Case {
  int rate, channels;
};

class SessionMatchesWholeFile : public ::testing::TestWithParam<Case> {};

// Same packets (so the same decoded audio, sample for sample) and the same
// end granule (so the same length) as the whole-file encode, whatever the
// chunking: a byte at a time, odd sizes, one frame, 4096 samples, all at once.
TEST_P(SessionMatchesWholeFile, ForEveryChunking) {
  const Case c = GetParam();
  const std::vector<uint8_t> wav = ToneWav(c.rate, c.channels, 0.45);
  const WavView view = ParseWav(wav).value();
  EncoderOptions options;
  options.serial = 77;
  VectorSink whole;
  ASSERT_TRUE(EncodeWavToOggOpus(wav, OpusParams{}, &whole, options).ok());
  int64_t whole_end = 0;
  const auto whole_packets = AudioPackets(whole.bytes(), &whole_end);
  const uint64_t expected_48k = (view.frames * 48000 + c.rate - 1) / c.rate;

  const size_t frame = static_cast<size_t>(view.format.bytes_per_frame());
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{1001}, frame, frame * 4096, wav.size()}) {
    for (bool as_wav : {false, true}) {
      SCOPED_TRACE("chunk " + std::to_string(chunk) + (as_wav ? " WAV" : " raw"));
      EncodeSessionSpec spec;
      spec.serial = 77;
      if (!as_wav) spec.raw = view.format;
      Streamed s = StreamInChunks(spec, as_wav ? std::span<const uint8_t>(wav) : view.data, chunk);
      int64_t end = 0;
      EXPECT_EQ(AudioPackets(s.ogg, &end), whole_packets);
      EXPECT_EQ(end, whole_end);
      EXPECT_EQ(s.samples_48k, expected_48k);
      bool ok = false;
      std::vector<OggPageInfo> pages = testing::SplitOgg(s.ogg, &ok);
      ASSERT_GE(pages.size(), 3u);
      EXPECT_EQ(end - 312, static_cast<int64_t>(expected_48k)) << "pre-skip 312 at 48/24/16 kHz";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(RatesAndChannels, SessionMatchesWholeFile,
                         ::testing::Values(Case{8000, 1}, Case{16000, 2}, Case{22050, 1},
                                           Case{22050, 2}, Case{24000, 1}, Case{44100, 2},
                                           Case{48000, 1}, Case{11025, 1}));

// The first audio page holds one packet and leaves with the push that
// completed it; each later push's packets leave with that push.
TEST(EncodeSession, FirstPacketLeavesAloneThenAPagePerPush) {
  const std::vector<uint8_t> wav = ToneWav(22050, 1, 2.0);
  const WavView view = ParseWav(wav).value();
  EncodeSessionSpec spec;
  spec.raw = view.format;
  auto session = EncodeSession::Create(spec).value();
  std::vector<uint8_t> out;
  // 60 ms of input: enough for the resampler and the encoder's lookahead.
  const size_t first = 1323 * 2;
  ASSERT_TRUE(session->Push(view.data.first(first), &out).ok());
  bool ok = false;
  std::vector<OggPageInfo> pages = testing::SplitOgg(out, &ok);
  ASSERT_TRUE(ok);
  ASSERT_GE(pages.size(), 3u) << "no audio page after the first 60 ms";
  EXPECT_EQ(pages[2].packets.size(), 1u) << "the first audio page holds one packet";
  const size_t chunk = 4096 * 2;
  for (size_t at = first; at + chunk <= view.data.size(); at += chunk) {
    const size_t pages_before = testing::SplitOgg(out, &ok).size();
    ASSERT_TRUE(session->Push(view.data.subspan(at, chunk), &out).ok());
    std::vector<OggPageInfo> p = testing::SplitOgg(out, &ok);
    ASSERT_TRUE(ok);
    ASSERT_EQ(p.size(), pages_before + 1) << "one page per push of 186 ms";
    EXPECT_GE(p.back().packets.size(), 8u);
  }
}

TEST(EncodeSession, RetainedStreamBecomesTheWavAndItsOgg) {
  const std::vector<uint8_t> wav = ToneWav(22050, 1, 0.5);
  const WavView view = ParseWav(wav).value();
  EncodeSessionSpec spec;
  spec.retain = true;  // a WAV input: its header is rewritten canonically
  Streamed s;
  auto session = EncodeSession::Create(spec).value();
  for (size_t at = 0; at < wav.size(); at += 333) {
    ASSERT_TRUE(
        session->Push(std::span(wav).subspan(at, std::min<size_t>(333, wav.size() - at)), &s.ogg)
            .ok());
  }
  ASSERT_TRUE(session->Finish(&s.ogg).ok());
  EXPECT_EQ(session->ogg(), s.ogg);
  const std::vector<uint8_t> cached = session->CachedWav();
  const WavView again = ParseWav(cached).value();
  EXPECT_EQ(again.format, view.format);
  EXPECT_TRUE(std::equal(again.data.begin(), again.data.end(), view.data.begin(), view.data.end()));
  EXPECT_EQ(cached, wav) << "the canonical 44-byte header is what the test builder writes";
}

TEST(EncodeSession, StreamedWavWithUnknownSizesAndTrailingChunks) {
  testing::WavSpec spec;
  spec.riff_size = 0xFFFFFFFF;
  spec.data_size = 0xFFFFFFFF;
  spec.before_fmt.push_back({"LIST", std::vector<uint8_t>(31, 'x'), std::nullopt});
  const auto pcm = testing::EncodeSamples(spec, testing::HarmonicSignal(22050, 1, 0.3));
  const std::vector<uint8_t> unknown = testing::MakeWav(spec, pcm);
  EncodeSessionSpec session_spec;
  Streamed s = StreamInChunks(session_spec, unknown, 5);
  EXPECT_EQ(s.samples_48k, (pcm.size() / 2 * 48000 + 22049) / 22050);

  // espeak-ng --stdout and sox write 0x7FFFF000 for "unknown".
  spec.data_size = 0x7FFFF000;
  spec.riff_size = 0x7FFFF024;
  Streamed e = StreamInChunks(session_spec, testing::MakeWav(spec, pcm), 4096);
  EXPECT_EQ(e.samples_48k, s.samples_48k);

  // A known data size ends the audio there: a chunk after it is not audio.
  testing::WavSpec known;
  known.after_data.push_back({"LIST", std::vector<uint8_t>(100, 'y'), std::nullopt});
  Streamed t = StreamInChunks(session_spec, testing::MakeWav(known, pcm), 64);
  EXPECT_EQ(t.samples_48k, s.samples_48k);
}

Error FailingPush(const EncodeSessionSpec& spec, std::span<const uint8_t> bytes, bool finish) {
  auto session = EncodeSession::Create(spec).value();
  std::vector<uint8_t> out;
  Status s = session->Push(bytes, &out);
  if (s.ok() && finish) s = session->Finish(&out);
  EXPECT_FALSE(s.ok());
  return s.ok() ? Error{} : s.error();
}

TEST(EncodeSession, BadInputNamesWhatWasWrong) {
  EncodeSessionSpec wav_spec;
  const std::vector<uint8_t> wav = ToneWav(22050, 1, 0.2);

  Error not_riff = FailingPush(wav_spec, std::vector<uint8_t>(64, 'O'), false);
  EXPECT_EQ(not_riff.code, Errc::kBadAudio);
  EXPECT_NE(not_riff.message.find("expected 'RIFF'"), std::string::npos) << not_riff.message;

  Error in_header = FailingPush(wav_spec, std::span(wav).first(30), true);
  EXPECT_EQ(in_header.code, Errc::kBadAudio);
  EXPECT_NE(in_header.message.find("inside the WAV header, after 30 bytes"), std::string::npos)
      << in_header.message;

  Error truncated = FailingPush(wav_spec, std::span(wav).first(wav.size() - 100), true);
  EXPECT_EQ(truncated.code, Errc::kBadAudio);
  EXPECT_NE(truncated.message.find("truncated"), std::string::npos) << truncated.message;

  testing::WavSpec mp3;
  mp3.tag = 0x55;
  Error format = FailingPush(wav_spec, testing::MakeWav(mp3, std::vector<uint8_t>(100)), false);
  EXPECT_NE(format.message.find("MP3"), std::string::npos) << format.message;

  testing::WavSpec data_first;
  data_first.data_before_fmt = true;
  Error order =
      FailingPush(wav_spec, testing::MakeWav(data_first, std::vector<uint8_t>(100)), false);
  EXPECT_NE(order.message.find("fmt chunk before its data"), std::string::npos) << order.message;

  testing::WavSpec huge;
  huge.before_fmt.push_back({"junk", {}, 0x7FFFFFFF});
  Error junk = FailingPush(wav_spec, testing::MakeWav(huge, std::vector<uint8_t>(100)), false);
  EXPECT_NE(junk.message.find("at most 65536 bytes before its samples"), std::string::npos)
      << junk.message;

  EncodeSessionSpec raw;
  raw.raw = PcmFormat{SampleEncoding::kSigned16, 1, 8000};
  raw.max_seconds = 1;
  Error too_long = FailingPush(raw, std::vector<uint8_t>(8000 * 2 + 2), false);
  EXPECT_EQ(too_long.code, Errc::kTooLarge);
  EXPECT_NE(too_long.message.find("1 s of audio (max_seconds)"), std::string::npos)
      << too_long.message;

  Error empty = FailingPush(raw, {}, true);
  EXPECT_NE(empty.message.find("no samples"), std::string::npos) << empty.message;

  Error half = FailingPush(raw, std::vector<uint8_t>(3), true);
  EXPECT_NE(half.message.find("truncated"), std::string::npos) << half.message;
}

TEST(EncodeSession, NothingAfterAnErrorOrTheEnd) {
  EncodeSessionSpec raw;
  raw.raw = PcmFormat{SampleEncoding::kSigned16, 1, 8000};
  auto session = EncodeSession::Create(raw).value();
  std::vector<uint8_t> out;
  ASSERT_TRUE(session->Push(std::vector<uint8_t>(1600), &out).ok());
  ASSERT_TRUE(session->Finish(&out).ok());
  EXPECT_EQ(session->Push(std::vector<uint8_t>(2), &out).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(session->Finish(&out).error().code, Errc::kInvalidArgument);
}

}  // namespace
}  // namespace ttscache
