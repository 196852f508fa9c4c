// PinnedWorkerPool: the threads that run encodes and cache writes. Each
// worker is pinned (pthread_setaffinity_np) to one CPU of the configured
// list, round robin; with an empty list workers float.
//
// Jobs are queued per owner (the server passes the connection id) and the
// workers take one job from each owner in turn, so one client's many long
// jobs cannot starve another's: the others' jobs run after at most one job
// of each owner queued before them. Within one owner, jobs start in the order
// they were submitted. The queue is bounded in total (`queue_depth`) and, if
// asked, per owner (`owner_depth`): TrySubmit refuses when either is full, and
// the server answers BUSY.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/mutex.hpp"
#include "core/thread_annotations.hpp"

namespace ttscache {

class PinnedWorkerPool {
 public:
  static constexpr size_t kNoOwnerBound = std::numeric_limits<size_t>::max();

  // REQUIRES: queue_depth >= 1, owner_depth >= 1
  PinnedWorkerPool(int workers, size_t queue_depth, const std::vector<int>& cpus,
                   size_t owner_depth = kNoOwnerBound);
  ~PinnedWorkerPool();  // Stop()

  // False when the queue (in total, or `owner`'s share) is full, or the pool
  // is stopping.
  bool TrySubmit(uint64_t owner, std::function<void()> job) EXCLUDES(mutex_);
  // Queues the next slice of a job already admitted by TrySubmit (a long
  // encode that gave its worker back): behind one job of every other owner,
  // never refused — not for a full queue, not while stopping (Stop runs it).
  void Continue(uint64_t owner, std::function<void()> job) EXCLUDES(mutex_);
  // Runs the queued jobs to the end, then joins the threads.
  void Stop() EXCLUDES(mutex_);
  size_t queued() const EXCLUDES(mutex_);

 private:
  void Run(int index, int cpu) EXCLUDES(mutex_);
  // REQUIRES: queued_ > 0
  std::function<void()> TakeNextLocked() REQUIRES(mutex_);

  const size_t queue_depth_;
  const size_t owner_depth_;
  mutable Mutex mutex_;
  CondVar wake_;
  // Each owner with queued jobs has a non-empty queue here and appears once in
  // turns_, the order in which workers serve owners.
  std::unordered_map<uint64_t, std::deque<std::function<void()>>> queues_ GUARDED_BY(mutex_);
  std::deque<uint64_t> turns_ GUARDED_BY(mutex_);
  size_t queued_ GUARDED_BY(mutex_) = 0;
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::vector<std::thread> threads_;  // written by the constructor and Stop only
};

}  // namespace ttscache
