// Helpers of the fleet tier's end-to-end tests (tier_test.cpp,
// tier_review_test.cpp): the tier's STATS block read over a raw connection,
// polling for what the tier does asynchronously (write-behind, the
// breaker), and elapsed time. Header-only, for test programs.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "ipc/protocol.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/support/raw_peer.hpp"

namespace ttscache::tier_e2e {

using Clock = std::chrono::steady_clock;

inline int64_t MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// STATS with flag 16 over a raw connection (nothing of the client library's
// tier API needed); a test failure and zeros when there is no tier block.
inline ipc::TierStatsWire TierStats(testing::DaemonProcess& d) {
  testing::RawPeer peer(d.socket_path());
  EXPECT_TRUE(peer.connected);
  peer.Send(ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kStats), 7,
                            ipc::EncodeStatsRequest(ipc::kStatsTier)));
  auto [opcode, id, reply] = peer.Read();
  EXPECT_EQ(opcode, ipc::ReplyOpcode(ipc::Opcode::kStats));
  Result<ipc::StatsReply> stats = ipc::DecodeStatsReply(reply, ipc::kStatsTier);
  EXPECT_TRUE(stats.ok() && stats->has_tier)
      << (stats.ok() ? "no tier part" : stats.error().message);
  return stats.ok() ? stats->tier : ipc::TierStatsWire{};
}

// Polls `ok` every 25 ms for up to 10 s; its last answer.
inline bool Eventually(const std::function<bool()>& ok) {
  for (int i = 0; i < 400; ++i) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return ok();
}

}  // namespace ttscache::tier_e2e
