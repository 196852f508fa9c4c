// libFuzzer: arbitrary bytes as a value fetched from the fleet's pool (which
// other daemons, or anyone on the network, may have written), decoded as
// each kind under a fixed key and under the key the bytes themselves claim.
// A value that decodes must re-encode to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "daemon/tier/tier_value.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ttscache;
  std::span<const uint8_t> value(data, size);
  std::string claimed;
  if (size >= kTierValueHeaderBytes) {
    const size_t key_length = data[6] | static_cast<size_t>(data[7]) << 8;
    if (kTierValueHeaderBytes + key_length <= size) {
      claimed.assign(reinterpret_cast<const char*>(data) + kTierValueHeaderBytes, key_length);
    }
  }
  for (TierValueKind kind : {TierValueKind::kWav, TierValueKind::kOpusVariant}) {
    for (const std::string& key : {std::string("ttscache:1:piper:00"), claimed}) {
      uint32_t source = 0;
      Result<std::span<const uint8_t>> payload = DecodeTierValue(value, kind, key, &source);
      if (!payload) continue;
      if (EncodeTierValue(kind, key, *payload, source) != std::vector<uint8_t>(data, data + size)) {
        std::abort();
      }
    }
  }
  return 0;
}
