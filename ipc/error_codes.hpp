// The one mapping between the protocol's error codes (ipc::ErrorCode, the
// numbers on the wire, docs/protocol.md) and ttscache's own error classes
// (Errc). The daemon turns a failure into a wire code here, the client turns
// the wire code back here, and the protocol test reads the names from the same
// table, so adding a code means adding one row. Pure functions, thread-safe.
#pragma once

#include <array>

#include "core/result.hpp"
#include "ipc/protocol.hpp"

namespace ttscache::ipc {

struct WireError {
  ErrorCode wire;
  Errc errc;         // what a client reports for `wire`
  const char* name;  // as docs/protocol.md's error table names it
};

// Every wire error code, once. An Errc not listed here (kIo, kNoSpace,
// kConfig, kOutOfMemory, ...) goes on the wire as kInternal: the client cannot
// act on the difference, and the message says what happened.
inline constexpr std::array<WireError, 9> kWireErrors = {{
    {ErrorCode::kNotFound, Errc::kNotFound, "not found"},
    {ErrorCode::kBadRequest, Errc::kInvalidArgument, "bad request"},
    {ErrorCode::kBadAudio, Errc::kBadAudio, "bad audio"},
    {ErrorCode::kUnknownEngine, Errc::kUnknownEngine, "unknown engine"},
    {ErrorCode::kTooLarge, Errc::kTooLarge, "too large"},
    {ErrorCode::kBusy, Errc::kBusy, "busy"},
    {ErrorCode::kForbidden, Errc::kForbidden, "forbidden"},
    {ErrorCode::kInternal, Errc::kInternal, "internal"},
    {ErrorCode::kBufferTooSmall, Errc::kBufferTooSmall, "buffer too small"},
}};

// The daemon's side: the wire code for a failure of class `code`.
ErrorCode ToWireError(Errc code);
// The client's side: the error class for a wire code; a number this build
// does not know (a newer daemon) reads as Errc::kInternal.
Errc FromWireError(ErrorCode code);

}  // namespace ttscache::ipc
