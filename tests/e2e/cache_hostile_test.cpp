// Against a real daemon: what one client (or anyone who can write the cache
// folder) does must not cost the others their service or their data
// (issue #13). A cached WAV truncated while a worker encodes its Opus variant
// must not kill the daemon (it once mapped the file: SIGBUS), and a PUT of a
// new WAV while the old one is still encoding must not leave the old
// encoding attached to the new entry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "tests/e2e/daemon_process.hpp"
#include "tests/support/wav_builder.hpp"

namespace ttscache {
namespace {

using testing::DaemonProcess;
namespace fs = std::filesystem;

constexpr int kRate = 22050;

std::vector<uint8_t> LongTone(int seed, double seconds) {
  testing::WavSpec spec;
  spec.rate = kRate;
  return testing::MakeWav(
      spec, testing::EncodeSamples(spec, testing::HarmonicSignal(kRate, 1, seconds, 150.0 + seed)));
}

// The granule position of the stream's last Ogg page: 48 kHz samples
// including the pre-skip, i.e. how long the encoded audio is.
int64_t LastGranule(std::span<const uint8_t> ogg) {
  for (size_t i = ogg.size() >= 27 ? ogg.size() - 27 : 0;; --i) {
    if (std::memcmp(ogg.data() + i, "OggS", 4) == 0) {
      int64_t granule = 0;
      std::memcpy(&granule, ogg.data() + i + 6, sizeof(granule));  // little-endian host
      return granule;
    }
    if (i == 0) return -1;
  }
}

bool DaemonAlive(const DaemonProcess& d) {
  int status = 0;
  return waitpid(d.pid(), &status, WNOHANG) == 0;
}

// Before: the variant job mapped the cached WAV; the truncation turned the
// encoder's next read of a missing page into SIGBUS, and the daemon died.
TEST(CacheHostile, AWavTruncatedWhileItsVariantEncodesDoesNotKillTheDaemon) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  Client c = d.Connect();
  const std::vector<uint8_t> wav = LongTone(1, 60.0);  // 60 s: the encode takes a while
  ASSERT_TRUE(c.Put("piper", "a long phrase", wav).ok());
  ASSERT_TRUE(c.Put("piper", "a bystander", LongTone(2, 0.5)).ok());
  std::string path;  // the long WAV's file: the only one of its size
  for (const auto& f : fs::directory_iterator(d.cache_dir() + "/piper")) {
    if (f.path().extension() == ".wav" && f.file_size() == wav.size()) path = f.path();
  }
  ASSERT_FALSE(path.empty());

  Result<uint64_t> sent = c.SendGet("piper", "a long phrase", Format::kOpus);
  ASSERT_TRUE(sent.ok()) << sent.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the encode has begun
  fs::resize_file(path, 4096);
  // Either answer is fine (the encoding of what was read, or an error naming
  // the truncation); dying is not.
  Result<AudioBuffer> got = c.ReceiveGet(*sent);
  if (!got.ok()) {
    EXPECT_NE(got.error().code, Errc::kUnavailable) << got.error().message;
  }

  Result<Client> other = Client::Connect({d.socket_path(), 10000});
  ASSERT_TRUE(other.ok() && other->Ping().ok()) << "the daemon is gone: " << d.log();
  ASSERT_TRUE(DaemonAlive(d)) << d.log();
  EXPECT_TRUE(other->Get("piper", "a bystander", Format::kWav).ok()) << "others keep being served";
  EXPECT_TRUE(other->Put("piper", "after", LongTone(3, 0.5)).ok());
  EXPECT_EQ(d.Stop(), 0) << d.log();
}

// Before: the v1 encode, still running when v2 was put, was stored as the
// variant of the v2 entry and served from then on.
TEST(CacheHostile, APutDuringAnOpusEncodeOfTheOldWavWins) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  Client reader = d.Connect();
  Client writer = d.Connect();
  ASSERT_TRUE(writer.Put("xtts", "phrase", LongTone(1, 60.0)).ok());

  Result<uint64_t> sent = reader.SendGet("xtts", "phrase", Format::kOpus);
  ASSERT_TRUE(sent.ok()) << sent.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // v1's encode is running
  const double v2_seconds = 2.0;
  ASSERT_TRUE(writer.Put("xtts", "phrase", LongTone(2, v2_seconds)).ok());
  Result<AudioBuffer> first = reader.ReceiveGet(*sent);
  ASSERT_TRUE(first.ok()) << first.error().message;  // v1's encoding, asked for before v2

  Result<AudioBuffer> now = reader.Get("xtts", "phrase", Format::kOpus);
  ASSERT_TRUE(now.ok()) << now.error().message;
  const int64_t granule = LastGranule(now->u8());
  const double seconds = static_cast<double>(granule) / 48000.0;
  EXPECT_GT(seconds, v2_seconds - 0.5);
  EXPECT_LT(seconds, v2_seconds + 1.0) << "an encoding of the replaced 60 s WAV is served";
  EXPECT_EQ(d.Stop(), 0) << d.log();
}

}  // namespace
}  // namespace ttscache
