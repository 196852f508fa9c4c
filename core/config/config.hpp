// Config: ttscached's effective configuration, read from an INI file (inih)
// and overridden by the environment variables of the Node.js backend that
// ttscache replaces. docs/config.md documents every key.
//
// Loading is a pure function of (file text, environment, usable CPUs), so the
// tests and the fuzzer drive it without touching the process. Every bad value
// is an Errc::kConfig error with one line per problem, each naming the file,
// line, key, value and what is allowed. Thread-safety: value types.
//
// Defaults: each key's default is written once, in config.cpp's key table
// (as the file would spell it, parsed by the same code). The structs below
// hold no defaults of their own: DefaultConfig() is the table's values, and
// other types that need a default (CacheLimits) read it from there.
// tests/unit/config_test checks docs/config.md and config/ttscached.conf
// against the table.
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

// Fields are value-initialised; see DefaultConfig() for the defaults.
struct DaemonSettings {
  std::string socket;
  mode_t socket_mode{};
  std::string socket_group;         // empty: the daemon's own group
  std::vector<uid_t> allowed_uids;  // empty: anyone who can open the socket
  std::vector<gid_t> allowed_gids;
  // Who may DELETE, PURGE and VERIFY with repair; the daemon's own user
  // always may (docs/config.md).
  std::vector<uid_t> admin_uids;
  std::vector<gid_t> admin_gids;
  std::vector<int> cpus;  // empty: every usable CPU
  int workers{};
  int queue_depth{};
  int idle_timeout_s{};      // close a connection with nothing in flight after this; 0 = never
  int busy_poll_us{};        // keep polling this long after events before sleeping; 0 = never
  int max_connections{};     // 0: as many as RLIMIT_NOFILE allows after the daemon's reserve
  int send_timeout_s{};      // close a connection that reads none of its replies for this long
  int max_encode_seconds{};  // longest input audio an encode (or Opus variant) accepts
};

struct CacheSettings {
  std::string dir;
  std::vector<std::string> engines;
  uint64_t max_entries{};  // per engine
  uint64_t max_bytes{};    // whole cache; 0 = no byte limit
  uint64_t max_text_bytes{};
  bool fsync{};
  // Keep this much of the cache's filesystem free, evicting LRU entries:
  // bytes, or a percent of the filesystem's size (0 and 0: none).
  uint64_t min_free_bytes{};
  double min_free_percent{};
  uint64_t max_age_s{};  // entries unused this long expire; 0 = never
};

struct OpusSettings {
  bool enabled{};
  OpusParams params;  // the table sets every field (OpusParams{} is the wire's default)
};

// Encode streams (docs/protocol.md, "Encode streams"): what one may hold.
struct StreamSettings {
  int max_per_connection{};
  int max_total{};
  uint64_t max_buffered_bytes{};  // input pushed and not yet encoded, per stream
  int idle_timeout_s{};           // no request on a stream for this long ends it
  int max_seconds{};              // of input audio per stream
};

// Coordinating synthesis (docs/protocol.md, "Coordinating synthesis"):
// single-flight claims on misses and named synthesis slots. All applied on
// reload.
struct CoordinateSettings {
  bool claims{};                    // false: a GET's claim is ignored (a plain miss)
  int lease_s{};                    // a claim's put must come within this
  int max_wait_s{};                 // a GET's or SLOT_ACQUIRE's wait_ms is cut to this
  int max_claims{};                 // held over all connections
  int max_claims_per_connection{};  //
  int max_waiters_per_key{};        // GETs waiting for one claim
  std::vector<std::pair<std::string, int>> slots;  // name → size, in the file's order
  int default_slots{};                             // an engine not in `slots`; 0: no limit
  int max_slot_waiters{};                          // SLOT_ACQUIREs waiting over all connections
};

// One memcached server of [tier] servers: a TCP host and port, or a Unix
// socket's path (host empty, port 0).
struct TierServer {
  std::string host;
  int port{};
  std::string socket_path;
  bool operator==(const TierServer&) const = default;
};

// A second tier shared by a fleet of daemons: a pool of memcached servers
// (docs/fleet.md). No servers: off, and the daemon is exactly local-only.
// Changes need a restart (a reload logs and ignores them).
struct TierSettings {
  std::vector<TierServer> servers;  // keys spread over them by consistent hashing (ketama)
  int timeout_ms{};                 // the most a GET waits because of the tier; also each I/O's
  int queue_size{};                 // values waiting to be written; one more is dropped (counted)
  bool share_wav{}, share_opus{};   // what is looked up and written (`share`)
  uint64_t max_item_bytes{};        // a value larger (header included) is not written (counted)
  std::string key_prefix;           // first part of every key: fleets sharing a pool stay apart
  uint64_t expire_s{};              // memcached expiry of what is written; 0 = none (its LRU)
  // A file holding "user:password" for SASL PLAIN (binary protocol); a
  // relative name is under $CREDENTIALS_DIRECTORY (systemd LoadCredential=).
  // Empty: no authentication.
  std::string sasl_credentials;
  int lookup_threads{};  // lookups at once (each its own connections to the pool)
  bool operator==(const TierSettings&) const = default;
};

struct Config {
  DaemonSettings daemon;
  CacheSettings cache;
  OpusSettings opus;
  StreamSettings stream;
  CoordinateSettings coordinate;
  TierSettings tier;
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

// The configuration with no file and no environment: every key's default.
const Config& DefaultConfig();

// One row of the key table, for --print-config, the docs and their tests.
struct ConfigKey {
  const char* section;
  const char* name;
  const char* default_text;  // as a file would spell it; "" for empty
  const char* env;           // overriding environment variable, or nullptr
};
std::vector<ConfigKey> ConfigKeys();  // in table order

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
