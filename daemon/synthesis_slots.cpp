// SynthesisSlots: see synthesis_slots.hpp for the contract. A slot has a
// unit free only while nobody waits for it (every Release, disconnect and
// SetLimits grants waiters before returning), which is what makes the order
// first come first served. Every waiter's deadline is in `deadlines_`
// exactly while it waits, so NextDeadline is the set's first element.
#include "daemon/synthesis_slots.hpp"

#include <algorithm>
#include <unordered_set>
#include <utility>

namespace ttscache {
namespace {

uint32_t CountOf(const std::unordered_map<uint64_t, uint32_t>& counts, uint64_t connection) {
  auto it = counts.find(connection);
  return it == counts.end() ? 0 : it->second;
}

void Decrement(std::unordered_map<uint64_t, uint32_t>& counts, uint64_t connection) {
  auto it = counts.find(connection);
  if (it == counts.end()) return;
  if (--it->second == 0) counts.erase(it);
}

bool HasFree(uint32_t size, uint32_t held) { return size == 0 || held < size; }

}  // namespace

SynthesisSlots::SynthesisSlots(SlotLimits limits) : limits_(std::move(limits)) {}

uint32_t SynthesisSlots::SizeOf(const std::string& name) const {
  auto it = limits_.sizes.find(name);
  return it == limits_.sizes.end() ? limits_.default_size : it->second;
}

std::string SynthesisSlots::Describe(const std::string& name, const Slot& slot) const {
  const uint32_t size = SizeOf(name);
  return "slot " + name + " (size " +
         (size == 0 ? std::string("unlimited") : std::to_string(size)) + ": " +
         std::to_string(slot.held) + " held, " + std::to_string(slot.waiters.size()) + " waiting)";
}

SlotGrant SynthesisSlots::Take(const std::string& name, Slot& slot, uint64_t connection,
                               uint64_t request, int64_t waited_ms) {
  const uint64_t hold = next_hold_++;
  holds_.emplace(hold, Hold{connection, name});
  holds_of_[connection].insert(hold);
  ++slot.held;
  ++slot.acquired;
  return SlotGrant{connection, request, hold, SizeOf(name), slot.held, waited_ms};
}

void SynthesisSlots::Unwait(const Waiter& w) {
  auto d = deadlines_.find({w.deadline_ms, w.name});
  if (d != deadlines_.end()) deadlines_.erase(d);
  Decrement(parked_by_, w.connection);
  --waiting_;
}

void SynthesisSlots::GrantWaiters(const std::string& name, Slot& slot, int64_t now_ms,
                                  std::vector<SlotGrant>* grants) {
  while (!slot.waiters.empty() && HasFree(SizeOf(name), slot.held)) {
    Waiter w = std::move(slot.waiters.front());
    slot.waiters.pop_front();
    Unwait(w);
    const int64_t waited = std::max<int64_t>(0, now_ms - w.parked_ms);
    ++slot.waited;
    slot.wait_us += static_cast<uint64_t>(waited) * 1000;
    SlotGrant grant = Take(name, slot, w.connection, w.request, waited);
    if (grants) grants->push_back(grant);
  }
}

std::vector<SlotGrant> SynthesisSlots::SetLimits(SlotLimits limits, int64_t now_ms) {
  limits_ = std::move(limits);
  // A lower max_wait_ms cuts the waits already here (from when each began).
  for (auto& [name, slot] : slots_) {
    for (Waiter& w : slot.waiters) {
      const int64_t cut = w.parked_ms + limits_.max_wait_ms;
      if (w.deadline_ms <= cut) continue;
      auto d = deadlines_.find({w.deadline_ms, name});
      if (d != deadlines_.end()) deadlines_.erase(d);
      w.deadline_ms = cut;
      deadlines_.insert({cut, name});
    }
  }
  std::vector<SlotGrant> grants;
  for (auto& [name, slot] : slots_) GrantWaiters(name, slot, now_ms, &grants);
  return grants;
}

SynthesisSlots::Answer SynthesisSlots::Acquire(const std::string& name, uint64_t connection,
                                               uint64_t request, uint32_t wait_ms, int64_t now_ms,
                                               uint32_t parked_elsewhere) {
  Answer answer;
  auto held = holds_of_.find(connection);
  const size_t mine =
      (held == holds_of_.end() ? 0 : held->second.size()) + CountOf(parked_by_, connection);
  // Acquires waiting here become holds when granted, so they count too:
  // the bound holds whatever the order of grants.
  if (mine >= limits_.max_holds_per_connection) {
    answer.why = "this connection holds (or waits for) its maximum of slot units (" +
                 std::to_string(limits_.max_holds_per_connection) + ")";
    return answer;
  }
  Slot& slot = slots_[name];
  const uint32_t size = SizeOf(name);
  if (slot.waiters.empty() && HasFree(size, slot.held)) {
    answer.outcome = Outcome::kGranted;
    answer.grant = Take(name, slot, connection, request, 0);
    return answer;
  }
  const uint32_t wait = std::min(wait_ms, limits_.max_wait_ms);
  if (wait == 0) {
    answer.why = "no unit of " + Describe(name, slot) + " free, and " +
                 (wait_ms == 0 ? "wait_ms is 0" : "max_wait_s is 0");
    return answer;
  }
  if (waiting_ >= limits_.max_waiters) {
    answer.why = "the daemon has its maximum of acquires waiting (max_slot_waiters = " +
                 std::to_string(limits_.max_waiters) + ")";
    return answer;
  }
  if (uint64_t{CountOf(parked_by_, connection)} + parked_elsewhere >=
      limits_.max_parked_per_connection) {
    answer.why = "this connection has its maximum of requests waiting (" +
                 std::to_string(limits_.max_parked_per_connection) + ", claims and slots)";
    return answer;
  }
  Waiter w{connection, request, now_ms, now_ms + wait, name};
  deadlines_.insert({w.deadline_ms, name});
  ++parked_by_[connection];
  ++waiting_;
  slot.waiters.push_back(std::move(w));
  answer.outcome = Outcome::kWaiting;
  return answer;
}

void SynthesisSlots::ReleaseHold(uint64_t hold, int64_t now_ms, std::vector<SlotGrant>* grants) {
  auto it = holds_.find(hold);
  if (it == holds_.end()) return;
  const std::string name = std::move(it->second.name);
  const uint64_t connection = it->second.connection;
  holds_.erase(it);
  auto mine = holds_of_.find(connection);
  if (mine != holds_of_.end()) {
    mine->second.erase(hold);
    if (mine->second.empty()) holds_of_.erase(mine);
  }
  auto slot = slots_.find(name);
  if (slot == slots_.end()) return;
  --slot->second.held;
  GrantWaiters(name, slot->second, now_ms, grants);
}

bool SynthesisSlots::Release(uint64_t connection, uint64_t hold, int64_t now_ms,
                             std::vector<SlotGrant>* grants) {
  auto it = holds_.find(hold);
  if (it == holds_.end() || it->second.connection != connection) return false;
  ReleaseHold(hold, now_ms, grants);
  return true;
}

std::vector<SlotGrant> SynthesisSlots::OnDisconnect(uint64_t connection, int64_t now_ms) {
  std::vector<SlotGrant> grants;
  // Its waiting acquires go first, so that none is granted a unit it can no
  // longer be told about.
  if (CountOf(parked_by_, connection) > 0) {
    for (auto& [name, slot] : slots_) {
      for (auto w = slot.waiters.begin(); w != slot.waiters.end();) {
        if (w->connection == connection) {
          Unwait(*w);
          w = slot.waiters.erase(w);
        } else {
          ++w;
        }
      }
    }
  }
  auto mine = holds_of_.find(connection);
  if (mine == holds_of_.end()) return grants;
  const std::vector<uint64_t> holds(mine->second.begin(), mine->second.end());
  for (uint64_t hold : holds) ReleaseHold(hold, now_ms, &grants);
  return grants;
}

std::vector<SlotTimeout> SynthesisSlots::Expire(int64_t now_ms) {
  std::vector<SlotTimeout> timeouts;
  // A set, not a search of `due`: thousands of leases may end in one ms.
  std::vector<std::string> due;
  std::unordered_set<std::string> seen;
  for (auto d = deadlines_.begin(); d != deadlines_.end() && d->first <= now_ms; ++d) {
    if (seen.insert(d->second).second) due.push_back(d->second);
  }
  for (const std::string& name : due) {
    auto it = slots_.find(name);
    if (it == slots_.end()) continue;
    Slot& slot = it->second;
    for (auto w = slot.waiters.begin(); w != slot.waiters.end();) {
      if (w->deadline_ms > now_ms) {
        ++w;
        continue;
      }
      Waiter gone = std::move(*w);
      w = slot.waiters.erase(w);
      Unwait(gone);
      ++slot.timeouts;
      slot.wait_us += static_cast<uint64_t>(std::max<int64_t>(0, now_ms - gone.parked_ms)) * 1000;
      timeouts.push_back({gone.connection, gone.request,
                          "no unit of " + Describe(name, slot) + " within " +
                              std::to_string(gone.deadline_ms - gone.parked_ms) + " ms"});
    }
  }
  return timeouts;
}

std::optional<int64_t> SynthesisSlots::NextDeadline() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

std::vector<SlotSnapshot> SynthesisSlots::Snapshot() const {
  std::map<std::string, SlotSnapshot> by_name;
  for (const auto& [name, size] : limits_.sizes) by_name[name].size = size;
  for (const auto& [name, slot] : slots_) {
    SlotSnapshot& s = by_name[name];
    s.held = slot.held;
    s.waiting = static_cast<uint32_t>(slot.waiters.size());
    s.acquired = slot.acquired;
    s.waited = slot.waited;
    s.timeouts = slot.timeouts;
    s.wait_us = slot.wait_us;
  }
  std::vector<SlotSnapshot> out;
  out.reserve(by_name.size());
  for (auto& [name, s] : by_name) {
    s.name = name;
    s.size = SizeOf(name);
    out.push_back(std::move(s));
  }
  return out;
}

uint32_t SynthesisSlots::HeldBy(uint64_t connection) const {
  auto it = holds_of_.find(connection);
  return it == holds_of_.end() ? 0 : static_cast<uint32_t>(it->second.size());
}

uint32_t SynthesisSlots::ParkedBy(uint64_t connection) const {
  return CountOf(parked_by_, connection);
}

}  // namespace ttscache
