// ByteBudget: a fixed number of bytes that many holders share — the memory
// the daemon lets all clients together make it hold for request bodies.
// A connection that is about to receive a large frame takes the frame's size
// before reading it (TryTake); the size goes back when the request is done
// (BudgetHold's destructor), so a frame that got its reservation can always
// be read to its end, and no number of clients can make the daemon buffer
// more than the budget. Thread-safety: TryTake on one thread (the event
// loop); holds may be released on any thread (a worker finishing a job).
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

namespace ttscache {

class ByteBudget {
 public:
  explicit ByteBudget(uint64_t limit) : limit_(limit) {}
  // Takes `bytes` when they fit in what is left; false (and nothing taken) when not.
  bool TryTake(uint64_t bytes) {
    uint64_t used = used_.load(std::memory_order_relaxed);
    while (bytes <= limit_ && used <= limit_ - bytes) {
      if (used_.compare_exchange_weak(used, used + bytes)) return true;
    }
    return false;
  }
  void Give(uint64_t bytes) { used_.fetch_sub(bytes); }
  uint64_t used() const { return used_.load(); }
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

// Bytes taken from a ByteBudget, given back on destruction. Move-only.
class BudgetHold {
 public:
  BudgetHold() = default;
  BudgetHold(ByteBudget* budget, uint64_t bytes) : budget_(budget), bytes_(bytes) {}
  BudgetHold(BudgetHold&& o) noexcept
      : budget_(std::exchange(o.budget_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  BudgetHold& operator=(BudgetHold&& o) noexcept {
    if (this != &o) {
      Release();
      budget_ = std::exchange(o.budget_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~BudgetHold() { Release(); }
  uint64_t bytes() const { return bytes_; }
  // Adds `bytes` the caller already took from `budget` (the hold's own, when
  // it has one) to what this hold gives back.
  void Add(ByteBudget* budget, uint64_t bytes) {
    budget_ = budget;
    bytes_ += bytes;
  }
  void Release() {
    if (budget_) budget_->Give(bytes_);
    budget_ = nullptr;
    bytes_ = 0;
  }

 private:
  ByteBudget* budget_ = nullptr;
  uint64_t bytes_ = 0;
};

}  // namespace ttscache
