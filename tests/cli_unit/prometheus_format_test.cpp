// The Prometheus exposition `ttscache stats --format prometheus` writes,
// parsed back line by line as a scraper would: every sample belongs to a
// family declared with # HELP and # TYPE before it, counters end in _total,
// the histogram's buckets are cumulative, in increasing `le`, and end with
// +Inf equal to _count, label values are escaped (an engine name with a
// quote, a backslash or a newline reads back as itself), and every family
// docs/cli.md promises is there.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "client/cli/prometheus_format.hpp"

namespace ttscache::cli {
namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped
  std::string value;
};

struct Parsed {
  std::map<std::string, std::string> help, type;
  std::vector<Sample> samples;
  std::vector<std::string> errors;
};

// Parses `name{k="v",...} value`, unescaping label values; "" on success.
std::string ParseSample(const std::string& line, Sample* s) {
  size_t i = 0;
  while (i < line.size() &&
         (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_' || line[i] == ':')) {
    ++i;
  }
  s->name = line.substr(0, i);
  if (s->name.empty()) return "no metric name";
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      size_t eq = line.find('=', i);
      if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
        return "bad label";
      }
      std::string key = line.substr(i, eq - i), value;
      size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\') {
          if (++j >= line.size()) return "dangling escape";
          if (line[j] == 'n') {
            value += '\n';
          } else if (line[j] == '\\' || line[j] == '"') {
            value += line[j];
          } else {
            return "unknown escape";
          }
        } else {
          value += line[j];
        }
      }
      if (j >= line.size()) return "unterminated label value";
      s->labels[key] = value;
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return "unterminated labels";
    ++i;
  }
  if (i >= line.size() || line[i] != ' ') return "no space before the value";
  s->value = line.substr(i + 1);
  if (s->value.empty() || s->value.find(' ') != std::string::npos) return "bad value";
  if (s->value != "+Inf" && s->value != "-Inf" && s->value != "NaN") {
    char* end = nullptr;
    std::strtod(s->value.c_str(), &end);
    if (*end != '\0') return "value is not a number";
  }
  return "";
}

// The family a sample belongs to (a histogram's _bucket/_sum/_count).
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& type) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.ends_with(s)) {
      std::string base = name.substr(0, name.size() - s.size());
      if (type.count(base) && type.at(base) == "histogram") return base;
    }
  }
  return name;
}

Parsed Parse(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  std::string line;
  std::string current;  // the family whose samples are being read
  std::set<std::string> finished;
  int n = 0;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "the last line must end in a newline";
  while (std::getline(in, line)) {
    ++n;
    const std::string where = "line " + std::to_string(n) + " \"" + line + "\": ";
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      std::string rest = line.substr(7);
      size_t space = rest.find(' ');
      if (space == std::string::npos) {
        p.errors.push_back(where + "no text");
        continue;
      }
      std::string name = rest.substr(0, space);
      auto& table = line[2] == 'H' ? p.help : p.type;
      if (table.count(name)) p.errors.push_back(where + "declared twice");
      table[name] = rest.substr(space + 1);
      if (!current.empty() && current != name) finished.insert(current);
      current = name;
      continue;
    }
    if (line.empty() || line[0] == '#') {
      p.errors.push_back(where + "unexpected line");
      continue;
    }
    Sample s;
    if (std::string e = ParseSample(line, &s); !e.empty()) {
      p.errors.push_back(where + e);
      continue;
    }
    const std::string family = FamilyOf(s.name, p.type);
    if (!p.help.count(family)) p.errors.push_back(where + "no # HELP for " + family + " before it");
    if (!p.type.count(family)) p.errors.push_back(where + "no # TYPE for " + family + " before it");
    if (family != current || finished.count(family)) {
      p.errors.push_back(where + "not with the rest of family " + family);
    }
    p.samples.push_back(std::move(s));
  }
  return p;
}

StatsDetail Example() {
  StatsDetail d;
  d.stats.engines.push_back({"piper", 3, 300000, 90, 10, 13, 2, 5, 1});
  d.stats.engines.push_back({"we\"ird\\en\ngine", 0, 0, 0, 0, 0, 0, 0, 0});
  d.stats.connections = 12;
  d.stats.requests = 345;
  d.stats.busy = 1;
  d.stats.errors = 2;
  d.stats.encodes = 7;
  d.stats.shared_encodes = 1;
  d.stats.has_limits = true;
  d.stats.max_entries = 100000;
  d.stats.max_bytes = 1 << 30;
  d.stats.has_streams = true;
  d.stats.streams_opened = 4;
  d.stats.streams_stored = 3;
  d.stats.streams_failed = 1;
  d.has_detail = true;
  d.disk_free_bytes = 5000000000;
  d.disk_total_bytes = 20000000000;
  d.min_free_bytes = 1000000;
  d.expired = 4;
  d.deleted = 1;
  d.purged = 9;
  d.oldest_access_ns = {1000ull * 1000000000ull, 0};
  d.queue_capacity = 64;
  d.connections_open = 2;
  d.forbidden = 3;
  d.encode_buckets = {0, 0, 1, 2, 4, 6, 6, 7, 7, 7, 7, 7};
  d.encode_count = 8;  // one slower than 5 s: only in +Inf
  d.encode_sum_us = 9123456;
  return d;
}

TEST(PrometheusFormat, ParsesBackLineByLine) {
  Parsed p = Parse(PrometheusText(Example(), 1600ull * 1000000000ull));
  for (const std::string& e : p.errors) ADD_FAILURE() << e;
  EXPECT_GT(p.samples.size(), 40u);
  for (const auto& [name, type] : p.type) {
    EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << name << " " << type;
    EXPECT_EQ(type == "counter", name.ends_with("_total")) << name << " is a " << type;
    EXPECT_TRUE(p.help.count(name)) << name;
  }
}

TEST(PrometheusFormat, EveryPromisedFamilyIsThere) {
  Parsed p = Parse(PrometheusText(Example(), 1600ull * 1000000000ull));
  for (const char* family : {"ttscache_entries",
                             "ttscache_bytes",
                             "ttscache_hits_total",
                             "ttscache_misses_total",
                             "ttscache_hit_ratio",
                             "ttscache_puts_total",
                             "ttscache_evictions_total",
                             "ttscache_variant_hits_total",
                             "ttscache_variant_misses_total",
                             "ttscache_oldest_entry_age_seconds",
                             "ttscache_up",
                             "ttscache_encodes_total",
                             "ttscache_shared_encodes_total",
                             "ttscache_encode_duration_seconds",
                             "ttscache_busy_replies_total",
                             "ttscache_errors_total",
                             "ttscache_requests_total",
                             "ttscache_connections",
                             "ttscache_forbidden_total",
                             "ttscache_queue_depth",
                             "ttscache_queue_capacity",
                             "ttscache_streams_open",
                             "ttscache_streams_opened_total",
                             "ttscache_streams_stored_total",
                             "ttscache_streams_failed_total",
                             "ttscache_max_entries",
                             "ttscache_max_bytes",
                             "ttscache_disk_free_bytes",
                             "ttscache_disk_total_bytes",
                             "ttscache_min_free_bytes",
                             "ttscache_expired_total",
                             "ttscache_evicted_for_space_total",
                             "ttscache_deleted_total",
                             "ttscache_purged_total"}) {
    EXPECT_TRUE(p.type.count(family)) << family;
  }
}

TEST(PrometheusFormat, PerEngineValuesAndEscapedLabels) {
  Parsed p = Parse(PrometheusText(Example(), 1600ull * 1000000000ull));
  std::map<std::string, std::map<std::string, std::string>> by_engine;  // family → engine → value
  for (const Sample& s : p.samples) {
    if (s.labels.count("engine")) by_engine[s.name][s.labels.at("engine")] = s.value;
  }
  EXPECT_EQ(by_engine["ttscache_entries"]["piper"], "3");
  EXPECT_EQ(by_engine["ttscache_hits_total"]["piper"], "90");
  EXPECT_EQ(by_engine["ttscache_hit_ratio"]["piper"], "0.9");
  EXPECT_EQ(by_engine["ttscache_oldest_entry_age_seconds"]["piper"], "600");
  // The odd name reads back exactly (the parser unescapes), so it was escaped.
  const std::string odd = "we\"ird\\en\ngine";
  EXPECT_EQ(by_engine["ttscache_entries"][odd], "0");
  EXPECT_EQ(by_engine["ttscache_hit_ratio"][odd], "0");
  EXPECT_EQ(by_engine["ttscache_oldest_entry_age_seconds"][odd], "0");
  EXPECT_EQ(PrometheusLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(PrometheusFormat, HistogramIsCumulativeAndEndsWithInfEqualToCount) {
  Parsed p = Parse(PrometheusText(Example(), 0));
  std::vector<std::pair<std::string, double>> buckets;
  std::string count, sum;
  for (const Sample& s : p.samples) {
    if (s.name == "ttscache_encode_duration_seconds_bucket") {
      buckets.push_back({s.labels.at("le"), std::stod(s.value)});
    }
    if (s.name == "ttscache_encode_duration_seconds_count") count = s.value;
    if (s.name == "ttscache_encode_duration_seconds_sum") sum = s.value;
  }
  ASSERT_EQ(buckets.size(), 13u);
  EXPECT_EQ(buckets.front().first, "0.001");
  EXPECT_EQ(buckets.back().first, "+Inf");
  EXPECT_EQ(buckets.back().second, std::stod(count));
  EXPECT_EQ(count, "8");
  EXPECT_NEAR(std::stod(sum), 9.123456, 1e-9);
  for (size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_GE(buckets[i].second, buckets[i - 1].second) << "not cumulative at " << i;
    if (i + 1 < buckets.size()) {
      EXPECT_GT(std::stod(buckets[i].first), std::stod(buckets[i - 1].first)) << i;
    }
  }
}

TEST(PrometheusFormat, ADaemonWithoutTheDetailLeavesItsFamiliesOut) {
  StatsDetail d = Example();
  d.has_detail = false;
  d.stats.has_streams = false;
  Parsed p = Parse(PrometheusText(d, 0));
  for (const std::string& e : p.errors) ADD_FAILURE() << e;
  EXPECT_TRUE(p.type.count("ttscache_entries"));
  EXPECT_FALSE(p.type.count("ttscache_encode_duration_seconds"));
  EXPECT_FALSE(p.type.count("ttscache_disk_free_bytes"));
  EXPECT_FALSE(p.type.count("ttscache_streams_open"));
}

CoordinationStats ExampleCoordination() {
  CoordinationStats c;
  c.has_coordination = true;
  c.claims = 10;
  c.claim_waits = 19;
  c.waits_served = 18;
  c.wait_timeouts = 1;
  c.lease_expiries = 2;
  c.takeovers = 3;
  c.claims_refused = 4;
  c.claims_open = 1;
  c.waiting = 5;
  c.slots.push_back({"gpu", 2, 3, 4, 100, 50, 6, 1500000});
  c.slots.push_back({"sl\"ot", 0, 0, 0, 0, 0, 0, 0});
  return c;
}

TEST(PrometheusFormat, CoordinationFamiliesPerSlotAndParsedBack) {
  Parsed p = Parse(PrometheusText(Example(), 0, ExampleCoordination()));
  for (const std::string& e : p.errors) ADD_FAILURE() << e;
  for (const auto& [name, type] : p.type) {
    EXPECT_EQ(type == "counter", name.ends_with("_total")) << name << " is a " << type;
  }
  for (const char* family :
       {"ttscache_claims_total", "ttscache_claim_waits_total", "ttscache_claim_waits_served_total",
        "ttscache_claim_wait_timeouts_total", "ttscache_claim_lease_expiries_total",
        "ttscache_claim_takeovers_total", "ttscache_claims_refused_total", "ttscache_claims_open",
        "ttscache_claim_waiting", "ttscache_slot_size", "ttscache_slot_held",
        "ttscache_slot_waiting", "ttscache_slot_acquired_total", "ttscache_slot_waited_total",
        "ttscache_slot_timeouts_total", "ttscache_slot_wait_seconds_total"}) {
    EXPECT_TRUE(p.type.count(family)) << family;
  }
  std::map<std::string, std::map<std::string, std::string>> by_slot;  // family → slot → value
  std::map<std::string, std::string> global;
  for (const Sample& s : p.samples) {
    if (s.labels.count("slot")) by_slot[s.name][s.labels.at("slot")] = s.value;
    if (s.labels.empty()) global[s.name] = s.value;
  }
  EXPECT_EQ(global["ttscache_claims_total"], "10");
  EXPECT_EQ(global["ttscache_claim_waits_served_total"], "18");
  EXPECT_EQ(global["ttscache_claim_takeovers_total"], "3");
  EXPECT_EQ(global["ttscache_claim_waiting"], "5");
  EXPECT_EQ(by_slot["ttscache_slot_held"]["gpu"], "3");  // over the size: a shrink, reported as is
  EXPECT_EQ(by_slot["ttscache_slot_size"]["gpu"], "2");
  EXPECT_EQ(by_slot["ttscache_slot_waited_total"]["gpu"], "50");
  EXPECT_EQ(by_slot["ttscache_slot_wait_seconds_total"]["gpu"], "1.5");
  EXPECT_EQ(by_slot["ttscache_slot_size"]["sl\"ot"], "0");
}

TEST(PrometheusFormat, ADaemonWithoutCoordinationLeavesItsFamiliesOut) {
  CoordinationStats c = ExampleCoordination();
  c.has_coordination = false;
  Parsed p = Parse(PrometheusText(Example(), 0, c));
  for (const std::string& e : p.errors) ADD_FAILURE() << e;
  EXPECT_FALSE(p.type.count("ttscache_claims_total"));
  EXPECT_FALSE(p.type.count("ttscache_slot_held"));
}

TierStats ExampleTier() {
  TierStats t;
  t.has_tier = t.enabled = true;
  t.state = TierState::kProbing;
  t.servers = 3;
  t.lookups = 100;
  t.coalesced = 7;
  t.hits = 60;
  t.variant_hits = 20;
  t.misses = 30;
  t.errors = 4;
  t.timeouts = 5;
  t.corrupt = 1;
  t.skipped = 9;
  t.writes = 40;
  t.write_errors = 2;
  t.dropped = 3;
  t.oversized = 6;
  t.queue_depth = 11;
  t.queue_capacity = 4096;
  t.breaker_opens = 2;
  t.lookup_us = 2500000;
  return t;
}

// The unlabelled samples of `p`, by name.
std::map<std::string, std::string> Global(const Parsed& p) {
  std::map<std::string, std::string> global;
  for (const Sample& s : p.samples) {
    if (s.labels.empty()) global[s.name] = s.value;
  }
  return global;
}

TEST(PrometheusFormat, TierFamiliesParsedBack) {
  Parsed p = Parse(PrometheusText(Example(), 0, ExampleCoordination(), ExampleTier()));
  for (const std::string& e : p.errors) ADD_FAILURE() << e;
  for (const auto& [name, type] : p.type) {
    EXPECT_EQ(type == "counter", name.ends_with("_total")) << name << " is a " << type;
  }
  const std::map<std::string, std::string> expected = {
      {"ttscache_tier_up", "0"},  // probing is not up
      {"ttscache_tier_state", "2"},
      {"ttscache_tier_servers", "3"},
      {"ttscache_tier_lookups_total", "100"},
      {"ttscache_tier_coalesced_total", "7"},
      {"ttscache_tier_hits_total", "60"},
      {"ttscache_tier_variant_hits_total", "20"},
      {"ttscache_tier_misses_total", "30"},
      {"ttscache_tier_errors_total", "4"},
      {"ttscache_tier_timeouts_total", "5"},
      {"ttscache_tier_corrupt_total", "1"},
      {"ttscache_tier_skipped_total", "9"},
      {"ttscache_tier_writes_total", "40"},
      {"ttscache_tier_write_errors_total", "2"},
      {"ttscache_tier_dropped_total", "3"},
      {"ttscache_tier_oversized_total", "6"},
      {"ttscache_tier_queue_depth", "11"},
      {"ttscache_tier_queue_capacity", "4096"},
      {"ttscache_tier_breaker_opens_total", "2"},
      {"ttscache_tier_lookup_seconds_total", "2.5"},
  };
  std::map<std::string, std::string> global = Global(p);
  for (const auto& [family, value] : expected) {
    EXPECT_TRUE(p.type.count(family) && p.help.count(family)) << family;
    EXPECT_EQ(global[family], value) << family;
  }
  size_t tier_families = 0;
  for (const auto& [name, type] : p.type) tier_families += name.starts_with("ttscache_tier_");
  EXPECT_EQ(tier_families, expected.size()) << "a tier family not in the documented list";
  // The coordination families are still there, before the tier's.
  EXPECT_EQ(global["ttscache_claims_total"], "10");

  TierStats up = ExampleTier();
  up.state = TierState::kUp;
  EXPECT_EQ(Global(Parse(PrometheusText(Example(), 0, {}, up)))["ttscache_tier_up"], "1");
  up.state = TierState::kDown;
  std::map<std::string, std::string> down = Global(Parse(PrometheusText(Example(), 0, {}, up)));
  EXPECT_EQ(down["ttscache_tier_up"], "0");
  EXPECT_EQ(down["ttscache_tier_state"], "1");
}

TEST(PrometheusFormat, NoTierNoTierFamilies) {
  TierStats off;  // a daemon that predates the tier
  TierStats disabled;
  disabled.has_tier = true;  // a daemon without [tier]
  for (const TierStats& t : {off, disabled}) {
    Parsed p = Parse(PrometheusText(Example(), 0, ExampleCoordination(), t));
    for (const std::string& e : p.errors) ADD_FAILURE() << e;
    for (const auto& [name, type] : p.type) EXPECT_FALSE(name.starts_with("ttscache_tier")) << name;
  }
}

TEST(PrometheusFormat, NoEnginesStillDeclaresEveryFamilyOnce) {
  StatsDetail d;
  d.has_detail = true;
  Parsed p = Parse(PrometheusText(d, 0));
  for (const std::string& e : p.errors) ADD_FAILURE() << e;
  EXPECT_TRUE(p.type.count("ttscache_hits_total"));
}

}  // namespace
}  // namespace ttscache::cli
