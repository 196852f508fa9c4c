// SynthesisSlots: named counting semaphores the daemon holds for its clients
// (docs/protocol.md, "Synthesis slots"), so that the syntheses of every
// process on the host together stay within a slot's size (one GPU: xtts:1).
// A unit is held by a connection under a hold id; a connection that closes
// releases all of its holds. Acquires that cannot be granted wait in arrival
// order until a unit frees or their deadline passes.
//
// The table only keeps order and time: it sends nothing. Each call returns
// the grants (answer the waiting SLOT_ACQUIRE with its hold) and timeouts
// (answer it busy) the server must send. Times are the caller's monotonic
// milliseconds. Names are checked by the caller (an engine or a configured
// slot); Sizes(): name → size (0: no limit) for the configured names, and
// `default_size` for any other name. Thread-safety: none; the server's loop
// thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace ttscache {

struct SlotLimits {
  std::map<std::string, uint32_t> sizes;  // configured slots (engines or shared names)
  uint32_t default_size = 2;              // a name not in `sizes`; 0: no limit
  uint32_t max_wait_ms = 60000;           // an acquire's wait is cut to this
  uint32_t max_waiters = 4096;            // waiting over all connections
  uint32_t max_holds_per_connection = 64;
  uint32_t max_parked_per_connection = 1024;  // with the claim table's waiters
};

// A SLOT_ACQUIRE answered with a unit: its connection, request and hold.
struct SlotGrant {
  uint64_t connection = 0, request = 0;
  uint64_t hold = 0;
  uint32_t size = 0, held = 0;  // the reply's fields
  int64_t waited_ms = 0;        // 0 when granted at once
};

// A waiting SLOT_ACQUIRE whose wait ended: answer it busy with `why`.
struct SlotTimeout {
  uint64_t connection = 0, request = 0;
  std::string why;  // "no unit of slot xtts (size 1: 1 held, 3 waiting) within 2000 ms"
};

// One slot's figures for STATS (since start; held and waiting: now).
struct SlotSnapshot {
  std::string name;
  uint32_t size = 0, held = 0, waiting = 0;
  uint64_t acquired = 0, waited = 0, timeouts = 0, wait_us = 0;
};

class SynthesisSlots {
 public:
  explicit SynthesisSlots(SlotLimits limits = {});

  // New sizes and bounds. A smaller size takes no unit back; a larger one
  // grants waiters at once (returned); a lower max_wait_ms cuts the waits
  // already here to it (from when each began).
  std::vector<SlotGrant> SetLimits(SlotLimits limits, int64_t now_ms);

  // kGranted: `grant` is the reply. kWaiting: parked until a unit frees
  // (a later Release/OnDisconnect/SetLimits returns its grant) or its
  // deadline (Expire returns its timeout). kRefused: `why` (busy at once:
  // wait_ms 0 and none free, or a bound).
  enum class Outcome { kGranted, kWaiting, kRefused };
  struct Answer {
    Outcome outcome = Outcome::kRefused;
    SlotGrant grant;  // kGranted
    std::string why;  // kRefused
  };
  // `parked_elsewhere`: the connection's GETs waiting for claims, counted
  // with its waiters here against max_parked_per_connection.
  Answer Acquire(const std::string& name, uint64_t connection, uint64_t request, uint32_t wait_ms,
                 int64_t now_ms, uint32_t parked_elsewhere = 0);
  // Gives `hold` of `connection` back; false when the connection has no
  // such hold. The unit goes to the oldest waiter (appended to `grants`).
  bool Release(uint64_t connection, uint64_t hold, int64_t now_ms, std::vector<SlotGrant>* grants);
  // `connection` closed: its holds are released (grants to waiters are
  // returned) and its waiting acquires forgotten.
  std::vector<SlotGrant> OnDisconnect(uint64_t connection, int64_t now_ms);

  std::vector<SlotTimeout> Expire(int64_t now_ms);
  std::optional<int64_t> NextDeadline() const;

  // Every configured slot and every name acquired since start, by name.
  std::vector<SlotSnapshot> Snapshot() const;
  // Requests of `connection` waiting here now.
  uint32_t ParkedBy(uint64_t connection) const;
  // Units `connection` holds now.
  uint32_t HeldBy(uint64_t connection) const;

 private:
  struct Waiter {
    uint64_t connection = 0, request = 0;
    int64_t parked_ms = 0, deadline_ms = 0;
    std::string name;  // the slot waited for
  };
  struct Slot {
    uint32_t held = 0;
    std::deque<Waiter> waiters;
    uint64_t acquired = 0, waited = 0, timeouts = 0, wait_us = 0;
  };
  uint32_t SizeOf(const std::string& name) const;
  // "slot xtts (size 1: 1 held, 3 waiting)", for the why of a refusal.
  std::string Describe(const std::string& name, const Slot& slot) const;
  // Grants units of `name` to its waiters while any are free.
  void GrantWaiters(const std::string& name, Slot& slot, int64_t now_ms,
                    std::vector<SlotGrant>* grants);
  // A unit of `slot` for `connection` under a new hold id.
  SlotGrant Take(const std::string& name, Slot& slot, uint64_t connection, uint64_t request,
                 int64_t waited_ms);
  // `w` no longer waits (granted, timed out or forgotten): its deadline and counts go.
  void Unwait(const Waiter& w);
  // Releases `hold` (whoever has it) and grants the freed unit.
  void ReleaseHold(uint64_t hold, int64_t now_ms, std::vector<SlotGrant>* grants);

  SlotLimits limits_;
  std::map<std::string, Slot> slots_;
  struct Hold {
    uint64_t connection = 0;
    std::string name;
  };
  std::unordered_map<uint64_t, Hold> holds_;  // hold id → holder; ids from 1, never reused
  uint64_t next_hold_ = 1;
  std::unordered_map<uint64_t, std::set<uint64_t>> holds_of_;  // connection → its hold ids
  std::unordered_map<uint64_t, uint32_t> parked_by_;           // connection → waiting acquires
  // (deadline, name) of every waiting acquire, exactly while it waits.
  std::multiset<std::pair<int64_t, std::string>> deadlines_;
  uint32_t waiting_ = 0;
};

}  // namespace ttscache
