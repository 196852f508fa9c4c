// The value stored in the fleet tier, format v1 (little-endian):
//   0  char magic[4] = "TTSt"      16 u32 source_crc32c (kind 2; 0 for kind 1)
//   4  u8  version = 1             20 u32 crc32c of bytes 0..19, the key and the payload
//   5  u8  kind (1 WAV, 2 Opus)    24 the key it is stored under (key_length bytes)
//   6  u16 key_length                 then the payload (payload_length bytes)
//   8  u64 payload_length
// A variant's source_crc32c is the CRC-32C of the WAV it was encoded from: a
// reader uses the variant only beside that very WAV, so a variant of audio
// since re-synthesized (another host's newer put of the text) is never
// served with the new WAV. The key inside the value catches a value stored under the wrong key (a
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

// REQUIRES: key.size() ≤ 65535 (a memcached key is at most 250);
// source_crc32c 0 for a WAV.
std::vector<uint8_t> EncodeTierValue(TierValueKind kind, std::string_view key,
                                     std::span<const uint8_t> payload, uint32_t source_crc32c = 0);

// The payload (a view into `value`) when `value` is a whole v1 value of
// `kind` stored under `key` with a matching checksum; otherwise
// kBadAudio naming the field, the value found and the one expected (too
// short, magic, version, kind, a WAV's source_crc32c not 0, key length,
// key, payload length against the bytes present, checksum). A variant's
// source_crc32c is stored in `*source_crc32c` when given.
Result<std::span<const uint8_t>> DecodeTierValue(std::span<const uint8_t> value, TierValueKind kind,
                                                 std::string_view key,
                                                 uint32_t* source_crc32c = nullptr);

}  // namespace ttscache
