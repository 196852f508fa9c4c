// Both directions of the wire ↔ Errc mapping, read from kWireErrors.
#include "ipc/error_codes.hpp"

namespace ttscache::ipc {

ErrorCode ToWireError(Errc code) {
  for (const WireError& e : kWireErrors) {
    if (e.errc == code) return e.wire;
  }
  return ErrorCode::kInternal;
}

Errc FromWireError(ErrorCode code) {
  for (const WireError& e : kWireErrors) {
    if (e.wire == code) return e.errc;
  }
  return Errc::kInternal;
}

}  // namespace ttscache::ipc
