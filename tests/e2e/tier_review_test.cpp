// Adversarial review of the fleet tier (issue #19, docs/fleet.md): a real
// ttscached against a scripted "memcached" that speaks just enough of the
// binary protocol to lie — it announces a huge value, or trickles one byte
// at a time so that no single poll ever times out. The daemon must answer
// every GET within [tier] timeout_ms plus slack, keep its memory bounded by
// max_item_bytes, and stop on SIGTERM within a few seconds.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/unique_fd.hpp"
#include "daemon/tier/tier_value.hpp"
#include "ipc/frame.hpp"
#include "ipc/protocol.hpp"
#include "tests/e2e/daemon_e2e_helpers.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/e2e/tier_e2e_helpers.hpp"
#include "tests/support/memcached_process.hpp"
#include "tests/support/raw_peer.hpp"

namespace ttscache {
namespace {

using Clock = std::chrono::steady_clock;
using e2e::Tone;
using e2e::ToVector;
using testing::DaemonProcess;
using testing::MemcachedProcess;
using tier_e2e::Eventually;
using tier_e2e::MsSince;
using tier_e2e::TierStats;

constexpr int kTimeoutMs = 100;
constexpr int64_t kSlackMs = 1500;  // CI runs this under sanitizers on two shared cores

// A daemon of a fleet sharing `server`.
std::unique_ptr<DaemonProcess> FleetDaemon(const MemcachedProcess& server,
                                           std::map<std::string, std::string> tier = {}) {
  auto d = std::make_unique<DaemonProcess>();
  d->tier_keys() = std::move(tier);
  d->tier_keys()["servers"] = server.address();
  d->tier_keys().emplace("timeout_ms", "500");
  d->WriteConfig();
  EXPECT_TRUE(d->Start()) << d->log();
  return d;
}

// Reads exactly n bytes from fd, polling so that `stop` is seen; false on
// EOF, an error or stop.
bool ReadExactly(int fd, uint8_t* p, size_t n, const std::atomic<bool>& stop) {
  while (n > 0 && !stop) {
    pollfd pf{fd, POLLIN, 0};
    if (poll(&pf, 1, 20) != 1) continue;
    ssize_t got = recv(fd, p, n, 0);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return n == 0;
}

// A lying memcached: accepts connections, reads the first binary request of
// each (the multi-get's first GETKQ), and answers it as `script` says with
// the raw socket and the key asked. Every connection gets its own thread;
// the destructor closes them all.
class LyingServer {
 public:
  using Script = std::function<void(int fd, const std::string& key, const std::atomic<bool>& stop)>;

  explicit LyingServer(Script script) : script_(std::move(script)) {
    listen_fd_.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(listen_fd_.get(), 64);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~LyingServer() {
    stop_ = true;
    acceptor_.join();
    for (std::thread& t : peers_) t.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void Accept() {
    while (!stop_) {
      pollfd p{listen_fd_.get(), POLLIN, 0};
      if (poll(&p, 1, 20) != 1) continue;
      int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      peers_.emplace_back([this, fd] {
        UniqueFd owned(fd);
        std::string key;
        if (ReadRequestKey(fd, &key)) {
          requests_++;
          script_(fd, key, stop_);
        }
        while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      });
    }
  }
  bool ReadRequestKey(int fd, std::string* key) {
    uint8_t header[24];
    if (!ReadExactly(fd, header, sizeof header, stop_) || header[0] != 0x80) return false;
    const size_t key_length = (size_t{header[2]} << 8) | header[3];
    const size_t extras = header[4];
    const size_t body = (size_t{header[8]} << 24) | (size_t{header[9]} << 16) |
                        (size_t{header[10]} << 8) | header[11];
    std::vector<uint8_t> rest(body);
    if (!ReadExactly(fd, rest.data(), body, stop_) || extras + key_length > body) return false;
    key->assign(reinterpret_cast<const char*>(rest.data()) + extras, key_length);
    return true;
  }

  Script script_;
  UniqueFd listen_fd_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  std::vector<std::thread> peers_;
};

// A binary GETK response header announcing `value_length` bytes of value
// for `key` (4 bytes of flags, the key, then the value).
std::vector<uint8_t> GetkHeader(const std::string& key, uint32_t value_length) {
  std::vector<uint8_t> h(24, 0);
  h[0] = 0x81;  // response
  h[1] = 0x0c;  // GETK
  h[2] = static_cast<uint8_t>(key.size() >> 8);
  h[3] = static_cast<uint8_t>(key.size());
  h[4] = 4;  // extras: flags
  const uint32_t body = 4 + static_cast<uint32_t>(key.size()) + value_length;
  h[8] = static_cast<uint8_t>(body >> 24);
  h[9] = static_cast<uint8_t>(body >> 16);
  h[10] = static_cast<uint8_t>(body >> 8);
  h[11] = static_cast<uint8_t>(body);
  h.insert(h.end(), 4, 0);  // flags
  h.insert(h.end(), key.begin(), key.end());
  return h;
}

bool SendAll(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t sent = send(fd, p, n, MSG_NOSIGNAL);
    if (sent <= 0) return false;
    p += sent;
    n -= static_cast<size_t>(sent);
  }
  return true;
}

// The peak resident size of `pid`, in KiB (VmHWM).
long PeakRssKiB(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// SIGTERM, then how long the daemon took to exit (a zombie: exited, not yet
// reaped), SIGKILL after `limit_ms`: a hang fails the test instead of
// stalling it.
int64_t TerminateMs(DaemonProcess& d, int64_t limit_ms) {
  const auto start = Clock::now();
  d.Signal(SIGTERM);
  for (;;) {
    std::ifstream stat("/proc/" + std::to_string(d.pid()) + "/stat");
    std::string pid, comm, state;
    stat >> pid >> comm >> state;
    if (!stat || state == "Z" || MsSince(start) > limit_ms) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int64_t took = MsSince(start);
  d.Kill();
  return took;
}

// A value announced (and sent) far over max_item_bytes must not be held in
// memory whole: the check after the fetch came after libmemcached had read
// all of it, one such buffer per lookup thread.
TEST(TierReview, AHugeValueIsRefusedBeforeItIsHeldInMemory) {
  constexpr uint32_t kHuge = 192u << 20;
  LyingServer server([](int fd, const std::string& key, const std::atomic<bool>& stop) {
    std::vector<uint8_t> header = GetkHeader(key, kHuge);
    if (!SendAll(fd, header.data(), header.size())) return;
    std::vector<uint8_t> chunk(1 << 20, 'x');
    for (uint32_t sent = 0; sent < kHuge && !stop; sent += chunk.size()) {
      if (!SendAll(fd, chunk.data(), chunk.size())) return;
    }
  });
  DaemonProcess d;
  d.tier_keys()["servers"] = server.address();
  d.tier_keys()["timeout_ms"] = std::to_string(kTimeoutMs);
  d.tier_keys()["lookup_threads"] = "1";
  d.WriteConfig();
  ASSERT_TRUE(d.Start()) << d.log();
  const long before = PeakRssKiB(d.pid());
  ASSERT_GT(before, 0);
  Client client = d.Connect();
  Result<AudioBuffer> got = client.Get("piper", "a huge lie", Format::kWav);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::kNotFound) << got.error().message;
  // Give the lookup thread the time to read what the server sends.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const long after = PeakRssKiB(d.pid());
  EXPECT_LT(after - before, 64 * 1024) << "peak RSS grew by " << (after - before) << " KiB";
  EXPECT_TRUE(client.Ping().ok());
}

// A server that trickles its answer one byte every 50 ms never lets one
// poll time out (timeout_ms is per poll): the lookup must still end, or
// the lookup thread is lost for good — every later lookup queues behind
// it, and SIGTERM waits for it forever.
TEST(TierReview, ATricklingServerNeitherWedgesLookupsNorShutdown) {
  LyingServer server([](int fd, const std::string& key, const std::atomic<bool>& stop) {
    std::vector<uint8_t> bytes = GetkHeader(key, 1u << 20);
    for (size_t i = 0; !stop; ++i) {
      const uint8_t b = i < bytes.size() ? bytes[i] : 'x';
      if (!SendAll(fd, &b, 1)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  DaemonProcess d;
  d.tier_keys()["servers"] = server.address();
  d.tier_keys()["timeout_ms"] = std::to_string(kTimeoutMs);
  d.tier_keys()["lookup_threads"] = "1";
  d.WriteConfig();
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    Result<AudioBuffer> got = client.Get("piper", "trickle " + std::to_string(i), Format::kWav);
    EXPECT_LE(MsSince(start), kTimeoutMs + kSlackMs) << i;
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, Errc::kNotFound) << got.error().message;
  }
  // The one lookup thread must be free again: a later lookup reaches the
  // server (a second request), instead of queueing behind the first forever.
  // The watchdog interrupts past max(1 s, 4 x timeout_ms), checking every 0.5 s.
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  (void)client.Get("piper", "trickle after", Format::kWav);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_GE(server.requests(), 2) << d.log();
  EXPECT_LE(TerminateMs(d, 5000), 3000) << "SIGTERM with a lookup stuck on a trickling server";
}

int CountFds(pid_t pid) {
  int n = 0;
  if (DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (readdir(dir) != nullptr) n++;
    closedir(dir);
  }
  return n - 2;  // . and ..
}

// Clients that park GETs on tier lookups (of a server that never answers)
// and then go: close at once, shut their write side and read what comes,
// or read one reply and close. Every parked GET is of a connection that is
// gone or going when its deadline passes: the daemon keeps serving, and
// holds no descriptor of theirs.
TEST(TierReview, ClientsThatLeaveWithGetsParkedOnTheTierLeaveNothingBehind) {
  LyingServer silent([](int, const std::string&, const std::atomic<bool>&) {});
  DaemonProcess d;
  d.tier_keys()["servers"] = silent.address();
  d.tier_keys()["timeout_ms"] = "150";
  d.tier_keys()["lookup_threads"] = "1";
  d.WriteConfig();
  ASSERT_TRUE(d.Start()) << d.log();
  const int fds_before = CountFds(d.pid());
  for (int round = 0; round < 6; ++round) {
    testing::RawPeer peer(d.socket_path());
    ASSERT_TRUE(peer.connected);
    std::vector<uint8_t> batch;
    for (int i = 0; i < 64; ++i) {
      const std::string text = "parked " + std::to_string(round) + "/" + std::to_string(i % 40);
      ipc::GetRequest get;
      get.engine = i % 2 ? "piper" : "piper/amy";
      get.text = text;
      get.format = i % 3 ? ipc::AudioFormat::kWav : ipc::AudioFormat::kOpus;
      const std::vector<uint8_t> frame =
          ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kGet), static_cast<uint64_t>(i + 1),
                          ipc::EncodeGetRequest(get));
      batch.insert(batch.end(), frame.begin(), frame.end());
    }
    peer.Send(batch);
    if (round % 3 == 1) {
      shutdown(peer.fd.get(), SHUT_WR);
      for (int i = 0; i < 64; ++i) {
        auto [opcode, id, reply] = peer.Read();
        if (opcode == 0 && id == 0) break;
      }
    } else if (round % 3 == 2) {
      (void)peer.Read();
    }
  }
  // Past every deadline: each parked GET is answered or forgotten.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Client client = d.Connect();
  EXPECT_TRUE(client.Ping().ok()) << d.log();
  Result<AudioBuffer> got = client.Get("piper", "after them", Format::kWav);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::kNotFound) << got.error().message;
  // The client's own connection, and the tier's (one per handle) at most.
  EXPECT_LE(CountFds(d.pid()), fds_before + 1 + 2) << d.log();
  EXPECT_LE(TerminateMs(d, 5000), 3000);
}

// Twenty clients GetOrClaim one phrase at once, on a daemon that misses it
// while the fleet has it (WAV and Opus): the claim logic runs only after the
// tier missed, so all are served from the tier and nobody is told to
// synthesize (no claim taken, no encode).
TEST(TierReview, ClaimsComeAfterTheTierForTwentyClientsAtOnce) {
  MemcachedProcess server;
  ASSERT_TRUE(server.Start());
  auto a = FleetDaemon(server);
  auto b = FleetDaemon(server);
  const std::vector<uint8_t> wav = Tone(13, 0.5);
  Client ca = a->Connect();
  ASSERT_TRUE(ca.Put("piper/amy", "Claimed by nobody.", wav).ok());
  ASSERT_TRUE(ca.Get("piper/amy", "Claimed by nobody.", Format::kOpus).ok());
  ASSERT_TRUE(Eventually([&] { return TierStats(*a).writes >= 2; }));
  // First, on one connection, a WAV GET then an Opus GET: the Opus GET
  // joins a lookup of the WAV alone, deterministically.
  Client first = b->Connect();
  Result<uint64_t> wav_id = first.SendGet("piper/amy", "Claimed by nobody.", Format::kWav);
  Result<uint64_t> opus_id = first.SendGet("piper/amy", "Claimed by nobody.", Format::kOpus);
  ASSERT_TRUE(wav_id.ok() && opus_id.ok());
  constexpr int kClients = 20;
  std::atomic<int> served{0}, claimed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      Client c = b->Connect();
      Result<ClaimedGet> got = c.GetOrClaim("piper/amy", "Claimed by nobody.",
                                            i % 2 ? Format::kWav : Format::kOpus, 2000);
      if (!got.ok()) return;
      if (got->claimed) claimed++;
      if (!got->claimed && got->audio.size() > 0) served++;
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_TRUE(first.ReceiveGet(*wav_id).ok());
  Result<AudioBuffer> opus = first.ReceiveGet(*opus_id);
  ASSERT_TRUE(opus.ok()) << opus.error().message;
  EXPECT_EQ(served, kClients) << b->log();
  EXPECT_EQ(claimed, 0);
  Client cb = b->Connect();
  EXPECT_EQ(cb.Coordination()->claims, 0u);
  EXPECT_EQ(cb.Stats()->encodes, 0u);
  EXPECT_EQ(TierStats(*b).hits, 1u);
}

// Forty connections × 64 GET misses of different phrases at once, while the
// one lookup thread waits on a server that never answers: the lookup queue
// (1,024) fills, the rest are skipped; every GET is answered by its
// deadline (timeout_ms), pings meanwhile are not held up.
TEST(TierReview, AFloodOfDifferentMissesOnASilentPoolIsAnsweredOnTime) {
  LyingServer silent([](int, const std::string&, const std::atomic<bool>&) {});
  DaemonProcess d;
  constexpr int kDeadlineMs = 200;
  d.tier_keys()["servers"] = silent.address();
  d.tier_keys()["timeout_ms"] = std::to_string(kDeadlineMs);
  d.tier_keys()["lookup_threads"] = "1";
  d.WriteConfig();
  ASSERT_TRUE(d.Start()) << d.log();
  constexpr int kConnections = 40, kGets = 64;
  std::vector<std::unique_ptr<testing::RawPeer>> peers;
  const auto start = Clock::now();
  for (int c = 0; c < kConnections; ++c) {
    peers.push_back(std::make_unique<testing::RawPeer>(d.socket_path()));
    ASSERT_TRUE(peers.back()->connected);
    std::vector<uint8_t> batch;
    for (int i = 0; i < kGets; ++i) {
      const std::string text = "flood " + std::to_string(c) + " " + std::to_string(i);
      ipc::GetRequest get;
      get.engine = "piper";
      get.text = text;
      const std::vector<uint8_t> frame =
          ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kGet), static_cast<uint64_t>(i + 1),
                          ipc::EncodeGetRequest(get));
      batch.insert(batch.end(), frame.begin(), frame.end());
    }
    peers.back()->Send(batch);
  }
  Client pinger = d.Connect();
  const auto ping_start = Clock::now();
  EXPECT_TRUE(pinger.Ping().ok());
  EXPECT_LE(MsSince(ping_start), kDeadlineMs + kSlackMs);
  int answered = 0;
  for (auto& peer : peers) {
    std::set<uint64_t> ids;  // replies come in any order: the skipped first
    for (int i = 0; i < kGets; ++i) {
      auto [opcode, id, reply] = peer->Read();
      if (opcode != 0) ids.insert(id);
    }
    answered += static_cast<int>(ids.size());
  }
  EXPECT_EQ(answered, kConnections * kGets);
  EXPECT_LE(MsSince(start), kDeadlineMs + kSlackMs);
  const ipc::TierStatsWire s = TierStats(d);
  EXPECT_LE(s.lookups, 1024u + 1u);
  EXPECT_GE(s.skipped, 1u);
  EXPECT_EQ(s.lookups + s.skipped, static_cast<uint64_t>(kConnections * kGets));
  EXPECT_LE(TerminateMs(d, 5000), 3000);
}

// The smallest max_item_bytes with a pool of many servers: the bound on
// libmemcached's allocations (set against huge values) must not refuse its
// own bookkeeping — one block holds every server's buffers.
TEST(TierReview, ATinyMaxItemBytesWorksWithManyServers) {
  MemcachedProcess server;
  ASSERT_TRUE(server.Start());
  std::vector<std::unique_ptr<LyingServer>> silent;
  std::string servers = server.address();
  for (int i = 0; i < 9; ++i) {  // ten in all: a config line holds 198 bytes
    silent.push_back(
        std::make_unique<LyingServer>([](int, const std::string&, const std::atomic<bool>&) {}));
    servers += ", " + silent.back()->address();
  }
  auto a = std::make_unique<DaemonProcess>();
  a->tier_keys()["servers"] = servers;
  a->tier_keys()["max_item_bytes"] = "1K";
  a->tier_keys()["timeout_ms"] = "100";
  a->WriteConfig();
  ASSERT_TRUE(a->Start()) << a->log();
  EXPECT_EQ(TierStats(*a).servers, 10u) << a->log();
  Client ca = a->Connect();
  ASSERT_TRUE(ca.Put("piper", "tiny", Tone(14, 0.001)).ok());
  (void)ca.Get("piper", "not there", Format::kWav);
  EXPECT_TRUE(ca.Ping().ok());
  EXPECT_EQ(a->log().find("bounded allocators"), std::string::npos) << a->log();
}

// A lookup that answers after its deadline still stores what it found — but
// not over an entry put here meanwhile: the client, told "miss" at the
// deadline, synthesized and put its own WAV; the fleet's copy arriving late
// must not replace it (nor drop the variants made from it).
TEST(TierReview, ALateTierAnswerDoesNotReplaceAPutMadeMeanwhile) {
  const std::vector<uint8_t> fleet_wav = Tone(15, 0.2);
  LyingServer late([&](int fd, const std::string& key, const std::atomic<bool>& stop) {
    const std::vector<uint8_t> value = EncodeTierValue(TierValueKind::kWav, key, fleet_wav);
    std::vector<uint8_t> reply = GetkHeader(key, static_cast<uint32_t>(value.size()));
    reply.insert(reply.end(), value.begin(), value.end());
    std::vector<uint8_t> noop(24, 0);
    noop[0] = 0x81;
    noop[1] = 0x0a;  // NOOP: the end of the multi-get
    reply.insert(reply.end(), noop.begin(), noop.end());
    // Slowly, but never idle for a whole poll (timeout_ms): it arrives
    // whole, some 400 ms after it was asked, well past the GET's deadline.
    for (size_t i = 0; i < 8 && !stop; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      SendAll(fd, reply.data() + i, 1);
    }
    SendAll(fd, reply.data() + 8, reply.size() - 8);
  });
  DaemonProcess d;
  d.tier_keys()["servers"] = late.address();
  d.tier_keys()["timeout_ms"] = std::to_string(kTimeoutMs);
  d.WriteConfig();
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  Result<AudioBuffer> miss = client.Get("piper", "said late", Format::kWav);
  ASSERT_FALSE(miss.ok());
  const std::vector<uint8_t> local_wav = Tone(16, 0.2);
  ASSERT_TRUE(client.Put("piper", "said late", local_wav).ok());
  // The lookup answers 400 ms after it asked; then it has stored, or not.
  ASSERT_TRUE(Eventually([&] { return TierStats(d).hits + TierStats(d).misses >= 1; })) << d.log();
  Result<AudioBuffer> got = client.Get("piper", "said late", Format::kWav);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_TRUE(ToVector(*got) == local_wav) << "the late fleet copy replaced the local put";
  EXPECT_FALSE(ToVector(*got) == fleet_wav);
}

// X holds the claim on a phrase (the tier missed it), Z waits on X's claim;
// then A puts the phrase (into the pool) and Y's GET on B finds it in the
// tier: the WAV the tier stored fulfils X's claim, and Z is served at once,
// without X ever putting.
TEST(TierReview, ATierHitServesTheWaitersOfAClaimHeldElsewhere) {
  MemcachedProcess server;
  ASSERT_TRUE(server.Start());
  auto a = FleetDaemon(server);
  auto b = FleetDaemon(server);
  const std::string text = "Claimed on B, put on A.";
  Client x = b->Connect();
  Result<ClaimedGet> claim = x.GetOrClaim("piper", text, Format::kWav, 0);
  ASSERT_TRUE(claim.ok() && claim->claimed) << (claim.ok() ? "not claimed" : claim.error().message);
  std::atomic<bool> z_served{false};
  std::thread z([&] {
    Client cz = b->Connect();
    Result<ClaimedGet> got = cz.GetOrClaim("piper", text, Format::kWav, 5000);
    z_served = got.ok() && !got->claimed && got->audio.size() > 0;
  });
  ASSERT_TRUE(Eventually([&] { return x.Coordination()->waiting >= 1; }));
  const std::vector<uint8_t> wav = Tone(17, 0.2);
  ASSERT_TRUE(a->Connect().Put("piper", text, wav).ok());
  ASSERT_TRUE(Eventually([&] { return TierStats(*a).writes >= 1; }));
  const auto start = Clock::now();
  Result<AudioBuffer> y = b->Connect().Get("piper", text, Format::kWav);
  ASSERT_TRUE(y.ok()) << y.error().message;
  EXPECT_TRUE(ToVector(*y) == wav);
  z.join();
  EXPECT_TRUE(z_served);
  EXPECT_LE(MsSince(start), 2000) << "Z waited for its wait_ms, not the tier's WAV";
}

// One binary request from `fd`: its opcode and key; false on EOF or stop.
bool ReadRequest(int fd, uint8_t* opcode, std::string* key, const std::atomic<bool>& stop) {
  uint8_t header[24];
  if (!ReadExactly(fd, header, sizeof header, stop)) return false;
  const size_t key_length = (size_t{header[2]} << 8) | header[3];
  const size_t body = (size_t{header[8]} << 24) | (size_t{header[9]} << 16) |
                      (size_t{header[10]} << 8) | header[11];
  std::vector<uint8_t> rest(body);
  if (!ReadExactly(fd, rest.data(), body, stop) || header[4] + key_length > body) return false;
  *opcode = header[1];
  key->assign(reinterpret_cast<const char*>(rest.data()) + header[4], key_length);
  return true;
}

// A pool member that answers every key with a value that is not a tier
// value (another program's, or memory gone bad): each is a miss, counted
// corrupt — and the log says so a bounded number of times, not once per
// GET, or a bad server floods the journal at the request rate.
TEST(TierReview, ACorruptEverywhereServerDoesNotFloodTheLog) {
  auto answer = [](int fd, const std::string& key) {
    std::vector<uint8_t> reply = GetkHeader(key, 64);
    reply.insert(reply.end(), 64, 'z');
    SendAll(fd, reply.data(), reply.size());
  };
  LyingServer bad([&](int fd, const std::string& first, const std::atomic<bool>& stop) {
    answer(fd, first);
    uint8_t opcode = 0;
    std::string key;
    while (ReadRequest(fd, &opcode, &key, stop)) {
      if (opcode == 0x0a) {  // NOOP: the multi-get's end
        std::vector<uint8_t> noop(24, 0);
        noop[0] = 0x81;
        noop[1] = 0x0a;
        SendAll(fd, noop.data(), noop.size());
      } else if (opcode == 0x0d || opcode == 0x0c) {  // GETKQ, GETK
        answer(fd, key);
      } else if (opcode == 0x04 || opcode == 0x14) {  // DELETE(Q): "deleted"
        std::vector<uint8_t> ok(24, 0);
        ok[0] = 0x81;
        ok[1] = opcode;
        if (opcode == 0x04) SendAll(fd, ok.data(), ok.size());
      }
    }
  });
  DaemonProcess d;
  d.tier_keys()["servers"] = bad.address();
  d.tier_keys()["timeout_ms"] = "300";
  d.WriteConfig();
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  constexpr int kGets = 40;
  for (int i = 0; i < kGets; ++i) {
    Result<AudioBuffer> got = client.Get("piper", "corrupt " + std::to_string(i), Format::kWav);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, Errc::kNotFound) << got.error().message;
  }
  // Some lookups end in errors instead (the breaker may open): a few corrupt
  // values suffice, each of which logged its own line before.
  EXPECT_GE(TierStats(d).corrupt, 3u) << d.log();
  const std::string log = d.log();
  size_t lines = 0;
  const std::string corrupt_line = "tier: ttscache:1:";
  for (size_t at = log.find(corrupt_line); at != std::string::npos;
       at = log.find(corrupt_line, at + 1)) {
    lines++;
  }
  EXPECT_EQ(lines, 1u) << log;
}

// A variant in the pool is keyed by its entry's text and parameters, not by
// the WAV it was encoded from. A puts WAV v1 and encodes its variant (both
// written to the pool); B then puts WAV v2 of the same text (its WAV
// overwrites v1's in the pool, the variant stays). C asks for Opus: the
// multi-get returns WAV v2 with v1's variant, and C serves v1's audio as
// the Opus of v2; B, holding v2, fetches the variant alone and does too.
// Both expectations failed on 809a7e9; main's 72274de (a variant's value
// names its WAV's CRC-32C, checked against the WAV it is joined to) fixed it.
TEST(TierReview, AVariantOfAnotherWavIsNeverServed) {
  MemcachedProcess server;
  ASSERT_TRUE(server.Start());
  auto a = FleetDaemon(server);
  auto b = FleetDaemon(server);
  auto c = FleetDaemon(server);
  const std::string text = "Said twice, differently.";
  Client ca = a->Connect();
  ASSERT_TRUE(ca.Put("piper", text, Tone(11, 1.0)).ok());
  Result<AudioBuffer> opus_v1 = ca.Get("piper", text, Format::kOpus);
  ASSERT_TRUE(opus_v1.ok()) << opus_v1.error().message;
  ASSERT_TRUE(Eventually([&] { return TierStats(*a).writes >= 2; })) << "the WAV and its variant";
  Client cb = b->Connect();
  const std::vector<uint8_t> v2 = Tone(12, 1.0);
  ASSERT_TRUE(cb.Put("piper", text, v2).ok());
  ASSERT_TRUE(Eventually([&] { return TierStats(*b).writes >= 1; })) << "WAV v2";

  {  // The two WAVs do encode differently (a daemon of its own, no tier).
    DaemonProcess alone;
    ASSERT_TRUE(alone.Start()) << alone.log();
    Client cl = alone.Connect();
    ASSERT_TRUE(cl.Put("piper", text, v2).ok());
    Result<AudioBuffer> opus_v2 = cl.Get("piper", text, Format::kOpus);
    ASSERT_TRUE(opus_v2.ok()) << opus_v2.error().message;
    ASSERT_TRUE(ToVector(*opus_v2) != ToVector(*opus_v1));
  }
  Client cc = c->Connect();
  Result<AudioBuffer> opus_c = cc.Get("piper", text, Format::kOpus);
  ASSERT_TRUE(opus_c.ok()) << opus_c.error().message;
  Result<AudioBuffer> wav_c = cc.Get("piper", text, Format::kWav);
  ASSERT_TRUE(wav_c.ok());
  ASSERT_EQ(ToVector(*wav_c), v2) << "C holds WAV v2";
  EXPECT_TRUE(ToVector(*opus_c) != ToVector(*opus_v1)) << "C serves v1's Opus for WAV v2";

  Result<AudioBuffer> opus_b = cb.Get("piper", text, Format::kOpus);
  ASSERT_TRUE(opus_b.ok()) << opus_b.error().message;
  EXPECT_TRUE(ToVector(*opus_b) != ToVector(*opus_v1)) << "B serves v1's Opus for its WAV v2";
}

}  // namespace
}  // namespace ttscache
