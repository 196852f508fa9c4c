// The cache's upkeep beyond its count and byte limits: max_age (entries
// unused for that long expire) and min_free (the cache gives way when its
// filesystem runs short, whoever filled it). Both walk the global LRU list
// from its least recently used end, so the work is proportional to what
// goes, never to the cache's size, and nothing scans the folder. Each call
// is bounded, and locks are taken per batch: a get waits for at most one
// batch of index work, a put for one batch of unlinks. The daemon calls
// Maintain once a second; Put checks min_free after each publish, so a burst
// of puts between two Maintain calls cannot fill the disk.
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include "core/log.hpp"
#include "daemon/cache/cache_store_internal.hpp"

namespace ttscache {
namespace {

// Entries removed per hold of the locks (kMaintainBudget per call).
constexpr uint64_t kBatch = 256;
// min_free: evictions between two statvfs calls at most (a file another
// process holds open frees nothing when unlinked, so the estimate can be wrong).
constexpr uint64_t kEvictionsPerCheck = 16;

}  // namespace

Result<DiskSpace> StatDiskSpace(int dir_fd, const std::string& shown) {
  struct statvfs st;
  if (::fstatvfs(dir_fd, &st) != 0) return ErrnoError(errno, "statvfs " + shown);
  return DiskSpace{static_cast<uint64_t>(st.f_bavail) * st.f_frsize,
                   static_cast<uint64_t>(st.f_blocks) * st.f_frsize};
}

uint64_t MinFreeBytes(const CacheLimits& limits, uint64_t total_bytes) {
  uint64_t from_percent = 0;
  if (limits.min_free_percent > 0) {
    const double bytes = std::ceil(static_cast<double>(total_bytes) *
                                   std::min(limits.min_free_percent, 100.0) / 100);
    from_percent = static_cast<uint64_t>(bytes);
  }
  return std::max(limits.min_free_bytes, from_percent);
}

uint64_t CacheStore::State::ExpireOld(uint64_t budget) {
  const uint64_t now = UnixTimeNs();
  uint64_t expired = 0;
  while (expired < budget) {
    std::vector<DoomedFile> doomed;
    uint64_t batch = 0;
    MutexLock publishing(publish_mutex);
    {
      MutexLock lock(mutex);
      if (closed || limits.max_age_s == 0) break;
      const uint64_t age_ns = limits.max_age_s > UINT64_MAX / 1'000'000'000
                                  ? UINT64_MAX
                                  : limits.max_age_s * 1'000'000'000;
      if (age_ns >= now) break;
      const uint64_t cutoff = now - age_ns;
      CacheIndex& idx = index();
      while (batch < kBatch && expired + batch < budget) {
        std::optional<uint32_t> victim = idx.LeastRecentOverall();
        if (!victim) break;
        const uint64_t last = idx.entry(*victim).last_access;
        if (last >= cutoff || last < kOldestPlausibleTimeNs) break;
        EvictLocked(*victim, false, &doomed);
        ++batch;
      }
      expired_count += batch;
    }
    RemoveFiles(doomed);
    expired += batch;
    if (batch < kBatch) break;  // the tail is young enough (or the budget is spent)
  }
  return expired;
}

uint64_t CacheStore::State::KeepMinFree(uint64_t budget) {
  uint64_t evicted = 0;
  while (evicted < budget) {
    CacheLimits in_force;
    {
      MutexLock lock(mutex);
      if (closed) break;
      in_force = limits;
    }
    if (in_force.min_free_bytes == 0 && in_force.min_free_percent <= 0) break;
    Result<DiskSpace> disk = StatDiskSpace(directory->root_fd(), directory->root());
    if (!disk) {
      log::Warning("min_free: " + disk.error().message);
      break;
    }
    const uint64_t min_free = MinFreeBytes(in_force, disk->total_bytes);
    if (disk->free_bytes >= min_free) break;
    const uint64_t shortfall = min_free - disk->free_bytes;
    std::vector<DoomedFile> doomed;
    uint64_t batch = 0;
    MutexLock publishing(publish_mutex);
    {
      MutexLock lock(mutex);
      if (closed) break;
      CacheIndex& idx = index();
      uint64_t freed = 0;
      while (freed < shortfall && batch < kEvictionsPerCheck && evicted + batch < budget) {
        std::optional<uint32_t> victim = idx.LeastRecentOverall();
        if (!victim) break;  // nothing of ours left: the rest is not the cache's to free
        freed += idx.EntryBytes(*victim);
        EvictLocked(*victim, true, &doomed);
        ++batch;
      }
      evicted_for_space_count += batch;
    }
    RemoveFiles(doomed);
    evicted += batch;
    if (batch == 0) break;
  }
  return evicted;
}

Result<MaintenanceOutcome> CacheStore::Maintain() {
  {
    MutexLock lock(state_->mutex);
    if (state_->closed) return MakeError(Errc::kInternal, "cache is closed");
  }
  MaintenanceOutcome outcome;
  outcome.expired = state_->ExpireOld(kMaintainBudget);
  outcome.evicted_for_space = state_->KeepMinFree(kMaintainBudget);
  return outcome;
}

}  // namespace ttscache
