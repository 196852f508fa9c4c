// ttscached end to end, stopping and crashing: SIGTERM under load and SIGKILL
// at random moments lose no acknowledged entry.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "core/audio/wav_reader.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/support/raw_peer.hpp"
#include "tests/support/sanitizer_build.hpp"
#include "tests/support/wav_builder.hpp"
#include "ttscache/arena_allocator.hpp"

#include "tests/e2e/daemon_e2e_helpers.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using e2e::Tone;
using e2e::ToVector;
using testing::DaemonProcess;
using ::testing::HasSubstr;

TEST(Daemon, SigtermUnderLoadLosesNoAcknowledgedEntry) {
  DaemonProcess d({}, {{"max_entries", "100000"}, {"fsync", "true"}});
  ASSERT_TRUE(d.Start()) << d.log();
  std::vector<uint8_t> wav = Tone(8, 0.1);
  std::mutex mu;
  std::vector<std::string> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Result<Client> c = Client::Connect({d.socket_path(), 5000});
      if (!c) return;
      for (int i = 0; !stop; ++i) {
        std::string text = "load " + std::to_string(t) + " " + std::to_string(i);
        if (!c->Put("xtts", text, wav)) break;  // the daemon is going away
        std::lock_guard lock(mu);
        acked.push_back(text);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(d.Stop(SIGTERM), 0) << d.log();
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_FALSE(acked.empty());
  ASSERT_TRUE(d.Start()) << d.log();
  EXPECT_THAT(d.log(), ::testing::Not(HasSubstr("not closed cleanly")));
  Client c = d.Connect();
  for (const std::string& text : acked) {
    Result<AudioBuffer> r = c.Get("xtts", text, Format::kWav);
    ASSERT_TRUE(r.ok()) << "acknowledged entry lost: " << text;
    EXPECT_EQ(ToVector(*r), wav);
  }
}

// Crash consistency: put/encode storms from several clients, SIGKILL at a
// random moment, restart; every acknowledged entry is present and
// byte-equal, nothing is served truncated, and the index agrees with the
// folder. Rounds: $TTSCACHE_CRASH_ROUNDS, default 50 as issue 8 asks; 15
// in a sanitizer tree. There a round costs 2–4 times as much and the rounds
// grow (each rereads every entry acknowledged so far: ASan took 192 s for
// 50, 19 s for 15); what the sanitizer adds (a memory error or a race in
// the kill and restart paths) shows in any round, while the many random
// kill moments are the release tree's job, which runs the 50 in CI.
TEST(DaemonCrash, KillAndRestartLosesNoAcknowledgedEntry) {
  const char* env = std::getenv("TTSCACHE_CRASH_ROUNDS");
  const int rounds = env ? std::atoi(env) : testing::ForSanitizer(50, 15);
  DaemonProcess d({}, {{"max_entries", "100000"}, {"fsync", "true"}});
  std::mt19937 rng(12345);
  std::map<std::string, int> acked;  // text → seed of its WAV
  uint64_t kills = 0, losses = 0, truncated = 0;
  for (int round = 0; round < rounds; ++round) {
    ASSERT_TRUE(d.Start()) << d.log();
    // Everything acknowledged so far is there, complete and byte-equal.
    {
      Client c = d.Connect();
      for (const auto& [text, seed] : acked) {
        Result<AudioBuffer> r = c.Get("xtts", text, Format::kWav);
        if (!r) {
          ++losses;
          ADD_FAILURE() << "round " << round << ": lost " << text;
          continue;
        }
        if (!ParseWav(r->u8()).ok()) ++truncated;
        EXPECT_EQ(ToVector(*r), Tone(seed, 0.05)) << text;
      }
      ttscache::Stats stats = c.Stats().value();
      uint64_t wavs = 0;
      for (const auto& f : fs::directory_iterator(d.cache_dir() + "/xtts")) {
        if (f.path().extension() == ".wav") ++wavs;
        EXPECT_FALSE(f.path().filename().string().starts_with(".tmp-")) << "temporary survived";
      }
      EXPECT_EQ(stats.engines[0].entries, wavs) << "index and folder disagree in round " << round;
    }
    std::mutex mu;
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
      clients.emplace_back([&, t] {
        Result<Client> c = Client::Connect({d.socket_path(), 2000});
        if (!c) return;
        for (int i = 0; !stop; ++i) {
          const int seed = (round * 7 + t * 3 + i) % 50;
          const std::string text =
              "r" + std::to_string(round) + " t" + std::to_string(t) + " " + std::to_string(i);
          Status s = i % 3 == 2 ? Status(c->PutEncode("xtts", text, Tone(seed, 0.05)).ok()
                                             ? Status()
                                             : Status(MakeError(Errc::kIo, "failed")))
                                : c->Put("xtts", text, Tone(seed, 0.05));
          if (!s) return;  // killed
          std::lock_guard lock(mu);
          acked[text] = seed;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 400));
    EXPECT_EQ(d.Stop(SIGKILL), -SIGKILL);
    ++kills;
    stop = true;
    for (auto& t : clients) t.join();
  }
  ASSERT_TRUE(d.Start());
  Client c = d.Connect();
  for (const auto& [text, seed] : acked) {
    if (!c.Get("xtts", text, Format::kWav).ok()) ++losses;
  }
  std::printf(
      "crash loop: %d rounds, %llu kills, %zu acknowledged entries, %llu lost, %llu truncated\n",
      rounds, static_cast<unsigned long long>(kills), acked.size(),
      static_cast<unsigned long long>(losses), static_cast<unsigned long long>(truncated));
  EXPECT_EQ(losses, 0u);
  EXPECT_EQ(truncated, 0u);
  EXPECT_GT(acked.size(), static_cast<size_t>(rounds));
}

}  // namespace
}  // namespace ttscache
