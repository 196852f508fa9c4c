// The fleet tier's circuit breaker: a pure state machine with time passed in
// (ms, any monotonic origin), so that a pool that is down costs the daemon
// nothing but a counter. States:
//   up       everything is tried; `failures_to_open` failures in a row → down
//   down     everything is skipped until the back-off has passed; then the
//            next caller is admitted as the one probe → probing
//   probing  the probe runs, every other caller is still skipped; the probe's
//            success → up (back-off reset), its failure → down with the
//            back-off doubled (first 1 s, at most 30 s)
// Results of operations admitted while up that end after it went down are
// ignored: only the probe decides. Each change worth a log line returns that
// line (the caller logs it once). Thread-safety: internally synchronized.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/mutex.hpp"

namespace ttscache {

enum class BreakerState : uint8_t { kUp = 0, kDown = 1, kProbing = 2 };

struct BreakerOptions {
  int failures_to_open = 5;
  int64_t first_backoff_ms = 1000;
  int64_t max_backoff_ms = 30000;
};

class CircuitBreaker {
 public:
  enum class Ticket : uint8_t { kSkip, kGo, kProbe };

  explicit CircuitBreaker(BreakerOptions options = {}) : options_(options) {}

  // Whether an operation may run now: kGo (up), kProbe (this caller is the
  // probe; it must Record its outcome) or kSkip.
  Ticket Admit(int64_t now_ms) EXCLUDES(mutex_);
  // Whether Admit would skip now, without taking the probe: for callers
  // deciding whether to queue an operation at all.
  bool Skipping(int64_t now_ms) const EXCLUDES(mutex_);
  // The outcome of an admitted operation (`error`: what failed, for the log
  // line). Returns the line to log when the state changed.
  std::optional<std::string> RecordSuccess(Ticket ticket) EXCLUDES(mutex_);
  std::optional<std::string> RecordFailure(Ticket ticket, int64_t now_ms, std::string_view error)
      EXCLUDES(mutex_);

  BreakerState state() const EXCLUDES(mutex_);
  uint64_t opens() const EXCLUDES(mutex_);  // times it went from up to down
  int64_t backoff_ms() const EXCLUDES(mutex_);

 private:
  const BreakerOptions options_;
  mutable Mutex mutex_;
  BreakerState state_ GUARDED_BY(mutex_) = BreakerState::kUp;
  int failures_in_a_row_ GUARDED_BY(mutex_) = 0;
  int64_t backoff_ms_ GUARDED_BY(mutex_) = 0;
  int64_t retry_at_ms_ GUARDED_BY(mutex_) = 0;
  uint64_t opens_ GUARDED_BY(mutex_) = 0;
};

}  // namespace ttscache
