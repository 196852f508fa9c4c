// CatchAtEdge: where a libttscache call leaves the library, no exception goes
// with it (the contract in include/ttscache/result.hpp). What the standard
// library or a caller's callback throws inside becomes an Error: bad_alloc is
// Errc::kOutOfMemory, anything else Errc::kInternal with its what().
#pragma once

#include <exception>
#include <new>
#include <string>

#include "ttscache/result.hpp"

namespace ttscache {

// F returns a Result<T> or a Status (both are built from an Error).
template <class F>
auto CatchAtEdge(F&& f) noexcept -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    // Short enough for the string's inline buffer: building it allocates nothing.
    return Error{Errc::kOutOfMemory, "out of memory"};
  } catch (const std::exception& e) {
    try {
      return Error{Errc::kInternal, std::string("unexpected exception: ") + e.what()};
    } catch (...) {
      return Error{Errc::kOutOfMemory, "out of memory"};
    }
  } catch (...) {
    return Error{Errc::kInternal, "unknown throw"};  // fits inline, as above
  }
}

}  // namespace ttscache
