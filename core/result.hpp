// Result<T>: a value or an Error (code + human message), the way every ttscache
// module reports failure. No exception crosses a module boundary; errno becomes
// an Error once, at the OS edge, with the file or field it concerns.
// Thread-safety: plain value types.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "ttscache/export.hpp"

namespace ttscache {

// Error classes; the wire protocol maps them to its own codes.
enum class Errc {
  kInvalidArgument,  // a caller's value is outside what is allowed
  kBadAudio,         // WAV input that cannot be read
  kConfig,           // a configuration file or environment value is wrong
  kNotFound,
  kUnknownEngine,  // an engine name not in the configuration
  kTooLarge,
  kUnsupported,
  kIo,           // the OS refused (open, write, rename, ...)
  kNoSpace,      // ENOSPC / EDQUOT
  kLocked,       // another process holds a lock we need
  kForbidden,    // the peer may not use the daemon
  kBusy,         // try again later
  kUnavailable,  // the daemon cannot be reached
  kInternal,
  kOutOfMemory,     // an allocation failed (std::bad_alloc at a library edge)
  kBufferTooSmall,  // an output range too small for the result; the message says how much
};

struct Error {
  Errc code;
  std::string message;
  // The errno it came from (ErrnoError), else 0: callers that must tell one
  // failure from another (a missing file from a descriptor shortage) ask this,
  // never the message.
  int sys_errno = 0;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

  // REQUIRES: !ok()
  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Status: success or an Error, for operations that return nothing.
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

inline Error MakeError(Errc code, std::string message) { return Error{code, std::move(message)}; }

// An Error for a failed system call, naming the errno and its text:
// "open /x/y.wav: EMFILE (Too many open files)". ENOSPC and EDQUOT map to
// kNoSpace, ENOENT to kNotFound; EMFILE, ENFILE and ENOMEM (a shortage that
// passes) to kBusy; everything else to kIo. sys_errno keeps `err`.
TTSCACHE_EXPORT Error ErrnoError(int err, std::string_view what);
// "EPERM (Operation not permitted)": the errno's name to search for, its text to read.
std::string ErrnoText(int err);

}  // namespace ttscache
