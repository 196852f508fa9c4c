// Encode streams end to end (docs/protocol.md, "Encode streams"): pages
// leave before the input ends, the stream equals the whole-file encode
// packet for packet, a finished stream with an engine and text is a cache
// hit, an aborted or abandoned one stores nothing. Then the hostile and
// careless clients: every limit ([stream] keys) with its error, requests on
// streams that are not open, a client that vanishes or never reads, and a
// stop while a sentence is still streaming.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/audio/wav_reader.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/support/ogg_pages.hpp"
#include "tests/support/raw_peer.hpp"
#include "tests/support/wav_builder.hpp"

namespace ttscache {
namespace {

using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::RawPeer;

std::vector<uint8_t> Wav(double seconds, int rate = 22050, int channels = 1) {
  testing::WavSpec spec;
  spec.rate = static_cast<uint32_t>(rate);
  spec.channels = static_cast<uint16_t>(channels);
  return testing::MakeWav(
      spec, testing::EncodeSamples(spec, testing::HarmonicSignal(rate, channels, seconds, 180.0)));
}

std::vector<std::vector<uint8_t>> AudioPackets(const std::vector<uint8_t>& ogg, int64_t* end) {
  bool ok = false;
  std::vector<testing::OggPageInfo> pages = testing::SplitOgg(ogg, &ok);
  EXPECT_TRUE(ok);
  std::vector<std::vector<uint8_t>> packets;
  for (size_t i = 2; i < pages.size(); ++i) {
    for (auto& p : pages[i].packets) packets.push_back(p.bytes);
  }
  *end = pages.empty() ? -1 : pages.back().granule;
  return packets;
}

uint64_t StreamsOpen(Client& c) { return c.StatsWithStreams().value().streams_open; }

bool WaitFor(const std::function<bool()>& done, int ms = 5000) {
  for (int i = 0; i < ms / 20; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

// Raw frames, so the test can do what libttscache never would.
struct RawStream {
  explicit RawStream(const std::string& socket) : peer(socket) {}
  std::tuple<uint8_t, uint64_t, std::vector<uint8_t>> Call(ipc::Opcode op,
                                                           const std::vector<uint8_t>& body) {
    Send(op, body);
    return peer.Read();
  }
  void Send(ipc::Opcode op, const std::vector<uint8_t>& body) {
    auto frame = ipc::BuildFrame(static_cast<uint8_t>(op), ++id, body);
    ASSERT_EQ(peer.Send(frame), static_cast<ssize_t>(frame.size()));
  }
  uint32_t Open(std::string_view engine = {}, std::string_view text = {}) {
    ipc::StreamOpenRequest o;
    o.params.bitrate_kbps = 0;
    o.engine = engine;
    o.text = text;
    auto [op, rid, body] = Call(ipc::Opcode::kStreamOpen, ipc::EncodeStreamOpenRequest(o));
    EXPECT_EQ(op, 0x8B) << ipc::DecodeErrorReply(body)->message;
    return op == 0x8B ? ipc::DecodeStreamOpenReply(body)->stream : 0;
  }
  std::vector<uint8_t> Push(uint32_t stream, std::vector<uint8_t> pcm) {
    return ipc::EncodeStreamPushRequest({stream, {ipc::AudioPlace::kInline, pcm, 0, 0}});
  }
  static std::string ErrorOf(const std::tuple<uint8_t, uint64_t, std::vector<uint8_t>>& reply) {
    if (std::get<0>(reply) != 0x7F) return "not an error";
    return ipc::DecodeErrorReply(std::get<2>(reply))->message;
  }
  RawPeer peer;
  uint64_t id = 0;
};

class EncodeStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(daemon_.Start()); }
  DaemonProcess daemon_;
};

// The first audio page reaches the caller while most of the input has not
// been pushed; the whole stream is the whole-file ENCODE's packets, same
// length, and decodes to ceil(N × 48000 / rate) samples.
TEST_F(EncodeStreamTest, FirstPageBeforeTheInputEndsAndSamePacketsAsWholeFile) {
  Client client = daemon_.Connect();
  const std::vector<uint8_t> wav = Wav(3.0);
  const WavView view = ParseWav(wav).value();
  std::vector<uint8_t> ogg;
  EncodeStream stream =
      client
          .OpenEncodeStream(
              {}, [&](std::span<const uint8_t> p) { ogg.insert(ogg.end(), p.begin(), p.end()); })
          .value();
  const size_t chunk = 4096 * 2;
  ASSERT_TRUE(stream.Push(view.data.first(chunk)).ok());
  // The push's reply may still be on its way: the next push collects it.
  ASSERT_TRUE(stream.Push(view.data.subspan(chunk, chunk)).ok());
  // A producer waiting for its engine's next chunk gets the pages meanwhile.
  ASSERT_TRUE(WaitFor([&] {
    EXPECT_TRUE(stream.WaitForPages(100).ok());
    return stream.pushes_in_flight() == 0;
  }));
  bool ok = false;
  ASSERT_GE(testing::SplitOgg(ogg, &ok).size(), 3u) << "no audio page after 2 of 17 chunks";
  for (size_t at = 2 * chunk; at < view.data.size(); at += chunk) {
    ASSERT_TRUE(stream.Push(view.data.subspan(at, std::min(chunk, view.data.size() - at))).ok());
  }
  StreamResult end = stream.Finish().value();
  EXPECT_EQ(end.cached, StreamResult::Cached::kNotAsked);
  EXPECT_EQ(end.samples_48k, (view.frames * 48000 + 22049) / 22050);

  const AudioBuffer whole = client.Encode(wav).value();
  const std::vector<uint8_t> whole_bytes(whole.u8().begin(), whole.u8().end());
  int64_t whole_end = 0, stream_end = 0;
  EXPECT_EQ(AudioPackets(ogg, &stream_end), AudioPackets(whole_bytes, &whole_end));
  EXPECT_EQ(stream_end, whole_end);
  EXPECT_EQ(stream_end - 312, static_cast<int64_t>(end.samples_48k));
}

// A WAV streamed in odd pieces with an engine and a text becomes that entry:
// the WAV (header rewritten with its true sizes) and the stream as the
// variant, so the next GET of the phrase, WAV or Opus, is a hit.
TEST_F(EncodeStreamTest, FinishedStreamIsCachedAsWavAndVariant) {
  Client client = daemon_.Connect();
  const std::vector<uint8_t> wav = Wav(1.5);
  std::vector<uint8_t> piped = wav;
  piped[4] = piped[5] = piped[6] = piped[7] = 0xFF;  // sizes unknown, as written to a pipe
  piped[40] = piped[41] = piped[42] = piped[43] = 0xFF;
  std::vector<uint8_t> ogg;
  StreamFormat format;
  format.wav = true;
  EncodeStream stream =
      client
          .OpenEncodeStream(
              format,
              [&](std::span<const uint8_t> p) { ogg.insert(ogg.end(), p.begin(), p.end()); },
              DaemonDefaultOpus(), "piper", "Streamed sentence.")
          .value();
  for (size_t at = 0; at < piped.size(); at += 1001) {
    ASSERT_TRUE(
        stream.Push(std::span(piped).subspan(at, std::min<size_t>(1001, piped.size() - at))).ok());
  }
  StreamResult end = stream.Finish().value();
  EXPECT_EQ(end.cached, StreamResult::Cached::kStored) << end.note;

  AudioBuffer cached = client.Get("piper", "Streamed sentence.", Format::kWav).value();
  EXPECT_EQ(std::vector<uint8_t>(cached.u8().begin(), cached.u8().end()), wav);
  AudioBuffer opus = client.Get("piper", "Streamed sentence.", Format::kOpus).value();
  EXPECT_EQ(std::vector<uint8_t>(opus.u8().begin(), opus.u8().end()), ogg);
  auto stats = client.StatsWithStreams().value();
  EXPECT_EQ(stats.encodes, 1u) << "the variant was the stream, not a second encode";
  EXPECT_EQ(stats.streams_stored, 1u);
  EXPECT_EQ(stats.streams_open, 0u);
}

TEST_F(EncodeStreamTest, AbortedOrAbandonedStreamsStoreNothing) {
  Client client = daemon_.Connect();
  const std::vector<uint8_t> wav = Wav(1.0);
  const WavView view = ParseWav(wav).value();
  {
    EncodeStream s =
        client.OpenEncodeStream({}, nullptr, DaemonDefaultOpus(), "piper", "aborted").value();
    ASSERT_TRUE(s.Push(view.data.first(10000)).ok());
    ASSERT_TRUE(s.Abort().ok());
    EXPECT_THAT(s.Push(view.data.first(2)).error().message, HasSubstr("aborted"));
  }
  {
    // Dropped without Finish: the destructor aborts.
    EncodeStream s =
        client.OpenEncodeStream({}, nullptr, DaemonDefaultOpus(), "piper", "dropped").value();
    ASSERT_TRUE(s.Push(view.data).ok());
  }
  {
    // A client that vanishes mid-stream, pushes still in flight: its streams
    // end with it.
    RawStream gone(daemon_.socket_path());
    const uint32_t a = gone.Open("piper", "vanished"), b = gone.Open();
    gone.Send(ipc::Opcode::kStreamPush, gone.Push(a, {view.data.begin(), view.data.end()}));
    gone.Send(ipc::Opcode::kStreamPush, gone.Push(b, {view.data.begin(), view.data.end()}));
    EXPECT_EQ(StreamsOpen(client), 2u);
  }
  EXPECT_TRUE(WaitFor([&] { return StreamsOpen(client) == 0; }));
  for (const char* text : {"aborted", "dropped", "vanished"}) {
    EXPECT_EQ(client.Get("piper", text, Format::kWav).error().code, Errc::kNotFound) << text;
  }
  auto stats = client.StatsWithStreams().value();
  EXPECT_EQ(stats.streams_opened, 4u);
  EXPECT_EQ(stats.streams_failed, 4u);
  EXPECT_EQ(stats.streams_stored, 0u);
}

TEST(EncodeStreamLimits, EveryLimitHasItsError) {
  DaemonProcess daemon;
  daemon.stream_keys() = {{"max_per_connection", "2"},
                          {"max_total", "3"},
                          {"max_buffered_bytes", "64K"},
                          {"idle_timeout_s", "1"},
                          {"max_seconds", "1"}};
  daemon.WriteConfig();
  ASSERT_TRUE(daemon.Start());

  RawStream a(daemon.socket_path()), b(daemon.socket_path());
  const uint32_t s1 = a.Open(), s2 = a.Open();
  ASSERT_NE(s1, s2);
  ipc::StreamOpenRequest o;
  o.params.bitrate_kbps = 0;
  EXPECT_THAT(RawStream::ErrorOf(a.Call(ipc::Opcode::kStreamOpen, ipc::EncodeStreamOpenRequest(o))),
              HasSubstr("max_per_connection"));
  const uint32_t s3 = b.Open();
  EXPECT_THAT(RawStream::ErrorOf(b.Call(ipc::Opcode::kStreamOpen, ipc::EncodeStreamOpenRequest(o))),
              HasSubstr("max_total"));

  // One push over max_buffered_bytes ends the stream; a later one is told why.
  EXPECT_THAT(
      RawStream::ErrorOf(a.Call(ipc::Opcode::kStreamPush, a.Push(s1, std::vector<uint8_t>(70000)))),
      HasSubstr("max_buffered_bytes = 65536 bytes"));
  EXPECT_THAT(
      RawStream::ErrorOf(a.Call(ipc::Opcode::kStreamPush, a.Push(s1, std::vector<uint8_t>(2)))),
      HasSubstr("stream 1 ended: stream 1: 70000 bytes pushed"));

  // More than max_seconds of audio: too large, and the stream ends.
  bool too_long = false;
  for (int i = 0; i < 3 && !too_long; ++i) {
    auto reply = a.Call(ipc::Opcode::kStreamPush, a.Push(s2, std::vector<uint8_t>(30000)));
    too_long = RawStream::ErrorOf(reply).find("max_seconds") != std::string::npos;
  }
  EXPECT_TRUE(too_long);

  // Idle past idle_timeout_s: ended, and the reason is given.
  std::this_thread::sleep_for(std::chrono::milliseconds(2600));
  EXPECT_THAT(
      RawStream::ErrorOf(b.Call(ipc::Opcode::kStreamPush, b.Push(s3, std::vector<uint8_t>(2)))),
      HasSubstr("no request for 1 s ([stream] idle_timeout_s)"));
  // Every stream is gone, so new ones may open again.
  EXPECT_NE(b.Open(), 0u);
}

TEST(EncodeStreamLimits, RequestsOnStreamsThatAreNotOpen) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Start());
  RawStream a(daemon.socket_path()), b(daemon.socket_path());
  const uint32_t mine = a.Open();
  // Stream ids are per connection: b cannot reach a's stream.
  EXPECT_THAT(
      RawStream::ErrorOf(b.Call(ipc::Opcode::kStreamPush, b.Push(mine, std::vector<uint8_t>(2)))),
      HasSubstr("no stream 1 is open on this connection"));
  EXPECT_THAT(RawStream::ErrorOf(
                  b.Call(ipc::Opcode::kStreamFinish, ipc::EncodeStreamIdRequest(0xFFFFFFFF))),
              HasSubstr("no stream 4294967295"));
  EXPECT_THAT(RawStream::ErrorOf(b.Call(ipc::Opcode::kStreamAbort, ipc::EncodeStreamIdRequest(9))),
              HasSubstr("no stream 9"));
  // Malformed opens, each named.
  ipc::StreamOpenRequest three;
  three.channels = 3;
  EXPECT_THAT(
      RawStream::ErrorOf(b.Call(ipc::Opcode::kStreamOpen, ipc::EncodeStreamOpenRequest(three))),
      HasSubstr("channels = 3, expected 1 or 2"));
  ipc::StreamOpenRequest engine_only;
  engine_only.engine = "piper";
  EXPECT_THAT(RawStream::ErrorOf(
                  b.Call(ipc::Opcode::kStreamOpen, ipc::EncodeStreamOpenRequest(engine_only))),
              HasSubstr("give both"));
  ipc::StreamOpenRequest unknown;
  unknown.engine = "nope";
  unknown.text = "x";
  EXPECT_THAT(
      RawStream::ErrorOf(b.Call(ipc::Opcode::kStreamOpen, ipc::EncodeStreamOpenRequest(unknown))),
      HasSubstr("nope"));
  EXPECT_THAT(RawStream::ErrorOf(b.Call(ipc::Opcode::kStreamOpen, {1, 2, 3})),
              HasSubstr("malformed"));
  // A finished stream takes nothing more, and says so.
  a.Send(ipc::Opcode::kStreamPush, a.Push(mine, std::vector<uint8_t>(4410)));
  EXPECT_EQ(std::get<0>(a.peer.Read()), 0x8C);
  auto [op, id, body] = a.Call(ipc::Opcode::kStreamFinish, ipc::EncodeStreamIdRequest(mine));
  ASSERT_EQ(op, 0x8D);
  EXPECT_EQ(ipc::DecodeStreamFinishReply(body)->samples_48k, 4800u);
  EXPECT_THAT(
      RawStream::ErrorOf(a.Call(ipc::Opcode::kStreamPush, a.Push(mine, std::vector<uint8_t>(2)))),
      HasSubstr("stream 1 ended: it was finished"));
}

// 64 requests in flight is the connection's limit: a push beyond is refused,
// and so the stream ends (a later push would leave a hole in the audio).
TEST(EncodeStreamLimits, PushBeyondTheInFlightLimitEndsTheStream) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Start());
  RawStream a(daemon.socket_path());
  const uint32_t s = a.Open();
  std::vector<uint8_t> frames;
  for (int i = 0; i < 200; ++i) {
    auto f = ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kStreamPush), 100 + i,
                             a.Push(s, std::vector<uint8_t>(44100)));
    frames.insert(frames.end(), f.begin(), f.end());
  }
  ASSERT_EQ(a.peer.Send(frames), static_cast<ssize_t>(frames.size()));
  int pages = 0, ended = 0, busy = 0;
  for (int i = 0; i < 200; ++i) {
    auto reply = a.peer.Read();
    if (std::get<0>(reply) == 0x8C) pages++;
    const std::string e = RawStream::ErrorOf(reply);
    if (e.rfind("stream 1 ended", 0) == 0) {
      ended++;
    } else if (e.find("requests in flight") != std::string::npos) {
      busy++;
    }
  }
  EXPECT_EQ(busy, 1);
  EXPECT_EQ(pages + busy + ended, 200);
  EXPECT_GT(ended, 0);
  Client client = daemon.Connect();
  EXPECT_EQ(StreamsOpen(client), 0u);
}

// A client that pushes and never reads: the daemon stops reading it, then
// closes it after send_timeout_s, and its stream is freed; others are served.
TEST(EncodeStreamLimits, ClientThatNeverReadsIsClosedAndItsStreamFreed) {
  DaemonProcess daemon(testing::Keys{{"send_timeout_s", "2"}});
  ASSERT_TRUE(daemon.Start());
  RawStream a(daemon.socket_path());
  const uint32_t s = a.Open();
  for (int i = 0; i < 60; ++i) {
    auto f = ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kStreamPush), 100 + i,
                             a.Push(s, std::vector<uint8_t>(60000, static_cast<uint8_t>(i * 7))));
    ASSERT_EQ(a.peer.Send(f), static_cast<ssize_t>(f.size()));
  }
  Client other = daemon.Connect();
  EXPECT_EQ(StreamsOpen(other), 1u);
  EXPECT_TRUE(WaitFor([&] { return StreamsOpen(other) == 0; }, 8000));
  EXPECT_TRUE(other.Ping().ok());
}

// SIGTERM while a sentence streams: the open stream may still finish (the
// drain waits for it), new streams are refused, and the daemon exits 0.
TEST(EncodeStreamLimits, StopLetsAnOpenStreamFinish) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Start());
  Client client = daemon.Connect();
  const std::vector<uint8_t> wav = Wav(1.0);
  const WavView view = ParseWav(wav).value();
  EncodeStream stream = client.OpenEncodeStream({}, nullptr).value();
  ASSERT_TRUE(stream.Push(view.data.first(view.data.size() / 2)).ok());
  daemon.Signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(client.OpenEncodeStream({}, nullptr).error().code, Errc::kBusy);
  ASSERT_TRUE(stream.Push(view.data.subspan(view.data.size() / 2)).ok());
  EXPECT_TRUE(stream.Finish().ok());
  EXPECT_EQ(daemon.Stop(0), 0);
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

// Found by review: a push refused before it was queued (arena audio with no
// arena, a descriptor attached, a malformed body) left the stream open, so a
// later push made a hole in the audio and the gapped stream was cached.
TEST(EncodeStreamReview, AnyRefusedPushEndsTheStream) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Start());
  RawStream a(daemon.socket_path());
  const uint32_t s = a.Open("piper", "holes");
  EXPECT_EQ(std::get<0>(a.Call(ipc::Opcode::kStreamPush, a.Push(s, std::vector<uint8_t>(4410)))),
            0x8C);
  auto no_arena = ipc::EncodeStreamPushRequest({s, {ipc::AudioPlace::kArena, {}, 0, 100}});
  EXPECT_THAT(RawStream::ErrorOf(a.Call(ipc::Opcode::kStreamPush, no_arena)), HasSubstr("arena"));
  EXPECT_THAT(
      RawStream::ErrorOf(a.Call(ipc::Opcode::kStreamPush, a.Push(s, std::vector<uint8_t>(4410)))),
      HasSubstr("stream 1 ended"));
  auto malformed = a.Push(a.Open(), std::vector<uint8_t>(10));
  malformed.push_back(0);  // a trailing byte
  EXPECT_THAT(RawStream::ErrorOf(a.Call(ipc::Opcode::kStreamPush, malformed)),
              HasSubstr("malformed"));
  EXPECT_THAT(
      RawStream::ErrorOf(a.Call(ipc::Opcode::kStreamPush, a.Push(2, std::vector<uint8_t>(2)))),
      HasSubstr("stream 2 ended"));
  Client client = daemon.Connect();
  EXPECT_EQ(client.Get("piper", "holes", Format::kWav).error().code, Errc::kNotFound);
  EXPECT_EQ(StreamsOpen(client), 0u);
}

// Found by review: a push trickling in slower than idle_timeout_s had its
// stream ended as idle while its bytes were still arriving.
TEST(EncodeStreamReview, APushStillArrivingIsNotIdle) {
  DaemonProcess daemon;
  daemon.stream_keys() = {{"idle_timeout_s", "1"}};
  daemon.WriteConfig();
  ASSERT_TRUE(daemon.Start());
  RawStream a(daemon.socket_path());
  const uint32_t s = a.Open();
  auto frame = ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kStreamPush), 50,
                               a.Push(s, std::vector<uint8_t>(40000)));
  for (size_t at = 0; at < frame.size(); at += 4096) {
    a.peer.Send(std::span(frame).subspan(at, std::min<size_t>(4096, frame.size() - at)));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));  // 2.5 s in all
  }
  auto reply = a.peer.Read();
  EXPECT_EQ(std::get<0>(reply), 0x8C) << RawStream::ErrorOf(reply);
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

// A stream lives on one connection. After the client reconnects (here: the
// daemon was killed and restarted, and a ping reconnected), the old stream's
// id names nothing — or, worse, the first stream opened on the new
// connection, which gets the same per-connection id. Its pushes must fail at
// once, never feed the new stream (whose entry would be cached with the
// other sentence's audio in it), and nothing may wait for replies the old
// connection took with it.
TEST(EncodeStreamReconnect, AStreamFromTheOldConnectionNeverFeedsANewOne) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Start());
  Client client = Client::Connect({daemon.socket_path(), 3000}).value();
  StreamFormat format;
  format.sample_rate = 16000;
  const std::vector<uint8_t> second(32000, 0);  // 1 s of s16 mono silence at 16 kHz
  EncodeStream old_stream = client.OpenEncodeStream(format, nullptr).value();
  ASSERT_TRUE(old_stream.Push(second).ok());
  uint64_t get_id = client.SendGet("piper", "never answered", Format::kWav).value();

  daemon.Kill();
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(client.Ping().ok());  // a new connection

  size_t new_bytes = 0;
  EncodeStream new_stream =
      client
          .OpenEncodeStream(
              format, [&](std::span<const uint8_t> p) { new_bytes += p.size(); },
              DaemonDefaultOpus(), "piper", "Reconnected sentence.")
          .value();
  ASSERT_EQ(new_stream.id(), old_stream.id());  // per connection: the ids collide

  const auto start = std::chrono::steady_clock::now();
  Status pushed = old_stream.Push(second);
  EXPECT_FALSE(pushed.ok()) << "a push on a stream of a closed connection was accepted";
  Result<AudioBuffer> got = client.ReceiveGet(get_id);
  EXPECT_FALSE(got.ok());
  EXPECT_FALSE(old_stream.Finish().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500))
      << "waited for replies the old connection took with it";

  ASSERT_TRUE(new_stream.Push(second).ok());
  Result<StreamResult> end = new_stream.Finish();
  ASSERT_TRUE(end.ok()) << end.error().message;
  EXPECT_EQ(end->samples_48k, 48000u) << "the new stream took the old stream's audio";
  EXPECT_GT(new_bytes, 0u);
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

// encode_stream.hpp: "A page sink that throws ends the stream too". The
// pages it threw on are a hole in the Ogg stream: no later call may report
// success, and the daemon's side is closed.
TEST(EncodeStreamSink, ASinkThatThrowsEndsTheStream) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Start());
  Client client = Client::Connect({daemon.socket_path(), 3000}).value();
  StreamFormat format;
  format.sample_rate = 16000;
  const std::vector<uint8_t> second(32000, 0);
  int calls = 0;
  EncodeStream stream = client
                            .OpenEncodeStream(format,
                                              [&](std::span<const uint8_t>) {
                                                if (++calls == 1)
                                                  throw std::runtime_error("sink full");
                                              })
                            .value();
  bool failed = false;
  std::string message;
  for (int i = 0; i < 5 && !failed; ++i) {
    Status pushed = stream.Push(second);
    if (pushed.ok()) pushed = stream.WaitForPages(500);
    if (!pushed.ok()) {
      failed = true;
      message = pushed.error().message;
    }
  }
  ASSERT_TRUE(failed) << "the sink threw, and every call still succeeded";
  EXPECT_THAT(message, HasSubstr("sink full"));
  EXPECT_FALSE(stream.Push(second).ok());
  EXPECT_FALSE(stream.Finish().ok()) << "a stream with a hole finished as if whole";
  EXPECT_TRUE(WaitFor([&] { return StreamsOpen(client) == 0; }))
      << "the daemon's side of the stream stayed open";
}

}  // namespace
}  // namespace ttscache
