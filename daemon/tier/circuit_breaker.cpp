// The tier's circuit breaker (circuit_breaker.hpp). One probe at a time, so
// that a pool coming back is not met by every queued operation at once, and
// a pool still down costs one timeout per back-off, not one per request.
#include "daemon/tier/circuit_breaker.hpp"

#include <algorithm>

namespace ttscache {
namespace {

std::string Seconds(int64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

}  // namespace

CircuitBreaker::Ticket CircuitBreaker::Admit(int64_t now_ms) {
  MutexLock lock(mutex_);
  switch (state_) {
    case BreakerState::kUp:
      return Ticket::kGo;
    case BreakerState::kProbing:
      return Ticket::kSkip;
    case BreakerState::kDown:
      if (now_ms < retry_at_ms_) return Ticket::kSkip;
      state_ = BreakerState::kProbing;
      return Ticket::kProbe;
  }
  return Ticket::kSkip;
}

bool CircuitBreaker::Skipping(int64_t now_ms) const {
  MutexLock lock(mutex_);
  return state_ == BreakerState::kProbing ||
         (state_ == BreakerState::kDown && now_ms < retry_at_ms_);
}

std::optional<std::string> CircuitBreaker::RecordSuccess(Ticket ticket) {
  MutexLock lock(mutex_);
  if (ticket == Ticket::kGo && state_ == BreakerState::kUp) {
    failures_in_a_row_ = 0;
    return std::nullopt;
  }
  if (ticket != Ticket::kProbe || state_ != BreakerState::kProbing) return std::nullopt;
  state_ = BreakerState::kUp;
  failures_in_a_row_ = 0;
  backoff_ms_ = 0;
  return std::string("tier: up again");
}

std::optional<std::string> CircuitBreaker::RecordFailure(Ticket ticket, int64_t now_ms,
                                                         std::string_view error) {
  MutexLock lock(mutex_);
  if (ticket == Ticket::kGo && state_ == BreakerState::kUp) {
    if (++failures_in_a_row_ < options_.failures_to_open) return std::nullopt;
    state_ = BreakerState::kDown;
    backoff_ms_ = options_.first_backoff_ms;
    retry_at_ms_ = now_ms + backoff_ms_;
    ++opens_;
    return "tier: down after " + std::to_string(failures_in_a_row_) +
           " failures in a row (last: " + std::string(error) +
           "); lookups and writes skipped, retry in " + Seconds(backoff_ms_);
  }
  if (ticket != Ticket::kProbe || state_ != BreakerState::kProbing) return std::nullopt;
  state_ = BreakerState::kDown;
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.max_backoff_ms);
  retry_at_ms_ = now_ms + backoff_ms_;
  return "tier: still down (probe failed: " + std::string(error) + "); retry in " +
         Seconds(backoff_ms_);
}

BreakerState CircuitBreaker::state() const {
  MutexLock lock(mutex_);
  return state_;
}

uint64_t CircuitBreaker::opens() const {
  MutexLock lock(mutex_);
  return opens_;
}

int64_t CircuitBreaker::backoff_ms() const {
  MutexLock lock(mutex_);
  return backoff_ms_;
}

}  // namespace ttscache
