// Coordinating synthesis end to end, with real processes: each client is a
// forked child with its own libttscache connection to one real ttscached,
// as the Node backends of one host would be. What they saw is written to a
// MAP_SHARED page and checked by the parent once they exit:
//  (a) 20 processes missing one phrase at once synthesize it once;
//  (b) a claimer SIGKILLed mid-synthesis hands the claim to one waiter;
//  (c) a claimer that never puts loses its claim when its lease ends, and a
//      waiter whose wait is shorter than the lease gets its miss on time;
//  (d) 8 processes through a slot of size 2 never run more than 2 at once;
//  (e) a slot holder SIGKILLed while holding frees its unit at once;
//  (f) hostile clients: 1,024 GETs parked by one connection and one more
//      refused, max_claims over many connections, a waiter that vanishes.
// tests/e2e/coordinate_dispatch_test.cpp has the daemon's single-process
// cases with raw frames.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "ipc/messages.hpp"
#include "tests/e2e/daemon_e2e_helpers.hpp"
#include "tests/e2e/daemon_process.hpp"
#include "tests/support/raw_peer.hpp"

namespace ttscache {
namespace {

using testing::DaemonProcess;
using ::testing::HasSubstr;

int64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // one clock for every process
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// What one child saw.
enum Outcome : int {
  kNotRun = 0,
  kClaimed,     // GetOrClaim: the claim was ours
  kSameBytes,   // GetOrClaim: the audio, byte for byte what the claimer put
  kOtherBytes,  // GetOrClaim: audio, but not those bytes
  kMiss,        // GetOrClaim: not found (the wait ended, or refused)
  kFailed,      // anything else (message in `what`)
};

struct ChildResult {
  std::atomic<int> outcome{kNotRun};
  std::atomic<int> stage{0};  // how far the child got (see each test)
  int64_t started_ms = 0, ended_ms = 0, granted_ms = 0;
  pid_t pid = 0;
  char what[256] = {};
};

// The page the children and the parent share.
struct Shared {
  std::atomic<int> go{0};
  std::atomic<int> claims_seen{0};
  std::atomic<int> running{0}, max_running{0};
  ChildResult child[64];
};

class SharedPage {
 public:
  SharedPage() {
    void* p =
        mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    shared_ = new (p) Shared();
  }
  ~SharedPage() { munmap(shared_, sizeof(Shared)); }
  SharedPage(const SharedPage&) = delete;
  SharedPage& operator=(const SharedPage&) = delete;
  Shared* operator->() { return shared_; }
  Shared& operator*() { return *shared_; }

 private:
  Shared* shared_;
};

void Note(ChildResult& r, Outcome o, const std::string& what = "") {
  std::snprintf(r.what, sizeof(r.what), "%s", what.c_str());
  r.ended_ms = NowMs();
  r.outcome.store(o);
}

// Runs `body` in a child process, which exits when it returns.
pid_t Spawn(const std::function<void()>& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  return pid;
}

// Waits for every child (killing them all past `timeout_ms`): true if all
// exited by themselves in time.
bool Reap(std::vector<pid_t>& pids, int timeout_ms = 30000) {
  const int64_t deadline = NowMs() + timeout_ms;
  bool in_time = true;
  for (pid_t& pid : pids) {
    if (pid <= 0) continue;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (NowMs() > deadline) {
        in_time = false;
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      usleep(5000);
    }
    pid = -1;
  }
  return in_time;
}

// Kills whatever is left when a test ends early.
struct Children {
  std::vector<pid_t> pids;
  ~Children() {
    for (pid_t pid : pids) {
      if (pid > 0) kill(pid, SIGKILL);
    }
    Reap(pids, 5000);
  }
};

// A daemon with these [coordinate] keys.
bool StartWith(DaemonProcess& d, const std::string& coordinate_keys) {
  std::ofstream(d.config_path(), std::ios::app) << "[coordinate]\n" << coordinate_keys;
  return d.Start();
}

Client Connect(DaemonProcess& d) {
  // The children block in GetOrClaim for up to their wait; the client's own
  // timeout is on top of it.
  return Client::Connect({d.socket_path(), 20000}).value();
}

CoordinationStats StatsOf(DaemonProcess& d) {
  Client c = Connect(d);
  Result<CoordinationStats> s = c.Coordination();
  EXPECT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->has_coordination);
  return s.ok() ? *s : CoordinationStats{};
}

// Polls until `done` holds or `ms` pass.
bool WaitFor(const std::function<bool()>& done, int ms = 10000) {
  const int64_t deadline = NowMs() + ms;
  while (!done()) {
    if (NowMs() > deadline) return false;
    usleep(5000);
  }
  return true;
}

void WaitForGo(Shared& s) {
  while (s.go.load() == 0) usleep(1000);
}

// One client's GetOrClaim, recorded: the audio compared with `expected`.
// On a claim, `on_claim` runs (synthesize and put, or not).
void GetOrClaimOnce(DaemonProcess& d, ChildResult& r, const std::string& text, uint32_t wait_ms,
                    const std::vector<uint8_t>& expected, bool descriptor,
                    const std::function<void(Client&)>& on_claim) {
  Result<Client> c = Client::Connect({d.socket_path(), 20000});
  if (!c) return Note(r, kFailed, "connect: " + c.error().message);
  r.stage.store(1);
  r.started_ms = NowMs();
  Result<ClaimedGet> g =
      c->GetOrClaim("piper", text, Format::kWav, wait_ms, DaemonDefaultOpus(), descriptor);
  if (!g) {
    return Note(r, g.error().code == Errc::kNotFound ? kMiss : kFailed, g.error().message);
  }
  if (g->claimed) {
    r.granted_ms = NowMs();
    r.outcome.store(kClaimed);
    on_claim(*c);
    r.ended_ms = NowMs();
    return;
  }
  const std::vector<uint8_t> got = e2e::ToVector(g->audio);
  Note(r, got == expected ? kSameBytes : kOtherBytes, std::to_string(got.size()) + " bytes");
}

int Count(Shared& s, int n, Outcome o) {
  int count = 0;
  for (int i = 0; i < n; ++i) count += s.child[i].outcome.load() == o;
  return count;
}

std::string Describe(Shared& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += "child " + std::to_string(i) + ": outcome " + std::to_string(s.child[i].outcome.load()) +
           " " + s.child[i].what + "\n";
  }
  return out;
}

// (a) Twenty processes miss one phrase at the same moment: one claims it,
// synthesizes (300 ms) and puts; the nineteen others wait and all get the
// exact bytes it put. Without claims each would have synthesized it.
TEST(Coordinate, TwentyProcessesSynthesizeAPhraseOnce) {
  DaemonProcess d;
  ASSERT_TRUE(StartWith(d, "")) << d.log();
  SharedPage shared;
  const std::vector<uint8_t> wav = e2e::Tone(1);
  constexpr int kProcesses = 20;
  Children kids;
  for (int i = 0; i < kProcesses; ++i) {
    kids.pids.push_back(Spawn([&, i] {
      ChildResult& r = shared->child[i];
      r.pid = getpid();
      WaitForGo(*shared);
      GetOrClaimOnce(d, r, "Twenty at once", 20000, wav, i % 2 == 0, [&](Client& c) {
        shared->claims_seen.fetch_add(1);
        // Let every other process arrive and wait (bounded), then "synthesize".
        WaitFor([&] {
          Result<CoordinationStats> s = c.Coordination();
          return s && s->waiting >= kProcesses - 1;
        });
        usleep(300000);
        Status put = c.Put("piper", "Twenty at once", wav);
        if (!put) Note(r, kFailed, "put: " + put.error().message);
      });
    }));
  }
  shared->go.store(1);
  ASSERT_TRUE(Reap(kids.pids)) << Describe(*shared, kProcesses);
  EXPECT_EQ(Count(*shared, kProcesses, kClaimed), 1) << Describe(*shared, kProcesses);
  EXPECT_EQ(Count(*shared, kProcesses, kSameBytes), kProcesses - 1)
      << Describe(*shared, kProcesses);
  CoordinationStats s = StatsOf(d);
  EXPECT_EQ(s.claims, 1u);
  EXPECT_EQ(s.claim_waits, 19u);
  EXPECT_EQ(s.waits_served, 19u);
  EXPECT_EQ(s.claims_open, 0u);
  EXPECT_EQ(s.waiting, 0u);
  // The waiters were served after the put, not before it.
  int64_t claimed_at = 0;
  for (int i = 0; i < kProcesses; ++i) {
    if (shared->child[i].outcome.load() == kClaimed) claimed_at = shared->child[i].granted_ms;
  }
  for (int i = 0; i < kProcesses; ++i) {
    if (shared->child[i].outcome.load() == kSameBytes) {
      EXPECT_GE(shared->child[i].ended_ms - claimed_at, 290) << "child " << i;
    }
  }
}

// (b) The claimer is SIGKILLed mid-synthesis: exactly one waiter takes the
// claim over, synthesizes and puts; the rest get its bytes.
TEST(Coordinate, AClaimerKilledMidSynthesisHandsTheClaimToOneWaiter) {
  DaemonProcess d;
  ASSERT_TRUE(StartWith(d, "")) << d.log();
  SharedPage shared;
  const std::vector<uint8_t> wav = e2e::Tone(2);
  constexpr int kProcesses = 10;
  Children kids;
  for (int i = 0; i < kProcesses; ++i) {
    kids.pids.push_back(Spawn([&, i] {
      ChildResult& r = shared->child[i];
      WaitForGo(*shared);
      GetOrClaimOnce(d, r, "Killed mid-synthesis", 20000, wav, i % 2 == 1, [&](Client& c) {
        if (shared->claims_seen.fetch_add(1) == 0) {
          r.stage.store(2);  // the first claimer: "synthesizes" until killed
          for (;;) pause();
        }
        Status put = c.Put("piper", "Killed mid-synthesis", wav);
        if (!put) Note(r, kFailed, "put: " + put.error().message);
      });
    }));
  }
  shared->go.store(1);
  int victim = -1;
  ASSERT_TRUE(WaitFor([&] {
    for (int i = 0; i < kProcesses; ++i) {
      if (shared->child[i].stage.load() == 2) victim = i;
    }
    return victim >= 0;
  })) << Describe(*shared, kProcesses);
  ASSERT_TRUE(WaitFor([&] { return StatsOf(d).waiting == kProcesses - 1; }));
  kill(kids.pids[victim], SIGKILL);
  ASSERT_TRUE(Reap(kids.pids)) << Describe(*shared, kProcesses);
  EXPECT_EQ(shared->claims_seen.load(), 2) << "the victim and one takeover";
  EXPECT_EQ(Count(*shared, kProcesses, kClaimed), 2);
  EXPECT_EQ(Count(*shared, kProcesses, kSameBytes), kProcesses - 2)
      << Describe(*shared, kProcesses);
  CoordinationStats s = StatsOf(d);
  EXPECT_EQ(s.claims, 2u);
  EXPECT_EQ(s.takeovers, 1u);
  EXPECT_EQ(s.claim_waits, 9u);
  EXPECT_EQ(s.waits_served, 8u);
  EXPECT_EQ(s.claims_open, 0u);
  EXPECT_EQ(s.waiting, 0u);
}

// (c) A claimer that never puts (and stays connected): its lease (1 s)
// ends and the claim passes to the longest waiter. A waiter whose own wait
// (300 ms) is shorter than the lease gets its miss on time, not at the
// lease's end nor at the daemon's next 1 s tick.
TEST(Coordinate, ALeaseThatEndsPassesTheClaimAndShortWaitsEndOnTime) {
  DaemonProcess d;
  ASSERT_TRUE(StartWith(d, "lease_s = 1\n")) << d.log();
  SharedPage shared;
  const std::vector<uint8_t> wav = e2e::Tone(3);
  const std::string text = "Never put";
  Children kids;
  // 0: claims and never puts; 1: waits 5 s (takes over, puts); 2: waits
  // 300 ms; 3: waits 5 s (gets 1's bytes). Started in the order 0, 1, 3, 2,
  // each once the one before it waits, so that 2's short wait runs while
  // the lease does.
  const uint32_t waits[] = {0, 5000, 300, 5000};
  size_t started = 0;
  for (int i : {0, 1, 3, 2}) {
    if (i > 0) {
      const size_t waiting = started - 1;  // every waiter started so far
      ASSERT_TRUE(WaitFor([&] { return StatsOf(d).waiting == waiting; }));
    }
    ++started;
    kids.pids.push_back(Spawn([&, i] {
      ChildResult& r = shared->child[i];
      GetOrClaimOnce(d, r, text, waits[i], wav, true, [&](Client& c) {
        if (i == 0) {
          sleep(4);  // holds the claim, connected, and never puts
          return;
        }
        Status put = c.Put("piper", text, wav);
        if (!put) Note(r, kFailed, "put: " + put.error().message);
      });
    }));
    if (i == 0) {
      ASSERT_TRUE(WaitFor([&] { return shared->child[0].outcome.load() == kClaimed; }));
    }
  }
  ASSERT_TRUE(Reap(kids.pids)) << Describe(*shared, 4);
  EXPECT_EQ(shared->child[0].outcome.load(), kClaimed);
  EXPECT_EQ(shared->child[1].outcome.load(), kClaimed) << Describe(*shared, 4);
  EXPECT_EQ(shared->child[2].outcome.load(), kMiss) << Describe(*shared, 4);
  EXPECT_EQ(shared->child[3].outcome.load(), kSameBytes) << Describe(*shared, 4);
  // The takeover came when the lease ended, a second after the claim.
  const int64_t lease_ended = shared->child[1].granted_ms - shared->child[0].granted_ms;
  EXPECT_GE(lease_ended, 950);
  EXPECT_LE(lease_ended, 2500);
  // The short wait ended on its own deadline: not before, not stuck.
  const int64_t waited = shared->child[2].ended_ms - shared->child[2].started_ms;
  EXPECT_GE(waited, 290);
  EXPECT_LE(waited, 300 + 600) << "a waiter stuck past its wait";
  EXPECT_THAT(std::string(shared->child[2].what), HasSubstr("waited"));
  CoordinationStats s = StatsOf(d);
  EXPECT_EQ(s.lease_expiries, 1u);
  EXPECT_EQ(s.takeovers, 1u);
  EXPECT_EQ(s.wait_timeouts, 1u);
  EXPECT_EQ(s.waits_served, 1u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.claims_open, 0u);
}

// (d) Eight processes run "syntheses" through the slot gpu (size 2), three
// each: never more than two at once, by a counter they share.
TEST(Coordinate, ASlotOfSizeTwoRunsAtMostTwoOfEightProcesses) {
  DaemonProcess d;
  ASSERT_TRUE(StartWith(d, "slots = gpu:2\n")) << d.log();
  SharedPage shared;
  constexpr int kProcesses = 8, kRounds = 3;
  Children kids;
  for (int i = 0; i < kProcesses; ++i) {
    kids.pids.push_back(Spawn([&, i] {
      ChildResult& r = shared->child[i];
      Result<Client> c = Client::Connect({d.socket_path(), 20000});
      if (!c) return Note(r, kFailed, c.error().message);
      WaitForGo(*shared);
      for (int round = 0; round < kRounds; ++round) {
        Result<SlotHold> hold = c->AcquireSlot("gpu", 20000);
        if (!hold) return Note(r, kFailed, "acquire: " + hold.error().message);
        if (hold->size != 2 || hold->held < 1 || hold->held > 2) {
          return Note(r, kFailed,
                      "grant says size " + std::to_string(hold->size) + ", held " +
                          std::to_string(hold->held));
        }
        const int now = shared->running.fetch_add(1) + 1;
        int max = shared->max_running.load();
        while (now > max && !shared->max_running.compare_exchange_weak(max, now)) {
        }
        usleep(100000);
        shared->running.fetch_sub(1);
        Status released = c->ReleaseSlot(*hold);
        if (!released) return Note(r, kFailed, "release: " + released.error().message);
      }
      Note(r, kSameBytes);
    }));
  }
  shared->go.store(1);
  ASSERT_TRUE(Reap(kids.pids)) << Describe(*shared, kProcesses);
  EXPECT_EQ(Count(*shared, kProcesses, kSameBytes), kProcesses) << Describe(*shared, kProcesses);
  EXPECT_LE(shared->max_running.load(), 2);
  EXPECT_EQ(shared->max_running.load(), 2) << "eight processes never ran two at once";
  CoordinationStats s = StatsOf(d);
  const SlotStats* gpu = nullptr;
  for (const SlotStats& slot : s.slots) {
    if (slot.name == "gpu") gpu = &slot;
  }
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->size, 2u);
  EXPECT_EQ(gpu->acquired, static_cast<uint64_t>(kProcesses * kRounds));
  EXPECT_GT(gpu->waited, 0u);
  EXPECT_EQ(gpu->held, 0u);
  EXPECT_EQ(gpu->waiting, 0u);
  // Every engine is listed too, with default_slots.
  bool piper = false;
  for (const SlotStats& slot : s.slots) piper |= slot.name == "piper" && slot.size == 2;
  EXPECT_TRUE(piper);
}

// (e) A process SIGKILLed while it holds the only unit of xtts: the one
// waiting for it is granted at once, not after its wait.
TEST(Coordinate, AHolderKilledWhileHoldingFreesItsUnit) {
  DaemonProcess d;
  ASSERT_TRUE(StartWith(d, "slots = xtts:1\n")) << d.log();
  SharedPage shared;
  Children kids;
  kids.pids.push_back(Spawn([&] {
    ChildResult& r = shared->child[0];
    Result<Client> c = Client::Connect({d.socket_path(), 20000});
    if (!c) return Note(r, kFailed, c.error().message);
    Result<SlotHold> hold = c->AcquireSlot("xtts", 0);
    if (!hold) return Note(r, kFailed, hold.error().message);
    r.stage.store(2);
    for (;;) pause();
  }));
  ASSERT_TRUE(WaitFor([&] { return shared->child[0].stage.load() == 2; })) << Describe(*shared, 1);
  kids.pids.push_back(Spawn([&] {
    ChildResult& r = shared->child[1];
    Result<Client> c = Client::Connect({d.socket_path(), 20000});
    if (!c) return Note(r, kFailed, c.error().message);
    r.started_ms = NowMs();
    Result<SlotHold> hold = c->AcquireSlot("xtts", 15000);
    if (!hold) return Note(r, kFailed, hold.error().message);
    r.granted_ms = NowMs();
    Note(r, kClaimed);
  }));
  ASSERT_TRUE(WaitFor([&] {
    for (const SlotStats& s : StatsOf(d).slots) {
      if (s.name == "xtts") return s.waiting == 1;
    }
    return false;
  }));
  const int64_t killed_at = NowMs();
  kill(kids.pids[0], SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return shared->child[1].outcome.load() != kNotRun; }, 5000));
  EXPECT_EQ(shared->child[1].outcome.load(), kClaimed) << shared->child[1].what;
  EXPECT_LT(shared->child[1].granted_ms - killed_at, 2000) << "granted only at its wait's end?";
  ASSERT_TRUE(Reap(kids.pids));
  for (const SlotStats& s : StatsOf(d).slots) {
    if (s.name != "xtts") continue;
    EXPECT_EQ(s.held, 0u) << "the grantee exited too";
    EXPECT_EQ(s.acquired, 2u);
    EXPECT_EQ(s.timeouts, 0u);
  }
}

// ---- (f) hostile clients ----

std::vector<uint8_t> ClaimFrame(uint64_t id, const std::string& text, uint32_t wait_ms) {
  ipc::GetRequest get{"piper", text, ipc::AudioFormat::kWav, {}, ipc::Delivery::kInline, {}};
  get.claim = true;
  get.wait_ms = wait_ms;
  return ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kGet), id, ipc::EncodeGetRequest(get));
}

// One connection parks 1,024 GETs on a claim, then one more: refused. An
// honest process still waits on the same entry (the bound is the
// connection's), and one put answers all 1,025 waiters. The hostile one
// then parks again and vanishes: nothing is left waiting.
TEST(Coordinate, OneConnectionParksAtMost1024AndAPutServesThemAll) {
  DaemonProcess d;
  ASSERT_TRUE(StartWith(d, "max_waiters_per_key = 4096\n")) << d.log();
  SharedPage shared;
  const std::vector<uint8_t> wav = e2e::Tone(4, 0.1);
  Client holder = Connect(d);
  Result<ClaimedGet> claim = holder.GetOrClaim("piper", "Parked", Format::kWav, 0);
  ASSERT_TRUE(claim.ok()) << claim.error().message;
  ASSERT_TRUE(claim->claimed);

  testing::RawPeer hostile(d.socket_path());
  constexpr uint64_t kParked = ipc::kMaxParkedPerConnection;
  std::vector<uint8_t> burst;
  for (uint64_t i = 1; i <= kParked + 1; ++i) {
    std::vector<uint8_t> f = ClaimFrame(i, "Parked", 30000);
    burst.insert(burst.end(), f.begin(), f.end());
  }
  ASSERT_EQ(hostile.Send(burst), static_cast<ssize_t>(burst.size()));
  auto [op, id, body] = hostile.Read();
  EXPECT_EQ(id, kParked + 1) << "only the one too many is answered now";
  ASSERT_EQ(op, e2e::kError);
  EXPECT_EQ(e2e::ErrorOf(body).code, ipc::ErrorCode::kNotFound);
  EXPECT_THAT(e2e::ErrorOf(body).message, HasSubstr("1024"));
  CoordinationStats s = StatsOf(d);
  EXPECT_EQ(s.waiting, kParked);
  EXPECT_EQ(s.claims_refused, 1u);

  Children kids;
  kids.pids.push_back(Spawn([&] {
    GetOrClaimOnce(d, shared->child[0], "Parked", 30000, wav, true,
                   [](Client&) {});  // a claim here would be wrong: recorded
  }));
  ASSERT_TRUE(WaitFor([&] { return StatsOf(d).waiting == kParked + 1; }));
  ASSERT_TRUE(holder.Put("piper", "Parked", wav).ok());
  for (uint64_t i = 1; i <= kParked; ++i) {
    auto [op2, id2, body2] = hostile.Read();
    ASSERT_EQ(op2, ipc::ReplyOpcode(ipc::Opcode::kGet)) << "reply " << i;
    Result<ipc::AudioReply> a = ipc::DecodeAudioReply(body2);
    ASSERT_TRUE(a.ok());
    ASSERT_EQ(a->place, ipc::AudioPlace::kInline);
    ASSERT_TRUE(std::equal(a->bytes.begin(), a->bytes.end(), wav.begin(), wav.end()));
  }
  ASSERT_TRUE(Reap(kids.pids));
  EXPECT_EQ(shared->child[0].outcome.load(), kSameBytes) << shared->child[0].what;
  s = StatsOf(d);
  EXPECT_EQ(s.waits_served, kParked + 1);
  EXPECT_EQ(s.waiting, 0u);

  // Parked again on a new claim, then the hostile connection vanishes.
  Result<ClaimedGet> again = holder.GetOrClaim("piper", "Parked twice", Format::kWav, 0);
  ASSERT_TRUE(again.ok() && again->claimed);
  burst.clear();
  for (uint64_t i = 1; i <= 500; ++i) {
    std::vector<uint8_t> f = ClaimFrame(5000 + i, "Parked twice", 30000);
    burst.insert(burst.end(), f.begin(), f.end());
  }
  ASSERT_EQ(hostile.Send(burst), static_cast<ssize_t>(burst.size()));
  ASSERT_TRUE(WaitFor([&] { return StatsOf(d).waiting == 500; }));
  hostile.fd.reset();
  EXPECT_TRUE(WaitFor([&] { return StatsOf(d).waiting == 0; }, 3000)) << "parked GETs leaked";
  EXPECT_EQ(StatsOf(d).claims_open, 1u) << "the holder's claim stays";
}

// Many connections each claim a phrase of their own: max_claims hold, the
// rest are plain misses naming the limit; a connection that closes frees
// its claim for the next.
TEST(Coordinate, ManyConnectionsClaimingStopAtMaxClaims) {
  DaemonProcess d;
  ASSERT_TRUE(StartWith(d, "max_claims = 40\n")) << d.log();
  std::vector<Client> clients;
  int claimed = 0, refused = 0;
  for (int i = 0; i < 50; ++i) {
    clients.push_back(Connect(d));
    Result<ClaimedGet> g =
        clients.back().GetOrClaim("piper", "Phrase " + std::to_string(i), Format::kWav, 1000);
    if (g.ok() && g->claimed) {
      ++claimed;
    } else {
      ASSERT_FALSE(g.ok());
      EXPECT_EQ(g.error().code, Errc::kNotFound);
      EXPECT_THAT(g.error().message, HasSubstr("max_claims"));
      ++refused;
    }
  }
  EXPECT_EQ(claimed, 40);
  EXPECT_EQ(refused, 10);
  CoordinationStats s = StatsOf(d);
  EXPECT_EQ(s.claims_open, 40u);
  EXPECT_EQ(s.claims_refused, 10u);
  clients.erase(clients.begin());  // the first claimer's connection closes
  ASSERT_TRUE(WaitFor([&] { return StatsOf(d).claims_open == 39; }));
  Result<ClaimedGet> next = clients.back().GetOrClaim("piper", "One more", Format::kWav, 0);
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_TRUE(next->claimed);
  clients.clear();
  EXPECT_TRUE(WaitFor([&] { return StatsOf(d).claims_open == 0; })) << "claims leaked";
}

// A waiting process that is killed: it is forgotten (waiting drops to 0),
// and the put that follows serves nobody stale.
TEST(Coordinate, AKilledWaiterIsForgotten) {
  DaemonProcess d;
  ASSERT_TRUE(StartWith(d, "")) << d.log();
  SharedPage shared;
  Client holder = Connect(d);
  Result<ClaimedGet> claim = holder.GetOrClaim("piper", "Vanishing", Format::kWav, 0);
  ASSERT_TRUE(claim.ok() && claim->claimed);
  Children kids;
  for (int i = 0; i < 3; ++i) {
    kids.pids.push_back(Spawn([&, i] {
      GetOrClaimOnce(d, shared->child[i], "Vanishing", 30000, {}, false, [](Client&) {});
    }));
  }
  ASSERT_TRUE(WaitFor([&] { return StatsOf(d).waiting == 3; }));
  for (pid_t pid : kids.pids) kill(pid, SIGKILL);
  Reap(kids.pids);
  EXPECT_TRUE(WaitFor([&] { return StatsOf(d).waiting == 0; }, 3000)) << "a dead waiter leaked";
  ASSERT_TRUE(holder.Put("piper", "Vanishing", e2e::Tone(5, 0.1)).ok());
  CoordinationStats s = StatsOf(d);
  EXPECT_EQ(s.waits_served, 0u);
  EXPECT_EQ(s.claims_open, 0u);
  // The daemon is fine: it answers.
  EXPECT_TRUE(holder.Ping());
}

}  // namespace
}  // namespace ttscache
