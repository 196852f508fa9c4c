// The fleet tier measured (docs/benchmarks.md, "Fleet tier"; issue #19):
// three daemons that share a memcached pool against three that do not, in
// one run, on the same machine.
//   1. share: Zipf (s = 1) requests over PHRASES phrases, each to one of the
//      three daemons at random (seeded: both sets get the same sequence).
//      A miss is a request that would need synthesis: the "backend" then
//      builds the phrase's WAV (deterministic bytes, no TTS) and PUTs it to
//      that daemon. Misses / requests with and without the tier, and the
//      ratio. The tier's writes are write-behind: a phrase asked again on
//      another daemon before its value reached the pool is a miss, and
//      counts as one here.
//   2. tier hit: K phrases PUT through daemon A; once A's tier reports K
//      writes, each is fetched once from daemon B (not in B's cache: each is
//      a lookup in the pool, stored locally, then served), then again (now
//      a local hit). p50/p99 of both.
//   3. local hit, tier on vs off: the same entries cached in a daemon with
//      the tier and one without; GETs alternate between the two. p50/p99
//      and the ratio (a local hit must not consult the tier: its lookups
//      are checked not to grow).
// Every GET is Client::Get as a backend calls it (WAV, the descriptor path).
// A failed operation (anything but a miss) is counted and printed and makes
// the exit status 1: a benchmark that hides its failures measures something
// else. No figure is asserted.
//
// Usage: tier_bench --tier S1,S2,S3 --plain S1,S2,S3 [--requests 30000]
//          [--phrases 10000] [--wav-bytes 200000] [--latency-keys 500]
//          [--local-keys 200] [--local-rounds 5000] [--seed 1]
//          [--write-wait-s 120]
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/result.hpp"
#include "tests/support/wav_builder.hpp"
#include "ttscache/client.hpp"

namespace ttscache::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kEngine = "xtts";

struct Options {
  std::vector<std::string> tier, plain;
  int requests = 30000, phrases = 10000, latency_keys = 500, local_keys = 200;
  int local_rounds = 5000;
  size_t wav_bytes = 200000;
  uint64_t seed = 1;
  int write_wait_s = 120;
};

// Failures other than misses, over the whole run; the first few are printed.
int g_failures = 0;
void Fail(const std::string& what, const Error& e) {
  if (++g_failures <= 5) std::fprintf(stderr, "%s: %s\n", what.c_str(), e.message.c_str());
}

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// What the backend would synthesize for `text`: 16-bit mono PCM at 22,050 Hz
// (`bytes` in all, ~4.5 s for 200 KB), its samples from the text's hash.
std::vector<uint8_t> SynthesizedWav(const std::string& text, size_t bytes) {
  uint64_t state = 1469598103934665603ull;  // FNV-1a of the text seeds the samples
  for (char ch : text) state = (state ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  std::vector<uint8_t> pcm((std::max<size_t>(bytes, 46) - 44) & ~size_t{1});
  for (size_t i = 0; i < pcm.size(); i += 8) {
    const uint64_t word = SplitMix(state);
    std::memcpy(pcm.data() + i, &word, std::min<size_t>(8, pcm.size() - i));
  }
  return testing::MakeWav(testing::WavSpec{}, pcm);
}

struct Percentiles {
  double p50_us = 0, p99_us = 0;
  size_t count = 0;
};
Percentiles Summarize(std::vector<double> us) {
  if (us.empty()) return {};
  std::sort(us.begin(), us.end());
  auto at = [&](double p) {
    return us[static_cast<size_t>(p * static_cast<double>(us.size() - 1))];
  };
  return {at(0.5), at(0.99), us.size()};
}
double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

Client Connect(const std::string& socket) {
  Result<Client> c = Client::Connect({socket, 30000});
  if (!c) {
    std::fprintf(stderr, "cannot connect to %s: %s\n", socket.c_str(), c.error().message.c_str());
    std::exit(1);
  }
  return std::move(*c);
}

// The daemon's tier counters (STATS flag 16, Client::Tier), on a
// connection of their own; a daemon without a tier section is a failure.
TierStats TierOf(const std::string& socket) {
  Client c = Connect(socket);
  Result<TierStats> t = c.Tier();
  if (!t) {
    Fail("STATS (tier) to " + socket, t.error());
    return {};
  }
  if (!t->has_tier || !t->enabled) {
    Fail("STATS (tier) to " + socket, MakeError(Errc::kInternal, "no tier enabled there"));
  }
  return *t;
}

// A GET as a backend does it: true on a hit, false on a miss; anything else
// is a failure (counted) and treated as a miss.
bool Hit(Client& c, const std::string& text, std::vector<uint8_t>* copy = nullptr) {
  Result<AudioBuffer> r = c.Get(kEngine, text, Format::kWav);
  if (r) {
    if (copy != nullptr) copy->assign(r->u8().begin(), r->u8().end());
    return true;
  }
  if (r.error().code != Errc::kNotFound) Fail("GET " + text, r.error());
  return false;
}

void Put(Client& c, const std::string& text, const std::vector<uint8_t>& wav) {
  if (Status s = c.Put(kEngine, text, wav); !s) Fail("PUT " + text, s.error());
}

// Zipf (s = 1) over ranks 1..n, by its cumulative distribution.
class ZipfRanks {
 public:
  explicit ZipfRanks(int n) {
    double sum = 0;
    for (int r = 1; r <= n; ++r) cumulative_.push_back(sum += 1.0 / r);
  }
  int operator()(double u) const {
    const double target = u * cumulative_.back();
    return static_cast<int>(std::lower_bound(cumulative_.begin(), cumulative_.end(), target) -
                            cumulative_.begin()) +
           1;
  }

 private:
  std::vector<double> cumulative_;
};

struct ShareResult {
  int requests = 0, misses = 0, distinct = 0;
  double seconds = 0;
  TierStats tier;  // summed over the daemons (tier set only)
};

// Phase 1 on one set of daemons.
ShareResult RunShare(const Options& o, const std::vector<std::string>& sockets, bool tier) {
  std::vector<Client> clients;
  for (const std::string& s : sockets) clients.push_back(Connect(s));
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  ZipfRanks zipf(o.phrases);
  std::vector<bool> seen(static_cast<size_t>(o.phrases) + 1, false);
  ShareResult out;
  const auto start = Clock::now();
  for (int i = 0; i < o.requests; ++i) {
    const int rank = zipf(unit(rng));
    const size_t daemon = static_cast<size_t>(rng() % clients.size());
    const std::string text = "fleet phrase " + std::to_string(rank);
    if (!seen[static_cast<size_t>(rank)]) seen[static_cast<size_t>(rank)] = true, ++out.distinct;
    ++out.requests;
    if (!Hit(clients[daemon], text)) {
      ++out.misses;
      Put(clients[daemon], text, SynthesizedWav(text, o.wav_bytes));
    }
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (tier) {
    for (const std::string& s : sockets) {
      const TierStats t = TierOf(s);
      out.tier.hits += t.hits, out.tier.misses += t.misses, out.tier.lookups += t.lookups;
      out.tier.writes += t.writes, out.tier.dropped += t.dropped, out.tier.errors += t.errors;
      out.tier.timeouts += t.timeouts, out.tier.oversized += t.oversized;
      out.tier.coalesced += t.coalesced, out.tier.skipped += t.skipped;
    }
  }
  return out;
}

// Waits until `socket`'s tier has written at least `writes` values; false
// after `seconds` (the figure is then printed as it stands).
bool WaitForWrites(const std::string& socket, uint64_t writes, int seconds) {
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < until) {
    if (TierOf(socket).writes >= writes) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Values the write-behind is done with: written, failed, or not taken
// (queue full, too large). Each PUT here offers one.
uint64_t Settled(const TierStats& t) { return t.writes + t.write_errors + t.dropped + t.oversized; }

// Waits until `socket`'s tier has settled at least `count` values; false
// after `seconds`.
bool WaitForSettled(const std::string& socket, uint64_t count, int seconds) {
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < until) {
    if (Settled(TierOf(socket)) >= count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<std::string> SplitList(const char* list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--tier")
      o.tier = SplitList(v);
    else if (flag == "--plain")
      o.plain = SplitList(v);
    else if (flag == "--requests")
      o.requests = std::atoi(v);
    else if (flag == "--phrases")
      o.phrases = std::atoi(v);
    else if (flag == "--wav-bytes")
      o.wav_bytes = std::strtoull(v, nullptr, 10);
    else if (flag == "--latency-keys")
      o.latency_keys = std::atoi(v);
    else if (flag == "--local-keys")
      o.local_keys = std::atoi(v);
    else if (flag == "--local-rounds")
      o.local_rounds = std::atoi(v);
    else if (flag == "--seed")
      o.seed = std::strtoull(v, nullptr, 10);
    else if (flag == "--write-wait-s")
      o.write_wait_s = std::atoi(v);
    else {
      std::fprintf(stderr, "tier_bench: unknown flag %s (see the file's opening)\n", flag.c_str());
      std::exit(2);
    }
  }
  if (o.tier.size() < 2 || o.plain.size() < 2 || o.tier.size() != o.plain.size() ||
      o.requests < 1 || o.phrases < 1 || o.latency_keys < 1 || o.local_keys < 1 ||
      o.local_rounds < 1) {
    std::fprintf(stderr,
                 "usage: tier_bench --tier S1,S2,S3 --plain S1,S2,S3 [--requests N] [--phrases N]"
                 " [--wav-bytes N] [--latency-keys N] [--local-keys N] [--local-rounds N]"
                 " [--seed N] [--write-wait-s N]\n"
                 "  (as many daemons with the tier as without, at least 2 each)\n");
    std::exit(2);
  }
  return o;
}

void PrintLatency(const char* what, const Percentiles& p) {
  std::printf("%-34s %10.1f %10.1f %8zu\n", what, p.p50_us, p.p99_us, p.count);
}

}  // namespace
}  // namespace ttscache::bench

int main(int argc, char** argv) {
  using namespace ttscache;
  using namespace ttscache::bench;
  const Options o = Parse(argc, argv);
  std::printf(
      "tier_bench: %zu daemons with the tier, %zu without; %d requests, Zipf s=1 over %d "
      "phrases, %zu-byte WAVs, seed %" PRIu64 "\n",
      o.tier.size(), o.plain.size(), o.requests, o.phrases, o.wav_bytes, o.seed);

  // 1. The share of requests that need synthesis.
  const ShareResult off = RunShare(o, o.plain, false);
  const ShareResult on = RunShare(o, o.tier, true);
  std::printf("\n1. requests needing synthesis (a miss everywhere)\n");
  std::printf("%-34s %10s %10s\n", "", "tier off", "tier on");
  std::printf("%-34s %10d %10d\n", "requests", off.requests, on.requests);
  std::printf("%-34s %10d %10d\n", "distinct phrases asked", off.distinct, on.distinct);
  std::printf("%-34s %10d %10d\n", "misses (syntheses)", off.misses, on.misses);
  std::printf("%-34s %9.2f%% %9.2f%%\n", "share needing synthesis",
              100.0 * off.misses / off.requests, 100.0 * on.misses / on.requests);
  std::printf("%-34s %10.1f %10.1f\n", "seconds", off.seconds, on.seconds);
  std::printf("%-34s %21.3f\n", "ratio on/off (syntheses)",
              off.misses ? static_cast<double>(on.misses) / off.misses : 0.0);
  std::printf("tier (summed): lookups %" PRIu64 ", hits %" PRIu64 ", misses %" PRIu64
              ", coalesced %" PRIu64 ", writes %" PRIu64 ", dropped %" PRIu64 ", errors %" PRIu64
              ", timeouts %" PRIu64 ", skipped %" PRIu64 ", oversized %" PRIu64 "\n",
              on.tier.lookups, on.tier.hits, on.tier.misses, on.tier.coalesced, on.tier.writes,
              on.tier.dropped, on.tier.errors, on.tier.timeouts, on.tier.skipped,
              on.tier.oversized);
  std::fflush(stdout);

  // 2. Tier-hit latency: through A into the pool, then out of it at B.
  const std::string& a = o.tier[0];
  const std::string& b = o.tier[1];
  {
    Client put = Connect(a);
    const uint64_t writes_before = TierOf(a).writes;
    for (int i = 0; i < o.latency_keys; ++i) {
      const std::string text = "tier latency " + std::to_string(i);
      Put(put, text, SynthesizedWav(text, o.wav_bytes));
    }
    const uint64_t target = writes_before + static_cast<uint64_t>(o.latency_keys);
    if (!WaitForWrites(a, target, o.write_wait_s)) {
      std::fprintf(stderr, "A's tier wrote %" PRIu64 " of %d values in %d s; measuring anyway\n",
                   TierOf(a).writes - writes_before, o.latency_keys, o.write_wait_s);
    }
  }
  Client at_b = Connect(b);
  const TierStats b_before = TierOf(b);
  std::vector<double> tier_us, local_us;
  int tier_misses = 0, wrong = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < o.latency_keys; ++i) {
      const std::string text = "tier latency " + std::to_string(i);
      std::vector<uint8_t> got;
      const auto start = Clock::now();
      const bool hit = Hit(at_b, text, &got);
      const double us = MicrosSince(start);
      if (!hit) {
        ++tier_misses;
        continue;
      }
      if (got != SynthesizedWav(text, o.wav_bytes)) ++wrong;
      (pass == 0 ? tier_us : local_us).push_back(us);
    }
  }
  const TierStats b_after = TierOf(b);
  std::printf("\n2. GET of a %zu-byte WAV at B that A put (µs)\n", o.wav_bytes);
  std::printf("%-34s %10s %10s %8s\n", "", "p50", "p99", "count");
  PrintLatency("tier hit (first GET at B)", Summarize(tier_us));
  PrintLatency("local hit (second GET at B)", Summarize(local_us));
  std::printf("misses %d, wrong bytes %d; B's tier: hits +%" PRIu64 ", misses +%" PRIu64
              ", timeouts +%" PRIu64 ", lookup_us/lookup %.1f\n",
              tier_misses, wrong, b_after.hits - b_before.hits, b_after.misses - b_before.misses,
              b_after.timeouts - b_before.timeouts,
              b_after.lookups > b_before.lookups
                  ? static_cast<double>(b_after.lookup_us - b_before.lookup_us) /
                        static_cast<double>(b_after.lookups - b_before.lookups)
                  : 0.0);
  if (wrong > 0) Fail("tier hits", MakeError(Errc::kInternal, "bytes differ from what A put"));
  std::fflush(stdout);

  // 3. Local hits with the tier on and off: the same entries, alternating.
  const std::string& with = o.tier.back();
  const std::string& without = o.plain.back();
  Client c_with = Connect(with), c_without = Connect(without);
  const uint64_t with_settled = Settled(TierOf(with));
  for (int i = 0; i < o.local_keys; ++i) {
    const std::string text = "local hit " + std::to_string(i);
    const std::vector<uint8_t> wav = SynthesizedWav(text, o.wav_bytes);
    Put(c_with, text, wav);
    Put(c_without, text, wav);
    Hit(c_with, text), Hit(c_without, text);  // the client's first mapping of each
  }
  // The tier's write-behind of these puts is over before the clock starts:
  // a local hit is measured, not a hit beside the writer's upload.
  if (!WaitForSettled(with, with_settled + static_cast<uint64_t>(o.local_keys), o.write_wait_s)) {
    std::fprintf(stderr, "the tier's writes of the local entries did not end in %d s\n",
                 o.write_wait_s);
  }
  const TierStats with_before = TierOf(with);
  std::vector<double> on_us, off_us;
  int local_misses = 0;
  for (int round = 0; round < o.local_rounds; ++round) {
    const std::string text = "local hit " + std::to_string(round % o.local_keys);
    const bool with_first = round % 2 == 0;  // neither always runs second
    for (int k = 0; k < 2; ++k) {
      const bool on_side = (k == 0) == with_first;
      const auto start = Clock::now();
      const bool hit = Hit(on_side ? c_with : c_without, text);
      const double us = MicrosSince(start);
      if (!hit) ++local_misses;
      (on_side ? on_us : off_us).push_back(us);
    }
  }
  const TierStats with_after = TierOf(with);
  const Percentiles p_on = Summarize(on_us), p_off = Summarize(off_us);
  std::printf("\n3. local hit, %d entries, GETs alternating (µs)\n", o.local_keys);
  std::printf("%-34s %10s %10s %8s\n", "", "p50", "p99", "count");
  PrintLatency("tier on", p_on);
  PrintLatency("tier off", p_off);
  std::printf("%-34s %10.3f %10.3f\n", "ratio on/off",
              p_off.p50_us ? p_on.p50_us / p_off.p50_us : 0,
              p_off.p99_us ? p_on.p99_us / p_off.p99_us : 0);
  std::printf("misses %d; tier lookups during the local hits: %" PRIu64 "\n", local_misses,
              with_after.lookups - with_before.lookups);
  if (local_misses > 0) Fail("local hits", MakeError(Errc::kInternal, "an entry put was a miss"));

  if (g_failures > 0) {
    std::fprintf(stderr, "tier_bench: %d operations failed (the first are above)\n", g_failures);
    return 1;
  }
  return 0;
}
