// SynthesisSlots: directed cases for each rule of docs/protocol.md's
// "Synthesis slots" (FIFO grants, size 0 = no limit, releases, disconnects,
// resizes, timeouts, hold ids, every bound), then thousands of random
// operations against a simple model: never more grants than a slot's size,
// first come first served, no waiter lost or granted twice, the snapshot's
// figures and NextDeadline as the model says.
#include "daemon/synthesis_slots.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>

namespace ttscache {
namespace {

using ::testing::HasSubstr;
using Outcome = SynthesisSlots::Outcome;

SlotLimits Limits() {
  SlotLimits l;
  l.sizes = {{"xtts", 1}, {"gpu", 2}, {"free", 0}};
  l.default_size = 2;
  l.max_wait_ms = 10000;
  return l;
}

// A copy: Snapshot() returns a temporary, so a pointer into it would dangle
// past the statement (ASan found one).
std::optional<SlotSnapshot> Find(const std::vector<SlotSnapshot>& all, const std::string& name) {
  for (const SlotSnapshot& s : all) {
    if (s.name == name) return s;
  }
  return std::nullopt;
}

std::vector<uint64_t> Requests(const std::vector<SlotGrant>& grants) {
  std::vector<uint64_t> r;
  for (const SlotGrant& g : grants) r.push_back(g.request);
  return r;
}

TEST(SynthesisSlots, GrantsUpToTheSizeThenWaitersGetUnitsInArrivalOrder) {
  SynthesisSlots s(Limits());
  SynthesisSlots::Answer a = s.Acquire("gpu", 1, 10, 1000, 0);
  ASSERT_EQ(a.outcome, Outcome::kGranted);
  EXPECT_EQ(a.grant.connection, 1u);
  EXPECT_EQ(a.grant.request, 10u);
  EXPECT_NE(a.grant.hold, 0u);
  EXPECT_EQ(a.grant.size, 2u);
  EXPECT_EQ(a.grant.held, 1u);
  EXPECT_EQ(a.grant.waited_ms, 0);
  const uint64_t first = a.grant.hold;
  SynthesisSlots::Answer b = s.Acquire("gpu", 2, 20, 1000, 1);
  ASSERT_EQ(b.outcome, Outcome::kGranted);
  EXPECT_EQ(b.grant.held, 2u);
  EXPECT_EQ(s.Acquire("gpu", 3, 30, 1000, 2).outcome, Outcome::kWaiting);
  EXPECT_EQ(s.Acquire("gpu", 4, 40, 1000, 3).outcome, Outcome::kWaiting);
  EXPECT_EQ(s.Acquire("gpu", 3, 31, 1000, 4).outcome, Outcome::kWaiting);
  EXPECT_EQ(s.ParkedBy(3), 2u);
  EXPECT_EQ(s.NextDeadline(), 1002);

  std::vector<SlotGrant> grants;
  ASSERT_TRUE(s.Release(1, first, 50, &grants));
  ASSERT_EQ(Requests(grants), (std::vector<uint64_t>{30}));
  EXPECT_EQ(grants[0].waited_ms, 48);
  EXPECT_EQ(grants[0].held, 2u);
  EXPECT_GT(grants[0].hold, b.grant.hold);
  ASSERT_TRUE(s.Release(2, b.grant.hold, 60, &grants));
  ASSERT_TRUE(s.Release(3, grants[0].hold, 70, &grants));
  EXPECT_EQ(Requests(grants), (std::vector<uint64_t>{30, 40, 31}));
  const std::optional<SlotSnapshot> gpu = Find(s.Snapshot(), "gpu");
  ASSERT_TRUE(gpu.has_value());
  EXPECT_EQ(gpu->size, 2u);
  EXPECT_EQ(gpu->held, 2u);
  EXPECT_EQ(gpu->waiting, 0u);
  EXPECT_EQ(gpu->acquired, 5u);
  EXPECT_EQ(gpu->waited, 3u);
  EXPECT_EQ(gpu->wait_us, (48u + 57u + 66u) * 1000u);
  EXPECT_EQ(s.NextDeadline(), std::nullopt);
}

TEST(SynthesisSlots, ANewAcquireDoesNotPassTheQueue) {
  // After a shrink, a release leaves held at the size: the unit goes to
  // nobody, and a newcomer waits behind the queue rather than taking it.
  SynthesisSlots s(Limits());
  SynthesisSlots::Answer a = s.Acquire("xtts", 1, 1, 1000, 0);
  EXPECT_EQ(s.Acquire("xtts", 2, 2, 1000, 0).outcome, Outcome::kWaiting);
  EXPECT_EQ(s.Acquire("xtts", 3, 3, 1000, 0).outcome, Outcome::kWaiting);
  std::vector<SlotGrant> grants;
  s.Release(1, a.grant.hold, 5, &grants);
  EXPECT_EQ(Requests(grants), (std::vector<uint64_t>{2}));
  EXPECT_EQ(s.Acquire("xtts", 4, 4, 1000, 6).outcome, Outcome::kWaiting);
  s.Release(2, grants[0].hold, 7, &grants);
  EXPECT_EQ(Requests(grants), (std::vector<uint64_t>{2, 3}));
}

TEST(SynthesisSlots, SizeZeroIsUnlimited) {
  SynthesisSlots s(Limits());
  for (uint64_t i = 1; i <= 50; ++i) {
    SynthesisSlots::Answer a = s.Acquire("free", i, i, 0, 0);
    ASSERT_EQ(a.outcome, Outcome::kGranted);
    EXPECT_EQ(a.grant.size, 0u);
    EXPECT_EQ(a.grant.held, i);
  }
  // default_size 0: every unnamed engine is unlimited too.
  SlotLimits l = Limits();
  l.default_size = 0;
  SynthesisSlots d(l);
  for (uint64_t i = 1; i <= 10; ++i)
    ASSERT_EQ(d.Acquire("piper", 1, i, 0, 0).outcome, Outcome::kGranted);
}

TEST(SynthesisSlots, ANameNotConfiguredHasTheDefaultSize) {
  SynthesisSlots s(Limits());
  EXPECT_EQ(s.Acquire("piper", 1, 1, 0, 0).grant.size, 2u);
  EXPECT_EQ(s.Acquire("piper", 1, 2, 0, 0).outcome, Outcome::kGranted);
  SynthesisSlots::Answer a = s.Acquire("piper", 1, 3, 0, 0);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("slot piper (size 2: 2 held, 0 waiting)"));
  EXPECT_THAT(a.why, HasSubstr("wait_ms is 0"));
}

TEST(SynthesisSlots, ReleasingAForeignOrUnknownHoldIsFalse) {
  SynthesisSlots s(Limits());
  SynthesisSlots::Answer a = s.Acquire("xtts", 1, 1, 0, 0);
  std::vector<SlotGrant> grants;
  EXPECT_FALSE(s.Release(2, a.grant.hold, 1, &grants)) << "another connection's hold";
  EXPECT_FALSE(s.Release(1, a.grant.hold + 1, 1, &grants)) << "no such hold";
  EXPECT_FALSE(s.Release(1, 0, 1, &grants));
  EXPECT_TRUE(s.Release(1, a.grant.hold, 1, &grants));
  EXPECT_FALSE(s.Release(1, a.grant.hold, 2, &grants)) << "released twice";
  EXPECT_TRUE(grants.empty());
  EXPECT_EQ(Find(s.Snapshot(), "xtts")->held, 0u);
}

TEST(SynthesisSlots, DisconnectReleasesHoldsAndGrantsWaiters) {
  SynthesisSlots s(Limits());
  s.Acquire("gpu", 1, 1, 0, 0);
  s.Acquire("gpu", 1, 2, 0, 0);
  s.Acquire("xtts", 1, 3, 0, 0);
  EXPECT_EQ(s.Acquire("gpu", 2, 4, 1000, 0).outcome, Outcome::kWaiting);
  EXPECT_EQ(s.Acquire("gpu", 1, 5, 1000, 0).outcome, Outcome::kWaiting);  // its own
  EXPECT_EQ(s.Acquire("xtts", 3, 6, 1000, 0).outcome, Outcome::kWaiting);
  std::vector<SlotGrant> grants = s.OnDisconnect(1, 10);
  std::set<uint64_t> granted;
  for (const SlotGrant& g : grants) {
    EXPECT_NE(g.connection, 1u) << "a unit granted to the closed connection";
    granted.insert(g.request);
  }
  EXPECT_EQ(granted, (std::set<uint64_t>{4, 6}));
  std::vector<SlotSnapshot> snap = s.Snapshot();
  EXPECT_EQ(Find(snap, "gpu")->held, 1u);
  EXPECT_EQ(Find(snap, "gpu")->waiting, 0u);
  EXPECT_EQ(Find(snap, "xtts")->held, 1u);
  EXPECT_EQ(s.ParkedBy(1), 0u);
  EXPECT_EQ(s.NextDeadline(), std::nullopt);
  EXPECT_TRUE(s.OnDisconnect(1, 11).empty());
}

TEST(SynthesisSlots, DisconnectOfAWaiterForgetsIt) {
  SynthesisSlots s(Limits());
  SynthesisSlots::Answer a = s.Acquire("xtts", 1, 1, 0, 0);
  s.Acquire("xtts", 2, 2, 1000, 0);
  s.Acquire("xtts", 3, 3, 2000, 0);
  EXPECT_TRUE(s.OnDisconnect(2, 5).empty());
  EXPECT_EQ(s.NextDeadline(), 2000);
  std::vector<SlotGrant> grants;
  s.Release(1, a.grant.hold, 6, &grants);
  EXPECT_EQ(Requests(grants), (std::vector<uint64_t>{3}));
}

TEST(SynthesisSlots, GrowingGrantsWaitersShrinkingTakesNothingBack) {
  SynthesisSlots s(Limits());
  SynthesisSlots::Answer a = s.Acquire("xtts", 1, 1, 0, 0);
  s.Acquire("xtts", 2, 2, 1000, 0);
  s.Acquire("xtts", 3, 3, 1000, 0);
  s.Acquire("xtts", 4, 4, 1000, 0);
  SlotLimits l = Limits();
  l.sizes["xtts"] = 3;
  std::vector<SlotGrant> grants = s.SetLimits(l, 20);
  EXPECT_EQ(Requests(grants), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(grants[1].size, 3u);
  EXPECT_EQ(grants[1].held, 3u);
  EXPECT_EQ(grants[1].waited_ms, 20);
  // Shrink to 1: the three holds stay; a release frees nothing for request 4.
  l.sizes["xtts"] = 1;
  EXPECT_TRUE(s.SetLimits(l, 30).empty());
  EXPECT_EQ(Find(s.Snapshot(), "xtts")->held, 3u);
  std::vector<SlotGrant> later;
  s.Release(1, a.grant.hold, 40, &later);
  s.Release(2, grants[0].hold, 41, &later);
  EXPECT_TRUE(later.empty()) << "2 held, size 1";
  s.Release(3, grants[1].hold, 42, &later);
  EXPECT_EQ(Requests(later), (std::vector<uint64_t>{4}));
  // A slot dropped from the list falls back to the default size.
  l.sizes.erase("xtts");
  s.SetLimits(l, 50);
  EXPECT_EQ(Find(s.Snapshot(), "xtts")->size, 2u);
}

TEST(SynthesisSlots, WaitsEndAtTheirDeadlineCutToMaxWait) {
  SlotLimits l = Limits();
  l.max_wait_ms = 500;
  SynthesisSlots s(l);
  s.Acquire("xtts", 1, 1, 0, 0);
  s.Acquire("xtts", 2, 2, 60000, 10);  // cut: 510
  s.Acquire("xtts", 3, 3, 100, 20);    // 120
  EXPECT_EQ(s.NextDeadline(), 120);
  EXPECT_TRUE(s.Expire(119).empty());
  std::vector<SlotTimeout> t = s.Expire(120);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].request, 3u);
  EXPECT_THAT(t[0].why,
              HasSubstr("no unit of slot xtts (size 1: 1 held, 1 waiting) within 100 ms"));
  t = s.Expire(600);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].request, 2u);
  EXPECT_THAT(t[0].why, HasSubstr("within 500 ms"));
  const std::optional<SlotSnapshot> x = Find(s.Snapshot(), "xtts");
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->timeouts, 2u);
  EXPECT_EQ(x->waiting, 0u);
  EXPECT_EQ(x->wait_us, (100u + 590u) * 1000u);
  EXPECT_EQ(s.NextDeadline(), std::nullopt);
  // max_wait 0: nobody waits.
  l.max_wait_ms = 0;
  s.SetLimits(l, 700);
  SynthesisSlots::Answer a = s.Acquire("xtts", 4, 4, 1000, 700);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("max_wait_s is 0"));
}

TEST(SynthesisSlots, HoldIdsAreNeverReused) {
  SynthesisSlots s(Limits());
  std::set<uint64_t> seen;
  for (int i = 0; i < 200; ++i) {
    SynthesisSlots::Answer a = s.Acquire("xtts", 1 + i % 3, i, 0, i);
    ASSERT_EQ(a.outcome, Outcome::kGranted);
    EXPECT_NE(a.grant.hold, 0u);
    EXPECT_TRUE(seen.insert(a.grant.hold).second) << "hold " << a.grant.hold << " reused";
    if (i % 2) {
      ASSERT_TRUE(s.Release(1 + i % 3, a.grant.hold, i, nullptr));
    } else {
      s.OnDisconnect(1 + i % 3, i);
    }
  }
}

TEST(SynthesisSlots, EveryBoundIsRefusedNamingIt) {
  SlotLimits l = Limits();
  l.max_holds_per_connection = 3;
  l.max_waiters = 2;
  l.max_parked_per_connection = 2;
  SynthesisSlots s(l);
  s.Acquire("free", 1, 1, 0, 0);
  s.Acquire("free", 1, 2, 0, 0);
  s.Acquire("xtts", 1, 3, 0, 0);
  SynthesisSlots::Answer a = s.Acquire("free", 1, 4, 0, 0);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("maximum of slot units (3)"));
  // Waiting acquires count toward the holds too.
  s.Acquire("free", 2, 5, 0, 0);
  s.Acquire("free", 2, 6, 0, 0);
  EXPECT_EQ(s.Acquire("xtts", 2, 7, 1000, 0).outcome, Outcome::kWaiting);
  a = s.Acquire("free", 2, 8, 0, 0);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("maximum of slot units"));
  // Waiting over all connections.
  EXPECT_EQ(s.Acquire("xtts", 3, 9, 1000, 0).outcome, Outcome::kWaiting);
  a = s.Acquire("xtts", 4, 10, 1000, 0);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("max_slot_waiters = 2"));
  // Parked on this connection, claims included.
  l.max_waiters = 100;
  s.SetLimits(l, 0);
  a = s.Acquire("xtts", 3, 11, 1000, 0, 1);
  EXPECT_EQ(a.outcome, Outcome::kRefused);
  EXPECT_THAT(a.why, HasSubstr("maximum of requests waiting (2"));
  EXPECT_EQ(s.Acquire("xtts", 3, 12, 1000, 0).outcome, Outcome::kWaiting);
  EXPECT_EQ(s.ParkedBy(3), 2u);
}

TEST(SynthesisSlots, SnapshotListsConfiguredAndUsedNames) {
  SynthesisSlots s(Limits());
  std::vector<SlotSnapshot> snap = s.Snapshot();
  ASSERT_EQ(snap.size(), 3u);
  EXPECT_EQ(snap[0].name, "free");
  EXPECT_EQ(snap[1].name, "gpu");
  EXPECT_EQ(snap[2].name, "xtts");
  EXPECT_EQ(snap[2].size, 1u);
  EXPECT_EQ(snap[2].held, 0u);
  s.Acquire("piper", 1, 1, 0, 0);
  snap = s.Snapshot();
  ASSERT_EQ(snap.size(), 4u);
  const std::optional<SlotSnapshot> piper = Find(snap, "piper");
  ASSERT_TRUE(piper.has_value());
  EXPECT_EQ(piper->size, 2u);
  EXPECT_EQ(piper->held, 1u);
  EXPECT_EQ(piper->acquired, 1u);
}

// ---- the model ----

struct ModelWaiter {
  uint64_t connection, request;
  int64_t parked, deadline;
};
struct ModelSlot {
  uint32_t held = 0;
  std::deque<ModelWaiter> waiters;
  uint64_t acquired = 0, waited = 0, timeouts = 0, wait_us = 0;
};

struct Model {
  SlotLimits limits;
  std::map<std::string, ModelSlot> slots;
  std::map<uint64_t, std::pair<uint64_t, std::string>> holds;  // hold → (connection, name)
  uint64_t next_hold = 1;
  std::set<uint64_t> live;  // waiting requests

  uint32_t SizeOf(const std::string& name) const {
    auto it = limits.sizes.find(name);
    return it == limits.sizes.end() ? limits.default_size : it->second;
  }
  uint32_t Parked(uint64_t connection) const {
    uint32_t n = 0;
    for (const auto& [name, s] : slots) {
      for (const ModelWaiter& w : s.waiters) n += w.connection == connection;
    }
    return n;
  }
  uint32_t Holds(uint64_t connection) const {
    uint32_t n = 0;
    for (const auto& [hold, h] : holds) n += h.first == connection;
    return n;
  }
  uint32_t Waiting() const {
    uint32_t n = 0;
    for (const auto& [name, s] : slots) n += s.waiters.size();
    return n;
  }
  std::optional<int64_t> NextDeadline() const {
    std::optional<int64_t> next;
    for (const auto& [name, s] : slots) {
      for (const ModelWaiter& w : s.waiters) next = next ? std::min(*next, w.deadline) : w.deadline;
    }
    return next;
  }
  SlotGrant Take(const std::string& name, uint64_t connection, uint64_t request, int64_t waited) {
    ModelSlot& s = slots[name];
    holds[next_hold] = {connection, name};
    ++s.held;
    ++s.acquired;
    return SlotGrant{connection, request, next_hold++, SizeOf(name), s.held, waited};
  }
  void Grant(const std::string& name, int64_t now, std::vector<SlotGrant>* out) {
    ModelSlot& s = slots[name];
    const uint32_t size = SizeOf(name);
    while (!s.waiters.empty() && (size == 0 || s.held < size)) {
      ModelWaiter w = s.waiters.front();
      s.waiters.pop_front();
      ++s.waited;
      s.wait_us += static_cast<uint64_t>(now - w.parked) * 1000;
      out->push_back(Take(name, w.connection, w.request, now - w.parked));
    }
  }
};

void ExpectSameGrants(const std::vector<SlotGrant>& actual, const std::vector<SlotGrant>& expected,
                      int step) {
  ASSERT_EQ(actual.size(), expected.size()) << "step " << step;
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].connection, expected[i].connection) << "step " << step;
    EXPECT_EQ(actual[i].request, expected[i].request) << "step " << step;
    EXPECT_EQ(actual[i].hold, expected[i].hold) << "step " << step;
    EXPECT_EQ(actual[i].size, expected[i].size) << "step " << step;
    EXPECT_EQ(actual[i].held, expected[i].held) << "step " << step;
    EXPECT_EQ(actual[i].waited_ms, expected[i].waited_ms) << "step " << step;
    // Never more units out than the slot's size.
    if (actual[i].size != 0) {
      EXPECT_LE(actual[i].held, actual[i].size) << "step " << step;
    }
  }
}

TEST(SynthesisSlots, RandomOperationsMatchAModel) {
  const std::vector<std::string> names = {"xtts", "gpu", "piper", "free"};
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    std::mt19937 rng(seed);
    auto pick = [&](uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng); };
    SlotLimits limits;
    limits.sizes = {{"xtts", 1}, {"gpu", 2}, {"free", 0}};
    limits.default_size = 3;
    limits.max_wait_ms = 80;
    limits.max_waiters = 6;
    limits.max_holds_per_connection = 4;
    limits.max_parked_per_connection = 3;
    SynthesisSlots slots(limits);
    Model model{limits, {}, {}, 1, {}};
    int64_t now = 0;
    uint64_t next_request = 1;
    std::set<uint64_t> issued;  // every hold id handed out

    for (int step = 0; step < 6000; ++step) {
      now += pick(10);
      const uint32_t op = pick(100);
      if (op < 45) {  // SLOT_ACQUIRE
        const std::string& name = names[pick(names.size())];
        const uint64_t connection = 1 + pick(5), request = next_request++;
        const uint32_t wait = pick(4) == 0 ? 0 : pick(120);
        const uint32_t elsewhere = pick(4) == 0 ? pick(3) : 0;
        SynthesisSlots::Answer a = slots.Acquire(name, connection, request, wait, now, elsewhere);
        const uint32_t size = model.SizeOf(name);
        ModelSlot& s = model.slots[name];
        if (model.Holds(connection) + model.Parked(connection) >= limits.max_holds_per_connection) {
          ASSERT_EQ(a.outcome, Outcome::kRefused) << "step " << step;
        } else if (s.waiters.empty() && (size == 0 || s.held < size)) {
          ASSERT_EQ(a.outcome, Outcome::kGranted) << "step " << step << ": " << a.why;
          ExpectSameGrants({a.grant}, {model.Take(name, connection, request, 0)}, step);
        } else if (std::min(wait, limits.max_wait_ms) == 0 ||
                   model.Waiting() >= limits.max_waiters ||
                   model.Parked(connection) + elsewhere >= limits.max_parked_per_connection) {
          ASSERT_EQ(a.outcome, Outcome::kRefused) << "step " << step;
        } else {
          ASSERT_EQ(a.outcome, Outcome::kWaiting) << "step " << step << ": " << a.why;
          s.waiters.push_back({connection, request, now, now + std::min(wait, limits.max_wait_ms)});
          model.live.insert(request);
        }
        if (a.outcome == Outcome::kRefused) {
          EXPECT_FALSE(a.why.empty());
        }
        if (a.outcome == Outcome::kGranted) {
          EXPECT_TRUE(issued.insert(a.grant.hold).second);
        }
      } else if (op < 70) {  // SLOT_RELEASE: mostly a real hold, sometimes someone else's
        uint64_t connection = 1 + pick(5), hold = next_request;  // no such hold
        if (!model.holds.empty() && pick(5) != 0) {
          auto it = model.holds.begin();
          std::advance(it, pick(model.holds.size()));
          hold = it->first;
          if (pick(4) != 0) connection = it->second.first;
        }
        std::vector<SlotGrant> grants, expected;
        const bool released = slots.Release(connection, hold, now, &grants);
        auto it = model.holds.find(hold);
        const bool mine = it != model.holds.end() && it->second.first == connection;
        ASSERT_EQ(released, mine) << "step " << step;
        if (mine) {
          const std::string name = it->second.second;
          model.holds.erase(it);
          --model.slots[name].held;
          model.Grant(name, now, &expected);
        }
        ExpectSameGrants(grants, expected, step);
        for (const SlotGrant& g : grants) {
          EXPECT_EQ(model.live.erase(g.request), 1u) << "granted twice";
          EXPECT_TRUE(issued.insert(g.hold).second) << "hold reused";
        }
      } else if (op < 80) {  // a connection closes
        const uint64_t connection = 1 + pick(5);
        std::vector<SlotGrant> grants = slots.OnDisconnect(connection, now);
        for (auto& [name, s] : model.slots) {
          for (const ModelWaiter& w : s.waiters) {
            if (w.connection == connection) model.live.erase(w.request);
          }
          std::erase_if(s.waiters,
                        [&](const ModelWaiter& w) { return w.connection == connection; });
        }
        std::vector<SlotGrant> expected;
        for (auto it = model.holds.begin(); it != model.holds.end();) {
          if (it->second.first != connection) {
            ++it;
            continue;
          }
          const std::string name = it->second.second;
          it = model.holds.erase(it);
          --model.slots[name].held;
          model.Grant(name, now, &expected);
        }
        // Holds are released in id order, each granting its slot's waiters
        // in arrival order: the model does the same, so even the new hold
        // ids agree.
        ExpectSameGrants(grants, expected, step);
        for (const SlotGrant& g : grants) {
          EXPECT_NE(g.connection, connection) << "a unit granted to the closed connection";
          EXPECT_EQ(model.live.erase(g.request), 1u) << "granted twice";
          EXPECT_TRUE(issued.insert(g.hold).second) << "hold reused";
        }
      } else if (op < 88) {  // a reload with new sizes
        SlotLimits next = limits;
        next.sizes = {{"xtts", pick(3)}, {"gpu", pick(4)}, {"free", 0}};
        next.default_size = pick(4);
        model.limits = next;
        std::vector<SlotGrant> expected;
        for (auto& [name, s] : model.slots) model.Grant(name, now, &expected);
        std::vector<SlotGrant> grants = slots.SetLimits(next, now);
        ExpectSameGrants(grants, expected, step);
        for (const SlotGrant& g : grants) {
          EXPECT_EQ(model.live.erase(g.request), 1u);
          EXPECT_TRUE(issued.insert(g.hold).second);
        }
      } else {  // the timer
        std::vector<SlotTimeout> t = slots.Expire(now);
        std::set<uint64_t> got, want;
        for (const SlotTimeout& x : t) {
          EXPECT_TRUE(got.insert(x.request).second) << "timed out twice";
          EXPECT_FALSE(x.why.empty());
        }
        for (auto& [name, s] : model.slots) {
          for (const ModelWaiter& w : s.waiters) {
            if (w.deadline <= now) {
              want.insert(w.request);
              ++s.timeouts;
              s.wait_us += static_cast<uint64_t>(now - w.parked) * 1000;
            }
          }
          std::erase_if(s.waiters, [&](const ModelWaiter& w) { return w.deadline <= now; });
        }
        ASSERT_EQ(got, want) << "step " << step;
        for (uint64_t r : got) model.live.erase(r);
      }

      // After every step: the snapshot, deadlines, per-connection counts.
      ASSERT_EQ(slots.NextDeadline(), model.NextDeadline()) << "step " << step;
      for (uint64_t c = 1; c <= 5; ++c) {
        ASSERT_EQ(slots.ParkedBy(c), model.Parked(c)) << "step " << step;
      }
      ASSERT_EQ(model.Waiting(), model.live.size()) << "step " << step;
      for (const SlotSnapshot& snap : slots.Snapshot()) {
        const ModelSlot& s = model.slots[snap.name];
        ASSERT_EQ(snap.size, model.SizeOf(snap.name)) << "step " << step << " " << snap.name;
        ASSERT_EQ(snap.held, s.held) << "step " << step << " " << snap.name;
        ASSERT_EQ(snap.waiting, s.waiters.size()) << "step " << step << " " << snap.name;
        ASSERT_EQ(snap.acquired, s.acquired) << "step " << step << " " << snap.name;
        ASSERT_EQ(snap.waited, s.waited) << "step " << step << " " << snap.name;
        ASSERT_EQ(snap.timeouts, s.timeouts) << "step " << step << " " << snap.name;
        ASSERT_EQ(snap.wait_us, s.wait_us) << "step " << step << " " << snap.name;
        // FIFO: a unit is free only while nobody waits.
        if (snap.waiting > 0) {
          ASSERT_TRUE(snap.size != 0 && snap.held >= snap.size);
        }
      }
    }
    EXPECT_FALSE(issued.empty());
  }
}

}  // namespace
}  // namespace ttscache
