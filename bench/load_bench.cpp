// ttscached under load (docs/benchmarks.md): throughput and p50/p99 latency
// of hits by descriptor (repeated: the client's mapping is reused; new file:
// a descriptor passed each time) and inline at 2 KB, 200 KB and 10 MB, put, encode
// (miss) and a cached variant, with 1, 8 and 64 clients; plus the floor — a
// bare Unix-socket ping-pong between two processes.
// Usage: load_bench SOCKET [seconds-per-case] [client counts, e.g. 1,8,64]
// Prints one CSV line per case: case,clients,ops_per_s,p50_us,p99_us.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/wav_builder.hpp"
#include "ttscache/client.hpp"

namespace ttscache::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Sample {
  double ops_per_s, p50_us, p99_us;
};

// Runs `op` from `clients` threads (each with its own connection) for
// `seconds`; every call's latency goes into one distribution.
Sample Measure(const std::string& socket, int clients, double seconds,
               const std::function<bool(Client&, int)>& op) {
  std::vector<std::vector<double>> latencies(clients);
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      Client c = Client::Connect({socket, 30000}).value();
      for (int i = 0; Clock::now() < until; ++i) {
        auto start = Clock::now();
        if (!op(c, t * 1000000 + i)) failed = true;
        latencies[t].push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  if (failed) std::fprintf(stderr, "some operations failed\n");
  auto pct = [&](double p) {
    return all.empty() ? 0 : all[static_cast<size_t>(p * (all.size() - 1))];
  };
  return {all.size() / seconds, pct(0.5), pct(0.99)};
}

// The floor: one byte back and forth between two processes on a socketpair.
Sample PingPongFloor(double seconds) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pid_t child = fork();
  if (child == 0) {
    close(sv[0]);  // else the read below never sees EOF
    char b;
    while (read(sv[1], &b, 1) == 1) {
      if (write(sv[1], &b, 1) != 1) break;
    }
    _exit(0);
  }
  close(sv[1]);
  std::vector<double> lat;
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  char b = 'x';
  while (Clock::now() < until) {
    auto start = Clock::now();
    if (write(sv[0], &b, 1) != 1 || read(sv[0], &b, 1) != 1) break;
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  close(sv[0]);
  waitpid(child, nullptr, 0);
  std::sort(lat.begin(), lat.end());
  return {lat.size() / seconds, lat[lat.size() / 2],
          lat[static_cast<size_t>(0.99 * (lat.size() - 1))]};
}

std::vector<uint8_t> WavOfSize(size_t bytes) {
  testing::WavSpec spec;
  std::vector<uint8_t> pcm((bytes - 44) & ~size_t{1});
  for (size_t i = 0; i < pcm.size(); ++i) pcm[i] = static_cast<uint8_t>(i * 131);
  return testing::MakeWav(spec, pcm);
}

void Print(const char* name, int clients, const Sample& s) {
  std::printf("%s,%d,%.0f,%.1f,%.1f\n", name, clients, s.ops_per_s, s.p50_us, s.p99_us);
  std::fflush(stdout);
}

}  // namespace
}  // namespace ttscache::bench

int main(int argc, char** argv) {
  using namespace ttscache;
  using namespace ttscache::bench;
  if (argc < 2) {
    std::fprintf(stderr, "usage: load_bench SOCKET [seconds] [clients,...]\n");
    return 2;
  }
  const std::string socket = argv[1];
  const double seconds = argc > 2 ? std::atof(argv[2]) : 2.0;
  std::vector<int> counts;
  std::stringstream list(argc > 3 ? argv[3] : "1,8,64");
  for (std::string item; std::getline(list, item, ',');) counts.push_back(std::stoi(item));

  Print("floor_pingpong", 1, PingPongFloor(seconds));
  Client setup = Client::Connect({socket, 30000}).value();
  struct Size {
    const char* name;
    size_t bytes;
  };
  const Size sizes[] = {{"2KB", 2048}, {"200KB", 200 * 1024}, {"10MB", 10 * 1024 * 1024}};
  for (const Size& s : sizes) {
    if (!setup.Put("xtts", std::string("value ") + s.name, WavOfSize(s.bytes))) return 1;
  }
  std::vector<uint8_t> speech = WavOfSize(44100);  // 1 s at 22.05 kHz
  if (!setup.Put("piper", "variant", speech)) return 1;
  if (!setup.Get("piper", "variant", Format::kOpus)) return 1;  // encode it once

  // 200 distinct 2 KB entries: more than a client keeps mapped (64), so
  // cycling through them passes a descriptor on every hit.
  for (int i = 0; i < 200; ++i) {
    if (!setup.Put("xtts", "cold " + std::to_string(i), WavOfSize(2048))) return 1;
  }

  for (int clients : counts) {
    Print("ping", clients,
          Measure(socket, clients, seconds, [](Client& c, int) { return c.Ping().ok(); }));
    for (const Size& s : sizes) {
      const std::string text = std::string("value ") + s.name;
      std::string fd_name = std::string("hit_fd_") + s.name;
      std::string inline_name = std::string("hit_inline_") + s.name;
      Print(fd_name.c_str(), clients, Measure(socket, clients, seconds, [&](Client& c, int) {
              Result<AudioBuffer> r = c.Get("xtts", text, Format::kWav, DaemonDefaultOpus(), true);
              return r.ok() && r->size() > 0;
            }));
      Print(inline_name.c_str(), clients, Measure(socket, clients, seconds, [&](Client& c, int) {
              Result<AudioBuffer> r = c.Get("xtts", text, Format::kWav, DaemonDefaultOpus(), false);
              return r.ok() && r->size() > 0;
            }));
    }
    Print("hit_fd_new_file_2KB", clients, Measure(socket, clients, seconds, [&](Client& c, int i) {
            Result<AudioBuffer> r = c.Get("xtts", "cold " + std::to_string(i % 200), Format::kWav,
                                          DaemonDefaultOpus(), true);
            return r.ok() && r->size() > 0;
          }));
    const std::vector<uint8_t> small = WavOfSize(2048);
    Print("put_2KB", clients, Measure(socket, clients, seconds, [&](Client& c, int i) {
            return c.Put("piper", "put " + std::to_string(i), small).ok();
          }));
    Print("encode_miss_1s", clients,
          Measure(socket, clients, seconds, [&](Client& c, int) { return c.Encode(speech).ok(); }));
    Print("encode_cached_variant", clients, Measure(socket, clients, seconds, [&](Client& c, int) {
            return c.Get("piper", "variant", Format::kOpus).ok();
          }));
  }
  return 0;
}
