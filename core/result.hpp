// The internal side of Result<T> (include/ttscache/result.hpp holds the
// public types): errno becomes an Error once, at the OS edge, with the file or
// field it concerns. No exception crosses a module boundary.
#pragma once

#include <string>
#include <string_view>

#include "ttscache/result.hpp"

namespace ttscache {

inline Error MakeError(Errc code, std::string message) { return Error{code, std::move(message)}; }

// An Error for a failed system call, naming the errno and its text:
// "open /x/y.wav: EMFILE (Too many open files)". ENOSPC and EDQUOT map to
// kNoSpace, ENOENT to kNotFound; EMFILE, ENFILE and ENOMEM (a shortage that
// passes) to kBusy; everything else to kIo. sys_errno keeps `err`.
Error ErrnoError(int err, std::string_view what);
// "EPERM (Operation not permitted)": the errno's name to search for, its text to read.
std::string ErrnoText(int err);

}  // namespace ttscache
