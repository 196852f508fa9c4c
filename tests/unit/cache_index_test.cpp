// CacheIndex in memory: random operations checked against a simple model
// (a map and a recency list), collisions that exercise backward-shift
// deletion, and verification refusing damaged tables.
#include "daemon/cache/cache_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <list>
#include <map>
#include <random>

namespace ttscache {
namespace {

struct Memory {
  explicit Memory(uint32_t capacity)
      : bytes(IndexFileSize(capacity, CacheIndex::BucketCountFor(capacity))) {}
  std::vector<uint8_t> bytes;
  std::span<uint8_t> span() { return bytes; }
};

CacheKey KeyOf(uint32_t n, bool colliding = false) {
  CacheKey k;
  // Colliding keys share their first 8 bytes, hence their bucket and fingerprint.
  for (int i = 0; i < 32; ++i)
    k.digest[i] = static_cast<uint8_t>(colliding && i < 8 ? 7 : n >> ((i % 4) * 8));
  k.digest[31] = static_cast<uint8_t>(n);
  k.digest[30] = static_cast<uint8_t>(n >> 8);
  return k;
}

const std::vector<std::string> kEngines = {"xtts", "piper"};

TEST(CacheIndex, RandomOperationsMatchAModel) {
  for (bool colliding : {false, true}) {
    const uint32_t capacity = 64;
    Memory m(capacity);
    CacheIndex idx = CacheIndex::Format(m.span(), kEngines, capacity);
    std::map<std::pair<int, uint32_t>, uint32_t> model;  // (engine, n) → slot
    std::list<std::pair<int, uint32_t>> recency;         // front = most recent
    std::mt19937 rng(colliding ? 2 : 1);
    for (int step = 0; step < 20000; ++step) {
      const int engine = static_cast<int>(rng() % 2);
      const uint32_t n = rng() % 100;
      const auto id = std::make_pair(engine, n);
      std::optional<uint32_t> slot = idx.Find(static_cast<uint8_t>(engine), KeyOf(n, colliding));
      ASSERT_EQ(slot.has_value(), model.count(id) == 1) << "step " << step;
      switch (rng() % 3) {
        case 0:  // insert (evicting the engine's LRU when full)
          if (slot) break;
          if (!idx.HasFreeSlot()) {
            auto lru = std::find_if(recency.rbegin(), recency.rend(),
                                    [&](auto& r) { return r.first == engine; });
            if (lru == recency.rend()) break;
            ASSERT_EQ(idx.LeastRecentOf(static_cast<uint8_t>(engine)), model[*lru]);
            idx.Remove(model[*lru]);
            model.erase(*lru);
            recency.erase(std::next(lru).base());
          }
          model[id] = idx.Insert(static_cast<uint8_t>(engine), KeyOf(n, colliding), n);
          recency.push_front(id);
          break;
        case 1:  // touch
          if (!slot) break;
          idx.Touch(*slot);
          recency.remove(id);
          recency.push_front(id);
          break;
        case 2:  // remove
          if (!slot) break;
          idx.Remove(*slot);
          model.erase(id);
          recency.remove(id);
          break;
      }
      if (!recency.empty()) {
        ASSERT_EQ(idx.LeastRecentOverall(), model[recency.back()]);
      }
      if (step % 997 == 0) {
        ASSERT_TRUE(CacheIndex::Attach(m.span(), kEngines, capacity).ok())
            << CacheIndex::Attach(m.span(), kEngines, capacity).error().message;
      }
    }
    EXPECT_EQ(idx.header().entries, model.size());
  }
}

// InsertAt (PUT_FILE) places an entry by its own last-used time among
// entries inserted and touched now: both LRU lists stay ordered by time,
// whatever the mix, and drain oldest first.
TEST(CacheIndex, InsertAtPlacesEntriesByTimeInBothLists) {
  const uint32_t capacity = 64;
  Memory m(capacity);
  CacheIndex idx = CacheIndex::Format(m.span(), kEngines, capacity);
  std::map<std::pair<int, uint32_t>, uint64_t> time;  // (engine, n) → last use
  std::mt19937_64 rng(3);
  auto oldest = [&](std::optional<int> engine) {
    std::optional<std::pair<int, uint32_t>> best;
    for (auto& [id, t] : time) {
      if (engine && id.first != *engine) continue;
      if (!best || t < time[*best]) best = id;
    }
    return best;
  };
  auto slot_of = [&](std::pair<int, uint32_t> id) {
    return idx.Find(static_cast<uint8_t>(id.first), KeyOf(id.second)).value();
  };
  for (int step = 0; step < 20000; ++step) {
    const auto id = std::make_pair(static_cast<int>(rng() % 2), static_cast<uint32_t>(rng() % 60));
    const bool present = time.count(id) == 1;
    switch (rng() % 4) {
      case 0:  // insert now
        if (present || !idx.HasFreeSlot()) break;
        time[id] =
            idx.entry(idx.Insert(static_cast<uint8_t>(id.first), KeyOf(id.second), 1)).last_access;
        break;
      case 1: {  // insert at a time among the others, or before all
        if (present || !idx.HasFreeSlot()) break;
        uint64_t t = 1 + rng() % 1000;
        if (!time.empty() && rng() % 4 != 0) {
          auto it = time.begin();
          std::advance(it, static_cast<long>(rng() % time.size()));
          t = it->second - 1 - rng() % 3;
        }
        bool taken = false;
        for (auto& [other, u] : time) taken = taken || u == t;
        if (taken) break;  // ties have no defined order
        const uint32_t slot = idx.InsertAt(static_cast<uint8_t>(id.first), KeyOf(id.second), 1, t);
        time[id] = idx.entry(slot).last_access;
        ASSERT_EQ(time[id], t);
        break;
      }
      case 2:  // touch
        if (!present) break;
        idx.Touch(slot_of(id));
        time[id] = idx.entry(slot_of(id)).last_access;
        break;
      case 3:  // remove
        if (!present) break;
        idx.Remove(slot_of(id));
        time.erase(id);
        break;
    }
    for (int e = 0; e < 2; ++e) {
      auto want = oldest(e);
      ASSERT_EQ(idx.LeastRecentOf(static_cast<uint8_t>(e)),
                want ? std::optional<uint32_t>(slot_of(*want)) : std::nullopt)
          << "step " << step;
    }
    auto want = oldest(std::nullopt);
    ASSERT_EQ(idx.LeastRecentOverall(),
              want ? std::optional<uint32_t>(slot_of(*want)) : std::nullopt)
        << "step " << step;
  }
  ASSERT_TRUE(CacheIndex::Attach(m.span(), kEngines, capacity).ok());
  // Drained from the tail, oldest first.
  uint64_t last = 0;
  while (std::optional<uint32_t> lru = idx.LeastRecentOverall()) {
    ASSERT_GT(idx.entry(*lru).last_access, last);
    last = idx.entry(*lru).last_access;
    idx.Remove(*lru);
  }
}

TEST(CacheIndex, VariantsCountTowardBytes) {
  Memory m(4);
  CacheIndex idx = CacheIndex::Format(m.span(), kEngines, 4);
  uint32_t slot = idx.Insert(1, KeyOf(1), 1000);
  OpusParams a, b;
  b.bitrate_kbps = 64;
  EXPECT_EQ(idx.AddVariant(slot, a, 100), 0);
  EXPECT_EQ(idx.AddVariant(slot, b, 50), 1);
  EXPECT_EQ(idx.FindVariant(slot, b), 1);
  EXPECT_EQ(idx.header().bytes, 1150u);
  EXPECT_EQ(idx.header().engines[1].bytes, 1150u);
  idx.RemoveVariant(slot, 0);
  EXPECT_EQ(idx.FindVariant(slot, a), -1);
  EXPECT_EQ(idx.header().bytes, 1050u);
  ASSERT_TRUE(CacheIndex::Attach(m.span(), kEngines, 4).ok());
  idx.Remove(slot);
  EXPECT_EQ(idx.header().bytes, 0u);
}

TEST(CacheIndex, AttachRefusesDamageWithAReason) {
  const uint32_t capacity = 16;
  Memory m(capacity);
  CacheIndex idx = CacheIndex::Format(m.span(), kEngines, capacity);
  for (uint32_t n = 0; n < 10; ++n) idx.Insert(n % 2, KeyOf(n), 100 + n);
  ASSERT_TRUE(CacheIndex::Attach(m.span(), kEngines, capacity).ok());
  EXPECT_FALSE(CacheIndex::Attach(m.span(), {"xtts"}, capacity).ok());
  EXPECT_FALSE(CacheIndex::Attach(m.span(), kEngines, capacity + 1).ok());
  // Flip every byte of the header's bookkeeping and of the tables, one at a
  // time: each is refused or, if harmless, accepted; none crashes.
  int refused = 0;
  for (size_t at = 0; at < m.bytes.size(); at += (at < 200 ? 1 : 7)) {
    std::vector<uint8_t> copy = m.bytes;
    copy[at] ^= 0x5A;
    Result<CacheIndex> r = CacheIndex::Attach(copy, kEngines, capacity);
    refused += !r.ok();
  }
  EXPECT_GT(refused, 100);
  std::vector<uint8_t> zeros(m.bytes.size(), 0);
  EXPECT_FALSE(CacheIndex::Attach(zeros, kEngines, capacity).ok());
}

}  // namespace
}  // namespace ttscache
