// BoundedQueue<T>: the fleet tier's hand-off from the daemon's threads to its
// own (lookups to the lookup threads, offers to the writer). Push never
// blocks — a full queue refuses, and the caller counts the refusal — so the
// request path never waits for the network; Pop blocks until an item or
// Stop. After Stop, Push refuses and Pop returns what is left, then nothing.
// Thread-safety: internally synchronized; any number of producers and
// consumers.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "core/mutex.hpp"

namespace ttscache {

template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  // False (and `item` untouched) when full or stopped.
  bool Push(T&& item) EXCLUDES(mutex_) {
    {
      MutexLock lock(mutex_);
      if (stopped_ || items_.size() >= capacity_) return false;
      items_.push_back(std::move(item));
    }
    ready_.NotifyOne();
    return true;
  }

  // The oldest item; waits for one. nullopt once stopped and empty.
  std::optional<T> Pop() EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    while (items_.empty() && !stopped_) ready_.Wait(mutex_);
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

  void Stop() EXCLUDES(mutex_) {
    {
      MutexLock lock(mutex_);
      stopped_ = true;
    }
    ready_.NotifyAll();
  }
  bool stopped() const EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    return stopped_;
  }
  size_t size() const EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    return items_.size();
  }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  mutable Mutex mutex_;
  CondVar ready_;
  std::deque<T> items_ GUARDED_BY(mutex_);
  bool stopped_ GUARDED_BY(mutex_) = false;
};

}  // namespace ttscache
