// See worker_pool.hpp.
#include "daemon/worker_pool.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "core/log.hpp"

namespace ttscache {
namespace {

// "EPERM (Operation not permitted)": the name to search for, the text to read.
std::string ErrnoText(int err) {
  const char* name = ::strerrorname_np(err);
  return std::string(name != nullptr ? name : "errno " + std::to_string(err)) + " (" +
         std::strerror(err) + ")";
}

}  // namespace

PinnedWorkerPool::PinnedWorkerPool(int workers, size_t queue_depth, const std::vector<int>& cpus)
    : queue_depth_(queue_depth), tids_(static_cast<size_t>(workers), 0) {
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
  {
    std::lock_guard lock(mutex_);
    tids_[static_cast<size_t>(index)] = static_cast<int>(::gettid());
  }
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and the queue is drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

bool PinnedWorkerPool::TrySubmit(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= queue_depth_) return false;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void PinnedWorkerPool::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

size_t PinnedWorkerPool::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

std::vector<int> PinnedWorkerPool::thread_ids() const {
  std::lock_guard lock(mutex_);
  return tids_;
}

}  // namespace ttscache
