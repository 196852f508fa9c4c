// `ttscache stats`: the daemon's counters with every detail it sends, as a
// table for people, one JSON object for scripts, or the Prometheus text
// exposition for monitoring (prometheus_format.cpp). `--output FILE` writes
// it atomically (WriteFileAtomically), so the packaged ttscache-metrics
// timer can rewrite node-exporter's textfile every 15 s while the exporter
// reads it.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "client/cli/cli_args.hpp"
#include "client/cli/cli_format.hpp"
#include "client/cli/cli_io.hpp"
#include "client/cli/commands.hpp"
#include "client/cli/exit_codes.hpp"
#include "client/cli/prometheus_format.hpp"
#include "ttscache/client.hpp"

namespace ttscache::cli {
namespace {

const char* const kStatsUsage =
    "usage: ttscache stats [--format text|json|prometheus] [--json] [--output FILE]\n"
    "\n"
    "Cache and daemon counters, per engine and in total: entries, bytes, hits, misses,\n"
    "hit ratio, puts, evictions, the oldest entry's idle time, the disk's free space;\n"
    "claims on misses and the synthesis slots (size, held, waiting, waits); the fleet\n"
    "tier, when configured (state, servers, lookups, hits, misses, writes, queue).\n"
    "  --format F     text (default), json (one object), or prometheus (the text\n"
    "                 exposition format 0.0.4, for node-exporter's textfile collector)\n"
    "  --json         the same as --format json\n"
    "  --output FILE  write FILE atomically (a temporary beside it, fsync, rename;\n"
    "                 mode 0644): a reader sees the old file or the new, never half\n";

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

uint64_t AgeSeconds(uint64_t oldest_ns, uint64_t now_ns) {
  return oldest_ns == 0 || oldest_ns > now_ns ? 0 : (now_ns - oldest_ns) / 1000000000ull;
}

// The coordination figures as a JSON object (no leading comma).
std::string CoordinationJson(const CoordinationStats& c) {
  std::ostringstream out;
  out << "\"coordination\":{\"claims\":" << c.claims << ",\"claim_waits\":" << c.claim_waits
      << ",\"waits_served\":" << c.waits_served << ",\"wait_timeouts\":" << c.wait_timeouts
      << ",\"lease_expiries\":" << c.lease_expiries << ",\"takeovers\":" << c.takeovers
      << ",\"claims_refused\":" << c.claims_refused << ",\"claims_open\":" << c.claims_open
      << ",\"waiting\":" << c.waiting << ",\"slots\":{";
  for (size_t i = 0; i < c.slots.size(); ++i) {
    const SlotStats& s = c.slots[i];
    out << (i ? "," : "") << JsonString(s.name) << ":{\"size\":" << s.size << ",\"held\":" << s.held
        << ",\"waiting\":" << s.waiting << ",\"acquired\":" << s.acquired
        << ",\"waited\":" << s.waited << ",\"timeouts\":" << s.timeouts
        << ",\"wait_us\":" << s.wait_us << "}";
  }
  out << "}}";
  return out.str();
}

std::string CoordinationText(const CoordinationStats& c) {
  std::string out = "claims: " + std::to_string(c.claims) + " granted (" +
                    std::to_string(c.takeovers) + " taken over), " + std::to_string(c.claims_open) +
                    " open, " + std::to_string(c.claims_refused) + " refused, " +
                    std::to_string(c.lease_expiries) + " leases expired\n";
  out += "claim waits: " + std::to_string(c.claim_waits) + " (" + std::to_string(c.waits_served) +
         " served, " + std::to_string(c.wait_timeouts) + " timed out), " +
         std::to_string(c.waiting) + " waiting now\n";
  if (c.slots.empty()) return out;
  char line[512];
  std::snprintf(line, sizeof(line), "%-16s %6s %6s %8s %10s %10s %9s %10s\n", "slot", "size",
                "held", "waiting", "acquired", "waited", "timeouts", "wait");
  out += line;
  for (const SlotStats& s : c.slots) {
    const std::string size = s.size == 0 ? "-" : std::to_string(s.size);
    char wait[32];
    std::snprintf(wait, sizeof(wait), "%.1fs", s.wait_us / 1e6);
    std::snprintf(line, sizeof(line), "%-16s %6s %6u %8u %10llu %10llu %9llu %10s\n",
                  s.name.c_str(), size.c_str(), s.held, s.waiting, (unsigned long long)s.acquired,
                  (unsigned long long)s.waited, (unsigned long long)s.timeouts, wait);
    out += line;
  }
  return out;
}

const char* TierStateName(TierState s) {
  switch (s) {
    case TierState::kUp:
      return "up";
    case TierState::kDown:
      return "down";
    case TierState::kProbing:
      return "probing";
  }
  return "unknown";
}

// The tier's figures as a JSON object (no leading comma); {"enabled":false}
// from a daemon without [tier].
std::string TierJson(const TierStats& t) {
  std::ostringstream out;
  out << "\"tier\":{\"enabled\":" << (t.enabled ? "true" : "false");
  if (t.enabled) {
    char ratio[32];
    std::snprintf(ratio, sizeof(ratio), "%.6g", t.HitRatio());
    out << ",\"state\":\"" << TierStateName(t.state) << "\",\"servers\":" << t.servers
        << ",\"lookups\":" << t.lookups << ",\"coalesced\":" << t.coalesced
        << ",\"hits\":" << t.hits << ",\"variant_hits\":" << t.variant_hits
        << ",\"misses\":" << t.misses << ",\"hit_ratio\":" << ratio << ",\"errors\":" << t.errors
        << ",\"timeouts\":" << t.timeouts << ",\"corrupt\":" << t.corrupt
        << ",\"skipped\":" << t.skipped << ",\"writes\":" << t.writes
        << ",\"write_errors\":" << t.write_errors << ",\"dropped\":" << t.dropped
        << ",\"oversized\":" << t.oversized << ",\"queue_depth\":" << t.queue_depth
        << ",\"queue_capacity\":" << t.queue_capacity << ",\"breaker_opens\":" << t.breaker_opens
        << ",\"lookup_us\":" << t.lookup_us;
  }
  out << "}";
  return out.str();
}

// The "tier:" section, only for a daemon with a tier configured.
std::string TierText(const TierStats& t) {
  const double mean_ms = t.lookups ? t.lookup_us / 1e3 / static_cast<double>(t.lookups) : 0.0;
  char line[768];
  std::snprintf(
      line, sizeof(line),
      "tier: %s, %u server%s\n"
      "  lookups %llu (%llu coalesced), hits %llu, variant hits %llu, misses %llu, hit ratio "
      "%.1f%%, mean lookup %.2f ms\n"
      "  timeouts %llu, errors %llu, corrupt %llu, skipped %llu\n"
      "  writes %llu, write errors %llu, dropped %llu, oversized %llu, queue %llu/%llu\n"
      "  breaker opens %llu\n",
      TierStateName(t.state), t.servers, t.servers == 1 ? "" : "s", (unsigned long long)t.lookups,
      (unsigned long long)t.coalesced, (unsigned long long)t.hits,
      (unsigned long long)t.variant_hits, (unsigned long long)t.misses, 100 * t.HitRatio(), mean_ms,
      (unsigned long long)t.timeouts, (unsigned long long)t.errors, (unsigned long long)t.corrupt,
      (unsigned long long)t.skipped, (unsigned long long)t.writes,
      (unsigned long long)t.write_errors, (unsigned long long)t.dropped,
      (unsigned long long)t.oversized, (unsigned long long)t.queue_depth,
      (unsigned long long)t.queue_capacity, (unsigned long long)t.breaker_opens);
  return line;
}

std::string Json(const StatsDetail& d, const CoordinationStats& c, const TierStats& t,
                 uint64_t now_ns) {
  const Stats& s = d.stats;
  std::ostringstream out;
  out << "{\"engines\":{";
  for (size_t i = 0; i < s.engines.size(); ++i) {
    const EngineStats& e = s.engines[i];
    char ratio[32];
    std::snprintf(ratio, sizeof(ratio), "%.6g", d.HitRatio(i));
    out << (i ? "," : "") << JsonString(e.name) << ":{\"entries\":" << e.entries
        << ",\"bytes\":" << e.bytes << ",\"hits\":" << e.hits << ",\"misses\":" << e.misses
        << ",\"hit_ratio\":" << ratio << ",\"puts\":" << e.puts << ",\"evictions\":" << e.evictions
        << ",\"variant_hits\":" << e.variant_hits << ",\"variant_misses\":" << e.variant_misses;
    if (d.has_detail) {
      out << ",\"oldest_access_ns\":" << d.oldest_access_ns[i]
          << ",\"oldest_entry_age_s\":" << AgeSeconds(d.oldest_access_ns[i], now_ns);
    }
    out << "}";
  }
  out << "},\"connections\":" << s.connections << ",\"requests\":" << s.requests
      << ",\"busy\":" << s.busy << ",\"errors\":" << s.errors << ",\"encodes\":" << s.encodes
      << ",\"shared_encodes\":" << s.shared_encodes;
  if (s.has_limits) out << ",\"max_entries\":" << s.max_entries << ",\"max_bytes\":" << s.max_bytes;
  if (s.has_streams) {
    out << ",\"streams_open\":" << s.streams_open << ",\"streams_opened\":" << s.streams_opened
        << ",\"streams_stored\":" << s.streams_stored << ",\"streams_failed\":" << s.streams_failed;
  }
  if (d.has_detail) {
    out << ",\"disk_free_bytes\":" << d.disk_free_bytes
        << ",\"disk_total_bytes\":" << d.disk_total_bytes
        << ",\"min_free_bytes\":" << d.min_free_bytes << ",\"max_age_s\":" << d.max_age_s
        << ",\"expired\":" << d.expired << ",\"evicted_for_space\":" << d.evicted_for_space
        << ",\"deleted\":" << d.deleted << ",\"purged\":" << d.purged
        << ",\"queue_depth\":" << d.queue_depth << ",\"queue_capacity\":" << d.queue_capacity
        << ",\"connections_open\":" << d.connections_open << ",\"forbidden\":" << d.forbidden
        << ",\"encode_count\":" << d.encode_count << ",\"encode_sum_us\":" << d.encode_sum_us;
  }
  if (c.has_coordination) out << "," << CoordinationJson(c);
  if (t.has_tier) out << "," << TierJson(t);
  out << "}\n";
  return out.str();
}

std::string Text(const StatsDetail& d, const CoordinationStats& c, const TierStats& t,
                 uint64_t now_ns) {
  const Stats& s = d.stats;
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line), "%-8s %9s %12s %10s %10s %6s %10s %10s %8s\n", "engine",
                "entries", "bytes", "hits", "misses", "ratio", "puts", "evictions", "oldest");
  out += line;
  for (size_t i = 0; i < s.engines.size(); ++i) {
    const EngineStats& e = s.engines[i];
    std::string oldest = "-";
    if (d.has_detail && d.oldest_access_ns[i] != 0) {
      oldest = HumanSeconds(AgeSeconds(d.oldest_access_ns[i], now_ns));
    }
    std::snprintf(line, sizeof(line), "%-8s %9llu %12llu %10llu %10llu %5.1f%% %10llu %10llu %8s\n",
                  e.name.c_str(), (unsigned long long)e.entries, (unsigned long long)e.bytes,
                  (unsigned long long)e.hits, (unsigned long long)e.misses, 100 * d.HitRatio(i),
                  (unsigned long long)e.puts, (unsigned long long)e.evictions, oldest.c_str());
    out += line;
  }
  std::snprintf(
      line, sizeof(line),
      "connections %llu, requests %llu, encodes %llu (%llu shared), busy %llu, errors %llu\n",
      (unsigned long long)s.connections, (unsigned long long)s.requests,
      (unsigned long long)s.encodes, (unsigned long long)s.shared_encodes,
      (unsigned long long)s.busy, (unsigned long long)s.errors);
  out += line;
  if (d.has_detail) {
    out += "disk: " + HumanBytes(d.disk_free_bytes) + " free of " + HumanBytes(d.disk_total_bytes) +
           (d.min_free_bytes ? ", min_free " + HumanBytes(d.min_free_bytes) : "") +
           (d.max_age_s ? ", max_age " + HumanSeconds(d.max_age_s) : "") + "\n";
    out += "removed: " + std::to_string(d.expired) + " expired, " +
           std::to_string(d.evicted_for_space) + " for space, " + std::to_string(d.deleted) +
           " deleted, " + std::to_string(d.purged) + " purged\n";
  }
  if (c.has_coordination) out += CoordinationText(c);
  if (t.has_tier && t.enabled) out += TierText(t);
  return out;
}

}  // namespace

int RunStats(const std::vector<std::string>& argv, const GlobalOptions& global) {
  Result<ParsedArgs> args = ParseArgs(argv, {"--format", "--output"}, {"--json", "--help"});
  if (!args) return UsageError(args.error().message, kStatsUsage);
  if (args->has("--help")) return (std::cout << kStatsUsage), kExitOk;
  if (!args->positional.empty()) return UsageError("unexpected argument", kStatsUsage);
  std::string format = args->value("--format").value_or(args->has("--json") ? "json" : "text");
  if (format != "text" && format != "json" && format != "prometheus") {
    return UsageError("--format " + format + ": expected text, json or prometheus", kStatsUsage);
  }
  if (args->has("--json") && format != "json") {
    return UsageError("--json and --format " + format + " disagree", kStatsUsage);
  }
  Result<Client> client = ConnectTo(global);
  if (!client) return ExitFor(client.error());
  Result<StatsDetail> s = client->StatsDetail();
  if (!s) return ExitFor(s.error());
  // A second STATS: a daemon that predates coordination answers without it.
  Result<CoordinationStats> c = client->Coordination();
  if (!c) return ExitFor(c.error());
  // A third: the tier (has_tier false from a daemon that predates it).
  Result<TierStats> t = client->Tier();
  if (!t) return ExitFor(t.error());
  const uint64_t now = NowNs();
  const std::string text = format == "prometheus" ? PrometheusText(*s, now, *c, *t)
                           : format == "json"     ? Json(*s, *c, *t, now)
                                                  : Text(*s, *c, *t, now);
  if (std::optional<std::string> output = args->value("--output"); output && *output != "-") {
    Status written =
        WriteFileAtomically(*output, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
    if (!written) return Fail(written.error().message);
    return kExitOk;
  }
  std::cout << text;
  return kExitOk;
}

}  // namespace ttscache::cli
