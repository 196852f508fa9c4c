// ClaimTable: directed cases for each rule of docs/protocol.md's "Claims"
// (claim, wait, fulfil, drop, disconnects, lease expiry, wait deadlines,
// every limit), then thousands of random operations against a simple model
// (a map of key → holder, lease and waiters): at most one claim per key,
// waiters served oldest first, none lost or duplicated, counters and
// NextDeadline as the model says.
#include "daemon/claim_table.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace ttscache {
namespace {

using ::testing::HasSubstr;
using Outcome = ClaimTable::Outcome;

ParkedGet Get(uint64_t connection, uint64_t request) {
  ParkedGet g;
  g.connection = connection;
  g.request = request;
  g.engine = "piper";
  g.text = "Hello";
  return g;
}

ClaimLimits Limits() {
  ClaimLimits l;
  l.lease_ms = 1000;
  l.max_wait_ms = 5000;
  return l;
}

const std::string kKey = "piper/aa11";

std::vector<uint64_t> Requests(const std::vector<ParkedGet>& gets) {
  std::vector<uint64_t> r;
  for (const ParkedGet& g : gets) r.push_back(g.request);
  return r;
}

TEST(ClaimTable, FirstMissClaimsTheOthersWaitAndAPutServesThemOldestFirst) {
  ClaimTable t(Limits());
  ClaimTable::Answer a = t.OnMiss(kKey, Get(1, 10), 3000, 0);
  EXPECT_EQ(a.outcome, Outcome::kClaimed);
  EXPECT_EQ(a.lease_ms, 1000u);
  EXPECT_EQ(t.NextDeadline(), 1000);
  EXPECT_EQ(t.OnMiss(kKey, Get(2, 20), 3000, 5).outcome, Outcome::kWaiting);
  EXPECT_EQ(t.OnMiss(kKey, Get(3, 30), 200, 6).outcome, Outcome::kWaiting);
  // The holder's own connection waits too (another GET of its own).
  EXPECT_EQ(t.OnMiss(kKey, Get(1, 11), 3000, 7).outcome, Outcome::kWaiting);
  EXPECT_EQ(t.NextDeadline(), 206);  // request 30's wait
  EXPECT_EQ(t.ParkedBy(2), 1u);
  EXPECT_EQ(t.ParkedBy(1), 1u);
  ClaimCounters c = t.counters();
  EXPECT_EQ(c.claims, 1u);
  EXPECT_EQ(c.claim_waits, 3u);
  EXPECT_EQ(c.claims_open, 1u);
  EXPECT_EQ(c.waiting, 3u);

  std::vector<ParkedGet> served = t.Fulfil(kKey);
  EXPECT_EQ(Requests(served), (std::vector<uint64_t>{20, 30, 11}));
  EXPECT_EQ(served[1].parked_ms, 6);
  EXPECT_EQ(served[1].deadline_ms, 206);
  EXPECT_EQ(served[0].engine, "piper");
  c = t.counters();
  EXPECT_EQ(c.waits_served, 3u);
  EXPECT_EQ(c.claims_open, 0u);
  EXPECT_EQ(c.waiting, 0u);
  EXPECT_EQ(t.NextDeadline(), std::nullopt);
  EXPECT_EQ(t.ParkedBy(2), 0u);
  // A put of an entry nobody claimed: nothing to do.
  EXPECT_TRUE(t.Fulfil(kKey).empty());
  // The entry can be claimed again (e.g. it was evicted at once).
  EXPECT_EQ(t.OnMiss(kKey, Get(4, 40), 0, 10).outcome, Outcome::kClaimed);
}

TEST(ClaimTable, WaitMsZeroIsAMissAtOnce) {
  ClaimTable t(Limits());
  ASSERT_EQ(t.OnMiss(kKey, Get(1, 1), 0, 0).outcome, Outcome::kClaimed);
  ClaimTable::Answer a = t.OnMiss(kKey, Get(2, 2), 0, 0);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("held by another client"));
  EXPECT_EQ(t.counters().waiting, 0u);
  EXPECT_EQ(t.counters().claims_refused, 0u) << "not a limit";
}

TEST(ClaimTable, DropPassesTheClaimToTheLongestWaiter) {
  ClaimTable t(Limits());
  t.OnMiss(kKey, Get(1, 1), 0, 0);
  t.OnMiss(kKey, Get(2, 2), 3000, 1);
  t.OnMiss(kKey, Get(3, 3), 3000, 2);
  std::vector<ClaimTable::Takeover> takeovers;
  EXPECT_FALSE(t.Drop(kKey, 2, 10, &takeovers)) << "a waiter holds nothing";
  EXPECT_FALSE(t.Drop("piper/other", 1, 10, &takeovers));
  EXPECT_TRUE(takeovers.empty());
  EXPECT_TRUE(t.Drop(kKey, 1, 100, &takeovers));
  ASSERT_EQ(takeovers.size(), 1u);
  EXPECT_EQ(takeovers[0].get.request, 2u);
  EXPECT_EQ(takeovers[0].lease_ms, 1000u);
  ClaimCounters c = t.counters();
  EXPECT_EQ(c.takeovers, 1u);
  EXPECT_EQ(c.claims, 2u) << "takeovers count as claims";
  EXPECT_EQ(c.claims_open, 1u);
  EXPECT_EQ(c.waiting, 1u);
  // The new holder's lease runs from the takeover.
  EXPECT_EQ(t.NextDeadline(), 1100);
  // The old holder dropped it: a second drop is false; the new one can.
  EXPECT_FALSE(t.Drop(kKey, 1, 200, &takeovers));
  EXPECT_TRUE(t.Drop(kKey, 2, 200, &takeovers));
  ASSERT_EQ(takeovers.size(), 2u);
  EXPECT_EQ(takeovers[1].get.request, 3u);
  // Nobody left to pass it to: the claim ends.
  EXPECT_TRUE(t.Drop(kKey, 3, 300, &takeovers));
  EXPECT_EQ(takeovers.size(), 2u);
  EXPECT_EQ(t.counters().claims_open, 0u);
  EXPECT_EQ(t.NextDeadline(), std::nullopt);
}

TEST(ClaimTable, HolderDisconnectPassesOnAndTheLeaseRestarts) {
  ClaimTable t(Limits());
  t.OnMiss(kKey, Get(1, 1), 0, 0);
  t.OnMiss("piper/bb22", Get(1, 2), 0, 0);
  t.OnMiss(kKey, Get(2, 3), 3000, 10);
  t.OnMiss(kKey, Get(3, 4), 3000, 20);
  std::vector<ClaimTable::Takeover> takeovers = t.OnDisconnect(1, 700);
  ASSERT_EQ(takeovers.size(), 1u);
  EXPECT_EQ(takeovers[0].get.connection, 2u);
  EXPECT_EQ(takeovers[0].get.request, 3u);
  ClaimCounters c = t.counters();
  EXPECT_EQ(c.claims_open, 1u) << "bb22 had no waiter: it ended";
  EXPECT_EQ(c.waiting, 1u);
  EXPECT_EQ(c.takeovers, 1u);
  // Lease from 700, not from 0; request 4 waits until 3020.
  EXPECT_EQ(t.NextDeadline(), 1700);
  ClaimTable::Expired e = t.Expire(1000);
  EXPECT_TRUE(e.takeovers.empty()) << "the old lease (1000) is not the new holder's";
  EXPECT_TRUE(e.timed_out.empty());
}

TEST(ClaimTable, WaiterDisconnectIsForgotten) {
  ClaimTable t(Limits());
  t.OnMiss(kKey, Get(1, 1), 0, 0);
  t.OnMiss(kKey, Get(2, 2), 3000, 0);
  t.OnMiss(kKey, Get(3, 3), 3000, 0);
  t.OnMiss(kKey, Get(2, 4), 100, 0);
  EXPECT_TRUE(t.OnDisconnect(2, 10).empty());
  EXPECT_EQ(t.ParkedBy(2), 0u);
  EXPECT_EQ(t.counters().waiting, 1u);
  EXPECT_EQ(t.NextDeadline(), 1000) << "request 4's deadline (100) went with it";
  EXPECT_EQ(Requests(t.Fulfil(kKey)), (std::vector<uint64_t>{3}));
}

TEST(ClaimTable, HolderWaitingOnItsOwnClaimDisconnects) {
  // Its waiters are forgotten before its claims pass on, so the claim never
  // goes to a closed connection.
  ClaimTable t(Limits());
  t.OnMiss(kKey, Get(1, 1), 0, 0);
  t.OnMiss(kKey, Get(1, 2), 3000, 0);
  t.OnMiss(kKey, Get(2, 3), 3000, 0);
  std::vector<ClaimTable::Takeover> takeovers = t.OnDisconnect(1, 5);
  ASSERT_EQ(takeovers.size(), 1u);
  EXPECT_EQ(takeovers[0].get.connection, 2u);
  EXPECT_EQ(t.counters().waiting, 0u);
}

TEST(ClaimTable, LeaseExpiryWithoutWaitersEndsTheClaim) {
  ClaimTable t(Limits());
  t.OnMiss(kKey, Get(1, 1), 0, 0);
  EXPECT_TRUE(t.Expire(999).takeovers.empty());
  EXPECT_EQ(t.counters().claims_open, 1u);
  ClaimTable::Expired e = t.Expire(1000);
  EXPECT_TRUE(e.takeovers.empty());
  EXPECT_TRUE(e.timed_out.empty());
  ClaimCounters c = t.counters();
  EXPECT_EQ(c.lease_expiries, 1u);
  EXPECT_EQ(c.claims_open, 0u);
  EXPECT_EQ(c.takeovers, 0u);
  EXPECT_EQ(t.NextDeadline(), std::nullopt);
  // A late put after the expiry: nothing to serve.
  EXPECT_TRUE(t.Fulfil(kKey).empty());
  // Its connection no longer counts it.
  EXPECT_FALSE(t.Drop(kKey, 1, 1001, nullptr));
}

TEST(ClaimTable, LeaseExpiryWithWaitersPassesTheClaim) {
  ClaimTable t(Limits());
  t.OnMiss(kKey, Get(1, 1), 0, 0);
  t.OnMiss(kKey, Get(2, 2), 5000, 100);
  t.OnMiss(kKey, Get(3, 3), 5000, 200);
  ClaimTable::Expired e = t.Expire(1500);
  ASSERT_EQ(e.takeovers.size(), 1u);
  EXPECT_EQ(e.takeovers[0].get.request, 2u);
  ClaimCounters c = t.counters();
  EXPECT_EQ(c.lease_expiries, 1u);
  EXPECT_EQ(c.takeovers, 1u);
  EXPECT_EQ(t.NextDeadline(), 2500) << "the new lease, from the expiry";
  // The old holder's drop does nothing now; its put still fulfils.
  EXPECT_FALSE(t.Drop(kKey, 1, 1600, nullptr));
  EXPECT_EQ(Requests(t.Fulfil(kKey)), (std::vector<uint64_t>{3}));
}

TEST(ClaimTable, ManyLeasesEndingTogetherAllEnd) {
  ClaimTable t(Limits());  // max_claims 16384 by default
  for (uint64_t i = 0; i < 16384; ++i) {
    ASSERT_EQ(t.OnMiss("k" + std::to_string(i), Get(i, i), 0, 0).outcome, Outcome::kClaimed);
  }
  t.OnMiss("k7", Get(99999, 1), 5000, 0);
  ClaimTable::Expired e = t.Expire(1000);
  ASSERT_EQ(e.takeovers.size(), 1u);
  EXPECT_EQ(e.takeovers[0].get.connection, 99999u);
  ClaimCounters c = t.counters();
  EXPECT_EQ(c.lease_expiries, 16384u);
  EXPECT_EQ(c.claims_open, 1u);
  EXPECT_EQ(t.NextDeadline(), 2000);
}

TEST(ClaimTable, WaitsEndAtTheirDeadlineCutToMaxWait) {
  ClaimLimits l = Limits();
  l.lease_ms = 100000;
  l.max_wait_ms = 2000;
  ClaimTable t(l);
  t.OnMiss(kKey, Get(1, 1), 0, 0);
  t.OnMiss(kKey, Get(2, 2), 60000, 10);  // cut to 2000: ends at 2010
  t.OnMiss(kKey, Get(3, 3), 500, 20);    // ends at 520
  t.OnMiss(kKey, Get(4, 4), 2000, 30);   // ends at 2030
  EXPECT_EQ(t.NextDeadline(), 520);
  ClaimTable::Expired e = t.Expire(519);
  EXPECT_TRUE(e.timed_out.empty());
  e = t.Expire(520);
  EXPECT_EQ(Requests(e.timed_out), (std::vector<uint64_t>{3}));
  EXPECT_EQ(e.timed_out[0].deadline_ms, 520);
  EXPECT_EQ(t.NextDeadline(), 2010);
  e = t.Expire(2030);
  EXPECT_EQ(Requests(e.timed_out), (std::vector<uint64_t>{2, 4}));
  ClaimCounters c = t.counters();
  EXPECT_EQ(c.wait_timeouts, 3u);
  EXPECT_EQ(c.waiting, 0u);
  EXPECT_EQ(c.claims_open, 1u) << "the holder still has its lease";
  EXPECT_EQ(t.NextDeadline(), 100000);
  // max_wait_s 0: nobody waits.
  l.max_wait_ms = 0;
  t.SetLimits(l);
  ClaimTable::Answer a = t.OnMiss(kKey, Get(5, 5), 1000, 3000);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("max_wait_s"));
}

TEST(ClaimTable, AWaiterDueWhenTheLeaseEndsTimesOutRatherThanTakesOver) {
  ClaimTable t(Limits());
  t.OnMiss(kKey, Get(1, 1), 0, 0);
  t.OnMiss(kKey, Get(2, 2), 1000, 0);  // due at 1000, with the lease
  t.OnMiss(kKey, Get(3, 3), 3000, 0);
  ClaimTable::Expired e = t.Expire(1000);
  EXPECT_EQ(Requests(e.timed_out), (std::vector<uint64_t>{2}));
  ASSERT_EQ(e.takeovers.size(), 1u);
  EXPECT_EQ(e.takeovers[0].get.request, 3u);
}

TEST(ClaimTable, EveryLimitIsRefusedNamingIt) {
  ClaimLimits l = Limits();
  l.max_claims = 3;
  l.max_claims_per_connection = 2;
  l.max_waiters_per_key = 2;
  l.max_parked_per_connection = 3;
  ClaimTable t(l);
  EXPECT_EQ(t.OnMiss("k1", Get(1, 1), 0, 0).outcome, Outcome::kClaimed);
  EXPECT_EQ(t.OnMiss("k2", Get(1, 2), 0, 0).outcome, Outcome::kClaimed);
  ClaimTable::Answer a = t.OnMiss("k3", Get(1, 3), 0, 0);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("max_claims_per_connection = 2"));
  EXPECT_EQ(t.OnMiss("k3", Get(2, 4), 0, 0).outcome, Outcome::kClaimed);
  a = t.OnMiss("k4", Get(3, 5), 0, 0);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("max_claims = 3"));

  EXPECT_EQ(t.OnMiss("k1", Get(4, 6), 1000, 0).outcome, Outcome::kWaiting);
  EXPECT_EQ(t.OnMiss("k1", Get(5, 7), 1000, 0).outcome, Outcome::kWaiting);
  a = t.OnMiss("k1", Get(6, 8), 1000, 0);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("max_waiters_per_key = 2"));

  // Connection 4 parks one here; with 2 waiting for slots it is at 3.
  a = t.OnMiss("k2", Get(4, 9), 1000, 0, 2);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("maximum of requests waiting (3"));
  EXPECT_EQ(t.OnMiss("k2", Get(4, 10), 1000, 0, 1).outcome, Outcome::kWaiting);
  EXPECT_EQ(t.ParkedBy(4), 2u);
  EXPECT_EQ(t.counters().claims_refused, 4u);

  // New limits apply to later calls.
  l.max_waiters_per_key = 3;
  t.SetLimits(l);
  EXPECT_EQ(t.OnMiss("k1", Get(6, 11), 1000, 0).outcome, Outcome::kWaiting);
}

// The waiters' memory is bounded in total, not only per key and per
// connection: long texts fill the budget and the next wait is refused; every
// way a waiter leaves gives its bytes back.
TEST(ClaimTable, WaitersMemoryIsBoundedInTotal) {
  ClaimLimits l = Limits();
  ParkedGet big = Get(2, 1);
  big.text.assign(100000, 'a');
  const uint64_t cost = ClaimTable::ParkedCost(kKey, big);
  l.max_parked_bytes = 3 * cost;
  ClaimTable t(l);
  EXPECT_EQ(t.OnMiss(kKey, Get(1, 1), 0, 0).outcome, Outcome::kClaimed);
  for (uint64_t r = 1; r <= 3; ++r) {
    ParkedGet g = big;
    g.connection = 1 + r;
    g.request = r;
    EXPECT_EQ(t.OnMiss(kKey, g, 1000, 0).outcome, Outcome::kWaiting);
  }
  EXPECT_EQ(t.parked_bytes(), 3 * cost);
  ClaimTable::Answer a = t.OnMiss(kKey, big, 1000, 0);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("maximum of waiting GETs"));
  // A disconnect, a timeout and a put each give their waiter's bytes back.
  t.OnDisconnect(2, 1);
  EXPECT_EQ(t.parked_bytes(), 2 * cost);
  ParkedGet g = big;
  g.connection = 9;
  EXPECT_EQ(t.OnMiss(kKey, g, 10, 1).outcome, Outcome::kWaiting);
  EXPECT_EQ(t.Expire(11).timed_out.size(), 1u);
  EXPECT_EQ(t.parked_bytes(), 2 * cost);
  EXPECT_EQ(t.Fulfil(kKey).size(), 2u);
  EXPECT_EQ(t.parked_bytes(), 0u);
}

// Claims turned off: every claim ends and every waiter comes back to be
// answered; nothing is left to expire or to pass on.
TEST(ClaimTable, EndAllReturnsEveryWaiterAndForgetsTheClaims) {
  ClaimTable t(Limits());
  EXPECT_EQ(t.OnMiss("k1", Get(1, 1), 0, 0).outcome, Outcome::kClaimed);
  EXPECT_EQ(t.OnMiss("k2", Get(1, 2), 0, 0).outcome, Outcome::kClaimed);
  EXPECT_EQ(t.OnMiss("k1", Get(2, 3), 1000, 0).outcome, Outcome::kWaiting);
  EXPECT_EQ(t.OnMiss("k1", Get(3, 4), 1000, 0).outcome, Outcome::kWaiting);
  EXPECT_EQ(t.OnMiss("k2", Get(2, 5), 1000, 0).outcome, Outcome::kWaiting);
  std::vector<uint64_t> ended = Requests(t.EndAll());
  std::sort(ended.begin(), ended.end());
  EXPECT_EQ(ended, (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(t.counters().claims_open, 0u);
  EXPECT_EQ(t.counters().waiting, 0u);
  EXPECT_EQ(t.ParkedBy(2), 0u);
  EXPECT_EQ(t.HeldBy(1), 0u);
  EXPECT_EQ(t.parked_bytes(), 0u);
  EXPECT_FALSE(t.NextDeadline().has_value());
  EXPECT_TRUE(t.OnDisconnect(1, 10).empty());
  // Claims on again: a fresh table.
  EXPECT_EQ(t.OnMiss("k1", Get(4, 6), 0, 20).outcome, Outcome::kClaimed);
}

TEST(ClaimTable, TakeoverIgnoresThePerConnectionClaimLimit) {
  // A waiter admitted under the limits is not refused its takeover: the
  // others would wait for nobody.
  ClaimLimits l = Limits();
  l.max_claims_per_connection = 1;
  ClaimTable t(l);
  t.OnMiss("k1", Get(1, 1), 0, 0);
  t.OnMiss("k2", Get(2, 2), 0, 0);
  t.OnMiss("k1", Get(2, 3), 1000, 0);
  std::vector<ClaimTable::Takeover> takeovers = t.OnDisconnect(1, 5);
  ASSERT_EQ(takeovers.size(), 1u);
  EXPECT_EQ(takeovers[0].get.request, 3u);
}

// ---- the model ----

struct ModelWaiter {
  uint64_t connection, request;
  int64_t deadline;
};
struct ModelClaim {
  uint64_t holder;
  int64_t lease_end;
  std::vector<ModelWaiter> waiters;  // oldest first
};

struct Model {
  ClaimLimits limits;
  std::map<std::string, ModelClaim> claims;
  ClaimCounters counters;
  std::set<uint64_t> live;  // requests parked and not yet handed back

  uint32_t Parked(uint64_t connection) const {
    uint32_t n = 0;
    for (const auto& [k, c] : claims) {
      for (const ModelWaiter& w : c.waiters) n += w.connection == connection;
    }
    return n;
  }
  uint32_t Held(uint64_t connection) const {
    uint32_t n = 0;
    for (const auto& [k, c] : claims) n += c.holder == connection;
    return n;
  }
  uint64_t Waiting() const {
    uint64_t n = 0;
    for (const auto& [k, c] : claims) n += c.waiters.size();
    return n;
  }
  std::optional<int64_t> NextDeadline() const {
    std::optional<int64_t> next;
    for (const auto& [k, c] : claims) {
      next = next ? std::min(*next, c.lease_end) : c.lease_end;
      for (const ModelWaiter& w : c.waiters) next = std::min(*next, w.deadline);
    }
    return next;
  }
  // The claim passes to its first waiter; returns its request, or 0.
  uint64_t PassOn(const std::string& key, int64_t now) {
    ModelClaim& c = claims.at(key);
    if (c.waiters.empty()) {
      claims.erase(key);
      return 0;
    }
    ModelWaiter w = c.waiters.front();
    c.waiters.erase(c.waiters.begin());
    c.holder = w.connection;
    c.lease_end = now + limits.lease_ms;
    ++counters.takeovers;
    ++counters.claims;
    return w.request;
  }
};

TEST(ClaimTable, RandomOperationsMatchAModel) {
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    std::mt19937 rng(seed);
    ClaimLimits limits;
    limits.lease_ms = 40 + seed * 5;
    limits.max_wait_ms = 60 + seed * 7;
    limits.max_claims = 5;
    limits.max_claims_per_connection = 2;
    limits.max_waiters_per_key = 4;
    limits.max_parked_per_connection = 5;
    ClaimTable table(limits);
    Model model{limits, {}, {}, {}};
    int64_t now = 0;
    uint64_t next_request = 1;
    auto pick = [&](uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng); };
    auto key_of = [](uint32_t k) { return "piper/" + std::to_string(k); };
    // Every request a call hands back was parked, and only once.
    auto hand_back = [&](uint64_t request) {
      ASSERT_EQ(model.live.erase(request), 1u) << "request " << request << " handed back twice";
    };

    for (int step = 0; step < 6000; ++step) {
      now += pick(12);
      const uint32_t op = pick(100);
      if (op < 45) {  // a claiming GET misses
        const std::string key = key_of(pick(7));
        const uint64_t connection = 1 + pick(5);
        const uint64_t request = next_request++;
        const uint32_t wait = pick(4) == 0 ? 0 : pick(150);
        const uint32_t elsewhere = pick(4) == 0 ? pick(4) : 0;
        ClaimTable::Answer a = table.OnMiss(key, Get(connection, request), wait, now, elsewhere);
        Outcome expected;
        auto it = model.claims.find(key);
        if (it == model.claims.end()) {
          if (model.claims.size() >= limits.max_claims ||
              model.Held(connection) >= limits.max_claims_per_connection) {
            expected = Outcome::kRefused;
            ++model.counters.claims_refused;
          } else {
            expected = Outcome::kClaimed;
            model.claims[key] = ModelClaim{connection, now + limits.lease_ms, {}};
            ++model.counters.claims;
          }
        } else {
          const uint32_t cut = std::min(wait, limits.max_wait_ms);
          if (cut == 0) {
            expected = Outcome::kRefused;
          } else if (it->second.waiters.size() >= limits.max_waiters_per_key ||
                     model.Parked(connection) + elsewhere >= limits.max_parked_per_connection) {
            expected = Outcome::kRefused;
            ++model.counters.claims_refused;
          } else {
            expected = Outcome::kWaiting;
            it->second.waiters.push_back({connection, request, now + cut});
            model.live.insert(request);
            ++model.counters.claim_waits;
          }
        }
        ASSERT_EQ(a.outcome, expected) << "step " << step << ": " << a.why;
        if (a.outcome == Outcome::kClaimed) {
          EXPECT_EQ(a.lease_ms, limits.lease_ms);
        }
        if (a.outcome == Outcome::kRefused) {
          EXPECT_FALSE(a.why.empty());
        }
      } else if (op < 60) {  // a put
        const std::string key = key_of(pick(7));
        std::vector<uint64_t> expected;
        if (auto it = model.claims.find(key); it != model.claims.end()) {
          for (const ModelWaiter& w : it->second.waiters) expected.push_back(w.request);
          model.counters.waits_served += expected.size();
          model.claims.erase(it);
        }
        std::vector<ParkedGet> served = table.Fulfil(key);
        ASSERT_EQ(Requests(served), expected) << "step " << step << ": oldest first";
        for (uint64_t r : expected) hand_back(r);
      } else if (op < 70) {  // CLAIM_DROP
        const std::string key = key_of(pick(7));
        const uint64_t connection = 1 + pick(5);
        std::vector<ClaimTable::Takeover> takeovers;
        const bool dropped = table.Drop(key, connection, now, &takeovers);
        auto it = model.claims.find(key);
        const bool holds = it != model.claims.end() && it->second.holder == connection;
        ASSERT_EQ(dropped, holds) << "step " << step;
        uint64_t expected = holds ? model.PassOn(key, now) : 0;
        ASSERT_EQ(takeovers.size(), expected ? 1u : 0u) << "step " << step;
        if (expected) {
          EXPECT_EQ(takeovers[0].get.request, expected);
          hand_back(expected);
        }
      } else if (op < 78) {  // a connection closes
        const uint64_t connection = 1 + pick(5);
        std::vector<ClaimTable::Takeover> got = table.OnDisconnect(connection, now);
        for (auto& [key, c] : model.claims) {
          for (const ModelWaiter& w : c.waiters) {
            if (w.connection == connection) hand_back(w.request);
          }
          std::erase_if(c.waiters,
                        [&](const ModelWaiter& w) { return w.connection == connection; });
        }
        std::set<uint64_t> expected;
        std::vector<std::string> held;
        for (const auto& [key, c] : model.claims) {
          if (c.holder == connection) held.push_back(key);
        }
        for (const std::string& key : held) {
          if (uint64_t r = model.PassOn(key, now)) expected.insert(r);
        }
        std::set<uint64_t> actual;
        for (const ClaimTable::Takeover& t : got) {
          EXPECT_NE(t.get.connection, connection) << "claim handed to the closed connection";
          actual.insert(t.get.request);
        }
        ASSERT_EQ(actual, expected) << "step " << step;
        for (uint64_t r : expected) hand_back(r);
      } else {  // the timer
        ClaimTable::Expired e = table.Expire(now);
        std::set<uint64_t> timed_out, takeovers;
        std::vector<std::string> expired;
        for (auto& [key, c] : model.claims) {
          for (const ModelWaiter& w : c.waiters) {
            if (w.deadline <= now) timed_out.insert(w.request);
          }
          model.counters.wait_timeouts +=
              std::erase_if(c.waiters, [&](const ModelWaiter& w) { return w.deadline <= now; });
          if (c.lease_end <= now) expired.push_back(key);
        }
        for (const std::string& key : expired) {
          ++model.counters.lease_expiries;
          if (uint64_t r = model.PassOn(key, now)) takeovers.insert(r);
        }
        std::set<uint64_t> actual_timed_out, actual_takeovers;
        for (const ParkedGet& g : e.timed_out) {
          EXPECT_LE(g.deadline_ms, now);
          actual_timed_out.insert(g.request);
        }
        for (const ClaimTable::Takeover& t : e.takeovers) actual_takeovers.insert(t.get.request);
        ASSERT_EQ(actual_timed_out, timed_out) << "step " << step;
        ASSERT_EQ(actual_takeovers, takeovers) << "step " << step;
        EXPECT_EQ(e.timed_out.size(), timed_out.size()) << "a waiter twice";
        EXPECT_EQ(e.takeovers.size(), takeovers.size()) << "a claim passed twice";
        for (uint64_t r : timed_out) hand_back(r);
        for (uint64_t r : takeovers) hand_back(r);
      }

      // After every step: counters, deadlines and per-connection counts.
      const ClaimCounters c = table.counters();
      const ClaimCounters& m = model.counters;
      ASSERT_EQ(c.claims, m.claims) << "step " << step;
      ASSERT_EQ(c.claim_waits, m.claim_waits) << "step " << step;
      ASSERT_EQ(c.waits_served, m.waits_served) << "step " << step;
      ASSERT_EQ(c.wait_timeouts, m.wait_timeouts) << "step " << step;
      ASSERT_EQ(c.lease_expiries, m.lease_expiries) << "step " << step;
      ASSERT_EQ(c.takeovers, m.takeovers) << "step " << step;
      ASSERT_EQ(c.claims_refused, m.claims_refused) << "step " << step;
      ASSERT_EQ(c.claims_open, model.claims.size()) << "step " << step;
      ASSERT_EQ(c.waiting, model.Waiting()) << "step " << step;
      ASSERT_EQ(c.waiting, model.live.size()) << "step " << step << ": a waiter lost";
      ASSERT_EQ(table.NextDeadline(), model.NextDeadline()) << "step " << step;
      for (uint64_t conn = 1; conn <= 5; ++conn) {
        ASSERT_EQ(table.ParkedBy(conn), model.Parked(conn)) << "step " << step;
      }
    }
    // Everyone leaves: nothing is left behind.
    for (uint64_t conn = 1; conn <= 5; ++conn) table.OnDisconnect(conn, now);
    const ClaimCounters c = table.counters();
    EXPECT_EQ(c.claims_open, 0u);
    EXPECT_EQ(c.waiting, 0u);
    EXPECT_EQ(table.NextDeadline(), std::nullopt);
    // The model test visited every path.
    EXPECT_GT(c.takeovers, 0u);
    EXPECT_GT(c.lease_expiries, 0u);
    EXPECT_GT(c.wait_timeouts, 0u);
    EXPECT_GT(c.waits_served, 0u);
    EXPECT_GT(c.claims_refused, 0u);
  }
}

}  // namespace
}  // namespace ttscache
