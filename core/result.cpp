// The errno → Error conversion, kept in one place so every OS edge reports the
// same way.
#include "core/result.hpp"

#include <cerrno>
#include <cstring>

namespace ttscache {

Error ErrnoError(int err, std::string_view what) {
  Errc code = Errc::kIo;
  if (err == ENOSPC || err == EDQUOT) code = Errc::kNoSpace;
  if (err == ENOENT) code = Errc::kNotFound;
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  return Error{code, std::move(message)};
}

}  // namespace ttscache
