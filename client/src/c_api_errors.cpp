// The C API's error codes: the one mapping from Errc (which the client
// already made of the daemon's wire codes) to TTSCACHE_* codes, the names
// ttscache_strerror gives them, and the helpers every entry point reports
// through, so a code and ttscache_last_error always agree.
#include <cerrno>

#include "c_api_internal.hpp"

namespace ttscache::capi {

int CodeOf(Errc e) {
  switch (e) {
    case Errc::kNotFound:
      return TTSCACHE_MISS;
    case Errc::kInvalidArgument:
      return TTSCACHE_ERR_BAD_REQUEST;
    case Errc::kBadAudio:
      return TTSCACHE_ERR_BAD_AUDIO;
    case Errc::kUnknownEngine:
      return TTSCACHE_ERR_UNKNOWN_ENGINE;
    case Errc::kTooLarge:
      return TTSCACHE_ERR_TOO_LARGE;
    case Errc::kBusy:
      return TTSCACHE_ERR_BUSY;
    case Errc::kForbidden:
      return TTSCACHE_ERR_FORBIDDEN;
    case Errc::kInternal:
      return TTSCACHE_ERR_INTERNAL;
    case Errc::kBufferTooSmall:
      return TTSCACHE_ERR_BUFFER_TOO_SMALL;
    case Errc::kUnavailable:
      return TTSCACHE_ERR_UNAVAILABLE;
    case Errc::kOutOfMemory:
      return TTSCACHE_ERR_OUT_OF_MEMORY;
    case Errc::kNoSpace:
      return TTSCACHE_ERR_NO_SPACE;
    case Errc::kIo:
      return TTSCACHE_ERR_IO;
    case Errc::kUnsupported:
      return TTSCACHE_ERR_UNSUPPORTED;
    case Errc::kLocked:
      return TTSCACHE_ERR_LOCKED;
    case Errc::kConfig:
      return TTSCACHE_ERR_CONFIG;
  }
  return TTSCACHE_ERR_INTERNAL;
}

int Fail(ttscache_client* c, const Error& e) {
  c->last_error = e.message;
  // ErrnoError files ENOMEM under kBusy (a shortage that passes); to a C
  // caller a failed mmap or allocation in the library is out of memory.
  if (e.sys_errno == ENOMEM) return TTSCACHE_ERR_OUT_OF_MEMORY;
  return CodeOf(e.code);
}

int Invalid(ttscache_client* c, const char* what) {
  if (c) c->last_error = what;
  return TTSCACHE_ERR_INVALID_ARGUMENT;
}

int Ok(ttscache_client* c) {
  c->last_error.clear();
  return TTSCACHE_OK;
}

}  // namespace ttscache::capi

extern "C" {

const char* ttscache_strerror(int code) {
  switch (code) {
    case TTSCACHE_OK:
      return "TTSCACHE_OK";
    case TTSCACHE_MISS:
      return "TTSCACHE_MISS";
    case TTSCACHE_ERR_BAD_REQUEST:
      return "TTSCACHE_ERR_BAD_REQUEST";
    case TTSCACHE_ERR_BAD_AUDIO:
      return "TTSCACHE_ERR_BAD_AUDIO";
    case TTSCACHE_ERR_UNKNOWN_ENGINE:
      return "TTSCACHE_ERR_UNKNOWN_ENGINE";
    case TTSCACHE_ERR_TOO_LARGE:
      return "TTSCACHE_ERR_TOO_LARGE";
    case TTSCACHE_ERR_BUSY:
      return "TTSCACHE_ERR_BUSY";
    case TTSCACHE_ERR_FORBIDDEN:
      return "TTSCACHE_ERR_FORBIDDEN";
    case TTSCACHE_ERR_INTERNAL:
      return "TTSCACHE_ERR_INTERNAL";
    case TTSCACHE_ERR_BUFFER_TOO_SMALL:
      return "TTSCACHE_ERR_BUFFER_TOO_SMALL";
    case TTSCACHE_ERR_UNAVAILABLE:
      return "TTSCACHE_ERR_UNAVAILABLE";
    case TTSCACHE_ERR_INVALID_ARGUMENT:
      return "TTSCACHE_ERR_INVALID_ARGUMENT";
    case TTSCACHE_ERR_OUT_OF_MEMORY:
      return "TTSCACHE_ERR_OUT_OF_MEMORY";
    case TTSCACHE_ERR_NO_SPACE:
      return "TTSCACHE_ERR_NO_SPACE";
    case TTSCACHE_ERR_IO:
      return "TTSCACHE_ERR_IO";
    case TTSCACHE_ERR_UNSUPPORTED:
      return "TTSCACHE_ERR_UNSUPPORTED";
    case TTSCACHE_ERR_LOCKED:
      return "TTSCACHE_ERR_LOCKED";
    case TTSCACHE_ERR_CONFIG:
      return "TTSCACHE_ERR_CONFIG";
    default:
      return "TTSCACHE_ERR_UNKNOWN_CODE";
  }
}

}  // extern "C"
