// Loads the configuration: defaults, then the INI file, then the environment.
// Every key is one row of kKeys (section, name, default, environment variable,
// parser), so parsing, --print-config and the docs share one list; the row's
// default is the only place a default is written (DefaultConfig()).
//
// inih drives the parse; we feed it lines through our own reader so that each
// handler call knows its line number (Debian's inih is built without
// INI_HANDLER_LINENO) and so that syntax errors and over-long lines are
// reported by line, all of them, not only the first.
#include "core/config/config.hpp"

#include <ini.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/config/config_values.hpp"
#include "core/config/cpu_list.hpp"

namespace ttscache {
namespace {

using config_values::Problem;

struct ParseContext {
  const std::vector<int>& usable_cpus;
};

struct KeySpec {
  const char* section;
  const char* name;
  const char* default_text;
  const char* env;  // overriding environment variable, or nullptr
  Problem (*apply)(Config&, std::string_view, const ParseContext&);
};

template <class T>
Problem ApplyInt(std::string_view v, int64_t min, int64_t max, T* field) {
  int64_t value = 0;
  Problem p = config_values::ParseInteger(v, min, max, &value);
  if (!p) *field = static_cast<T>(value);
  return p;
}

Problem ApplySocketPath(Config& c, std::string_view v, const ParseContext&) {
  // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
  if (v.empty() || v.size() > 107) return "expected a socket path of 1–107 bytes";
  c.daemon.socket = std::string(v);
  return {};
}

Problem ApplyCpus(Config& c, std::string_view v, const ParseContext& ctx) {
  Result<std::vector<int>> cpus = ParseCpuList(v);
  if (!cpus) return cpus.error().message;
  if (Status usable = CheckCpusUsable(*cpus, ctx.usable_cpus); !usable) {
    return usable.error().message;
  }
  c.daemon.cpus = std::move(*cpus);
  return {};
}

Problem ApplyCacheDir(Config& c, std::string_view v, const ParseContext&) {
  if (v.empty()) return "expected a directory path";
  c.cache.dir = std::string(v);
  return {};
}

const KeySpec kKeys[] =
    {
        {"daemon", "socket", "/run/ttscache/ttscached.sock", nullptr, ApplySocketPath},
        {"daemon", "socket_mode", "0660", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseFileMode(v, &c.daemon.socket_mode);
         }},
        {"daemon", "socket_group", "", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) -> Problem {
           std::vector<gid_t> gids;
           if (Problem p = config_values::ParseGidList(v, &gids)) return p;
           if (gids.size() > 1) return "expected one group";
           c.daemon.socket_group = std::string(v);
           return {};
         }},
        {"daemon", "allowed_uids", "", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseUidList(v, &c.daemon.allowed_uids);
         }},
        {"daemon", "allowed_gids", "", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseGidList(v, &c.daemon.allowed_gids);
         }},
        {"daemon", "admin_uids", "root", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseUidList(v, &c.daemon.admin_uids);
         }},
        {"daemon", "admin_gids", "", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseGidList(v, &c.daemon.admin_gids);
         }},
        {"daemon", "cpus", "", nullptr, ApplyCpus},
        {"daemon", "workers", "2", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 256, &c.daemon.workers);
         }},
        {"daemon", "queue_depth", "64", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 65536, &c.daemon.queue_depth);
         }},
        {"daemon", "idle_timeout_s", "300", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 0, 86400, &c.daemon.idle_timeout_s);
         }},
        {"daemon", "busy_poll_us", "0", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 0, 10000, &c.daemon.busy_poll_us);
         }},
        {"daemon", "max_connections", "0", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 0, 1000000, &c.daemon.max_connections);
         }},
        {"daemon", "send_timeout_s", "30", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 3600, &c.daemon.send_timeout_s);
         }},
        {"daemon", "max_encode_seconds", "600", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 86400, &c.daemon.max_encode_seconds);
         }},
        {"cache", "dir", "/var/cache/ttscache", "TTS_CACHE_DIR", ApplyCacheDir},
        {"cache", "engines", "xtts, piper", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseEngineList(v, &c.cache.engines);
         }},
        {"cache", "max_entries", "500", "TTS_CACHE_MAX",
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 1000000, &c.cache.max_entries);
         }},
        {"cache", "max_bytes", "0", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseByteSize(v, &c.cache.max_bytes);
         }},
        {"cache", "max_text_bytes", "4096", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 1 << 20, &c.cache.max_text_bytes);
         }},
        {"cache", "fsync", "true", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseBool(v, &c.cache.fsync);
         }},
        {"cache", "min_free", "0", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseByteSizeOrPercent(v, &c.cache.min_free_bytes,
                                                        &c.cache.min_free_percent);
         }},
        {"cache", "max_age", "0", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseDuration(v, &c.cache.max_age_s);
         }},
        {"opus", "enabled", "true", "OPUS_ENABLED",
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseBool(v, &c.opus.enabled);
         }},
        {"opus", "bitrate_kbps", "32", "OPUS_BITRATE",
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, kMinBitrateKbps, kMaxBitrateKbps, &c.opus.params.bitrate_kbps);
         }},
        {"opus", "vbr", "on", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) -> Problem {
           if (!ParseVbrMode(v, &c.opus.params.vbr)) return "expected on, off or constrained";
           return {};
         }},
        {"opus", "application", "voip", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) -> Problem {
           if (!ParseApplication(v, &c.opus.params.application)) {
             return "expected voip, audio or lowdelay";
           }
           return {};
         }},
        {"opus", "complexity", "10", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 0, kMaxComplexity, &c.opus.params.complexity);
         }},
        {"opus", "frame_ms", "20", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseFrameMs(v, &c.opus.params.frame_us);
         }},
        {"stream", "max_per_connection", "8", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 1024, &c.stream.max_per_connection);
         }},
        {"stream", "max_total", "256", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 65536, &c.stream.max_total);
         }},
        {"stream", "max_buffered_bytes", "4M", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) -> Problem {
           uint64_t bytes = 0;
           if (Problem p = config_values::ParseByteSize(v, &bytes)) return p;
           if (bytes < (64u << 10) || bytes > (64u << 20)) return "expected 64K–64M";
           c.stream.max_buffered_bytes = bytes;
           return {};
         }},
        {"stream", "idle_timeout_s", "30", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 3600, &c.stream.idle_timeout_s);
         }},
        {"stream", "max_seconds", "600", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 86400, &c.stream.max_seconds);
         }},
        {"coordinate", "claims", "true", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseBool(v, &c.coordinate.claims);
         }},
        {"coordinate", "lease_s", "30", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 3600, &c.coordinate.lease_s);
         }},
        {"coordinate", "max_wait_s", "60", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 0, 3600, &c.coordinate.max_wait_s);
         }},
        {"coordinate", "max_claims", "16384", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 1000000, &c.coordinate.max_claims);
         }},
        {"coordinate", "max_claims_per_connection", "256", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 65536, &c.coordinate.max_claims_per_connection);
         }},
        {"coordinate", "max_waiters_per_key", "1024", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 65536, &c.coordinate.max_waiters_per_key);
         }},
        {"coordinate", "slots", "", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseSlotList(v, &c.coordinate.slots);
         }},
        // The Node backend's TTS_MAX_PARALLEL limited its parallel syntheses:
        // here that is the size of every engine's synthesis slot.
        {"coordinate", "default_slots", "2", "TTS_MAX_PARALLEL",
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 0, 1024, &c.coordinate.default_slots);
         }},
        {"coordinate", "max_slot_waiters", "4096", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 1000000, &c.coordinate.max_slot_waiters);
         }},
        {"tier", "servers", "", nullptr,
         [](Config& c, std::string_view v,
            const ParseContext&) { return config_values::ParseTierServers(v, &c.tier.servers); }},
        {"tier", "timeout_ms", "100", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 10000, &c.tier.timeout_ms);
         }},
        {"tier", "queue_size", "4096", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 1000000, &c.tier.queue_size);
         }},
        {"tier", "share", "wav, opus", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseTierShare(v, &c.tier.share_wav, &c.tier.share_opus);
         }},
        {"tier", "max_item_bytes", "1M", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) -> Problem {
           uint64_t bytes = 0;
           if (config_values::ParseByteSize(v, &bytes) || bytes < (1u << 10) ||
               bytes > (1u << 30)) {
             return "expected 1K–1G (bytes, suffix K, M or G)";
           }
           c.tier.max_item_bytes = bytes;
           return {};
         }},
        {"tier", "key_prefix", "ttscache", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return config_values::ParseKeyPrefix(v, &c.tier.key_prefix);
         }},
        // memcached reads an expiry over 30 days as a Unix time.
        {"tier", "expire", "0", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) -> Problem {
           uint64_t seconds = 0;
           if (Problem p = config_values::ParseDuration(v, &seconds)) return p;
           if (seconds > 30 * 86400) {
             return "too long, expected at most 30d (memcached reads more as a date)";
           }
           c.tier.expire_s = seconds;
           return {};
         }},
        {"tier", "sasl_credentials", "", nullptr,
         // Read (and checked) at start, by FleetTier::Start.
         [](Config& c, std::string_view v, const ParseContext&) -> Problem {
           c.tier.sasl_credentials = std::string(v);
           return {};
         }},
        {"tier", "lookup_threads", "2", nullptr,
         [](Config& c, std::string_view v, const ParseContext&) {
           return ApplyInt(v, 1, 64, &c.tier.lookup_threads);
         }},
};

std::string QualifiedName(const KeySpec& key) { return std::string(key.section) + "." + key.name; }

// Feeds inih one line at a time from memory, counting lines and catching what
// inih would silently mangle: lines longer than its buffer and NUL bytes.
struct LineReader {
  std::string_view text;
  size_t pos = 0;
  int line = 0;
  std::vector<std::pair<int, std::string>>* errors;
};

char* ReadLine(char* buffer, int capacity, void* stream) {
  auto* r = static_cast<LineReader*>(stream);
  if (r->pos >= r->text.size()) return nullptr;
  size_t end = r->text.find('\n', r->pos);
  end = end == std::string_view::npos ? r->text.size() : end + 1;
  std::string_view line = r->text.substr(r->pos, end - r->pos);
  r->pos = end;
  ++r->line;
  std::string_view body = config_values::Trim(line.substr(0, line.find_last_not_of("\r\n") + 1));
  if (line.find('\0') != std::string_view::npos) {
    r->errors->emplace_back(r->line, "contains a NUL byte");
    line = "\n";
  } else if (line.size() >= static_cast<size_t>(capacity)) {
    r->errors->emplace_back(r->line, "line longer than " + std::to_string(capacity - 2) + " bytes");
    line = "\n";
  } else if (!body.empty() && body[0] != ';' && body[0] != '#') {
    bool section = body[0] == '[';
    if (section && body.find(']') == std::string_view::npos) {
      r->errors->emplace_back(r->line, "section header \"" + std::string(body) + "\" lacks ']'");
      line = "\n";
    } else if (!section && body.find('=') == std::string_view::npos &&
               body.find(':') == std::string_view::npos) {
      r->errors->emplace_back(
          r->line, "\"" + std::string(body) + "\": expected 'key = value' or '[section]'");
      line = "\n";
    }
  }
  std::memcpy(buffer, line.data(), line.size());
  buffer[line.size()] = '\0';
  return buffer;
}

struct FileParse {
  Config* config;
  LoadedConfig* loaded;
  const ParseContext* ctx;
  LineReader* reader;
  std::string origin;
  std::vector<std::pair<int, std::string>> errors;
};

bool KnownSection(std::string_view section) {
  for (const KeySpec& k : kKeys) {
    if (section == k.section) return true;
  }
  return false;
}

std::string Sections() {
  std::string names;
  std::string_view last;
  for (const KeySpec& k : kKeys) {
    if (last == k.section) continue;
    last = k.section;
    names += (names.empty() ? "[" : ", [") + std::string(k.section) + "]";
  }
  return names;
}

std::string KeysOf(std::string_view section) {
  std::string names;
  for (const KeySpec& k : kKeys) {
    if (section != k.section) continue;
    if (!names.empty()) names += ", ";
    names += k.name;
  }
  return names;
}

// Keys that may be given on several lines, their lists joined.
bool Repeatable(const KeySpec& key) {
  return std::strcmp(key.section, "tier") == 0 && std::strcmp(key.name, "servers") == 0;
}

int OnKeyValue(void* user, const char* section, const char* name, const char* value) {
  auto* fp = static_cast<FileParse*>(user);
  int line = fp->reader->line;
  std::string_view v = config_values::Trim(value);
  if (!KnownSection(section)) {
    fp->errors.emplace_back(
        line, "unknown section [" + std::string(section) + "], expected one of: " + Sections());
    return 1;
  }
  for (const KeySpec& key : kKeys) {
    if (std::strcmp(section, key.section) != 0 || std::strcmp(name, key.name) != 0) continue;
    ValueSource& source = fp->loaded->sources[QualifiedName(key)];
    std::string where = "[" + std::string(section) + "] " + name + " = " + std::string(v);
    // A list too long for one line (inih's 200 bytes) continues on lines of
    // the same key: each adds its items to those before.
    std::string joined;
    if (source.kind == ValueSource::Kind::kFile && Repeatable(key)) {
      joined = source.text.empty() ? std::string(v)
               : v.empty()         ? source.text
                                   : source.text + ", " + std::string(v);
      v = joined;
    } else if (source.kind == ValueSource::Kind::kFile) {
      fp->errors.emplace_back(
          line, where + ": duplicate key, first set on line " + std::to_string(source.line));
      return 1;
    }
    if (Problem p = key.apply(*fp->config, v, *fp->ctx)) {
      fp->errors.emplace_back(line, where + ": " + *p);
      return 1;
    }
    source = ValueSource{ValueSource::Kind::kFile, fp->origin, line, {}, std::string(v)};
    return 1;
  }
  fp->errors.emplace_back(line, "unknown key \"" + std::string(name) + "\" in [" + section +
                                    "], expected one of: " + KeysOf(section));
  return 1;
}

// Every key's default, through the parsers a file's value goes through, so a
// default cannot be something the file could not say; `cpus` is empty by
// default and never fails the usable-CPU check.
Status ApplyDefaults(LoadedConfig& loaded, const ParseContext& ctx) {
  for (const KeySpec& key : kKeys) {
    Problem p = key.apply(loaded.config, key.default_text, ctx);
    if (p) return MakeError(Errc::kInternal, "default for " + QualifiedName(key) + ": " + *p);
    loaded.sources[QualifiedName(key)] =
        ValueSource{ValueSource::Kind::kDefault, {}, 0, {}, key.default_text};
  }
  return {};
}

}  // namespace

bool IsValidEngineName(std::string_view name) {
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 32 || !lower_or_digit(name[0])) return false;
  for (char c : name.substr(1)) {
    if (!lower_or_digit(c) && c != '_' && c != '-') return false;
  }
  return true;
}

const Config& DefaultConfig() {
  static const Config defaults = [] {
    LoadedConfig loaded;
    // A default the parsers refuse is a bug caught by every test that loads.
    const std::vector<int> no_cpus;
    [[maybe_unused]] Status s = ApplyDefaults(loaded, ParseContext{no_cpus});
    return loaded.config;
  }();
  return defaults;
}

std::vector<ConfigKey> ConfigKeys() {
  std::vector<ConfigKey> keys;
  for (const KeySpec& k : kKeys) keys.push_back({k.section, k.name, k.default_text, k.env});
  return keys;
}

Result<LoadedConfig> LoadConfig(const ConfigInput& input) {
  LoadedConfig loaded;
  ParseContext ctx{input.usable_cpus};
  if (Status s = ApplyDefaults(loaded, ctx); !s) return s.error();

  std::string report;
  if (input.text) {
    std::vector<std::pair<int, std::string>> reader_errors;
    LineReader reader{*input.text, 0, 0, &reader_errors};
    FileParse fp{&loaded.config, &loaded, &ctx, &reader, input.origin, {}};
    if (ini_parse_stream(ReadLine, &reader, OnKeyValue, &fp) == -2) {
      return MakeError(Errc::kInternal, input.origin + ": out of memory while parsing");
    }
    fp.errors.insert(fp.errors.end(), reader_errors.begin(), reader_errors.end());
    std::stable_sort(fp.errors.begin(), fp.errors.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [line, message] : fp.errors) {
      report += input.origin + ":" + std::to_string(line) + ": " + message + "\n";
    }
  }

  if (input.env) {
    for (const KeySpec& key : kKeys) {
      if (!key.env) continue;
      const char* raw = input.env(key.env);
      // As in the Node backend (`process.env.X || default`), empty means unset.
      if (!raw || !*raw) continue;
      std::string_view v = config_values::Trim(raw);
      if (Problem p = key.apply(loaded.config, v, ctx)) {
        report += "environment " + std::string(key.env) + "=" + std::string(raw) + " (overrides [" +
                  key.section + "] " + key.name + "): " + *p + "\n";
        continue;
      }
      loaded.sources[QualifiedName(key)] =
          ValueSource{ValueSource::Kind::kEnv, {}, 0, key.env, std::string(v)};
    }
  }

  if (!report.empty()) {
    report.pop_back();
    return MakeError(Errc::kConfig, std::move(report));
  }
  return loaded;
}

Result<LoadedConfig> LoadConfigFile(const std::optional<std::string>& path) {
  ConfigInput input;
  input.env = [](const char* name) { return std::getenv(name); };
  input.usable_cpus = UsableCpus();
  if (path) {
    std::ifstream file(*path, std::ios::binary);
    if (!file) return MakeError(Errc::kConfig, *path + ": cannot open configuration file");
    std::ostringstream text;
    text << file.rdbuf();
    if (file.bad()) return MakeError(Errc::kConfig, *path + ": read error");
    input.origin = *path;
    input.text = text.str();
  }
  return LoadConfig(input);
}

std::string FormatConfig(const LoadedConfig& loaded) {
  std::string out;
  std::string_view section;
  for (const KeySpec& key : kKeys) {
    if (section != key.section) {
      section = key.section;
      out += (out.empty() ? "[" : "\n[") + std::string(section) + "]\n";
    }
    const ValueSource& s = loaded.sources.at(QualifiedName(key));
    std::string line = std::string(key.name) + " = " + s.text;
    if (line.size() < 40) line.resize(40, ' ');
    switch (s.kind) {
      case ValueSource::Kind::kDefault:
        line += " ; default";
        break;
      case ValueSource::Kind::kFile:
        line += " ; file " + s.file + ":" + std::to_string(s.line);
        break;
      case ValueSource::Kind::kEnv:
        line += " ; env " + s.env;
        break;
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace ttscache
