// libFuzzer: arbitrary bytes as the text of a cache key.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/cachekey/cache_key.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ttscache;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<std::string> normalized = NormalizeText(text);
  if (!normalized) __builtin_trap();  // ICU failures are not expected for any input
  // Normalizing is idempotent, and the key is the key of the normalized text.
  if (NormalizeText(*normalized).value() != *normalized) __builtin_trap();
  if (ComputeCacheKey(text).value() != ComputeCacheKey(*normalized).value()) __builtin_trap();
  return 0;
}
