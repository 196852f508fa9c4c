// The cache at 500 to 1,000,000 entries (docs/benchmarks.md): get-hit,
// get-miss and put (which evicts, the cache being full), and the time to
// open the cache clean and after a crash. Each size gets its own folder
// under $TTSCACHE_BENCH_DIR (default /var/tmp/ttscache-bench), filled once
// and reused by later runs. Sizes: $TTSCACHE_BENCH_SIZES (default
// "500,10000,100000,1000000"). HitDuringPuts measures what a stream of puts
// costs the hits of other clients (each put evicts, so it links and unlinks
// on disk); bench/run_hit_during_put_bench.sh runs it for two revisions
// side by side.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "daemon/cache/cache_directory.hpp"
#include "daemon/cache/cache_index.hpp"
#include "daemon/cache/cache_store.hpp"
#include "tests/support/wav_builder.hpp"

namespace ttscache::bench {
namespace {

std::string BaseDir() {
  const char* d = std::getenv("TTSCACHE_BENCH_DIR");
  return d ? d : "/var/tmp/ttscache-bench";
}

const std::vector<uint8_t>& SmallWav() {
  static const std::vector<uint8_t> wav =
      testing::MakeWav(testing::WavSpec{}, std::vector<uint8_t>(200, 1));
  return wav;
}

CacheOptions OptionsFor(int64_t entries, bool unnamed_temporaries = true) {
  CacheOptions o;
  o.dir = BaseDir() + "/ours-" + std::to_string(entries);
  o.engines = {"xtts", "piper"};
  o.limits.max_entries = static_cast<uint64_t>(entries);
  o.fsync = false;  // measures the cache's own work; fsync cost is the disk's
  o.unnamed_temporaries = unnamed_temporaries;
  return o;
}

std::string Text(int64_t i) { return "phrase number " + std::to_string(i); }

// The store of the size being measured; one large index is mapped at a time.
std::unique_ptr<CacheStore> g_store;
int64_t g_store_size = -1;
bool g_store_unnamed = true;

void CloseHeld() {
  g_store.reset();
  g_store_size = -1;
}

// The store for `entries`, filled to its limit (once; later runs reuse the folder).
CacheStore& StoreFor(int64_t entries, bool unnamed_temporaries = true) {
  if (g_store_size != entries || g_store_unnamed != unnamed_temporaries) {
    CloseHeld();
    g_store = CacheStore::Open(OptionsFor(entries, unnamed_temporaries)).value();
    g_store_size = entries;
    g_store_unnamed = unnamed_temporaries;
    for (int64_t i = static_cast<int64_t>(g_store->Stats().engines[0].second.entries); i < entries;
         ++i) {
      if (!g_store->Put("xtts", Text(i), SmallWav())) std::abort();
    }
  }
  return *g_store;
}

void BM_GetHit(benchmark::State& state) {
  CacheStore& store = StoreFor(state.range(0));
  // Put runs (this one's or an earlier run's) evict the first texts, so make
  // sure the sampled ones are present (re-put, which counts as recent use).
  const int64_t sampled = std::min<int64_t>(state.range(0) / 2, 1000);
  for (int64_t i = 0; i < sampled; ++i) {
    auto got = store.Get("xtts", Text(i));
    if (!got || !*got) {
      if (!store.Put("xtts", Text(i), SmallWav())) std::abort();
    }
  }
  const CacheStats before = store.Stats();
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto got = store.Get("xtts", Text(static_cast<int64_t>(rng() % sampled)));
    benchmark::DoNotOptimize(got);
  }
  const CacheStats after = store.Stats();
  const double hits = static_cast<double>(after.total.hits - before.total.hits);
  const double misses = static_cast<double>(after.total.misses - before.total.misses);
  state.counters["hit_ratio"] = hits / (hits + misses);
  if (misses > 0) state.SkipWithError("a sampled entry was missing");
}

void BM_GetMiss(benchmark::State& state) {
  CacheStore& store = StoreFor(state.range(0));
  int64_t i = 0;
  for (auto _ : state) {
    auto got = store.Get("xtts", "not there " + std::to_string(i++));
    if (!got || *got) state.SkipWithError("expected a miss");
  }
}

void BM_Put(benchmark::State& state) {
  CacheStore& store = StoreFor(state.range(0));
  static int64_t next = 1LL << 40;  // never a text already present
  for (auto _ : state) {
    if (!store.Put("xtts", Text(next++), SmallWav())) state.SkipWithError("put failed");
  }
}

// Put again, after warm-up puts that have touched every part of the folder
// (its directory blocks and the inodes of the entries being evicted) at least
// once since the store was opened: the steady state of a daemon that keeps
// putting. The cold `Put` above starts right after the open, while this VM
// has paged the folder's metadata out (docs/benchmarks.md); each cold block
// then costs one disk read, once.
// The second argument picks how new files are published: 1 through unnamed
// O_TMPFILE inodes (one directory insert), 0 through named temporaries
// (create + rename), so the two are measured side by side.
void BM_PutWarm(benchmark::State& state) {
  CacheStore& store = StoreFor(state.range(0), state.range(1) != 0);
  static std::map<int64_t, bool> warmed;
  static int64_t next = 3LL << 40;  // never a text already present
  if (!warmed[state.range(0)]) {
    const int64_t warmup = std::min<int64_t>(state.range(0), 65536);
    for (int64_t i = 0; i < warmup; ++i) {
      if (!store.Put("xtts", Text(next++), SmallWav())) state.SkipWithError("put failed");
    }
    warmed[state.range(0)] = true;
  }
  for (auto _ : state) {
    if (!store.Put("xtts", Text(next++), SmallWav())) state.SkipWithError("put failed");
  }
}

// Hits on a hot set of 64 entries (descriptors kept open: the hit path the
// daemon's loop runs) while, with the second argument 1, another thread puts
// new entries into the full cache as fast as it can; 0 is the baseline
// without puts. Hits come at a client's pace, not back to back: a pause of
// 20 µs (the round trip of a hit through the daemon) between them, so a put
// meets a few hits, as in the daemon, rather than hundreds of which it could
// delay one. Each hit is timed alone: p50/p99/p99.9 in µs, and the puts' rate.
void BM_HitDuringPuts(benchmark::State& state) {
  CacheStore& store = StoreFor(state.range(0));
  const bool putting = state.range(1) != 0;
  constexpr int kHot = 64;
  auto hot = [](int64_t i) { return "hot phrase " + std::to_string(i); };
  for (int64_t i = 0; i < kHot; ++i) {
    auto got = store.Get("xtts", hot(i));
    if ((!got || !*got) && !store.Put("xtts", hot(i), SmallWav())) std::abort();
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> puts{0};
  std::thread putter;
  if (putting) {
    putter = std::thread([&] {
      // New texts in every process, so two binaries run in turn on one folder
      // both evict (no put merely replaces an entry of the other's run).
      int64_t next = static_cast<int64_t>(std::random_device{}() & 0xFFFFFF) << 24;
      while (!stop.load(std::memory_order_relaxed)) {
        if (!store.Put("xtts", Text(next++), SmallWav())) std::abort();
        puts.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::vector<double> us;
  us.reserve(static_cast<size_t>(state.max_iterations));
  std::mt19937_64 rng(2);
  const auto started = std::chrono::steady_clock::now();
  for (auto _ : state) {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    const std::string text = hot(static_cast<int64_t>(rng() % kHot));
    const auto t0 = std::chrono::steady_clock::now();
    auto got = store.Get("xtts", text);
    const auto t1 = std::chrono::steady_clock::now();
    if (!got || !*got) state.SkipWithError("a hot entry was missing");
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  stop = true;
  if (putter.joinable()) putter.join();
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    return us.empty() ? 0.0 : us[static_cast<size_t>(q * (us.size() - 1))];
  };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.counters["p999_us"] = at(0.999);
  state.counters["puts_per_s"] = static_cast<double>(puts.load()) / seconds;
}

// Open time: clean (the index is reused) or after a crash (the clean mark is
// cleared, so the index is rebuilt from the folder).
void OpenBenchmark(benchmark::State& state, bool after_crash) {
  StoreFor(state.range(0));
  CloseHeld();
  CacheOptions o = OptionsFor(state.range(0));
  const std::string index = o.dir + "/" + kIndexFileName;
  for (auto _ : state) {
    state.PauseTiming();
    if (after_crash) {
      std::fstream f(index, std::ios::in | std::ios::out | std::ios::binary);
      const uint64_t zero = 0;
      f.seekp(16);  // IndexHeader::clean
      f.write(reinterpret_cast<const char*>(&zero), sizeof(zero));
    }
    state.ResumeTiming();
    auto store = CacheStore::Open(o);
    state.PauseTiming();
    if (!store || (*store)->open_report().rebuild_reason.empty() != !after_crash) {
      state.SkipWithError("unexpected open result");
    }
    store = MakeError(Errc::kInternal, "");  // closes (marks clean) outside the timing
    state.ResumeTiming();
  }
}
void BM_OpenClean(benchmark::State& state) { OpenBenchmark(state, false); }
void BM_OpenAfterCrash(benchmark::State& state) { OpenBenchmark(state, true); }

// The index alone, in anonymous memory: insert + evict at steady state. It
// separates the cache's own cost from the filesystem's (a folder of 1M files).
void BM_IndexPut(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  std::vector<uint8_t> memory(IndexFileSize(n, CacheIndex::BucketCountFor(n)));
  CacheIndex idx = CacheIndex::Format(memory, {"xtts"}, n);
  auto key = [](uint64_t i) {
    CacheKey k;
    for (int b = 0; b < 32; ++b)
      k.digest[b] = static_cast<uint8_t>((i * 0x9E3779B97F4A7C15ull) >> ((b % 8) * 8) ^ b);
    return k;
  };
  uint64_t i = 0;
  for (; i < n; ++i) idx.Insert(0, key(i), 244);
  for (auto _ : state) {
    idx.Remove(*idx.LeastRecentOf(0));
    idx.Insert(0, key(i++), 244);
  }
}

std::vector<int64_t> Sizes() {
  const char* env = std::getenv("TTSCACHE_BENCH_SIZES");
  std::stringstream in(env ? env : "500,10000,100000,1000000");
  std::vector<int64_t> sizes;
  for (std::string item; std::getline(in, item, ',');) sizes.push_back(std::stoll(item));
  return sizes;
}

void Register() {
  for (int64_t n : Sizes()) {
    benchmark::RegisterBenchmark("GetHit", BM_GetHit)->Arg(n)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("GetMiss", BM_GetMiss)->Arg(n)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("Put", BM_Put)->Arg(n)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("PutWarm", BM_PutWarm)
        ->Args({n, 1})
        ->Args({n, 0})
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("IndexPut", BM_IndexPut)->Arg(n)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("HitDuringPuts", BM_HitDuringPuts)
        ->Args({n, 0})
        ->Args({n, 1})
        ->Iterations(50000)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    if (n >= 100000) {
      benchmark::RegisterBenchmark("OpenClean", BM_OpenClean)
          ->Arg(n)
          ->Iterations(3)
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark("OpenAfterCrash", BM_OpenAfterCrash)
          ->Arg(n)
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace
}  // namespace ttscache::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  ttscache::bench::Register();
  benchmark::RunSpecifiedBenchmarks();
  ttscache::bench::CloseHeld();
  benchmark::Shutdown();
}
