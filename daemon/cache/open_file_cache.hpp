// OpenFileCache: open read-only descriptors of recently served cache files
// (an entry's WAV and its Opus variants), so a repeated hit costs no path
// lookup in a folder of up to a million files, no open, no fstat, no close.
//
// Correct because published files are immutable: a file changes only when its
// entry is evicted or replaced (CacheStore calls ForgetEntry) or a variant is
// replaced (Forget of that variant). Descriptors are shared (SharedFd), so one
// that is forgotten while a reply still carries it stays open until sent.
// A file altered behind the daemon's back (outside its contract) is served as
// it was when first opened. Bounded by `capacity` descriptors, chosen from
// RLIMIT_NOFILE so connections always come first; when full, the oldest goes.
// Thread-safety: none; CacheStore uses it under its mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>

#include "core/shared_fd.hpp"

namespace ttscache {

class OpenFileCache {
 public:
  explicit OpenFileCache(size_t capacity) : capacity_(capacity) {}

  static uint64_t WavKey(uint32_t slot) { return uint64_t{slot} << 8; }
  static uint64_t VariantKey(uint32_t slot, int variant) {
    return (uint64_t{slot} << 8) | static_cast<uint64_t>(variant + 1);
  }

  struct Open {
    SharedFd fd;
    uint64_t sequence = 0;  // unique per Remember in this cache's life
  };
  std::optional<Open> Find(uint64_t key) const;
  // Keeps `fd` as the file of `key`; returns its sequence (0: not kept).
  uint64_t Remember(uint64_t key, SharedFd fd);
  void Forget(uint64_t key) { open_.erase(key); }
  // Forgets the WAV and every variant of an entry.
  void ForgetEntry(uint32_t slot, int max_variants);
  void Clear() {
    open_.clear();
    order_.clear();
  }
  size_t size() const { return open_.size(); }

 private:
  size_t capacity_;
  std::unordered_map<uint64_t, Open> open_;
  uint64_t next_sequence_ = 1;
  std::deque<uint64_t> order_;  // insertion order; may name keys already forgotten
};

// A capacity that leaves most of the descriptor limit to connections: 1/8 of
// RLIMIT_NOFILE's soft limit, at most 1024.
size_t DefaultOpenFileCacheCapacity();

// 64 random bits (getrandom), never 0.
uint64_t RandomNonce();

}  // namespace ttscache
