// ttscached end to end, faults of the machine under a running daemon: its
// socket file deleted, descriptors exhausted, the cache folder unwritable or
// its disk full, and engine or text names that try to reach outside the
// cache folder. (daemon_faults_test.cpp: the cache folder deleted.)
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
#include "tests/support/wav_builder.hpp"
#include "ttscache/arena_allocator.hpp"

#include "tests/e2e/daemon_e2e_helpers.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using e2e::ErrorOf;
using e2e::ExpectOpusinfoClean;
using e2e::kError;
using e2e::Tone;
using e2e::ToVector;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::RawPeer;

TEST(DaemonFaults, ADeletedSocketFileIsRecreated) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client before = d.Connect();
  ASSERT_EQ(unlink(d.socket_path().c_str()), 0);
  EXPECT_TRUE(before.Ping().ok()) << "existing clients keep working";
  bool reconnected = false;
  for (int i = 0; i < 40 && !reconnected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Result<Client> c = Client::Connect({d.socket_path(), 1000});
    reconnected = c.ok() && c->Ping().ok();
  }
  EXPECT_TRUE(reconnected) << d.log();
  EXPECT_THAT(d.log(), HasSubstr("was deleted; recreated it"));
}

TEST(DaemonFaults, MoreClientsThanDescriptorsGetBusyNotASpin) {
  if (system("command -v prlimit > /dev/null") != 0) GTEST_SKIP() << "prlimit not installed";
  DaemonProcess d;
  ASSERT_TRUE(d.Start({}, {"prlimit", "--nofile=128:128"}));
  std::vector<std::unique_ptr<RawPeer>> peers;
  int busy = 0, served = 0;
  for (int i = 0; i < 80; ++i) {
    auto p = std::make_unique<RawPeer>(d.socket_path());
    p->Send(ipc::BuildFrame(2, static_cast<uint64_t>(i), {}));
    auto [op, id, body] = p->Read();
    if (op == 0x82) {
      ++served;
      peers.push_back(std::move(p));  // keep it open, holding a descriptor
    } else if (op == kError && ErrorOf(body).code == ipc::ErrorCode::kBusy) {
      ++busy;
    }
  }
  EXPECT_GT(served, 10);
  EXPECT_GT(busy, 0) << "the limit was never reached";
  EXPECT_EQ(served + busy, 80) << "every client got an answer";
  peers.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(d.Connect().Ping().ok()) << "clients are served again once others leave";
  // Refused at the connection cap the descriptor limit sets, before the
  // limit itself is reached (docs/reliability.md).
  EXPECT_THAT(d.log(), HasSubstr("its maximum (max_connections, RLIMIT_NOFILE)"));
}

class TmpfsCache : public ::testing::Test {
 protected:
  void MountCache(DaemonProcess& d, const char* size) {
    fs::create_directories(d.cache_dir());
    if (mount("tmpfs", d.cache_dir().c_str(), "tmpfs", 0, size) != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << strerror(errno);
    }
    mounted_ = d.cache_dir();
  }
  void TearDown() override {
    if (!mounted_.empty()) umount2(mounted_.c_str(), MNT_DETACH);
  }
  std::string mounted_;
};

// A cache folder that cannot be written: root ignores permission bits and a
// read-only remount is refused while the index is mapped writable, so the
// folder is made immutable (chattr +i), which stops root too.
TEST(DaemonFaults, AnUnwritableCacheFolderFailsPutsAndKeepsServingHits) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  Client c = d.Connect();
  std::vector<uint8_t> wav = Tone(11);
  ASSERT_TRUE(c.Put("piper", "before", wav).ok());
  const std::string folder = d.cache_dir() + "/piper";
  if (system(("chattr +i " + folder + " 2> /dev/null").c_str()) != 0) {
    GTEST_SKIP() << "chattr +i is not supported here";
  }
  Status s = c.Put("piper", "after", wav);
  Result<AudioBuffer> hit = c.Get("piper", "before", Format::kWav);
  Status other_engine = c.Put("xtts", "elsewhere", wav);
  ASSERT_EQ(system(("chattr -i " + folder).c_str()), 0);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("Operation not permitted"));
  EXPECT_THAT(s.error().message, HasSubstr(folder));
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(ToVector(*hit), wav);
  EXPECT_TRUE(other_engine.ok()) << "the other engine's folder is writable";
  EXPECT_EQ(c.Get("piper", "after", Format::kWav).error().code, Errc::kNotFound);
  EXPECT_TRUE(c.Put("piper", "after", wav).ok()) << "writable again";
}

TEST_F(TmpfsCache, DiskFullDuringAVariantEncodeStillAnswersWithTheAudio) {
  DaemonProcess d;
  MountCache(d, "size=2m");
  ASSERT_TRUE(d.Start()) << d.log();
  Client c = d.Connect();
  ASSERT_TRUE(c.Put("piper", "long phrase", Tone(12, 4.0)).ok());
  // Fill what is left of the disk.
  {
    std::ofstream filler(d.cache_dir() + "/filler", std::ios::binary);
    std::vector<char> block(64 << 10, 'x');
    while (filler.write(block.data(), static_cast<long>(block.size()))) {
    }
  }
  Result<AudioBuffer> opus = c.Get("piper", "long phrase", Format::kOpus);
  ASSERT_TRUE(opus.ok()) << opus.error().message;
  ExpectOpusinfoClean(opus->u8(), d.dir());
  for (const auto& f : fs::directory_iterator(d.cache_dir() + "/piper")) {
    EXPECT_FALSE(f.path().filename().string().starts_with(".tmp-")) << "partial file left";
    EXPECT_NE(f.path().extension(), ".opus") << "a variant was stored on a full disk?";
  }
  EXPECT_THAT(d.log(), HasSubstr("No space left on device"));
  fs::remove(d.cache_dir() + "/filler");
  EXPECT_TRUE(c.Put("piper", "after space returns", Tone(13)).ok());
}

// No engine or text reaches outside the cache folder: engines are names from
// the config (never paths) and file names are hex digests of the text.
TEST(DaemonFaults, NoEngineOrTextReachesOutsideTheCacheFolder) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client c = d.Connect();
  std::vector<uint8_t> wav = Tone(14);
  for (const char* engine : {"../etc", "piper/../../x", "/tmp", "", ".", "PIPER", "piper\n"}) {
    Status s = c.Put(engine, "hello", wav);
    ASSERT_FALSE(s.ok()) << engine;
    EXPECT_EQ(s.error().code, Errc::kUnknownEngine) << engine;
  }
  for (std::string text : {std::string("../../../../tmp/escape"), std::string("a/b\0c", 5),
                           std::string(4096, '/'), std::string("..")}) {
    ASSERT_TRUE(c.Put("piper", text, wav).ok());
    EXPECT_TRUE(c.Get("piper", text, Format::kWav).ok());
  }
  EXPECT_EQ(c.Put("piper", std::string(4097, 'a'), wav).error().code, Errc::kTooLarge);
  // Everything the daemon wrote is in the cache folder, under an engine, named by a digest.
  std::set<std::string> outside;
  for (const auto& f : fs::recursive_directory_iterator(d.dir())) {
    const std::string rel = fs::relative(f.path(), d.dir()).string();
    if (rel == "cache" || rel == "ttscached.sock" || rel == "ttscached.conf" || rel == "daemon.log")
      continue;
    if (rel.starts_with("cache/")) {
      const std::string inside = rel.substr(6);
      bool ok = inside == ".ttscache-index" || inside == ".ttscache-lock" || inside == "piper" ||
                inside == "xtts" ||
                ((inside.starts_with("piper/") || inside.starts_with("xtts/")) &&
                 inside.find('/') == inside.rfind('/') && inside.ends_with(".wav") &&
                 inside.size() - inside.find('/') - 1 == 68);
      if (ok) continue;
    }
    outside.insert(rel);
  }
  EXPECT_TRUE(outside.empty()) << "unexpected file: " << *outside.begin();
  EXPECT_FALSE(fs::exists("/tmp/escape.wav"));
}

}  // namespace
}  // namespace ttscache
