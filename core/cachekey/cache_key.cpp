// The key function; see cache_key.hpp. Text goes UTF-8 → UTF-16 (as a JS
// string is), is trimmed, lowercased by ICU in the root locale (full
// mappings: İ → i̇, final sigma, ẞ → ß), whitespace runs collapse to one
// space, and the result goes back to UTF-8 for SHA-256 (OpenSSL EVP).
#include "core/cachekey/cache_key.hpp"

#include <openssl/evp.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include <array>
#include <memory>
#include <optional>
#include <vector>

namespace ttscache {
namespace {

Error IcuError(const char* what, UErrorCode status) {
  return MakeError(Errc::kInternal, std::string(what) + ": " + u_errorName(status));
}

// UTF-8 → UTF-16 with U+FFFD per maximal invalid subsequence. ICU's UTF-8
// decoding follows the same Unicode "maximal subpart" practice as V8.
Result<std::u16string> DecodeUtf8(std::string_view utf8) {
  if (utf8.empty()) return std::u16string();
  std::u16string out(utf8.size(), u'\0');  // UTF-16 is never longer in units
  int32_t length = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strFromUTF8WithSub(out.data(), static_cast<int32_t>(out.size()), &length, utf8.data(),
                       static_cast<int32_t>(utf8.size()), 0xFFFD, nullptr, &status);
  if (U_FAILURE(status)) return IcuError("u_strFromUTF8WithSub", status);
  out.resize(static_cast<size_t>(length));
  return out;
}

Result<std::u16string> ToLower(const std::u16string& s) {
  if (s.empty()) return s;
  std::u16string out(s.size() + 16, u'\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t length = u_strToLower(out.data(), static_cast<int32_t>(out.size()), s.data(),
                                  static_cast<int32_t>(s.size()), "", &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) {
      out.assign(static_cast<size_t>(length), u'\0');
      continue;
    }
    if (U_FAILURE(status)) return IcuError("u_strToLower", status);
    out.resize(static_cast<size_t>(length));
    return out;
  }
  return MakeError(Errc::kInternal, "u_strToLower: buffer size changed between calls");
}

// JS strings may hold lone surrogates; hashing encodes them as U+FFFD, as
// Node's UTF-8 encoder does. (They cannot arise from decoded UTF-8, but the
// conversion is written to be total.)
Result<std::string> EncodeUtf8(const std::u16string& s) {
  if (s.empty()) return std::string();
  std::string out(s.size() * 3, '\0');
  int32_t length = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strToUTF8WithSub(out.data(), static_cast<int32_t>(out.size()), &length, s.data(),
                     static_cast<int32_t>(s.size()), 0xFFFD, nullptr, &status);
  if (U_FAILURE(status)) return IcuError("u_strToUTF8WithSub", status);
  out.resize(static_cast<size_t>(length));
  return out;
}

}  // namespace

bool IsJavaScriptWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000 || c == 0xFEFF;
}

// ASCII text (most TTS phrases) skips the UTF-16 round trip: for code points
// below 0x80, toLowerCase is A–Z → a–z and the JS whitespace characters are
// U+0009–000D and U+0020, so the result is byte-for-byte what ICU gives.
std::optional<std::string> NormalizeAscii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return std::nullopt;
  }
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  size_t begin = 0, end = text.size();
  while (begin < end && space(text[begin])) ++begin;
  while (end > begin && space(text[end - 1])) --end;
  std::string out;
  out.reserve(end - begin);
  bool in_space = false;
  for (size_t i = begin; i < end; ++i) {
    char c = text[i];
    if (space(c)) {
      if (!in_space) out += ' ';
      in_space = true;
      continue;
    }
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    in_space = false;
  }
  return out;
}

Result<std::string> NormalizeText(std::string_view utf8_text) {
  if (std::optional<std::string> ascii = NormalizeAscii(utf8_text)) return *ascii;
  Result<std::u16string> decoded = DecodeUtf8(utf8_text);
  if (!decoded) return decoded.error();
  // Every JS whitespace character is a single UTF-16 unit, so trimming and
  // collapsing can work unit by unit.
  const std::u16string& s = *decoded;
  size_t begin = 0, end = s.size();
  while (begin < end && IsJavaScriptWhitespace(s[begin])) ++begin;
  while (end > begin && IsJavaScriptWhitespace(s[end - 1])) --end;
  Result<std::u16string> lower = ToLower(s.substr(begin, end - begin));
  if (!lower) return lower.error();
  std::u16string collapsed;
  collapsed.reserve(lower->size());
  bool in_space = false;
  for (char16_t c : *lower) {
    if (IsJavaScriptWhitespace(c)) {
      if (!in_space) collapsed += u' ';
      in_space = true;
    } else {
      collapsed += c;
      in_space = false;
    }
  }
  return EncodeUtf8(collapsed);
}

namespace {

// EVP_sha256() makes OpenSSL 3 look the algorithm up (locks, a hash table) on
// every digest — more work than hashing a phrase. Fetched once, an EVP_MD is
// immutable and shared by all threads; each thread reuses its own context.
Status Sha256(std::string_view bytes, std::array<uint8_t, 32>* digest) {
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct ContextFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local const std::unique_ptr<EVP_MD_CTX, ContextFree> context(EVP_MD_CTX_new());
  unsigned int length = 0;
  if (kSha256 == nullptr || context == nullptr ||
      EVP_DigestInit_ex(context.get(), kSha256, nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), bytes.data(), bytes.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest->data(), &length) != 1 || length != digest->size()) {
    return MakeError(Errc::kInternal, "OpenSSL SHA-256 failed (is the default provider loaded?)");
  }
  return {};
}

}  // namespace

Result<CacheKey> ComputeCacheKey(std::string_view utf8_text) {
  Result<std::string> normalized = NormalizeText(utf8_text);
  if (!normalized) return normalized.error();
  CacheKey key;
  if (Status s = Sha256(*normalized, &key.digest); !s) return s.error();
  return key;
}

std::string CacheKey::hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    out[2 * i] = kDigits[digest[i] >> 4];
    out[2 * i + 1] = kDigits[digest[i] & 15];
  }
  return out;
}

bool ParseCacheKeyHex(std::string_view hex, CacheKey* out) {
  if (hex.size() != 64) return false;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    int hi = value(hex[2 * i]), lo = value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->digest[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::string EntryRelativePath(std::string_view engine, const CacheKey& key) {
  return std::string(engine) + "/" + key.hex() + ".wav";
}

bool IsValidVoiceName(std::string_view name) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (name.empty() || name.size() > kMaxVoiceName || !alnum(name[0])) return false;
  for (char c : name.substr(1)) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

EnginePath SplitEnginePath(std::string_view path) {
  const size_t slash = path.find('/');
  if (slash == std::string_view::npos) return EnginePath{path, {}, false};
  return EnginePath{path.substr(0, slash), path.substr(slash + 1), true};
}

}  // namespace ttscache
