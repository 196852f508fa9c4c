// FleetTier end to end: real CacheStores in temp dirs and real memcached
// servers on loopback (tests/support/memcached_process.hpp) — an offer
// written and read back, a lookup on a second store finding the WAV and its
// variant, a corrupt value refused and deleted, values too large skipped (by
// max_item_bytes and by the server's -I), every server killed (misses within
// the timeout, the breaker down and back up), a server that accepts and
// never answers, a full write queue, SASL with right and wrong credentials.
#include "daemon/tier/fleet_tier.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include "core/crc32c.hpp"
#include "core/unique_fd.hpp"
#include "daemon/tier/memcached_pool.hpp"
#include "daemon/tier/tier_key.hpp"
#include "daemon/tier/tier_value.hpp"
#include "tests/support/memcached_process.hpp"
#include "tests/support/silent_server.hpp"
#include "tests/unit/cache_test_support.hpp"

namespace ttscache {
namespace {

using namespace std::chrono_literals;
using testing::MemcachedOptions;
using testing::MemcachedProcess;
using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 200;
const std::string kText = "Hello fleet";

TierServer ServerOf(const MemcachedProcess& m) {
  TierServer s;
  s.host = "127.0.0.1";
  s.port = m.port();
  return s;
}

TierSettings Settings(std::vector<TierServer> servers) {
  TierSettings t;
  t.servers = std::move(servers);
  t.timeout_ms = kTimeoutMs;
  t.queue_size = 64;
  t.share_wav = t.share_opus = true;
  t.max_item_bytes = 1 << 20;
  t.key_prefix = "test";
  t.expire_s = 0;
  t.lookup_threads = 2;
  return t;
}

MemcachedPoolOptions PoolOptions(const TierSettings& t) {
  MemcachedPoolOptions o;
  o.servers = t.servers;
  o.timeout_ms = 1000;
  o.max_value_bytes = 64 << 20;
  return o;
}

template <class Predicate>
bool WaitFor(Predicate done, std::chrono::milliseconds limit = 5s) {
  const auto end = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

CacheKey KeyOf(const std::string& text) { return ComputeCacheKey(text).value(); }

OpusParams Params() {
  OpusParams p;
  p.bitrate_kbps = 24;
  return p;
}

// A lookup run to its end: the result, or nullopt when it was not queued.
// Fails the test if `done` never comes.
std::optional<TierLookupResult> LookUp(FleetTier& tier, TierLookup lookup) {
  auto promise = std::make_shared<std::promise<TierLookupResult>>();
  std::future<TierLookupResult> future = promise->get_future();
  if (!tier.Lookup(std::move(lookup), [promise](TierLookupResult r) { promise->set_value(r); })) {
    return std::nullopt;
  }
  EXPECT_EQ(future.wait_for(10s), std::future_status::ready);
  return future.get();
}

TierLookup WavLookup(const std::string& engine = "piper", const std::string& text = kText) {
  TierLookup l;
  l.engine = engine;
  l.text = text;
  l.key = KeyOf(text);
  return l;
}

class FleetTierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start());
    a_ = testing::OpenCacheStore(testing::StoreOptions(dir_a_.path()));
    b_ = testing::OpenCacheStore(testing::StoreOptions(dir_b_.path()));
    ASSERT_TRUE(a_ && b_);
  }
  std::unique_ptr<FleetTier> Start(const TierSettings& t, CacheStore* store) {
    Result<std::unique_ptr<FleetTier>> tier = FleetTier::Start(t, store);
    EXPECT_TRUE(tier.ok()) << (tier ? "" : tier.error().message);
    return tier ? std::move(*tier) : nullptr;
  }
  // The value stored under `key` in the pool, as raw bytes.
  std::optional<std::vector<uint8_t>> Fetch(const TierSettings& t, const std::string& key) {
    auto pool = MemcachedPool::Create(PoolOptions(t)).value();
    std::vector<std::string> keys = {key};
    auto values = pool->MultiGet(keys);
    EXPECT_TRUE(values.ok()) << (values ? "" : values.error().message);
    return values ? (*values)[0] : std::nullopt;
  }

  MemcachedProcess server_;
  testing::TempDir dir_a_, dir_b_;
  std::unique_ptr<CacheStore> a_, b_;
};

TEST_F(FleetTierTest, AnOfferedWavIsWrittenAndFoundByAnotherStore) {
  const TierSettings t = Settings({ServerOf(server_)});
  const std::vector<uint8_t> wav = testing::SeededWav(1);
  ASSERT_TRUE(a_->Put("piper", kText, wav).ok());
  const CacheCounters before = a_->Stats().total;
  auto tier_a = Start(t, a_.get());
  tier_a->OfferWav("piper", KeyOf(kText));
  ASSERT_TRUE(WaitFor([&] { return tier_a->Stats().writes == 1; }));
  // Peek counted nothing in the store that was read.
  EXPECT_EQ(a_->Stats().total, before);

  const std::string key = TierKey("test", "piper", KeyOf(kText)).value();
  std::optional<std::vector<uint8_t>> value = Fetch(t, key);
  ASSERT_TRUE(value.has_value());
  Result<std::span<const uint8_t>> payload = DecodeTierValue(*value, TierValueKind::kWav, key);
  ASSERT_TRUE(payload.ok()) << payload.error().message;
  EXPECT_EQ(std::vector<uint8_t>(payload->begin(), payload->end()), wav);

  auto tier_b = Start(t, b_.get());
  std::optional<TierLookupResult> r = LookUp(*tier_b, WavLookup());
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->wav_stored);
  EXPECT_FALSE(r->variant_stored);
  EXPECT_NE(r->generation, 0u);
  EXPECT_EQ(testing::Served(*b_, "piper", kText), wav);
  ipc::TierStatsWire s = tier_b->Stats();
  EXPECT_EQ(s.lookups, 1u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 0u);
  EXPECT_EQ(s.corrupt, 0u);
  EXPECT_GT(s.lookup_us, 0u);

  // Another text: nothing in the pool, a miss.
  r = LookUp(*tier_b, WavLookup("piper", "never said"));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->wav_stored);
  EXPECT_EQ(tier_b->Stats().misses, 1u);
}

TEST_F(FleetTierTest, AVariantComesWithItsWavOrAloneToAnEntryHere) {
  const TierSettings t = Settings({ServerOf(server_)});
  const std::vector<uint8_t> wav = testing::SeededWav(2);
  const std::vector<uint8_t> ogg = {'O', 'g', 'g', 'S', 1, 2, 3, 4, 5};
  uint64_t generation = a_->Put("piper", kText, wav).value().generation;
  ASSERT_TRUE(a_->PutVariant("piper", kText, generation, Params(), ogg).ok());
  auto tier_a = Start(t, a_.get());
  tier_a->OfferWav("piper", KeyOf(kText));
  tier_a->OfferVariant("piper", KeyOf(kText), Params(), Crc32c(wav));
  ASSERT_TRUE(WaitFor([&] { return tier_a->Stats().writes == 2; }));

  auto tier_b = Start(t, b_.get());
  TierLookup both = WavLookup();
  both.variant = Params();
  std::optional<TierLookupResult> r = LookUp(*tier_b, both);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->wav_stored);
  EXPECT_TRUE(r->variant_stored);
  Result<VariantLookup> got = b_->GetVariant("piper", kText, Params());
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->variant.has_value());
  EXPECT_EQ(testing::ReadAll(*got->variant), ogg);
  EXPECT_EQ(tier_b->Stats().hits, 1u);
  EXPECT_EQ(tier_b->Stats().variant_hits, 1u);

  // A third store with the WAV already: only the variant is asked.
  testing::TempDir dir_c;
  auto c = testing::OpenCacheStore(testing::StoreOptions(dir_c.path()));
  const uint64_t c_generation = c->Put("piper", kText, wav).value().generation;
  auto tier_c = Start(t, c.get());
  TierLookup variant_only = both;
  variant_only.want_wav = false;
  variant_only.generation = c_generation;
  r = LookUp(*tier_c, variant_only);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->wav_stored);
  EXPECT_TRUE(r->variant_stored);
  got = c->GetVariant("piper", kText, Params());
  ASSERT_TRUE(got.ok() && got->variant.has_value());
  EXPECT_EQ(testing::ReadAll(*got->variant), ogg);

  // A variant found without its WAV, and no entry here: a miss.
  testing::TempDir dir_d;
  auto d = testing::OpenCacheStore(testing::StoreOptions(dir_d.path()));
  auto pool = MemcachedPool::Create(PoolOptions(t)).value();
  ASSERT_TRUE(pool->Delete(TierKey("test", "piper", KeyOf(kText)).value()).ok());
  auto tier_d = Start(t, d.get());
  r = LookUp(*tier_d, both);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->wav_stored || r->variant_stored);
  EXPECT_EQ(tier_d->Stats().misses, 1u);
}

// A variant is of one WAV. Host A put and encoded the text; host B put a
// new synthesis of it since (its WAV replaced A's in the pool, A's variant
// stayed): a store fetching B's WAV, or holding it already, must not take
// A's variant beside it.
TEST_F(FleetTierTest, AVariantOfAnotherWavIsNotUsed) {
  const TierSettings t = Settings({ServerOf(server_)});
  const std::vector<uint8_t> old_wav = testing::SeededWav(7), new_wav = testing::SeededWav(8);
  const std::vector<uint8_t> old_ogg = {'O', 'g', 'g', 'S', 7, 7, 7};
  const uint64_t generation = a_->Put("piper", kText, old_wav).value().generation;
  ASSERT_TRUE(a_->PutVariant("piper", kText, generation, Params(), old_ogg).ok());
  auto tier_a = Start(t, a_.get());
  tier_a->OfferWav("piper", KeyOf(kText));
  tier_a->OfferVariant("piper", KeyOf(kText), Params(), Crc32c(old_wav));
  ASSERT_TRUE(WaitFor([&] { return tier_a->Stats().writes == 2; }));
  ASSERT_TRUE(b_->Put("piper", kText, new_wav).ok());
  auto tier_b = Start(t, b_.get());
  tier_b->OfferWav("piper", KeyOf(kText));
  ASSERT_TRUE(WaitFor([&] { return tier_b->Stats().writes == 1; }));

  testing::TempDir dir_c;
  auto c = testing::OpenCacheStore(testing::StoreOptions(dir_c.path()));
  auto tier_c = Start(t, c.get());
  TierLookup both = WavLookup();
  both.variant = Params();
  std::optional<TierLookupResult> r = LookUp(*tier_c, both);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->wav_stored);
  EXPECT_FALSE(r->variant_stored);
  Result<VariantLookup> got = c->GetVariant("piper", kText, Params());
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->variant.has_value());
  ASSERT_TRUE(got->wav.has_value());
  EXPECT_EQ(testing::ReadAll(*got->wav), new_wav);

  // Holding B's WAV already, a variant-only lookup does not take it either;
  // holding A's, it does.
  TierLookup variant_only = both;
  variant_only.want_wav = false;
  variant_only.generation = got->generation;
  r = LookUp(*tier_c, variant_only);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->variant_stored);
  testing::TempDir dir_d;
  auto d = testing::OpenCacheStore(testing::StoreOptions(dir_d.path()));
  variant_only.generation = d->Put("piper", kText, old_wav).value().generation;
  auto tier_d = Start(t, d.get());
  r = LookUp(*tier_d, variant_only);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->variant_stored);
}

TEST_F(FleetTierTest, ACorruptValueIsAMissCountedAndDeleted) {
  const TierSettings t = Settings({ServerOf(server_)});
  const std::string key = TierKey("test", "piper", KeyOf(kText)).value();
  auto pool = MemcachedPool::Create(PoolOptions(t)).value();
  std::vector<uint8_t> value = EncodeTierValue(TierValueKind::kWav, key, testing::SeededWav(3));
  value[value.size() / 2] ^= 0x10;
  ASSERT_TRUE(pool->Set(key, value, 0).ok());
  auto tier_b = Start(t, b_.get());
  std::optional<TierLookupResult> r = LookUp(*tier_b, WavLookup());
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->wav_stored);
  EXPECT_EQ(tier_b->Stats().corrupt, 1u);
  EXPECT_EQ(tier_b->Stats().misses, 1u);
  EXPECT_TRUE(testing::Served(*b_, "piper", kText).empty());
  EXPECT_FALSE(Fetch(t, key).has_value());  // deleted from the pool

  // A good value of another key stored under this one: refused too.
  const std::string other = TierKey("test", "piper", KeyOf("other")).value();
  ASSERT_TRUE(
      pool->Set(key, EncodeTierValue(TierValueKind::kWav, other, testing::SeededWav(4)), 0).ok());
  r = LookUp(*tier_b, WavLookup());
  EXPECT_FALSE(r->wav_stored);
  EXPECT_EQ(tier_b->Stats().corrupt, 2u);
  // Audio the store refuses (not a WAV) under a valid header: not stored.
  ASSERT_TRUE(
      pool->Set(key, EncodeTierValue(TierValueKind::kWav, key, std::vector<uint8_t>{1, 2, 3}), 0)
          .ok());
  r = LookUp(*tier_b, WavLookup());
  EXPECT_FALSE(r->wav_stored);
  EXPECT_EQ(tier_b->Stats().misses, 3u);
}

TEST_F(FleetTierTest, ValuesTooLargeAreSkipped) {
  TierSettings t = Settings({ServerOf(server_)});
  t.max_item_bytes = 2000;
  ASSERT_TRUE(a_->Put("piper", kText, testing::SeededWav(5, 2000)).ok());  // ~4 KB
  auto tier_a = Start(t, a_.get());
  tier_a->OfferWav("piper", KeyOf(kText));
  ASSERT_TRUE(WaitFor([&] { return tier_a->Stats().oversized == 1; }));
  EXPECT_EQ(tier_a->Stats().writes, 0u);
  EXPECT_EQ(tier_a->Stats().write_errors, 0u);
  tier_a.reset();

  // The server's -I below max_item_bytes: it refuses, counted as oversized
  // (not as a failure of the pool).
  MemcachedOptions small_items;
  small_items.max_item_size = "512k";  // the smallest with its default slab_chunk_max
  MemcachedProcess small(small_items);
  ASSERT_TRUE(small.Start());
  t = Settings({ServerOf(small)});
  const std::string big = "a longer text";
  ASSERT_TRUE(a_->Put("piper", big, testing::SeededWav(6, 300000)).ok());  // ~600 KB
  tier_a = Start(t, a_.get());
  for (int i = 0; i < 6; ++i) tier_a->OfferWav("piper", KeyOf(big));
  ASSERT_TRUE(WaitFor([&] { return tier_a->Stats().oversized == 6; }))
      << tier_a->Stats().oversized << " " << tier_a->Stats().write_errors;
  EXPECT_EQ(tier_a->Stats().write_errors, 0u);
  EXPECT_EQ(tier_a->Stats().state, ipc::TierState::kUp);
}

TEST_F(FleetTierTest, EveryServerKilledMeansMissesWithinTheTimeoutThenTheBreakerOpens) {
  MemcachedProcess second;
  ASSERT_TRUE(second.Start());
  const TierSettings t = Settings({ServerOf(server_), ServerOf(second)});
  auto tier = Start(t, b_.get());
  ASSERT_TRUE(LookUp(*tier, WavLookup()).has_value());  // connected, a miss
  server_.Kill();
  second.Kill();
  int answered = 0, skipped = 0;
  auto slowest = Clock::duration::zero();
  for (int i = 0; i < 40; ++i) {
    const auto start = Clock::now();
    std::optional<TierLookupResult> r = LookUp(*tier, WavLookup("piper", "t" + std::to_string(i)));
    slowest = std::max(slowest, Clock::now() - start);
    if (r) {
      ++answered;
      EXPECT_FALSE(r->wav_stored);
    } else {
      ++skipped;
    }
  }
  // Each lookup's I/O is bounded by the timeout (a connect and a poll).
  EXPECT_LT(slowest, std::chrono::milliseconds(kTimeoutMs * 5));
  ipc::TierStatsWire s = tier->Stats();
  EXPECT_EQ(s.state, ipc::TierState::kDown);
  EXPECT_EQ(s.breaker_opens, 1u);
  EXPECT_GE(s.errors, 5u);
  EXPECT_GT(skipped, 20);
  EXPECT_GE(s.skipped, static_cast<uint64_t>(skipped));
  // Offers while down are skipped too, never queued.
  ASSERT_TRUE(b_->Put("piper", kText, testing::SeededWav(7)).ok());
  tier->OfferWav("piper", KeyOf(kText));
  EXPECT_EQ(tier->Stats().queue_depth, 0u);

  // The servers come back: after the back-off a probe brings the tier up.
  ASSERT_TRUE(server_.Restart());
  ASSERT_TRUE(second.Restart());
  EXPECT_TRUE(WaitFor(
      [&] {
        (void)LookUp(*tier, WavLookup());
        return tier->Stats().state == ipc::TierState::kUp;
      },
      15s));
}

TEST_F(FleetTierTest, OneServerKilledIsEjectedAndItsKeysRefillOnTheOthers) {
  MemcachedProcess second;
  ASSERT_TRUE(second.Start());
  const TierSettings t = Settings({ServerOf(server_), ServerOf(second)});
  constexpr int kEntries = 20;
  auto text = [](int i) { return "phrase " + std::to_string(i); };
  for (int i = 0; i < kEntries; ++i)
    ASSERT_TRUE(a_->Put("piper", text(i), testing::SeededWav(i)).ok());
  auto tier_a = Start(t, a_.get());
  for (int i = 0; i < kEntries; ++i) tier_a->OfferWav("piper", KeyOf(text(i)));
  ASSERT_TRUE(WaitFor([&] { return tier_a->Stats().writes == kEntries; }));
  second.Kill();
  // Its keys miss (one error, then it is out of the ring); the tier stays up.
  auto tier_b = Start(t, b_.get());
  int hits = 0;
  for (int i = 0; i < kEntries; ++i) {
    std::optional<TierLookupResult> r = LookUp(*tier_b, WavLookup("piper", text(i)));
    ASSERT_TRUE(r.has_value()) << i;
    hits += r->wav_stored;
  }
  EXPECT_GT(hits, 0);
  EXPECT_LT(hits, kEntries);  // ketama gave the killed server some of the 20
  // Each lookup thread's handle meets the dead server once before ejecting it.
  EXPECT_LE(tier_b->Stats().errors, 2u * t.lookup_threads);
  EXPECT_EQ(tier_b->Stats().state, ipc::TierState::kUp);
  // Written again, they all land on the server left, and a third store finds all.
  for (int i = 0; i < kEntries; ++i) tier_a->OfferWav("piper", KeyOf(text(i)));
  ASSERT_TRUE(WaitFor([&] {
    ipc::TierStatsWire s = tier_a->Stats();
    return s.writes + s.write_errors == 2 * kEntries;
  }));
  // The writer's handle meets the dead server too before ejecting it: a write
  // or two lost (and a retry of the server after 2 s on a slow machine).
  const uint64_t lost_writes = tier_a->Stats().write_errors;
  EXPECT_LE(lost_writes, 4u);
  testing::TempDir dir_c;
  auto c = testing::OpenCacheStore(testing::StoreOptions(dir_c.path()));
  auto tier_c = Start(t, c.get());
  int refilled = 0;
  for (int i = 0; i < kEntries; ++i) {
    std::optional<TierLookupResult> r = LookUp(*tier_c, WavLookup("piper", text(i)));
    refilled += r && r->wav_stored;
  }
  // Every entry is found, but for one lost write or one failed lookup each.
  const uint64_t failed_lookups = tier_c->Stats().errors;
  EXPECT_LE(failed_lookups, 2u * t.lookup_threads);
  EXPECT_GE(refilled + lost_writes + failed_lookups, static_cast<uint64_t>(kEntries))
      << refilled << " refilled, " << lost_writes << " writes lost, " << failed_lookups
      << " lookups failed";
  EXPECT_GE(refilled, kEntries / 2);
}

TEST_F(FleetTierTest, AServerThatNeverAnswersCostsOneTimeoutNotAHang) {
  testing::SilentServer listener;  // accepts connections, never reads a byte
  ASSERT_TRUE(listener.listening());
  TierServer silent;
  silent.host = "127.0.0.1";
  silent.port = listener.port();
  auto tier = Start(Settings({silent}), b_.get());
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    std::optional<TierLookupResult> r = LookUp(*tier, WavLookup());
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->wav_stored);
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(kTimeoutMs * 5));
  }
  EXPECT_EQ(tier->Stats().errors, 3u);
  // A lookup under way when the tier is destroyed: the destructor waits for
  // it, about one timeout, no more.
  bool called = false;
  ASSERT_TRUE(tier->Lookup(WavLookup(), [&](TierLookupResult) { called = true; }));
  const auto start = Clock::now();
  tier.reset();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(kTimeoutMs * 5));
  EXPECT_TRUE(called);
}

TEST_F(FleetTierTest, AFullWriteQueueDropsAndOfferNeverBlocks) {
  // A server that never answers keeps the writer busy a timeout per value.
  testing::SilentServer listener;
  ASSERT_TRUE(listener.listening());
  TierServer silent;
  silent.host = "127.0.0.1";
  silent.port = listener.port();
  TierSettings t = Settings({silent});
  t.queue_size = 8;
  ASSERT_TRUE(a_->Put("piper", kText, testing::SeededWav(8)).ok());
  auto tier = Start(t, a_.get());
  const auto start = Clock::now();
  for (int i = 0; i < 1000; ++i) tier->OfferWav("piper", KeyOf(kText));
  EXPECT_LT(Clock::now() - start, 1s);  // generous: 1,000 pushes onto a queue
  ipc::TierStatsWire s = tier->Stats();
  EXPECT_GE(s.dropped, 1000u - 8 - 1);
  EXPECT_LE(s.queue_depth, 8u);
  EXPECT_EQ(s.queue_capacity, 8u);
  const auto stopping = Clock::now();
  tier.reset();  // queued writes dropped; the one under way ends by its timeout
  EXPECT_LT(Clock::now() - stopping, std::chrono::milliseconds(kTimeoutMs * 5));
}

TEST_F(FleetTierTest, NothingSharedMeansNothingQueued) {
  TierSettings t = Settings({ServerOf(server_)});
  t.share_wav = false;
  auto tier = Start(t, b_.get());
  EXPECT_FALSE(LookUp(*tier, WavLookup()).has_value());
  EXPECT_EQ(tier->Stats().skipped, 1u);
  EXPECT_EQ(tier->Stats().lookups, 0u);
  ASSERT_TRUE(a_->Put("piper", kText, testing::SeededWav(9)).ok());
  tier->OfferWav("piper", KeyOf(kText));
  EXPECT_EQ(tier->Stats().queue_depth, 0u);
  EXPECT_EQ(tier->Stats().dropped, 0u);
}

TEST_F(FleetTierTest, SaslWithGoodCredentialsWorksAndWrongOnesMiss) {
  MemcachedOptions sasl;
  sasl.sasl_user = "fleet";
  sasl.sasl_password = "s3cret";
  MemcachedProcess secured(sasl);
  if (!secured.sasl_ready()) GTEST_SKIP() << "saslpasswd2 not installed (sasl2-bin)";
  ASSERT_TRUE(secured.Start());
  TierSettings t = Settings({ServerOf(secured)});
  const std::string good = dir_a_.path() + "/good", bad = dir_a_.path() + "/bad";
  std::ofstream(good) << "fleet:s3cret\n";
  std::ofstream(bad) << "fleet:wrong\n";
  t.sasl_credentials = good;
  ASSERT_TRUE(a_->Put("piper", kText, testing::SeededWav(10)).ok());
  auto tier_a = Start(t, a_.get());
  tier_a->OfferWav("piper", KeyOf(kText));
  ASSERT_TRUE(WaitFor([&] { return tier_a->Stats().writes == 1; })) << tier_a->Stats().write_errors;
  auto tier_b = Start(t, b_.get());
  std::optional<TierLookupResult> r = LookUp(*tier_b, WavLookup());
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->wav_stored);

  testing::TempDir dir_c;
  auto c = testing::OpenCacheStore(testing::StoreOptions(dir_c.path()));
  t.sasl_credentials = bad;
  auto tier_c = Start(t, c.get());
  r = LookUp(*tier_c, WavLookup());
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->wav_stored);
  EXPECT_EQ(tier_c->Stats().errors, 1u);

  t.sasl_credentials = dir_a_.path() + "/missing";
  Result<std::unique_ptr<FleetTier>> refused = FleetTier::Start(t, c.get());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::kConfig);
}

}  // namespace
}  // namespace ttscache
