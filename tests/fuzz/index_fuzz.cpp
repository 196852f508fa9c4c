// libFuzzer: arbitrary bytes as the index file (a small layout: 2 engines, 8
// entries). Attach must refuse damage without reading outside the buffer; an
// index it accepts must survive use.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "daemon/cache/cache_index.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ttscache;
  const std::vector<std::string> engines = {"xtts", "piper"};
  constexpr uint32_t kCapacity = 8;
  std::vector<uint8_t> memory(IndexFileSize(kCapacity, CacheIndex::BucketCountFor(kCapacity)));
  // A valid formatted index, overwritten by the input from a fuzzer-chosen
  // offset, so both headers and tables get mutated.
  CacheIndex::Format(memory, engines, kCapacity);
  if (size >= 2) {
    size_t offset = (size_t{data[0]} << 8 | data[1]) * 8 % memory.size();
    size_t n = std::min(size - 2, memory.size() - offset);
    std::memcpy(memory.data() + offset, data + 2, n);
  }
  Result<CacheIndex> index = CacheIndex::Attach(memory, engines, kCapacity);
  if (!index) return 0;
  // Exercise the accepted index.
  while (auto lru = index->LeastRecentOverall()) index->Remove(*lru);
  CacheKey key;
  for (uint32_t i = 0; i < kCapacity; ++i) {
    key.digest[0] = static_cast<uint8_t>(i);
    // Every third entry in a voice (the accepted table may name others).
    uint16_t voice = kNoVoice;
    if (i % 3 == 0) {
      Result<uint16_t> added = index->AddVoice(i % 2, "v" + std::to_string(i % 2));
      if (added) voice = *added;
    }
    if (!index->Find(i % 2, key, voice) && index->HasFreeSlot())
      index->Insert(i % 2, key, i, voice);
  }
  if (!CacheIndex::Attach(memory, engines, kCapacity)) __builtin_trap();
  return 0;
}
