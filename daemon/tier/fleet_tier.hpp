// FleetTier: the fleet-shared second tier behind the local cache — a pool of
// memcached servers reached through libmemcached (consistent hashing,
// ketama; a failing server is ejected and retried). docs/fleet.md.
//
// - Lookup (read-through): on a lookup thread, fetches the entry's WAV and/or
//   one Opus variant in one multi-get, verifies each value (tier_value.hpp:
//   header, key, CRC-32C; a corrupt one is a miss, counted and deleted from
//   the pool), stores what it found in the CacheStore (Put, then PutVariant
//   with the new generation; nothing when the entry was cached here
//   meanwhile) and calls `done` on that thread. A variant is
//   only used with a WAV: found without one (and with no local entry) it is
//   a miss; and only beside the WAV it was encoded from (its value carries
//   that WAV's CRC-32C, checked against the WAV fetched or cached here).
// - Offer (write-behind): queues a key, never blocks; a writer thread reads
//   the file from the store (CacheStore::Peek: no hit counted, LRU order
//   untouched; gone meanwhile: skipped) and sets it in the pool. A full queue
//   drops (counted); a value over max_item_bytes is skipped (counted).
// - Failure is a miss, never an error: a circuit breaker (circuit_breaker.hpp)
//   opens after consecutive failed operations — then lookups and writes are
//   skipped (counted) — and probes again after a back-off; each state change
//   is logged once. No call here waits for the network: Lookup and Offer
//   only queue. A lookup's own I/O is bounded by timeout_ms per operation;
//   the caller still enforces its deadline (a late result stores, unread).
//
// Keys (tier_key.hpp): "{prefix}:1:{engine[/voice]}:{sha256 hex}" and, for a
// variant, ":{VariantTag}" appended. Values: tier_value.hpp.
//
// Thread-safety: every public method may be called from any thread; `done`
// runs on a lookup thread (post to the loop from it). The destructor stops
// the threads (queued lookups are answered a miss; queued writes dropped)
// and returns within about timeout_ms. `store` must outlive the tier.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/audio/opus_params.hpp"
#include "core/cachekey/cache_key.hpp"
#include "core/config/config.hpp"
#include "core/result.hpp"
#include "ipc/messages.hpp"

namespace ttscache {

class CacheStore;

struct TierLookup {
  std::string engine;       // "engine" or "engine/voice", as the GET named it
  std::string text;         // the GET's text: Put stores it (and checks it hashes to `key`)
  CacheKey key;             // of the normalized text
  bool want_wav = true;     // false: the WAV is cached here, only the variant is asked
  uint64_t generation = 0;  // want_wav false: the local entry's (for PutVariant)
  std::optional<OpusParams> variant;  // the effective parameters of the variant asked, if any
};

struct TierLookupResult {
  bool wav_stored = false;      // the WAV came from the tier and is now cached here
  bool variant_stored = false;  // the variant too (or alone, when want_wav was false)
  uint64_t generation = 0;      // of the entry stored (wav_stored)
};

class FleetTier {
 public:
  // Connects nothing yet (libmemcached connects on first use); fails only on
  // settings it cannot use (no servers, credentials unreadable or malformed:
  // kConfig naming the file and what was expected).
  static Result<std::unique_ptr<FleetTier>> Start(const TierSettings& settings, CacheStore* store);
  ~FleetTier();

  // Queues a lookup; `done` is called exactly once, on a lookup thread —
  // unless this returns false (not queued: the breaker is down, nothing of
  // what is asked is shared, or the lookup queue is full; counted as
  // skipped), when it is never called. A lookup's answer is a miss on any
  // failure.
  bool Lookup(TierLookup lookup, std::function<void(TierLookupResult)> done);

  // Queues the entry's WAV (or its variant) to be written to the pool.
  // Never blocks. Not shared, breaker down (skipped), queue full (dropped).
  void OfferWav(std::string_view engine, const CacheKey& key);
  // `wav_crc32c`: the CRC-32C of the WAV the variant was encoded from
  // (core/crc32c.hpp), written with it; a lookup uses the variant only
  // beside that WAV (a host's newer put of the text makes it stale).
  void OfferVariant(std::string_view engine, const CacheKey& key, const OpusParams& params,
                    uint32_t wav_crc32c);

  // Queues the deletion of the entry's WAV from the pool (DELETE here: an
  // entry an operator removed must not come back from the tier). Its
  // variants there become unusable with it. Queued behind the writes
  // offered before it; a full queue drops it (counted).
  void ForgetWav(std::string_view engine, const CacheKey& key);

  // Counters and state for STATS flag kStatsTier (`timeouts` and `coalesced`
  // are the caller's: the loop counts them with CountTimeout/CountCoalesced).
  ipc::TierStatsWire Stats() const;
  void CountTimeout();
  void CountCoalesced();

  FleetTier(const FleetTier&) = delete;
  FleetTier& operator=(const FleetTier&) = delete;

 private:
  struct State;
  explicit FleetTier(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ttscache
