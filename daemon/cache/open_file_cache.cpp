// OpenFileCache (open_file_cache.hpp).
#include "daemon/cache/open_file_cache.hpp"

#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ctime>

#include <algorithm>

namespace ttscache {

std::optional<OpenFileCache::Open> OpenFileCache::Find(uint64_t key) const {
  auto it = open_.find(key);
  if (it == open_.end()) return std::nullopt;
  return it->second;
}

uint64_t OpenFileCache::Remember(uint64_t key, SharedFd fd) {
  if (capacity_ == 0 || !fd.valid() || open_.count(key)) return 0;
  while (open_.size() >= capacity_ && !order_.empty()) {
    open_.erase(order_.front());
    order_.pop_front();
  }
  // Forgotten keys leave stale names in order_; trim them so it stays bounded.
  if (order_.size() > 2 * capacity_) {
    std::erase_if(order_, [&](uint64_t k) { return !open_.count(k); });
  }
  const uint64_t sequence = next_sequence_++;
  open_.emplace(key, Open{std::move(fd), sequence});
  order_.push_back(key);
  return sequence;
}

void OpenFileCache::ForgetEntry(uint32_t slot, int max_variants) {
  open_.erase(WavKey(slot));
  for (int v = 0; v < max_variants; ++v) open_.erase(VariantKey(slot, v));
}

uint64_t RandomNonce() {
  uint64_t nonce = 0;
  while (nonce == 0) {
    if (::getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce)) {
      nonce = static_cast<uint64_t>(::getpid()) << 32 ^ static_cast<uint64_t>(::time(nullptr));
    }
  }
  return nonce;
}

size_t DefaultOpenFileCacheCapacity() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return static_cast<size_t>(std::min<rlim_t>(limit.rlim_cur / 8, 1024));
}

}  // namespace ttscache
