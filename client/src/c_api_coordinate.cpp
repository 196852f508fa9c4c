// The C API's calls that coordinate synthesis (ttscache.h, "Coordinating
// synthesis"): a get that claims its miss, dropping a claim, a slot's units
// and the coordination counters. Each entry point checks its pointers, then
// runs inside Guarded like every other (c_api_internal.hpp). The counters are
// one allocated block, the public struct first, so ttscache_coordination_free
// is one delete and frees the slots and their names with it.
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "c_api_internal.hpp"

using namespace ttscache::capi;  // NOLINT: the C entry points below are its callers

namespace {

struct CoordinationBlock {
  ttscache_coordination_stats pub{};
  std::vector<ttscache_slot_stats> slots;
  std::vector<std::string> names;  // one per slot, what slots[i].name points into
};
static_assert(std::is_standard_layout_v<CoordinationBlock>);

}  // namespace

extern "C" {

int ttscache_get_or_claim(ttscache_client* client, const char* engine, const char* text,
                          size_t text_length, int format, const ttscache_opus_params* params,
                          uint32_t wait_ms, ttscache_buffer* out, int* claimed,
                          uint32_t* lease_ms) {
  if (out) *out = ttscache_buffer{nullptr, 0, nullptr};
  if (claimed) *claimed = 0;
  if (lease_ms) *lease_ms = 0;
  if (!client || !engine || !out || !claimed) return Invalid(client, "NULL argument");
  if (const char* bad = BadText(text, text_length)) return Invalid(client, bad);
  if (format != TTSCACHE_FORMAT_WAV && format != TTSCACHE_FORMAT_OPUS) {
    return Invalid(client, "format must be TTSCACHE_FORMAT_WAV or TTSCACHE_FORMAT_OPUS");
  }
  return Guarded(client, [&] {
    ttscache::OpusParams p;
    if (int rc = ToParams(client, params, &p); rc != TTSCACHE_OK) return rc;
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto r = client->client->GetOrClaim(
        engine, {text, text_length},
        format == TTSCACHE_FORMAT_WAV ? ttscache::Format::kWav : ttscache::Format::kOpus, wait_ms,
        p);
    if (!r) return Fail(client, r.error());
    if (r->claimed) {
      *claimed = 1;
      if (lease_ms) *lease_ms = r->lease_ms;
      return Ok(client);
    }
    return Deliver(client, std::move(r->audio), out);
  });
}

int ttscache_claim_drop(ttscache_client* client, const char* engine, const char* text,
                        size_t text_length, int* dropped) {
  if (dropped) *dropped = 0;
  if (!client || !engine) return Invalid(client, "NULL argument");
  if (const char* bad = BadText(text, text_length)) return Invalid(client, bad);
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto r = client->client->DropClaim(engine, {text, text_length});
    if (!r) return Fail(client, r.error());
    if (dropped) *dropped = *r ? 1 : 0;
    return Ok(client);
  });
}

int ttscache_slot_acquire(ttscache_client* client, const char* name, uint32_t wait_ms,
                          uint64_t* hold) {
  if (hold) *hold = 0;
  if (!client || !name || !hold) return Invalid(client, "NULL argument");
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto r = client->client->AcquireSlot(name, wait_ms);
    if (!r) return Fail(client, r.error());
    *hold = r->id;
    return Ok(client);
  });
}

int ttscache_slot_release(ttscache_client* client, uint64_t hold) {
  if (!client) return Invalid(client, "NULL client");
  if (hold == 0) return Invalid(client, "hold 0 is never held");
  return Guarded(client, [&] {
    // No connection yet: nothing was acquired through this handle.
    if (!client->client) {
      return Fail(client,
                  ttscache::Error{ttscache::Errc::kInvalidArgument,
                                  "hold " + std::to_string(hold) + " is not held by this handle"});
    }
    ttscache::SlotHold h;
    h.id = hold;
    ttscache::Status s = client->client->ReleaseSlot(h);
    if (!s) return Fail(client, s.error());
    return Ok(client);
  });
}

int ttscache_coordination_get(ttscache_client* client, ttscache_coordination_stats** out) {
  if (out) *out = nullptr;
  if (!client || !out) return Invalid(client, "NULL argument");
  return Guarded(client, [&] {
    if (int rc = EnsureConnected(client); rc != TTSCACHE_OK) return rc;
    auto r = client->client->Coordination();
    if (!r) return Fail(client, r.error());
    auto block = std::make_unique<CoordinationBlock>();
    block->names.reserve(r->slots.size());
    block->slots.reserve(r->slots.size());
    for (const ttscache::SlotStats& s : r->slots) {
      block->names.push_back(s.name);
      ttscache_slot_stats c{};
      c.name = block->names.back().c_str();
      c.size = s.size;
      c.held = s.held;
      c.waiting = s.waiting;
      c.acquired = s.acquired;
      c.waited = s.waited;
      c.timeouts = s.timeouts;
      c.wait_us = s.wait_us;
      block->slots.push_back(c);
    }
    ttscache_coordination_stats& c = block->pub;
    c.has_coordination = r->has_coordination ? 1 : 0;
    c.claims = r->claims;
    c.claim_waits = r->claim_waits;
    c.waits_served = r->waits_served;
    c.wait_timeouts = r->wait_timeouts;
    c.lease_expiries = r->lease_expiries;
    c.takeovers = r->takeovers;
    c.claims_refused = r->claims_refused;
    c.claims_open = r->claims_open;
    c.waiting = r->waiting;
    c.slot_count = block->slots.size();
    c.slots = block->slots.data();
    *out = &block.release()->pub;
    return Ok(client);
  });
}

void ttscache_coordination_free(ttscache_coordination_stats* stats) {
  delete reinterpret_cast<CoordinationBlock*>(stats);
}

}  // extern "C"
