// CacheStore's upkeep: min_free on a small tmpfs (the cache gives way as
// the filesystem fills, oldest first, and stops when it has nothing left),
// max_age (entries unused too long expire on Maintain; a get refreshes), new
// limits by SetLimits, and the Stats fields that report them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/unique_fd.hpp"
#include "daemon/cache/cache_store.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/wav_builder.hpp"
#include "tests/unit/cache_test_support.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;

// Room for every entry the tests put, so only max_age and min_free evict.
CacheOptions RoomyStoreOptions(const std::string& dir) { return testing::StoreOptions(dir, 1000); }

bool Has(CacheStore& s, const std::string& engine, const std::string& text) {
  Result<std::optional<CachedFile>> r = s.Get(engine, text);
  return r.ok() && r->has_value();
}

uint64_t FreeBytes(const std::string& path) {
  struct statvfs st;
  EXPECT_EQ(statvfs(path.c_str(), &st), 0);
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

// A tmpfs of `size` mounted on {temp}/fs; the cache lives in {temp}/fs/cache,
// so a test can fill the filesystem beside it. Skips without root.
class SmallFilesystem : public ::testing::Test {
 protected:
  void Mount(const char* size) {
    root_ = temp_.path() + "/fs";
    fs::create_directories(root_);
    if (mount("tmpfs", root_.c_str(), "tmpfs", 0, size) != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << strerror(errno);
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(root_.c_str(), MNT_DETACH);
  }
  std::string cache_dir() const { return root_ + "/cache"; }

  testing::TempDir temp_;
  std::string root_;
  bool mounted_ = false;
};

TEST_F(SmallFilesystem, MinFreeEvictsTheOldestAsPutsFillTheDisk) {
  Mount("size=16m");
  if (!mounted_) return;
  CacheOptions o = RoomyStoreOptions(cache_dir());
  o.limits.min_free_bytes = 4 << 20;
  auto store = testing::OpenCacheStore(o);
  ASSERT_TRUE(store);
  const size_t kFrames = 100000;  // 200 KB each: 150 of them are twice the filesystem
  const int kPuts = 150;
  for (int i = 0; i < kPuts; ++i) {
    Result<StoredEntry> put =
        store->Put("xtts", "text " + std::to_string(i), testing::SeededWav(i, kFrames));
    ASSERT_TRUE(put.ok()) << "put " << i << ": " << put.error().message;
    EXPECT_GE(FreeBytes(root_), uint64_t{4} << 20) << "after put " << i;
  }
  // Oldest first: what is left is the newest, without a gap.
  int first_kept = kPuts;
  while (first_kept > 0 && Has(*store, "xtts", "text " + std::to_string(first_kept - 1))) {
    --first_kept;
  }
  EXPECT_GT(first_kept, 0) << "something was evicted";
  EXPECT_LT(first_kept, kPuts - 10) << "most of what fits stays";
  for (int i = 0; i < first_kept; ++i) {
    EXPECT_FALSE(Has(*store, "xtts", "text " + std::to_string(i))) << i;
  }
  const CacheStats stats = store->Stats();
  EXPECT_EQ(stats.total.entries, static_cast<uint64_t>(kPuts - first_kept));
  EXPECT_EQ(stats.evicted_for_space, static_cast<uint64_t>(first_kept));
  EXPECT_EQ(stats.expired, 0u);
  EXPECT_EQ(stats.min_free_bytes, uint64_t{4} << 20);
  EXPECT_EQ(stats.disk_total_bytes, uint64_t{16} << 20);
  EXPECT_GE(stats.disk_free_bytes, uint64_t{4} << 20);
  // Nothing to do once free space is back: Maintain removes nothing more.
  Result<MaintenanceOutcome> m = store->Maintain();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->evicted_for_space, 0u);
  EXPECT_EQ(store->Stats().total.entries, static_cast<uint64_t>(kPuts - first_kept));
}

TEST_F(SmallFilesystem, SpaceTakenByOthersEmptiesTheCacheAndStops) {
  Mount("size=16m");
  if (!mounted_) return;
  CacheOptions o = RoomyStoreOptions(cache_dir());
  o.limits.min_free_percent = 25;  // 4 MiB of 16
  auto store = testing::OpenCacheStore(o);
  ASSERT_TRUE(store);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(
        store->Put(i % 2 ? "xtts" : "piper", "t" + std::to_string(i), testing::SeededWav(i, 50000))
            .ok());
  }
  ASSERT_EQ(store->Stats().total.entries, 20u);
  // Another program fills the filesystem to 1 MiB short of full.
  {
    std::ofstream hog(root_ + "/hog", std::ios::binary);
    std::vector<char> chunk(1 << 20, 'x');
    while (FreeBytes(root_) > (2u << 20)) hog.write(chunk.data(), chunk.size());
  }
  Result<MaintenanceOutcome> m = store->Maintain();
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->evicted_for_space, 20u);
  EXPECT_EQ(m->expired, 0u);
  CacheStats stats = store->Stats();
  EXPECT_EQ(stats.total.entries, 0u);
  EXPECT_EQ(stats.evicted_for_space, 20u);
  EXPECT_EQ(stats.min_free_bytes, uint64_t{4} << 20);
  EXPECT_LT(stats.disk_free_bytes, stats.min_free_bytes) << "the rest is not the cache's";
  EXPECT_EQ(stats.oldest_access_ns, (std::vector<uint64_t>{0, 0}));
  // Empty: a second call has nothing to do and does not fail or spin.
  m = store->Maintain();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->evicted_for_space, 0u);
  // A put still succeeds (there is room for it), and gives way at once.
  EXPECT_TRUE(store->Put("xtts", "late", testing::SeededWav(99, 1000)).ok());
  EXPECT_FALSE(Has(*store, "xtts", "late"));
  EXPECT_EQ(store->Stats().evicted_for_space, 21u);
  // Once the other program's file is gone, the cache keeps what it is given.
  fs::remove(root_ + "/hog");
  EXPECT_TRUE(store->Put("xtts", "later", testing::SeededWav(98, 1000)).ok());
  EXPECT_TRUE(Has(*store, "xtts", "later"));
}

// A WAV file in `dir` to adopt entries from, open for reading.
UniqueFd SourceWav(const std::string& dir) {
  const std::string path = dir + "/source.wav";
  std::vector<uint8_t> wav = testing::SeededWav(5, 1000);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(wav.data()), static_cast<std::streamsize>(wav.size()));
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  return fd;
}

// Adopts a WAV as the entry for `text`, last used at `last_used_ns`.
void PutAt(CacheStore& store, const std::string& dir, const std::string& engine,
           const std::string& text, uint64_t last_used_ns) {
  UniqueFd fd = SourceWav(dir);
  Result<PutFileResult> put =
      store.PutFile(engine, ComputeCacheKey(text).value(), fd.get(), last_used_ns, 1u << 30);
  ASSERT_TRUE(put.ok()) << put.error().message;
  ASSERT_EQ(put->outcome, PutFileOutcome::kStored);
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

TEST(CacheMaintenance, MaxAgeExpiresEntriesUnusedThatLongAndAGetRefreshes) {
  testing::TempDir tmp;
  CacheOptions o = RoomyStoreOptions(tmp.path() + "/cache");
  o.limits.max_age_s = 60;
  auto store = testing::OpenCacheStore(o);
  ASSERT_TRUE(store);
  const uint64_t hour_ago = NowNs() - 3600ull * 1000000000;
  for (int i = 0; i < 5; ++i) {
    PutAt(*store, tmp.path(), i % 2 ? "xtts" : "piper", "old " + std::to_string(i),
          hour_ago + static_cast<uint64_t>(i));
  }
  PutAt(*store, tmp.path(), "xtts", "used again", hour_ago - 1);
  PutAt(*store, tmp.path(), "xtts", "recent", NowNs() - 10ull * 1000000000);
  ASSERT_TRUE(store->Put("piper", "new", testing::SeededWav(7, 1000)).ok());
  CacheStats before = store->Stats();
  EXPECT_EQ(before.max_age_s, 60u);
  ASSERT_EQ(before.oldest_access_ns.size(), 2u);
  EXPECT_EQ(before.oldest_access_ns[0], hour_ago - 1) << "xtts's oldest is \"used again\"";
  EXPECT_EQ(before.oldest_access_ns[1], hour_ago) << "piper's oldest is \"old 0\"";

  ASSERT_TRUE(Has(*store, "xtts", "used again"));  // a use: no longer old
  Result<MaintenanceOutcome> m = store->Maintain();
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->expired, 5u);
  EXPECT_EQ(m->evicted_for_space, 0u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(Has(*store, i % 2 ? "xtts" : "piper", "old " + std::to_string(i))) << i;
    EXPECT_FALSE(fs::exists(tmp.path() + "/cache/" + (i % 2 ? "xtts" : "piper") + "/" +
                            ComputeCacheKey("old " + std::to_string(i))->hex() + ".wav"))
        << "the file goes with the entry";
  }
  EXPECT_TRUE(Has(*store, "xtts", "used again"));
  EXPECT_TRUE(Has(*store, "xtts", "recent"));
  EXPECT_TRUE(Has(*store, "piper", "new"));
  CacheStats after = store->Stats();
  EXPECT_EQ(after.expired, 5u);
  EXPECT_EQ(after.total.entries, 3u);
  EXPECT_EQ(after.total.evictions, 0u) << "expiry is not a limit's eviction";
  EXPECT_GT(after.oldest_access_ns[0], NowNs() - 60ull * 1000000000);
  EXPECT_GT(after.oldest_access_ns[1], NowNs() - 60ull * 1000000000);
  // Nothing more is old enough.
  EXPECT_EQ(store->Maintain()->expired, 0u);
}

TEST(CacheMaintenance, SetLimitsAppliesMaxAgeAndMinFree) {
  testing::TempDir tmp;
  CacheOptions o = RoomyStoreOptions(tmp.path() + "/cache");
  auto store = testing::OpenCacheStore(o);
  ASSERT_TRUE(store);
  PutAt(*store, tmp.path(), "xtts", "ancient", NowNs() - 86400ull * 1000000000);
  ASSERT_TRUE(store->Put("xtts", "fresh", testing::SeededWav(3, 1000)).ok());
  EXPECT_EQ(store->Maintain()->expired, 0u) << "max_age 0: never";
  CacheStats s = store->Stats();
  EXPECT_EQ(s.max_age_s, 0u);
  EXPECT_EQ(s.min_free_bytes, 0u);
  EXPECT_GT(s.disk_total_bytes, 0u);

  CacheLimits limits = o.limits;
  limits.max_age_s = 3600;
  limits.min_free_percent = 0.5;
  ASSERT_TRUE(store->SetLimits(limits).ok());
  s = store->Stats();
  EXPECT_EQ(s.max_age_s, 3600u);
  EXPECT_EQ(s.min_free_bytes,
            static_cast<uint64_t>(std::ceil(static_cast<double>(s.disk_total_bytes) * 0.005)));
  EXPECT_EQ(store->Maintain()->expired, 1u);
  EXPECT_FALSE(Has(*store, "xtts", "ancient"));
  EXPECT_TRUE(Has(*store, "xtts", "fresh"));
  EXPECT_EQ(store->Stats().expired, 1u);
}

TEST(CacheMaintenance, ExpiryIsBoundedPerCall) {
  testing::TempDir tmp;
  CacheOptions o = RoomyStoreOptions(tmp.path() + "/cache");
  o.limits.max_entries = 5000;
  o.limits.max_age_s = 60;
  auto store = testing::OpenCacheStore(o);
  ASSERT_TRUE(store);
  const uint64_t day_ago = NowNs() - 86400ull * 1000000000;
  UniqueFd source = SourceWav(tmp.path());
  for (int i = 0; i < 4100; ++i) {
    Result<PutFileResult> put =
        store->PutFile("xtts", ComputeCacheKey("e" + std::to_string(i)).value(), source.get(),
                       day_ago + static_cast<uint64_t>(i), 1u << 30);
    ASSERT_TRUE(put.ok()) << put.error().message;
  }
  EXPECT_EQ(store->Maintain()->expired, 4096u);
  EXPECT_EQ(store->Maintain()->expired, 4u);
  EXPECT_EQ(store->Stats().total.entries, 0u);
}

}  // namespace
}  // namespace ttscache

namespace ttscache {
namespace {

TEST(CacheMaintenance, StatsCountDeletesAndPurges) {
  testing::TempDir tmp;
  auto store = testing::OpenCacheStore(RoomyStoreOptions(tmp.path() + "/cache"));
  ASSERT_TRUE(store);
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(store->Put("piper", "p" + std::to_string(i), testing::SeededWav(i, 500)).ok());
  ASSERT_TRUE(store->Put("xtts", "x", testing::SeededWav(9, 500)).ok());
  ASSERT_TRUE(store->Delete("piper", "p0").ok());
  Result<PurgeOutcome> purged = store->Purge("piper");
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  const CacheStats s = store->Stats();
  EXPECT_EQ(s.deleted, 1u);
  EXPECT_EQ(s.purged, 3u);
  EXPECT_EQ(s.expired, 0u);
  EXPECT_EQ(s.evicted_for_space, 0u);
  EXPECT_EQ(s.total.entries, 1u);
  EXPECT_EQ(s.oldest_access_ns[1], 0u) << "piper is empty";
  EXPECT_GT(s.oldest_access_ns[0], 0u);
}

}  // namespace
}  // namespace ttscache
