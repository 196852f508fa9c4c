// The cache store against a real directory: layout, LRU, limits, variants,
// clean reopen, rebuild after crash and damage, adoption of a folder written
// by the old Node module, the dir lock, concurrency, a full disk, and what
// cannot be trusted: descriptor shortage, hostile files, racing variants.
#include "daemon/cache/cache_store.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <set>
#include <thread>

#include "core/audio/wav_reader.hpp"
#include "daemon/cache/cache_directory.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/wav_builder.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::vector<uint8_t> Wav(int seed, size_t frames = 2000) {
  testing::WavSpec spec;
  std::vector<uint8_t> pcm(frames * 2);
  for (size_t i = 0; i < pcm.size(); ++i) pcm[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  return testing::MakeWav(spec, pcm);
}

std::vector<uint8_t> ReadFd(const CachedFile& f) {
  std::vector<uint8_t> bytes(f.size);
  EXPECT_EQ(pread(f.fd.get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(f.size));
  return bytes;
}

CacheOptions Options(const std::string& dir, uint64_t max_entries = 100, uint64_t max_bytes = 0) {
  CacheOptions o;
  o.dir = dir;
  o.engines = {"xtts", "piper"};
  o.limits.max_entries = max_entries;
  o.limits.max_bytes = max_bytes;
  o.fsync = false;  // tmpfs-like speed; the fsync path is covered by FsyncOnPublishes
  return o;
}

std::unique_ptr<CacheStore> OpenStore(const CacheOptions& o) {
  Result<std::unique_ptr<CacheStore>> s = CacheStore::Open(o);
  EXPECT_TRUE(s.ok()) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

bool Has(CacheStore& s, const std::string& engine, const std::string& text) {
  Result<std::optional<CachedFile>> r = s.Get(engine, text);
  return r.ok() && r->has_value();
}

// The bytes a get serves, or none (and a failure) on a miss or an error.
std::vector<uint8_t> ServedBytes(CacheStore& s, const std::string& engine,
                                 const std::string& text) {
  Result<std::optional<CachedFile>> r = s.Get(engine, text);
  if (!r.ok() || !r->has_value()) {
    ADD_FAILURE() << engine << " \"" << text << "\" is not served";
    return {};
  }
  return ReadFd(**r);
}

// The folder and the index agree: every .wav is a complete WAV, no temporary
// remains, and the index counts exactly the files present.
void ExpectFolderMatchesIndex(const std::string& dir, CacheStore& store) {
  CacheStats stats = store.Stats();
  for (const auto& [engine, counters] : stats.engines) {
    uint64_t wavs = 0, bytes = 0;
    for (const auto& f : fs::directory_iterator(dir + "/" + engine)) {
      std::string name = f.path().filename();
      EXPECT_FALSE(name.starts_with(".tmp-")) << "temporary left: " << name;
      bytes += f.file_size();
      if (!name.ends_with(".wav")) continue;
      ++wavs;
      std::ifstream in(f.path(), std::ios::binary);
      std::vector<uint8_t> data(std::istreambuf_iterator<char>(in), {});
      EXPECT_TRUE(ParseWav(data).ok()) << name << " is not a complete WAV";
    }
    EXPECT_EQ(wavs, counters.entries) << engine;
    EXPECT_EQ(bytes, counters.bytes) << engine;
  }
}

TEST(CacheStore, PutThenGetServesTheSameBytesFromTheSeedLayout) {
  testing::TempDir dir;
  auto store = OpenStore(Options(dir.path()));
  std::vector<uint8_t> wav = Wav(1);
  ASSERT_TRUE(store->Put("piper", "  The lights are ON. ", wav).ok());
  Result<std::optional<CachedFile>> got = store->Get("piper", "the lights   are on.");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(ReadFd(**got), wav);
  const std::string path =
      dir.path() + "/" + EntryRelativePath("piper", ComputeCacheKey("the lights are on.").value());
  EXPECT_TRUE(fs::exists(path)) << path;
  EXPECT_FALSE(Has(*store, "xtts", "the lights are on.")) << "engines are separate";
  CacheStats stats = store->Stats();
  EXPECT_EQ(stats.total.entries, 1u);
  EXPECT_EQ(stats.total.hits, 1u);
  EXPECT_EQ(stats.total.misses, 1u);
  EXPECT_EQ(stats.total.puts, 1u);
  ExpectFolderMatchesIndex(dir.path(), *store);
}

TEST(CacheStore, RefusesBadInputWithoutWritingAnything) {
  testing::TempDir dir;
  CacheOptions o = Options(dir.path());
  o.limits.max_text_bytes = 10;
  auto store = OpenStore(o);
  Result<StoredEntry> s = store->Put("espeak", "hi", Wav(1));
  EXPECT_EQ(s.error().code, Errc::kUnknownEngine);
  EXPECT_THAT(s.error().message, HasSubstr("expected one of: xtts, piper"));
  EXPECT_EQ(store->Put("../x", "hi", Wav(1)).error().code, Errc::kUnknownEngine);
  s = store->Put("xtts", "eleven chars", Wav(1));
  EXPECT_EQ(s.error().code, Errc::kTooLarge);
  EXPECT_THAT(s.error().message, HasSubstr("max_text_bytes is 10"));
  std::vector<uint8_t> truncated = Wav(1);
  truncated.resize(truncated.size() - 10);
  s = store->Put("xtts", "hi", truncated);
  EXPECT_EQ(s.error().code, Errc::kBadAudio);
  EXPECT_THAT(s.error().message, HasSubstr("truncated data chunk"));
  EXPECT_EQ(store->Put("xtts", "hi", {}).error().code, Errc::kBadAudio);
  EXPECT_EQ(store->Put("xtts", "hi", testing::MakeWav({}, {})).error().code, Errc::kBadAudio);
  EXPECT_EQ(store->Get("nope", "hi").error().code, Errc::kUnknownEngine);
  EXPECT_TRUE(fs::is_empty(dir.path() + "/xtts"));
  EXPECT_EQ(store->Stats().total.entries, 0u);
}

TEST(CacheStore, GetsMoveEntriesToTheFrontOfTheLru) {
  testing::TempDir dir;
  auto store = OpenStore(Options(dir.path(), 3));
  for (const char* t : {"a", "b", "c"}) ASSERT_TRUE(store->Put("xtts", t, Wav(t[0])).ok());
  ASSERT_TRUE(Has(*store, "xtts", "a"));  // a is now the most recent; b the least
  ASSERT_TRUE(store->Put("xtts", "d", Wav(4)).ok());
  EXPECT_TRUE(Has(*store, "xtts", "a"));
  EXPECT_FALSE(Has(*store, "xtts", "b"));
  EXPECT_TRUE(Has(*store, "xtts", "c"));
  EXPECT_TRUE(Has(*store, "xtts", "d"));
  // The limit is per engine: piper's entries do not count against xtts.
  for (const char* t : {"p1", "p2", "p3"}) ASSERT_TRUE(store->Put("piper", t, Wav(9)).ok());
  EXPECT_TRUE(Has(*store, "xtts", "c"));
  EXPECT_EQ(store->Stats().total.entries, 6u);
  EXPECT_EQ(store->Stats().total.evictions, 1u);
  ExpectFolderMatchesIndex(dir.path(), *store);
}

TEST(CacheStore, ByteLimitEvictsAcrossEnginesInLruOrder) {
  testing::TempDir dir;
  const uint64_t entry = Wav(0).size();
  auto store = OpenStore(Options(dir.path(), 100, entry * 3));
  ASSERT_TRUE(store->Put("xtts", "one", Wav(1)).ok());
  ASSERT_TRUE(store->Put("piper", "two", Wav(2)).ok());
  ASSERT_TRUE(store->Put("xtts", "three", Wav(3)).ok());
  ASSERT_TRUE(Has(*store, "xtts", "one"));
  ASSERT_TRUE(store->Put("piper", "four", Wav(4)).ok());  // evicts "two", the least recent
  EXPECT_FALSE(Has(*store, "piper", "two"));
  EXPECT_TRUE(Has(*store, "xtts", "one"));
  EXPECT_LE(store->Stats().total.bytes, entry * 3);
  Result<StoredEntry> too_big = store->Put("xtts", "big", Wav(5, 10000));
  EXPECT_EQ(too_big.error().code, Errc::kTooLarge);
  ExpectFolderMatchesIndex(dir.path(), *store);
}

TEST(CacheStore, VariantsLiveAndDieWithTheirEntry) {
  testing::TempDir dir;
  auto store = OpenStore(Options(dir.path(), 1));
  ASSERT_TRUE(store->Put("piper", "hello", Wav(1)).ok());
  OpusParams p;
  Result<VariantLookup> miss = store->GetVariant("piper", "hello", p);
  ASSERT_TRUE(miss.ok());
  EXPECT_FALSE(miss->variant);
  ASSERT_TRUE(miss->wav) << "the WAV to encode from";
  std::vector<uint8_t> ogg(777, 0x4F);
  ASSERT_TRUE(store->PutVariant("piper", "hello", miss->generation, p, ogg).ok());
  Result<VariantLookup> hit = store->GetVariant("piper", "hello", p);
  ASSERT_TRUE(hit->variant);
  EXPECT_EQ(ReadFd(*hit->variant), ogg);
  OpusParams other = p;
  other.bitrate_kbps = 24;
  EXPECT_FALSE(store->GetVariant("piper", "hello", other)->variant);
  CacheStats stats = store->Stats();
  EXPECT_EQ(stats.total.variant_hits, 1u);
  EXPECT_EQ(stats.total.variant_misses, 2u);
  EXPECT_EQ(stats.total.bytes, Wav(1).size() + ogg.size()) << "variants count toward size";
  const std::string variant_path =
      dir.path() + "/piper/" + VariantFileName(ComputeCacheKey("hello").value(), p);
  EXPECT_TRUE(fs::exists(variant_path));
  ExpectFolderMatchesIndex(dir.path(), *store);
  ASSERT_TRUE(store->Put("piper", "bye", Wav(2)).ok());  // max_entries 1: evicts hello
  EXPECT_FALSE(fs::exists(variant_path));
  EXPECT_EQ(store->PutVariant("piper", "hello", miss->generation, p, ogg).error().code,
            Errc::kNotFound);
  ExpectFolderMatchesIndex(dir.path(), *store);
}

TEST(CacheStore, AReaderKeepsItsDescriptorThroughEviction) {
  testing::TempDir dir;
  auto store = OpenStore(Options(dir.path(), 1));
  ASSERT_TRUE(store->Put("xtts", "first", Wav(1)).ok());
  Result<std::optional<CachedFile>> held = store->Get("xtts", "first");
  ASSERT_TRUE(held.ok() && held->has_value());
  ASSERT_TRUE(store->Put("xtts", "second", Wav(2)).ok());  // evicts "first"
  EXPECT_FALSE(Has(*store, "xtts", "first"));
  EXPECT_EQ(ReadFd(**held), Wav(1));
}

TEST(CacheStore, CleanReopenKeepsEntriesOrderAndStatsWithoutARebuild) {
  testing::TempDir dir;
  {
    auto store = OpenStore(Options(dir.path(), 3));
    EXPECT_EQ(store->open_report().rebuild_reason, "no index yet");
    for (const char* t : {"a", "b", "c"}) ASSERT_TRUE(store->Put("xtts", t, Wav(t[0])).ok());
    ASSERT_TRUE(Has(*store, "xtts", "a"));
  }
  auto store = OpenStore(Options(dir.path(), 3));
  EXPECT_EQ(store->open_report().rebuild_reason, "");
  EXPECT_EQ(store->Stats().total.puts, 3u);
  ASSERT_TRUE(store->Put("xtts", "d", Wav(4)).ok());
  EXPECT_FALSE(Has(*store, "xtts", "b")) << "LRU order survived the restart";
  EXPECT_TRUE(Has(*store, "xtts", "a"));
}

TEST(CacheStore, LoweringLimitsEvictsDownToThem) {
  testing::TempDir dir;
  {
    auto store = OpenStore(Options(dir.path(), 10));
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->Put("xtts", std::to_string(i), Wav(i)).ok());
    CacheLimits lower;
    lower.max_entries = 4;
    ASSERT_TRUE(store->SetLimits(lower).ok());
    EXPECT_EQ(store->Stats().total.entries, 4u);
    EXPECT_TRUE(Has(*store, "xtts", "9"));
    EXPECT_FALSE(Has(*store, "xtts", "5"));
    lower.max_entries = 11;
    EXPECT_FALSE(store->SetLimits(lower).ok()) << "above the index capacity";
    ExpectFolderMatchesIndex(dir.path(), *store);
  }
  // A restart with a smaller max_entries reformats the index and rebuilds.
  auto store = OpenStore(Options(dir.path(), 2));
  EXPECT_THAT(store->open_report().rebuild_reason, HasSubstr("max_entries"));
  EXPECT_EQ(store->Stats().total.entries, 2u);
  ExpectFolderMatchesIndex(dir.path(), *store);
}

void DamageIndex(const std::string& dir, const std::string& how) {
  const std::string path = dir + "/" + kIndexFileName;
  if (how == "deleted") {
    fs::remove(path);
  } else if (how == "truncated") {
    fs::resize_file(path, fs::file_size(path) / 2);
  } else if (how == "zeroed") {
    std::vector<char> zeros(fs::file_size(path), 0);
    std::ofstream(path, std::ios::binary).write(zeros.data(), static_cast<long>(zeros.size()));
  } else if (how == "garbage") {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(9000);
    f.write("garbage!garbage!", 16);
  } else if (how == "unclean") {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16);
    const uint64_t zero = 0;
    f.write(reinterpret_cast<const char*>(&zero), 8);
  }
}

class DamagedIndex : public ::testing::TestWithParam<const char*> {};

TEST_P(DamagedIndex, IsRebuiltFromTheFolderLosingNothing) {
  testing::TempDir dir;
  {
    auto store = OpenStore(Options(dir.path()));
    uint64_t text1 = 0;
    for (int i = 0; i < 20; ++i) {
      Result<StoredEntry> put =
          store->Put(i % 2 ? "xtts" : "piper", "text " + std::to_string(i), Wav(i));
      ASSERT_TRUE(put.ok());
      if (i == 1) text1 = put->generation;
    }
    ASSERT_TRUE(
        store->PutVariant("xtts", "text 1", text1, OpusParams{}, std::vector<uint8_t>(50, 1)).ok());
  }
  DamageIndex(dir.path(), GetParam());
  auto store = OpenStore(Options(dir.path()));
  EXPECT_NE(store->open_report().rebuild_reason, "") << GetParam();
  EXPECT_EQ(store->open_report().adopted, 20u);
  EXPECT_EQ(store->open_report().variants_adopted, 1u);
  for (int i = 0; i < 20; ++i) {
    Result<std::optional<CachedFile>> got =
        store->Get(i % 2 ? "xtts" : "piper", "text " + std::to_string(i));
    ASSERT_TRUE(got.ok() && got->has_value()) << i;
    EXPECT_EQ(ReadFd(**got), Wav(i));
  }
  EXPECT_TRUE(store->GetVariant("xtts", "text 1", OpusParams{})->variant);
  ExpectFolderMatchesIndex(dir.path(), *store);
}

INSTANTIATE_TEST_SUITE_P(Ways, DamagedIndex,
                         ::testing::Values("deleted", "truncated", "zeroed", "garbage", "unclean"));

TEST(CacheStore, RebuildCleansTemporariesTruncatedFilesAndOrphansButLeavesStrangersAlone) {
  testing::TempDir dir;
  { auto store = OpenStore(Options(dir.path())); }
  const std::string folder = dir.path() + "/piper/";
  const std::string good = ComputeCacheKey("good").value().hex();
  const std::string cut = ComputeCacheKey("cut").value().hex();
  auto write = [](const std::string& path, std::vector<uint8_t> bytes) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  };
  write(folder + good + ".wav", Wav(1));
  std::vector<uint8_t> half = Wav(2);
  half.resize(half.size() / 2);
  write(folder + cut + ".wav", half);  // the Node module's half-written file
  write(folder + ".tmp-0123456789abcdef", Wav(3));
  write(folder + cut + "." + VariantTag(OpusParams{}) + ".opus", {1, 2, 3});
  write(folder + "README.txt", {'h', 'i'});
  DamageIndex(dir.path(), "unclean");
  auto store = OpenStore(Options(dir.path()));
  const CacheOpenReport& r = store->open_report();
  EXPECT_EQ(r.adopted, 1u);
  EXPECT_EQ(r.invalid_removed, 1u);
  EXPECT_EQ(r.temporaries_removed, 1u);
  EXPECT_EQ(r.orphans_removed, 1u);
  EXPECT_EQ(r.unknown_left, 1u);
  EXPECT_TRUE(Has(*store, "piper", "good"));
  EXPECT_FALSE(Has(*store, "piper", "cut"));
  EXPECT_FALSE(fs::exists(folder + cut + ".wav"));
  EXPECT_TRUE(fs::exists(folder + "README.txt"));
}

TEST(CacheStore, AdoptsAFolderWrittenByTheOldNodeModule) {
  testing::TempDir dir;
  testing::TempDir scratch;
  const std::string script = std::string(TTSCACHE_SOURCE_DIR) + "/tests/node/old-tts-cache.mjs";
  std::vector<std::string> texts = {"One moment…", "The lights are on.", "  İstanbul  ", "ΟΔΟΣ",
                                    "Привет мир"};
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string wav_path = scratch.path() + "/in.wav";
    std::vector<uint8_t> wav = Wav(static_cast<int>(i));
    std::ofstream(wav_path, std::ios::binary)
        .write(reinterpret_cast<const char*>(wav.data()), static_cast<long>(wav.size()));
    const std::string engine = i % 2 ? "xtts" : "piper";
    // Texts go through a file to keep the shell out of their bytes.
    std::ofstream(scratch.path() + "/text", std::ios::binary) << texts[i];
    const std::string command = "node " + script + " put " + dir.path() + " " + engine +
                                " 500 \"$(cat " + scratch.path() + "/text)\" " + wav_path;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // distinct mtimes
  }
  auto store = OpenStore(Options(dir.path()));
  EXPECT_EQ(store->open_report().rebuild_reason, "no index yet");
  EXPECT_EQ(store->open_report().adopted, texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    Result<std::optional<CachedFile>> got = store->Get(i % 2 ? "xtts" : "piper", texts[i]);
    ASSERT_TRUE(got.ok() && got->has_value()) << texts[i];
    EXPECT_EQ(ReadFd(**got), Wav(static_cast<int>(i)));
  }
  ExpectFolderMatchesIndex(dir.path(), *store);
}

TEST(CacheStore, ASecondStoreOnTheSameDirIsRefusedNamingThePid) {
  testing::TempDir dir;
  auto first = OpenStore(Options(dir.path()));
  Result<std::unique_ptr<CacheStore>> second = CacheStore::Open(Options(dir.path()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::kLocked);
  EXPECT_THAT(second.error().message, HasSubstr("in use by pid " + std::to_string(getpid())));
}

// The write path runs two ways: through unnamed O_TMPFILE inodes (where the
// filesystem has them: ext4 and tmpfs do) and through named temporaries.
class Publication : public ::testing::TestWithParam<bool> {
 protected:
  CacheOptions OptionsHere(const std::string& dir, uint64_t max_entries) {
    CacheOptions o = Options(dir, max_entries);
    o.unnamed_temporaries = GetParam();
    return o;
  }
};
INSTANTIATE_TEST_SUITE_P(Both, Publication, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "UnnamedInodes" : "NamedTemporaries";
                         });

TEST_P(Publication, TheChosenWayIsTheOneUsed) {
  testing::TempDir dir;
  auto store = OpenStore(OptionsHere(dir.path(), 10));
  EXPECT_EQ(store->open_report().unnamed_temporaries, GetParam())
      << "this test's folder is on a filesystem with O_TMPFILE";
}

TEST_P(Publication, PutsReplacesVariantsAndEvictionsKeepTheFolderExact) {
  testing::TempDir dir;
  auto store = OpenStore(OptionsHere(dir.path(), 3));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Put("xtts", "t" + std::to_string(i), Wav(i)).ok());
  Result<StoredEntry> t4 = store->Put("xtts", "t4", Wav(40));  // replace
  ASSERT_TRUE(t4.ok());
  OpusParams p;
  ASSERT_TRUE(
      store->PutVariant("xtts", "t4", t4->generation, p, std::vector<uint8_t>(300, 9)).ok());
  EXPECT_FALSE(Has(*store, "xtts", "t0")) << "evicted by max_entries";
  EXPECT_EQ(ServedBytes(*store, "xtts", "t4"), Wav(40));
  ExpectFolderMatchesIndex(dir.path(), *store);
}

// PutFile (PUT_FILE, `ttscache adopt`) copies a file from outside the cache
// and publishes it as a put does, through either kind of temporary; a file
// it refuses leaves nothing behind.
TEST_P(Publication, PutFileCopiesAndPublishesLikeAPut) {
  testing::TempDir dir;
  auto store = OpenStore(OptionsHere(dir.path(), 10));
  const std::string source = dir.path() + "/source.wav";
  std::ofstream(source, std::ios::binary)
      .write(reinterpret_cast<const char*>(Wav(3).data()),
             static_cast<std::streamsize>(Wav(3).size()));
  UniqueFd fd(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  const CacheKey key = ComputeCacheKey("adopted").value();
  Result<PutFileResult> put =
      store->PutFile("xtts", key, fd.get(), 1000000000ull * 1600000000, 1u << 30);
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_EQ(put->outcome, PutFileOutcome::kStored);
  EXPECT_EQ(put->size, Wav(3).size());
  EXPECT_EQ(ServedBytes(*store, "xtts", "Adopted"), Wav(3));
  EXPECT_EQ(store->PutFile("xtts", key, fd.get(), 0, 1u << 30)->outcome,
            PutFileOutcome::kAlreadyCached);
  const std::vector<uint8_t> wav = Wav(4);
  std::ofstream(source, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(wav.data()), 100);
  Result<PutFileResult> cut =
      store->PutFile("xtts", ComputeCacheKey("cut").value(), fd.get(), 0, 1u << 30);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().code, Errc::kBadAudio);
  // In slices; abandoned half way (the client left), nothing is left behind.
  std::ofstream(source, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(wav.data()), static_cast<std::streamsize>(wav.size()));
  {
    Result<std::unique_ptr<FileAdoption>> half =
        store->StartPutFile("xtts", ComputeCacheKey("half").value(), fd.get(), 0, 1u << 30);
    ASSERT_TRUE(half.ok()) << half.error().message;
    EXPECT_FALSE(store->ContinuePutFile(**half, 100).value());
  }
  Result<std::unique_ptr<FileAdoption>> sliced =
      store->StartPutFile("xtts", ComputeCacheKey("sliced").value(), fd.get(), 0, 1u << 30);
  ASSERT_TRUE(sliced.ok());
  int slices = 1;
  while (!store->ContinuePutFile(**sliced, 1000).value()) ++slices;
  EXPECT_EQ(slices, static_cast<int>((wav.size() + 999) / 1000));
  EXPECT_EQ(store->FinishPutFile(**sliced).value().outcome, PutFileOutcome::kStored);
  EXPECT_EQ(ServedBytes(*store, "xtts", "sliced"), wav);
  Result<PutFileResult> big =
      store->PutFile("xtts", ComputeCacheKey("big").value(), fd.get(), 0, 99);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::kTooLarge);
  ExpectFolderMatchesIndex(dir.path(), *store);
}

// A file with an entry's name that the index does not know (copied in by
// hand while the daemon runs) is replaced by the put, as a rename would.
TEST_P(Publication, AStrayFileWithTheEntrysNameIsReplaced) {
  testing::TempDir dir;
  auto store = OpenStore(OptionsHere(dir.path(), 10));
  const std::string path =
      dir.path() + "/" + EntryRelativePath("xtts", ComputeCacheKey("stray").value());
  std::ofstream(path, std::ios::binary) << "not what the put writes";
  ASSERT_TRUE(store->Put("xtts", "stray", Wav(7)).ok());
  EXPECT_EQ(ServedBytes(*store, "xtts", "stray"), Wav(7));
  ExpectFolderMatchesIndex(dir.path(), *store);
}

TEST_P(Publication, ConcurrentPutsOfOneKeyLeaveOneCompleteFile) {
  testing::TempDir dir;
  auto store = OpenStore(OptionsHere(dir.path(), 1000));
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        EXPECT_TRUE(store->Put("xtts", "same text", Wav(t, 1000 + t * 100)).ok());
        EXPECT_TRUE(store->Put("piper", "text " + std::to_string(t * 1000 + i), Wav(i)).ok());
        Result<std::optional<CachedFile>> got = store->Get("xtts", "same text");
        ASSERT_TRUE(got.ok() && got->has_value());
        std::vector<uint8_t> bytes = ReadFd(**got);
        EXPECT_TRUE(ParseWav(bytes).ok()) << "a reader saw a partial file";
      }
    });
  }
  for (auto& t : threads) t.join();
  CacheStats stats = store->Stats();
  EXPECT_EQ(stats.engines[0].second.entries, 1u);
  EXPECT_EQ(stats.engines[1].second.entries, 400u);
  ExpectFolderMatchesIndex(dir.path(), *store);
}

TEST_P(Publication, KilledMidPutStormLosesNothingAcknowledged) {
  testing::TempDir dir;
  const std::string acks = dir.path() + "-acks";
  for (int round = 0; round < 5; ++round) {
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    pid_t child = fork();
    if (child == 0) {
      close(pipe_fds[0]);
      CacheOptions o = OptionsHere(dir.path(), 10000);
      o.fsync = true;
      Result<std::unique_ptr<CacheStore>> s = CacheStore::Open(o);
      if (!s) _exit(3);
      for (int i = 0;; ++i) {
        const int id = round * 100000 + i;
        if (!(*s)->Put("xtts", "storm " + std::to_string(id), Wav(id % 251, 500 + id % 700))) {
          _exit(4);
        }
        // Acknowledged: tell the parent only after Put returned.
        if (write(pipe_fds[1], &id, sizeof(id)) != sizeof(id)) _exit(5);
      }
    }
    close(pipe_fds[1]);
    // Kill only after the first acknowledgment (a slow start under ASan must
    // not end the round before the storm begins), then at a varying moment.
    std::vector<int> acknowledged;
    int first;
    ASSERT_EQ(read(pipe_fds[0], &first, sizeof(first)), static_cast<ssize_t>(sizeof(first)));
    acknowledged.push_back(first);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + round * 37));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child exited by itself: " << WEXITSTATUS(status);
    int id;
    while (read(pipe_fds[0], &id, sizeof(id)) == sizeof(id)) acknowledged.push_back(id);
    close(pipe_fds[0]);
    ASSERT_FALSE(acknowledged.empty());

    auto store = OpenStore(OptionsHere(dir.path(), 10000));
    EXPECT_THAT(store->open_report().rebuild_reason, HasSubstr("not closed cleanly"));
    for (int a : acknowledged) {
      Result<std::optional<CachedFile>> got = store->Get("xtts", "storm " + std::to_string(a));
      ASSERT_TRUE(got.ok() && got->has_value()) << "acknowledged entry " << a << " lost";
      EXPECT_EQ(ReadFd(**got), Wav(a % 251, 500 + a % 700));
    }
    ExpectFolderMatchesIndex(dir.path(), *store);
  }
}

// Puts publish and unlink outside the index lock (so hits never wait for the
// disk). The hazard that design must exclude: a put unlinking an evicted
// file after a later put of the same key published a new file under that
// name, leaving an entry without a file (a get then drops it: data loss).
// Eight keys in a cache of four, so nearly every put evicts and keys come
// back at once; re-puts, variant puts and gets race throughout. Every file a
// get serves must be a complete WAV of its key (the size tells the key), no
// get may find an indexed file missing (it would log "dropping"), and the
// folder matches the index at the end.
TEST_P(Publication, EvictionsAndRePutsRacingLoseNoPublishedFile) {
  testing::TempDir dir;
  auto store = OpenStore(OptionsHere(dir.path(), 4));
  constexpr int kKeys = 8;
  auto text = [](int k) { return "key " + std::to_string(k); };
  auto frames = [](int k) { return static_cast<size_t>(600 + 10 * k); };
  auto wav_size = [&](int k) { return Wav(0, frames(k)).size(); };
  ::testing::internal::CaptureStderr();
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 400; ++i) {
        const int k = static_cast<int>(rng() % kKeys);
        EXPECT_TRUE(
            store->Put("xtts", text(k), Wav(static_cast<int>(rng() % 200), frames(k))).ok());
      }
    });
  }
  threads.emplace_back([&] {  // variants of whatever WAV is there now
    std::mt19937 rng(7);
    OpusParams p;
    while (!stop) {
      const int k = static_cast<int>(rng() % kKeys);
      Result<VariantLookup> found = store->GetVariant("xtts", text(k), p);
      ASSERT_TRUE(found.ok()) << found.error().message;
      if (found->wav) {
        Status s = store->PutVariant("xtts", text(k), found->generation, p,
                                     std::vector<uint8_t>(100 + k, static_cast<uint8_t>(k)));
        EXPECT_TRUE(s.ok() || s.error().code == Errc::kNotFound) << s.error().message;
      } else if (found->variant) {
        EXPECT_EQ(ReadFd(*found->variant), std::vector<uint8_t>(100 + k, static_cast<uint8_t>(k)));
      }
    }
  });
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      while (!stop) {
        const int k = static_cast<int>(rng() % kKeys);
        Result<std::optional<CachedFile>> got = store->Get("xtts", text(k));
        ASSERT_TRUE(got.ok()) << got.error().message;
        if (!got->has_value()) continue;
        std::vector<uint8_t> bytes = ReadFd(**got);
        EXPECT_EQ(bytes.size(), wav_size(k)) << "served another key's file";
        EXPECT_TRUE(ParseWav(bytes).ok()) << "served a partial file";
      }
    });
  }
  for (int t = 0; t < 3; ++t) threads[t].join();
  stop = true;
  for (size_t t = 3; t < threads.size(); ++t) threads[t].join();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, ::testing::Not(HasSubstr("dropping cache"))) << "an indexed file vanished";
  EXPECT_EQ(store->Stats().engines[0].second.entries, 4u);
  for (int k = 0; k < kKeys; ++k) {
    Result<std::optional<CachedFile>> got = store->Get("xtts", text(k));
    ASSERT_TRUE(got.ok());
    if (got->has_value()) {
      EXPECT_EQ((*got)->size, wav_size(k));
    }
  }
  ExpectFolderMatchesIndex(dir.path(), *store);
}

// ENOSPC: a 1 MiB tmpfs fills up; the failing put leaves nothing behind and
// the cache keeps serving what it has.
TEST_P(Publication, FullDiskFailsThePutCleanly) {
  testing::TempDir dir;
  if (mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << strerror(errno);
  }
  {
    auto store = OpenStore(OptionsHere(dir.path() + "/cache", 1000));
    Result<StoredEntry> s = StoredEntry{};
    int stored = 0;
    for (; stored < 1000; ++stored) {
      s = store->Put("xtts", "entry " + std::to_string(stored), Wav(stored, 20000));
      if (!s) break;
    }
    ASSERT_FALSE(s.ok()) << "the disk never filled";
    EXPECT_EQ(s.error().code, Errc::kNoSpace);
    EXPECT_THAT(s.error().message, HasSubstr("No space left on device"));
    EXPECT_EQ(store->Stats().total.entries, static_cast<uint64_t>(stored));
    for (int i = 0; i < stored; ++i) ASSERT_TRUE(Has(*store, "xtts", "entry " + std::to_string(i)));
    ExpectFolderMatchesIndex(dir.path() + "/cache", *store);
  }
  umount2(dir.path().c_str(), MNT_DETACH);
}

TEST(CacheStore, FsyncOnPublishes) {
  testing::TempDir dir;
  CacheOptions o = Options(dir.path());
  o.fsync = true;
  auto store = OpenStore(o);
  ASSERT_TRUE(store->Put("xtts", "durable", Wav(1)).ok());
  EXPECT_TRUE(Has(*store, "xtts", "durable"));
}

TEST(CacheStore, AFolderDeletedUnderTheStoreGivesMissesNotCrashes) {
  testing::TempDir dir;
  auto store = OpenStore(Options(dir.path()));
  ASSERT_TRUE(store->Put("xtts", "x", Wav(1)).ok());
  fs::remove_all(dir.path() + "/xtts");
  EXPECT_FALSE(Has(*store, "xtts", "x"));
  EXPECT_EQ(store->Stats().total.entries, 0u);
  Result<StoredEntry> s = store->Put("xtts", "y", Wav(2));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("xtts"));
  EXPECT_TRUE(store->Put("piper", "z", Wav(3)).ok()) << "other engines keep working";
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

// The store keeps descriptors of recently served files open (OpenFileCache):
// a replaced entry or variant must never be served from an old descriptor.
TEST(CacheStoreOpenFiles, AReplacedEntryIsServedNewNotFromAnOldDescriptor) {
  testing::TempDir dir;
  auto store = OpenStore(Options(dir.path()));
  ASSERT_TRUE(store->Put("piper", "phrase", Wav(1)).ok());
  auto first = store->Get("piper", "phrase");
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ(ReadFd(**first), Wav(1));
  auto again = store->Get("piper", "phrase");  // now from the open descriptor
  EXPECT_EQ(ReadFd(**again), Wav(1));
  ASSERT_TRUE(store->Put("piper", "phrase", Wav(2)).ok());
  auto replaced = store->Get("piper", "phrase");
  ASSERT_TRUE(replaced.ok() && replaced->has_value());
  EXPECT_EQ(ReadFd(**replaced), Wav(2));
  EXPECT_EQ(ReadFd(**first), Wav(1)) << "a reply still holding the old file reads it whole";
}

TEST(CacheStoreOpenFiles, AnEvictedEntryIsAMissEvenIfItsDescriptorWasOpen) {
  testing::TempDir dir;
  auto store = OpenStore(Options(dir.path(), /*max_entries=*/1));
  ASSERT_TRUE(store->Put("xtts", "old", Wav(1)).ok());
  ASSERT_TRUE(Has(*store, "xtts", "old"));
  ASSERT_TRUE(store->Put("xtts", "new", Wav(2)).ok());  // evicts "old"
  EXPECT_FALSE(Has(*store, "xtts", "old"));
  EXPECT_TRUE(Has(*store, "xtts", "new"));
}

TEST(CacheStoreOpenFiles, AReplacedVariantIsServedNew) {
  testing::TempDir dir;
  auto store = OpenStore(Options(dir.path()));
  Result<StoredEntry> v1 = store->Put("piper", "v", Wav(1));
  ASSERT_TRUE(v1.ok());
  OpusParams p;
  ASSERT_TRUE(store->PutVariant("piper", "v", v1->generation, p, std::vector<uint8_t>(40, 1)).ok());
  auto hit = store->GetVariant("piper", "v", p);
  ASSERT_TRUE(hit.ok() && hit->variant);
  EXPECT_EQ(ReadFd(*hit->variant), std::vector<uint8_t>(40, 1));
  // A new WAV for the key drops its variants; the next variant is encoded anew.
  Result<StoredEntry> v2 = store->Put("piper", "v", Wav(2));
  ASSERT_TRUE(v2.ok());
  EXPECT_NE(v2->generation, v1->generation);
  // Put names the entry it stored: the key of the normalized text (one hash per put).
  EXPECT_EQ(v2->key.hex(), store->Resolve("piper", "v")->second.hex());
  EXPECT_EQ(v2->key.hex(), v1->key.hex());
  auto after = store->GetVariant("piper", "v", p);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->variant) << "served a variant of the replaced WAV";
  ASSERT_TRUE(store->PutVariant("piper", "v", v2->generation, p, std::vector<uint8_t>(50, 2)).ok());
  EXPECT_EQ(ReadFd(*store->GetVariant("piper", "v", p)->variant), std::vector<uint8_t>(50, 2));
  // Filling every variant slot replaces the first (p): its descriptor goes too.
  for (int kbps : {20, 40, 48, 64}) {
    OpusParams q;
    q.bitrate_kbps = static_cast<uint16_t>(kbps);
    ASSERT_TRUE(
        store->PutVariant("piper", "v", v2->generation, q, std::vector<uint8_t>(10, 3)).ok());
  }
  EXPECT_FALSE(store->GetVariant("piper", "v", p)->variant) << "the replaced variant is gone";
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

// Files in the cache folder and the process's resources are not trusted
// (issue #13): a shortage of descriptors is no reason to drop an entry, a
// FIFO or a foreign file in an entry's place must not be served or block,
// and a variant made from a replaced WAV must not be stored.

// Lowers the soft RLIMIT_NOFILE to just above the descriptors now open and
// fills it with dups, so the next open fails with EMFILE; undone on scope exit.
class DescriptorsExhausted {
 public:
  DescriptorsExhausted() {
    EXPECT_EQ(getrlimit(RLIMIT_NOFILE, &saved_), 0);
    int highest = 0;
    for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
      highest = std::max(highest, std::stoi(e.path().filename().string()));
    }
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(highest + 16);
    UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(null.valid());
    EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
    for (;;) {
      int fd = fcntl(null.get(), F_DUPFD_CLOEXEC, 0);
      if (fd < 0) break;
      fds_.emplace_back(fd);
    }
    EXPECT_EQ(errno, EMFILE);
    fds_.push_back(std::move(null));
  }
  ~DescriptorsExhausted() {
    fds_.clear();
    EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &saved_), 0);
  }

 private:
  rlimit saved_{};
  std::vector<UniqueFd> fds_;
};

std::string PathOfEntry(const std::string& dir, const std::string& engine,
                        const std::string& text) {
  return dir + "/" + EntryRelativePath(engine, ComputeCacheKey(text).value());
}

// Before: the failed open dropped the entry and unlinked its files (and the
// variant lookup left an orphan .opus).
TEST(CacheStoreTrust, OutOfDescriptorsIsBusyAndLosesNothing) {
  testing::TempDir dir;
  OpusParams p;
  const std::vector<uint8_t> ogg(300, 7);
  {
    auto store = OpenStore(Options(dir.path()));
    Result<StoredEntry> put = store->Put("xtts", "kept", Wav(1));
    ASSERT_TRUE(put.ok());
    ASSERT_TRUE(store->PutVariant("xtts", "kept", put->generation, p, ogg).ok());
  }
  // A fresh store keeps no descriptor open yet: every get must open.
  auto store = OpenStore(Options(dir.path()));
  const std::string wav_path = PathOfEntry(dir.path(), "xtts", "kept");
  const std::string variant_path =
      dir.path() + "/xtts/" + VariantFileName(ComputeCacheKey("kept").value(), p);
  // Only the calls run while descriptors are exhausted; the checks run after
  // (a sanitizer runtime needs a descriptor to check a vptr, and fails).
  std::optional<Result<std::optional<CachedFile>>> got;
  std::optional<Result<VariantLookup>> variant_lookup, wav_for_encode;
  OpusParams other = p;
  other.bitrate_kbps = 24;  // no such variant: the WAV is opened, and fails
  {
    DescriptorsExhausted exhausted;
    got = store->Get("xtts", "kept");
    variant_lookup = store->GetVariant("xtts", "kept", p);
    wav_for_encode = store->GetVariant("xtts", "kept", other);
  }
  ASSERT_FALSE(got->ok()) << "served without a descriptor?";
  EXPECT_EQ(got->error().code, Errc::kBusy);
  EXPECT_EQ(got->error().sys_errno, EMFILE);
  EXPECT_THAT(got->error().message, HasSubstr("EMFILE (Too many open files)"));
  ASSERT_FALSE(variant_lookup->ok());
  EXPECT_EQ(variant_lookup->error().code, Errc::kBusy);
  ASSERT_FALSE(wav_for_encode->ok());
  EXPECT_EQ(wav_for_encode->error().code, Errc::kBusy);
  EXPECT_TRUE(fs::exists(wav_path));
  EXPECT_TRUE(fs::exists(variant_path));
  EXPECT_EQ(ServedBytes(*store, "xtts", "kept"), Wav(1)) << "served once descriptors are free";
  Result<VariantLookup> variant = store->GetVariant("xtts", "kept", p);
  ASSERT_TRUE(variant.ok() && variant->variant);
  EXPECT_EQ(ReadFd(*variant->variant), ogg);
  EXPECT_EQ(store->Stats().total.entries, 1u);
  ExpectFolderMatchesIndex(dir.path(), *store);
}

// Before: the encoding of v1, finished after v2 was put, became v2's variant.
TEST(CacheStoreTrust, AVariantOfAReplacedWavIsRefused) {
  testing::TempDir dir;
  auto store = OpenStore(Options(dir.path()));
  OpusParams p;
  ASSERT_TRUE(store->Put("piper", "phrase", Wav(1)).ok());
  Result<VariantLookup> v1 = store->GetVariant("piper", "phrase", p);
  ASSERT_TRUE(v1.ok() && v1->wav && !v1->variant);                // an encode of v1 starts
  ASSERT_TRUE(store->Put("piper", "phrase", Wav(2, 3000)).ok());  // v2 lands meanwhile
  Status stale = store->PutVariant("piper", "phrase", v1->generation, p, std::vector<uint8_t>(9));
  ASSERT_FALSE(stale.ok()) << "the encoding of v1 was stored for v2";
  EXPECT_EQ(stale.error().code, Errc::kNotFound);
  Result<VariantLookup> after = store->GetVariant("piper", "phrase", p);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->variant);
  ASSERT_TRUE(after->wav);
  EXPECT_EQ(ReadFd(*after->wav), Wav(2, 3000));
  EXPECT_NE(after->generation, v1->generation);
  EXPECT_TRUE(
      store->PutVariant("piper", "phrase", after->generation, p, std::vector<uint8_t>(9)).ok());
  ExpectFolderMatchesIndex(dir.path(), *store);
}

// Before: the open blocked until a writer came (the event loop hung).
TEST(CacheStoreTrust, AFifoInPlaceOfAWavIsDroppedWithoutBlocking) {
  testing::TempDir dir;
  {
    auto store = OpenStore(Options(dir.path()));
    ASSERT_TRUE(store->Put("xtts", "fifo", Wav(1)).ok());
    ASSERT_TRUE(store->Put("xtts", "bystander", Wav(2)).ok());
  }
  auto store = OpenStore(Options(dir.path()));
  const std::string path = PathOfEntry(dir.path(), "xtts", "fifo");
  ASSERT_EQ(unlink(path.c_str()), 0);
  ASSERT_EQ(mkfifo(path.c_str(), 0640), 0);

  auto get = std::async(std::launch::async, [&] { return store->Get("xtts", "fifo"); });
  if (get.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    // Unblock the stuck open (a writer arrives) so the test can end.
    UniqueFd writer(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    get.wait();
    FAIL() << "Get blocked on a FIFO";
  }
  Result<std::optional<CachedFile>> got = get.get();
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_FALSE(got->has_value()) << "a FIFO was served";
  EXPECT_FALSE(fs::exists(fs::symlink_status(path))) << "the dropped entry's name is cleared";
  EXPECT_EQ(ServedBytes(*store, "xtts", "bystander"), Wav(2));
  EXPECT_EQ(store->Stats().total.entries, 1u);
  ExpectFolderMatchesIndex(dir.path(), *store);
}

// Before: served, whoever owned it.
TEST(CacheStoreTrust, AFileNotOwnedByTheDaemonIsNotServed) {
  if (geteuid() != 0) GTEST_SKIP() << "giving a file away needs root";
  testing::TempDir dir;
  {
    auto store = OpenStore(Options(dir.path()));
    ASSERT_TRUE(store->Put("piper", "foreign", Wav(1)).ok());
    ASSERT_TRUE(store->Put("piper", "ours", Wav(2)).ok());
  }
  auto store = OpenStore(Options(dir.path()));
  const std::string path = PathOfEntry(dir.path(), "piper", "foreign");
  ASSERT_EQ(chown(path.c_str(), 4242, 4242), 0);
  Result<std::optional<CachedFile>> got = store->Get("piper", "foreign");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_FALSE(got->has_value()) << "served a file owned by uid 4242";
  EXPECT_EQ(ServedBytes(*store, "piper", "ours"), Wav(2));
  EXPECT_EQ(store->Stats().total.entries, 1u);
  ExpectFolderMatchesIndex(dir.path(), *store);
}

}  // namespace
}  // namespace ttscache
