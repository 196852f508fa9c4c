// EncodeHistogram: how long the daemon's encodes take, for STATS detail and
// its Prometheus histogram (ttscache_encode_duration_seconds). Every encode
// (ENCODE, PUT_ENCODE, a GET's Opus variant, a stream's FINISH) records the
// time from its job's start on a worker to its result — queueing before
// the job started is not counted; the slices a long encode gave its worker
// back between are. EncodeTimer measures that; Record files it in the
// buckets of ipc::kEncodeBucketBoundsUs.
// Thread-safety: Record and Snapshot from any thread (workers finish
// encodes, the loop reads); one mutex, so a snapshot is consistent (its
// cumulative buckets never exceed its count). EncodeTimer: one job's.
#pragma once

#include <chrono>
#include <cstdint>

#include "core/mutex.hpp"
#include "core/thread_annotations.hpp"
#include "ipc/messages.hpp"

namespace ttscache {

class EncodeTimer {
 public:
  // Starts the clock at the first call (a job's first slice); later calls
  // (its next slices) leave it running.
  void StartOnce() {
    if (started_) return;
    started_ = true;
    start_ = std::chrono::steady_clock::now();
  }
  uint64_t ElapsedUs() const {
    if (!started_) return 0;
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::steady_clock::now() - start_)
                                     .count());
  }

 private:
  bool started_ = false;
  std::chrono::steady_clock::time_point start_{};
};

class EncodeHistogram {
 public:
  void Record(uint64_t duration_us) EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    for (size_t i = 0; i < ipc::kEncodeHistogramBuckets; ++i) {
      if (duration_us <= ipc::kEncodeBucketBoundsUs[i]) {
        per_bucket_[i]++;
        break;
      }
    }
    count_++;
    sum_us_ += duration_us;
  }

  // Fills the detail's cumulative buckets (Prometheus `le`), count and sum.
  void Snapshot(ipc::StatsDetail* detail) const EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < ipc::kEncodeHistogramBuckets; ++i) {
      cumulative += per_bucket_[i];
      detail->encode_buckets[i] = cumulative;
    }
    detail->encode_count = count_;
    detail->encode_sum_us = sum_us_;
  }

 private:
  mutable Mutex mutex_;
  // Encodes per bucket, not cumulative; those over the last bound are in
  // count_ only (the +Inf bucket).
  uint64_t per_bucket_[ipc::kEncodeHistogramBuckets] GUARDED_BY(mutex_) = {};
  uint64_t count_ GUARDED_BY(mutex_) = 0;
  uint64_t sum_us_ GUARDED_BY(mutex_) = 0;
};

}  // namespace ttscache
