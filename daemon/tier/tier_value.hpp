// The value stored in the fleet tier, format v1 (little-endian):
//   0  char magic[4] = "TTSt"      16 u32 reserved = 0
//   4  u8  version = 1             20 u32 crc32c of bytes 0..19, the key and the payload
//   5  u8  kind (1 WAV, 2 Opus)    24 the key it is stored under (key_length bytes)
//   6  u16 key_length                 then the payload (payload_length bytes)
//   8  u64 payload_length
// The key inside the value catches a value stored under the wrong key (a
// buggy or hostile peer, a hash collision of the server's own); the CRC
// catches a value torn or flipped anywhere. A pool is shared with other
// daemons, so a value is never trusted before DecodeTierValue says so.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace ttscache {

enum class TierValueKind : uint8_t { kWav = 1, kOpusVariant = 2 };

inline constexpr size_t kTierValueHeaderBytes = 24;
inline constexpr uint8_t kTierValueVersion = 1;

// The value's total size for a key and a payload of these sizes.
inline uint64_t TierValueSize(size_t key_bytes, size_t payload_bytes) {
  return kTierValueHeaderBytes + key_bytes + payload_bytes;
}

// REQUIRES: key.size() ≤ 65535 (a memcached key is at most 250).
std::vector<uint8_t> EncodeTierValue(TierValueKind kind, std::string_view key,
                                     std::span<const uint8_t> payload);

// The payload (a view into `value`) when `value` is a whole v1 value of
// `kind` stored under `key` with a matching checksum; otherwise
// kBadAudio naming the field, the value found and the one expected (too
// short, magic, version, kind, reserved, key length, key, payload length
// against the bytes present, checksum).
Result<std::span<const uint8_t>> DecodeTierValue(std::span<const uint8_t> value, TierValueKind kind,
                                                 std::string_view key);

}  // namespace ttscache
