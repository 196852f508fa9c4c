// The C API's tier counters (ttscache.h, "The fleet's second tier"): one
// allocated ttscache_tier_stats, filled from Client::Tier (which has refused
// what no daemon sends), freed with ttscache_tier_free. Allocated rather than
// filled in the caller's struct so fields can be appended without breaking
// callers built against an older header.
#include <memory>

#include "c_api_internal.hpp"

using namespace ttscache::capi;  // NOLINT: the C entry points below are its callers

static_assert(TTSCACHE_TIER_UP == static_cast<int>(ttscache::TierState::kUp) &&
              TTSCACHE_TIER_DOWN == static_cast<int>(ttscache::TierState::kDown) &&
              TTSCACHE_TIER_PROBING == static_cast<int>(ttscache::TierState::kProbing));

extern "C" {

int ttscache_tier_get(ttscache_client* client, ttscache_tier_stats** out) {
  if (out) *out = nullptr;
  if (!client || !out) return Invalid(client, "NULL argument");
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto r = client->client->Tier();
    if (!r) return Fail(client, r.error());
    auto t = std::make_unique<ttscache_tier_stats>();
    t->has_tier = r->has_tier ? 1 : 0;
    t->enabled = r->enabled ? 1 : 0;
    t->state = static_cast<int>(r->state);
    t->servers = r->servers;
    t->lookups = r->lookups;
    t->coalesced = r->coalesced;
    t->hits = r->hits;
    t->variant_hits = r->variant_hits;
    t->misses = r->misses;
    t->errors = r->errors;
    t->timeouts = r->timeouts;
    t->corrupt = r->corrupt;
    t->skipped = r->skipped;
    t->writes = r->writes;
    t->write_errors = r->write_errors;
    t->dropped = r->dropped;
    t->oversized = r->oversized;
    t->queue_depth = r->queue_depth;
    t->queue_capacity = r->queue_capacity;
    t->breaker_opens = r->breaker_opens;
    t->lookup_us = r->lookup_us;
    *out = t.release();
    return Ok(client);
  });
}

void ttscache_tier_free(ttscache_tier_stats* stats) { delete stats; }

}  // extern "C"
