// Regression tests from an adversarial review of `ttscached --verify`
// (VerifyCacheDirectory, issue #17), each the reproduction of one bug:
//  - a FIFO in place of the index or the dir lock blocked the open: the
//    verify hung instead of reporting it;
//  - a read-only verify as root of a dir with no lock file yet created it
//    owned by root, 0640: the daemon's user could not open it, and the
//    daemon no longer started;
//  - a huge sparse index file was read whole into memory;
//  - Verify (online and offline) held every voice folder open at once:
//    with more voice folders on disk than descriptors (each voice ever put
//    leaves one), it failed with EMFILE.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/cachekey/cache_key.hpp"
#include "daemon/cache/cache_directory.hpp"
#include "daemon/cache/cache_store.hpp"
#include "tests/support/sanitizer_build.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/cache_test_support.hpp"

namespace ttscache {
namespace {

namespace fs = std::filesystem;
using testing::OpenCacheStore;
using testing::StoreOptions;

// Runs `body` in a child killed after 20 s; its exit status (0: passed;
// 150: it threw, e.g. bad_alloc), or 200 + the signal that ended it.
int InChild(const std::function<int()>& body) {
  pid_t child = fork();
  if (child == 0) {
    alarm(20);
    int code = 150;
    try {
      code = body();
    } catch (...) {
    }
    _exit(code);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

// A cache a store wrote and closed, so everything but the planted file is clean.
CacheOptions ClosedCache(const std::string& dir) {
  CacheOptions o = StoreOptions(dir);
  auto store = OpenCacheStore(o);
  EXPECT_TRUE(store);
  if (store) {
    EXPECT_TRUE(store->Close().ok());
  }
  return o;
}

TEST(OfflineVerifyReview, AFifoAsTheIndexIsReportedNotWaitedOn) {
  testing::TempDir tmp;
  const CacheOptions o = ClosedCache(tmp.path() + "/cache");
  const std::string index = o.dir + "/" + kIndexFileName;
  ASSERT_TRUE(fs::remove(index));
  ASSERT_EQ(mkfifo(index.c_str(), 0640), 0);
  const int status = InChild([&] {
    Result<VerifyReport> r = VerifyCacheDirectory(o, false);
    if (!r) return 1;
    return r->verdict == VerifyVerdict::kDamaged ? 0 : 2;
  });
  EXPECT_EQ(status, 0) << "200 + 14 (SIGALRM): the verify hung opening the FIFO";
}

TEST(OfflineVerifyReview, AFifoAsTheLockDoesNotHang) {
  testing::TempDir tmp;
  const CacheOptions o = ClosedCache(tmp.path() + "/cache");
  const std::string lock = o.dir + "/" + kLockFileName;
  ASSERT_TRUE(fs::remove(lock));
  ASSERT_EQ(mkfifo(lock.c_str(), 0640), 0);
  // An answer either way (a report, or an error naming the lock): not a hang.
  const int status = InChild([&] {
    (void)VerifyCacheDirectory(o, false);
    return 0;
  });
  EXPECT_EQ(status, 0) << "200 + 14 (SIGALRM): the verify hung opening the FIFO";
}

// A huge sparse file as the index: judged by its header and size, never
// read whole into memory (64 GiB of it, under a 4 GiB address space).
TEST(OfflineVerifyReview, AHugeSparseIndexIsNotReadIntoMemory) {
  if (testing::kSanitizerBuild) {
    GTEST_SKIP() << "the sanitizer's shadow memory needs more address space than the limit allows";
  }
  testing::TempDir tmp;
  const CacheOptions o = ClosedCache(tmp.path() + "/cache");
  const std::string index = o.dir + "/" + kIndexFileName;
  {
    UniqueFd fd(open(index.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    if (ftruncate(fd.get(), off_t{64} << 30) != 0) GTEST_SKIP() << "no 64 GiB sparse file here";
  }
  const int status = InChild([&] {
    rlimit as{rlim_t{4} << 30, rlim_t{4} << 30};
    if (setrlimit(RLIMIT_AS, &as) != 0) return 100;
    Result<VerifyReport> r = VerifyCacheDirectory(o, false);
    if (!r) return 1;
    return r->verdict == VerifyVerdict::kDamaged ? 0 : 2;
  });
  EXPECT_EQ(status, 0) << "150 (bad_alloc) or 200 + 9 (OOM): the index was read whole into memory";
}

TEST(OfflineVerifyReview, RootLeavesTheDaemonUsersDirUsable) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (to verify as root a dir of another user)";
  testing::TempDir tmp;
  fs::permissions(tmp.path(), fs::perms(0755));
  const std::string dir = tmp.path() + "/cache";
  CacheOptions o = StoreOptions(dir);
  // A dir the daemon's user (nobody here) owns, never opened by a daemon:
  // no lock file yet (as the Node module or tmpfiles.d leaves it).
  ASSERT_TRUE(fs::create_directories(dir + "/piper"));
  ASSERT_TRUE(fs::create_directories(dir + "/xtts"));
  for (const std::string& p : {dir, dir + "/piper", dir + "/xtts"}) {
    ASSERT_EQ(chown(p.c_str(), 65534, 65534), 0);
    ASSERT_EQ(chmod(p.c_str(), 0750), 0);
  }
  Result<VerifyReport> r = VerifyCacheDirectory(o, false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  // The daemon, as its user, can still open the cache.
  const int status = InChild([&] {
    if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
      return 100;
    }
    Result<std::unique_ptr<CacheStore>> store = CacheStore::Open(o);
    if (!store) {
      fprintf(stderr, "%s\n", store.error().message.c_str());
      return 1;
    }
    return (*store)->Close().ok() ? 0 : 2;
  });
  EXPECT_EQ(status, 0) << "the daemon's user could not open the cache after a verify as root";
}

// 600 voice folders (empty, as a voice emptied by the LRU or a purge leaves
// its folder), and a process allowed 256 descriptors.
TEST(VerifyReview, MoreVoiceFoldersThanDescriptors) {
  testing::TempDir tmp;
  const CacheOptions o = ClosedCache(tmp.path() + "/cache");
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(fs::create_directory(o.dir + "/piper/v" + std::to_string(i)));
  }
  const int offline = InChild([&] {
    rlimit nofile{256, 256};
    if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) return 100;
    Result<VerifyReport> r = VerifyCacheDirectory(o, false);
    if (!r) {
      fprintf(stderr, "offline: %s\n", r.error().message.c_str());
      return 1;
    }
    return 0;
  });
  EXPECT_EQ(offline, 0) << "ttscached --verify failed (EMFILE)";
  const int online = InChild([&] {
    rlimit nofile{256, 256};
    if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) return 100;
    Result<std::unique_ptr<CacheStore>> store = CacheStore::Open(o);
    if (!store) return 2;
    Result<VerifyReport> r = (*store)->Verify(false);
    if (!r) {
      fprintf(stderr, "online: %s\n", r.error().message.c_str());
      return 1;
    }
    return 0;
  });
  EXPECT_EQ(online, 0) << "VERIFY failed (EMFILE)";
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
}

// `ttscached --verify --repair` over hostile contents: symlinks named as
// entries and as a temporary pointing outside, a symlinked voice folder, a
// FIFO named as an entry, a huge sparse entry. It answers (no hang), and
// nothing outside the cache dir is changed or removed.
TEST(OfflineVerifyReview, RepairOfHostileContentsStaysInside) {
  testing::TempDir tmp;
  const CacheOptions o = ClosedCache(tmp.path() + "/cache");
  const std::string outside = tmp.path() + "/outside";
  ASSERT_TRUE(fs::create_directories(outside));
  const std::vector<uint8_t> wav = testing::SeededWav(1);
  const std::string k1 = ComputeCacheKey("one").value().hex();
  const std::string k2 = ComputeCacheKey("two").value().hex();
  const std::string k3 = ComputeCacheKey("three").value().hex();
  const std::string k4 = ComputeCacheKey("four").value().hex();
  WriteFile(outside + "/" + k1 + ".wav", wav);
  WriteFile(outside + "/.tmp-outside", wav);
  const std::string piper = o.dir + "/piper";
  fs::create_symlink(outside + "/" + k1 + ".wav", piper + "/" + k1 + ".wav");
  fs::create_symlink(outside + "/.tmp-outside", piper + "/.tmp-link");
  fs::create_directory_symlink(outside, piper + "/evil");
  ASSERT_EQ(mkfifo((piper + "/" + k2 + ".wav").c_str(), 0640), 0);
  {
    WriteFile(piper + "/" + k3 + ".wav", wav);
    UniqueFd fd(open((piper + "/" + k3 + ".wav").c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_EQ(ftruncate(fd.get(), off_t{64} << 30), 0);
  }
  WriteFile(piper + "/" + k4 + ".wav", wav);  // a sound WAV the index lacks
  const int status = InChild([&] {
    Result<VerifyReport> r = VerifyCacheDirectory(o, true);
    if (!r) {
      fprintf(stderr, "%s\n", r.error().message.c_str());
      return 1;
    }
    return 0;
  });
  EXPECT_EQ(status, 0);
  EXPECT_EQ(testing::ReadPath(outside + "/" + k1 + ".wav"), wav);
  EXPECT_EQ(testing::ReadPath(outside + "/.tmp-outside"), wav);
  EXPECT_TRUE(fs::is_symlink(piper + "/evil"));
  // The sound WAV was adopted: the cache serves it.
  auto store = OpenCacheStore(o);
  ASSERT_TRUE(store);
  EXPECT_EQ(testing::Served(*store, "piper", "four"), wav);
  EXPECT_TRUE(testing::Served(*store, "piper", "one").empty()) << "a symlink is not adopted";
}

}  // namespace
}  // namespace ttscache
