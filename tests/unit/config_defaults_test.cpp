// The key table (core/config/config.cpp) is the one source of defaults: the
// defaults docs/config.md states and the values config/ttscached.conf shows
// are checked against it here, so they cannot drift.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "core/config/config.hpp"
#include "daemon/cache/cache_store.hpp"

namespace ttscache {
namespace {

std::string Read(const std::string& relative) {
  std::ifstream in(std::string(TTSCACHE_SOURCE_DIR) + "/" + relative);
  EXPECT_TRUE(in) << relative;
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string Trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t"));
  s.erase(s.find_last_not_of(" \t") + 1);
  return s;
}

// "section.name" → default text, from the table.
std::map<std::string, std::string> TableDefaults() {
  std::map<std::string, std::string> defaults;
  for (const ConfigKey& k : ConfigKeys()) {
    defaults[std::string(k.section) + "." + k.name] = k.default_text;
  }
  return defaults;
}

// docs/config.md's key table: "| `[section] key` | `default` ... |" or
// "| ... | empty... |" → "section.key" → the default it states.
std::map<std::string, std::string> DocDefaults() {
  std::map<std::string, std::string> defaults;
  std::istringstream doc(Read("docs/config.md"));
  for (std::string line; std::getline(doc, line);) {
    if (!line.starts_with("| `[")) continue;
    std::istringstream cells(line.substr(1));
    std::string key, value;
    std::getline(cells, key, '|');
    std::getline(cells, value, '|');
    key = Trim(key);  // `[daemon] socket`
    const size_t close = key.find(']');
    const std::string name = key.substr(2, close - 2) + "." + key.substr(close + 2);
    const std::string qualified = name.substr(0, name.size() - 1);  // the closing backtick
    value = Trim(value);
    std::string stated;
    if (value.starts_with("`")) {
      stated = value.substr(1, value.find('`', 1) - 1);
    } else if (!value.starts_with("empty")) {
      ADD_FAILURE() << "docs/config.md: " << qualified
                    << ": default neither `value` nor empty: " << value;
    }
    EXPECT_TRUE(defaults.emplace(qualified, stated).second) << "listed twice: " << qualified;
  }
  return defaults;
}

// config/ttscached.conf: every key with the value it shows (inline comments
// after " ;" dropped).
std::map<std::string, std::string> ShippedFileValues() {
  std::map<std::string, std::string> values;
  std::istringstream file(Read("config/ttscached.conf"));
  std::string section;
  for (std::string line; std::getline(file, line);) {
    line = Trim(line);
    if (line.empty() || line[0] == ';' || line[0] == '#') continue;
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    const size_t eq = line.find('=');
    std::string value = line.substr(eq + 1);
    if (size_t comment = value.find(" ;"); comment != std::string::npos) value.resize(comment);
    const std::string key = section + "." + Trim(line.substr(0, eq));
    EXPECT_TRUE(values.emplace(key, Trim(value)).second) << "set twice: " << key;
  }
  return values;
}

TEST(ConfigDefaults, DocsStateTheTablesDefaults) { EXPECT_EQ(DocDefaults(), TableDefaults()); }

TEST(ConfigDefaults, ShippedFileShowsTheTablesDefaults) {
  EXPECT_EQ(ShippedFileValues(), TableDefaults());
}

TEST(ConfigDefaults, DefaultConfigIsTheTable) {
  ConfigInput none;
  Result<LoadedConfig> loaded = LoadConfig(none);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(FormatConfig(loaded.value()).find("; file"), std::string::npos);
  const Config& d = DefaultConfig();
  const Config& c = loaded->config;
  EXPECT_EQ(d.daemon.socket, c.daemon.socket);
  EXPECT_EQ(d.daemon.workers, c.daemon.workers);
  EXPECT_EQ(d.cache.engines, c.cache.engines);
  EXPECT_EQ(d.cache.max_entries, c.cache.max_entries);
  EXPECT_EQ(d.stream.max_buffered_bytes, c.stream.max_buffered_bytes);
  EXPECT_EQ(d.opus.params, c.opus.params);
  // The protocol's default Opus parameters (a request's bitrate 0) are the
  // configuration's defaults.
  EXPECT_EQ(d.opus.params, OpusParams{});
  // CacheLimits and CacheOptions take theirs from the table.
  CacheOptions options;
  EXPECT_EQ(options.limits.max_entries, d.cache.max_entries);
  EXPECT_EQ(options.limits.max_bytes, d.cache.max_bytes);
  EXPECT_EQ(options.limits.max_text_bytes, d.cache.max_text_bytes);
  EXPECT_EQ(options.fsync, d.cache.fsync);
}

}  // namespace
}  // namespace ttscache
