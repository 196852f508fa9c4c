// What operating the cache costs the clients it serves. Fills a running
// daemon with N small entries of engine A and a hot set of 64 of engine B,
// then measures, in one run: a client's GET hits on B alone (baseline),
// while another client pages through every entry (LIST, `ttscache ls`),
// and while another purges A (PURGE of N entries); plus the listing's and
// the purge's own rates. Prints one markdown row per phase; ratios are
// against the baseline of the same run (docs/benchmarks.md, "Operating the
// cache"). Usage: operate_bench SOCKET N [engine_a engine_b]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/wav_builder.hpp"
#include "ttscache/client.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using ttscache::Client;

Client ConnectOrDie(const std::string& socket) {
  ttscache::ClientOptions options;
  options.socket_path = socket;
  ttscache::Result<Client> client = Client::Connect(options);
  if (!client) {
    std::fprintf(stderr, "connect %s: %s\n", socket.c_str(), client.error().message.c_str());
    std::exit(1);
  }
  return std::move(*client);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Hits on the hot set until `stop`, each timed (µs).
std::vector<double> HitUntil(Client& client, const std::string& engine,
                             const std::atomic<bool>& stop, size_t at_least) {
  std::vector<double> us;
  for (size_t i = 0; !stop.load() || us.size() < at_least; ++i) {
    auto t0 = Clock::now();
    auto hit = client.Get(engine, "hot " + std::to_string(i % 64), ttscache::Format::kWav);
    if (!hit) {
      std::fprintf(stderr, "hit: %s\n", hit.error().message.c_str());
      std::exit(1);
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return us;
}

void Row(const char* phase, const std::vector<double>& us, const std::vector<double>& base,
         const std::string& note) {
  std::printf("| %s | %zu | %.1f | %.1f | %.2f× | %s |\n", phase, us.size(), Percentile(us, 0.5),
              Percentile(us, 0.99), Percentile(us, 0.99) / Percentile(base, 0.99), note.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: operate_bench SOCKET N [engine_a engine_b]\n");
    return 2;
  }
  std::string socket = argv[1];
  size_t n = std::strtoull(argv[2], nullptr, 10);
  std::string engine_a = argc > 3 ? argv[3] : "piper", engine_b = argc > 4 ? argv[4] : "xtts";
  std::vector<uint8_t> wav = ttscache::testing::MakeWav({}, std::vector<uint8_t>(2048, 1));

  Client admin = ConnectOrDie(socket), hitter = ConnectOrDie(socket);
  for (int i = 0; i < 64; ++i) {
    if (!admin.Put(engine_b, "hot " + std::to_string(i), wav)) return 1;
  }
  auto fill0 = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    if (ttscache::Status s = admin.Put(engine_a, "entry " + std::to_string(i), wav); !s) {
      std::fprintf(stderr, "put: %s\n", s.error().message.c_str());
      return 1;
    }
  }
  double fill_s = std::chrono::duration<double>(Clock::now() - fill0).count();

  std::printf(
      "%zu entries of %s (%zu-byte WAVs), filled at %.0f puts/s; hits on 64 entries of %s\n\n", n,
      engine_a.c_str(), wav.size(), static_cast<double>(n) / fill_s, engine_b.c_str());
  std::printf(
      "| phase | hits | p50 µs | p99 µs | p99 / alone | the operation "
      "|\n|---|---|---|---|---|---|\n");

  std::atomic<bool> stop{false};
  stop = true;
  std::vector<double> alone = HitUntil(hitter, engine_b, stop, 20000);
  Row("alone", alone, alone, "");

  // Listing every entry, page by page, while the hitter runs.
  stop = false;
  std::vector<double> during_list;
  std::thread list_hits([&] { during_list = HitUntil(hitter, engine_b, stop, 1000); });
  auto list0 = Clock::now();
  uint64_t listed = 0;
  ttscache::Status listing = admin.ForEachEntry({}, [&](const ttscache::ListedEntry&) {
    ++listed;
    return true;
  });
  double list_s = std::chrono::duration<double>(Clock::now() - list0).count();
  stop = true;
  list_hits.join();
  if (!listing) return 1;
  Row("during LIST", during_list, alone,
      std::to_string(listed) + " entries listed in " + std::to_string(list_s).substr(0, 5) +
          " s (" + std::to_string(static_cast<uint64_t>(static_cast<double>(listed) / list_s)) +
          "/s)");

  stop = false;
  std::vector<double> during_purge;
  std::thread purge_hits([&] { during_purge = HitUntil(hitter, engine_b, stop, 1000); });
  auto purge0 = Clock::now();
  ttscache::Result<ttscache::PurgeResult> purged = admin.Purge(engine_a);
  double purge_s = std::chrono::duration<double>(Clock::now() - purge0).count();
  stop = true;
  purge_hits.join();
  if (!purged) {
    std::fprintf(stderr, "purge: %s\n", purged.error().message.c_str());
    return 1;
  }
  Row("during PURGE", during_purge, alone,
      std::to_string(purged->entries) + " entries purged in " +
          std::to_string(purge_s).substr(0, 5) + " s (" +
          std::to_string(static_cast<uint64_t>(static_cast<double>(purged->entries) / purge_s)) +
          "/s)");
  return purged->entries == n ? 0 : 1;
}
