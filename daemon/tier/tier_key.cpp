// Tier keys (tier_key.hpp). Checked here, once, so that nothing built from a
// peer's engine path reaches memcached's text of keys unchecked.
#include "daemon/tier/tier_key.hpp"

#include "core/log.hpp"

namespace ttscache {
namespace {

Result<std::string> Checked(std::string key) {
  if (IsValidMemcachedKey(key)) return key;
  return MakeError(Errc::kInvalidArgument,
                   "tier key \"" + log::Printable(key.substr(0, 300)) + "\" (" +
                       std::to_string(key.size()) +
                       " bytes) is not a memcached key: expected 1–250 bytes, no space or "
                       "control byte");
}

}  // namespace

bool IsValidMemcachedKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxMemcachedKeyBytes) return false;
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7F) return false;
  }
  return true;
}

Result<std::string> TierKey(std::string_view prefix, std::string_view engine, const CacheKey& key) {
  std::string s;
  s.reserve(prefix.size() + engine.size() + 70);
  s.append(prefix).append(":1:").append(engine).append(":").append(key.hex());
  return Checked(std::move(s));
}

Result<std::string> TierVariantKey(std::string_view prefix, std::string_view engine,
                                   const CacheKey& key, const OpusParams& params) {
  std::string s;
  s.reserve(prefix.size() + engine.size() + 110);
  s.append(prefix).append(":1:").append(engine).append(":").append(key.hex());
  s.append(":").append(VariantTag(params));
  return Checked(std::move(s));
}

}  // namespace ttscache
