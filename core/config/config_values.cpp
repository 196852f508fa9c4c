// Value parsers for config keys; see config_values.hpp. Numbers are parsed
// with from_chars, so "12abc", " 1e3" and overflow are all refused.
#include "core/config/config_values.hpp"

#include <cstdlib>

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <charconv>

#include "core/config/config.hpp"

namespace ttscache::config_values {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> SplitList(std::string_view text) {
  std::vector<std::string_view> items;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || text[i] == ' ' || text[i] == '\t')) ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ',' && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) items.push_back(text.substr(start, i - start));
  }
  return items;
}

Problem ParseInteger(std::string_view text, int64_t min, int64_t max, int64_t* out) {
  std::string range = std::to_string(min) + "–" + std::to_string(max);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return "not an integer, expected " + range;
  }
  if (value < min || value > max) return "out of range, expected " + range;
  *out = value;
  return {};
}

Problem ParseByteSize(std::string_view text, uint64_t* out) {
  static constexpr const char* kExpected =
      "expected bytes with an optional suffix K, M, G or T (e.g. 512M, 2G; 0 = no limit)";
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc()) return kExpected;
  std::string_view suffix(end, text.data() + text.size() - end);
  int shift = 0;
  if (suffix.size() == 1) {
    switch (suffix[0]) {
      case 'K':
      case 'k':
        shift = 10;
        break;
      case 'M':
      case 'm':
        shift = 20;
        break;
      case 'G':
      case 'g':
        shift = 30;
        break;
      case 'T':
      case 't':
        shift = 40;
        break;
      default:
        return kExpected;
    }
  } else if (!suffix.empty()) {
    return kExpected;
  }
  if (shift > 0 && value > (UINT64_MAX >> shift)) return "too large, expected at most 16383P";
  *out = value << shift;
  return {};
}

Problem ParseByteSizeOrPercent(std::string_view text, uint64_t* bytes, double* percent) {
  if (!text.empty() && text.back() == '%') {
    static constexpr const char* kExpected = "expected a percent from 0 to 50 (e.g. 5%, 0.5%)";
    std::string number(text.substr(0, text.size() - 1));
    if (number.empty() || number.find_first_not_of("0123456789.") != std::string::npos) {
      return kExpected;
    }
    char* end = nullptr;
    double value = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size() || !(value >= 0 && value <= 50)) return kExpected;
    *bytes = 0;
    *percent = value;
    return {};
  }
  if (Problem p = ParseByteSize(text, bytes)) {
    return "expected bytes with an optional suffix K, M, G or T, or a percent of the filesystem "
           "(e.g. 2G, 5%; 0 = none)";
  }
  *percent = 0;
  return {};
}

Problem ParseDuration(std::string_view text, uint64_t* seconds) {
  static constexpr const char* kExpected =
      "expected seconds with an optional suffix s, m, h or d (e.g. 3600, 90m, 30d; 0 = never)";
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc()) return kExpected;
  std::string_view suffix(end, text.data() + text.size() - end);
  uint64_t unit = 1;
  if (suffix == "m") {
    unit = 60;
  } else if (suffix == "h") {
    unit = 3600;
  } else if (suffix == "d") {
    unit = 86400;
  } else if (!suffix.empty() && suffix != "s") {
    return kExpected;
  }
  if (value > (uint64_t{1} << 40) / unit) return "too large, expected at most 34 years";
  *seconds = value * unit;
  return {};
}

Problem ParseBool(std::string_view text, bool* out) {
  for (const char* t : {"true", "yes", "on", "1"}) {
    if (text == t) return (*out = true), Problem{};
  }
  for (const char* f : {"false", "no", "off", "0"}) {
    if (text == f) return (*out = false), Problem{};
  }
  return "expected true or false";
}

Problem ParseFileMode(std::string_view text, mode_t* out) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 8);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 0777) {
    return "expected an octal mode 0000–0777";
  }
  *out = static_cast<mode_t>(value);
  return {};
}

namespace {

// Resolves each item as a number or, failing that, through `lookup_name`.
template <class Id, class Lookup>
Problem ParseIdList(std::string_view text, const char* kind, Lookup lookup_name,
                    std::vector<Id>* out) {
  std::vector<Id> ids;
  for (std::string_view item : SplitList(text)) {
    uint32_t number = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), number);
    if (ec == std::errc() && end == item.data() + item.size()) {
      ids.push_back(static_cast<Id>(number));
      continue;
    }
    std::optional<Id> id = lookup_name(std::string(item));
    if (!id) {
      return "no " + std::string(kind) + " named \"" + std::string(item) +
             "\", expected numeric ids or existing names separated by commas";
    }
    ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  *out = std::move(ids);
  return {};
}

}  // namespace

Problem ParseUidList(std::string_view text, std::vector<uid_t>* out) {
  return ParseIdList<uid_t>(
      text, "user",
      [](const std::string& name) -> std::optional<uid_t> {
        passwd pw;
        passwd* found = nullptr;
        char buf[4096];
        if (getpwnam_r(name.c_str(), &pw, buf, sizeof(buf), &found) != 0 || !found) return {};
        return found->pw_uid;
      },
      out);
}

Problem ParseGidList(std::string_view text, std::vector<gid_t>* out) {
  return ParseIdList<gid_t>(
      text, "group",
      [](const std::string& name) -> std::optional<gid_t> {
        group gr;
        group* found = nullptr;
        char buf[4096];
        if (getgrnam_r(name.c_str(), &gr, buf, sizeof(buf), &found) != 0 || !found) return {};
        return found->gr_gid;
      },
      out);
}

Problem ParseEngineList(std::string_view text, std::vector<std::string>* out) {
  std::vector<std::string> engines;
  for (std::string_view item : SplitList(text)) {
    if (!IsValidEngineName(item)) {
      return "engine name \"" + std::string(item) +
             "\" is invalid, expected [a-z0-9][a-z0-9_-]{0,31}";
    }
    if (std::find(engines.begin(), engines.end(), item) != engines.end()) {
      return "engine \"" + std::string(item) + "\" is listed twice";
    }
    engines.emplace_back(item);
  }
  if (engines.empty()) return "expected at least one engine name";
  *out = std::move(engines);
  return {};
}

Problem ParseSlotList(std::string_view text, std::vector<std::pair<std::string, int>>* out) {
  std::vector<std::pair<std::string, int>> slots;
  for (std::string_view item : SplitList(text)) {
    const std::string quoted = "\"" + std::string(item) + "\"";
    const size_t colon = item.find(':');
    if (colon == std::string_view::npos) {
      return "slot " + quoted + " has no size, expected name:size (e.g. xtts:1)";
    }
    const std::string_view name = item.substr(0, colon), size_text = item.substr(colon + 1);
    if (!IsValidEngineName(name)) {
      return "slot " + quoted + ": the name \"" + std::string(name) +
             "\" is invalid, expected [a-z0-9][a-z0-9_-]{0,31}";
    }
    int64_t size = 0;
    if (ParseInteger(size_text, 0, 1024, &size)) {
      return "slot " + quoted + ": the size \"" + std::string(size_text) +
             "\" is invalid, expected an integer 0–1024 (0: no limit)";
    }
    for (const auto& [seen, unused] : slots) {
      if (seen == name) return "slot \"" + std::string(name) + "\" is listed twice";
    }
    slots.emplace_back(std::string(name), static_cast<int>(size));
  }
  *out = std::move(slots);
  return {};
}

namespace {

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-';
}

// One item of [tier] servers; `quoted` names it in the message.
Problem ParseTierServer(std::string_view item, TierServer* out) {
  const std::string quoted = "server \"" + std::string(item) + "\"";
  TierServer server;
  if (item.front() == '/') {
    // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
    if (item.size() > 107) return quoted + ": a socket path is at most 107 bytes";
    server.socket_path = std::string(item);
    *out = std::move(server);
    return {};
  }
  std::string_view host = item, port_text;
  if (item.front() == '[') {
    const size_t close = item.find(']');
    if (close == std::string_view::npos)
      return quoted + ": '[' without ']', expected [v6addr]:port";
    host = item.substr(1, close - 1);
    std::string_view rest = item.substr(close + 1);
    if (host.empty() ||
        host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos ||
        host.find(':') == std::string_view::npos) {
      return quoted + ": \"" + std::string(host) + "\" is not an IPv6 address";
    }
    if (!rest.empty()) {
      if (rest.front() != ':') return quoted + ": expected [v6addr]:port";
      port_text = rest.substr(1);
      if (port_text.empty()) return quoted + ": no port after ':', expected 1–65535";
    }
  } else {
    const size_t colon = item.find(':');
    if (colon != std::string_view::npos) {
      if (item.find(':', colon + 1) != std::string_view::npos) {
        return quoted + ": an IPv6 address goes in brackets, expected [v6addr]:port";
      }
      host = item.substr(0, colon);
      port_text = item.substr(colon + 1);
      if (port_text.empty()) return quoted + ": no port after ':', expected 1–65535";
    }
    if (host.empty() || host.size() > 253 || !std::all_of(host.begin(), host.end(), IsHostChar)) {
      return quoted +
             ": expected host:port, host, [v6addr]:port or an absolute socket path "
             "(host [A-Za-z0-9.-]{1,253})";
    }
  }
  int64_t port = 11211;
  if (!port_text.empty() && ParseInteger(port_text, 1, 65535, &port)) {
    return quoted + ": the port \"" + std::string(port_text) + "\" is invalid, expected 1–65535";
  }
  server.host = std::string(host);
  server.port = static_cast<int>(port);
  *out = std::move(server);
  return {};
}

}  // namespace

Problem ParseTierServers(std::string_view text, std::vector<TierServer>* out) {
  constexpr size_t kMaxServers = 64;
  std::vector<TierServer> servers;
  for (std::string_view item : SplitList(text)) {
    TierServer server;
    if (Problem p = ParseTierServer(item, &server)) return p;
    if (std::find(servers.begin(), servers.end(), server) != servers.end()) {
      return "server \"" + std::string(item) + "\" is listed twice";
    }
    if (servers.size() == kMaxServers) {
      return "more than " + std::to_string(kMaxServers) + " servers, expected at most 64";
    }
    servers.push_back(std::move(server));
  }
  *out = std::move(servers);
  return {};
}

Problem ParseTierShare(std::string_view text, bool* wav, bool* opus) {
  bool share_wav = false, share_opus = false;
  for (std::string_view item : SplitList(text)) {
    bool* which = item == "wav" ? &share_wav : item == "opus" ? &share_opus : nullptr;
    if (!which) {
      return "\"" + std::string(item) +
             "\" is not something shared, expected wav and/or opus separated by commas (or "
             "nothing)";
    }
    if (*which) return "\"" + std::string(item) + "\" is listed twice";
    *which = true;
  }
  *wav = share_wav;
  *opus = share_opus;
  return {};
}

Problem ParseKeyPrefix(std::string_view text, std::string* out) {
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  };
  if (text.empty() || text.size() > 32 || !std::all_of(text.begin(), text.end(), allowed)) {
    return "expected [A-Za-z0-9_.-]{1,32}";
  }
  *out = std::string(text);
  return {};
}

Problem ParseFrameMs(std::string_view text, int* frame_us) {
  static constexpr std::pair<const char*, int> kFrames[] = {
      {"2.5", 2500}, {"5", 5000}, {"10", 10000}, {"20", 20000}, {"40", 40000}, {"60", 60000}};
  for (auto [name, us] : kFrames) {
    if (text == name) return (*frame_us = us), Problem{};
  }
  return "expected one of 2.5, 5, 10, 20, 40, 60";
}

}  // namespace ttscache::config_values
