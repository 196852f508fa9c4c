// Voices (issue #17): "engine/voice" entries beside the Node module's own.
// The same text in two voices is two entries with their own bytes, in
// {dir}/{engine}/{voice}/; a request naming no voice is exactly the Node
// module's file; an engine's max_entries counts all its voices; voice
// entries survive a clean restart, a crash (rebuild) and an index of the
// older layout (version 1, rebuilt); malformed voices are refused.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "daemon/cache/cache_directory.hpp"
#include "daemon/cache/index_layout.hpp"
#include "tests/unit/cache_test_support.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::OpenCacheStore;
using testing::ReadPath;
using testing::SeededWav;
using testing::Served;
using testing::StoreOptions;

std::string Hex(const std::string& text) { return ComputeCacheKey(text).value().hex(); }

TEST(CacheVoices, SameTextInTwoVoicesIsTwoEntriesAndTheVoicelessOneIsTheNodeFile) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path()));
  const std::string text = "  The lights are ON. ";
  ASSERT_TRUE(store->Put("piper", text, SeededWav(1)).ok());
  ASSERT_TRUE(store->Put("piper/en_US-lessac-medium", text, SeededWav(2)).ok());
  ASSERT_TRUE(store->Put("piper/de_DE.thorsten-low", text, SeededWav(3)).ok());
  EXPECT_EQ(Served(*store, "piper", text), SeededWav(1));
  EXPECT_EQ(Served(*store, "piper/en_US-lessac-medium", text), SeededWav(2));
  EXPECT_EQ(Served(*store, "piper/de_DE.thorsten-low", text), SeededWav(3));
  // The Node module's path and key, byte for byte; each voice in its folder.
  const std::string hex = Hex("the lights are on.");
  EXPECT_EQ(ReadPath(dir.path() + "/piper/" + hex + ".wav"), SeededWav(1));
  EXPECT_EQ(ReadPath(dir.path() + "/piper/en_US-lessac-medium/" + hex + ".wav"), SeededWav(2));
  EXPECT_EQ(ReadPath(dir.path() + "/piper/de_DE.thorsten-low/" + hex + ".wav"), SeededWav(3));
  EXPECT_EQ(EntryRelativePath("piper/en_US-lessac-medium", ComputeCacheKey(text).value()),
            "piper/en_US-lessac-medium/" + hex + ".wav");
  // Stats are per engine: the sum of its voices.
  CacheStats stats = store->Stats();
  EXPECT_EQ(stats.engines[1].first, "piper");
  EXPECT_EQ(stats.engines[1].second.entries, 3u);
  EXPECT_EQ(stats.engines[1].second.bytes, 3 * SeededWav(1).size());
  EXPECT_EQ(stats.engines[0].second.entries, 0u);
  // Another engine's voice of the same name is another entry again.
  EXPECT_FALSE(store->Get("xtts/en_US-lessac-medium", text)->has_value());
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);
}

TEST(CacheVoices, MalformedVoicesAreRefusedNamingTheValueAndTouchNothing) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path()));
  for (const std::string& bad : std::vector<std::string>{
           "piper/..", "piper/.", "piper/", "piper/a/b", "piper/.hidden", "piper/-x", "piper/a b",
           "piper/" + std::string(65, 'v'), "piper/ä", std::string("piper/a\0b", 9)}) {
    Result<StoredEntry> put = store->Put(bad, "hi", SeededWav(1));
    ASSERT_FALSE(put.ok()) << bad;
    EXPECT_EQ(put.error().code, Errc::kUnknownEngine) << bad;
    EXPECT_THAT(put.error().message, HasSubstr("ENGINE/VOICE")) << bad;
    EXPECT_FALSE(store->Get(bad, "hi").ok()) << bad;
    EXPECT_FALSE(store->HasKeys(bad, {}).ok()) << bad;
  }
  for (const std::string unknown : {"../x", "nope/voice", "/piper", "PIPER/v", ""}) {
    Result<StoredEntry> put = store->Put(unknown, "hi", SeededWav(1));
    ASSERT_FALSE(put.ok()) << unknown;
    EXPECT_EQ(put.error().code, Errc::kUnknownEngine) << unknown;
    EXPECT_THAT(put.error().message, HasSubstr("expected one of: xtts, piper")) << unknown;
  }
  EXPECT_TRUE(store->Put("piper/" + std::string(64, 'v'), "hi", SeededWav(1)).ok());
  // Only the engines' folders and the one valid voice exist.
  std::set<std::string> made;
  for (const auto& f : fs::recursive_directory_iterator(dir.path())) {
    if (f.is_directory()) made.insert(fs::relative(f.path(), dir.path()));
  }
  EXPECT_EQ(made, (std::set<std::string>{"xtts", "piper", "piper/" + std::string(64, 'v')}));
}

TEST(CacheVoices, AnUnknownVoiceIsAMissAndAddsNothing) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path()));
  ASSERT_TRUE(store->Put("piper", "hi", SeededWav(1)).ok());
  Result<std::optional<CachedFile>> got = store->Get("piper/never", "hi");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  EXPECT_FALSE(store->GetVariant("piper/never", "hi", OpusParams{})->wav);
  EXPECT_EQ(
      store->HasKeys("piper/never", std::vector<CacheKey>{ComputeCacheKey("hi").value()}).value(),
      std::vector<bool>{false});
  EXPECT_EQ(store->Stats().engines[1].second.misses, 2u);
  EXPECT_FALSE(fs::exists(dir.path() + "/piper/never"));
}

TEST(CacheVoices, MaxEntriesCountsAllVoicesOfAnEngineInOneLru) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path(), 4));
  ASSERT_TRUE(store->Put("piper", "a", SeededWav(1)).ok());
  Result<StoredEntry> again = store->Put("piper/v1", "b", SeededWav(2));
  ASSERT_TRUE(again.ok()) << again.error().message;
  ASSERT_TRUE(store->Put("piper/v2", "c", SeededWav(3)).ok());
  ASSERT_TRUE(store->Put("xtts/v1", "d", SeededWav(4)).ok());  // another engine's limit
  ASSERT_TRUE(store->Put("piper/v1", "e", SeededWav(5)).ok());
  ASSERT_TRUE(store->Get("piper", "a")->has_value());  // now most recent
  ASSERT_TRUE(store->Put("piper/v2", "f", SeededWav(6)).ok());
  // Five puts into piper over three voices, max 4: the least recent (b) went.
  EXPECT_FALSE(store->Get("piper/v1", "b")->has_value());
  EXPECT_EQ(Served(*store, "piper", "a"), SeededWav(1));
  EXPECT_EQ(Served(*store, "piper/v2", "c"), SeededWav(3));
  EXPECT_EQ(Served(*store, "piper/v1", "e"), SeededWav(5));
  EXPECT_EQ(Served(*store, "piper/v2", "f"), SeededWav(6));
  EXPECT_EQ(Served(*store, "xtts/v1", "d"), SeededWav(4));
  EXPECT_FALSE(fs::exists(dir.path() + "/piper/v1/" + Hex("b") + ".wav"));
  CacheStats stats = store->Stats();
  EXPECT_EQ(stats.engines[1].second.entries, 4u);
  EXPECT_EQ(stats.engines[1].second.evictions, 1u);
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);
}

TEST(CacheVoices, MaxBytesEvictsAcrossVoicesInLruOrder) {
  testing::TempDir dir;
  const uint64_t one = SeededWav(1).size();
  auto store = OpenCacheStore(StoreOptions(dir.path(), 100, 3 * one));
  ASSERT_TRUE(store->Put("piper/v1", "a", SeededWav(1)).ok());
  ASSERT_TRUE(store->Put("xtts", "b", SeededWav(2)).ok());
  ASSERT_TRUE(store->Put("piper/v2", "c", SeededWav(3)).ok());
  ASSERT_TRUE(store->Put("piper", "d", SeededWav(4)).ok());
  EXPECT_FALSE(store->Get("piper/v1", "a")->has_value());
  EXPECT_TRUE(store->Get("xtts", "b")->has_value());
  EXPECT_EQ(store->Stats().total.bytes, 3 * one);
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);
}

TEST(CacheVoices, VariantsAndAdoptedFilesLiveInTheVoicesFolder) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path()));
  Result<StoredEntry> gen = store->Put("piper/v1", "hello", SeededWav(1));
  ASSERT_TRUE(gen.ok());
  ASSERT_TRUE(store
                  ->PutVariant("piper/v1", "hello", gen->generation, OpusParams{},
                               std::vector<uint8_t>{1, 2, 3})
                  .ok());
  const std::string name = VariantFileName(ComputeCacheKey("hello").value(), OpusParams{});
  EXPECT_EQ(ReadPath(dir.path() + "/piper/v1/" + name), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_FALSE(fs::exists(dir.path() + "/piper/" + name));
  EXPECT_TRUE(store->GetVariant("piper/v1", "hello", OpusParams{})->variant);
  // No variant of the voiceless entry (it does not exist), nor of v2.
  EXPECT_FALSE(store->GetVariant("piper", "hello", OpusParams{})->wav);
  // A variant for the voiceless entry's generation is not the voice's.
  ASSERT_TRUE(store->Put("piper", "hello", SeededWav(2)).ok());
  EXPECT_EQ(
      store->PutVariant("piper", "hello", gen->generation, OpusParams{}, std::vector<uint8_t>{9})
          .error()
          .code,
      Errc::kNotFound);

  // PUT_FILE into a voice; HAS_KEYS asks per voice.
  const std::string src = dir.path() + "/source.wav";
  std::vector<uint8_t> wav = SeededWav(7);
  std::ofstream(src, std::ios::binary)
      .write(reinterpret_cast<const char*>(wav.data()), static_cast<long>(wav.size()));
  UniqueFd fd(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
  const CacheKey key = ComputeCacheKey("adopted").value();
  Result<PutFileResult> put = store->PutFile("piper/v2", key, fd.get(), 0, 1 << 20);
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_EQ(put->outcome, PutFileOutcome::kStored);
  EXPECT_EQ(ReadPath(dir.path() + "/piper/v2/" + key.hex() + ".wav"), wav);
  EXPECT_EQ(store->PutFile("piper/v2", key, fd.get(), 0, 1 << 20)->outcome,
            PutFileOutcome::kAlreadyCached);
  EXPECT_EQ(store->HasKeys("piper/v2", std::vector<CacheKey>{key}).value(),
            std::vector<bool>{true});
  EXPECT_EQ(store->HasKeys("piper", std::vector<CacheKey>{key}).value(), std::vector<bool>{false});
  EXPECT_EQ(store->HasKeys("piper/v1", std::vector<CacheKey>{key}).value(),
            std::vector<bool>{false});
  EXPECT_EQ(Served(*store, "piper/v2", "adopted"), wav);
  fs::remove(src);
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);
}

// Puts the same texts in the engine's own folder and in two voices, with a
// variant in one voice; returns the texts.
std::vector<std::string> FillVoices(CacheStore& store) {
  std::vector<std::string> texts;
  for (int i = 0; i < 6; ++i) {
    texts.push_back("text " + std::to_string(i));
    EXPECT_TRUE(store.Put("piper", texts.back(), SeededWav(i)).ok());
    EXPECT_TRUE(store.Put("piper/v1", texts.back(), SeededWav(100 + i)).ok());
    Result<StoredEntry> gen = store.Put("piper/v2", texts.back(), SeededWav(200 + i));
    EXPECT_TRUE(gen.ok());
    if (i == 0) {
      EXPECT_TRUE(
          store
              .PutVariant("piper/v2", texts.back(), gen->generation, {}, std::vector<uint8_t>{5, 5})
              .ok());
    }
  }
  return texts;
}

void ExpectVoicesServed(CacheStore& store, const std::vector<std::string>& texts) {
  for (size_t i = 0; i < texts.size(); ++i) {
    const int n = static_cast<int>(i);
    EXPECT_EQ(Served(store, "piper", texts[i]), SeededWav(n)) << i;
    EXPECT_EQ(Served(store, "piper/v1", texts[i]), SeededWav(100 + n)) << i;
    EXPECT_EQ(Served(store, "piper/v2", texts[i]), SeededWav(200 + n)) << i;
  }
  EXPECT_TRUE(store.GetVariant("piper/v2", texts[0], {})->variant);
  EXPECT_FALSE(store.GetVariant("piper/v1", texts[0], {})->variant);
  EXPECT_EQ(store.Stats().engines[1].second.entries, 3 * texts.size());
}

TEST(CacheVoices, ACleanRestartKeepsVoiceEntriesWithoutARebuild) {
  testing::TempDir dir;
  std::vector<std::string> texts;
  {
    auto store = OpenCacheStore(StoreOptions(dir.path()));
    texts = FillVoices(*store);
  }
  auto store = OpenCacheStore(StoreOptions(dir.path()));
  EXPECT_EQ(store->open_report().rebuild_reason, "");
  ExpectVoicesServed(*store, texts);
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);
}

TEST(CacheVoices, ACrashRebuildsVoiceEntriesFromTheirFolders) {
  testing::TempDir dir;
  std::vector<std::string> texts;
  {
    auto store = OpenCacheStore(StoreOptions(dir.path()));
    texts = FillVoices(*store);
  }
  // Closed cleanly above; marked unclean as a kill would leave it.
  {
    std::fstream f(dir.path() + "/" + kIndexFileName,
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(offsetof(IndexHeader, clean));
    const uint64_t zero = 0;
    f.write(reinterpret_cast<const char*>(&zero), 8);
  }
  // Leftovers of an interrupted voice put, and strangers to leave alone.
  std::ofstream(dir.path() + "/piper/v1/.tmp-0123456789abcdef") << "half";
  fs::create_directories(dir.path() + "/piper/not a voice");
  std::ofstream(dir.path() + "/piper/not a voice/" + Hex("x") + ".wav") << "stranger";
  fs::create_directories(dir.path() + "/piper/v1/nested");
  auto store = OpenCacheStore(StoreOptions(dir.path()));
  EXPECT_THAT(store->open_report().rebuild_reason, HasSubstr("not closed cleanly"));
  EXPECT_EQ(store->open_report().adopted, 3 * texts.size());
  EXPECT_EQ(store->open_report().variants_adopted, 1u);
  EXPECT_EQ(store->open_report().temporaries_removed, 1u);
  EXPECT_EQ(store->open_report().unknown_left, 2u);  // "not a voice", v1/nested
  ExpectVoicesServed(*store, texts);
  EXPECT_TRUE(fs::exists(dir.path() + "/piper/not a voice/" + Hex("x") + ".wav"));
  EXPECT_FALSE(fs::exists(dir.path() + "/piper/v1/.tmp-0123456789abcdef"));
  // New puts into a rebuilt voice go on working, and limits still count it.
  ASSERT_TRUE(store->Put("piper/v1", "after", SeededWav(9)).ok());
  EXPECT_EQ(Served(*store, "piper/v1", "after"), SeededWav(9));
}

TEST(CacheVoices, AnIndexOfTheOlderLayoutIsRebuiltSayingWhy) {
  testing::TempDir dir;
  {
    auto store = OpenCacheStore(StoreOptions(dir.path()));
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(store->Put(i % 2 ? "xtts" : "piper", "t" + std::to_string(i), SeededWav(i)).ok());
    }
  }
  // What a version-1 daemon left: its header (version 1, clean) and its size
  // (no voice table).
  const std::string path = dir.path() + "/" + kIndexFileName;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(offsetof(IndexHeader, version));
    const uint32_t one = 1;
    f.write(reinterpret_cast<const char*>(&one), 4);
  }
  fs::resize_file(path, fs::file_size(path) - kMaxVoices * sizeof(IndexVoice));
  auto store = OpenCacheStore(StoreOptions(dir.path()));
  EXPECT_THAT(store->open_report().rebuild_reason, HasSubstr("layout version 1"));
  EXPECT_EQ(store->open_report().adopted, 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Served(*store, i % 2 ? "xtts" : "piper", "t" + std::to_string(i)), SeededWav(i));
  }
  ASSERT_TRUE(store->Put("piper/v", "t0", SeededWav(50)).ok());
  store.reset();
  store = OpenCacheStore(StoreOptions(dir.path()));
  EXPECT_EQ(store->open_report().rebuild_reason, "");
  EXPECT_EQ(Served(*store, "piper/v", "t0"), SeededWav(50));
  EXPECT_EQ(Served(*store, "piper", "t0"), SeededWav(0));
}

TEST(CacheVoices, AVoiceFolderRemovedBehindTheStoreIsMadeAgain) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path()));
  ASSERT_TRUE(store->Put("piper/v1", "a", SeededWav(1)).ok());
  fs::remove_all(dir.path() + "/piper/v1");
  EXPECT_FALSE(store->Get("piper/v1", "a")->has_value());  // gone: a miss, the entry dropped
  EXPECT_EQ(store->Stats().engines[1].second.entries, 0u);
  Result<StoredEntry> again = store->Put("piper/v1", "b", SeededWav(2));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(Served(*store, "piper/v1", "b"), SeededWav(2));
  // A symlink in place of a voice folder is not followed.
  testing::TempDir elsewhere;
  fs::create_symlink(elsewhere.path(), dir.path() + "/piper/v9");
  EXPECT_FALSE(store->Put("piper/v9", "c", SeededWav(3)).ok());
  EXPECT_TRUE(fs::is_empty(elsewhere.path()));
}

// With fsync on, a voice's folder and its engine's are flushed on publish,
// delete and purge (a voice folder's first file also adds its name).
TEST(CacheVoices, FsyncOnCoversVoiceFolders) {
  testing::TempDir dir;
  CacheOptions o = StoreOptions(dir.path());
  o.fsync = true;
  auto store = OpenCacheStore(o);
  Result<StoredEntry> gen = store->Put("piper/v1", "a", SeededWav(1));
  ASSERT_TRUE(gen.ok()) << gen.error().message;
  ASSERT_TRUE(
      store->PutVariant("piper/v1", "a", gen->generation, OpusParams{}, std::vector<uint8_t>{1})
          .ok());
  ASSERT_TRUE(store->Put("piper/v2", "a", SeededWav(2)).ok());
  Result<DeleteOutcome> deleted = store->Delete("piper/v1", "a");
  ASSERT_TRUE(deleted.ok()) << deleted.error().message;
  EXPECT_TRUE(deleted->deleted);
  Result<PurgeOutcome> purged = store->Purge("piper");
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  EXPECT_EQ(purged->entries, 1u);
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);
}

TEST(CacheVoices, TheVoiceTableIsBoundedWithAClearError) {
  testing::TempDir dir;
  auto store = OpenCacheStore(StoreOptions(dir.path(), kMaxVoices + 10));
  const std::vector<uint8_t> wav = SeededWav(1, 10);
  for (size_t v = 0; v < kMaxVoices; ++v) {
    ASSERT_TRUE(store->Put("xtts/v" + std::to_string(v), "t", wav).ok()) << v;
  }
  Result<StoredEntry> full = store->Put("piper/one-too-many", "t", wav);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, Errc::kBusy);
  EXPECT_THAT(full.error().message, HasSubstr("piper/one-too-many"));
  EXPECT_THAT(full.error().message, HasSubstr("1024 voices"));
  EXPECT_FALSE(fs::exists(dir.path() + "/piper/one-too-many/" + Hex("t") + ".wav"));
  // Known voices and the engines' own entries go on.
  EXPECT_TRUE(store->Put("xtts/v3", "u", wav).ok());
  EXPECT_TRUE(store->Put("piper", "t", wav).ok());
  // The limits (still one LRU per engine) make room: a voice left without
  // entries gives its place to the next new one.
  ASSERT_TRUE(store->SetLimits(CacheLimits{.max_entries = kMaxVoices - 1}).ok());
  EXPECT_TRUE(store->Put("piper/one-too-many", "t", wav).ok());
  store.reset();
  store = OpenCacheStore(StoreOptions(dir.path(), kMaxVoices + 10));
  EXPECT_EQ(store->open_report().rebuild_reason, "");
  EXPECT_EQ(Served(*store, "piper/one-too-many", "t"), wav);
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

size_t VoiceFolders(const std::string& engine_dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(engine_dir)) n += e.is_directory();
  return n;
}

// A client may put to ever-new voice names (the index reuses an emptied
// voice's place): a folder kept per name would grow the cache dir without
// bound, so a voice folder goes when its last entry does.
TEST(CacheVoices, AVoiceFolderGoesWithItsLastEntry) {
  testing::TempDir dir;
  auto store = testing::OpenCacheStore(testing::StoreOptions(dir.path(), 2));
  const std::string v1 = dir.path() + "/piper/v1";
  ASSERT_TRUE(store->Put("piper/v1", "a", testing::SeededWav(1)).ok());
  ASSERT_TRUE(store->Put("piper/v1", "b", testing::SeededWav(2)).ok());
  ASSERT_TRUE(store->Delete("piper/v1", "a").ok());
  EXPECT_TRUE(std::filesystem::is_directory(v1)) << "b is still in it";
  ASSERT_TRUE(store->Delete("piper/v1", "b").ok());
  EXPECT_FALSE(std::filesystem::exists(v1));
  ASSERT_TRUE(store->Put("piper/v1", "c", testing::SeededWav(3)).ok()) << "made again";
  EXPECT_EQ(testing::Served(*store, "piper/v1", "c"), testing::SeededWav(3));
  ASSERT_TRUE(store->Purge("piper/v1").ok());
  EXPECT_FALSE(std::filesystem::exists(v1));
  // Churn through 50 voices with room for 2 entries: evicted voices' folders go.
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(store->Put("piper/churn" + std::to_string(i), "x", testing::SeededWav(i)).ok());
  }
  EXPECT_LE(VoiceFolders(dir.path() + "/piper"), 2u);
  testing::ExpectLayoutMatchesIndex(dir.path(), *store);
}

// Removing an emptied voice folder races a put of that voice whose new file
// is written but not linked yet: an unnamed file (O_TMPFILE) belongs to no
// folder, so the folder goes and the put makes it again; a named temporary
// keeps its folder from being removed. Either way the put is published.
class VoiceFolderRemoval : public ::testing::TestWithParam<bool> {};

TEST_P(VoiceFolderRemoval, AFileWrittenBeforeItsFolderWasRemovedIsStillPublished) {
  testing::TempDir dir;
  Result<CacheDirectory> opened = CacheDirectory::Open(dir.path(), {"piper"}, false, GetParam());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  CacheDirectory& d = *opened;
  const Folder voice{0, "v1"};
  const std::vector<uint8_t> wav = testing::SeededWav(7);
  Result<PendingFile> pending = d.WriteTemporary(voice, wav);
  ASSERT_TRUE(pending.ok()) << pending.error().message;
  d.RemoveVoiceFolderIfEmpty(voice);
  EXPECT_EQ(std::filesystem::exists(dir.path() + "/piper/v1"), !d.unnamed_temporaries())
      << "an unnamed file leaves the folder empty; a named one keeps it";
  Status published = d.Publish(voice, *pending, "k.wav");
  ASSERT_TRUE(published.ok()) << published.error().message;
  EXPECT_EQ(testing::ReadPath(dir.path() + "/piper/v1/k.wav"), wav);
  // And a folder holding an entry is never removed.
  d.RemoveVoiceFolderIfEmpty(voice);
  EXPECT_EQ(testing::ReadPath(dir.path() + "/piper/v1/k.wav"), wav);
}

INSTANTIATE_TEST_SUITE_P(Temporaries, VoiceFolderRemoval, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Unnamed" : "Named"; });

}  // namespace
}  // namespace ttscache
