// Config: ttscached's effective configuration, read from an INI file (inih)
// and overridden by the environment variables of the Node.js backend that
// ttscache replaces. docs/config.md documents every key.
//
// Loading is a pure function of (file text, environment, usable CPUs), so the
// tests and the fuzzer drive it without touching the process. Every bad value
// is an Errc::kConfig error with one line per problem, each naming the file,
// line, key, value and what is allowed. Thread-safety: value types.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/audio/opus_params.hpp"
#include "core/result.hpp"

namespace ttscache {

struct DaemonSettings {
  std::string socket = "/run/ttscache/ttscached.sock";
  mode_t socket_mode = 0660;
  std::string socket_group;         // empty: the daemon's own group
  std::vector<uid_t> allowed_uids;  // empty: anyone who can open the socket
  std::vector<gid_t> allowed_gids;
  std::vector<int> cpus;  // empty: every usable CPU
  int workers = 2;
  int queue_depth = 64;
  int idle_timeout_s = 300;      // close a connection with nothing in flight after this; 0 = never
  int busy_poll_us = 0;          // keep polling this long after events before sleeping; 0 = never
  int max_connections = 0;       // 0: as many as RLIMIT_NOFILE allows after the daemon's reserve
  int send_timeout_s = 30;       // close a connection that reads none of its replies for this long
  int max_encode_seconds = 600;  // longest input audio an encode (or Opus variant) accepts
};

struct CacheSettings {
  std::string dir = "/var/cache/ttscache";
  std::vector<std::string> engines = {"xtts", "piper"};
  uint64_t max_entries = 500;  // per engine
  uint64_t max_bytes = 0;      // whole cache; 0 = no byte limit
  uint64_t max_text_bytes = 4096;
  bool fsync = true;
};

struct OpusSettings {
  bool enabled = true;
  OpusParams params;
};

// Encode streams (docs/protocol.md, "Encode streams"): what one may hold.
struct StreamSettings {
  int max_per_connection = 8;
  int max_total = 256;
  uint64_t max_buffered_bytes = 4u << 20;  // input pushed and not yet encoded, per stream
  int idle_timeout_s = 30;                 // no request on a stream for this long ends it
  int max_seconds = 600;                   // of input audio per stream
};

struct Config {
  DaemonSettings daemon;
  CacheSettings cache;
  OpusSettings opus;
  StreamSettings stream;
};

// Where an effective value came from, for --print-config.
struct ValueSource {
  enum class Kind { kDefault, kFile, kEnv } kind = Kind::kDefault;
  std::string file;  // kFile
  int line = 0;      // kFile
  std::string env;   // kEnv: the variable's name
  std::string text;  // the value as written
};

struct LoadedConfig {
  Config config;
  std::map<std::string, ValueSource> sources;  // "section.key" → source
};

// Returns the value of an environment variable, or nullptr.
using EnvLookup = std::function<const char*(const char* name)>;

struct ConfigInput {
  std::string origin;               // file name used in messages
  std::optional<std::string> text;  // file contents; nullopt: defaults only
  EnvLookup env;                    // may be empty: no overrides
  std::vector<int> usable_cpus;     // for checking `cpus`
};

Result<LoadedConfig> LoadConfig(const ConfigInput& input);

// Reads `path` (when given) and the real environment and affinity. A missing
// file is an error naming it.
Result<LoadedConfig> LoadConfigFile(const std::optional<std::string>& path);

// The effective configuration as an INI file, each value followed by a
// comment naming its source ("; default", "; file /etc/x.conf:12", "; env X").
std::string FormatConfig(const LoadedConfig& loaded);

// Engine names are path components: [a-z0-9][a-z0-9_-]{0,31}.
bool IsValidEngineName(std::string_view name);

// The exit status for a configuration error (sysexits.h EX_CONFIG).
inline constexpr int kExitConfig = 78;

}  // namespace ttscache
