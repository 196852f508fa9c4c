// ttscached under load (docs/benchmarks.md): throughput and p50/p99 latency
// of hits by descriptor (repeated: the client's mapping is reused; new file:
// a descriptor passed each time) and inline at 2 KB, 200 KB and 10 MB, put, encode
// (miss) and a cached variant, with 1, 8 and 64 clients; plus the floor — a
// bare Unix-socket ping-pong between two processes.
// Usage: load_bench SOCKET [seconds-per-case] [client counts, e.g. 1,8,64]
//                   [daemon CPU]
// With a daemon CPU, the floor's answering process is pinned to it and the
// asking one stays where this process runs (run under taskset): the same
// placement as the clients and the pinned daemon. Placement matters here: a
// wake-up across CPUs and one on the same CPU cost different amounts, so an
// unpinned floor and an unpinned daemon can land differently and compare
// unlike things.
// Prints one CSV line per case: case,clients,ops_per_s,p50_us,p99_us,
// floor_p50_us,floor_p99_us (the floor sampled between the case's slices;
// one-client cases only).
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
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

struct Sample {
  double ops_per_s, p50_us, p99_us;
};

Sample Summarize(std::vector<double> latencies_us, double seconds) {
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    return latencies_us.empty() ? 0
                                : latencies_us[static_cast<size_t>(p * (latencies_us.size() - 1))];
  };
  return {latencies_us.size() / seconds, pct(0.5), pct(0.99)};
}

double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

// The floor: 24 bytes (a frame header) back and forth between two processes
// on a socketpair, the answering one blocked in read() — no protocol, no
// daemon. The process lives as long as this object, so the floor can be
// sampled in slices between the slices of a case.
class FloorEcho {
 public:
  explicit FloorEcho(int answer_cpu) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
    child_ = fork();
    if (child_ == 0) {
      if (answer_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(answer_cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0) _exit(1);
      }
      close(sv[0]);  // else the read below never sees EOF
      char b[24];
      ssize_t n;
      while ((n = read(sv[1], b, sizeof(b))) > 0) {
        if (write(sv[1], b, static_cast<size_t>(n)) != n) break;
      }
      _exit(0);
    }
    close(sv[1]);
    fd_ = sv[0];
  }
  ~FloorEcho() {
    close(fd_);
    waitpid(child_, nullptr, 0);
  }
  // Round trips until `until`, appending each one's latency.
  void RunUntil(Clock::time_point until, std::vector<double>* latencies_us) {
    char b[24] = {};
    while (Clock::now() < until) {
      auto start = Clock::now();
      if (write(fd_, b, sizeof(b)) != sizeof(b) || read(fd_, b, sizeof(b)) != sizeof(b)) {
        std::fprintf(stderr, "the floor's echo process died\n");
        std::abort();
      }
      latencies_us->push_back(MicrosSince(start));
    }
  }

 private:
  pid_t child_ = -1;
  int fd_ = -1;
};

// Runs `op` from `clients` threads (each with its own connection) for
// `seconds`; every call's latency goes into one distribution. With a floor
// (one client only), the time is cut into 20 ms slices that alternate between
// the case and the floor, so both see the same machine: on a shared VM the
// cost of a wake-up drifts by a third within seconds, and a floor measured
// before a case compares unlike moments. *floor_sample gets the floor.
// A failed operation is counted and the first error is printed: a benchmark
// that hides its failures measures something else.
Sample Measure(const std::string& socket, int clients, double seconds,
               const std::function<Status(Client&, int)>& op, FloorEcho* floor = nullptr,
               Sample* floor_sample = nullptr) {
  std::vector<std::vector<double>> latencies(clients);
  std::vector<double> floor_latencies;
  std::atomic<int> failures{0};
  std::mutex first_error_lock;
  std::string first_error;
  std::vector<std::thread> threads;
  const bool interleave = floor != nullptr && clients == 1;
  const auto slice = std::chrono::milliseconds(20);
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      Client c = Client::Connect({socket, 30000}).value();
      auto slice_end = Clock::now() + slice;
      for (int i = 0; Clock::now() < until; ++i) {
        auto start = Clock::now();
        if (Status s = op(c, t * 1000000 + i); !s && failures++ == 0) {
          std::lock_guard lock(first_error_lock);
          first_error = s.error().message;
        }
        latencies[t].push_back(MicrosSince(start));
        if (interleave && Clock::now() >= slice_end) {
          floor->RunUntil(Clock::now() + slice, &floor_latencies);
          slice_end = Clock::now() + slice;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  if (failures > 0) {
    std::fprintf(stderr, "%d of %zu operations failed, the first: %s\n", failures.load(),
                 all.size(), first_error.c_str());
  }
  const double case_seconds = interleave ? seconds / 2 : seconds;
  if (interleave) *floor_sample = Summarize(std::move(floor_latencies), seconds / 2);
  return Summarize(std::move(all), case_seconds);
}

template <class Audio>
Status NonEmpty(const Result<Audio>& r) {
  if (!r) return r.error();
  if (r->size() == 0) return MakeError(Errc::kInternal, "empty audio in a successful reply");
  return {};
}

std::vector<uint8_t> WavOfSize(size_t bytes) {
  testing::WavSpec spec;
  std::vector<uint8_t> pcm((bytes - 44) & ~size_t{1});
  for (size_t i = 0; i < pcm.size(); ++i) pcm[i] = static_cast<uint8_t>(i * 131);
  return testing::MakeWav(spec, pcm);
}

// One CSV line; the floor columns are empty for cases run without one.
void Print(const std::string& name, int clients, const Sample& s,
           const std::optional<Sample>& floor = std::nullopt) {
  std::printf("%s,%d,%.0f,%.1f,%.1f,", name.c_str(), clients, s.ops_per_s, s.p50_us, s.p99_us);
  if (floor) std::printf("%.1f,%.1f", floor->p50_us, floor->p99_us);
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace
}  // namespace ttscache::bench

int main(int argc, char** argv) {
  using namespace ttscache;
  using namespace ttscache::bench;
  if (argc < 2) {
    std::fprintf(stderr, "usage: load_bench SOCKET [seconds] [clients,...] [daemon-cpu]\n");
    return 2;
  }
  const std::string socket = argv[1];
  const double seconds = argc > 2 ? std::atof(argv[2]) : 2.0;
  std::vector<int> counts;
  std::stringstream list(argc > 3 ? argv[3] : "1,8,64");
  for (std::string item; std::getline(list, item, ',');) counts.push_back(std::stoi(item));

  const int daemon_cpu = argc > 4 ? std::atoi(argv[4]) : -1;

  FloorEcho floor(daemon_cpu);
  {
    std::vector<double> alone;
    floor.RunUntil(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds)),
                   &alone);
    Print("floor_pingpong", 1, Summarize(std::move(alone), seconds));
  }
  // Every one-client case carries its own floor, sampled between its slices.
  auto run = [&](const std::string& name, int clients,
                 const std::function<Status(Client&, int)>& op) {
    Sample floor_sample{};
    Sample s = Measure(socket, clients, seconds, op, &floor, &floor_sample);
    Print(name, clients, s, clients == 1 ? std::optional(floor_sample) : std::nullopt);
  };
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
    run("ping", clients, [](Client& c, int) { return c.Ping(); });
    for (const Size& s : sizes) {
      const std::string text = std::string("value ") + s.name;
      run(std::string("hit_fd_") + s.name, clients, [&](Client& c, int) {
        return NonEmpty(c.Get("xtts", text, Format::kWav, DaemonDefaultOpus(), true));
      });
      run(std::string("hit_inline_") + s.name, clients, [&](Client& c, int) {
        return NonEmpty(c.Get("xtts", text, Format::kWav, DaemonDefaultOpus(), false));
      });
    }
    run("hit_fd_new_file_2KB", clients, [&](Client& c, int i) {
      return NonEmpty(c.Get("xtts", "cold " + std::to_string(i % 200), Format::kWav,
                            DaemonDefaultOpus(), true));
    });
    const std::vector<uint8_t> small = WavOfSize(2048);
    run("put_2KB", clients,
        [&](Client& c, int i) { return c.Put("piper", "put " + std::to_string(i), small); });
    run("encode_miss_1s", clients, [&](Client& c, int) { return NonEmpty(c.Encode(speech)); });
    // The put case above may have evicted the entry under a small max_entries.
    if (!setup.Put("piper", "variant", speech)) return 1;
    if (!setup.Get("piper", "variant", Format::kOpus)) return 1;
    run("encode_cached_variant", clients,
        [&](Client& c, int) { return NonEmpty(c.Get("piper", "variant", Format::kOpus)); });
  }
  return 0;
}
