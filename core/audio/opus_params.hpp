// OpusParams: the encoder settings a caller can choose, shared by the config
// file ([opus] section), the wire protocol and the cache's variant names.
// Plain value type; Validate() states the allowed ranges in one place.
#pragma once

#include <cstdint>
#include <string>

#include "ttscache/export.hpp"
#include "core/result.hpp"

namespace ttscache {

enum class VbrMode : uint8_t { kOn = 0, kOff = 1, kConstrained = 2 };
enum class OpusApplication : uint8_t { kVoip = 0, kAudio = 1, kLowDelay = 2 };

struct OpusParams {
  int bitrate_kbps = 32;  // 6–510
  VbrMode vbr = VbrMode::kOn;
  OpusApplication application = OpusApplication::kVoip;
  int complexity = 10;   // 0–10
  int frame_us = 20000;  // 2500 5000 10000 20000 40000 60000

  bool operator==(const OpusParams&) const = default;
};

inline constexpr int kMinBitrateKbps = 6;
inline constexpr int kMaxBitrateKbps = 510;
inline constexpr int kMaxComplexity = 10;

// Names as written in the config file and CLI: "on", "off", "constrained";
// "voip", "audio", "lowdelay".
TTSCACHE_EXPORT const char* VbrModeName(VbrMode mode);
TTSCACHE_EXPORT const char* ApplicationName(OpusApplication application);
TTSCACHE_EXPORT bool ParseVbrMode(std::string_view text, VbrMode* out);
TTSCACHE_EXPORT bool ParseApplication(std::string_view text, OpusApplication* out);
TTSCACHE_EXPORT bool IsValidFrameUs(int frame_us);

// An error naming the first field out of range, or ok.
TTSCACHE_EXPORT Status Validate(const OpusParams& params);

// A short stable tag for file names, e.g. "b32-von-avoip-c10-f20000".
TTSCACHE_EXPORT std::string VariantTag(const OpusParams& params);
// The inverse of VariantTag; false unless `tag` is exactly such a tag of valid params.
TTSCACHE_EXPORT bool ParseVariantTag(std::string_view tag, OpusParams* out);

}  // namespace ttscache
