// CacheIndex: the cache's bookkeeping over the mapped index (index_layout.hpp):
// a hash table from (engine, voice, key) to a slot, and two intrusive LRU
// lists — one per engine, spanning its voices (for max_entries) and one for
// the whole cache (for max_bytes). Lookup, insert, touch and remove are
// O(1); nothing here scans the directory, and only a new voice allocates
// (its name in the in-memory lookup table beside the mapped voice table).
//
// It works on memory it does not own (the IndexFile mapping, or any buffer in
// tests and the fuzzer). Attach() verifies every link, count and bucket
// first, so a damaged or hostile file is refused with a reason, never
// followed. Not thread-safe: the CacheStore's mutex guards it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/audio/opus_params.hpp"
#include "core/cachekey/cache_key.hpp"
#include "core/result.hpp"
#include "daemon/cache/index_layout.hpp"

namespace ttscache {

// The clock of IndexEntry::last_access: Unix time in ns (CLOCK_REALTIME), the
// time a client may give an adopted entry (CacheStore::StartPutFile).
uint64_t UnixTimeNs();

class CacheIndex {
 public:
  // The table sizes for `entry_capacity` entries.
  static uint32_t BucketCountFor(uint32_t entry_capacity);

  // Writes an empty index for `engines` into `memory`.
  // REQUIRES: memory.size() == IndexFileSize(capacity, BucketCountFor(capacity)).
  static CacheIndex Format(std::span<uint8_t> memory, const std::vector<std::string>& engines,
                           uint32_t entry_capacity);

  // Verifies `memory` holds a consistent index with this layout (engines in
  // this order, this capacity) and attaches to it. The error says what is wrong.
  static Result<CacheIndex> Attach(std::span<uint8_t> memory,
                                   const std::vector<std::string>& engines,
                                   uint32_t entry_capacity);

  // A 64-bit checksum of `memory` with the header's checksum field read as 0.
  static uint64_t Checksum(std::span<const uint8_t> memory);

  // `voice`: a voice id of `engine` (FindVoice/AddVoice), or kNoVoice for the
  // engine's own entries (the Node module's).
  std::optional<uint32_t> Find(uint8_t engine, const CacheKey& key,
                               uint16_t voice = kNoVoice) const;
  bool HasFreeSlot() const;
  // Adds an entry as the most recently used. REQUIRES: !Find(), HasFreeSlot(),
  // `voice` kNoVoice or a voice of `engine`.
  uint32_t Insert(uint8_t engine, const CacheKey& key, uint64_t wav_bytes,
                  uint16_t voice = kNoVoice);
  // Adds an entry last used at `last_used_ns` (Unix time): placed in both LRU
  // lists among the others by that time (as the most recent when it is not
  // older than now). REQUIRES: as Insert.
  uint32_t InsertAt(uint8_t engine, const CacheKey& key, uint64_t wav_bytes, uint64_t last_used_ns,
                    uint16_t voice = kNoVoice);

  // Voices. The id of (engine, name), kNoVoice when the index has none.
  uint16_t FindVoice(uint8_t engine, std::string_view name) const;
  // The id of (engine, name), taking a table slot for a new voice: a free one
  // or one whose voice has no entries left (that voice is forgotten).
  // kBusy when all kMaxVoices voices hold entries. REQUIRES: name valid
  // (IsValidVoiceName), engine configured.
  Result<uint16_t> AddVoice(uint8_t engine, std::string_view name);
  // The voice's name; "" for kNoVoice. REQUIRES: id kNoVoice or a voice.
  std::string_view VoiceName(uint16_t id) const;
  const IndexVoice& voice(uint16_t id) const { return voices_[id - 1]; }  // REQUIRES: id != 0
  // Makes `slot` the most recently used of its engine and of the cache.
  void Touch(uint32_t slot);
  // Forgets the entry and its variants. REQUIRES: slot in use.
  void Remove(uint32_t slot);

  std::optional<uint32_t> LeastRecentOf(uint8_t engine) const;
  std::optional<uint32_t> LeastRecentOverall() const;

  // Variants: index in entry.variants, or -1.
  int FindVariant(uint32_t slot, const OpusParams& params) const;
  // Stores a variant in a free slot; returns its index, or -1 when all
  // kMaxVariants are taken (the caller evicts one with RemoveVariant).
  int AddVariant(uint32_t slot, const OpusParams& params, uint64_t bytes);
  void RemoveVariant(uint32_t slot, int variant);
  static OpusParams VariantParams(const IndexVariant& v);

  const IndexEntry& entry(uint32_t slot) const { return entries_[slot]; }
  uint64_t EntryBytes(uint32_t slot) const;
  IndexHeader& header() { return *header_; }
  const IndexHeader& header() const { return *header_; }
  CacheKey KeyOf(uint32_t slot) const;

 private:
  CacheIndex(std::span<uint8_t> memory);
  uint64_t Hash(uint8_t engine, uint16_t voice, const uint8_t* digest) const;
  // Fills voice_ids_ from the mapped voice table (verified).
  void LoadVoiceIds();
  uint32_t Mask() const { return header_->bucket_count - 1; }
  // One of the two LRU lists, each ordered from the newest last_access.
  struct LruList {
    uint32_t* head;
    uint32_t* tail;
    uint32_t IndexEntry::*prev;
    uint32_t IndexEntry::*next;
  };
  void LinkFront(uint32_t slot);
  // Links an unlinked `slot` into `list` before the first entry not newer than it.
  void LinkByTime(uint32_t slot, LruList list);
  void Unlink(uint32_t slot);
  void AddBytes(uint8_t engine, int64_t delta);
  Status Verify(const std::vector<std::string>& engines, uint32_t entry_capacity) const;

  // (engine byte + voice name) → voice id, for the voices named in the table.
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, uint16_t, StringHash, std::equal_to<>> voice_ids_;

  IndexHeader* header_;
  IndexVoice* voices_;
  IndexEntry* entries_;
  uint64_t* buckets_;
};

}  // namespace ttscache
