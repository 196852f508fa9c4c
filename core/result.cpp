// The errno → Error conversion, kept in one place so every OS edge reports the
// same way.
#include "core/result.hpp"

#include <cerrno>
#include <cstring>
#include <string>

namespace ttscache {

std::string ErrnoText(int err) {
  // strerrorname_np is null for a number glibc has no name for.
  const char* name = ::strerrorname_np(err);
  return (name ? std::string(name) : "errno " + std::to_string(err)) + " (" + std::strerror(err) +
         ")";
}

Error ErrnoError(int err, std::string_view what) {
  Errc code = Errc::kIo;
  if (err == ENOSPC || err == EDQUOT) code = Errc::kNoSpace;
  if (err == ENOENT) code = Errc::kNotFound;
  // Out of descriptors or kernel memory: the same call may succeed in a
  // moment, so the caller answers "busy, retry" and keeps its state.
  if (err == EMFILE || err == ENFILE || err == ENOMEM) code = Errc::kBusy;
  std::string message(what);
  message += ": ";
  message += ErrnoText(err);
  return Error{code, std::move(message), err};
}

}  // namespace ttscache
