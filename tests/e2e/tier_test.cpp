// The fleet tier end to end (issue #19, docs/fleet.md): real ttscached
// processes sharing real memcached servers on loopback. What one daemon puts
// or encodes, another serves; a server killed, all killed, a corrupt value,
// a server that never answers: every GET is answered (a hit or a miss, never
// an error), within [tier] timeout_ms plus slack. STATS flag 16 is read with
// raw frames, so these tests need nothing of the client library's tier API.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "core/cachekey/cache_key.hpp"
#include "ipc/frame.hpp"
#include "ipc/protocol.hpp"
#include "tests/e2e/daemon_e2e_helpers.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/e2e/tier_e2e_helpers.hpp"
#include "tests/support/memcached_process.hpp"
#include "tests/support/raw_peer.hpp"
#include "tests/support/silent_server.hpp"

namespace ttscache {
namespace {

using Clock = std::chrono::steady_clock;
using e2e::Tone;
using e2e::ToVector;
using testing::DaemonProcess;
using testing::MemcachedProcess;
using testing::SilentServer;
using tier_e2e::Eventually;
using tier_e2e::MsSince;
using tier_e2e::TierStats;

constexpr int kTimeoutMs = 100;
// Generous: CI runs this under ASan and TSan on two shared cores.
constexpr int64_t kSlackMs = 1500;

std::string Servers(const std::vector<std::unique_ptr<MemcachedProcess>>& pool) {
  std::string list;
  for (const auto& m : pool) list += (list.empty() ? "" : ", ") + m->address();
  return list;
}

struct Fleet {
  std::vector<std::unique_ptr<MemcachedProcess>> pool;
  std::vector<std::unique_ptr<DaemonProcess>> daemons;

  explicit Fleet(int servers) {
    for (int i = 0; i < servers; ++i) {
      pool.push_back(std::make_unique<MemcachedProcess>());
      EXPECT_TRUE(pool.back()->Start()) << "memcached " << i;
    }
  }
  // Another daemon of the fleet: its own socket and cache dir.
  DaemonProcess& AddDaemon(std::map<std::string, std::string> tier = {}) {
    daemons.push_back(std::make_unique<DaemonProcess>());
    DaemonProcess& d = *daemons.back();
    d.tier_keys() = std::move(tier);
    d.tier_keys()["servers"] = Servers(pool);
    d.tier_keys().emplace("timeout_ms", std::to_string(kTimeoutMs));
    d.WriteConfig();
    EXPECT_TRUE(d.Start()) << d.log();
    return d;
  }
};

// A memcached key as the tier spells it (docs/fleet.md).
std::string TierKey(const std::string& engine, const std::string& text) {
  return "ttscache:1:" + engine + ":" + ComputeCacheKey(text).value().hex();
}

// memcached's text protocol, to read and overwrite a value as a careless
// (or hostile) peer of the pool would.
class MemcachedText {
 public:
  explicit MemcachedText(int port) {
    fd_.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    connected_ = connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  // The value and its flags; nullopt when missing.
  std::optional<std::pair<std::string, uint32_t>> Get(const std::string& key) {
    if (!connected_ || !Send("get " + key + "\r\n")) return std::nullopt;
    std::string line = ReadLine();
    if (line.rfind("VALUE ", 0) != 0) return std::nullopt;
    unsigned flags = 0;
    size_t bytes = 0;
    char name[300];
    if (std::sscanf(line.c_str(), "VALUE %299s %u %zu", name, &flags, &bytes) != 3) return {};
    std::string value = ReadBytes(bytes + 2).substr(0, bytes);
    ReadLine();  // END
    return std::make_pair(value, static_cast<uint32_t>(flags));
  }
  bool Set(const std::string& key, const std::string& value, uint32_t flags) {
    if (!Send("set " + key + " " + std::to_string(flags) + " 0 " + std::to_string(value.size()) +
              "\r\n" + value + "\r\n")) {
      return false;
    }
    return ReadLine() == "STORED";
  }

 private:
  bool Send(const std::string& s) {
    return ::send(fd_.get(), s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  std::string ReadBytes(size_t n) {
    while (buffer_.size() < n) {
      char chunk[65536];
      ssize_t got = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (got <= 0) break;
      buffer_.append(chunk, static_cast<size_t>(got));
    }
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, out.size());
    return out;
  }
  std::string ReadLine() {
    size_t end;
    while ((end = buffer_.find("\r\n")) == std::string::npos) {
      char chunk[65536];
      ssize_t got = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (got <= 0) return {};
      buffer_.append(chunk, static_cast<size_t>(got));
    }
    std::string line = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    return line;
  }
  UniqueFd fd_;
  bool connected_ = false;
  std::string buffer_;
};

TEST(Tier, APutOnOneDaemonIsAHitOnTheOthers) {
  Fleet fleet(3);
  DaemonProcess& a = fleet.AddDaemon();
  DaemonProcess& b = fleet.AddDaemon();
  DaemonProcess& c = fleet.AddDaemon();
  const std::vector<uint8_t> wav = Tone(1);
  ASSERT_TRUE(a.Connect().Put("piper", "Shared by the fleet.", wav).ok());
  ASSERT_TRUE(Eventually([&] { return TierStats(a).writes >= 1; })) << a.log();
  EXPECT_EQ(TierStats(a).servers, 3u);

  Result<AudioBuffer> on_b = b.Connect().Get("piper", "Shared by the fleet.", Format::kWav);
  ASSERT_TRUE(on_b.ok()) << on_b.error().message << b.log();
  EXPECT_EQ(ToVector(*on_b), wav);
  const ipc::TierStatsWire sb = TierStats(b);
  EXPECT_TRUE(sb.enabled);
  EXPECT_EQ(sb.lookups, 1u);
  EXPECT_EQ(sb.hits, 1u);
  // Now cached on B: a local hit, no second lookup.
  ASSERT_TRUE(b.Connect().Get("piper", "Shared by the fleet.", Format::kWav).ok());
  EXPECT_EQ(TierStats(b).lookups, 1u);
  // The normalized text names the entry: another spelling is the same.
  Result<AudioBuffer> on_c = c.Connect().Get("piper", "  shared BY the fleet. ", Format::kWav);
  ASSERT_TRUE(on_c.ok()) << on_c.error().message;
  EXPECT_EQ(ToVector(*on_c), wav);
  EXPECT_EQ(TierStats(c).hits, 1u);
  // What came from the tier is not written back.
  EXPECT_EQ(TierStats(c).writes, 0u);
}

// An entry an operator deletes must not come back from the tier: DELETE
// removes the pool's copy too, cached here or not.
TEST(Tier, ADeletedEntryIsDeletedFromThePoolToo) {
  Fleet fleet(1);
  DaemonProcess& a = fleet.AddDaemon();
  DaemonProcess& b = fleet.AddDaemon();
  MemcachedText pool(fleet.pool[0]->port());
  Client ca = a.Connect();
  ASSERT_TRUE(ca.Put("piper", "Said by mistake.", Tone(5)).ok());
  ASSERT_TRUE(ca.Put("piper", "Only in the pool.", Tone(6)).ok());
  ASSERT_TRUE(Eventually([&] { return TierStats(a).writes >= 2; })) << a.log();
  ASSERT_TRUE(pool.Get(TierKey("piper", "Said by mistake.")).has_value());

  Result<DeleteResult> deleted = ca.Delete("piper", "Said by mistake.");
  ASSERT_TRUE(deleted.ok()) << deleted.error().message;
  EXPECT_TRUE(deleted->deleted);
  // B never had the other one: deleting it there still reaches the pool.
  Client cb = b.Connect();
  deleted = cb.Delete("piper", "Only in the pool.");
  ASSERT_TRUE(deleted.ok()) << deleted.error().message;
  EXPECT_FALSE(deleted->deleted);
  ASSERT_TRUE(Eventually([&] {
    return !pool.Get(TierKey("piper", "Said by mistake.")).has_value() &&
           !pool.Get(TierKey("piper", "Only in the pool.")).has_value();
  })) << "still in the pool";
  for (const char* text : {"Said by mistake.", "Only in the pool."}) {
    Result<AudioBuffer> got = cb.Get("piper", text, Format::kWav);
    ASSERT_FALSE(got.ok()) << text << " came back from the tier";
    EXPECT_EQ(got.error().code, Errc::kNotFound) << text;
  }
  Result<AudioBuffer> got = ca.Get("piper", "Said by mistake.", Format::kWav);
  ASSERT_FALSE(got.ok()) << "came back from the tier";
  EXPECT_EQ(got.error().code, Errc::kNotFound);
  // Invalidation is per host: A's own copy of the other stays (docs/fleet.md).
  EXPECT_TRUE(ca.Get("piper", "Only in the pool.", Format::kWav).ok());
  EXPECT_EQ(TierStats(b).hits, 0u);
}

TEST(Tier, AnOpusVariantIsEncodedOnceInTheFleet) {
  Fleet fleet(3);
  DaemonProcess& a = fleet.AddDaemon();
  DaemonProcess& b = fleet.AddDaemon();
  const std::vector<uint8_t> wav = Tone(2, 1.0);
  Client ca = a.Connect();
  ASSERT_TRUE(ca.Put("piper", "Encoded once.", wav).ok());
  Result<AudioBuffer> opus_a = ca.Get("piper", "Encoded once.", Format::kOpus);
  ASSERT_TRUE(opus_a.ok()) << opus_a.error().message;
  EXPECT_EQ(ca.Stats()->encodes, 1u);
  ASSERT_TRUE(Eventually([&] { return TierStats(a).writes >= 2; })) << "the WAV and its variant";

  Client cb = b.Connect();
  Result<AudioBuffer> opus_b = cb.Get("piper", "Encoded once.", Format::kOpus);
  ASSERT_TRUE(opus_b.ok()) << opus_b.error().message;
  EXPECT_EQ(ToVector(*opus_b), ToVector(*opus_a));
  EXPECT_EQ(cb.Stats()->encodes, 0u) << "B encoded what A had encoded";
  const ipc::TierStatsWire sb = TierStats(b);
  EXPECT_EQ(sb.hits, 1u);
  EXPECT_EQ(sb.variant_hits, 1u);
  // Its WAV came along.
  Result<AudioBuffer> wav_b = cb.Get("piper", "Encoded once.", Format::kWav);
  ASSERT_TRUE(wav_b.ok());
  EXPECT_EQ(ToVector(*wav_b), wav);
  EXPECT_EQ(TierStats(b).lookups, 1u);
}

TEST(Tier, AVariantAloneIsFetchedWhenTheWavIsLocal) {
  Fleet fleet(1);
  DaemonProcess& a = fleet.AddDaemon();
  DaemonProcess& b = fleet.AddDaemon();
  const std::vector<uint8_t> wav = Tone(3, 0.5);
  // Both have the WAV (B got it from its backend); A encodes the variant.
  ASSERT_TRUE(b.Connect().Put("piper", "Both have it.", wav).ok());
  Client ca = a.Connect();
  ASSERT_TRUE(ca.Put("piper", "Both have it.", wav).ok());
  ASSERT_TRUE(ca.Get("piper", "Both have it.", Format::kOpus).ok());
  ASSERT_TRUE(Eventually([&] { return TierStats(a).writes >= 2; }));
  Client cb = b.Connect();
  Result<AudioBuffer> opus_b = cb.Get("piper", "Both have it.", Format::kOpus);
  ASSERT_TRUE(opus_b.ok()) << opus_b.error().message;
  EXPECT_EQ(cb.Stats()->encodes, 0u);
  EXPECT_EQ(TierStats(b).variant_hits, 1u);
}

TEST(Tier, AKilledServerCostsMissesNotErrorsAndIsRefilled) {
  Fleet fleet(3);
  DaemonProcess& a = fleet.AddDaemon();
  DaemonProcess& b = fleet.AddDaemon();
  DaemonProcess& c = fleet.AddDaemon();
  constexpr int kKeys = 200;
  auto text = [](int i) { return "phrase number " + std::to_string(i); };
  const std::vector<uint8_t> wav = Tone(4, 0.05);
  {
    Client ca = a.Connect();
    for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(ca.Put("xtts", text(i), wav).ok()) << i;
  }
  ASSERT_TRUE(Eventually([&] { return TierStats(a).writes >= kKeys; }))
      << TierStats(a).writes << " writes, " << TierStats(a).dropped << " dropped";
  fleet.pool[1]->Kill();

  Client cb = b.Connect();
  std::vector<int> missed;
  for (int i = 0; i < kKeys; ++i) {
    const auto start = Clock::now();
    Result<AudioBuffer> got = cb.Get("xtts", text(i), Format::kWav);
    EXPECT_LE(MsSince(start), kTimeoutMs + kSlackMs) << i;
    if (got.ok()) {
      EXPECT_EQ(ToVector(*got), wav) << i;
    } else {
      ASSERT_EQ(got.error().code, Errc::kNotFound) << i << ": " << got.error().message;
      missed.push_back(i);
    }
  }
  EXPECT_FALSE(missed.empty()) << "a third of the keys were on the killed server";
  EXPECT_LT(missed.size(), static_cast<size_t>(kKeys)) << "the others were still served";
  // The backend synthesizes what missed and puts it, as it would.
  for (int i : missed) ASSERT_TRUE(cb.Put("xtts", text(i), wav).ok());
  // Written, or failed on the dead server before B's writer ejected it
  // (write-behind does not retry: a write lost is a later miss, no more).
  ASSERT_TRUE(Eventually([&] {
    const ipc::TierStatsWire s = TierStats(b);
    return s.writes + s.write_errors >= missed.size();
  })) << TierStats(b).writes
      << " writes, " << TierStats(b).write_errors << " write errors, " << TierStats(b).skipped
      << " skipped, state " << int(TierStats(b).state) << "\n"
      << b.log();
  const ipc::TierStatsWire sb = TierStats(b);
  EXPECT_EQ(sb.state, ipc::TierState::kUp) << "one server of three down is not the tier down";
  EXPECT_LE(sb.write_errors, 3u) << "the dead server was not ejected";
  EXPECT_LE(sb.errors, 10u) << "lookups kept going to the dead server";

  // C, which never saw any of it, is served everything from the tier. A
  // lookup that still went to the dead server (before C ejected it) is a
  // miss: asked again, it is a hit.
  Client cc = c.Connect();
  int hits = 0;
  for (int i = 0; i < kKeys; ++i) {
    bool hit = false;
    for (int attempt = 0; attempt < 5 && !hit; ++attempt) {
      Result<AudioBuffer> got = cc.Get("xtts", text(i), Format::kWav);
      if (got.ok()) {
        EXPECT_EQ(ToVector(*got), wav);
        hit = true;
      } else {
        ASSERT_EQ(got.error().code, Errc::kNotFound) << got.error().message;
      }
    }
    hits += hit;
  }
  EXPECT_GE(hits, kKeys - static_cast<int>(sb.write_errors)) << c.log();
  EXPECT_EQ(TierStats(c).state, ipc::TierState::kUp);
}

TEST(Tier, WithEveryServerDeadAGetIsAMissOrALocalHitOnTime) {
  Fleet fleet(3);
  DaemonProcess& d = fleet.AddDaemon();
  Client client = d.Connect();
  const std::vector<uint8_t> wav = Tone(5, 0.05);
  ASSERT_TRUE(client.Put("piper", "kept locally", wav).ok());
  for (auto& m : fleet.pool) m->Kill();
  for (int i = 0; i < 60; ++i) {
    const auto start = Clock::now();
    Result<AudioBuffer> got = client.Get("piper", "never cached " + std::to_string(i),
                                         i % 2 ? Format::kOpus : Format::kWav);
    EXPECT_LE(MsSince(start), kTimeoutMs + kSlackMs) << i;
    ASSERT_FALSE(got.ok());
    ASSERT_EQ(got.error().code, Errc::kNotFound) << got.error().message;
    Result<AudioBuffer> local = client.Get("piper", "kept locally", Format::kWav);
    ASSERT_TRUE(local.ok()) << local.error().message;
  }
  ASSERT_TRUE(Eventually([&] { return TierStats(d).state == ipc::TierState::kDown; }))
      << "errors " << TierStats(d).errors;
  EXPECT_GE(TierStats(d).breaker_opens, 1u);
  // Down: lookups are skipped, not waited for.
  const auto start = Clock::now();
  EXPECT_EQ(client.Get("piper", "while down", Format::kWav).error().code, Errc::kNotFound);
  EXPECT_LE(MsSince(start), kSlackMs);
  EXPECT_GE(TierStats(d).skipped, 1u);
}

TEST(Tier, ACorruptValueIsAMissNeverServed) {
  Fleet fleet(1);
  DaemonProcess& a = fleet.AddDaemon();
  const std::vector<uint8_t> wav = Tone(6, 0.2);
  ASSERT_TRUE(a.Connect().Put("piper", "Tampered with.", wav).ok());
  ASSERT_TRUE(Eventually([&] { return TierStats(a).writes >= 1; }));
  MemcachedText peer(fleet.pool[0]->port());
  const std::string key = TierKey("piper", "Tampered with.");
  auto stored = peer.Get(key);
  ASSERT_TRUE(stored) << "no value under " << key;
  std::string value = stored->first;
  value[value.size() - 100] ^= 0x20;  // one bit of the audio
  ASSERT_TRUE(peer.Set(key, value, stored->second));

  DaemonProcess& fresh = fleet.AddDaemon();
  Client client = fresh.Connect();
  Result<AudioBuffer> got = client.Get("piper", "Tampered with.", Format::kWav);
  ASSERT_FALSE(got.ok()) << "served a corrupt value";
  EXPECT_EQ(got.error().code, Errc::kNotFound);
  const ipc::TierStatsWire s = TierStats(fresh);
  EXPECT_EQ(s.corrupt, 1u);
  EXPECT_EQ(s.hits, 0u);
  // Not cached here either.
  EXPECT_EQ(client.Get("piper", "Tampered with.", Format::kWav).error().code, Errc::kNotFound);
}

TEST(Tier, TwentyClientsAtOnceShareOneLookup) {
  Fleet fleet(1);
  DaemonProcess& a = fleet.AddDaemon();
  const std::vector<uint8_t> wav = Tone(7, 1.0);
  ASSERT_TRUE(a.Connect().Put("piper", "Everyone wants it.", wav).ok());
  ASSERT_TRUE(Eventually([&] { return TierStats(a).writes >= 1; }));
  DaemonProcess& fresh = fleet.AddDaemon();
  std::vector<Client> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(fresh.Connect());
  std::atomic<int> ready{0};
  std::vector<std::vector<uint8_t>> got(20);
  std::vector<std::string> failed(20);
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      ready++;
      while (ready < 20) std::this_thread::yield();
      Result<AudioBuffer> r =
          clients[i].Get("piper", "Everyone wants it.", Format::kWav, DaemonDefaultOpus(), i % 2);
      if (r.ok()) {
        got[i] = ToVector(*r);
      } else {
        failed[i] = r.error().message;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(failed[i], "") << i;
    EXPECT_EQ(got[i], wav) << i;
  }
  const ipc::TierStatsWire s = TierStats(fresh);
  EXPECT_EQ(s.lookups, 1u) << "coalesced " << s.coalesced;
  EXPECT_EQ(s.hits, 1u);
}

TEST(Tier, AServerThatNeverAnswersCostsAtMostTimeoutMs) {
  SilentServer silent;
  DaemonProcess d;
  d.tier_keys()["servers"] = silent.address();
  d.tier_keys()["timeout_ms"] = std::to_string(kTimeoutMs);
  d.WriteConfig();
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  ASSERT_TRUE(client.Put("piper", "local", Tone(8, 0.05)).ok());
  // Other clients are served meanwhile: the loop never waits for the tier.
  std::atomic<bool> done{false};
  std::atomic<int> pings{0}, slow_pings{0};
  std::thread other([&] {
    Client c = d.Connect();
    while (!done) {
      const auto start = Clock::now();
      EXPECT_TRUE(c.Ping().ok());
      if (MsSince(start) >= kTimeoutMs) slow_pings++;
      pings++;
      ASSERT_TRUE(c.Get("piper", "local", Format::kWav).ok());
    }
  });
  for (int i = 0; i < 20; ++i) {
    const auto start = Clock::now();
    Result<AudioBuffer> got = client.Get("piper", "silence " + std::to_string(i), Format::kWav);
    EXPECT_LE(MsSince(start), kTimeoutMs + kSlackMs) << i;
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, Errc::kNotFound) << got.error().message;
  }
  done = true;
  other.join();
  EXPECT_GT(pings, 20);
  // A loop that waited for the tier would make every ping wait a lookup.
  EXPECT_LT(slow_pings * 10, pings) << slow_pings << " of " << pings << " pings waited";
  const ipc::TierStatsWire s = TierStats(d);
  EXPECT_GE(s.timeouts + s.errors + s.skipped, 1u);
  const auto start = Clock::now();
  EXPECT_EQ(d.Stop(), 0);
  EXPECT_LE(MsSince(start), 3000) << "SIGTERM with lookups stuck on a silent server";
}

// The deadline is the loop's, not the lookup's: with one lookup thread,
// lookups of a silent server queue behind each other (each ends after its
// own I/O timeouts), yet every GET is answered at timeout_ms.
TEST(Tier, GetsQueuedBehindASilentServerAreAnsweredAtTheDeadline) {
  SilentServer silent;
  DaemonProcess d;
  constexpr int kSlowTimeoutMs = 300;
  d.tier_keys()["servers"] = silent.address();
  d.tier_keys()["timeout_ms"] = std::to_string(kSlowTimeoutMs);
  d.tier_keys()["lookup_threads"] = "1";
  d.WriteConfig();
  ASSERT_TRUE(d.Start()) << d.log();
  Client client = d.Connect();
  constexpr int kGets = 30;
  const auto start = Clock::now();
  std::vector<uint64_t> ids;
  for (int i = 0; i < kGets; ++i) {
    Result<uint64_t> id = client.SendGet("piper", "queued " + std::to_string(i), Format::kWav);
    ASSERT_TRUE(id.ok()) << id.error().message;
    ids.push_back(*id);
  }
  for (uint64_t id : ids) {
    Result<AudioBuffer> got = client.ReceiveGet(id);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, Errc::kNotFound) << got.error().message;
  }
  // Without the loop's deadline the last would wait for the lookups before
  // it: five of them (until the breaker opens) of at least 300 ms each.
  EXPECT_LE(MsSince(start), kSlowTimeoutMs + 700);
  EXPECT_GE(TierStats(d).timeouts, 1u);
}

TEST(Tier, CredentialsItCannotReadStopTheDaemonWithExit78) {
  MemcachedProcess server;
  ASSERT_TRUE(server.Start());
  DaemonProcess d;
  d.tier_keys()["servers"] = server.address();
  d.tier_keys()["sasl_credentials"] = d.dir() + "/no-such-file";
  d.WriteConfig();
  ASSERT_TRUE(d.Start({}, {}, /*wait_ready=*/false));
  int status = 0;
  ASSERT_EQ(waitpid(d.pid(), &status, 0), d.pid());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 78) << d.log();
  EXPECT_THAT(d.log(), ::testing::HasSubstr("no-such-file"));
}

TEST(Tier, AReloadThatChangesTheTierSaysItNeedsARestart) {
  MemcachedProcess server;
  ASSERT_TRUE(server.Start());
  DaemonProcess d;
  d.tier_keys()["servers"] = server.address();
  d.WriteConfig();
  ASSERT_TRUE(d.Start()) << d.log();
  d.tier_keys()["timeout_ms"] = "250";
  d.WriteConfig();
  d.Signal(SIGHUP);
  EXPECT_TRUE(Eventually([&] {
    return d.log().find("[tier] changes need a restart") != std::string::npos;
  })) << d.log();
  EXPECT_TRUE(TierStats(d).enabled) << "the running tier stays";
}

TEST(Tier, WithoutTheSectionTheTierIsOff) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start());
  const ipc::TierStatsWire s = TierStats(d);
  EXPECT_FALSE(s.enabled);
  EXPECT_EQ(s.lookups, 0u);
  Client client = d.Connect();
  EXPECT_EQ(client.Get("piper", "nothing", Format::kWav).error().code, Errc::kNotFound);
  EXPECT_EQ(TierStats(d).lookups, 0u);
}

}  // namespace
}  // namespace ttscache
