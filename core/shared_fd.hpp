// SharedFd: shared ownership of one open descriptor, closed when the last
// holder lets go. For descriptors that outlive the structure that opened them
// while others still use them: a cached file's descriptor stays valid in a
// reply being sent even if the cache evicts the entry meanwhile (the number
// can never be closed and reused under the sender). Copying is cheap (no dup).
// Thread-safety: copies may be used and dropped from any thread.
#pragma once

#include <memory>
#include <utility>

#include "core/unique_fd.hpp"

namespace ttscache {

class SharedFd {
 public:
  SharedFd() = default;
  SharedFd(UniqueFd fd)  // NOLINT: adopting a UniqueFd is the normal way in
      : fd_(fd.valid() ? std::make_shared<const UniqueFd>(std::move(fd)) : nullptr) {}

  int get() const { return fd_ ? fd_->get() : -1; }
  bool valid() const { return fd_ != nullptr; }

 private:
  std::shared_ptr<const UniqueFd> fd_;
};

}  // namespace ttscache
