// Tier values (tier_value.hpp): written by EncodeTierValue, and read back
// only through DecodeTierValue, which checks every field before the CRC so
// that a failure names what is wrong, not merely that something is.
#include "daemon/tier/tier_value.hpp"

#include <cstdio>
#include <cstring>
#include <string>

#include "core/crc32c.hpp"
#include "core/log.hpp"

namespace ttscache {
namespace {

constexpr char kMagic[4] = {'T', 'T', 'S', 't'};
constexpr size_t kCrcOffset = 20;

void PutLittle(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetLittle(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Error Corrupt(std::string what) {
  return MakeError(Errc::kBadAudio, "tier value: " + std::move(what));
}

std::string Hex32(uint64_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08llX", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::vector<uint8_t> EncodeTierValue(TierValueKind kind, std::string_view key,
                                     std::span<const uint8_t> payload, uint32_t source_crc32c) {
  std::vector<uint8_t> v(TierValueSize(key.size(), payload.size()));
  uint8_t* p = v.data();
  std::memcpy(p, kMagic, 4);
  p[4] = kTierValueVersion;
  p[5] = static_cast<uint8_t>(kind);
  PutLittle(p + 6, key.size(), 2);
  PutLittle(p + 8, payload.size(), 8);
  PutLittle(p + 16, kind == TierValueKind::kWav ? 0 : source_crc32c, 4);
  std::memcpy(p + kTierValueHeaderBytes, key.data(), key.size());
  if (!payload.empty()) {
    std::memcpy(p + kTierValueHeaderBytes + key.size(), payload.data(), payload.size());
  }
  uint32_t crc = Crc32c({p, kCrcOffset});
  crc = Crc32c({p + kTierValueHeaderBytes, v.size() - kTierValueHeaderBytes}, crc);
  PutLittle(p + kCrcOffset, crc, 4);
  return v;
}

Result<std::span<const uint8_t>> DecodeTierValue(std::span<const uint8_t> value, TierValueKind kind,
                                                 std::string_view key, uint32_t* source_crc32c) {
  if (value.size() < kTierValueHeaderBytes) {
    return Corrupt(std::to_string(value.size()) + " bytes, shorter than the " +
                   std::to_string(kTierValueHeaderBytes) + "-byte header");
  }
  const uint8_t* p = value.data();
  if (std::memcmp(p, kMagic, 4) != 0) {
    return Corrupt("magic " + Hex32(GetLittle(p, 4)) + ", expected \"TTSt\"");
  }
  if (p[4] != kTierValueVersion) {
    return Corrupt("version " + std::to_string(p[4]) + ", expected " +
                   std::to_string(kTierValueVersion));
  }
  if (p[5] != static_cast<uint8_t>(kind)) {
    return Corrupt("kind " + std::to_string(p[5]) + ", expected " +
                   std::to_string(static_cast<int>(kind)));
  }
  const uint64_t key_length = GetLittle(p + 6, 2);
  const uint64_t payload_length = GetLittle(p + 8, 8);
  const uint64_t source = GetLittle(p + 16, 4);
  if (kind == TierValueKind::kWav && source != 0) {
    return Corrupt("source_crc32c " + Hex32(source) + " in a WAV, expected 0");
  }
  if (key_length != key.size()) {
    return Corrupt("key_length " + std::to_string(key_length) + ", expected " +
                   std::to_string(key.size()) + " (the key it was fetched by)");
  }
  const uint64_t after_header = value.size() - kTierValueHeaderBytes;
  if (key_length > after_header || payload_length != after_header - key_length) {
    return Corrupt("payload_length " + std::to_string(payload_length) + ", but " +
                   std::to_string(after_header < key_length ? 0 : after_header - key_length) +
                   " payload bytes follow the header and key");
  }
  if (std::memcmp(p + kTierValueHeaderBytes, key.data(), key.size()) != 0) {
    return Corrupt("stored under \"" + log::Printable(std::string(key)) +
                   "\" but written for another key");
  }
  uint32_t crc = Crc32c({p, kCrcOffset});
  crc = Crc32c(value.subspan(kTierValueHeaderBytes), crc);
  const uint64_t stored = GetLittle(p + kCrcOffset, 4);
  if (crc != stored) {
    return Corrupt("crc32c " + Hex32(stored) + ", computed " + Hex32(crc));
  }
  if (source_crc32c) *source_crc32c = static_cast<uint32_t>(source);
  return value.subspan(kTierValueHeaderBytes + key.size());
}

}  // namespace ttscache
