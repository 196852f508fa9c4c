// Client::Impl::Tier: STATS flag 16, the fleet tier's counters
// (docs/protocol.md, "STATS reply"; docs/fleet.md).
//
// The codec (ipc/messages.cpp) refuses the block's impossible shapes: an
// unknown state, a reserved field not zero, figures from a tier that is not
// enabled, a queue deeper than its size. Here, what the daemon's own
// configuration bounds ([tier] in docs/config.md): an enabled tier has 1 to
// 64 servers and a write-behind queue of 1 to 1,000,000. A reply past these
// is from no ttscached; like every reply not believed, it ends the connection.
#include <string>

#include "client/src/client_impl.hpp"
#include "ipc/protocol.hpp"

namespace ttscache {
namespace {

constexpr uint32_t kMaxTierServers = 64;         // [tier] servers
constexpr uint64_t kMaxTierQueueSize = 1000000;  // [tier] queue_size

}  // namespace

Result<TierStats> Client::Impl::Tier() {
  Result<ipc::StatsReply> w = Stats(ipc::kStatsTier);
  // A daemon from before the tier refuses the flag it does not know as a bad
  // request (they do, though docs/protocol.md once said they ignore it): the
  // tier is then unknown, not an error — `ttscache stats` keeps working
  // against the daemon still running while its package is upgraded.
  if (!w && w.error().code == Errc::kInvalidArgument) return TierStats{};
  if (!w) return w.error();
  TierStats t;
  t.has_tier = w->has_tier;
  if (!w->has_tier) return t;
  const ipc::TierStatsWire& d = w->tier;
  if (d.enabled && (d.servers == 0 || d.servers > kMaxTierServers)) {
    return DropConnection("STATS tier: enabled with " + std::to_string(d.servers) +
                          " servers (1 to " + std::to_string(kMaxTierServers) + ")");
  }
  if (d.enabled && (d.queue_capacity == 0 || d.queue_capacity > kMaxTierQueueSize)) {
    return DropConnection("STATS tier: enabled with a queue_capacity of " +
                          std::to_string(d.queue_capacity) + " (1 to " +
                          std::to_string(kMaxTierQueueSize) + ")");
  }
  t.enabled = d.enabled;
  t.state = static_cast<TierState>(d.state);  // 0..2, checked by the codec
  t.servers = d.servers;
  t.lookups = d.lookups;
  t.coalesced = d.coalesced;
  t.hits = d.hits;
  t.variant_hits = d.variant_hits;
  t.misses = d.misses;
  t.errors = d.errors;
  t.timeouts = d.timeouts;
  t.corrupt = d.corrupt;
  t.skipped = d.skipped;
  t.writes = d.writes;
  t.write_errors = d.write_errors;
  t.dropped = d.dropped;
  t.oversized = d.oversized;
  t.queue_depth = d.queue_depth;
  t.queue_capacity = d.queue_capacity;
  t.breaker_opens = d.breaker_opens;
  t.lookup_us = d.lookup_us;
  return t;
}

}  // namespace ttscache
