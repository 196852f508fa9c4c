// CircuitBreaker: every transition with a clock the test moves — up to down
// after five failures in a row (a success between resets the count), down
// skipping until the back-off, one probe, the probe's success (up, back-off
// reset) and failure (down, back-off doubled up to 30 s), late results of
// operations admitted while up ignored, one log line per change.
#include "daemon/tier/circuit_breaker.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ttscache {
namespace {

using ::testing::HasSubstr;
using Ticket = CircuitBreaker::Ticket;

// Fails `n` operations admitted at `now`; returns the log lines.
std::vector<std::string> Fail(CircuitBreaker& b, int n, int64_t now) {
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) {
    const Ticket t = b.Admit(now);
    EXPECT_EQ(t, Ticket::kGo);
    if (auto line = b.RecordFailure(t, now, "connection refused")) lines.push_back(*line);
  }
  return lines;
}

TEST(CircuitBreaker, OpensAfterFiveFailuresInARow) {
  CircuitBreaker b;
  EXPECT_TRUE(Fail(b, 4, 0).empty());
  EXPECT_EQ(b.state(), BreakerState::kUp);
  std::vector<std::string> lines = Fail(b, 1, 0);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "tier: down after 5 failures in a row (last: connection refused); lookups and writes "
            "skipped, retry in 1 s");
  EXPECT_EQ(b.state(), BreakerState::kDown);
  EXPECT_EQ(b.opens(), 1u);
}

TEST(CircuitBreaker, ASuccessResetsTheCount) {
  CircuitBreaker b;
  Fail(b, 4, 0);
  EXPECT_FALSE(b.RecordSuccess(b.Admit(0)).has_value());
  Fail(b, 4, 0);
  EXPECT_EQ(b.state(), BreakerState::kUp);
  Fail(b, 1, 0);
  EXPECT_EQ(b.state(), BreakerState::kDown);
}

TEST(CircuitBreaker, DownSkipsUntilTheBackoffThenProbesOnce) {
  CircuitBreaker b;
  Fail(b, 5, 1000);
  EXPECT_EQ(b.Admit(1000), Ticket::kSkip);
  EXPECT_TRUE(b.Skipping(1999));
  EXPECT_EQ(b.Admit(1999), Ticket::kSkip);
  EXPECT_FALSE(b.Skipping(2000));
  EXPECT_EQ(b.Admit(2000), Ticket::kProbe);
  EXPECT_EQ(b.state(), BreakerState::kProbing);
  EXPECT_TRUE(b.Skipping(2001));
  EXPECT_EQ(b.Admit(2001), Ticket::kSkip);  // one probe at a time
  EXPECT_EQ(b.Admit(90000), Ticket::kSkip);
}

TEST(CircuitBreaker, AProbeThatSucceedsBringsItUp) {
  CircuitBreaker b;
  Fail(b, 5, 0);
  const Ticket probe = b.Admit(1000);
  ASSERT_EQ(probe, Ticket::kProbe);
  std::optional<std::string> line = b.RecordSuccess(probe);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, "tier: up again");
  EXPECT_EQ(b.state(), BreakerState::kUp);
  EXPECT_EQ(b.Admit(1000), Ticket::kGo);
  // The back-off starts over: down again waits 1 s, not 2.
  Fail(b, 5, 5000);
  EXPECT_EQ(b.backoff_ms(), 1000);
  EXPECT_EQ(b.opens(), 2u);
}

TEST(CircuitBreaker, AProbeThatFailsDoublesTheBackoffUpTo30s) {
  CircuitBreaker b;
  Fail(b, 5, 0);
  int64_t now = 0;
  const int64_t expected[] = {2000, 4000, 8000, 16000, 30000, 30000};
  for (int64_t backoff : expected) {
    now += b.backoff_ms();
    EXPECT_EQ(b.Admit(now - 1), Ticket::kSkip);
    const Ticket probe = b.Admit(now);
    ASSERT_EQ(probe, Ticket::kProbe);
    std::optional<std::string> line = b.RecordFailure(probe, now, "timed out");
    ASSERT_TRUE(line.has_value());
    EXPECT_THAT(*line, HasSubstr("probe failed: timed out"));
    EXPECT_EQ(b.state(), BreakerState::kDown);
    EXPECT_EQ(b.backoff_ms(), backoff);
  }
  EXPECT_THAT(*b.RecordFailure(b.Admit(now + 30000), now + 30000, "x"), HasSubstr("retry in 30 s"));
  EXPECT_EQ(b.opens(), 1u);  // probes failing are not new openings
}

TEST(CircuitBreaker, LateResultsOfOperationsAdmittedWhileUpAreIgnored) {
  CircuitBreaker b;
  const Ticket late_ok = b.Admit(0), late_bad = b.Admit(0);
  Fail(b, 5, 0);
  EXPECT_FALSE(b.RecordSuccess(late_ok).has_value());
  EXPECT_FALSE(b.RecordFailure(late_bad, 0, "x").has_value());
  EXPECT_EQ(b.state(), BreakerState::kDown);
  const Ticket probe = b.Admit(1000);
  EXPECT_FALSE(b.RecordSuccess(late_ok).has_value());  // not the probe: still probing
  EXPECT_EQ(b.state(), BreakerState::kProbing);
  EXPECT_TRUE(b.RecordSuccess(probe).has_value());
  EXPECT_EQ(b.state(), BreakerState::kUp);
}

}  // namespace
}  // namespace ttscache
