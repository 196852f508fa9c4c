// OpenFileCache: bounded, forgets by key and by entry, and a forgotten
// descriptor stays open for whoever still holds it.
#include "daemon/cache/open_file_cache.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

namespace ttscache {
namespace {

SharedFd OpenDevNull() { return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(OpenFileCache, KeepsAtMostCapacityOldestFirstOut) {
  OpenFileCache cache(2);
  cache.Remember(OpenFileCache::WavKey(1), OpenDevNull());
  cache.Remember(OpenFileCache::WavKey(2), OpenDevNull());
  cache.Remember(OpenFileCache::WavKey(3), OpenDevNull());
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.Find(OpenFileCache::WavKey(1)));
  EXPECT_TRUE(cache.Find(OpenFileCache::WavKey(3)));
}

TEST(OpenFileCache, ForgetEntryDropsTheWavAndEveryVariantOfThatSlotOnly) {
  OpenFileCache cache(16);
  cache.Remember(OpenFileCache::WavKey(7), OpenDevNull());
  cache.Remember(OpenFileCache::VariantKey(7, 0), OpenDevNull());
  cache.Remember(OpenFileCache::VariantKey(7, 3), OpenDevNull());
  cache.Remember(OpenFileCache::WavKey(8), OpenDevNull());
  cache.ForgetEntry(7, 4);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.Find(OpenFileCache::WavKey(8)));
  EXPECT_NE(OpenFileCache::WavKey(7), OpenFileCache::VariantKey(7, 0));
}

TEST(OpenFileCache, AForgottenDescriptorStaysOpenForItsHolder) {
  OpenFileCache cache(4);
  cache.Remember(OpenFileCache::WavKey(1), OpenDevNull());
  std::optional<OpenFileCache::Open> held = cache.Find(OpenFileCache::WavKey(1));
  ASSERT_TRUE(held);
  const int fd = held->fd.get();
  cache.Clear();
  EXPECT_TRUE(IsOpen(fd)) << "closed under a reply that still carries it";
  held.reset();
  EXPECT_FALSE(IsOpen(fd)) << "the last holder's release must close it";
}

TEST(OpenFileCache, EachRememberedFileGetsANewSequence) {
  OpenFileCache cache(4);
  uint64_t a = cache.Remember(OpenFileCache::WavKey(1), OpenDevNull());
  uint64_t again = cache.Remember(OpenFileCache::WavKey(1), OpenDevNull());  // already known
  cache.Forget(OpenFileCache::WavKey(1));
  uint64_t b = cache.Remember(OpenFileCache::WavKey(1), OpenDevNull());
  EXPECT_NE(a, 0u);
  EXPECT_EQ(again, 0u);
  EXPECT_GT(b, a) << "a reopened file must not reuse the old identity";
  EXPECT_EQ(cache.Find(OpenFileCache::WavKey(1))->sequence, b);
}

TEST(OpenFileCache, ZeroCapacityRemembersNothing) {
  OpenFileCache cache(0);
  cache.Remember(OpenFileCache::WavKey(1), OpenDevNull());
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace ttscache
