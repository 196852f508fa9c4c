// Faults under a running daemon that need no special filesystem: the cache
// folder deleted while it serves. The daemon must answer every request with a
// clear result (misses, an error naming the folder) and keep serving what it
// can; a restart recreates the folders. (The other daemon faults are in
// daemon_resource_faults_test.cpp: deleted socket, fd limit, unwritable
// folder, disk full.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "tests/e2e/daemon_process.hpp"
#include "tests/support/wav_builder.hpp"

namespace ttscache {
namespace {

using testing::DaemonProcess;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::vector<uint8_t> SmallWav(int seed) {
  testing::WavSpec spec;
  return testing::MakeWav(
      spec, testing::EncodeSamples(spec, testing::HarmonicSignal(22050, 1, 0.05, 200 + seed)));
}

TEST(DaemonFaults, AnEngineFolderDeletedWhileServing) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client c = d.Connect();
  ASSERT_TRUE(c.Put("xtts", "before", SmallWav(1)).ok());
  ASSERT_TRUE(c.Put("piper", "other engine", SmallWav(2)).ok());
  fs::remove_all(d.cache_dir() + "/xtts");

  Result<AudioBuffer> gone = c.Get("xtts", "before", Format::kWav);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::kNotFound) << gone.error().message;
  Status put = c.Put("xtts", "after", SmallWav(3));
  ASSERT_FALSE(put.ok());
  EXPECT_THAT(put.error().message, HasSubstr(d.cache_dir() + "/xtts"));
  EXPECT_TRUE(c.Get("piper", "other engine", Format::kWav).ok()) << "the other engine is served";
  EXPECT_TRUE(c.Put("piper", "still writable", SmallWav(4)).ok());
  EXPECT_TRUE(c.Encode(SmallWav(5)).ok()) << "encoding needs no folder";
  auto stats = c.Stats();
  ASSERT_TRUE(stats.ok());

  EXPECT_EQ(d.Stop(), 0) << d.log();
  ASSERT_TRUE(d.Start()) << d.log();
  Client again = d.Connect();
  EXPECT_TRUE(again.Put("xtts", "after a restart", SmallWav(6)).ok()) << "the folder is recreated";
  EXPECT_TRUE(again.Get("piper", "still writable", Format::kWav).ok());
}

TEST(DaemonFaults, TheWholeCacheDirDeletedWhileServing) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client c = d.Connect();
  ASSERT_TRUE(c.Put("piper", "before", SmallWav(1)).ok());
  fs::remove_all(d.cache_dir());
  EXPECT_EQ(c.Get("piper", "before", Format::kWav).error().code, Errc::kNotFound);
  Status put = c.Put("piper", "after", SmallWav(2));
  ASSERT_FALSE(put.ok());
  EXPECT_THAT(put.error().message, HasSubstr(d.cache_dir()));
  EXPECT_TRUE(c.Ping().ok());
  EXPECT_TRUE(c.Encode(SmallWav(3)).ok());
  EXPECT_EQ(d.Stop(), 0) << d.log();
  ASSERT_TRUE(d.Start()) << d.log();
  Client again = d.Connect();
  EXPECT_TRUE(again.Put("piper", "after a restart", SmallWav(4)).ok());
}

}  // namespace
}  // namespace ttscache
