// ClaimTable: see claim_table.hpp for the contract. Every lease end and
// every waiter's deadline is in `deadlines_` exactly as long as it is live
// (inserted when it starts, erased when it ends), so NextDeadline is the
// set's first element and Expire visits only the keys with something due.
// `refs_` lets a disconnect visit only the keys the connection holds or
// waits on, not the whole table.
#include "daemon/claim_table.hpp"

#include <algorithm>
#include <unordered_set>
#include <utility>

namespace ttscache {

ParkedGet ParkedGet::Of(uint64_t connection, uint64_t request, const ipc::GetRequest& get) {
  ParkedGet parked;
  parked.connection = connection;
  parked.request = request;
  parked.engine = std::string(get.engine);
  parked.text = std::string(get.text);
  parked.format = get.format;
  parked.params = get.params;
  parked.delivery = get.delivery;
  parked.known = get.known;
  parked.claim = get.claim;
  parked.wait_ms = get.wait_ms;
  return parked;
}

ipc::GetRequest ParkedGet::Request() const {
  ipc::GetRequest get;
  get.engine = engine;
  get.text = text;
  get.format = format;
  get.params = params;
  get.delivery = delivery;
  get.known = known;
  get.claim = claim;
  get.wait_ms = wait_ms;
  return get;
}
namespace {

// Decrements a per-connection count, forgetting the connection at zero so
// the maps stay as small as the connections that use them.
void Decrement(std::unordered_map<uint64_t, uint32_t>& counts, uint64_t connection) {
  auto it = counts.find(connection);
  if (it == counts.end()) return;
  if (--it->second == 0) counts.erase(it);
}

uint32_t CountOf(const std::unordered_map<uint64_t, uint32_t>& counts, uint64_t connection) {
  auto it = counts.find(connection);
  return it == counts.end() ? 0 : it->second;
}

}  // namespace

void ClaimTable::EraseDeadline(int64_t at, const std::string& key) {
  auto it = deadlines_.find({at, key});
  if (it != deadlines_.end()) deadlines_.erase(it);
}

void ClaimTable::AddRef(uint64_t connection, const std::string& key) { ++refs_[connection][key]; }

void ClaimTable::DropRef(uint64_t connection, const std::string& key) {
  auto conn = refs_.find(connection);
  if (conn == refs_.end()) return;
  auto it = conn->second.find(key);
  if (it != conn->second.end() && --it->second == 0) conn->second.erase(it);
  if (conn->second.empty()) refs_.erase(conn);
}

void ClaimTable::Grant(const std::string& key, Claim& claim, uint64_t connection, int64_t now_ms) {
  claim.holder = connection;
  claim.lease_ms = limits_.lease_ms;
  claim.lease_end_ms = now_ms + limits_.lease_ms;
  deadlines_.insert({claim.lease_end_ms, key});
  ++held_by_[connection];
  AddRef(connection, key);
  ++counters_.claims;
}

void ClaimTable::Ungrant(const std::string& key, Claim& claim) {
  EraseDeadline(claim.lease_end_ms, key);
  Decrement(held_by_, claim.holder);
  DropRef(claim.holder, key);
}

uint64_t ClaimTable::ParkedCost(const std::string& key, const ParkedGet& get) {
  // The ParkedGet and its strings, plus the key again in `deadlines_` and
  // `refs_` with their tree nodes (an estimate: a bound, not an accounting).
  constexpr uint64_t kNodes = 3 * 64;
  return sizeof(ParkedGet) + get.engine.size() + get.text.size() + 2 * key.size() + kNodes;
}

void ClaimTable::SetLimits(const ClaimLimits& limits) {
  limits_ = limits;
  for (auto& [key, claim] : claims_) {
    for (ParkedGet& get : claim.waiters) {
      const int64_t cut = get.parked_ms + limits_.max_wait_ms;
      if (get.deadline_ms <= cut) continue;
      EraseDeadline(get.deadline_ms, key);
      get.deadline_ms = cut;
      deadlines_.insert({cut, key});
    }
  }
}

void ClaimTable::Unpark(const std::string& key, const ParkedGet& get) {
  parked_bytes_ -= std::min(parked_bytes_, ParkedCost(key, get));
  EraseDeadline(get.deadline_ms, key);
  Decrement(parked_by_, get.connection);
  DropRef(get.connection, key);
  --counters_.waiting;
}

ClaimTable::Answer ClaimTable::OnMiss(const std::string& key, ParkedGet get, uint32_t wait_ms,
                                      int64_t now_ms, uint32_t parked_elsewhere) {
  Answer answer;
  auto it = claims_.find(key);
  if (it == claims_.end()) {
    if (claims_.size() >= limits_.max_claims) {
      ++counters_.claims_refused;
      answer.why = "the daemon holds its maximum of claims (max_claims = " +
                   std::to_string(limits_.max_claims) + ")";
      return answer;
    }
    if (CountOf(held_by_, get.connection) >= limits_.max_claims_per_connection) {
      ++counters_.claims_refused;
      answer.why = "this connection holds its maximum of claims (max_claims_per_connection = " +
                   std::to_string(limits_.max_claims_per_connection) + ")";
      return answer;
    }
    it = claims_.emplace(key, Claim{}).first;
    Grant(key, it->second, get.connection, now_ms);
    answer.outcome = Outcome::kClaimed;
    answer.lease_ms = it->second.lease_ms;
    return answer;
  }

  Claim& claim = it->second;
  const uint32_t wait = std::min(wait_ms, limits_.max_wait_ms);
  if (wait == 0) {
    answer.why = wait_ms == 0 ? "held by another client (and wait_ms is 0)"
                              : "held by another client (and max_wait_s is 0)";
    return answer;
  }
  if (claim.waiters.size() >= limits_.max_waiters_per_key) {
    ++counters_.claims_refused;
    answer.why = "its maximum of GETs already wait for this entry (max_waiters_per_key = " +
                 std::to_string(limits_.max_waiters_per_key) + ")";
    return answer;
  }
  if (uint64_t{CountOf(parked_by_, get.connection)} + parked_elsewhere >=
      limits_.max_parked_per_connection) {
    ++counters_.claims_refused;
    answer.why = "this connection has its maximum of requests waiting (" +
                 std::to_string(limits_.max_parked_per_connection) + ", claims and slots)";
    return answer;
  }
  const uint64_t cost = ParkedCost(key, get);
  if (parked_bytes_ + cost > limits_.max_parked_bytes) {
    ++counters_.claims_refused;
    answer.why = "the daemon holds its maximum of waiting GETs (" +
                 std::to_string(limits_.max_parked_bytes >> 20) + " MiB of their requests)";
    return answer;
  }
  parked_bytes_ += cost;
  get.parked_ms = now_ms;
  get.deadline_ms = now_ms + wait;
  deadlines_.insert({get.deadline_ms, key});
  ++parked_by_[get.connection];
  AddRef(get.connection, key);
  ++counters_.claim_waits;
  ++counters_.waiting;
  claim.waiters.push_back(std::move(get));
  answer.outcome = Outcome::kWaiting;
  return answer;
}

std::vector<ParkedGet> ClaimTable::Fulfil(const std::string& key) {
  std::vector<ParkedGet> served;
  auto it = claims_.find(key);
  if (it == claims_.end()) return served;
  Claim& claim = it->second;
  Ungrant(key, claim);
  served.reserve(claim.waiters.size());
  for (ParkedGet& get : claim.waiters) {
    Unpark(key, get);
    ++counters_.waits_served;
    served.push_back(std::move(get));
  }
  claims_.erase(it);
  return served;
}

void ClaimTable::PassOn(std::map<std::string, Claim>::iterator it, int64_t now_ms,
                        std::vector<Takeover>* takeovers) {
  Claim& claim = it->second;
  Ungrant(it->first, claim);
  if (claim.waiters.empty()) {
    claims_.erase(it);
    return;
  }
  // The longest waiting GET holds it now, with a lease of its own. No
  // per-connection bound is checked: the waiter was admitted under them and
  // a takeover refused would strand the others.
  ParkedGet next = std::move(claim.waiters.front());
  claim.waiters.pop_front();
  Unpark(it->first, next);
  Grant(it->first, claim, next.connection, now_ms);
  ++counters_.takeovers;
  if (takeovers) takeovers->push_back({std::move(next), claim.lease_ms});
}

bool ClaimTable::Drop(const std::string& key, uint64_t connection, int64_t now_ms,
                      std::vector<Takeover>* takeovers) {
  auto it = claims_.find(key);
  if (it == claims_.end() || it->second.holder != connection) return false;
  PassOn(it, now_ms, takeovers);
  return true;
}

std::vector<ClaimTable::Takeover> ClaimTable::OnDisconnect(uint64_t connection, int64_t now_ms) {
  std::vector<Takeover> takeovers;
  auto conn = refs_.find(connection);
  if (conn == refs_.end()) return takeovers;
  std::vector<std::string> keys;
  keys.reserve(conn->second.size());
  for (const auto& [key, count] : conn->second) keys.push_back(key);
  // Its waiters go first, so that none of them is handed the claim of
  // their own (closed) connection.
  for (const std::string& key : keys) {
    auto it = claims_.find(key);
    if (it == claims_.end()) continue;
    auto& waiters = it->second.waiters;
    for (auto w = waiters.begin(); w != waiters.end();) {
      if (w->connection == connection) {
        Unpark(key, *w);
        w = waiters.erase(w);
      } else {
        ++w;
      }
    }
  }
  for (const std::string& key : keys) {
    auto it = claims_.find(key);
    if (it != claims_.end() && it->second.holder == connection) PassOn(it, now_ms, &takeovers);
  }
  return takeovers;
}

std::vector<ParkedGet> ClaimTable::EndAll() {
  std::vector<ParkedGet> waiters;
  waiters.reserve(counters_.waiting);
  for (auto& [key, claim] : claims_) {
    for (ParkedGet& get : claim.waiters) waiters.push_back(std::move(get));
  }
  claims_.clear();
  held_by_.clear();
  parked_by_.clear();
  refs_.clear();
  deadlines_.clear();
  parked_bytes_ = 0;
  counters_.waiting = 0;
  return waiters;
}

ClaimTable::Expired ClaimTable::Expire(int64_t now_ms) {
  Expired expired;
  // The keys with something due, each once, earliest first.
  // A set, not a search of `due`: thousands of leases may end in one ms.
  std::vector<std::string> due;
  std::unordered_set<std::string> seen;
  for (auto d = deadlines_.begin(); d != deadlines_.end() && d->first <= now_ms; ++d) {
    if (seen.insert(d->second).second) due.push_back(d->second);
  }
  for (const std::string& key : due) {
    auto it = claims_.find(key);
    if (it == claims_.end()) continue;
    // Waits that ended first: a waiter due now does not take the claim over.
    auto& waiters = it->second.waiters;
    for (auto w = waiters.begin(); w != waiters.end();) {
      if (w->deadline_ms <= now_ms) {
        Unpark(key, *w);
        ++counters_.wait_timeouts;
        expired.timed_out.push_back(std::move(*w));
        w = waiters.erase(w);
      } else {
        ++w;
      }
    }
    if (it->second.lease_end_ms <= now_ms) {
      ++counters_.lease_expiries;
      PassOn(it, now_ms, &expired.takeovers);
    }
  }
  return expired;
}

std::optional<int64_t> ClaimTable::NextDeadline() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

ClaimCounters ClaimTable::counters() const {
  ClaimCounters c = counters_;
  c.claims_open = claims_.size();
  return c;
}

uint32_t ClaimTable::HeldBy(uint64_t connection) const { return CountOf(held_by_, connection); }

uint32_t ClaimTable::ParkedBy(uint64_t connection) const { return CountOf(parked_by_, connection); }

}  // namespace ttscache
