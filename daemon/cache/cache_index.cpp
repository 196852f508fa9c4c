// See cache_index.hpp. The hash table is linear probing with backward-shift
// deletion (no tombstones, so probe lengths stay short after millions of
// evictions); a bucket holds (32-bit fingerprint << 32) | (slot + 1).
#include "daemon/cache/cache_index.hpp"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <set>

namespace ttscache {

uint64_t UnixTimeNs() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

Error Damaged(const std::string& what) {
  return MakeError(Errc::kInternal, "index damaged: " + what);
}

// voice_ids_'s key: the engine's number as one byte, then the voice's name.
// Built in a caller's buffer, so a lookup allocates nothing.
struct VoiceKey {
  char bytes[1 + kMaxVoiceName];
  size_t size;
  VoiceKey(uint8_t engine, std::string_view name) : size(1 + std::min(name.size(), kMaxVoiceName)) {
    bytes[0] = static_cast<char>(engine);
    std::memcpy(bytes + 1, name.data(), size - 1);
  }
  std::string_view view() const { return {bytes, size}; }
};

// A voice table name as a string_view (NUL-terminated within the field,
// which Verify checks before anything else reads it).
std::string_view NameOf(const IndexVoice& v) { return {v.name, strnlen(v.name, sizeof(v.name))}; }

}  // namespace

uint32_t CacheIndex::BucketCountFor(uint32_t entry_capacity) {
  uint32_t buckets = 16;
  while (buckets < 2ull * entry_capacity) buckets <<= 1;
  return buckets;
}

CacheIndex::CacheIndex(std::span<uint8_t> memory)
    : header_(reinterpret_cast<IndexHeader*>(memory.data())),
      voices_(reinterpret_cast<IndexVoice*>(memory.data() + kIndexHeaderSize)),
      entries_(reinterpret_cast<IndexEntry*>(memory.data() + kIndexHeaderSize +
                                             kMaxVoices * sizeof(IndexVoice))),
      buckets_(reinterpret_cast<uint64_t*>(memory.data() + kIndexHeaderSize +
                                           kMaxVoices * sizeof(IndexVoice) +
                                           size_t{header_->entry_capacity} * sizeof(IndexEntry))) {}

CacheIndex CacheIndex::Format(std::span<uint8_t> memory, const std::vector<std::string>& engines,
                              uint32_t entry_capacity) {
  std::memset(memory.data(), 0, kIndexHeaderSize);
  auto* h = reinterpret_cast<IndexHeader*>(memory.data());
  std::memcpy(h->magic, kIndexMagic, sizeof(kIndexMagic));
  h->version = kIndexVersion;
  h->header_size = kIndexHeaderSize;
  h->engine_count = static_cast<uint32_t>(engines.size());
  h->entry_capacity = entry_capacity;
  h->bucket_count = BucketCountFor(entry_capacity);
  for (size_t e = 0; e < engines.size(); ++e) {
    std::memcpy(h->engines[e].name, engines[e].data(), engines[e].size());
  }
  CacheIndex index(memory);
  std::memset(index.voices_, 0, kMaxVoices * sizeof(IndexVoice));
  std::memset(index.entries_, 0, size_t{entry_capacity} * sizeof(IndexEntry));
  std::memset(index.buckets_, 0, size_t{h->bucket_count} * sizeof(uint64_t));
  return index;
}

Result<CacheIndex> CacheIndex::Attach(std::span<uint8_t> memory,
                                      const std::vector<std::string>& engines,
                                      uint32_t entry_capacity) {
  const uint32_t buckets = BucketCountFor(entry_capacity);
  if (memory.size() != IndexFileSize(entry_capacity, buckets)) {
    return Damaged("size " + std::to_string(memory.size()) + ", expected " +
                   std::to_string(IndexFileSize(entry_capacity, buckets)));
  }
  const auto* h = reinterpret_cast<const IndexHeader*>(memory.data());
  if (std::memcmp(h->magic, kIndexMagic, sizeof(kIndexMagic)) != 0) return Damaged("bad magic");
  if (h->version != kIndexVersion) {
    return Damaged("version " + std::to_string(h->version) + ", expected " +
                   std::to_string(kIndexVersion));
  }
  if (h->header_size != kIndexHeaderSize || h->entry_capacity != entry_capacity ||
      h->bucket_count != buckets) {
    return Damaged("capacity " + std::to_string(h->entry_capacity) + ", expected " +
                   std::to_string(entry_capacity) + " (max_entries or engines changed)");
  }
  CacheIndex index(memory);
  if (Status s = index.Verify(engines, entry_capacity); !s) return s.error();
  index.LoadVoiceIds();
  return index;
}

uint64_t CacheIndex::Checksum(std::span<const uint8_t> memory) {
  // A multiply-xorshift over 8-byte words: fast enough to cover a 30 MB
  // index in a few ms at start-up, and any flipped bit changes it.
  uint64_t h = kGolden ^ memory.size();
  const size_t checksum_at = offsetof(IndexHeader, checksum);
  size_t i = 0;
  for (; i + 8 <= memory.size(); i += 8) {
    uint64_t w = i == checksum_at ? 0 : Load64(memory.data() + i);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  for (; i < memory.size(); ++i) h = (h ^ memory[i]) * kGolden;
  return h;
}

uint64_t CacheIndex::Hash(uint8_t engine, uint16_t voice, const uint8_t* digest) const {
  uint64_t h = Load64(digest) ^ (uint64_t{engine} + 1 + (uint64_t{voice} << 8)) * kGolden;
  h ^= h >> 29;
  return h * 0xBF58476D1CE4E5B9ull;
}

std::optional<uint32_t> CacheIndex::Find(uint8_t engine, const CacheKey& key,
                                         uint16_t voice) const {
  const uint64_t h = Hash(engine, voice, key.digest.data());
  const uint32_t fingerprint = static_cast<uint32_t>(h >> 32);
  for (uint32_t i = static_cast<uint32_t>(h) & Mask();; i = (i + 1) & Mask()) {
    const uint64_t b = buckets_[i];
    if (b == 0) return std::nullopt;
    if (static_cast<uint32_t>(b >> 32) != fingerprint) continue;
    const uint32_t slot = static_cast<uint32_t>(b) - 1;
    const IndexEntry& e = entries_[slot];
    if (e.engine == engine && e.voice == voice &&
        std::memcmp(e.digest, key.digest.data(), 32) == 0) {
      return slot;
    }
  }
}

bool CacheIndex::HasFreeSlot() const {
  return header_->free_head != 0 || header_->used_slots < header_->entry_capacity;
}

uint32_t CacheIndex::Insert(uint8_t engine, const CacheKey& key, uint64_t wav_bytes,
                            uint16_t voice) {
  uint32_t slot;
  if (header_->free_head != 0) {
    slot = header_->free_head - 1;
    header_->free_head = entries_[slot].global_next;
  } else {
    slot = header_->used_slots++;
  }
  IndexEntry& e = entries_[slot];
  std::memset(&e, 0, sizeof(e));
  std::memcpy(e.digest, key.digest.data(), 32);
  e.in_use = 1;
  e.engine = engine;
  e.voice = voice;
  e.wav_bytes = wav_bytes;
  if (voice != kNoVoice) voices_[voice - 1].entries++;
  LinkFront(slot);
  const uint64_t h = Hash(engine, voice, e.digest);
  uint32_t i = static_cast<uint32_t>(h) & Mask();
  while (buckets_[i] != 0) i = (i + 1) & Mask();
  buckets_[i] = (h & 0xFFFFFFFF00000000ull) | (slot + 1);
  header_->entries++;
  header_->engines[engine].entries++;
  AddBytes(engine, static_cast<int64_t>(wav_bytes));
  return slot;
}

uint32_t CacheIndex::InsertAt(uint8_t engine, const CacheKey& key, uint64_t wav_bytes,
                              uint64_t last_used_ns, uint16_t voice) {
  const uint32_t slot = Insert(engine, key, wav_bytes, voice);
  IndexEntry& e = entries_[slot];
  if (last_used_ns >= e.last_access) return slot;  // never newer than now
  Unlink(slot);
  e.last_access = last_used_ns;
  IndexEngine& eng = header_->engines[engine];
  LinkByTime(slot, {&header_->global_head, &header_->global_tail, &IndexEntry::global_prev,
                    &IndexEntry::global_next});
  LinkByTime(slot,
             {&eng.lru_head, &eng.lru_tail, &IndexEntry::engine_prev, &IndexEntry::engine_next});
  return slot;
}

void CacheIndex::LinkByTime(uint32_t slot, LruList list) {
  IndexEntry& e = entries_[slot];
  const uint64_t t = e.last_access;
  // The list runs from the newest last_access to the oldest. Walk from both
  // ends at once: an adoption (oldest first, into a daemon whose own entries
  // are newer) finds its place near one end or the other, never by a scan.
  uint32_t before = 0;  // slot + 1 of the entry to link in front of; 0: at the tail
  for (uint32_t front = *list.head, back = *list.tail;;) {
    if (front == 0) break;  // every entry is newer: the tail
    if (entries_[front - 1].last_access <= t) {
      before = front;
      break;
    }
    if (entries_[back - 1].last_access > t) {  // back and all before it are newer
      before = entries_[back - 1].*list.next;
      break;
    }
    front = entries_[front - 1].*list.next;
    back = entries_[back - 1].*list.prev;
  }
  const uint32_t after = before ? entries_[before - 1].*list.prev : *list.tail;
  e.*list.prev = after;
  e.*list.next = before;
  (after ? entries_[after - 1].*list.next : *list.head) = slot + 1;
  (before ? entries_[before - 1].*list.prev : *list.tail) = slot + 1;
}

void CacheIndex::Touch(uint32_t slot) {
  Unlink(slot);
  LinkFront(slot);
}

void CacheIndex::Remove(uint32_t slot) {
  IndexEntry& e = entries_[slot];
  const uint64_t h = Hash(e.engine, e.voice, e.digest);
  uint32_t i = static_cast<uint32_t>(h) & Mask();
  while (static_cast<uint32_t>(buckets_[i]) != slot + 1) i = (i + 1) & Mask();
  // Backward shift: pull later members of the probe run into the hole.
  for (uint32_t j = (i + 1) & Mask(); buckets_[j] != 0; j = (j + 1) & Mask()) {
    const IndexEntry& m = entries_[static_cast<uint32_t>(buckets_[j]) - 1];
    const uint32_t home = static_cast<uint32_t>(Hash(m.engine, m.voice, m.digest)) & Mask();
    // Move j into i unless j's home lies cyclically in (i, j].
    const bool home_between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!home_between) {
      buckets_[i] = buckets_[j];
      i = j;
    }
  }
  buckets_[i] = 0;
  Unlink(slot);
  header_->entries--;
  header_->engines[e.engine].entries--;
  if (e.voice != kNoVoice) voices_[e.voice - 1].entries--;
  AddBytes(e.engine, -static_cast<int64_t>(EntryBytes(slot)));
  std::memset(&e, 0, sizeof(e));
  e.global_next = header_->free_head;
  header_->free_head = slot + 1;
}

uint16_t CacheIndex::FindVoice(uint8_t engine, std::string_view name) const {
  if (name.size() > kMaxVoiceName) return kNoVoice;
  auto it = voice_ids_.find(VoiceKey(engine, name).view());
  return it == voice_ids_.end() ? kNoVoice : it->second;
}

Result<uint16_t> CacheIndex::AddVoice(uint8_t engine, std::string_view name) {
  if (uint16_t id = FindVoice(engine, name); id != kNoVoice) return id;
  // A never used slot first, else the first voice left without entries.
  size_t take = kMaxVoices;
  for (size_t i = 0; i < kMaxVoices && take == kMaxVoices; ++i) {
    if (voices_[i].name[0] == 0) take = i;
  }
  for (size_t i = 0; i < kMaxVoices && take == kMaxVoices; ++i) {
    if (voices_[i].entries == 0) take = i;
  }
  if (take == kMaxVoices) {
    return MakeError(Errc::kBusy, "cannot add voice \"" + std::string(name) + "\": all " +
                                      std::to_string(kMaxVoices) +
                                      " voices of the index hold entries (purge a voice no "
                                      "longer used to free its place)");
  }
  IndexVoice& v = voices_[take];
  if (v.name[0] != 0) voice_ids_.erase(std::string(VoiceKey(v.engine, NameOf(v)).view()));
  std::memset(&v, 0, sizeof(v));
  std::memcpy(v.name, name.data(), name.size());
  v.engine = engine;
  const uint16_t id = static_cast<uint16_t>(take + 1);
  voice_ids_.emplace(std::string(VoiceKey(engine, name).view()), id);
  return id;
}

std::string_view CacheIndex::VoiceName(uint16_t id) const {
  return id == kNoVoice ? std::string_view() : NameOf(voices_[id - 1]);
}

void CacheIndex::LoadVoiceIds() {
  voice_ids_.clear();
  for (size_t i = 0; i < kMaxVoices; ++i) {
    const IndexVoice& v = voices_[i];
    if (v.name[0] == 0) continue;
    voice_ids_.emplace(std::string(VoiceKey(v.engine, NameOf(v)).view()),
                       static_cast<uint16_t>(i + 1));
  }
}

void CacheIndex::LinkFront(uint32_t slot) {
  IndexEntry& e = entries_[slot];
  IndexEngine& eng = header_->engines[e.engine];
  // Recency is a time (Unix ns) kept strictly increasing, so a clock stepped
  // back never reorders the lists and InsertAt can place an entry by its own
  // last-used time. (Indexes written when this was a plain counter hold
  // small values: older than anything since, as they were.)
  header_->access_clock = std::max(header_->access_clock + 1, UnixTimeNs());
  e.last_access = header_->access_clock;
  e.global_prev = 0;
  e.global_next = header_->global_head;
  if (header_->global_head) entries_[header_->global_head - 1].global_prev = slot + 1;
  header_->global_head = slot + 1;
  if (!header_->global_tail) header_->global_tail = slot + 1;
  e.engine_prev = 0;
  e.engine_next = eng.lru_head;
  if (eng.lru_head) entries_[eng.lru_head - 1].engine_prev = slot + 1;
  eng.lru_head = slot + 1;
  if (!eng.lru_tail) eng.lru_tail = slot + 1;
}

void CacheIndex::Unlink(uint32_t slot) {
  IndexEntry& e = entries_[slot];
  IndexEngine& eng = header_->engines[e.engine];
  (e.global_prev ? entries_[e.global_prev - 1].global_next : header_->global_head) = e.global_next;
  (e.global_next ? entries_[e.global_next - 1].global_prev : header_->global_tail) = e.global_prev;
  (e.engine_prev ? entries_[e.engine_prev - 1].engine_next : eng.lru_head) = e.engine_next;
  (e.engine_next ? entries_[e.engine_next - 1].engine_prev : eng.lru_tail) = e.engine_prev;
  e.global_prev = e.global_next = e.engine_prev = e.engine_next = 0;
}

void CacheIndex::AddBytes(uint8_t engine, int64_t delta) {
  header_->bytes += static_cast<uint64_t>(delta);
  header_->engines[engine].bytes += static_cast<uint64_t>(delta);
}

std::optional<uint32_t> CacheIndex::LeastRecentOf(uint8_t engine) const {
  uint32_t tail = header_->engines[engine].lru_tail;
  return tail ? std::optional<uint32_t>(tail - 1) : std::nullopt;
}

std::optional<uint32_t> CacheIndex::LeastRecentOverall() const {
  return header_->global_tail ? std::optional<uint32_t>(header_->global_tail - 1) : std::nullopt;
}

uint64_t CacheIndex::EntryBytes(uint32_t slot) const {
  const IndexEntry& e = entries_[slot];
  uint64_t bytes = e.wav_bytes;
  for (const IndexVariant& v : e.variants) bytes += v.bytes;
  return bytes;
}

CacheKey CacheIndex::KeyOf(uint32_t slot) const {
  CacheKey key;
  std::memcpy(key.digest.data(), entries_[slot].digest, 32);
  return key;
}

OpusParams CacheIndex::VariantParams(const IndexVariant& v) {
  OpusParams p;
  p.bitrate_kbps = v.bitrate_kbps;
  p.vbr = static_cast<VbrMode>(v.vbr);
  p.application = static_cast<OpusApplication>(v.application);
  p.complexity = v.complexity;
  p.frame_us = static_cast<int>(v.frame_us);
  return p;
}

int CacheIndex::FindVariant(uint32_t slot, const OpusParams& params) const {
  const IndexEntry& e = entries_[slot];
  for (size_t i = 0; i < kMaxVariants; ++i) {
    if (e.variants[i].bitrate_kbps != 0 && VariantParams(e.variants[i]) == params) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

int CacheIndex::AddVariant(uint32_t slot, const OpusParams& params, uint64_t bytes) {
  IndexEntry& e = entries_[slot];
  for (size_t i = 0; i < kMaxVariants; ++i) {
    IndexVariant& v = e.variants[i];
    if (v.bitrate_kbps != 0) continue;
    v = IndexVariant{static_cast<uint16_t>(params.bitrate_kbps),
                     static_cast<uint8_t>(params.vbr),
                     static_cast<uint8_t>(params.application),
                     static_cast<uint8_t>(params.complexity),
                     {},
                     static_cast<uint32_t>(params.frame_us),
                     0,
                     bytes};
    AddBytes(e.engine, static_cast<int64_t>(bytes));
    return static_cast<int>(i);
  }
  return -1;
}

void CacheIndex::RemoveVariant(uint32_t slot, int variant) {
  IndexEntry& e = entries_[slot];
  AddBytes(e.engine, -static_cast<int64_t>(e.variants[variant].bytes));
  e.variants[variant] = IndexVariant{};
}

Status CacheIndex::Verify(const std::vector<std::string>& engines, uint32_t capacity) const {
  const IndexHeader& h = *header_;
  if (h.engine_count != engines.size()) return Damaged("engine count differs from the config");
  for (size_t e = 0; e < engines.size(); ++e) {
    if (std::strncmp(h.engines[e].name, engines[e].c_str(), sizeof(h.engines[e].name)) != 0) {
      return Damaged("engine list differs from the config");
    }
  }
  if (h.used_slots > capacity) return Damaged("used slots beyond capacity");
  // The voice table: named voices of configured engines, each (engine,
  // name) once; unused slots all zero. Entry counts are checked below.
  std::set<std::pair<uint8_t, std::string_view>> voice_names;
  for (size_t i = 0; i < kMaxVoices; ++i) {
    const IndexVoice& v = voices_[i];
    const std::string_view name(v.name, strnlen(v.name, sizeof(v.name)));
    if (name.empty()) {
      if (v.engine != 0 || v.entries != 0) return Damaged("free voice " + std::to_string(i + 1));
      continue;
    }
    if (name.size() == sizeof(v.name) || !IsValidVoiceName(name) || v.engine >= engines.size() ||
        !voice_names.insert({v.engine, name}).second) {
      return Damaged("voice " + std::to_string(i + 1));
    }
  }
  std::vector<uint64_t> voice_entries(kMaxVoices);
  auto link_ok = [&](uint32_t link) { return link <= h.used_slots; };
  // Every in-use slot: sane fields and links; count them.
  uint64_t in_use = 0, bytes = 0;
  std::vector<uint64_t> engine_entries(engines.size()), engine_bytes(engines.size());
  for (uint32_t s = 0; s < h.used_slots; ++s) {
    const IndexEntry& e = entries_[s];
    if (!e.in_use) continue;
    if (e.in_use != 1 || e.engine >= engines.size()) return Damaged("slot " + std::to_string(s));
    if (e.voice != kNoVoice) {
      if (e.voice > kMaxVoices || voices_[e.voice - 1].name[0] == 0 ||
          voices_[e.voice - 1].engine != e.engine) {
        return Damaged("voice of slot " + std::to_string(s));
      }
      voice_entries[e.voice - 1]++;
    }
    if (!link_ok(e.global_prev) || !link_ok(e.global_next) || !link_ok(e.engine_prev) ||
        !link_ok(e.engine_next)) {
      return Damaged("links of slot " + std::to_string(s));
    }
    for (const IndexVariant& v : e.variants) {
      if (v.bitrate_kbps != 0 && !Validate(VariantParams(v))) {
        return Damaged("variant of slot " + std::to_string(s));
      }
    }
    uint64_t b = EntryBytes(s);
    if (b < e.wav_bytes) return Damaged("sizes of slot " + std::to_string(s));
    ++in_use;
    bytes += b;
    engine_entries[e.engine]++;
    engine_bytes[e.engine] += b;
  }
  if (in_use != h.entries || bytes != h.bytes) return Damaged("entry or byte totals");
  for (size_t i = 0; i < kMaxVoices; ++i) {
    if (voices_[i].entries != voice_entries[i]) {
      return Damaged("entry count of voice " + std::to_string(i + 1));
    }
  }
  // The lists: each visits exactly its entries, with matching back links.
  auto walk = [&](uint32_t head, uint32_t tail, bool global, int engine,
                  uint64_t expected) -> bool {
    uint64_t n = 0;
    uint32_t prev = 0;
    for (uint32_t cur = head; cur; ++n) {
      if (n >= expected || !link_ok(cur)) return false;
      const IndexEntry& e = entries_[cur - 1];
      if (!e.in_use || (!global && e.engine != engine)) return false;
      if ((global ? e.global_prev : e.engine_prev) != prev) return false;
      prev = cur;
      cur = global ? e.global_next : e.engine_next;
    }
    return n == expected && prev == tail;
  };
  if (!walk(h.global_head, h.global_tail, true, -1, h.entries)) return Damaged("global LRU list");
  for (size_t e = 0; e < engines.size(); ++e) {
    const IndexEngine& eng = h.engines[e];
    if (eng.entries != engine_entries[e] || eng.bytes != engine_bytes[e]) {
      return Damaged("totals of engine " + engines[e]);
    }
    if (!walk(eng.lru_head, eng.lru_tail, false, static_cast<int>(e), eng.entries)) {
      return Damaged("LRU list of engine " + engines[e]);
    }
  }
  // The free list: free slots only, no cycle.
  uint64_t free_count = 0;
  for (uint32_t cur = h.free_head; cur; cur = entries_[cur - 1].global_next) {
    if (!link_ok(cur) || entries_[cur - 1].in_use || ++free_count > h.used_slots) {
      return Damaged("free list");
    }
  }
  if (free_count + in_use != h.used_slots) return Damaged("free list length");
  // The buckets: each points at an in-use slot whose own lookup finds it.
  uint64_t filled = 0;
  for (uint32_t i = 0; i < h.bucket_count; ++i) {
    const uint64_t b = buckets_[i];
    if (b == 0) continue;
    const uint32_t slot = static_cast<uint32_t>(b) - 1;
    if (slot >= h.used_slots || !entries_[slot].in_use)
      return Damaged("bucket " + std::to_string(i));
    const IndexEntry& e = entries_[slot];
    if (static_cast<uint32_t>(Hash(e.engine, e.voice, e.digest) >> 32) !=
        static_cast<uint32_t>(b >> 32)) {
      return Damaged("bucket fingerprint " + std::to_string(i));
    }
    ++filled;
  }
  if (filled != h.entries || filled >= h.bucket_count) return Damaged("bucket count");
  for (uint32_t s = 0; s < h.used_slots; ++s) {
    if (entries_[s].in_use && Find(entries_[s].engine, KeyOf(s), entries_[s].voice) != s) {
      return Damaged("slot " + std::to_string(s) + " not reachable from its bucket");
    }
  }
  return {};
}

}  // namespace ttscache
