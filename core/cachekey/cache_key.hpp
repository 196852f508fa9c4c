// Cache keys, bit for bit what the Node.js module that ttscache replaces
// computes: sha256hex(text.trim().toLowerCase().replace(/\s+/g, ' ')), with
// the text decoded from UTF-8 the way Node decodes a Buffer. An existing
// cache directory ({dir}/{engine}/{key}.wav) therefore keeps working.
// Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace ttscache {

// A SHA-256 digest; hex() gives the 64 lowercase hex digits of a file name.
struct CacheKey {
  std::array<uint8_t, 32> digest{};
  std::string hex() const;
  bool operator==(const CacheKey&) const = default;
};

// JavaScript's trim(), toLowerCase() (ICU, root locale) and
// replace(/\s+/g, ' ') applied to `utf8_text`, returned as UTF-8. Invalid
// UTF-8 becomes U+FFFD per maximal invalid subsequence, as in Node; an
// embedded NUL is an ordinary character. Errors only if ICU fails.
Result<std::string> NormalizeText(std::string_view utf8_text);

// sha256 of NormalizeText(utf8_text).
Result<CacheKey> ComputeCacheKey(std::string_view utf8_text);

// Parses 64 lowercase hex digits; false for anything else.
bool ParseCacheKeyHex(std::string_view hex, CacheKey* out);

// The entry's path relative to the cache dir: "<engine>/<hex>.wav", or
// "<engine>/<voice>/<hex>.wav" for an engine path naming a voice.
std::string EntryRelativePath(std::string_view engine, const CacheKey& key);

// A voice within an engine (a model, a speaker): [A-Za-z0-9][A-Za-z0-9._-]{0,63}.
// Never "." or "..", never a '/': safe as one folder name.
inline constexpr size_t kMaxVoiceName = 64;
bool IsValidVoiceName(std::string_view name);

// "engine" or "engine/voice", split at the first '/' (voice empty when there
// is none; has_voice tells "piper/" from "piper"). Checks nothing.
struct EnginePath {
  std::string_view engine, voice;
  bool has_voice = false;
};
EnginePath SplitEnginePath(std::string_view path);

// True for the characters JavaScript's trim() and \s match: U+0009–000D,
// U+0020, U+00A0, U+1680, U+2000–200A, U+2028, U+2029, U+202F, U+205F,
// U+3000, U+FEFF. (Not U+0085, U+180E or U+200B; glibc's iswspace differs.)
bool IsJavaScriptWhitespace(char32_t c);

}  // namespace ttscache
