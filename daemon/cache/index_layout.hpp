// The on-disk layout of the cache index (.ttscache-index), version 2.
//
// Why a fixed-slot table over mmap and not Boost's managed_mapped_file: the
// index holds only fixed-size records (no strings, no growth), so a flat
// layout needs no allocator, has no offset_ptr indirection on the hot path,
// can be verified record by record after a crash or against a hostile file,
// and its size is known from the configuration. All links are 32-bit slot
// numbers + 1 (0 = none), never pointers, so the file maps at any address.
//
//   [IndexHeader, 8 KiB][IndexVoice × kMaxVoices][IndexEntry × entry_capacity]
//   [uint64 bucket × bucket_count]
//
// Multi-byte fields are native-endian: the file never leaves the host.
// Version 2 added the voice table and IndexEntry::voice; an index of
// another version is not read but rebuilt from the folder (IndexFile).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ttscache {

inline constexpr char kIndexMagic[8] = {'T', 'T', 'S', 'C', 'I', 'D', 'X', '1'};
inline constexpr uint32_t kIndexVersion = 2;
inline constexpr size_t kMaxEngines = 64;
// Voices known at once, over all engines (a voice with no entries left is
// reused for the next new one). Voice ids are a table index + 1; 0 = none.
inline constexpr size_t kMaxVoices = 1024;
inline constexpr uint16_t kNoVoice = 0;
inline constexpr size_t kMaxVariants = 4;  // Opus variants kept per entry

struct EngineCounters {
  uint64_t hits, misses, puts, evictions, variant_hits, variant_misses;
};

struct IndexEngine {
  char name[40];      // NUL-terminated, [a-z0-9][a-z0-9_-]{0,31}
  uint32_t lru_head;  // most recently used entry of this engine (slot + 1)
  uint32_t lru_tail;
  uint64_t entries;
  uint64_t bytes;  // WAV + variants
  EngineCounters counters;
};

struct IndexHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t clean;     // 1 after a clean close; 0 while open
  uint64_t checksum;  // of the whole file with this field zero, valid when clean
  uint32_t engine_count;
  uint32_t entry_capacity;
  uint32_t bucket_count;  // a power of two, at least 2 × entry_capacity
  uint32_t free_head;     // free slots chained through IndexEntry::global_next
  uint32_t global_head;   // whole-cache LRU list, for max_bytes
  uint32_t global_tail;
  uint32_t used_slots;  // slots handed out at least once (the rest are zero)
  uint32_t reserved0;
  uint64_t entries;
  uint64_t bytes;
  uint64_t access_clock;  // the newest last_access: Unix ns, strictly increasing
  IndexEngine engines[kMaxEngines];
};
static_assert(sizeof(IndexHeader) <= 8192);
inline constexpr size_t kIndexHeaderSize = 8192;

// A voice of an engine: entries of (engine, voice) live in the folder
// {dir}/{engine}/{name}/. Unused: name empty, engine 0, entries 0.
struct IndexVoice {
  char name[72];   // NUL-terminated, [A-Za-z0-9][A-Za-z0-9._-]{0,63}
  uint8_t engine;  // the engine it belongs to
  uint8_t reserved[3];
  uint32_t entries;  // entries with this voice; 0: the slot may be reused
};
static_assert(sizeof(IndexVoice) == 80);

struct IndexVariant {
  uint16_t bitrate_kbps;  // 0: slot unused
  uint8_t vbr;
  uint8_t application;
  uint8_t complexity;
  uint8_t reserved[3];
  uint32_t frame_us;
  uint32_t reserved2;
  uint64_t bytes;
};
static_assert(sizeof(IndexVariant) == 24);

struct IndexEntry {
  uint8_t digest[32];
  uint8_t in_use;
  uint8_t engine;
  uint16_t voice;  // IndexVoice id (table index + 1), kNoVoice for the engine's own
  uint8_t reserved[4];
  uint32_t global_prev, global_next;  // slot + 1
  uint32_t engine_prev, engine_next;
  uint64_t wav_bytes;
  uint64_t last_access;  // Unix ns (older indexes: a counter); the LRU lists follow it
  IndexVariant variants[kMaxVariants];
};
static_assert(sizeof(IndexEntry) == 168);

inline size_t IndexFileSize(uint32_t entry_capacity, uint32_t bucket_count) {
  return kIndexHeaderSize + kMaxVoices * sizeof(IndexVoice) +
         size_t{entry_capacity} * sizeof(IndexEntry) + size_t{bucket_count} * sizeof(uint64_t);
}

}  // namespace ttscache
