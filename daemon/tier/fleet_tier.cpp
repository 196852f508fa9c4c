// FleetTier (fleet_tier.hpp): two bounded queues and the threads that drain
// them. Lookups go to `lookup_threads` threads, each with its own
// libmemcached handle (handles are not thread-safe); offers go to one writer
// thread with its own. A queue is the only thing the daemon's threads touch,
// so no request waits for the network; the breaker keeps a dead pool from
// costing a timeout per request. Each lookup ends in exactly one of hit
// (WAV and/or variant stored), miss, or error, and is counted so.
// libmemcached bounds each poll by timeout_ms, not an operation: a peer that
// trickles its answer a byte at a time would hold a thread for ever (and the
// destructor with it). A watchdog thread interrupts the pool's connections
// when an operation overruns kOverrunTimeouts × timeout_ms, and at once when
// the tier stops.
#include "daemon/tier/fleet_tier.hpp"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/crc32c.hpp"
#include "core/log.hpp"
#include "core/mutex.hpp"
#include "daemon/cache/cache_store.hpp"
#include "daemon/tier/bounded_queue.hpp"
#include "daemon/tier/circuit_breaker.hpp"
#include "daemon/tier/memcached_pool.hpp"
#include "daemon/tier/tier_key.hpp"
#include "daemon/tier/tier_value.hpp"

namespace ttscache {
namespace {

// Fixed: at most this many lookups wait; the loop's own waits bound the rest.
constexpr size_t kLookupQueueCapacity = 1024;
// An operation is a connect, a send and a receive, each bounded by
// timeout_ms: past this many, the peer is trickling.
constexpr int64_t kOverrunTimeouts = 4;
constexpr int64_t kMinOverrunMs = 1000;
// A corrupt value is logged, then at most one a minute (with how many were
// not): a server answering garbage for every key would otherwise log a line
// per GET.
constexpr int64_t kCorruptLogEveryMs = 60'000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct PendingLookup {
  TierLookup lookup;
  std::function<void(TierLookupResult)> done;
};

struct PendingWrite {
  std::string engine;
  CacheKey key;
  std::optional<OpusParams> variant;
  uint32_t wav_crc32c = 0;  // a variant's: the WAV it was encoded from
  bool forget = false;      // delete the WAV from the pool instead (ForgetWav)
};

}  // namespace

struct FleetTier::State {
  TierSettings settings;
  CacheStore* store = nullptr;
  CircuitBreaker breaker;
  BoundedQueue<PendingLookup> lookups{kLookupQueueCapacity};
  BoundedQueue<PendingWrite> writes;
  std::vector<std::unique_ptr<MemcachedPool>> lookup_pools;  // one per lookup thread
  std::unique_ptr<MemcachedPool> writer_pool;
  std::vector<std::thread> threads;  // lookups, then the writer
  // When each I/O thread (by its index in `threads`) began its current
  // operation; 0 when idle. Read by the watchdog.
  std::unique_ptr<std::atomic<int64_t>[]> busy_since;
  int64_t overrun_ms = kMinOverrunMs;
  std::atomic<bool> stopping{false};
  std::atomic<bool> overrun_logged{false};
  std::atomic<int64_t> corrupt_logged_ms{0};  // when one was last logged; 0: never
  std::atomic<uint64_t> corrupt_unlogged{0};
  Mutex watchdog_mutex;
  CondVar watchdog_wake;
  bool watchdog_stop GUARDED_BY(watchdog_mutex) = false;
  std::thread watchdog;
  std::atomic<bool> put_error_logged{false};
  std::atomic<uint64_t> lookups_made{0}, coalesced{0}, hits{0}, variant_hits{0}, misses{0},
      errors{0}, timeouts{0}, corrupt{0}, skipped{0}, writes_done{0}, write_errors{0}, dropped{0},
      oversized{0}, lookup_us{0};

  explicit State(const TierSettings& s) : settings(s), writes(static_cast<size_t>(s.queue_size)) {}

  void Failed(CircuitBreaker::Ticket ticket, const std::string& error) {
    if (std::optional<std::string> line = breaker.RecordFailure(ticket, NowMs(), error)) {
      log::Warning(*line);
    }
  }
  void Succeeded(CircuitBreaker::Ticket ticket) {
    if (std::optional<std::string> line = breaker.RecordSuccess(ticket)) log::Notice(*line);
  }

  void RunLookups(MemcachedPool* pool, size_t slot);
  void RunWatchdog();
  TierLookupResult LookUp(MemcachedPool* pool, const TierLookup& lookup);
  void RunWriter();
  void Write(const PendingWrite& job);
  // The payload of a value fetched for `key`, or nullopt when it is corrupt
  // (counted, logged, and deleted from the pool so that it is written anew).
  // A variant's source_crc32c goes to `*source_crc32c`.
  std::optional<std::span<const uint8_t>> Verified(MemcachedPool* pool,
                                                   const std::vector<uint8_t>& value,
                                                   TierValueKind kind, const std::string& key,
                                                   uint32_t* source_crc32c = nullptr);
  // The CRC-32C of the WAV cached here for the lookup's entry (the one a
  // variant-only lookup would join), or nullopt when it cannot be read.
  std::optional<uint32_t> LocalWavCrc(const TierLookup& lookup);
};

Result<std::unique_ptr<FleetTier>> FleetTier::Start(const TierSettings& settings,
                                                    CacheStore* store) {
  if (settings.servers.empty()) {
    return MakeError(Errc::kConfig, "[tier] servers: none configured (the tier is off without)");
  }
  MemcachedPoolOptions options;
  options.servers = settings.servers;
  options.timeout_ms = settings.timeout_ms;
  options.max_value_bytes = settings.max_item_bytes;
  if (!settings.sasl_credentials.empty()) {
    Result<SaslCredentials> credentials = ReadSaslCredentials(settings.sasl_credentials);
    if (!credentials) return credentials.error();
    options.sasl = std::move(*credentials);
  }
  auto state = std::make_unique<State>(settings);
  state->store = store;
  Result<std::unique_ptr<MemcachedPool>> writer = MemcachedPool::Create(options);
  if (!writer) return writer.error();
  state->writer_pool = std::move(*writer);
  for (int i = 0; i < std::max(1, settings.lookup_threads); ++i) {
    Result<std::unique_ptr<MemcachedPool>> pool = state->writer_pool->Clone();
    if (!pool) return pool.error();
    state->lookup_pools.push_back(std::move(*pool));
  }
  State* s = state.get();
  const size_t slots = state->lookup_pools.size() + 1;
  state->busy_since = std::make_unique<std::atomic<int64_t>[]>(slots);
  for (size_t i = 0; i < slots; ++i) state->busy_since[i] = 0;
  state->overrun_ms = std::max<int64_t>(kMinOverrunMs, kOverrunTimeouts * settings.timeout_ms);
  for (size_t i = 0; i < state->lookup_pools.size(); ++i) {
    state->threads.emplace_back([s, p = state->lookup_pools[i].get(), i] { s->RunLookups(p, i); });
  }
  state->threads.emplace_back([s] { s->RunWriter(); });
  state->watchdog = std::thread([s] { s->RunWatchdog(); });
  return std::unique_ptr<FleetTier>(new FleetTier(std::move(state)));
}

FleetTier::FleetTier(std::unique_ptr<State> state) : state_(std::move(state)) {}

FleetTier::~FleetTier() {
  State& s = *state_;
  s.lookups.Stop();
  s.writes.Stop();
  {
    // Under the lock, so that the watchdog cannot miss the wake between its
    // check and its wait: it now interrupts whatever is in progress.
    MutexLock lock(s.watchdog_mutex);
    s.stopping = true;
  }
  s.watchdog_wake.NotifyAll();
  for (std::thread& t : s.threads) t.join();
  {
    MutexLock lock(s.watchdog_mutex);
    s.watchdog_stop = true;
  }
  s.watchdog_wake.NotifyAll();
  s.watchdog.join();
}

void FleetTier::State::RunWatchdog() {
  const size_t slots = threads.size();
  MutexLock lock(watchdog_mutex);
  while (!watchdog_stop) {
    watchdog_wake.WaitFor(
        watchdog_mutex,
        std::chrono::milliseconds(stopping ? 20 : std::max<int64_t>(overrun_ms / 2, 1)));
    const int64_t now = NowMs();
    const bool stop = stopping;
    bool overrun = false;
    for (size_t i = 0; i < slots; ++i) {
      const int64_t since = busy_since[i].load();
      if (since != 0 && (stop || now - since > overrun_ms)) overrun = true;
    }
    if (!overrun) continue;
    if (!stop && !overrun_logged.exchange(true)) {
      log::Warning("tier: an operation ran over " + std::to_string(overrun_ms) +
                   " ms (a server trickling its answer?); its connections were closed (logged "
                   "once)");
    }
    MemcachedPool::InterruptConnections(settings.servers);
  }
}

bool FleetTier::Lookup(TierLookup lookup, std::function<void(TierLookupResult)> done) {
  State& s = *state_;
  // Something usable must be shared: a WAV wanted needs share_wav (a
  // variant alone has no entry to join); a variant alone needs share_opus.
  const bool usable = lookup.want_wav ? s.settings.share_wav
                                      : (lookup.variant.has_value() && s.settings.share_opus);
  if (!usable || s.breaker.Skipping(NowMs()) ||
      !s.lookups.Push(PendingLookup{std::move(lookup), std::move(done)})) {
    s.skipped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  s.lookups_made.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void FleetTier::State::RunLookups(MemcachedPool* pool, size_t slot) {
  while (std::optional<PendingLookup> pending = lookups.Pop()) {
    if (lookups.stopped()) {  // shutting down: the rest are misses, no I/O
      pending->done(TierLookupResult{});
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    busy_since[slot] = std::max<int64_t>(NowMs(), 1);
    TierLookupResult result = LookUp(pool, pending->lookup);
    busy_since[slot] = 0;
    lookup_us.fetch_add(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                  std::chrono::steady_clock::now() - start)
                                                  .count()),
                        std::memory_order_relaxed);
    pending->done(result);
  }
}

std::optional<std::span<const uint8_t>> FleetTier::State::Verified(
    MemcachedPool* pool, const std::vector<uint8_t>& value, TierValueKind kind,
    const std::string& key, uint32_t* source_crc32c) {
  Result<std::span<const uint8_t>> payload = DecodeTierValue(value, kind, key, source_crc32c);
  if (payload) return *payload;
  corrupt.fetch_add(1, std::memory_order_relaxed);
  const Status deleted = pool->Delete(key);
  const int64_t now = NowMs();
  int64_t last = corrupt_logged_ms.load();
  if ((last == 0 || now - last >= kCorruptLogEveryMs) &&
      corrupt_logged_ms.compare_exchange_strong(last, now)) {
    const uint64_t unlogged = corrupt_unlogged.exchange(0);
    log::Warning(
        "tier: " + log::Printable(key) + ": " + payload.error().message +
        (deleted ? "; deleted from the pool" : "; " + deleted.error().message) +
        (unlogged ? " (" + std::to_string(unlogged) + " more corrupt since the last line)" : "") +
        "; at most one such line a minute");
  } else {
    corrupt_unlogged.fetch_add(1);
  }
  return std::nullopt;
}

TierLookupResult FleetTier::State::LookUp(MemcachedPool* pool, const TierLookup& lookup) {
  TierLookupResult result;
  std::vector<std::string> keys;
  std::optional<size_t> wav_at, variant_at;
  auto add_key = [&](Result<std::string> key, std::optional<size_t>* at) {
    if (!key) return false;
    *at = keys.size();
    keys.push_back(std::move(*key));
    return true;
  };
  bool keys_ok = true;
  if (lookup.want_wav) {
    keys_ok = add_key(TierKey(settings.key_prefix, lookup.engine, lookup.key), &wav_at);
  }
  if (keys_ok && lookup.variant && settings.share_opus) {
    keys_ok =
        add_key(TierVariantKey(settings.key_prefix, lookup.engine, lookup.key, *lookup.variant),
                &variant_at);
  }
  if (!keys_ok || keys.empty()) {  // an engine path no memcached key can hold: nothing shared
    misses.fetch_add(1, std::memory_order_relaxed);
    return result;
  }
  // Admitted last: a probe taken must end in a verdict, on every path below.
  const CircuitBreaker::Ticket ticket = breaker.Admit(NowMs());
  if (ticket == CircuitBreaker::Ticket::kSkip) {
    skipped.fetch_add(1, std::memory_order_relaxed);
    return result;
  }
  auto values = pool->MultiGet(keys);
  if (!values) {
    errors.fetch_add(1, std::memory_order_relaxed);
    Failed(ticket, values.error().message);
    return result;
  }
  Succeeded(ticket);
  std::optional<std::span<const uint8_t>> wav, ogg;
  if (wav_at && (*values)[*wav_at]) {
    wav = Verified(pool, *(*values)[*wav_at], TierValueKind::kWav, keys[*wav_at]);
  }
  uint32_t ogg_source_crc = 0;
  if (variant_at && (*values)[*variant_at]) {
    ogg = Verified(pool, *(*values)[*variant_at], TierValueKind::kOpusVariant, keys[*variant_at],
                   &ogg_source_crc);
  }
  // A variant is of one WAV: beside another (a newer synthesis of the text,
  // put on some host since) it is stale and goes unused.
  if (ogg) {
    const std::optional<uint32_t> wav_crc = wav ? std::optional(Crc32c(*wav)) : LocalWavCrc(lookup);
    if (wav_crc != ogg_source_crc) ogg.reset();
  }
  uint64_t generation = lookup.generation;
  bool have_entry = !lookup.want_wav;
  if (wav && lookup.want_wav) {
    // Answered late, the lookup may find the entry put here meanwhile (its
    // GET was told "miss" at the deadline and the client put its own): that
    // one stays, and so do its variants — the pool's variant may be of the
    // pool's WAV, so it is not joined to the local one either. (A put
    // between this check and the Put below is still replaced.)
    Result<std::optional<CachedFile>> local = store->Peek(lookup.engine, lookup.key, nullptr);
    if (local && *local) {
      wav.reset();
      ogg.reset();
    }
  }
  if (wav) {
    Result<StoredEntry> put = store->Put(lookup.engine, lookup.text, *wav);
    if (put) {
      result.wav_stored = true;
      result.generation = generation = put->generation;
      have_entry = true;
    } else if (!put_error_logged.exchange(true)) {
      log::Warning("tier: a WAV from the pool was not stored (logged once): " +
                   put.error().message);
    }
  }
  if (ogg && have_entry) {
    Status stored =
        store->PutVariant(lookup.engine, lookup.text, generation, *lookup.variant, *ogg);
    if (stored) {
      result.variant_stored = true;
    } else if (!put_error_logged.exchange(true)) {
      log::Warning("tier: a variant from the pool was not stored (logged once): " +
                   stored.error().message);
    }
  }
  if (result.wav_stored) hits.fetch_add(1, std::memory_order_relaxed);
  if (result.variant_stored) variant_hits.fetch_add(1, std::memory_order_relaxed);
  if (!result.wav_stored && !result.variant_stored) misses.fetch_add(1, std::memory_order_relaxed);
  return result;
}

void FleetTier::OfferWav(std::string_view engine, const CacheKey& key) {
  State& s = *state_;
  if (!s.settings.share_wav) return;
  if (s.breaker.Skipping(NowMs())) {
    s.skipped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!s.writes.Push(PendingWrite{std::string(engine), key, std::nullopt})) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
  }
}

std::optional<uint32_t> FleetTier::State::LocalWavCrc(const TierLookup& lookup) {
  if (lookup.want_wav) return std::nullopt;  // no entry here to join
  Result<std::optional<CachedFile>> file = store->Peek(lookup.engine, lookup.key, nullptr);
  if (!file || !*file) return std::nullopt;
  Result<std::vector<uint8_t>> bytes = ReadCachedFile(**file);
  if (!bytes) return std::nullopt;
  return Crc32c(*bytes);
}

void FleetTier::OfferVariant(std::string_view engine, const CacheKey& key, const OpusParams& params,
                             uint32_t wav_crc32c) {
  State& s = *state_;
  if (!s.settings.share_opus) return;
  if (s.breaker.Skipping(NowMs())) {
    s.skipped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!s.writes.Push(PendingWrite{std::string(engine), key, params, wav_crc32c})) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
  }
}

void FleetTier::ForgetWav(std::string_view engine, const CacheKey& key) {
  State& s = *state_;
  PendingWrite job{std::string(engine), key, std::nullopt};
  job.forget = true;
  if (!s.writes.Push(std::move(job))) s.dropped.fetch_add(1, std::memory_order_relaxed);
}

void FleetTier::State::RunWriter() {
  while (std::optional<PendingWrite> job = writes.Pop()) {
    if (writes.stopped()) continue;  // shutting down: queued writes are dropped
    busy_since[lookup_pools.size()] = std::max<int64_t>(NowMs(), 1);
    Write(*job);
    busy_since[lookup_pools.size()] = 0;
  }
}

void FleetTier::State::Write(const PendingWrite& job) {
  Result<std::string> key =
      job.variant ? TierVariantKey(settings.key_prefix, job.engine, job.key, *job.variant)
                  : TierKey(settings.key_prefix, job.engine, job.key);
  if (!key) return;  // an engine path no memcached key can hold: not shared
  if (job.forget) {
    const CircuitBreaker::Ticket ticket = breaker.Admit(NowMs());
    if (ticket == CircuitBreaker::Ticket::kSkip) {
      skipped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (Status deleted = writer_pool->Delete(*key); !deleted) {
      write_errors.fetch_add(1, std::memory_order_relaxed);
      Failed(ticket, deleted.error().message);
    } else {
      Succeeded(ticket);
    }
    return;
  }
  Result<std::optional<CachedFile>> file =
      store->Peek(job.engine, job.key, job.variant ? &*job.variant : nullptr);
  if (!file || !*file) return;  // gone meanwhile (or unreadable now): nothing to share
  if (TierValueSize(key->size(), (*file)->size) > settings.max_item_bytes) {
    oversized.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Result<std::vector<uint8_t>> bytes = ReadCachedFile(**file);
  if (!bytes) return;  // replaced or truncated meanwhile: the next offer writes it
  const CircuitBreaker::Ticket ticket = breaker.Admit(NowMs());
  if (ticket == CircuitBreaker::Ticket::kSkip) {
    skipped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::vector<uint8_t> value =
      EncodeTierValue(job.variant ? TierValueKind::kOpusVariant : TierValueKind::kWav, *key, *bytes,
                      job.wav_crc32c);
  Status set = writer_pool->Set(*key, value, settings.expire_s);
  if (set) {
    writes_done.fetch_add(1, std::memory_order_relaxed);
    Succeeded(ticket);
  } else if (set.error().code == Errc::kTooLarge) {  // the server's -I is below max_item_bytes
    oversized.fetch_add(1, std::memory_order_relaxed);
    Succeeded(ticket);
  } else {
    write_errors.fetch_add(1, std::memory_order_relaxed);
    Failed(ticket, set.error().message);
  }
}

ipc::TierStatsWire FleetTier::Stats() const {
  const State& s = *state_;
  auto load = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  ipc::TierStatsWire w;
  w.enabled = true;
  w.state = static_cast<ipc::TierState>(s.breaker.state());
  w.servers = static_cast<uint32_t>(s.settings.servers.size());
  w.lookups = load(s.lookups_made);
  w.coalesced = load(s.coalesced);
  w.hits = load(s.hits);
  w.variant_hits = load(s.variant_hits);
  w.misses = load(s.misses);
  w.errors = load(s.errors);
  w.timeouts = load(s.timeouts);
  w.corrupt = load(s.corrupt);
  w.skipped = load(s.skipped);
  w.writes = load(s.writes_done);
  w.write_errors = load(s.write_errors);
  w.dropped = load(s.dropped);
  w.oversized = load(s.oversized);
  w.queue_depth = s.writes.size();
  w.queue_capacity = s.writes.capacity();
  w.breaker_opens = s.breaker.opens();
  w.lookup_us = load(s.lookup_us);
  return w;
}

void FleetTier::CountTimeout() { state_->timeouts.fetch_add(1, std::memory_order_relaxed); }
void FleetTier::CountCoalesced() { state_->coalesced.fetch_add(1, std::memory_order_relaxed); }

}  // namespace ttscache
