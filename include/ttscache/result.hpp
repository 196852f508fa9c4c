// Result<T> and Status: how every libttscache call reports failure — a value,
// or an Error (a class of failure and a human message). No exception leaves
// the library: an allocation that fails inside it is Errc::kOutOfMemory.
// Thread-safety: plain value types.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace ttscache {

// Classes of failure. Values are only ever appended (a program may switch on
// them); the message says which file, field or value.
enum class Errc {
  kInvalidArgument,  // a caller's value is outside what is allowed
  kBadAudio,         // WAV input that cannot be read
  kConfig,           // a configuration file or environment value is wrong
  kNotFound,         // a cache miss
  kUnknownEngine,    // an engine name not in the daemon's configuration
  kTooLarge,
  kUnsupported,
  kIo,           // the OS refused (open, write, rename, ...)
  kNoSpace,      // ENOSPC / EDQUOT
  kLocked,       // another process holds a lock we need
  kForbidden,    // the peer may not use the daemon (or is not the daemon)
  kBusy,         // try again later
  kUnavailable,  // the daemon cannot be reached, or did not answer in time
  kInternal,
  kOutOfMemory,     // an allocation failed
  kBufferTooSmall,  // an output range too small for the result; the message says how much
};

struct Error {
  Errc code;
  std::string message;
  // The errno it came from, else 0: callers that must tell one failure from
  // another (a missing file from a descriptor shortage) ask this, never the message.
  int sys_errno = 0;
};

// A value or an Error. (Kept as an optional beside an Error rather than a
// std::variant: libabigail misreads the variant's anonymous unions, and this
// layout is part of the ABI that abi.check compares.)
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T& value() & { return value_.value(); }
  const T& value() const& { return value_.value(); }
  T&& value() && { return std::move(value_).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

  // REQUIRES: !ok()
  const Error& error() const { return error_; }

 private:
  std::optional<T> value_;
  Error error_{Errc::kInternal, {}};
};

// Success or an Error, for operations that return nothing.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  // REQUIRES: !ok()
  const Error& error() const { return error_; }

 private:
  Error error_{Errc::kInternal, {}};
  bool ok_ = true;
};

}  // namespace ttscache
