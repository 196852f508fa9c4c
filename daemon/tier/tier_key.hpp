// The memcached key of an entry in the fleet tier:
//   "{prefix}:1:{engine[/voice]}:{sha256 hex}"        the WAV
//   "{prefix}:1:{engine[/voice]}:{sha256 hex}:{tag}"  an Opus variant (VariantTag)
// "1" is the key layout's version: a later layout starts apart from this one.
// memcached takes keys of at most 250 bytes with no space or control byte;
// with the configuration's limits (prefix ≤ 32, engine ≤ 32, voice ≤ 64) the
// longest key is 236 bytes, and a key that breaks either rule anyway (an
// unchecked engine path from a peer) is an error here, never sent.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/audio/opus_params.hpp"
#include "core/cachekey/cache_key.hpp"
#include "core/result.hpp"

namespace ttscache {

inline constexpr size_t kMaxMemcachedKeyBytes = 250;

// kInvalidArgument naming the key when it is longer than 250 bytes or holds
// a space or a control byte.
Result<std::string> TierKey(std::string_view prefix, std::string_view engine, const CacheKey& key);
Result<std::string> TierVariantKey(std::string_view prefix, std::string_view engine,
                                   const CacheKey& key, const OpusParams& params);

// memcached's rule for keys: 1–250 bytes, none a space, a control byte or DEL.
bool IsValidMemcachedKey(std::string_view key);

}  // namespace ttscache
