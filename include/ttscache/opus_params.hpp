// OpusParams: the Opus encoder settings a caller can choose for GET (format
// Opus), ENCODE, PUT_ENCODE and encode streams. The daemon checks the ranges
// and refuses a value outside them (Errc::kInvalidArgument naming the field);
// DaemonDefaultOpus() (client.hpp) asks for the daemon's configured settings.
// Plain value type.
#pragma once

#include <cstdint>

namespace ttscache {

enum class VbrMode : uint8_t { kOn = 0, kOff = 1, kConstrained = 2 };
enum class OpusApplication : uint8_t { kVoip = 0, kAudio = 1, kLowDelay = 2 };

struct OpusParams {
  int bitrate_kbps = 32;  // 6–510; 0 asks for the daemon's configured settings
  VbrMode vbr = VbrMode::kOn;
  OpusApplication application = OpusApplication::kVoip;
  int complexity = 10;   // 0–10
  int frame_us = 20000;  // 2500 5000 10000 20000 40000 60000

  bool operator==(const OpusParams&) const = default;
};

inline constexpr int kMinBitrateKbps = 6;
inline constexpr int kMaxBitrateKbps = 510;
inline constexpr int kMaxComplexity = 10;

}  // namespace ttscache
