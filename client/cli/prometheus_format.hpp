// The Prometheus text exposition (format 0.0.4) of the daemon's STATS with
// detail: what `ttscache stats --format prometheus` prints and the packaged
// ttscache-metrics timer writes into node-exporter's textfile directory.
// Names and labels are the contract in docs/cli.md ("Metrics"): per engine
// (label engine="…") and global families, each with # HELP and # TYPE, the
// encode durations as a cumulative histogram in seconds. A pure function of
// its inputs, so a unit test can parse what it writes; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ttscache/client.hpp"

namespace ttscache::cli {

// `now_ns` (Unix ns) dates the oldest entries' ages. Families a daemon
// without the detail did not send (has_detail, has_limits, has_streams,
// the coordination's has_coordination false) are left out rather than
// reported as 0. The coordination figures: the claim families, then per
// synthesis slot (label slot="…") its size, units held and waiting, and its
// acquire counters. The tier's families (ttscache_tier_*) only when the
// daemon has a tier configured (tier.enabled).
std::string PrometheusText(const StatsDetail& s, uint64_t now_ns,
                           const CoordinationStats& coordination = {}, const TierStats& tier = {});

// A label value escaped as the format wants: \ as \\, " as \", newline as \n.
std::string PrometheusLabelValue(std::string_view value);

}  // namespace ttscache::cli
