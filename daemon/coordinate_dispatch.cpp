// Coordinating synthesis on the loop (docs/protocol.md, "Coordinating
// synthesis"): the server's side of ClaimTable and SynthesisSlots. The
// tables keep order and time and send nothing; this file turns what they
// return into replies — a GET's claim or its wait, CLAIM_DROP, SLOT_ACQUIRE
// and SLOT_RELEASE, a put that fulfils a claim (its waiters are served again
// as fresh GETs), a connection that closes (its claims pass on, its holds
// free), and the one-shot timer that ends leases and waits on time.
//
// Everything here runs on the loop thread: no locks, no new threads. A parked
// request is not in its connection's `inflight`; ParkedBy() counts it, so
// such a connection is neither idle nor finished (connection_io.cpp).
#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>

#include "core/log.hpp"
#include "daemon/server.hpp"

namespace ttscache {
namespace {

// Lease expiries and takeovers are logged at most once per interval, with
// the counts in between: a flood of abandoned claims is one line, not many.
constexpr int64_t kClaimLogIntervalMs = 10000;

// The memory every GET waiting for a claim may hold together (their texts
// are kept to serve them again): what the daemon's other budgets are to
// frames and replies. Past it a claim's wait is refused (a plain miss).
constexpr uint64_t kMaxParkedGetBytes = 64ull << 20;

std::string Ms(int64_t ms) { return std::to_string(ms) + " ms"; }

}  // namespace

std::string Server::ClaimKey(std::string_view engine, const CacheKey& key) {
  return std::string(engine) + "/" + key.hex();
}

uint32_t Server::ParkedBy(uint64_t connection) const {
  return claims_.ParkedBy(connection) + slots_.ParkedBy(connection);
}

bool Server::HoldsCoordination(uint64_t connection) const {
  return claims_.HeldBy(connection) != 0 || slots_.HeldBy(connection) != 0;
}

void Server::AnswerMiss(Connection& c, uint64_t request, const ipc::GetRequest& get) {
  if (!get.claim || !config_.config.coordinate.claims) {
    return QueueError(c, request, MakeError(Errc::kNotFound, "not in the cache"));
  }
  Result<std::pair<uint8_t, CacheKey>> resolved = store_->Resolve(get.engine, get.text);
  if (!resolved) return QueueError(c, request, resolved.error());
  const int64_t now = NowMs();
  const uint32_t max_wait_ms = static_cast<uint32_t>(config_.config.coordinate.max_wait_s) * 1000;
  ParkedGet parked = ParkedGet::Of(c.id, request, get);
  parked.parked_ms = now;
  parked.deadline_ms = now + std::min(get.wait_ms, max_wait_ms);
  ClaimTable::Answer answer =
      claims_.OnMiss(ClaimKey(get.engine, resolved->second), std::move(parked), get.wait_ms, now,
                     slots_.ParkedBy(c.id));
  switch (answer.outcome) {
    case ClaimTable::Outcome::kClaimed:
      Queue(c, {ipc::BuildFrame(ipc::ReplyOpcode(ipc::Opcode::kGet), request,
                                ipc::EncodeClaimedReply(answer.lease_ms)),
                {}});
      break;
    case ClaimTable::Outcome::kWaiting:
      break;  // answered by OnEntryStored, a takeover or the coordinate timer
    case ClaimTable::Outcome::kRefused:
      QueueError(c, request,
                 MakeError(Errc::kNotFound, "not in the cache; no claim: " + answer.why));
      break;
  }
  ArmCoordinateTimer();
}

void Server::HandleClaimDrop(Connection& c, uint64_t request, std::span<const uint8_t> body) {
  Result<ipc::ClaimDropRequest> drop = ipc::DecodeClaimDropRequest(body);
  if (!drop) return QueueError(c, request, drop.error());
  Result<std::pair<uint8_t, CacheKey>> resolved = store_->Resolve(drop->engine, drop->text);
  if (!resolved) return QueueError(c, request, resolved.error());
  std::vector<ClaimTable::Takeover> takeovers;
  const bool dropped =
      claims_.Drop(ClaimKey(drop->engine, resolved->second), c.id, NowMs(), &takeovers);
  Queue(c, {ipc::BuildFrame(ipc::ReplyOpcode(ipc::Opcode::kClaimDrop), request,
                            ipc::EncodeClaimDropReply(dropped)),
            {}});
  AnswerTakeovers(takeovers);
  LogClaimEvents();
  ArmCoordinateTimer();
}

void Server::HandleSlotAcquire(Connection& c, uint64_t request, std::span<const uint8_t> body) {
  Result<ipc::SlotAcquireRequest> acquire = ipc::DecodeSlotAcquireRequest(body);
  if (!acquire) return QueueError(c, request, acquire.error());
  // An engine of [cache] engines (its voices share its slot: no voice part)
  // or a slot of its own in [coordinate] slots; anything else would let a
  // client grow the table with names nobody configured.
  const std::string name(acquire->name);
  const std::vector<std::string>& engines = config_.config.cache.engines;
  const auto& slots = config_.config.coordinate.slots;
  const bool known =
      std::find(engines.begin(), engines.end(), name) != engines.end() ||
      std::any_of(slots.begin(), slots.end(), [&](const auto& s) { return s.first == name; });
  if (!known) {
    std::string served;
    for (const std::string& e : engines) served += (served.empty() ? "" : ", ") + e;
    for (const auto& s : slots) served += (served.empty() ? "" : ", ") + s.first;
    return QueueError(c, request,
                      MakeError(Errc::kUnknownEngine, "no synthesis slot \"" + name +
                                                          "\": a slot is an engine or a name "
                                                          "of [coordinate] slots (" +
                                                          served + ")"));
  }
  SynthesisSlots::Answer answer =
      slots_.Acquire(name, c.id, request, acquire->wait_ms, NowMs(), claims_.ParkedBy(c.id));
  switch (answer.outcome) {
    case SynthesisSlots::Outcome::kGranted:
      AnswerGrants({answer.grant});
      break;
    case SynthesisSlots::Outcome::kWaiting:
      break;  // answered by a release, a disconnect, a reload or the coordinate timer
    case SynthesisSlots::Outcome::kRefused:
      busy_++;
      QueueError(c, request, MakeError(Errc::kBusy, answer.why));
      break;
  }
  ArmCoordinateTimer();
}

void Server::HandleSlotRelease(Connection& c, uint64_t request, std::span<const uint8_t> body) {
  Result<uint64_t> hold = ipc::DecodeSlotReleaseRequest(body);
  if (!hold) return QueueError(c, request, hold.error());
  std::vector<SlotGrant> grants;
  if (!slots_.Release(c.id, *hold, NowMs(), &grants)) {
    return QueueError(c, request,
                      MakeError(Errc::kInvalidArgument, "this connection holds no slot unit " +
                                                            std::to_string(*hold) +
                                                            " (released already, or not ours)"));
  }
  Queue(c, {ipc::BuildFrame(ipc::ReplyOpcode(ipc::Opcode::kSlotRelease), request, {}), {}});
  AnswerGrants(grants);
  ArmCoordinateTimer();
}

void Server::OnEntryStored(const std::string& key) {
  std::vector<ParkedGet> waiters = claims_.Fulfil(key);
  const int64_t now = NowMs();
  // Oldest first: if the entry is gone again (evicted at once), the oldest
  // waiter claims it anew and the others wait for that one.
  for (const ParkedGet& get : waiters) ServeParked(get, now);
  ArmCoordinateTimer();
}

void Server::ServeParked(const ParkedGet& parked, int64_t now) {
  auto it = connections_.find(parked.connection);
  if (it == connections_.end() || it->second->closing) return;  // nobody to answer
  ipc::GetRequest get = parked.Request();
  get.claim = true;
  // What is left of its wait; at least 1 ms, so that a miss now waits (and
  // times out with the right reason) rather than being refused at once.
  get.wait_ms = static_cast<uint32_t>(std::max<int64_t>(1, parked.deadline_ms - now));
  HandleGet(*it->second, parked.request, get);
  SettleConnection(parked.connection);
}

void Server::AnswerTakeovers(const std::vector<ClaimTable::Takeover>& takeovers) {
  for (const ClaimTable::Takeover& t : takeovers) {
    QueueReply(t.get.connection, t.get.request, ipc::ReplyOpcode(ipc::Opcode::kGet),
               ipc::EncodeClaimedReply(t.lease_ms));
    SettleConnection(t.get.connection);
  }
}

void Server::AnswerGrants(const std::vector<SlotGrant>& grants) {
  for (const SlotGrant& g : grants) {
    ipc::SlotAcquireReply reply;
    reply.hold = g.hold;
    reply.size = g.size;
    reply.held = g.held;
    QueueReply(g.connection, g.request, ipc::ReplyOpcode(ipc::Opcode::kSlotAcquire),
               ipc::EncodeSlotAcquireReply(reply));
    // A peer that shut its sending side cannot release it: closing frees it.
    SettleConnection(g.connection);
  }
}

void Server::ForgetCoordination(uint64_t connection) {
  const int64_t now = NowMs();
  const std::vector<ClaimTable::Takeover> takeovers = claims_.OnDisconnect(connection, now);
  const std::vector<SlotGrant> grants = slots_.OnDisconnect(connection, now);
  AnswerTakeovers(takeovers);
  AnswerGrants(grants);
  LogClaimEvents();
  ArmCoordinateTimer();
}

void Server::OnCoordinateTimer() {
  uint64_t ticks;
  [[maybe_unused]] ssize_t r = ::read(coordinate_timer_fd_.get(), &ticks, sizeof(ticks));
  coordinate_armed_ms_ = -1;
  const int64_t now = NowMs();
  ExpireTierLookups(now);
  ClaimTable::Expired ended = claims_.Expire(now);
  const std::vector<SlotTimeout> slot_timeouts = slots_.Expire(now);
  AnswerTakeovers(ended.takeovers);
  for (const ParkedGet& get : ended.timed_out) {
    auto it = connections_.find(get.connection);
    if (it == connections_.end()) continue;
    QueueError(*it->second, get.request,
               MakeError(Errc::kNotFound, "not in the cache: waited " +
                                              Ms(get.deadline_ms - get.parked_ms) +
                                              " for another client's synthesis of it, which "
                                              "did not come; synthesize it yourself"));
    SettleConnection(get.connection);
  }
  for (const SlotTimeout& t : slot_timeouts) {
    auto it = connections_.find(t.connection);
    if (it == connections_.end()) continue;
    busy_++;
    QueueError(*it->second, t.request, MakeError(Errc::kBusy, t.why));
    SettleConnection(t.connection);
  }
  LogClaimEvents();
  ArmCoordinateTimer();
}

void Server::ArmCoordinateTimer() {
  if (!coordinate_timer_fd_.valid()) return;
  std::optional<int64_t> next = claims_.NextDeadline();
  if (std::optional<int64_t> slot = slots_.NextDeadline(); slot && (!next || *slot < *next)) {
    next = slot;
  }
  if (!tier_deadlines_.empty() && (!next || tier_deadlines_.begin()->first < *next)) {
    next = tier_deadlines_.begin()->first;
  }
  const int64_t wanted = next ? std::max<int64_t>(*next, 0) : -1;
  if (wanted == coordinate_armed_ms_) return;  // one timerfd_settime per change, not per call
  itimerspec spec{};                           // zero: disarmed
  if (next) {
    // Absolute on CLOCK_MONOTONIC, NowMs()'s clock; a deadline already past
    // fires at once (a zero value would disarm instead).
    spec.it_value.tv_sec = wanted / 1000;
    spec.it_value.tv_nsec = (wanted % 1000) * 1000000;
    if (wanted == 0) spec.it_value.tv_nsec = 1;
  }
  if (::timerfd_settime(coordinate_timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
    log::Error("coordinate timer: " + ErrnoText(errno));
    return;
  }
  coordinate_armed_ms_ = wanted;
}

void Server::SettleConnection(uint64_t connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  // Frames still buffered are served first (ServeFrames may be running on
  // it now); its own CloseIfFinished comes after them.
  Connection& c = *it->second;
  // Answered after a long wait is not idle: idle_timeout_s counts from now.
  c.last_active_ms = NowMs();
  if (c.reader.buffered() > 0) return;
  CloseIfFinished(c);
}

void Server::ApplyCoordinateLimits() {
  const CoordinateSettings& k = config_.config.coordinate;
  ClaimLimits claim_limits;
  claim_limits.lease_ms = static_cast<uint32_t>(k.lease_s) * 1000;
  claim_limits.max_wait_ms = static_cast<uint32_t>(k.max_wait_s) * 1000;
  claim_limits.max_claims = static_cast<uint32_t>(k.max_claims);
  claim_limits.max_claims_per_connection = static_cast<uint32_t>(k.max_claims_per_connection);
  claim_limits.max_waiters_per_key = static_cast<uint32_t>(k.max_waiters_per_key);
  claim_limits.max_parked_per_connection = ipc::kMaxParkedPerConnection;
  claim_limits.max_parked_bytes = kMaxParkedGetBytes;
  claims_.SetLimits(claim_limits);
  if (!k.claims) {
    // Turned off by a reload: nobody is to synthesize for others any more,
    // so the GETs waiting are told now rather than handed claims as leases
    // end (a claim block is a plain miss from now on).
    for (const ParkedGet& get : claims_.EndAll()) {
      auto it = connections_.find(get.connection);
      if (it == connections_.end()) continue;
      QueueError(*it->second, get.request,
                 MakeError(Errc::kNotFound,
                           "not in the cache: claims were turned off ([coordinate] claims = "
                           "false) while this GET waited; synthesize it yourself"));
      SettleConnection(get.connection);
    }
  }
  SlotLimits slot_limits;
  for (const auto& [name, size] : k.slots) slot_limits.sizes[name] = static_cast<uint32_t>(size);
  slot_limits.default_size = static_cast<uint32_t>(k.default_slots);
  slot_limits.max_wait_ms = static_cast<uint32_t>(k.max_wait_s) * 1000;
  slot_limits.max_waiters = static_cast<uint32_t>(k.max_slot_waiters);
  slot_limits.max_holds_per_connection = ipc::kMaxSlotHoldsPerConnection;
  slot_limits.max_parked_per_connection = ipc::kMaxParkedPerConnection;
  AnswerGrants(slots_.SetLimits(std::move(slot_limits), NowMs()));
  ArmCoordinateTimer();
}

void Server::LogClaimEvents() {
  const ClaimCounters k = claims_.counters();
  if (k.lease_expiries == logged_expiries_ && k.takeovers == logged_takeovers_) return;
  const int64_t now = NowMs();
  if (last_claim_log_ms_ >= 0 && now - last_claim_log_ms_ < kClaimLogIntervalMs) return;
  log::Notice("claims: " + std::to_string(k.lease_expiries - logged_expiries_) +
              " lease(s) ended without a put (lease_s " +
              std::to_string(config_.config.coordinate.lease_s) + "), " +
              std::to_string(k.takeovers - logged_takeovers_) +
              " claim(s) passed to a waiting GET (expiry, drop or disconnect)" +
              (last_claim_log_ms_ < 0
                   ? std::string()
                   : " in the last " + std::to_string((now - last_claim_log_ms_) / 1000) + " s"));
  logged_expiries_ = k.lease_expiries;
  logged_takeovers_ = k.takeovers;
  last_claim_log_ms_ = now;
}

void Server::FillCoordinationStats(ipc::CoordinationStatsWire* wire) const {
  const ClaimCounters k = claims_.counters();
  wire->claims = k.claims;
  wire->claim_waits = k.claim_waits;
  wire->waits_served = k.waits_served;
  wire->wait_timeouts = k.wait_timeouts;
  wire->lease_expiries = k.lease_expiries;
  wire->takeovers = k.takeovers;
  wire->claims_refused = k.claims_refused;
  wire->claims_open = k.claims_open;
  wire->waiting = k.waiting;
  // Every engine and every configured slot, acquired or not, by name.
  const CoordinateSettings& settings = config_.config.coordinate;
  std::map<std::string, ipc::SlotStatsWire> by_name;
  auto size_of = [&](const std::string& name) {
    for (const auto& [slot, size] : settings.slots) {
      if (slot == name) return static_cast<uint32_t>(size);
    }
    return static_cast<uint32_t>(settings.default_slots);
  };
  for (const std::string& engine : config_.config.cache.engines) {
    by_name[engine] = {engine, size_of(engine), 0, 0, 0, 0, 0, 0};
  }
  for (const auto& [slot, size] : settings.slots) {
    by_name[slot] = {slot, static_cast<uint32_t>(size), 0, 0, 0, 0, 0, 0};
  }
  for (const SlotSnapshot& s : slots_.Snapshot()) {
    by_name[s.name] = {s.name,     s.size,   s.held,     s.waiting,
                       s.acquired, s.waited, s.timeouts, s.wait_us};
  }
  for (auto& [name, slot] : by_name) wire->slots.push_back(std::move(slot));
}

}  // namespace ttscache
