// See worker_pool.hpp.
#include "daemon/worker_pool.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "core/log.hpp"
#include "core/result.hpp"

namespace ttscache {
PinnedWorkerPool::PinnedWorkerPool(int workers, size_t queue_depth, const std::vector<int>& cpus,
                                   size_t owner_depth)
    : queue_depth_(queue_depth), owner_depth_(owner_depth) {
  for (int i = 0; i < workers; ++i) {
    int cpu = cpus.empty() ? -1 : cpus[static_cast<size_t>(i) % cpus.size()];
    threads_.emplace_back([this, i, cpu] { Run(i, cpu); });
  }
}

PinnedWorkerPool::~PinnedWorkerPool() { Stop(); }

void PinnedWorkerPool::Run(int index, int cpu) {
  pthread_setname_np(pthread_self(), ("ttscache-w" + std::to_string(index)).c_str());
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (int err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set); err != 0) {
      log::Warning("worker " + std::to_string(index) + ": cannot pin to CPU " +
                   std::to_string(cpu) + ": " + ErrnoText(err));
    }
  }
  while (true) {
    std::function<void()> job;
    {
      MutexLock lock(mutex_);
      while (!stopping_ && queued_ == 0) wake_.Wait(mutex_);
      if (queued_ == 0) return;  // stopping, and the queue is drained
      job = TakeNextLocked();
    }
    job();
  }
}

std::function<void()> PinnedWorkerPool::TakeNextLocked() {
  uint64_t owner = turns_.front();
  turns_.pop_front();
  auto it = queues_.find(owner);
  std::function<void()> job = std::move(it->second.front());
  it->second.pop_front();
  if (it->second.empty()) {
    queues_.erase(it);
  } else {
    turns_.push_back(owner);  // its next job waits for one job of every other owner
  }
  --queued_;
  return job;
}

bool PinnedWorkerPool::TrySubmit(uint64_t owner, std::function<void()> job) {
  {
    MutexLock lock(mutex_);
    if (stopping_ || queued_ >= queue_depth_) return false;
    std::deque<std::function<void()>>& queue = queues_[owner];
    if (queue.size() >= owner_depth_) return false;  // full, so not new: nothing to erase
    if (queue.empty()) turns_.push_back(owner);
    queue.push_back(std::move(job));
    ++queued_;
  }
  wake_.NotifyOne();
  return true;
}

void PinnedWorkerPool::Continue(uint64_t owner, std::function<void()> job) {
  {
    MutexLock lock(mutex_);
    std::deque<std::function<void()>>& queue = queues_[owner];
    if (queue.empty()) turns_.push_back(owner);
    queue.push_back(std::move(job));
    ++queued_;
  }
  wake_.NotifyOne();
}

void PinnedWorkerPool::Stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.NotifyAll();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

size_t PinnedWorkerPool::queued() const {
  MutexLock lock(mutex_);
  return queued_;
}

}  // namespace ttscache
