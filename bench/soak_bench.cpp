// Soak: many clients for a long time against one ttscached, mixing every
// operation, with a share of hostile connections sending malformed frames
// (docs/reliability.md). Every INTERVAL seconds it samples the daemon's RSS,
// open descriptors and threads (/proc/PID) and the well-behaved clients'
// latency percentiles, and appends a CSV line. Well-behaved clients must see no
// error: a miss (an evicted phrase) and BUSY are counted apart, anything else
// is an error and makes the exit status 1.
// Usage: soak_bench SOCKET DAEMON_PID SECONDS INTERVAL OUT.csv [clients] [hostile]
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "tests/support/wav_builder.hpp"
#include "ttscache/client.hpp"

namespace ttscache::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Totals {
  std::atomic<uint64_t> ops{0}, errors{0}, busy{0}, misses{0}, hostile{0}, hostile_surprises{0};
};

// Latencies of the current interval, per client, swapped out by the sampler.
struct LatencyBucket {
  std::mutex mutex;
  std::vector<double> micros;       // every operation
  std::vector<double> fast_micros;  // answered on the loop: GET wav, STATS, PING
};

std::vector<std::vector<uint8_t>> MakeWavs() {
  std::vector<std::vector<uint8_t>> wavs;
  for (double seconds : {0.2, 0.5, 1.0, 2.0}) {
    testing::WavSpec spec;
    auto pcm = testing::EncodeSamples(
        spec, testing::HarmonicSignal(22050, 1, seconds, 180 + 40 * seconds));
    wavs.push_back(testing::MakeWav(spec, pcm));
  }
  return wavs;
}

void WellBehavedClient(const std::string& socket, int id, const std::atomic<bool>& stop,
                       const std::vector<std::vector<uint8_t>>& wavs, Totals& totals,
                       LatencyBucket& bucket, std::FILE* error_log) {
  std::mt19937 rng(id);
  auto connected = Client::Connect({socket, 30000});
  if (!connected) {
    totals.errors++;
    std::fprintf(error_log, "client %d: connect: %s\n", id, connected.error().message.c_str());
    return;
  }
  Client client = std::move(connected.value());
  const char* engines[] = {"piper", "xtts"};
  while (!stop) {
    const std::string engine = engines[rng() % 2];
    const std::string text = "soak phrase number " + std::to_string(rng() % 2000);
    const auto& wav = wavs[rng() % wavs.size()];
    OpusParams opus;
    opus.bitrate_kbps = static_cast<uint16_t>(16 + 8 * (rng() % 3));
    const int op = static_cast<int>(rng() % 100);
    auto start = Clock::now();
    Status status;
    if (op < 30) {
      status = client.Put(engine, text, wav);
    } else if (op < 55) {
      auto r = client.Get(engine, text, Format::kWav, DaemonDefaultOpus(), /*descriptor=*/op % 2);
      if (!r) status = r.error();
    } else if (op < 75) {
      auto r = client.Get(engine, text, Format::kOpus, opus);
      if (!r) status = r.error();
    } else if (op < 85) {
      auto r = client.Encode(wavs[0], opus);
      if (!r) status = r.error();
    } else if (op < 92) {
      auto r = client.PutEncode(engine, text, wav, opus);
      if (!r) status = r.error();
    } else if (op < 96) {
      auto r = client.Stats();
      if (!r) status = r.error();
    } else {
      status = client.Ping();
    }
    double micros = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
    totals.ops++;
    if (!status) {
      if (status.error().code == Errc::kNotFound) {
        totals.misses++;
      } else if (status.error().code == Errc::kBusy) {
        totals.busy++;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      } else {
        totals.errors++;
        std::fprintf(error_log, "client %d op %d: %s\n", id, op, status.error().message.c_str());
      }
      continue;
    }
    std::lock_guard lock(bucket.mutex);
    bucket.micros.push_back(micros);
    if ((op >= 30 && op < 55) || op >= 92) bucket.fast_micros.push_back(micros);
  }
}

int ConnectRaw(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// One hostile connection: a malformed frame of a random kind, then read
// whatever comes back (an ERROR frame, or the daemon closing) and hang up.
void HostileClient(const std::string& socket, int id, const std::atomic<bool>& stop,
                   Totals& totals) {
  std::mt19937 rng(1000 + id);
  while (!stop) {
    int fd = ConnectRaw(socket);
    if (fd < 0) {
      totals.hostile_surprises++;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    ipc::FrameHeader h;
    h.request_id = rng();
    std::vector<uint8_t> bytes;
    auto header = [&](uint8_t opcode, uint32_t body_length) {
      h.opcode = opcode;
      h.body_length = body_length;
      uint8_t encoded[ipc::kHeaderSize];
      ipc::EncodeHeader(h, encoded);
      bytes.assign(encoded, encoded + sizeof(encoded));
    };
    switch (rng() % 6) {
      case 0:  // random garbage
        bytes.assign(1 + rng() % 200, 0);
        for (auto& b : bytes) b = static_cast<uint8_t>(rng());
        break;
      case 1:  // a body over the 64 MiB limit
        header(static_cast<uint8_t>(ipc::Opcode::kPut), 0xFFFFFFF0u);
        break;
      case 2: {  // a PUT whose body is random bytes
        header(static_cast<uint8_t>(ipc::Opcode::kPut), 64);
        for (int i = 0; i < 64; ++i) bytes.push_back(static_cast<uint8_t>(rng()));
        break;
      }
      case 3:  // a header promising a body that never comes (the peer hangs up)
        header(static_cast<uint8_t>(ipc::Opcode::kEncode), 100000);
        bytes.insert(bytes.end(), 500, 0x55);
        break;
      case 4:  // an unknown opcode
        header(0x42, 0);
        break;
      default: {  // a GET naming an engine that is a path
        ipc::GetRequest get;
        get.engine = "../../etc";
        get.text = "passwd";
        auto body = ipc::EncodeGetRequest(get);
        header(static_cast<uint8_t>(ipc::Opcode::kGet), static_cast<uint32_t>(body.size()));
        bytes.insert(bytes.end(), body.begin(), body.end());
      }
    }
    (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    uint8_t reply[4096];
    (void)!::recv(fd, reply, sizeof(reply), 0);
    ::close(fd);
    totals.hostile++;
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 20));
  }
}

long ReadStatusKb(int pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  }
  return -1;
}

long CountFds(int pid) {
  std::error_code ec;
  long n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

}  // namespace
}  // namespace ttscache::bench

int main(int argc, char** argv) {
  using namespace ttscache::bench;
  if (argc < 6) {
    std::fprintf(
        stderr,
        "usage: soak_bench SOCKET DAEMON_PID SECONDS INTERVAL OUT.csv [clients] [hostile]\n");
    return 2;
  }
  const std::string socket = argv[1];
  const int pid = std::atoi(argv[2]);
  const int seconds = std::atoi(argv[3]);
  const int interval = std::atoi(argv[4]);
  std::FILE* csv = std::fopen(argv[5], "w");
  const int clients = argc > 6 ? std::atoi(argv[6]) : 64;
  const int hostile = argc > 7 ? std::atoi(argv[7]) : 8;
  if (!csv) return 2;
  std::fprintf(csv,
               "t_s,rss_kb,fds,threads,ops_per_s,p50_us,p99_us,p999_us,fast_p50_us,fast_p99_us,"
               "errors,busy,misses,hostile_frames\n");

  const auto wavs = MakeWavs();
  Totals totals;
  std::atomic<bool> stop{false};
  std::vector<LatencyBucket> buckets(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back(WellBehavedClient, socket, i, std::cref(stop), std::cref(wavs),
                         std::ref(totals), std::ref(buckets[i]), stderr);
  }
  for (int i = 0; i < hostile; ++i) {
    threads.emplace_back(HostileClient, socket, i, std::cref(stop), std::ref(totals));
  }

  const auto begin = Clock::now();
  uint64_t last_ops = 0;
  for (int t = interval; t <= seconds; t += interval) {
    std::this_thread::sleep_until(begin + std::chrono::seconds(t));
    std::vector<double> all, fast;
    for (auto& b : buckets) {
      std::lock_guard lock(b.mutex);
      all.insert(all.end(), b.micros.begin(), b.micros.end());
      fast.insert(fast.end(), b.fast_micros.begin(), b.fast_micros.end());
      b.micros.clear();
      b.fast_micros.clear();
    }
    std::sort(all.begin(), all.end());
    std::sort(fast.begin(), fast.end());
    auto pct = [](const std::vector<double>& v, double p) {
      return v.empty() ? 0.0 : v[static_cast<size_t>(p * (v.size() - 1))];
    };
    uint64_t ops = totals.ops;
    std::fprintf(csv, "%d,%ld,%ld,%ld,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%lu,%lu,%lu,%lu\n", t,
                 ReadStatusKb(pid, "VmRSS:"), CountFds(pid), ReadStatusKb(pid, "Threads:"),
                 static_cast<double>(ops - last_ops) / interval, pct(all, 0.5), pct(all, 0.99),
                 pct(all, 0.999), pct(fast, 0.5), pct(fast, 0.99), totals.errors.load(),
                 totals.busy.load(), totals.misses.load(), totals.hostile.load());
    std::fflush(csv);
    last_ops = ops;
  }
  stop = true;
  for (auto& th : threads) th.join();
  std::fclose(csv);
  std::printf(
      "soak: %d clients + %d hostile, %d s: %lu operations, %lu errors, %lu busy, %lu misses, "
      "%lu malformed frames (%lu connects refused)\n",
      clients, hostile, seconds, totals.ops.load(), totals.errors.load(), totals.busy.load(),
      totals.misses.load(), totals.hostile.load(), totals.hostile_surprises.load());
  return totals.errors == 0 ? 0 : 1;
}
