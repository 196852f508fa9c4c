// ClaimTable: single-flight misses (docs/protocol.md, "Coordinating
// synthesis"). For each cache entry that missed, at most one claim: the
// connection whose GET got "claimed" synthesizes and stores it, while later
// claiming GETs of the same entry wait here, in arrival order, until a put
// fulfils the claim, the claim passes to them (its holder disconnected,
// dropped it, or its lease expired), or their own wait ends.
//
// The table only keeps order and time: it sends nothing. Each call returns
// what the server must answer (a takeover's "claimed" reply, a waiter to
// serve again, a timed-out waiter's miss). Times are the caller's monotonic
// milliseconds. A waiter carries a ParkedGet, the request to serve again.
// Every bound is the caller's ClaimLimits (config [coordinate]); nothing
// grows past them. Thread-safety: none; the server's loop thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/audio/opus_params.hpp"
#include "ipc/messages.hpp"

namespace ttscache {

// A GET kept to be served again later — waiting for another's claim, or for
// a tier lookup (tier_dispatch.cpp) —: who asked, and the request with its
// strings owned.
struct ParkedGet {
  uint64_t connection = 0, request = 0;
  std::string engine, text;
  ipc::AudioFormat format = ipc::AudioFormat::kWav;
  OpusParams params;  // as asked: Effective() applies when it is served again
  ipc::Delivery delivery = ipc::Delivery::kInline;
  ipc::FileId known;
  bool claim = false;  // its claim block, as asked
  uint32_t wait_ms = 0;
  int64_t deadline_ms = 0;  // a claim's waiter: when its wait ends (monotonic ms)
  int64_t parked_ms = 0;    // a claim's waiter: when it started waiting

  static ParkedGet Of(uint64_t connection, uint64_t request, const ipc::GetRequest& get);
  // The request again, its views into this.
  ipc::GetRequest Request() const;
};

struct ClaimLimits {
  uint32_t lease_ms = 30000;
  uint32_t max_wait_ms = 60000;  // a waiter's wait is cut to this
  uint32_t max_claims = 16384;
  uint32_t max_claims_per_connection = 256;
  uint32_t max_waiters_per_key = 1024;
  uint32_t max_parked_per_connection = 1024;  // ipc::kMaxParkedPerConnection (slots count too)
  // The memory of every waiting GET together (ParkedCost: its text, engine
  // and bookkeeping). The per-key and per-connection bounds alone allow
  // max_claims × max_waiters_per_key texts of up to max_text_bytes each:
  // gigabytes from one local client with a few hundred connections.
  uint64_t max_parked_bytes = 64ull << 20;
};

// Since start (claims_open and waiting: now).
struct ClaimCounters {
  uint64_t claims = 0;          // granted, takeovers included
  uint64_t claim_waits = 0;     // GETs that waited
  uint64_t waits_served = 0;    // waiters handed back after a put of their entry
  uint64_t wait_timeouts = 0;   // waiters whose wait ended first
  uint64_t lease_expiries = 0;  // claims whose lease ended without a put
  uint64_t takeovers = 0;       // claims passed to a waiter (expiry, disconnect, drop)
  uint64_t claims_refused = 0;  // a limit said no
  uint64_t claims_open = 0, waiting = 0;
};

class ClaimTable {
 public:
  explicit ClaimTable(ClaimLimits limits = {}) : limits_(limits) {}
  // New limits apply to later calls; claims already here keep their lease,
  // but a lower max_wait_ms cuts the waits already here to it (counted from
  // when each started waiting), as a reload of max_wait_s promises.
  void SetLimits(const ClaimLimits& limits);

  // A claiming GET missed `key` (the entry: "engine[/voice]/" + hex key).
  // kClaimed: `get`'s connection now holds the claim, lease `lease_ms`.
  // kWaiting: someone holds it; `get` is parked until Fulfil/a takeover/
  //   its deadline (now + min(wait_ms, max_wait_ms)). Not for wait_ms 0.
  // kRefused: a plain miss; `why` names the limit (or "held by another
  //   client" for wait_ms 0) for the error message.
  enum class Outcome { kClaimed, kWaiting, kRefused };
  struct Answer {
    Outcome outcome = Outcome::kRefused;
    uint32_t lease_ms = 0;
    std::string why;
  };
  // `parked_elsewhere`: the connection's requests already waiting for slots,
  // counted with its waiters here against max_parked_per_connection.
  Answer OnMiss(const std::string& key, ParkedGet get, uint32_t wait_ms, int64_t now_ms,
                uint32_t parked_elsewhere = 0);

  // The entry `key` was stored: its claim (if any) ends; its waiters are
  // returned, oldest first, to be served again as new GETs (with what is
  // left of their wait). Counted as waits_served.
  std::vector<ParkedGet> Fulfil(const std::string& key);

  // A claim handed to a waiter: answer it "claimed" with lease_ms.
  struct Takeover {
    ParkedGet get;
    uint32_t lease_ms = 0;
  };
  // `connection` gave up its claim on `key` (CLAIM_DROP): false when it held
  // none. A waiter, if any, takes the claim over (appended to `takeovers`).
  bool Drop(const std::string& key, uint64_t connection, int64_t now_ms,
            std::vector<Takeover>* takeovers);
  // `connection` closed: its waiters are forgotten (nobody to answer), its
  // claims pass to their first waiter.
  std::vector<Takeover> OnDisconnect(uint64_t connection, int64_t now_ms);

  // Claims were turned off: every claim ends (its holder may still put; a
  // put is a put) and every waiter comes back, oldest first per entry, to be
  // answered a plain miss. Counted as nothing but the end of them.
  std::vector<ParkedGet> EndAll();

  // Leases and waits that ended by now: expired leases pass their claim to
  // their first waiter (or just end), waiters past their deadline come back
  // in `timed_out` (answer them a miss).
  struct Expired {
    std::vector<Takeover> takeovers;
    std::vector<ParkedGet> timed_out;
  };
  Expired Expire(int64_t now_ms);
  // The earliest lease end or wait deadline, for the loop's timer; nullopt
  // when nothing is held or waiting.
  std::optional<int64_t> NextDeadline() const;

  ClaimCounters counters() const;
  // Requests of `connection` waiting here now.
  uint32_t ParkedBy(uint64_t connection) const;
  // Claims `connection` holds now.
  uint32_t HeldBy(uint64_t connection) const;
  // What the waiting GETs cost now, counted against max_parked_bytes.
  uint64_t parked_bytes() const { return parked_bytes_; }
  // What one waiter on `key` costs: its strings and the table's nodes for it.
  static uint64_t ParkedCost(const std::string& key, const ParkedGet& get);

 private:
  struct Claim {
    uint64_t holder = 0;  // connection
    uint32_t lease_ms = 0;
    int64_t lease_end_ms = 0;
    std::deque<ParkedGet> waiters;
  };
  // Hands the claim of `it` to its first waiter, or erases it.
  void PassOn(std::map<std::string, Claim>::iterator it, int64_t now_ms,
              std::vector<Takeover>* takeovers);
  // `connection` holds `claim` from now, with a lease of limits_.lease_ms.
  void Grant(const std::string& key, Claim& claim, uint64_t connection, int64_t now_ms);
  // The holder's bookkeeping (lease deadline, counts) ends.
  void Ungrant(const std::string& key, Claim& claim);
  // `get` no longer waits (served, timed out, took over or forgotten).
  void Unpark(const std::string& key, const ParkedGet& get);
  void EraseDeadline(int64_t at, const std::string& key);
  void AddRef(uint64_t connection, const std::string& key);
  void DropRef(uint64_t connection, const std::string& key);

  ClaimLimits limits_;
  std::map<std::string, Claim> claims_;
  std::unordered_map<uint64_t, uint32_t> held_by_;    // connection → claims held
  std::unordered_map<uint64_t, uint32_t> parked_by_;  // connection → waiters
  // connection → the keys it holds or waits on (with how many of each), so
  // that a disconnect visits only those.
  std::unordered_map<uint64_t, std::map<std::string, uint32_t>> refs_;
  // (deadline, key) of every live lease end and waiter's deadline: each is
  // inserted when it starts and erased when it ends.
  std::multiset<std::pair<int64_t, std::string>> deadlines_;
  uint64_t parked_bytes_ = 0;  // ParkedCost of every waiter
  ClaimCounters counters_;
};

}  // namespace ttscache
