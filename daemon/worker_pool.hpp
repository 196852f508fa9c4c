// PinnedWorkerPool: the threads that run encodes and cache writes. Each
// worker is pinned (pthread_setaffinity_np) to one CPU of the configured
// list, round robin; with an empty list workers float. The queue is bounded
// (`queue_depth`): TrySubmit refuses when full, and the server answers BUSY.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ttscache {

class PinnedWorkerPool {
 public:
  PinnedWorkerPool(int workers, size_t queue_depth, const std::vector<int>& cpus);
  ~PinnedWorkerPool();  // Stop()

  // False when the queue is full or the pool is stopping.
  bool TrySubmit(std::function<void()> job);
  // Runs the queued jobs to the end, then joins the threads.
  void Stop();
  size_t queued() const;
  // Linux thread ids of the workers, in order (for the pinning test and logs).
  std::vector<int> thread_ids() const;

 private:
  void Run(int index, int cpu);

  const size_t queue_depth_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mutex_)
  bool stopping_ = false;                    // GUARDED_BY(mutex_)
  std::vector<int> tids_;                    // GUARDED_BY(mutex_)
  std::vector<std::thread> threads_;
};

}  // namespace ttscache
