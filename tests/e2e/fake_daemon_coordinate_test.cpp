// libttscache's coordinating calls (GetOrClaim, DropClaim, AcquireSlot,
// ReleaseSlot, Coordination, and their C API) against a daemon that lies:
// a claim with audio or without a lease, a claimed reply to a GET that did
// not claim, a unit granted as hold 0, with nobody holding it, or twice, a
// grant for a request nobody sent, a STATS coordinate block cut short or
// counting more takeovers than claims. Each must end in Errc::kInternal with
// a clear message (and the connection, which gives back whatever the daemon
// thinks it holds). A daemon that never answers an acquire is bounded by the
// connection's timeout plus the wait, and one that answers late but within
// it is waited for. A grant that arrives after the caller gave up is given
// back. Clients run in forked children (RunInChild).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ipc/messages.hpp"
#include "tests/e2e/fake_daemon.hpp"
#include "ttscache/client.hpp"
#include "ttscache/ttscache.h"

namespace ttscache {
namespace {

using testing::FakeDaemon;
using testing::RunInChild;

uint8_t ReplyTo(ipc::Opcode op) { return static_cast<uint8_t>(op) | ipc::kReplyBit; }
bool Is(const ipc::Frame& f, ipc::Opcode op) { return f.header.opcode == static_cast<uint8_t>(op); }

template <class R>
int FailedWith(const R& r, Errc code, const std::string& expected) {
  if (r.ok()) {
    std::fprintf(stderr, "the call succeeded; expected an error with \"%s\"\n", expected.c_str());
    return 1;
  }
  std::fprintf(stderr, "error %d: %s\n", static_cast<int>(r.error().code),
               r.error().message.c_str());
  return r.error().code != code || r.error().message.find(expected) == std::string::npos;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A fake answering PING, and everything else with `answer` (a reply body for
// the request's own reply opcode).
FakeDaemon::Answer Answering(std::function<std::vector<uint8_t>(const ipc::Frame&)> answer) {
  return [answer](int socket, const ipc::Frame& request) {
    const uint8_t op = request.header.opcode | ipc::kReplyBit;
    if (Is(request, ipc::Opcode::kPing)) {
      FakeDaemon::Reply(socket, op, request.header.request_id, {});
      return;
    }
    FakeDaemon::Reply(socket, op, request.header.request_id, answer(request));
  };
}

std::vector<uint8_t> Grant(uint64_t hold, uint32_t size, uint32_t held) {
  return ipc::EncodeSlotAcquireReply({hold, size, held});
}

TEST(FakeDaemonCoordinate, ClaimSendsTheClaimBlockAndReturnsTheLease) {
  std::atomic<bool> claim_seen{false};
  std::atomic<uint32_t> wait_seen{0};
  FakeDaemon fake(Answering([&](const ipc::Frame& f) {
    Result<ipc::GetRequest> g = ipc::DecodeGetRequest(f.body);
    if (g && g->claim) {
      claim_seen = true;
      wait_seen = g->wait_ms;
      return ipc::EncodeClaimedReply(30000);
    }
    static const uint8_t kWav[4] = {'R', 'I', 'F', 'F'};
    return ipc::EncodeAudioReply(ipc::AudioPlace::kInline, 4, kWav, {});
  }));
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              Result<ClaimedGet> g = c->GetOrClaim("piper", "hello", Format::kWav, 1234);
              if (!g || !g->claimed || g->lease_ms != 30000 || g->audio.size() != 0) return 1;
              // A plain Get still works on the same connection.
              Result<AudioBuffer> a = c->Get("piper", "hello", Format::kWav, {}, false);
              return a && a->size() == 4 ? 0 : 1;
            }),
            "");
  EXPECT_TRUE(claim_seen.load());
  EXPECT_EQ(wait_seen.load(), 1234u);
}

TEST(FakeDaemonCoordinate, AClaimWithoutALeaseIsRefused) {
  FakeDaemon fake(Answering([](const ipc::Frame&) { return ipc::EncodeClaimedReply(0); }));
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->GetOrClaim("piper", "hello", Format::kWav, 100), Errc::kInternal,
                                "lease of 0 ms");
            }),
            "");
}

TEST(FakeDaemonCoordinate, AClaimCarryingAudioIsRefused) {
  FakeDaemon fake(Answering([](const ipc::Frame&) {
    std::vector<uint8_t> body = ipc::EncodeClaimedReply(1000);
    body[1] = 5;  // u64 size 5: a claim is a miss, it has no audio
    return body;
  }));
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->GetOrClaim("piper", "hello", Format::kWav, 100), Errc::kInternal,
                                "claimed");
            }),
            "");
}

TEST(FakeDaemonCoordinate, AClaimWithADescriptorIsRefused) {
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    std::vector<uint8_t> body = ipc::EncodeClaimedReply(1000);
    FILE* f = std::tmpfile();
    FakeDaemon::Reply(socket, ReplyTo(ipc::Opcode::kGet), request.header.request_id, body,
                      ::fileno(f));
    std::fclose(f);
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->GetOrClaim("piper", "hello", Format::kWav, 100), Errc::kInternal,
                                "carries audio");
            }),
            "");
}

TEST(FakeDaemonCoordinate, AClaimedReplyToAPlainGetEndsTheConnection) {
  FakeDaemon fake(Answering([](const ipc::Frame&) { return ipc::EncodeClaimedReply(1000); }));
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->Get("piper", "hello", Format::kWav), Errc::kInternal,
                                "did not claim");
            }),
            "");
}

TEST(FakeDaemonCoordinate, DropClaimSaysWhetherOneWasHeld) {
  FakeDaemon fake(Answering([](const ipc::Frame& f) {
    Result<ipc::ClaimDropRequest> d = ipc::DecodeClaimDropRequest(f.body);
    return ipc::EncodeClaimDropReply(d && d->text == "held");
  }));
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              Result<bool> a = c->DropClaim("piper", "held");
              Result<bool> b = c->DropClaim("piper", "not held");
              if (FailedWith(c->DropClaim("", "x"), Errc::kInvalidArgument, "engine")) return 1;
              return a && *a && b && !*b ? 0 : 1;
            }),
            "");
}

TEST(FakeDaemonCoordinate, AGrantOfHoldZeroIsRefused) {
  FakeDaemon fake(Answering([](const ipc::Frame&) { return Grant(0, 2, 1); }));
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->AcquireSlot("gpu", 100), Errc::kInternal, "hold 0");
            }),
            "");
}

TEST(FakeDaemonCoordinate, AGrantWithNobodyHoldingIsRefused) {
  FakeDaemon fake(Answering([](const ipc::Frame&) { return Grant(7, 2, 0); }));
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->AcquireSlot("gpu", 100), Errc::kInternal, "0 units held");
            }),
            "");
}

TEST(FakeDaemonCoordinate, TheSameHoldGrantedTwiceIsRefusedButMoreHoldersThanTheSizeIsNot) {
  FakeDaemon fake(Answering([](const ipc::Frame& f) {
    if (Is(f, ipc::Opcode::kSlotRelease)) return std::vector<uint8_t>();
    return Grant(7, 2, 3);  // 3 of 2: the slot shrank under its holders, fine
  }));
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              Result<SlotHold> h = c->AcquireSlot("gpu", 100);
              if (!h || h->id == 0 || h->size != 2 || h->held != 3) return 1;
              return FailedWith(c->AcquireSlot("gpu", 100), Errc::kInternal, "already holds");
            }),
            "");
}

TEST(FakeDaemonCoordinate, AGrantForARequestNobodySentEndsTheConnection) {
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    FakeDaemon::Reply(socket, ReplyTo(ipc::Opcode::kSlotAcquire), request.header.request_id + 100,
                      Grant(1, 2, 1));
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->AcquireSlot("gpu", 100), Errc::kInternal, "not outstanding");
            }),
            "");
}

TEST(FakeDaemonCoordinate, AnAcquireNeverAnsweredEndsAfterTheTimeoutPlusTheWait) {
  FakeDaemon fake([](int, const ipc::Frame&) {});  // reads, never answers
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 300});
              if (!c) return 2;
              const int64_t start = NowMs();
              Result<SlotHold> h = c->AcquireSlot("gpu", 700);
              const int64_t took = NowMs() - start;
              std::fprintf(stderr, "gave up after %lld ms\n", static_cast<long long>(took));
              if (FailedWith(h, Errc::kUnavailable, "timed out")) return 1;
              return took >= 950 && took < 5000 ? 0 : 1;  // 300 + 700, generous above
            }),
            "");
}

TEST(FakeDaemonCoordinate, AGrantLaterThanTheTimeoutButWithinTheWaitIsWaitedFor) {
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    if (Is(request, ipc::Opcode::kSlotAcquire) || Is(request, ipc::Opcode::kGet)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(700));
    }
    std::vector<uint8_t> body;
    if (Is(request, ipc::Opcode::kSlotAcquire)) body = Grant(1, 1, 1);
    if (Is(request, ipc::Opcode::kGet)) body = ipc::EncodeClaimedReply(5000);
    FakeDaemon::Reply(socket, request.header.opcode | ipc::kReplyBit, request.header.request_id,
                      body);
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 300});
              if (!c) return 2;
              Result<SlotHold> h = c->AcquireSlot("gpu", 2000);
              if (!h) {
                std::fprintf(stderr, "acquire: %s\n", h.error().message.c_str());
                return 1;
              }
              Result<ClaimedGet> g = c->GetOrClaim("piper", "hello", Format::kWav, 2000);
              if (!g || !g->claimed) return 1;
              return c->ReleaseSlot(*h).ok() ? 0 : 1;
            }),
            "");
}

TEST(FakeDaemonCoordinate, AGrantAfterTheCallerGaveUpIsGivenBack) {
  std::mutex m;
  std::vector<uint64_t> released;
  FakeDaemon fake([&](int socket, const ipc::Frame& request) {
    if (Is(request, ipc::Opcode::kSlotAcquire)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(900));  // past 300 + 200
      FakeDaemon::Reply(socket, ReplyTo(ipc::Opcode::kSlotAcquire), request.header.request_id,
                        Grant(42, 1, 1));
      return;
    }
    if (Is(request, ipc::Opcode::kSlotRelease)) {
      Result<uint64_t> hold = ipc::DecodeSlotReleaseRequest(request.body);
      std::lock_guard lock(m);
      released.push_back(hold ? *hold : 0);
    }
    FakeDaemon::Reply(socket, request.header.opcode | ipc::kReplyBit, request.header.request_id,
                      {});
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 300});
              if (!c) return 2;
              if (FailedWith(c->AcquireSlot("gpu", 200), Errc::kUnavailable, "timed out")) {
                return 1;
              }
              std::this_thread::sleep_for(std::chrono::milliseconds(600));
              // Reading the next reply meets the late grant, and gives it back.
              if (!c->Ping().ok()) return 1;
              return c->Ping().ok() ? 0 : 1;
            }),
            "");
  std::lock_guard lock(m);
  EXPECT_EQ(released, std::vector<uint64_t>{42});
}

TEST(FakeDaemonCoordinate, ReleasingIsCheckedAndAStaleHoldIsNotSent) {
  std::atomic<int> releases{0};
  std::atomic<int> accepted{0};
  FakeDaemon fake([&](int socket, const ipc::Frame& request) {
    if (Is(request, ipc::Opcode::kSlotRelease)) ++releases;
    std::vector<uint8_t> body;
    if (Is(request, ipc::Opcode::kSlotAcquire)) body = Grant(1, 1, 1);
    FakeDaemon::Reply(socket, request.header.opcode | ipc::kReplyBit, request.header.request_id,
                      body);
    // After the second acquire the connection closes (as a restarted daemon's).
    if (Is(request, ipc::Opcode::kSlotAcquire) && ++accepted == 2) ::shutdown(socket, SHUT_RDWR);
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 2000});
              if (!c) return 2;
              Result<SlotHold> a = c->AcquireSlot("gpu", 100);
              if (!a || !c->ReleaseSlot(*a).ok()) return 1;
              // Released once: a second release is the caller's mistake.
              if (FailedWith(c->ReleaseSlot(*a), Errc::kInvalidArgument, "not held")) return 1;
              Result<SlotHold> b = c->AcquireSlot("gpu", 100);  // then the connection closes
              if (!b || !c->Ping().ok()) return 1;              // a new connection
              Result<SlotHold> d = c->AcquireSlot("gpu", 100);  // daemon hold 1 again
              if (!d || d->id == b->id) return 1;
              // b went with its connection: released without a word to the daemon.
              if (!c->ReleaseSlot(*b).ok()) return 1;
              return c->ReleaseSlot(*d).ok() ? 0 : 1;
            }),
            "");
  EXPECT_EQ(releases.load(), 2) << "a, then d; never b on d's connection";
}

std::vector<uint8_t> CoordinationReply(const ipc::CoordinationStatsWire& c) {
  ipc::StatsReply s;
  s.engines.push_back({"piper", 1, 2, 3, 4, 5, 6, 7, 8});
  s.has_coordination = true;
  s.coordination = c;
  return ipc::EncodeStatsReply(s);
}

ipc::CoordinationStatsWire SomeFigures() {
  ipc::CoordinationStatsWire c;
  c.claims = 10;
  c.claim_waits = 19;
  c.waits_served = 18;
  c.wait_timeouts = 1;
  c.lease_expiries = 2;
  c.takeovers = 3;
  c.claims_refused = 4;
  c.claims_open = 1;
  c.waiting = 5;
  c.slots.push_back({"gpu", 2, 3, 4, 100, 50, 6, 123456});
  c.slots.push_back({"piper", 0, 1, 0, 7, 0, 0, 0});
  return c;
}

TEST(FakeDaemonCoordinate, CoordinationFiguresAreHandedOutInCppAndC) {
  FakeDaemon fake(Answering([](const ipc::Frame&) { return CoordinationReply(SomeFigures()); }));
  EXPECT_EQ(RunInChild([&] {
              {  // (the fake serves one connection at a time)
                Result<Client> c = Client::Connect({fake.path(), 5000});
                if (!c) return 2;
                Result<CoordinationStats> s = c->Coordination();
                if (!s || !s->has_coordination || s->claims != 10 || s->takeovers != 3 ||
                    s->waiting != 5 || s->slots.size() != 2 || s->slots[0].name != "gpu" ||
                    s->slots[0].held != 3 || s->slots[0].wait_us != 123456) {
                  return 1;
                }
              }
              ttscache_client* cc = ttscache_client_new(fake.path().c_str(), 5000);
              ttscache_coordination_stats* cs = nullptr;
              int rc = ttscache_coordination_get(cc, &cs);
              if (rc != TTSCACHE_OK) {
                std::fprintf(stderr, "C: %d %s\n", rc, ttscache_last_error(cc));
                return 10;
              }
              int bad = !cs->has_coordination || cs->claims != 10 || cs->lease_expiries != 2 ||
                        cs->slot_count != 2 || std::string(cs->slots[1].name) != "piper" ||
                        cs->slots[0].acquired != 100 || cs->slots[0].waited != 50;
              ttscache_coordination_free(cs);
              ttscache_coordination_free(nullptr);
              bad |= ttscache_coordination_get(cc, nullptr) != TTSCACHE_ERR_INVALID_ARGUMENT;
              ttscache_client_free(cc);
              return bad;
            }),
            "");
}

TEST(FakeDaemonCoordinate, ACoordinationBlockCutShortIsRefused) {
  FakeDaemon fake(Answering([](const ipc::Frame&) {
    std::vector<uint8_t> body = CoordinationReply(SomeFigures());
    body.resize(body.size() - 12);  // inside the last slot's figures
    return body;
  }));
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              return FailedWith(c->Coordination(), Errc::kInternal, "malformed reply");
            }),
            "");
}

TEST(FakeDaemonCoordinate, MoreTakeoversThanClaimsAndTwinSlotsAreRefused) {
  std::atomic<int> n{0};
  FakeDaemon fake(Answering([&](const ipc::Frame&) {
    ipc::CoordinationStatsWire c = SomeFigures();
    if (n++ == 0) {
      c.takeovers = c.claims + 1;
    } else {
      c.slots[1].name = "gpu";
    }
    return CoordinationReply(c);
  }));
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              if (FailedWith(c->Coordination(), Errc::kInternal, "takeovers")) return 1;
              return FailedWith(c->Coordination(), Errc::kInternal, "listed twice");
            }),
            "");
}

TEST(FakeDaemonCoordinate, CApiClaimsAndSlotsCheckTheirArgumentsAndTheDaemon) {
  FakeDaemon fake(Answering([](const ipc::Frame& f) {
    if (Is(f, ipc::Opcode::kGet)) {
      Result<ipc::GetRequest> g = ipc::DecodeGetRequest(f.body);
      return ipc::EncodeClaimedReply(g && g->text == "liar" ? 0 : 4000);
    }
    if (Is(f, ipc::Opcode::kClaimDrop)) return ipc::EncodeClaimDropReply(true);
    if (Is(f, ipc::Opcode::kSlotAcquire)) return Grant(9, 1, 1);
    return std::vector<uint8_t>();
  }));
  EXPECT_EQ(
      RunInChild([&] {
        ttscache_client* c = ttscache_client_new(fake.path().c_str(), 5000);
        int bad = 0;
        const auto check = [&](bool ok, int line) {
          if (!ok)
            std::fprintf(stderr, "check at line %d failed: %s\n", line, ttscache_last_error(c));
          bad |= !ok;
        };
        ttscache_buffer b;
        int claimed = -1;
        uint32_t lease = 0;
        check(ttscache_get_or_claim(c, "piper", "hi", 2, TTSCACHE_FORMAT_WAV, nullptr, 100, &b,
                                    &claimed, &lease) == TTSCACHE_OK &&
                  claimed == 1 && lease == 4000 && b.data == nullptr,
              __LINE__);
        check(ttscache_get_or_claim(c, "piper", "liar", 4, TTSCACHE_FORMAT_WAV, nullptr, 100, &b,
                                    &claimed, nullptr) == TTSCACHE_ERR_INTERNAL &&
                  std::string(ttscache_last_error(c)).find("lease of 0") != std::string::npos,
              __LINE__);
        check(ttscache_get_or_claim(c, nullptr, "hi", 2, 0, nullptr, 1, &b, &claimed, nullptr) ==
                  TTSCACHE_ERR_INVALID_ARGUMENT,
              __LINE__);
        check(ttscache_get_or_claim(c, "piper", "hi", 2, 7, nullptr, 1, &b, &claimed, nullptr) ==
                  TTSCACHE_ERR_INVALID_ARGUMENT,
              __LINE__);
        int dropped = 0;
        check(ttscache_claim_drop(c, "piper", "hi", 2, &dropped) == TTSCACHE_OK && dropped == 1,
              __LINE__);
        uint64_t hold = 0;
        check(ttscache_slot_acquire(c, "gpu", 10, &hold) == TTSCACHE_OK && hold != 0, __LINE__);
        check(ttscache_slot_acquire(c, "gpu", 10, nullptr) == TTSCACHE_ERR_INVALID_ARGUMENT,
              __LINE__);
        check(ttscache_slot_release(c, hold) == TTSCACHE_OK, __LINE__);
        // Released already: as the daemon answers a hold it does not know.
        check(ttscache_slot_release(c, hold) == TTSCACHE_ERR_BAD_REQUEST, __LINE__);
        check(ttscache_slot_release(c, 0) == TTSCACHE_ERR_INVALID_ARGUMENT, __LINE__);
        check(ttscache_slot_release(nullptr, 1) == TTSCACHE_ERR_INVALID_ARGUMENT, __LINE__);
        ttscache_client_free(c);
        return bad;
      }),
      "");
}

}  // namespace
}  // namespace ttscache
