// The client's timeout bounds every call: with the daemon stopped (SIGSTOP)
// a call fails with kUnavailable "timed out" after the timeout — once, not
// retried on a new connection — and once the daemon runs again the same
// Client works: the late reply to the timed-out request is not taken for a
// later one.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>

#include "tests/e2e/daemon_process.hpp"
#include "tests/support/wav_builder.hpp"

namespace ttscache {
namespace {

using testing::DaemonProcess;
using Clock = std::chrono::steady_clock;

TEST(ClientTimeout, AStoppedDaemonTimesOutAfterTheTimeoutAndTheClientRecovers) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  Client client = Client::Connect({d.socket_path(), 400}).value();
  std::vector<uint8_t> wav = testing::MakeWav(testing::WavSpec{}, std::vector<uint8_t>(800, 7));
  ASSERT_TRUE(client.Put("piper", "before the stop", wav).ok());

  d.Signal(SIGSTOP);
  const auto start = Clock::now();
  Result<AudioBuffer> stalled = client.Get("piper", "before the stop", Format::kWav);
  const double waited_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  d.Signal(SIGCONT);
  ASSERT_FALSE(stalled.ok());
  EXPECT_EQ(stalled.error().code, Errc::kUnavailable);
  EXPECT_NE(stalled.error().message.find("timed out"), std::string::npos)
      << stalled.error().message;
  EXPECT_GE(waited_ms, 390);
  EXPECT_LT(waited_ms, 700) << "a timed-out call must not be retried";

  // The daemon answers the stalled request late; the next call must get its
  // own reply: a miss for a text never put, then the entry for one that was.
  Result<AudioBuffer> miss = client.Get("piper", "never said", Format::kWav);
  ASSERT_FALSE(miss.ok());
  EXPECT_EQ(miss.error().code, Errc::kNotFound) << miss.error().message;
  Result<AudioBuffer> hit = client.Get("piper", "before the stop", Format::kWav);
  ASSERT_TRUE(hit.ok()) << hit.error().message;
  EXPECT_EQ(std::vector<uint8_t>(hit->u8().begin(), hit->u8().end()), wav);
}

}  // namespace
}  // namespace ttscache
