// The operate API of the store: Delete/DeleteKey (files gone, stats follow,
// a reader keeps its bytes), Purge (an engine with its voices, or one voice;
// racing puts and gets from several threads without a lost or half-served
// entry, and an index that agrees with the folder after it), and List
// (paging with a small visit budget returns each entry once, filters, no
// side effects, stable while entries are deleted concurrently).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "daemon/cache/cache_directory.hpp"
#include "daemon/cache/cache_index.hpp"
#include "tests/unit/cache_test_support.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::OpenCacheStore;
using testing::ReadAll;
using testing::SeededWav;
using testing::Served;
using testing::StoreOptions;

std::string Hex(const std::string& text) { return ComputeCacheKey(text).value().hex(); }

ListFilter Filter(std::string engine, uint64_t min_idle_s = 0, uint64_t max_idle_s = 0,
                  uint64_t min_bytes = 0, uint64_t max_bytes = 0) {
  ListFilter f;
  f.engine = std::move(engine);
  f.min_idle_s = min_idle_s;
  f.max_idle_s = max_idle_s;
  f.min_bytes = min_bytes;
  f.max_bytes = max_bytes;
  return f;
}

OpusParams Bitrate(int kbps) {
  OpusParams p;
  p.bitrate_kbps = kbps;
  return p;
}

TEST(CacheDelete, ByTextRemovesTheEntryAndItsVariantsWhileAReaderKeepsItsBytes) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path()));
  const std::vector<uint8_t> wav = SeededWav(1);
  Result<StoredEntry> gen = store->Put("piper", "Mispronounced", wav);
  ASSERT_TRUE(gen.ok());
  ASSERT_TRUE(store
                  ->PutVariant("piper", "mispronounced", gen->generation, Bitrate(32),
                               std::vector<uint8_t>(70, 1))
                  .ok());
  ASSERT_TRUE(store
                  ->PutVariant("piper", "mispronounced", gen->generation, Bitrate(64),
                               std::vector<uint8_t>(90, 2))
                  .ok());
  ASSERT_TRUE(store->Put("piper/v1", "mispronounced", SeededWav(2)).ok());  // another voice's
  ASSERT_TRUE(store->Put("piper", "other", SeededWav(3)).ok());
  Result<std::optional<CachedFile>> held = store->Get("piper", "mispronounced");
  ASSERT_TRUE(held.ok() && held->has_value());
  const CacheStats before = store->Stats();

  Result<DeleteOutcome> deleted = store->Delete("piper", "  MISPRONOUNCED ");
  ASSERT_TRUE(deleted.ok()) << deleted.error().message;
  EXPECT_TRUE(deleted->deleted);
  EXPECT_EQ(deleted->bytes, wav.size() + 70 + 90);
  EXPECT_EQ(deleted->variants, 2u);
  // The reader that held the WAV reads it whole.
  EXPECT_EQ(ReadAll(**held), wav);
  // Gone from the folder and the index; the voice's entry and others stay.
  const std::string hex = Hex("mispronounced");
  EXPECT_FALSE(fs::exists(dir.path() + "/piper/" + hex + ".wav"));
  EXPECT_FALSE(fs::exists(dir.path() + "/piper/" +
                          VariantFileName(ComputeCacheKey("x").value(), Bitrate(32))));
  for (const auto& f : fs::directory_iterator(dir.path() + "/piper")) {
    EXPECT_FALSE(f.path().filename().string().starts_with(hex)) << f.path();
  }
  EXPECT_FALSE(store->Get("piper", "mispronounced")->has_value());
  EXPECT_EQ(Served(*store, "piper/v1", "mispronounced"), SeededWav(2));
  EXPECT_EQ(Served(*store, "piper", "other"), SeededWav(3));
  const CacheStats after = store->Stats();
  EXPECT_EQ(after.engines[1].second.entries, before.engines[1].second.entries - 1);
  EXPECT_EQ(after.engines[1].second.bytes, before.engines[1].second.bytes - deleted->bytes);
  EXPECT_EQ(after.engines[1].second.evictions, 0u);  // a deletion is not an eviction
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);

  // Not cached (any more): deleted false, not an error.
  deleted = store->Delete("piper", "mispronounced");
  ASSERT_TRUE(deleted.ok());
  EXPECT_FALSE(deleted->deleted);
  EXPECT_EQ(deleted->bytes, 0u);
  EXPECT_FALSE(store->Delete("piper/never-used", "other")->deleted);
  EXPECT_FALSE(store->Delete("xtts", "other")->deleted);
  EXPECT_EQ(store->Delete("espeak", "other").error().code, Errc::kUnknownEngine);
  EXPECT_EQ(store->Delete("piper/..", "other").error().code, Errc::kUnknownEngine);
  EXPECT_FALSE(fs::exists(dir.path() + "/piper/never-used"));
}

TEST(CacheDelete, ByKeyInAVoiceAndTheDeletionSurvivesARestart) {
  testing::TempDir dir;
  const CacheKey key = ComputeCacheKey("hello").value();
  {
    auto store = OpenCacheStore(StoreOptions(dir.path()));
    Result<StoredEntry> gen = store->Put("piper/v1", "hello", SeededWav(1));
    ASSERT_TRUE(gen.ok());
    ASSERT_TRUE(store
                    ->PutVariant("piper/v1", "hello", gen->generation, Bitrate(24),
                                 std::vector<uint8_t>(10, 3))
                    .ok());
    ASSERT_TRUE(store->Put("piper", "hello", SeededWav(2)).ok());
    EXPECT_FALSE(store->DeleteKey("xtts/v1", key)->deleted);
    Result<DeleteOutcome> deleted = store->DeleteKey("piper/v1", key);
    ASSERT_TRUE(deleted.ok());
    EXPECT_TRUE(deleted->deleted);
    EXPECT_EQ(deleted->variants, 1u);
    EXPECT_EQ(deleted->bytes, SeededWav(1).size() + 10);
    EXPECT_FALSE(fs::exists(dir.path() + "/piper/v1")) << "an emptied voice folder goes";
    EXPECT_EQ(Served(*store, "piper", "hello"), SeededWav(2));
    // The voice, now without entries, can be used again.
    ASSERT_TRUE(store->Put("piper/v1", "again", SeededWav(3)).ok());
    ASSERT_TRUE(store->DeleteKey("piper/v1", ComputeCacheKey("again").value())->deleted);
  }
  // Clean reopen and a rebuild from the folder both agree it is gone.
  for (bool rebuild : {false, true}) {
    if (rebuild) fs::remove(dir.path() + "/" + kIndexFileName);
    auto store = OpenCacheStore(StoreOptions(dir.path()));
    EXPECT_EQ(store->open_report().rebuild_reason.empty(), !rebuild);
    EXPECT_FALSE(store->Get("piper/v1", "hello")->has_value());
    EXPECT_EQ(Served(*store, "piper", "hello"), SeededWav(2));
    EXPECT_EQ(store->Stats().engines[1].second.entries, 1u);
  }
}

TEST(CachePurge, AnEngineTakesAllItsVoicesAVoiceOnlyItself) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path()));
  uint64_t a_bytes = 0;
  for (int i = 0; i < 30; ++i) {
    const std::string t = "t" + std::to_string(i);
    ASSERT_TRUE(store->Put("piper", t, SeededWav(i, 1000 + i)).ok());
    ASSERT_TRUE(store->Put("piper/a", t, SeededWav(100 + i, 500 + i)).ok());
    a_bytes += SeededWav(100 + i, 500 + i).size();
    ASSERT_TRUE(store->Put("piper/b", t, SeededWav(200 + i)).ok());
    ASSERT_TRUE(store->Put("xtts/a", t, SeededWav(300 + i)).ok());
  }
  Result<StoredEntry> gen = store->Put("piper/a", "with variant", SeededWav(7));
  ASSERT_TRUE(store
                  ->PutVariant("piper/a", "with variant", gen->generation, Bitrate(16),
                               std::vector<uint8_t>(33, 1))
                  .ok());
  a_bytes += SeededWav(7).size() + 33;

  Result<PurgeOutcome> purged = store->Purge("piper/a");
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  EXPECT_EQ(purged->entries, 31u);
  EXPECT_EQ(purged->bytes, a_bytes);
  EXPECT_FALSE(fs::exists(dir.path() + "/piper/a")) << "an emptied voice folder goes";
  EXPECT_FALSE(store->Get("piper/a", "t3")->has_value());
  EXPECT_EQ(Served(*store, "piper", "t3"), SeededWav(3, 1003));
  EXPECT_EQ(Served(*store, "piper/b", "t3"), SeededWav(203));
  EXPECT_EQ(Served(*store, "xtts/a", "t3"), SeededWav(303));
  EXPECT_EQ(store->Stats().engines[1].second.entries, 60u);
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);

  purged = store->Purge("piper");
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(purged->entries, 60u);
  EXPECT_EQ(store->Stats().engines[1].second.entries, 0u);
  EXPECT_EQ(store->Stats().engines[1].second.bytes, 0u);
  EXPECT_EQ(store->Stats().engines[0].second.entries, 30u);
  EXPECT_EQ(Served(*store, "xtts/a", "t29"), SeededWav(329));
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);
  // Nothing left to purge; unknown voices and engines.
  EXPECT_EQ(store->Purge("piper")->entries, 0u);
  EXPECT_EQ(store->Purge("piper/never")->entries, 0u);
  EXPECT_EQ(store->Purge("nope").error().code, Errc::kUnknownEngine);
  EXPECT_EQ(store->Purge("piper/a/b").error().code, Errc::kUnknownEngine);
}

// The WAV of version `version` of key `k`: its first PCM bytes say which
// (key and version), the rest depends on both, so a served file can be
// checked whole against what was put for that key.
std::vector<uint8_t> VersionWav(uint32_t k, uint32_t version) {
  testing::WavSpec spec;
  std::vector<uint8_t> pcm(600 + (k % 7) * 2);
  for (size_t i = 0; i < pcm.size(); ++i) pcm[i] = static_cast<uint8_t>(k * 13 + version * 7 + i);
  std::memcpy(pcm.data(), &k, 4);
  std::memcpy(pcm.data() + 4, &version, 4);
  return testing::MakeWav(spec, pcm);
}

std::string EngineOf(uint32_t k) { return k % 3 == 0 ? "piper/v1" : "piper"; }
std::string TextOf(uint32_t k) { return "key " + std::to_string(k); }

TEST(CachePurge, RacingPutsAndGetsLosesNoEntryAndServesNoWrongByte) {
  testing::TempDir dir;
  constexpr uint32_t kKeys = 3000, kPutters = 2, kGetters = 2;
  auto store = OpenCacheStore(StoreOptions(dir.path(), 100000));
  for (uint32_t k = 0; k < kKeys; ++k) {
    ASSERT_TRUE(store->Put(EngineOf(k), TextOf(k), VersionWav(k, 0)).ok());
  }
  ASSERT_TRUE(store->Put("xtts", "bystander", SeededWav(1)).ok());
  // Per key, owned by one putter: the versions begun, and the last one whose
  // put returned after the purge had returned.
  std::vector<std::atomic<uint32_t>> begun(kKeys);
  std::vector<int64_t> after_purge(kKeys, -1);  // written by the key's putter only
  std::atomic<bool> purge_started{false}, purge_done{false}, stop{false};
  std::atomic<uint64_t> gets_served{0}, puts_during{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (uint32_t p = 0; p < kPutters; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937 rng(p + 1);
      while (!stop) {
        const uint32_t k = (rng() % (kKeys / kPutters)) * kPutters + p;
        const uint32_t version = begun[k] + 1;
        begun[k] = version;
        Result<StoredEntry> put = store->Put(EngineOf(k), TextOf(k), VersionWav(k, version));
        if (!put.ok()) {
          ADD_FAILURE() << "put " << k << ": " << put.error().message;
          failures++;
          return;
        }
        if (purge_done) {
          after_purge[k] = version;
        } else if (purge_started) {
          puts_during++;
        }
      }
    });
  }
  for (uint32_t g = 0; g < kGetters; ++g) {
    threads.emplace_back([&, g] {
      std::mt19937 rng(100 + g);
      while (!stop) {
        const uint32_t k = rng() % kKeys;
        const uint32_t most = begun[k];
        Result<std::optional<CachedFile>> got = store->Get(EngineOf(k), TextOf(k));
        if (!got.ok()) {
          ADD_FAILURE() << "get " << k << ": " << got.error().message;
          failures++;
          return;
        }
        if (!got->has_value()) continue;
        const std::vector<uint8_t> bytes = ReadAll(**got);
        uint32_t key_in = UINT32_MAX, version = UINT32_MAX;
        if (bytes.size() >= 52) {
          std::memcpy(&key_in, bytes.data() + 44, 4);
          std::memcpy(&version, bytes.data() + 48, 4);
        }
        // Another key's bytes, a version never put, or a torn file: wrong.
        if (key_in != k || version > begun[k] || bytes != VersionWav(k, version)) {
          ADD_FAILURE() << "get " << k << " served key " << key_in << " version " << version << " ("
                        << bytes.size() << " bytes; " << most << " begun before)";
          failures++;
          return;
        }
        gets_served++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  purge_started = true;
  Result<PurgeOutcome> purged = store->Purge("piper");
  purge_done = true;
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  stop = true;
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failures, 0);
  EXPECT_GT(gets_served, 100u);
  EXPECT_GT(purged->entries, 0u);
  std::printf("[ figure   ] purged %llu entries while %llu puts completed\n",
              static_cast<unsigned long long>(purged->entries),
              static_cast<unsigned long long>(puts_during.load()));
  // Every put that returned after the purge returned is there, with its bytes.
  uint32_t checked = 0;
  std::map<std::pair<std::string, std::string>, std::vector<uint8_t>> present;
  for (uint32_t k = 0; k < kKeys; ++k) {
    const std::vector<uint8_t> served = Served(*store, EngineOf(k), TextOf(k));
    if (after_purge[k] >= 0) {
      ++checked;
      // The key's last put is this one or a later one, also after the purge.
      EXPECT_EQ(served, VersionWav(k, begun[k])) << k;
    } else if (begun[k] == 0) {
      EXPECT_TRUE(served.empty()) << "key " << k << " predates the purge and was never put again";
    }
    if (!served.empty()) present[{EngineOf(k), TextOf(k)}] = served;
  }
  EXPECT_GT(checked, 10u);
  EXPECT_EQ(Served(*store, "xtts", "bystander"), SeededWav(1));
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);
  // The index and the folder agree: a clean reopen and a rebuild from the
  // folder find exactly the same entries with the same bytes.
  for (bool rebuild : {false, true}) {
    store.reset();
    if (rebuild) fs::remove(dir.path() + "/" + kIndexFileName);
    store = OpenCacheStore(StoreOptions(dir.path(), 100000));
    EXPECT_EQ(store->open_report().rebuild_reason.empty(), !rebuild);
    EXPECT_EQ(store->Stats().engines[1].second.entries, present.size());
    for (const auto& [id, bytes] : present) {
      EXPECT_EQ(Served(*store, id.first, id.second), bytes) << id.first << " " << id.second;
    }
  }
}

TEST(CachePurge, EntriesPutMeanwhileStayAndTouchedOnesGo) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path(), 5000));
  // Enough entries for several batches; gets touch some during the purge.
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(store->Put("piper", "old " + std::to_string(i), SeededWav(i, 64)).ok());
  }
  const std::vector<CacheKey> marker{ComputeCacheKey("old 100").value()};
  std::atomic<bool> stop{false};
  std::atomic<int> fresh{0};
  std::vector<int> begun_during;  // pairs begun once the purge had removed "old 100"
  std::thread putter([&] {
    bool purging = false;
    while (!stop) {
      // Once an old entry is gone the purge has fixed what it removes: any
      // put from here on is newer and must stay.
      if (!purging) purging = !store->HasKeys("piper", marker).value()[0];
      const int n = fresh;
      if (!store->Put("piper", "fresh " + std::to_string(n), SeededWav(n, 64)).ok()) break;
      // A re-put of an old entry makes it new: it stays too.
      if (!store->Put("piper", "old " + std::to_string(2999 - n), SeededWav(7, 64)).ok()) break;
      if (purging) begun_during.push_back(n);
      fresh = n + 1;
      (void)store->Get("piper", "old " + std::to_string(n));  // a touch is no reprieve
    }
  });
  while (fresh < 5) std::this_thread::yield();
  Result<PurgeOutcome> purged = store->Purge("piper");
  // Let the putter see the purge at work, if it has not yet.
  const int at_end = fresh;
  while (fresh < at_end + 3) std::this_thread::yield();
  stop = true;
  putter.join();
  ASSERT_TRUE(purged.ok());
  std::printf("[ figure   ] purged %llu entries; %d put pairs, %zu begun during or after it\n",
              static_cast<unsigned long long>(purged->entries), fresh.load(), begun_during.size());
  ASSERT_FALSE(begun_during.empty());
  for (int n : begun_during) {
    EXPECT_EQ(Served(*store, "piper", "fresh " + std::to_string(n)), SeededWav(n, 64)) << n;
    EXPECT_EQ(Served(*store, "piper", "old " + std::to_string(2999 - n)), SeededWav(7, 64)) << n;
  }
  // Old entries never put again are gone, those touched by gets included.
  for (int n = 0; n < std::min(fresh.load(), 1000); ++n) {
    EXPECT_TRUE(Served(*store, "piper", "old " + std::to_string(n)).empty()) << n;
  }
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);
}

// Puts `n` entries over engines and voices; returns their (engine, key hex).
std::set<std::pair<std::string, std::string>> FillForListing(CacheStore& store, int n) {
  std::set<std::pair<std::string, std::string>> all;
  const char* engines[] = {"piper", "piper/a", "xtts", "piper/b"};
  for (int i = 0; i < n; ++i) {
    const std::string engine = engines[i % 4];
    const std::string text = "entry " + std::to_string(i);
    EXPECT_TRUE(store.Put(engine, text, SeededWav(i, 20)).ok());
    all.insert({engine, Hex(text)});
  }
  return all;
}

// Pages through the whole listing; fails on an entry listed twice.
std::set<std::pair<std::string, std::string>> ListAll(CacheStore& store, const ListFilter& filter,
                                                      uint32_t max_entries, uint32_t max_visit,
                                                      const std::function<void()>& between = {}) {
  std::set<std::pair<std::string, std::string>> seen;
  uint64_t cursor = 0;
  int pages = 0;
  do {
    Result<ListPage> page = store.List(cursor, filter, max_entries, max_visit);
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok()) break;
    EXPECT_LE(page->entries.size(), max_entries);
    for (const ListedEntry& e : page->entries) {
      EXPECT_TRUE(seen.insert({e.engine, e.key.hex()}).second) << "listed twice: " << e.engine;
    }
    EXPECT_TRUE(page->next_cursor == 0 || page->next_cursor > cursor) << "no progress";
    cursor = page->next_cursor;
    if (between) between();
    EXPECT_LT(++pages, 1000000);
  } while (cursor != 0);
  return seen;
}

TEST(CacheList, PagesWithASmallVisitBudgetListEachEntryOnceWithFilters) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path(), 10000));
  const auto all = FillForListing(*store, 10000);
  // Holes in the slot table (deleted entries) are visited, not listed.
  auto expected = all;
  for (int i = 0; i < 10000; i += 17) {
    const char* engines[] = {"piper", "piper/a", "xtts", "piper/b"};
    ASSERT_TRUE(store->Delete(engines[i % 4], "entry " + std::to_string(i))->deleted);
    expected.erase({engines[i % 4], Hex("entry " + std::to_string(i))});
  }
  const CacheStats before = store->Stats();
  EXPECT_EQ(ListAll(*store, {}, 1024, 100), expected);
  EXPECT_EQ(ListAll(*store, {}, 7, 65536), expected);
  auto only = [&](auto keep) {
    std::set<std::pair<std::string, std::string>> subset;
    for (const auto& e : expected) {
      if (keep(e.first)) subset.insert(e);
    }
    return subset;
  };
  EXPECT_EQ(ListAll(*store, Filter("piper"), 50, 333),
            only([](const std::string& e) { return e.starts_with("piper"); }));
  EXPECT_EQ(ListAll(*store, Filter("piper/a"), 50, 333),
            only([](const std::string& e) { return e == "piper/a"; }));
  EXPECT_EQ(ListAll(*store, Filter("xtts"), 50, 333),
            only([](const std::string& e) { return e == "xtts"; }));
  EXPECT_TRUE(ListAll(*store, Filter("xtts/a"), 50, 333).empty());
  EXPECT_EQ(store->List(0, Filter("nope"), 10, 10).error().code, Errc::kUnknownEngine);
  EXPECT_EQ(store->List(0, {}, 0, 10).error().code, Errc::kInvalidArgument);
  // Past the end: the end.
  EXPECT_EQ(store->List(1u << 30, {}, 10, 10)->next_cursor, 0u);
  EXPECT_TRUE(store->List(1u << 30, {}, 10, 10)->entries.empty());
  // Listing counted nothing and moved nothing.
  const CacheStats after = store->Stats();
  EXPECT_EQ(after.engines, before.engines);
}

TEST(CacheList, EntriesCarryTheirFieldsAndIdleAndSizeFiltersApply) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path()));
  const uint64_t now = UnixTimeNs();
  // Entries last used an hour, a day and now (PUT_FILE places them by time).
  const std::string src = dir.path() + "/src.wav";
  auto adopt = [&](const std::string& engine, const std::string& text, int seed, size_t frames,
                   uint64_t last_used) {
    const std::vector<uint8_t> wav = SeededWav(seed, frames);
    std::ofstream(src, std::ios::binary)
        .write(reinterpret_cast<const char*>(wav.data()), static_cast<long>(wav.size()));
    UniqueFd fd(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(
        store->PutFile(engine, ComputeCacheKey(text).value(), fd.get(), last_used, 1 << 20).ok());
    fs::remove(src);
  };
  adopt("piper", "hour", 1, 100, now - 3600ull * 1000000000u);
  adopt("piper/v", "day", 2, 5000, now - 86400ull * 1000000000u);
  Result<StoredEntry> gen = store->Put("xtts", "now", SeededWav(3, 1000));
  ASSERT_TRUE(
      store->PutVariant("xtts", "now", gen->generation, Bitrate(48), std::vector<uint8_t>(77, 1))
          .ok());

  Result<ListPage> page = store->List(0, {}, 10, 100);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 3u);
  EXPECT_EQ(page->next_cursor, 0u);
  std::map<std::string, ListedEntry> by_engine;
  for (const ListedEntry& e : page->entries) by_engine[e.engine] = e;
  ASSERT_EQ(by_engine.count("piper/v"), 1u);
  const ListedEntry& day = by_engine["piper/v"];
  EXPECT_EQ(day.key, ComputeCacheKey("day").value());
  EXPECT_EQ(day.wav_bytes, SeededWav(2, 5000).size());
  EXPECT_EQ(day.total_bytes, day.wav_bytes);
  EXPECT_EQ(day.last_access_ns, now - 86400ull * 1000000000u);
  const ListedEntry& fresh = by_engine["xtts"];
  ASSERT_EQ(fresh.variants.size(), 1u);
  EXPECT_EQ(fresh.variants[0].params, Bitrate(48));
  EXPECT_EQ(fresh.variants[0].bytes, 77u);
  EXPECT_EQ(fresh.total_bytes, fresh.wav_bytes + 77);

  auto engines_of = [&](const ListFilter& f) {
    std::set<std::string> out;
    Result<ListPage> listed = store->List(0, f, 10, 100);
    EXPECT_TRUE(listed.ok());
    if (!listed.ok()) return out;
    for (const ListedEntry& e : listed->entries) out.insert(e.engine);
    return out;
  };
  EXPECT_EQ(engines_of(Filter("", 1800)), (std::set<std::string>{"piper", "piper/v"}));
  EXPECT_EQ(engines_of(Filter("", 1800, 7200)), (std::set<std::string>{"piper"}));
  EXPECT_EQ(engines_of(Filter("", 0, 60)), (std::set<std::string>{"xtts"}));
  EXPECT_EQ(engines_of(Filter("", 0, 0, fresh.total_bytes)),
            (std::set<std::string>{"xtts", "piper/v"}));
  EXPECT_EQ(engines_of(Filter("", 0, 0, fresh.total_bytes, fresh.total_bytes)),
            (std::set<std::string>{"xtts"}));
  EXPECT_EQ(engines_of(Filter("piper", 0, 7200)), (std::set<std::string>{"piper"}));
  // A list is not a use: the last access times did not move.
  EXPECT_EQ(store->List(0, Filter("piper/v"), 10, 100)->entries.at(0).last_access_ns,
            now - 86400ull * 1000000000u);
}

TEST(CacheList, StableWhileEntriesAreDeletedAndPutConcurrently) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path(), 20000));
  const auto all = FillForListing(*store, 10000);
  // Entries with an even number stay throughout; odd ones are deleted (and
  // new ones put) while the listing pages.
  std::set<std::pair<std::string, std::string>> kept;
  const char* engines[] = {"piper", "piper/a", "xtts", "piper/b"};
  for (int i = 0; i < 10000; i += 2)
    kept.insert({engines[i % 4], Hex("entry " + std::to_string(i))});
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    for (int i = 1; i < 10000 && !stop; i += 2) {
      ASSERT_TRUE(store->Delete(engines[i % 4], "entry " + std::to_string(i)).ok());
      ASSERT_TRUE(store->Put(engines[i % 4], "new " + std::to_string(i), SeededWav(i, 20)).ok());
    }
  });
  std::set<std::pair<std::string, std::string>> seen = ListAll(
      *store, {}, 64, 200, [] { std::this_thread::sleep_for(std::chrono::microseconds(200)); });
  stop = true;
  churn.join();
  for (const auto& k : kept) EXPECT_EQ(seen.count(k), 1u) << k.first << " " << k.second;
  for (const auto& s : seen) {
    EXPECT_TRUE(all.count(s) || s.second.size() == 64) << s.first;
  }
}

}  // namespace
}  // namespace ttscache
