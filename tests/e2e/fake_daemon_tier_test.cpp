// libttscache's tier counters (Client::Tier and ttscache_tier_get) against a
// daemon that lies: a tier block cut short, a state of 7, a write-behind
// queue deeper than its size, an enabled tier with no servers or more than
// any daemon allows, figures from a tier that is not enabled. Each must end
// in Errc::kInternal (TTSCACHE_ERR_INTERNAL) with a message naming what was
// wrong; the next call reconnects. A daemon that predates the tier (no
// block) is has_tier false, not an error. Clients run in forked children.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "ipc/messages.hpp"
#include "tests/e2e/fake_daemon.hpp"
#include "ttscache/client.hpp"
#include "ttscache/ttscache.h"

namespace ttscache {
namespace {

using testing::FakeDaemon;
using testing::RunInChild;

bool Is(const ipc::Frame& f, ipc::Opcode op) { return f.header.opcode == static_cast<uint8_t>(op); }

// A fake answering PING, and STATS with `stats` (the reply body); it counts
// the STATS requests that asked for flag 16.
struct TierFake {
  std::atomic<int> tier_asked{0};
  FakeDaemon fake;
  explicit TierFake(std::function<std::vector<uint8_t>()> stats)
      : fake([this, stats](int socket, const ipc::Frame& request) {
          const uint8_t op = request.header.opcode | ipc::kReplyBit;
          if (Is(request, ipc::Opcode::kStats)) {
            Result<uint8_t> flags = ipc::DecodeStatsRequest(request.body);
            if (flags && (*flags & ipc::kStatsTier)) ++tier_asked;
            FakeDaemon::Reply(socket, op, request.header.request_id, stats());
            return;
          }
          FakeDaemon::Reply(socket, op, request.header.request_id, {});
        }) {}
};

ipc::TierStatsWire SomeFigures() {
  ipc::TierStatsWire t;
  t.enabled = true;
  t.state = ipc::TierState::kDown;
  t.servers = 3;
  t.lookups = 100;
  t.coalesced = 7;
  t.hits = 60;
  t.variant_hits = 20;
  t.misses = 30;
  t.errors = 4;
  t.timeouts = 5;
  t.corrupt = 1;
  t.skipped = 9;
  t.writes = 40;
  t.write_errors = 2;
  t.dropped = 3;
  t.oversized = 6;
  t.queue_depth = 11;
  t.queue_capacity = 4096;
  t.breaker_opens = 2;
  t.lookup_us = 123456;
  return t;
}

std::vector<uint8_t> TierReply(const ipc::TierStatsWire& t, bool with_block = true) {
  ipc::StatsReply s;
  s.engines.push_back({"piper", 1, 2, 3, 4, 5, 6, 7, 8});
  s.has_tier = with_block;
  s.tier = t;
  return ipc::EncodeStatsReply(s);
}

template <class R>
int FailedWith(const R& r, const std::string& expected) {
  if (r.ok()) {
    std::fprintf(stderr, "the call succeeded; expected an error with \"%s\"\n", expected.c_str());
    return 1;
  }
  std::fprintf(stderr, "error %d: %s\n", static_cast<int>(r.error().code),
               r.error().message.c_str());
  return r.error().code != Errc::kInternal || r.error().message.find(expected) == std::string::npos;
}

// The C API's answer: TTSCACHE_ERR_INTERNAL naming `expected`, nothing out.
int CFailedWith(const std::string& path, const std::string& expected) {
  ttscache_client* c = ttscache_client_new(path.c_str(), 5000);
  ttscache_tier_stats* t = reinterpret_cast<ttscache_tier_stats*>(1);
  const int rc = ttscache_tier_get(c, &t);
  const std::string message = ttscache_last_error(c);
  ttscache_client_free(c);
  std::fprintf(stderr, "C: %d %s\n", rc, message.c_str());
  return rc != TTSCACHE_ERR_INTERNAL || t != nullptr || message.find(expected) == std::string::npos;
}

TEST(FakeDaemonTier, TierFiguresAreHandedOutInCppAndC) {
  TierFake daemon([] { return TierReply(SomeFigures()); });
  EXPECT_EQ(
      RunInChild([&] {
        {  // (the fake serves one connection at a time)
          Result<Client> c = Client::Connect({daemon.fake.path(), 5000});
          if (!c) return 2;
          Result<TierStats> t = c->Tier();
          if (!t) {
            std::fprintf(stderr, "C++: %s\n", t.error().message.c_str());
            return 1;
          }
          if (!t->has_tier || !t->enabled || t->state != TierState::kDown || t->servers != 3 ||
              t->lookups != 100 || t->coalesced != 7 || t->hits != 60 || t->variant_hits != 20 ||
              t->misses != 30 || t->errors != 4 || t->timeouts != 5 || t->corrupt != 1 ||
              t->skipped != 9 || t->writes != 40 || t->write_errors != 2 || t->dropped != 3 ||
              t->oversized != 6 || t->queue_depth != 11 || t->queue_capacity != 4096 ||
              t->breaker_opens != 2 || t->lookup_us != 123456 || t->HitRatio() != 0.6) {
            return 3;
          }
        }
        ttscache_client* cc = ttscache_client_new(daemon.fake.path().c_str(), 5000);
        ttscache_tier_stats* t = nullptr;
        int rc = ttscache_tier_get(cc, &t);
        if (rc != TTSCACHE_OK) {
          std::fprintf(stderr, "C: %d %s\n", rc, ttscache_last_error(cc));
          return 10;
        }
        int bad = t->has_tier != 1 || t->enabled != 1 || t->state != TTSCACHE_TIER_DOWN ||
                  t->servers != 3 || t->lookups != 100 || t->coalesced != 7 || t->hits != 60 ||
                  t->variant_hits != 20 || t->misses != 30 || t->errors != 4 || t->timeouts != 5 ||
                  t->corrupt != 1 || t->skipped != 9 || t->writes != 40 || t->write_errors != 2 ||
                  t->dropped != 3 || t->oversized != 6 || t->queue_depth != 11 ||
                  t->queue_capacity != 4096 || t->breaker_opens != 2 || t->lookup_us != 123456;
        ttscache_tier_free(t);
        ttscache_tier_free(nullptr);
        bad |= ttscache_tier_get(cc, nullptr) != TTSCACHE_ERR_INVALID_ARGUMENT;
        bad |= ttscache_tier_get(nullptr, &t) != TTSCACHE_ERR_INVALID_ARGUMENT;
        ttscache_client_free(cc);
        return bad ? 11 : 0;
      }),
      "");
  EXPECT_EQ(daemon.tier_asked.load(), 2) << "STATS asked with flag 16, once per language";
}

TEST(FakeDaemonTier, ADaemonWithoutTheTierIsNotAnError) {
  std::atomic<int> n{0};
  // First a daemon that predates flag 16 (no block), then one without [tier].
  TierFake daemon([&] { return TierReply({}, n++ % 2 == 1); });
  EXPECT_EQ(RunInChild([&] {
              int bad = 0;
              {
                Result<Client> c = Client::Connect({daemon.fake.path(), 5000});
                if (!c) return 2;
                Result<TierStats> old = c->Tier();
                Result<TierStats> off = c->Tier();
                bad |= !old || old->has_tier || old->enabled;
                bad |= !off || !off->has_tier || off->enabled || off->servers != 0 ||
                       off->HitRatio() != 0.0;
              }
              ttscache_client* cc = ttscache_client_new(daemon.fake.path().c_str(), 5000);
              for (int has_tier : {0, 1}) {
                ttscache_tier_stats* t = nullptr;
                if (ttscache_tier_get(cc, &t) != TTSCACHE_OK) return 10;
                bad |= t->has_tier != has_tier || t->enabled != 0 || t->lookups != 0;
                ttscache_tier_free(t);
              }
              ttscache_client_free(cc);
              return bad;
            }),
            "");
}

TEST(FakeDaemonTier, ADaemonThatRefusesTheFlagIsATierUnknown) {
  // As daemons before the tier answer flag 16: BAD_REQUEST.
  FakeDaemon fake([](int socket, const ipc::Frame& request) {
    if (!Is(request, ipc::Opcode::kStats)) {
      FakeDaemon::Reply(socket, request.header.opcode | ipc::kReplyBit, request.header.request_id,
                        {});
      return;
    }
    FakeDaemon::Reply(socket, static_cast<uint8_t>(ipc::Opcode::kError), request.header.request_id,
                      ipc::EncodeErrorReply({ipc::ErrorCode::kBadRequest, 0, 0,
                                             "malformed STATS request (expected an empty body, or "
                                             "u8 flags: 1 limits, 2 streams, 4 detail, 8 "
                                             "coordinate)"}));
  });
  EXPECT_EQ(RunInChild([&] {
              Result<Client> c = Client::Connect({fake.path(), 5000});
              if (!c) return 2;
              Result<TierStats> t = c->Tier();
              if (!t) {
                std::fprintf(stderr, "%s\n", t.error().message.c_str());
                return 1;
              }
              return t->has_tier || t->enabled ? 3 : 0;
            }),
            "");
}

// Each lie, told to C++ and then to C (the fake tells it every time).
void ExpectRefused(std::function<std::vector<uint8_t>()> lie, const std::string& expected) {
  TierFake daemon(lie);
  EXPECT_EQ(RunInChild([&] {
              {
                Result<Client> c = Client::Connect({daemon.fake.path(), 5000});
                if (!c) return 2;
                if (FailedWith(c->Tier(), expected)) return 1;
                // The connection was ended; the next call makes a new one.
                if (FailedWith(c->Tier(), expected)) return 3;
              }
              return CFailedWith(daemon.fake.path(), expected) ? 10 : 0;
            }),
            "")
      << expected;
}

TEST(FakeDaemonTier, ATierBlockCutShortIsRefused) {
  ExpectRefused(
      [] {
        std::vector<uint8_t> body = TierReply(SomeFigures());
        body.resize(body.size() - 4);  // inside lookup_us
        return body;
      },
      "tier block");
}

TEST(FakeDaemonTier, AnUnknownStateIsRefused) {
  ExpectRefused(
      [] {
        std::vector<uint8_t> body = TierReply(SomeFigures());
        body[body.size() - 17 * 8 - 7] = 7;  // the state byte
        return body;
      },
      "tier state = 7");
}

TEST(FakeDaemonTier, AQueueDeeperThanItsSizeIsRefused) {
  ExpectRefused(
      [] {
        ipc::TierStatsWire t = SomeFigures();
        t.queue_depth = 4097;
        return TierReply(t);
      },
      "queue_depth 4097 over its queue_capacity 4096");
}

TEST(FakeDaemonTier, AnEnabledTierWithoutServersOrWithTooManyIsRefused) {
  for (uint32_t servers : {0u, 65u}) {
    ExpectRefused(
        [servers] {
          ipc::TierStatsWire t = SomeFigures();
          t.servers = servers;
          return TierReply(t);
        },
        "enabled with " + std::to_string(servers) + " servers");
  }
  ExpectRefused(
      [] {
        ipc::TierStatsWire t = SomeFigures();
        t.queue_depth = 0;
        t.queue_capacity = 1000001;
        return TierReply(t);
      },
      "queue_capacity of 1000001");
}

TEST(FakeDaemonTier, FiguresFromATierNotEnabledAreRefused) {
  ExpectRefused(
      [] {
        ipc::TierStatsWire t;
        t.hits = 1;
        return TierReply(t);
      },
      "not enabled");
}

}  // namespace
}  // namespace ttscache
