// Regression tests from an adversarial review of issue #17 ("Operate"): a
// real ttscached driven by careless or hostile clients, each test the
// reproduction of one bug found (see the commit that fixed it).
//  - A client putting to ever new voices made the daemon keep one open
//    directory descriptor per voice name ever used, without bound.
//  - A PUT_FILE with a last_used_ns before 2001 (a file with an epoch
//    mtime, as Nix or `tar --mtime=@0` leave them) sat at the LRU end and
//    stopped max_age from expiring anything else.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/cachekey/cache_key.hpp"
#include "tests/e2e/daemon_e2e_helpers.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/support/raw_peer.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using e2e::Tone;
using testing::DaemonProcess;
using testing::Keys;

size_t OpenDescriptorsOf(pid_t pid) {
  size_t n = 0;
  for (const auto& f : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    (void)f;
    ++n;
  }
  return n;
}

bool WaitForLog(DaemonProcess& d, const std::string& line) {
  for (int i = 0; i < 400; ++i) {
    if (d.log().find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// Any client may PUT to a new voice; with max_entries small, the LRU empties
// old voices and the index gives their places to new ones, so there is no
// end to the names a client can use. The daemon must not keep a descriptor
// for each (it ran out of descriptors: no new client, no cache file opened).
TEST(OperateReview, ManyVoicesDoNotEachKeepADescriptor) {
  DaemonProcess d({}, Keys{{"max_entries", "20"}});
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  const std::vector<uint8_t> wav = Tone(1, 0.02);
  ASSERT_TRUE(client.Put("piper/warmup", "a text", wav).ok());
  const size_t before = OpenDescriptorsOf(d.pid());
  constexpr int kVoices = 1500;  // more than the index's 1,024 voices
  for (int i = 0; i < kVoices; ++i) {
    Status put = client.Put("piper/v" + std::to_string(i), "a text", wav);
    ASSERT_TRUE(put.ok()) << "voice " << i << ": " << put.error().message;
  }
  const size_t after = OpenDescriptorsOf(d.pid());
  EXPECT_LT(after, before + 300) << "descriptors before " << before << ", after " << after;
  // Still served: the latest voice's entry, and a new client.
  EXPECT_TRUE(client.Get("piper/v" + std::to_string(kVoices - 1), "a text", Format::kWav).ok());
  Client late = d.Connect();
  EXPECT_TRUE(late.Ping());
}

// max_age walks the LRU end: an entry adopted with a last-used time from
// 1970 (an epoch mtime) must not stop it there forever.
TEST(OperateReview, MaxAgeIsNotStoppedByAnEntryAdoptedWithAnEpochTime) {
  DaemonProcess d({}, Keys{{"max_age", "1h"}});
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  const std::vector<uint8_t> wav = Tone(1);
  const std::string path = d.dir() + "/adopted.wav";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(wav.data()), static_cast<long>(wav.size()));
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  const CacheKey epoch = ComputeCacheKey("epoch").value();
  const CacheKey old = ComputeCacheKey("old").value();
  // 1970-01-01T00:00:01, then two hours ago.
  ASSERT_TRUE(client.PutFileByKey("piper", epoch.digest, fd.get(), 1000000000ull).ok());
  ASSERT_TRUE(
      client.PutFileByKey("piper", old.digest, fd.get(), NowNs() - 2ull * 3600 * 1000000000).ok());
  ASSERT_TRUE(WaitForLog(d, "cache maintenance: removed 2 entries unused past max_age")) << d.log();
  const std::array<uint8_t, 32> keys[] = {epoch.digest, old.digest};
  Result<std::vector<bool>> has = client.HasKeys("piper", keys);
  ASSERT_TRUE(has.ok());
  EXPECT_FALSE((*has)[0]);
  EXPECT_FALSE((*has)[1]);
}

// DELETE and PURGE racing puts and gets (WAV and Opus, whose variant is
// encoded and stored on a worker meanwhile) of the same keys: a get serves a
// whole WAV that was put or a miss; a put acknowledged after the last delete
// is served; and at the end VERIFY finds nothing (no variant stored for an
// entry deleted meanwhile, no file the index does not name).
TEST(OperateReview, DeleteAndPurgeRacingPutsAndGetsLeaveNothingBehind) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start()) << d.log();
  const std::vector<uint8_t> a = Tone(1, 0.1), b = Tone(2, 0.1);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, failed{0};
  auto engine_of = [](int i) { return i % 2 ? std::string("piper/r") : std::string("piper"); };
  std::thread putter([&] {
    Client c = d.Connect();
    for (int i = 0; !stop; ++i) {
      if (!c.Put(engine_of(i), "race " + std::to_string(i % 3), i % 2 ? a : b).ok()) failed++;
    }
  });
  std::vector<std::thread> getters;
  for (Format f : {Format::kWav, Format::kOpus}) {
    getters.emplace_back([&, f] {
      Client c = d.Connect();
      for (int i = 0; !stop; ++i) {
        Result<AudioBuffer> got = c.Get(engine_of(i), "race " + std::to_string(i % 3), f);
        if (!got) {
          if (got.error().code != Errc::kNotFound) failed++;
          continue;
        }
        if (f == Format::kWav) {
          const std::vector<uint8_t> bytes = e2e::ToVector(*got);
          if (bytes != a && bytes != b) torn++;
        }
      }
    });
  }
  {
    testing::RawPeer peer(d.socket_path());
    ASSERT_TRUE(peer.connected);
    for (uint64_t id = 1; id <= 600; ++id) {
      std::vector<uint8_t> body;
      uint8_t op = 0;
      if (id % 10 == 0) {
        op = static_cast<uint8_t>(ipc::Opcode::kPurge);
        body = ipc::EncodePurgeRequest(id % 20 ? "piper/r" : "piper");
      } else {
        op = static_cast<uint8_t>(ipc::Opcode::kDelete);
        const std::string text = "race " + std::to_string(id % 3);
        body = ipc::EncodeDeleteRequest(
            {id % 2 ? "piper/r" : "piper", ipc::DeleteBy::kText, text, {}});
      }
      peer.Send(ipc::BuildFrame(op, id, body));
      auto [reply_op, reply_id, reply] = peer.Read();
      ASSERT_EQ(reply_op, op | ipc::kReplyBit) << "request " << id;
      ASSERT_EQ(reply_id, id);
    }
  }
  stop = true;
  putter.join();
  for (std::thread& t : getters) t.join();
  EXPECT_EQ(torn.load(), 0) << "a get served bytes that were never put";
  EXPECT_EQ(failed.load(), 0);
  // Puts acknowledged after the last delete are served, byte for byte.
  Client c = d.Connect();
  ASSERT_TRUE(c.Put("piper/r", "race 1", a).ok());
  Result<AudioBuffer> last = c.Get("piper/r", "race 1", Format::kWav);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(e2e::ToVector(*last), a);
  // Nothing left behind: every file is one the index names.
  testing::RawPeer peer(d.socket_path());
  peer.Send(ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kVerify), 1,
                            ipc::EncodeVerifyRequest({false})));
  auto [op, id, body] = peer.Read();
  ASSERT_EQ(op, static_cast<uint8_t>(ipc::Opcode::kVerify) | ipc::kReplyBit);
  Result<ipc::VerifyReply> verify = ipc::DecodeVerifyReply(body);
  ASSERT_TRUE(verify.ok());
  std::string problems;
  for (const auto& p : verify->problems) problems += p.kind + " " + p.path + "; ";
  EXPECT_EQ(verify->verdict, ipc::VerifyVerdict::kClean) << problems;
}

}  // namespace
}  // namespace ttscache
