// ttscached end to end, the operations: a real daemon process, the real
// socket, libttscache and raw frames — every operation over both audio paths,
// shared variant encodes, pipelining, many clients at once, and hostile peers
// beside a well-behaved client that must keep getting correct answers. The
// other themes: daemon_lifecycle_test.cpp (identity, start-up, reload),
// daemon_crash_test.cpp (SIGTERM and SIGKILL), daemon_resource_faults_test.cpp
// (socket file, descriptors, unwritable or full disk, paths).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "core/audio/wav_reader.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/support/raw_peer.hpp"
#include "tests/support/wav_builder.hpp"
#include "ttscache/arena_allocator.hpp"

#include "tests/e2e/daemon_e2e_helpers.hpp"

namespace ttscache {
namespace {

using e2e::ErrorOf;
using e2e::ExpectOpusinfoClean;
using e2e::kError;
using e2e::Tone;
using e2e::ToVector;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::RawPeer;

TEST(Daemon, EveryOperationOverBothAudioPaths) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  Client c = d.Connect();
  std::vector<uint8_t> wav = Tone(1);
  ASSERT_TRUE(c.Put("piper", "The lights are on.", wav).ok());

  Result<AudioBuffer> by_fd = c.Get("piper", "the lights are ON.", Format::kWav);
  ASSERT_TRUE(by_fd.ok()) << by_fd.error().message;
  EXPECT_TRUE(by_fd->mapped()) << "a hit comes as the cached file's descriptor";
  EXPECT_EQ(ToVector(*by_fd), wav);
  Result<AudioBuffer> inline_hit =
      c.Get("piper", "the lights are on.", Format::kWav, DaemonDefaultOpus(), false);
  ASSERT_TRUE(inline_hit.ok());
  EXPECT_FALSE(inline_hit->mapped());
  EXPECT_EQ(ToVector(*inline_hit), wav);
  Result<AudioBuffer> miss = c.Get("piper", "never said", Format::kWav);
  EXPECT_EQ(miss.error().code, Errc::kNotFound);
  EXPECT_EQ(c.Get("espeak", "x", Format::kWav).error().code, Errc::kUnknownEngine);

  Result<AudioBuffer> opus = c.Encode(wav);
  ASSERT_TRUE(opus.ok()) << opus.error().message;
  ExpectOpusinfoClean(opus->u8(), d.dir());
  Result<AudioBuffer> variant = c.Get("piper", "the lights are on.", Format::kOpus);
  ASSERT_TRUE(variant.ok());
  ExpectOpusinfoClean(variant->u8(), d.dir());
  Result<AudioBuffer> put_encoded = c.PutEncode("xtts", "One moment.", Tone(2));
  ASSERT_TRUE(put_encoded.ok()) << put_encoded.error().message;
  ExpectOpusinfoClean(put_encoded->u8(), d.dir());
  Result<AudioBuffer> stored_variant = c.Get("xtts", "one moment.", Format::kOpus);
  ASSERT_TRUE(stored_variant.ok());
  EXPECT_TRUE(stored_variant->mapped());
  EXPECT_EQ(ToVector(*stored_variant), ToVector(*put_encoded)) << "PUT_ENCODE stored its variant";

  // The zero-copy path: the WAV is written into shared memory, the daemon
  // reads it there and writes Opus back into it.
  ASSERT_TRUE(c.AttachArena(4 << 20).ok());
  std::vector<uint8_t> wav3 = Tone(3);
  std::memcpy(c.arena().data(), wav3.data(), wav3.size());
  ASSERT_TRUE(c.PutFromArena("xtts", "from the arena", 0, wav3.size()).ok());
  EXPECT_EQ(ToVector(c.Get("xtts", "from the arena", Format::kWav).value()), wav3);
  Result<uint64_t> opus_size = c.EncodeInArena(0, wav3.size(), 1 << 20, 1 << 20);
  ASSERT_TRUE(opus_size.ok()) << opus_size.error().message;
  ExpectOpusinfoClean(c.arena().subspan(1 << 20, *opus_size), d.dir());
  Result<uint64_t> too_small = c.EncodeInArena(0, wav3.size(), 1 << 20, 100);
  ASSERT_FALSE(too_small.ok());
  EXPECT_EQ(too_small.error().code, Errc::kBufferTooSmall);
  EXPECT_THAT(too_small.error().message, HasSubstr(std::to_string(*opus_size) + " needed"));
  EXPECT_EQ(c.EncodeInArena(0, wav3.size(), (4 << 20) - 10, 1 << 20).error().code,
            Errc::kInvalidArgument);

  // A buffer carved out of the arena by the Boost.Interprocess allocator: the
  // "TTS engine" writes its WAV there, the daemon stores it from there.
  Result<ArenaAllocator> made = ArenaAllocator::Create(c.arena().subspan(2 << 20));
  ASSERT_TRUE(made.ok()) << made.error().message;
  ArenaAllocator& allocator = *made;
  std::vector<uint8_t> wav4 = Tone(10);
  Result<std::span<uint8_t>> buffer = allocator.Allocate(wav4.size());
  ASSERT_TRUE(buffer.ok());
  std::memcpy(buffer->data(), wav4.data(), wav4.size());
  ASSERT_TRUE(
      c.PutFromArena("xtts", "carved", (2 << 20) + allocator.OffsetOf(*buffer), wav4.size()).ok());
  EXPECT_EQ(ToVector(c.Get("xtts", "carved", Format::kWav).value()), wav4);
  allocator.Free(*buffer);
  EXPECT_FALSE(allocator.Allocate(4 << 20).ok()) << "larger than the arena";

  ttscache::Stats stats = c.Stats().value();
  uint64_t entries = 0, puts = 0;
  for (auto& e : stats.engines) entries += e.entries, puts += e.puts;
  EXPECT_EQ(entries, 4u);
  EXPECT_EQ(puts, 4u);
  EXPECT_EQ(d.Stop(), 0) << d.log();
}

TEST(Daemon, AVariantIsEncodedOnceHoweverManyAskAtOnce) {
  DaemonProcess d(testing::Keys{{"workers", "2"}});
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(d.Connect().Put("piper", "shared", Tone(4, 3.0)).ok());
  const uint64_t encodes_before = d.Connect().Stats()->encodes;
  std::vector<std::vector<uint8_t>> results(16);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      Client c = d.Connect();
      ready++;
      while (ready < 16) std::this_thread::yield();
      Result<AudioBuffer> r = c.Get("piper", "shared", Format::kOpus, DaemonDefaultOpus(), i % 2);
      ASSERT_TRUE(r.ok()) << r.error().message;
      results[i] = ToVector(*r);
    });
  }
  for (auto& t : threads) t.join();
  for (auto& r : results) EXPECT_EQ(r, results[0]);
  ttscache::Stats stats = d.Connect().Stats().value();
  EXPECT_EQ(stats.encodes - encodes_before, 1u) << "one encode for 16 concurrent requests";
}

TEST(Daemon, PipelinedRepliesComeBackOutOfOrder) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  RawPeer peer(d.socket_path());
  ASSERT_TRUE(peer.connected);
  // A slow job (encode of 20 s) first, then a ping: the ping's reply overtakes.
  std::vector<uint8_t> wav = Tone(5, 20.0);
  ipc::EncodeRequest e{DaemonDefaultOpus(), {ipc::AudioPlace::kInline, wav, 0, 0}, {}};
  std::vector<uint8_t> frames = ipc::BuildFrame(5, 100, ipc::EncodeEncodeRequest(e));
  std::vector<uint8_t> ping = ipc::BuildFrame(2, 200, {});
  frames.insert(frames.end(), ping.begin(), ping.end());
  peer.Send(frames);
  auto [op1, id1, body1] = peer.Read();
  auto [op2, id2, body2] = peer.Read();
  EXPECT_EQ(id1, 200u);
  EXPECT_EQ(op1, 0x82);
  EXPECT_EQ(id2, 100u);
  EXPECT_EQ(op2, 0x85);
}

TEST(Daemon, SixtyFourClientsMixingOperations) {
  DaemonProcess d({{"queue_depth", "256"}}, {{"max_entries", "100000"}});
  ASSERT_TRUE(d.Start());
  std::vector<uint8_t> wav = Tone(6, 0.2);
  std::atomic<int> puts{0}, failures{0};
  // Distinct phrases each client stored: on a loaded machine a client may not
  // get through all five in the time, so the expected count is what was put.
  std::vector<std::set<std::string>> stored(64);
  std::vector<std::thread> threads;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&, t] {
      Client c = d.Connect();
      for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
        // Four operations per phrase, the put first.
        const std::string text =
            "client " + std::to_string(t) + " phrase " + std::to_string(i / 4 % 5);
        switch (i % 4) {
          case 0:
            if (c.Put("xtts", text, wav)) {
              puts++;
              stored[t].insert(text);
            } else {
              failures++;
            }
            break;
          case 1: {
            Result<AudioBuffer> r = c.Get("xtts", text, Format::kWav);
            if (!r || ToVector(*r) != wav) failures++;
            break;
          }
          case 2:
            if (!c.Ping()) failures++;
            break;
          case 3:
            if (!c.Get("xtts", text, Format::kOpus, DaemonDefaultOpus(), t % 2)) failures++;
            break;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  ttscache::Stats stats = d.Connect().Stats().value();
  EXPECT_EQ(stats.engines[0].puts, static_cast<uint64_t>(puts.load()));
  uint64_t distinct = 0;
  for (const auto& texts : stored) distinct += texts.size();
  EXPECT_GE(distinct, 64u) << "every client stored at least one phrase";
  EXPECT_EQ(stats.engines[0].entries, distinct);
  EXPECT_EQ(stats.errors, 0u);
}

TEST(Daemon, HostilePeersNeverHurtOthers) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client good = d.Connect();
  std::vector<uint8_t> wav = Tone(7);
  ASSERT_TRUE(good.Put("piper", "good", wav).ok());
  auto still_fine = [&](const char* after) {
    Result<AudioBuffer> r = good.Get("piper", "good", Format::kWav);
    ASSERT_TRUE(r.ok()) << after << ": " << r.error().message;
    EXPECT_EQ(ToVector(*r), wav) << after;
  };
  {
    RawPeer p(d.socket_path());
    std::vector<uint8_t> junk(1000, 0xAB);
    p.Send(junk);
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError);
    EXPECT_THAT(ErrorOf(body).message, HasSubstr("bad magic"));
    still_fine("garbage");
  }
  {
    RawPeer p(d.socket_path());
    std::vector<uint8_t> frame = ipc::BuildFrame(4, 1, std::vector<uint8_t>(5000, 1));
    frame.resize(100);
    p.Send(frame);  // a truncated frame, then the peer leaves
    still_fine("truncated frame");
  }
  {
    RawPeer p(d.socket_path());
    uint8_t header[ipc::kHeaderSize];
    ipc::EncodeHeader({4, 0, 9, 0xFFFFFFF0u}, header);
    p.Send({header, sizeof(header)});
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError);
    EXPECT_EQ(ErrorOf(body).code, ipc::ErrorCode::kTooLarge);
    still_fine("huge declared length");
  }
  {
    RawPeer p(d.socket_path());
    ipc::PutRequest put{"piper", "x", {ipc::AudioPlace::kArena, {}, 1ull << 62, 1ull << 62}};
    p.Send(ipc::BuildFrame(4, 3, ipc::EncodePutRequest(put)));
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError);
    EXPECT_THAT(ErrorOf(body).message, HasSubstr("no arena"));
    still_fine("arena offsets without an arena");
  }
  {
    Client hostile = d.Connect();
    ASSERT_TRUE(hostile.AttachArena(1 << 16).ok());
    EXPECT_EQ(hostile.PutFromArena("piper", "x", (1 << 16) - 10, 100).error().code,
              Errc::kInvalidArgument);
    EXPECT_EQ(hostile.PutFromArena("piper", "x", UINT64_MAX - 5, 10).error().code,
              Errc::kInvalidArgument);
    still_fine("offsets past the arena");
  }
  auto arena_refused = [&](int fd, const char* why, const char* expected) {
    RawPeer p(d.socket_path());
    p.Send(ipc::BuildFrame(8, 4, ipc::EncodeArenaRequest(4096), ipc::kFlagFd), fd);
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError) << why;
    EXPECT_THAT(ErrorOf(body).message, HasSubstr(expected)) << why;
    still_fine(why);
  };
  {
    UniqueFd unsealed(memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    ASSERT_EQ(ftruncate(unsealed.get(), 4096), 0);
    arena_refused(unsealed.get(), "unsealed memfd", "F_SEAL_SHRINK");
    const std::string file = d.dir() + "/regular";
    std::ofstream(file) << std::string(4096, 'x');
    UniqueFd regular(open(file.c_str(), O_RDWR | O_CLOEXEC));
    arena_refused(regular.get(), "regular file", "not a memfd");
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    arena_refused(pair[0], "socket", "not a memfd");
    close(pair[0]);
    close(pair[1]);
  }
  {
    RawPeer p(d.socket_path());
    UniqueFd a(memfd_create("a", MFD_CLOEXEC)), b(memfd_create("b", MFD_CLOEXEC));
    p.Send(ipc::BuildFrame(8, 5, ipc::EncodeArenaRequest(4096), ipc::kFlagFd), a.get(), b.get());
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError);
    EXPECT_THAT(ErrorOf(body).message, HasSubstr("descriptors"));
    still_fine("two descriptors");
  }
  {
    RawPeer p(d.socket_path());
    UniqueFd a(memfd_create("a", MFD_CLOEXEC));
    p.Send(ipc::BuildFrame(2, 6, {}, ipc::kFlagFd), a.get());  // a PING with a descriptor
    auto [op, id, body] = p.Read();
    EXPECT_EQ(op, kError);
    EXPECT_THAT(ErrorOf(body).message, HasSubstr("takes none"));
    still_fine("descriptor on a ping");
  }
  {
    // Never reads its replies: asks for the inline WAV again and again.
    RawPeer p(d.socket_path());
    ipc::GetRequest g{
        "piper", "good", ipc::AudioFormat::kWav, DaemonDefaultOpus(), ipc::Delivery::kInline, {}};
    std::vector<uint8_t> one = ipc::BuildFrame(3, 7, ipc::EncodeGetRequest(g));
    std::vector<uint8_t> many;
    for (int i = 0; i < 2000; ++i) many.insert(many.end(), one.begin(), one.end());
    std::thread sender([&] { p.Send(many); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    still_fine("a peer that never reads");
    shutdown(p.fd.get(), SHUT_RDWR);
    sender.join();
  }
  {
    RawPeer p(d.socket_path());
    ipc::PutRequest put{"piper", "mid", {ipc::AudioPlace::kInline, wav, 0, 0}};
    std::vector<uint8_t> frame = ipc::BuildFrame(4, 8, ipc::EncodePutRequest(put));
    frame.resize(frame.size() / 2);
    p.Send(frame);  // and vanishes mid-request
  }
  still_fine("disconnect mid-request");
  EXPECT_EQ(good.Get("piper", "mid", Format::kWav).error().code, Errc::kNotFound)
      << "half a request stores nothing";
  EXPECT_EQ(d.Stop(), 0) << d.log();
}

}  // namespace
}  // namespace ttscache
