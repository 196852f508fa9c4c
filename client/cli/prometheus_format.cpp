// See prometheus_format.hpp.
#include "client/cli/prometheus_format.hpp"

#include <cstdio>
#include <functional>

namespace ttscache::cli {
namespace {

// Writes families: a HELP and a TYPE line, then the family's samples.
class Exposition {
 public:
  void Family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const std::string& name, const std::string& labels, const std::string& value) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + value + "\n";
  }
  void Sample(const std::string& name, const std::string& labels, uint64_t value) {
    Sample(name, labels, std::to_string(value));
  }
  // A global family with one unlabelled sample.
  void Gauge(const char* name, const char* help, uint64_t value) {
    Family(name, "gauge", help);
    Sample(name, "", value);
  }
  void Counter(const char* name, const char* help, uint64_t value) {
    Family(name, "counter", help);
    Sample(name, "", value);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string Double(double v) {
  char buffer[40];
  std::snprintf(buffer, sizeof(buffer), "%.9g", v);
  return buffer;
}

std::string EngineLabel(const std::string& name) {
  return "engine=\"" + PrometheusLabelValue(name) + "\"";
}

}  // namespace

std::string PrometheusLabelValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// The coordination families (docs/monitoring.md): claims, then per slot.
void CoordinationFamilies(const CoordinationStats& c, Exposition& x) {
  x.Counter("ttscache_claims_total",
            "Claims granted on GET misses (the claimer synthesizes), takeovers included.",
            c.claims);
  x.Counter("ttscache_claim_waits_total", "GETs that waited for another client's claim.",
            c.claim_waits);
  x.Counter("ttscache_claim_waits_served_total",
            "Waiting GETs answered with the entry once it was stored.", c.waits_served);
  x.Counter("ttscache_claim_wait_timeouts_total",
            "Waiting GETs whose wait ended first (answered a miss).", c.wait_timeouts);
  x.Counter("ttscache_claim_lease_expiries_total",
            "Claims whose holder did not store the entry within the lease.", c.lease_expiries);
  x.Counter("ttscache_claim_takeovers_total",
            "Claims passed to a waiting GET after a lease expiry, a disconnect or a drop.",
            c.takeovers);
  x.Counter("ttscache_claims_refused_total", "Claims refused by a limit (answered a plain miss).",
            c.claims_refused);
  x.Gauge("ttscache_claims_open", "Claims held now.", c.claims_open);
  x.Gauge("ttscache_claim_waiting", "GETs waiting for a claim now.", c.waiting);
  struct PerSlot {
    const char* name;
    const char* type;
    const char* help;
    std::function<std::string(const SlotStats&)> value;
  };
  const PerSlot per_slot[] = {
      {"ttscache_slot_size", "gauge", "Units of the synthesis slot; 0: no limit.",
       [](const SlotStats& s) { return std::to_string(s.size); }},
      {"ttscache_slot_held", "gauge",
       "Units held now (above the size after a reload shrank the slot).",
       [](const SlotStats& s) { return std::to_string(s.held); }},
      {"ttscache_slot_waiting", "gauge", "Acquires waiting for a unit now.",
       [](const SlotStats& s) { return std::to_string(s.waiting); }},
      {"ttscache_slot_acquired_total", "counter", "Units granted.",
       [](const SlotStats& s) { return std::to_string(s.acquired); }},
      {"ttscache_slot_waited_total", "counter", "Acquires that had to wait.",
       [](const SlotStats& s) { return std::to_string(s.waited); }},
      {"ttscache_slot_timeouts_total", "counter", "Acquires whose wait ended without a unit.",
       [](const SlotStats& s) { return std::to_string(s.timeouts); }},
      {"ttscache_slot_wait_seconds_total", "counter", "Time acquires spent waiting, summed.",
       [](const SlotStats& s) { return Double(s.wait_us / 1e6); }},
  };
  for (const PerSlot& f : per_slot) {
    x.Family(f.name, f.type, f.help);
    for (const SlotStats& s : c.slots) {
      x.Sample(f.name, "slot=\"" + PrometheusLabelValue(s.name) + "\"", f.value(s));
    }
  }
}

// The fleet tier's families (docs/monitoring.md, "Fleet tier").
void TierFamilies(const TierStats& t, Exposition& x) {
  x.Gauge("ttscache_tier_up",
          "1 when the tier's circuit breaker is closed (up); 0 down or probing.",
          t.state == TierState::kUp ? 1 : 0);
  x.Gauge("ttscache_tier_state", "The tier's circuit breaker: 0 up, 1 down, 2 probing.",
          static_cast<uint64_t>(t.state));
  x.Gauge("ttscache_tier_servers", "memcached servers configured for the tier.", t.servers);
  x.Counter("ttscache_tier_lookups_total",
            "Tier lookups made for local GET misses (one per entry, however many GETs asked).",
            t.lookups);
  x.Counter("ttscache_tier_coalesced_total", "GETs that joined a tier lookup already under way.",
            t.coalesced);
  x.Counter("ttscache_tier_hits_total", "WAVs found in the tier and stored locally.", t.hits);
  x.Counter("ttscache_tier_variant_hits_total", "Opus variants found in the tier and stored.",
            t.variant_hits);
  x.Counter("ttscache_tier_misses_total", "Tier lookups that found nothing usable.", t.misses);
  x.Counter("ttscache_tier_errors_total", "Tier lookups that failed (connection, server error).",
            t.errors);
  x.Counter("ttscache_tier_timeouts_total",
            "GETs answered at the tier's deadline before their lookup ended.", t.timeouts);
  x.Counter("ttscache_tier_corrupt_total",
            "Tier values that failed their checksum or header check (deleted from the pool).",
            t.corrupt);
  x.Counter("ttscache_tier_skipped_total",
            "Tier lookups not made: the breaker down or the lookup queue full.", t.skipped);
  x.Counter("ttscache_tier_writes_total", "Values written to the tier's pool.", t.writes);
  x.Counter("ttscache_tier_write_errors_total", "Writes to the tier's pool that failed.",
            t.write_errors);
  x.Counter("ttscache_tier_dropped_total", "Values not queued for the tier: the queue was full.",
            t.dropped);
  x.Counter("ttscache_tier_oversized_total",
            "Values over max_item_bytes or refused by a server as too large.", t.oversized);
  x.Gauge("ttscache_tier_queue_depth", "Values waiting to be written to the tier now.",
          t.queue_depth);
  x.Gauge("ttscache_tier_queue_capacity", "The tier's write-behind queue size (queue_size).",
          t.queue_capacity);
  x.Counter("ttscache_tier_breaker_opens_total", "Times the tier went down (breaker opened).",
            t.breaker_opens);
  x.Family("ttscache_tier_lookup_seconds_total", "counter", "Time tier lookups took, summed.");
  x.Sample("ttscache_tier_lookup_seconds_total", "", Double(t.lookup_us / 1e6));
}

}  // namespace

std::string PrometheusText(const StatsDetail& d, uint64_t now_ns,
                           const CoordinationStats& coordination, const TierStats& tier) {
  const Stats& s = d.stats;
  Exposition x;
  x.Gauge("ttscache_up", "1 when the daemon answered STATS.", 1);

  // Per engine: one family each, a sample per engine.
  struct PerEngine {
    const char* name;
    const char* type;
    const char* help;
    std::function<std::string(size_t)> value;
  };
  const PerEngine per_engine[] = {
      {"ttscache_entries", "gauge", "Entries cached, per engine (all its voices).",
       [&](size_t i) { return std::to_string(s.engines[i].entries); }},
      {"ttscache_bytes", "gauge", "Bytes cached (WAVs and Opus variants), per engine.",
       [&](size_t i) { return std::to_string(s.engines[i].bytes); }},
      {"ttscache_hits_total", "counter", "GETs answered from the cache.",
       [&](size_t i) { return std::to_string(s.engines[i].hits); }},
      {"ttscache_misses_total", "counter", "GETs that found nothing.",
       [&](size_t i) { return std::to_string(s.engines[i].misses); }},
      {"ttscache_hit_ratio", "gauge",
       "hits / (hits + misses) since the daemon started; 0 before any GET.",
       [&](size_t i) { return Double(d.HitRatio(i)); }},
      {"ttscache_puts_total", "counter", "Entries stored.",
       [&](size_t i) { return std::to_string(s.engines[i].puts); }},
      {"ttscache_evictions_total", "counter", "Entries evicted by the LRU limits.",
       [&](size_t i) { return std::to_string(s.engines[i].evictions); }},
      {"ttscache_variant_hits_total", "counter", "Opus variants served from the cache.",
       [&](size_t i) { return std::to_string(s.engines[i].variant_hits); }},
      {"ttscache_variant_misses_total", "counter", "Opus variants that had to be encoded.",
       [&](size_t i) { return std::to_string(s.engines[i].variant_misses); }},
  };
  for (const PerEngine& f : per_engine) {
    x.Family(f.name, f.type, f.help);
    for (size_t i = 0; i < s.engines.size(); ++i) {
      x.Sample(f.name, EngineLabel(s.engines[i].name), f.value(i));
    }
  }
  if (d.has_detail) {
    x.Family("ttscache_oldest_entry_age_seconds", "gauge",
             "Seconds since the least recently used entry was last used; 0 for an empty engine.");
    for (size_t i = 0; i < s.engines.size() && i < d.oldest_access_ns.size(); ++i) {
      const uint64_t oldest = d.oldest_access_ns[i];
      const uint64_t age = oldest == 0 || oldest > now_ns ? 0 : (now_ns - oldest) / 1000000000ull;
      x.Sample("ttscache_oldest_entry_age_seconds", EngineLabel(s.engines[i].name), age);
    }
  }

  x.Counter("ttscache_encodes_total", "WAV to Opus encodes run.", s.encodes);
  x.Counter("ttscache_shared_encodes_total",
            "Encodes a request shared with an identical one already running.", s.shared_encodes);
  if (d.has_detail) {
    x.Family("ttscache_encode_duration_seconds", "histogram",
             "Time each encode took (ENCODE, PUT_ENCODE, a GET's variant, a stream's finish).");
    for (size_t i = 0; i < StatsDetail::kEncodeBuckets; ++i) {
      x.Sample("ttscache_encode_duration_seconds_bucket",
               "le=\"" + Double(StatsDetail::kEncodeBucketBoundsUs[i] / 1e6) + "\"",
               d.encode_buckets[i]);
    }
    x.Sample("ttscache_encode_duration_seconds_bucket", "le=\"+Inf\"", d.encode_count);
    x.Sample("ttscache_encode_duration_seconds_sum", "", Double(d.encode_sum_us / 1e6));
    x.Sample("ttscache_encode_duration_seconds_count", "", d.encode_count);
  }
  x.Counter("ttscache_busy_replies_total", "Requests answered BUSY (retry later).", s.busy);
  x.Counter("ttscache_errors_total", "Requests answered with an error.", s.errors);
  x.Counter("ttscache_requests_total", "Requests received.", s.requests);
  // STATS' `connections` is the number open now (a gauge, as the detail's
  // connections_open); the daemon reports no count of connections accepted.
  x.Gauge("ttscache_connections", "Client connections open now.", s.connections);
  if (d.has_detail) {
    x.Counter("ttscache_forbidden_total",
              "Peers refused as not allowed, or as not admin for an admin operation.", d.forbidden);
    x.Gauge("ttscache_queue_depth", "Jobs waiting for a worker now.", d.queue_depth);
    x.Gauge("ttscache_queue_capacity", "Jobs that may wait (the queue_depth setting).",
            d.queue_capacity);
  }
  if (s.has_streams) {
    x.Gauge("ttscache_streams_open", "Encode streams open now.", s.streams_open);
    x.Counter("ttscache_streams_opened_total", "Encode streams opened.", s.streams_opened);
    x.Counter("ttscache_streams_stored_total", "Encode streams finished and stored.",
              s.streams_stored);
    x.Counter("ttscache_streams_failed_total",
              "Encode streams ended by an error, a limit, an abort or a client that left.",
              s.streams_failed);
  }
  if (s.has_limits) {
    x.Gauge("ttscache_max_entries", "The max_entries limit, per engine.", s.max_entries);
    x.Gauge("ttscache_max_bytes", "The max_bytes limit of the whole cache; 0: none.", s.max_bytes);
  }
  if (d.has_detail) {
    x.Gauge("ttscache_disk_free_bytes",
            "Free space an unprivileged writer may use on the cache's filesystem.",
            d.disk_free_bytes);
    x.Gauge("ttscache_disk_total_bytes", "Size of the cache's filesystem.", d.disk_total_bytes);
    x.Gauge("ttscache_min_free_bytes", "The min_free in force, in bytes; 0: none.",
            d.min_free_bytes);
    x.Counter("ttscache_expired_total", "Entries removed by max_age.", d.expired);
    x.Counter("ttscache_evicted_for_space_total", "Entries removed by min_free.",
              d.evicted_for_space);
    x.Counter("ttscache_deleted_total", "Entries removed by DELETE.", d.deleted);
    x.Counter("ttscache_purged_total", "Entries removed by PURGE.", d.purged);
  }
  if (coordination.has_coordination) CoordinationFamilies(coordination, x);
  if (tier.has_tier && tier.enabled) TierFamilies(tier, x);
  return x.Take();
}

}  // namespace ttscache::cli
