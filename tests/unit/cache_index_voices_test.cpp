// CacheIndex with voices: random operations over (engine, voice, key)
// checked against a model (per-engine LRU spanning voices, per-voice entry
// counts, voices looked up by name), the bounded voice table reusing a
// voice left without entries, and Attach refusing a damaged voice table or
// entry voice id.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <map>
#include <random>
#include <tuple>

#include "daemon/cache/cache_index.hpp"

namespace ttscache {
namespace {

struct Memory {
  explicit Memory(uint32_t capacity)
      : bytes(IndexFileSize(capacity, CacheIndex::BucketCountFor(capacity))) {}
  std::vector<uint8_t> bytes;
  std::span<uint8_t> span() { return bytes; }
  IndexVoice* voices() { return reinterpret_cast<IndexVoice*>(bytes.data() + kIndexHeaderSize); }
  IndexEntry* entries() {
    return reinterpret_cast<IndexEntry*>(bytes.data() + kIndexHeaderSize +
                                         kMaxVoices * sizeof(IndexVoice));
  }
};

CacheKey KeyOf(uint32_t n) {
  CacheKey k;
  for (int i = 0; i < 32; ++i) k.digest[i] = static_cast<uint8_t>(n >> ((i % 4) * 8));
  return k;
}

const std::vector<std::string> kEngines = {"xtts", "piper"};
const std::vector<std::string> kVoiceNames = {"", "en_US-lessac", "de.thorsten", "v3"};

TEST(CacheIndexVoices, RandomOperationsMatchAModel) {
  const uint32_t capacity = 48;
  Memory m(capacity);
  CacheIndex idx = CacheIndex::Format(m.span(), kEngines, capacity);
  using Id = std::tuple<int, int, uint32_t>;  // engine, voice name index, n
  std::map<Id, uint32_t> model;               // → slot
  std::list<Id> recency;                      // front = most recent
  std::mt19937 rng(17);
  auto voice_id = [&](int engine, int v) -> uint16_t {
    return v == 0 ? kNoVoice : idx.FindVoice(static_cast<uint8_t>(engine), kVoiceNames[v]);
  };
  for (int step = 0; step < 30000; ++step) {
    const int engine = static_cast<int>(rng() % 2);
    const int v = static_cast<int>(rng() % kVoiceNames.size());
    const uint32_t n = rng() % 20;  // the same n in several voices: distinct entries
    const Id id{engine, v, n};
    const uint16_t voice = voice_id(engine, v);
    std::optional<uint32_t> slot;
    if (v == 0 || voice != kNoVoice) slot = idx.Find(static_cast<uint8_t>(engine), KeyOf(n), voice);
    ASSERT_EQ(slot.has_value(), model.count(id) == 1) << "step " << step;
    if (slot) {
      ASSERT_EQ(*slot, model[id]);
      ASSERT_EQ(idx.entry(*slot).voice, voice);
      ASSERT_EQ(idx.VoiceName(voice), kVoiceNames[v]);
    }
    switch (rng() % 3) {
      case 0: {  // insert, evicting the engine's LRU (any voice) when full
        if (slot) break;
        if (!idx.HasFreeSlot()) {
          auto lru = std::find_if(recency.rbegin(), recency.rend(),
                                  [&](const Id& r) { return std::get<0>(r) == engine; });
          if (lru == recency.rend()) break;
          ASSERT_EQ(idx.LeastRecentOf(static_cast<uint8_t>(engine)), model[*lru]);
          idx.Remove(model[*lru]);
          model.erase(*lru);
          recency.erase(std::next(lru).base());
        }
        uint16_t add = kNoVoice;
        if (v != 0) add = idx.AddVoice(static_cast<uint8_t>(engine), kVoiceNames[v]).value();
        model[id] = idx.Insert(static_cast<uint8_t>(engine), KeyOf(n), n, add);
        recency.push_front(id);
        break;
      }
      case 1:
        if (!slot) break;
        idx.Touch(*slot);
        recency.remove(id);
        recency.push_front(id);
        break;
      case 2:
        if (!slot) break;
        idx.Remove(*slot);
        model.erase(id);
        recency.remove(id);
        break;
    }
    // Per-voice counts follow the model.
    if (step % 101 == 0) {
      for (int e = 0; e < 2; ++e) {
        for (int vi = 1; vi < static_cast<int>(kVoiceNames.size()); ++vi) {
          const uint16_t vid = voice_id(e, vi);
          const auto count =
              static_cast<uint32_t>(std::count_if(model.begin(), model.end(), [&](auto& kv) {
                return std::get<0>(kv.first) == e && std::get<1>(kv.first) == vi;
              }));
          ASSERT_EQ(vid == kNoVoice ? 0u : idx.voice(vid).entries, count) << step;
        }
      }
    }
    if (step % 997 == 0) {
      Result<CacheIndex> attached = CacheIndex::Attach(m.span(), kEngines, capacity);
      ASSERT_TRUE(attached.ok()) << attached.error().message;
      // A fresh attach finds the voices by name as the live index does.
      for (int e = 0; e < 2; ++e) {
        for (int vi = 1; vi < static_cast<int>(kVoiceNames.size()); ++vi) {
          ASSERT_EQ(attached->FindVoice(static_cast<uint8_t>(e), kVoiceNames[vi]), voice_id(e, vi));
        }
      }
    }
  }
  EXPECT_EQ(idx.header().entries, model.size());
}

TEST(CacheIndexVoices, TheTableIsBoundedAndReusesAVoiceWithoutEntries) {
  const uint32_t capacity = kMaxVoices + 8;
  Memory m(capacity);
  CacheIndex idx = CacheIndex::Format(m.span(), kEngines, capacity);
  std::vector<uint32_t> slots;
  for (size_t v = 0; v < kMaxVoices; ++v) {
    Result<uint16_t> id = idx.AddVoice(v % 2, "v" + std::to_string(v));
    ASSERT_TRUE(id.ok());
    ASSERT_EQ(*id, v + 1);
    // Adding a known voice again is the same id.
    ASSERT_EQ(idx.AddVoice(v % 2, "v" + std::to_string(v)).value(), *id);
    slots.push_back(idx.Insert(v % 2, KeyOf(0), 10, *id));
  }
  Result<uint16_t> full = idx.AddVoice(0, "new");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, Errc::kBusy);
  // Voice 17 ("v16", of engine 0) loses its only entry: its place goes to
  // the next new voice, and its old name is forgotten.
  idx.Remove(slots[16]);
  EXPECT_EQ(idx.FindVoice(0, "v16"), 17);
  Result<uint16_t> reused = idx.AddVoice(1, "new");
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(*reused, 17);
  EXPECT_EQ(idx.FindVoice(0, "v16"), kNoVoice);
  EXPECT_EQ(idx.FindVoice(1, "new"), 17);
  EXPECT_EQ(idx.voice(17).engine, 1);
  idx.Insert(1, KeyOf(1), 10, 17);
  Result<CacheIndex> attached = CacheIndex::Attach(m.span(), kEngines, capacity);
  ASSERT_TRUE(attached.ok()) << attached.error().message;
  EXPECT_EQ(attached->FindVoice(1, "new"), 17);
  EXPECT_EQ(attached->FindVoice(0, "v16"), kNoVoice);
}

TEST(CacheIndexVoices, AttachRefusesADamagedVoiceTableOrVoiceId) {
  const uint32_t capacity = 16;
  Memory m(capacity);
  CacheIndex idx = CacheIndex::Format(m.span(), kEngines, capacity);
  const uint16_t a = idx.AddVoice(1, "a").value();
  const uint16_t b = idx.AddVoice(0, "b").value();
  idx.Insert(1, KeyOf(1), 100, a);
  idx.Insert(1, KeyOf(1), 100, kNoVoice);
  idx.Insert(0, KeyOf(1), 100, b);
  ASSERT_TRUE(CacheIndex::Attach(m.span(), kEngines, capacity).ok());
  auto refused = [&](const char* what, auto damage) {
    std::vector<uint8_t> saved = m.bytes;
    damage();
    Result<CacheIndex> r = CacheIndex::Attach(m.span(), kEngines, capacity);
    EXPECT_FALSE(r.ok()) << what;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("index damaged"), std::string::npos) << what;
    }
    m.bytes = saved;
  };
  refused("count", [&] { m.voices()[a - 1].entries = 2; });
  refused("engine", [&] { m.voices()[a - 1].engine = 2; });
  refused("duplicate", [&] {
    std::strcpy(m.voices()[b - 1].name, "a");
    m.voices()[b - 1].engine = 1;
  });
  refused("name", [&] { std::strcpy(m.voices()[a - 1].name, ".."); });
  refused("unterminated", [&] { std::memset(m.voices()[a - 1].name, 'x', 72); });
  refused("free slot in use", [&] { m.voices()[5].entries = 1; });
  refused("entry's voice unnamed", [&] { m.entries()[0].voice = 9; });
  refused("entry's voice out of range", [&] { m.entries()[0].voice = kMaxVoices + 1; });
  refused("entry's voice of another engine", [&] { m.entries()[0].voice = b; });
  ASSERT_TRUE(CacheIndex::Attach(m.span(), kEngines, capacity).ok());
}

}  // namespace
}  // namespace ttscache
