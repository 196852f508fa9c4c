// Regression tests from an adversarial review of issue #17 ("Operate"): a
// real ttscached driven by careless or hostile clients, each test the
// reproduction of one bug found (see the commit that fixed it).
//  - A client putting to ever new voices made the daemon keep one open
//    directory descriptor per voice name ever used, without bound.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/cachekey/cache_key.hpp"
#include "tests/e2e/daemon_e2e_helpers.hpp"
#include "tests/e2e/daemon_process.hpp"

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

}  // namespace
}  // namespace ttscache
