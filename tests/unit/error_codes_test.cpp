// ipc/error_codes: every wire error code survives daemon → wire → client →
// daemon unchanged, the table lists each code once, and numbers this build
// does not know read as internal errors.
#include "ipc/error_codes.hpp"

#include <gtest/gtest.h>

#include <set>

namespace ttscache::ipc {
namespace {

// No default: a new ErrorCode fails the build here (-Wswitch, -Werror) until
// this list, and so the test below, has it.
bool Listed(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
    case ErrorCode::kBadRequest:
    case ErrorCode::kBadAudio:
    case ErrorCode::kUnknownEngine:
    case ErrorCode::kTooLarge:
    case ErrorCode::kBusy:
    case ErrorCode::kForbidden:
    case ErrorCode::kInternal:
    case ErrorCode::kBufferTooSmall:
      for (const WireError& e : kWireErrors) {
        if (e.wire == code) return true;
      }
      return false;
  }
  return false;
}

TEST(ErrorCodes, EveryWireCodeRoundTrips) {
  std::set<ErrorCode> wire;
  std::set<Errc> errc;
  for (const WireError& e : kWireErrors) {
    EXPECT_TRUE(wire.insert(e.wire).second) << e.name << " listed twice";
    EXPECT_TRUE(errc.insert(e.errc).second) << e.name << ": its Errc is listed twice";
    EXPECT_EQ(FromWireError(e.wire), e.errc) << e.name;
    EXPECT_EQ(ToWireError(FromWireError(e.wire)), e.wire) << e.name;
    EXPECT_TRUE(Listed(e.wire)) << e.name;
  }
  for (unsigned v = 0; v <= 0xFFFF; ++v) {
    auto code = static_cast<ErrorCode>(v);
    if (!wire.contains(code)) {
      EXPECT_EQ(FromWireError(code), Errc::kInternal) << v;
    }
  }
}

TEST(ErrorCodes, NewErrcValuesHaveTheirOwnWireCodes) {
  EXPECT_EQ(ToWireError(Errc::kBufferTooSmall), ErrorCode::kBufferTooSmall);
  EXPECT_EQ(FromWireError(ErrorCode::kBufferTooSmall), Errc::kBufferTooSmall);
  EXPECT_EQ(ToWireError(Errc::kInvalidArgument), ErrorCode::kBadRequest);
}

TEST(ErrorCodes, DaemonOnlyClassesGoOutAsInternal) {
  for (Errc e : {Errc::kConfig, Errc::kUnsupported, Errc::kIo, Errc::kNoSpace, Errc::kLocked,
                 Errc::kUnavailable, Errc::kOutOfMemory, Errc::kInternal}) {
    EXPECT_EQ(ToWireError(e), ErrorCode::kInternal) << static_cast<int>(e);
  }
}

}  // namespace
}  // namespace ttscache::ipc
