// Client::Impl's calls that coordinate synthesis between processes
// (docs/protocol.md, "Coordinating synthesis"): a GET that claims its miss,
// CLAIM_DROP, SLOT_ACQUIRE/SLOT_RELEASE and STATS' coordinate block.
//
// These are the calls the daemon answers late on purpose: a claiming GET may
// wait wait_ms for another client's put, an acquire wait_ms for a free unit.
// Each such call waits for its reply the connection's timeout *plus* wait_ms,
// so a daemon that never answers still cannot hang the caller. A unit
// granted after its caller gave up is released at once (OnAbandonedReply); a
// claim granted after its GetOrClaim gave up is left to its lease (the reply
// does not name the phrase to drop), after which the daemon passes it on.
//
// Nothing the daemon says is taken on trust. A claimed reply must carry no
// audio and a lease; a granted unit a hold id that is not 0 and not already
// held on this connection, and a count of holders that includes it (more
// than the slot's size is fine: a reload may have shrunk it under its
// holders). A reply that breaks this ends the connection (Errc::kInternal),
// which also gives back whatever the daemon thinks this connection holds.
//
// The caller's hold ids are the client's own, not the daemon's: a daemon's
// hold id names a unit only on the connection that got it, and that unit is
// released when the connection closes. After a reconnect a new unit may get
// the same daemon id, and releasing a stale hold must not release it.
#include <set>
#include <string>

#include "client/src/client_impl.hpp"
#include "ipc/protocol.hpp"

namespace ttscache {
namespace {

Status CheckName(std::string_view what, std::string_view name) {
  if (name.empty()) return MakeError(Errc::kInvalidArgument, std::string(what) + " is required");
  if (name.size() > ipc::kMaxEngineField) {
    return MakeError(Errc::kInvalidArgument, std::string(what) + " \"" +
                                                 std::string(name.substr(0, 40)) + "...\" is " +
                                                 std::to_string(name.size()) + " bytes (at most " +
                                                 std::to_string(ipc::kMaxEngineField) + ")");
  }
  return {};
}

bool IsErrorReply(uint8_t opcode) { return opcode == static_cast<uint8_t>(ipc::Opcode::kError); }

}  // namespace

Result<ClaimedGet> Client::Impl::GetOrClaim(std::string_view engine, std::string_view text,
                                            Format format, uint32_t wait_ms,
                                            const OpusParams& params, bool descriptor) {
  if (Status s = CheckName("an engine name", engine); !s) return s.error();
  std::string key;
  Result<Reply> r = CallGet(engine, text, format, params, descriptor, true, wait_ms, &key);
  if (!r) return r.error();  // kNotFound: the wait ended first, or no claim was granted
  Result<ipc::AudioReply> a = FromDaemon(ipc::DecodeAudioReply(r->body));
  if (!a) return a.error();
  if (a->place != ipc::AudioPlace::kClaimed) {
    Result<AudioBuffer> audio = AudioFromReply(std::move(*r), descriptor ? &key : nullptr);
    if (!audio) return audio.error();
    return ClaimedGet{std::move(*audio), false, 0};
  }
  if (a->size != 0 || !a->bytes.empty() || r->fd.valid()) {
    return DropConnection(
        "a claimed reply (a miss) that carries audio: " + std::to_string(a->size) + " bytes" +
        (r->fd.valid() ? " and a descriptor" : ""));
  }
  if (a->lease_ms == 0) return DropConnection("a claim granted with a lease of 0 ms");
  // A miss: a mapping kept for the phrase is of an entry that is gone.
  if (auto stale = known_files_.find(key); descriptor && stale != known_files_.end()) {
    ForgetMapping(stale);
  }
  return ClaimedGet{AudioBuffer(), true, a->lease_ms};
}

Result<bool> Client::Impl::DropClaim(std::string_view engine, std::string_view text) {
  if (Status s = CheckName("an engine name", engine); !s) return s.error();
  Result<Reply> r = Call(ipc::Opcode::kClaimDrop, ipc::EncodeClaimDropRequest({engine, text}));
  if (!r) return r.error();
  return FromDaemon(ipc::DecodeClaimDropReply(r->body));
}

Result<SlotHold> Client::Impl::AcquireSlot(std::string_view name, uint32_t wait_ms) {
  if (Status s = CheckName("a slot name", name); !s) return s.error();
  Result<Reply> r =
      Call(ipc::Opcode::kSlotAcquire, ipc::EncodeSlotAcquireRequest({name, wait_ms}), -1, wait_ms);
  if (!r) return r.error();
  Result<ipc::SlotAcquireReply> g = FromDaemon(ipc::DecodeSlotAcquireReply(r->body));
  if (!g) return g.error();
  if (g->hold == 0) return DropConnection("slot \"" + std::string(name) + "\" granted as hold 0");
  if (g->held == 0) {
    return DropConnection("slot \"" + std::string(name) +
                          "\" granted with 0 units held (the grant itself is one)");
  }
  for (const auto& [id, unit] : holds_) {
    if (unit.connection == connection_ && unit.daemon_hold == g->hold) {
      return DropConnection("slot \"" + std::string(name) + "\" granted hold " +
                            std::to_string(g->hold) + ", which this connection already holds");
    }
  }
  const uint64_t id = next_hold_++;
  holds_[id] = HeldUnit{connection_, g->hold};
  return SlotHold{id, g->size, g->held};
}

Status Client::Impl::ReleaseSlot(uint64_t hold) {
  auto held = holds_.find(hold);
  if (held == holds_.end()) {
    return MakeError(Errc::kInvalidArgument,
                     "ReleaseSlot: hold " + std::to_string(hold) + " is not held by this client");
  }
  const HeldUnit unit = held->second;
  holds_.erase(held);
  // The connection that got the unit has closed since, and released it.
  if (unit.connection != connection_ || !socket_.valid()) return {};
  // Not Call: a retry on a new connection would release a hold it never had.
  Result<uint64_t> id =
      Send(ipc::Opcode::kSlotRelease, ipc::EncodeSlotReleaseRequest(unit.daemon_hold));
  if (!id) return id.error().code == Errc::kUnavailable ? Status() : Status(id.error());
  Result<Reply> r = Receive(*id);
  if (!r) {
    // Lost: the daemon released the unit with the connection. Timed out: it
    // may not have, so the caller hears of it.
    if (r.error().code == Errc::kUnavailable && !IsTimedOut(r.error())) return {};
    return r.error();
  }
  if (IsErrorReply(r->opcode)) return ErrorFromBody(r->body);
  return {};
}

void Client::Impl::OnAbandonedReply(uint8_t request_opcode, const Reply& reply) {
  if (request_opcode != static_cast<uint8_t>(ipc::Opcode::kSlotAcquire) ||
      IsErrorReply(reply.opcode)) {
    return;
  }
  Result<ipc::SlotAcquireReply> g = ipc::DecodeSlotAcquireReply(reply.body);
  if (!g || g->hold == 0) return;
  // Granted after the caller gave up: give it back, so it is not held by
  // nobody until this connection closes. Its own reply is not waited for.
  Result<uint64_t> id = Send(ipc::Opcode::kSlotRelease, ipc::EncodeSlotReleaseRequest(g->hold));
  if (id) Abandon(*id);
}

Result<CoordinationStats> Client::Impl::Coordination() {
  Result<ipc::StatsReply> w = Stats(ipc::kStatsCoordinate);
  if (!w) return w.error();
  CoordinationStats c;
  c.has_coordination = w->has_coordination;
  if (!w->has_coordination) return c;
  const ipc::CoordinationStatsWire& d = w->coordination;
  if (d.takeovers > d.claims) {
    return DropConnection("STATS coordinate: " + std::to_string(d.takeovers) +
                          " takeovers of only " + std::to_string(d.claims) +
                          " claims (takeovers are claims)");
  }
  std::set<std::string_view> names;
  for (const ipc::SlotStatsWire& s : d.slots) {
    if (s.name.empty() || !names.insert(s.name).second) {
      return DropConnection("STATS coordinate: slot name \"" + s.name +
                            "\" is empty or listed twice");
    }
  }
  c.claims = d.claims;
  c.claim_waits = d.claim_waits;
  c.waits_served = d.waits_served;
  c.wait_timeouts = d.wait_timeouts;
  c.lease_expiries = d.lease_expiries;
  c.takeovers = d.takeovers;
  c.claims_refused = d.claims_refused;
  c.claims_open = d.claims_open;
  c.waiting = d.waiting;
  c.slots.reserve(d.slots.size());
  for (const ipc::SlotStatsWire& s : d.slots) {
    c.slots.push_back(
        {s.name, s.size, s.held, s.waiting, s.acquired, s.waited, s.timeouts, s.wait_us});
  }
  return c;
}

}  // namespace ttscache
