// Names, ranges and the file-name tag of OpusParams; see opus_params.hpp.
#include "core/audio/opus_params.hpp"

namespace ttscache {

const char* VbrModeName(VbrMode mode) {
  switch (mode) {
    case VbrMode::kOn:
      return "on";
    case VbrMode::kOff:
      return "off";
    case VbrMode::kConstrained:
      return "constrained";
  }
  return "?";
}

const char* ApplicationName(OpusApplication application) {
  switch (application) {
    case OpusApplication::kVoip:
      return "voip";
    case OpusApplication::kAudio:
      return "audio";
    case OpusApplication::kLowDelay:
      return "lowdelay";
  }
  return "?";
}

bool ParseVbrMode(std::string_view text, VbrMode* out) {
  for (VbrMode m : {VbrMode::kOn, VbrMode::kOff, VbrMode::kConstrained}) {
    if (text == VbrModeName(m)) {
      *out = m;
      return true;
    }
  }
  return false;
}

bool ParseApplication(std::string_view text, OpusApplication* out) {
  for (OpusApplication a :
       {OpusApplication::kVoip, OpusApplication::kAudio, OpusApplication::kLowDelay}) {
    if (text == ApplicationName(a)) {
      *out = a;
      return true;
    }
  }
  return false;
}

bool IsValidFrameUs(int frame_us) {
  for (int allowed : {2500, 5000, 10000, 20000, 40000, 60000}) {
    if (frame_us == allowed) return true;
  }
  return false;
}

Status Validate(const OpusParams& p) {
  if (p.bitrate_kbps < kMinBitrateKbps || p.bitrate_kbps > kMaxBitrateKbps) {
    return MakeError(Errc::kInvalidArgument, "bitrate_kbps " + std::to_string(p.bitrate_kbps) +
                                                 " out of range, expected 6–510");
  }
  if (p.complexity < 0 || p.complexity > kMaxComplexity) {
    return MakeError(Errc::kInvalidArgument,
                     "complexity " + std::to_string(p.complexity) + " out of range, expected 0–10");
  }
  if (!IsValidFrameUs(p.frame_us)) {
    return MakeError(Errc::kInvalidArgument, "frame duration " + std::to_string(p.frame_us) +
                                                 " µs, expected 2.5, 5, 10, 20, 40 or 60 ms");
  }
  if (static_cast<int>(p.vbr) > 2 || static_cast<int>(p.application) > 2) {
    return MakeError(Errc::kInvalidArgument, "vbr or application code out of range");
  }
  return {};
}

std::string VariantTag(const OpusParams& p) {
  return "b" + std::to_string(p.bitrate_kbps) + "-v" + VbrModeName(p.vbr) + "-a" +
         ApplicationName(p.application) + "-c" + std::to_string(p.complexity) + "-f" +
         std::to_string(p.frame_us);
}

}  // namespace ttscache
