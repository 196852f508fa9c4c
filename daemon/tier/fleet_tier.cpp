// FleetTier (fleet_tier.hpp). First landing: the contract compiles and
// links, every lookup is declined (skipped) and every offer ignored, so the
// daemon can be integrated against it while the pool behind it is built.
#include "daemon/tier/fleet_tier.hpp"

#include <atomic>

#include "daemon/cache/cache_store.hpp"

namespace ttscache {

struct FleetTier::State {
  TierSettings settings;
  CacheStore* store = nullptr;
  std::atomic<uint64_t> skipped{0}, timeouts{0}, coalesced{0};
};

Result<std::unique_ptr<FleetTier>> FleetTier::Start(const TierSettings& settings,
                                                    CacheStore* store) {
  if (settings.servers.empty()) {
    return MakeError(Errc::kConfig, "[tier] servers: none configured (the tier is off without)");
  }
  auto state = std::make_unique<State>();
  state->settings = settings;
  state->store = store;
  return std::unique_ptr<FleetTier>(new FleetTier(std::move(state)));
}

FleetTier::FleetTier(std::unique_ptr<State> state) : state_(std::move(state)) {}
FleetTier::~FleetTier() = default;

bool FleetTier::Lookup(TierLookup, std::function<void(TierLookupResult)>) {
  state_->skipped.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void FleetTier::OfferWav(std::string_view, const CacheKey&) {}
void FleetTier::OfferVariant(std::string_view, const CacheKey&, const OpusParams&) {}

ipc::TierStatsWire FleetTier::Stats() const {
  ipc::TierStatsWire s;
  s.enabled = true;
  s.servers = static_cast<uint32_t>(state_->settings.servers.size());
  s.skipped = state_->skipped.load(std::memory_order_relaxed);
  s.timeouts = state_->timeouts.load(std::memory_order_relaxed);
  s.coalesced = state_->coalesced.load(std::memory_order_relaxed);
  s.queue_capacity = static_cast<uint64_t>(state_->settings.queue_size);
  return s;
}

void FleetTier::CountTimeout() { state_->timeouts.fetch_add(1, std::memory_order_relaxed); }
void FleetTier::CountCoalesced() { state_->coalesced.fetch_add(1, std::memory_order_relaxed); }

}  // namespace ttscache
