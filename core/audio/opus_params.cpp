// Names, ranges and the file-name tag of OpusParams; see opus_params.hpp.
#include "core/audio/opus_params.hpp"

#include <charconv>

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

bool ParseVariantTag(std::string_view tag, OpusParams* out) {
  // b<int>-v<name>-a<name>-c<int>-f<int>
  OpusParams p;
  auto take = [&](char letter, std::string_view* field) {
    if (tag.size() < 2 || tag[0] != letter) return false;
    size_t dash = tag.find('-');
    *field = tag.substr(1, dash == std::string_view::npos ? std::string_view::npos : dash - 1);
    tag = dash == std::string_view::npos ? std::string_view() : tag.substr(dash + 1);
    return !field->empty();
  };
  auto number = [](std::string_view s, int* v) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
    return ec == std::errc() && end == s.data() + s.size();
  };
  std::string_view b, v, a, c, f;
  if (!take('b', &b) || !take('v', &v) || !take('a', &a) || !take('c', &c) || !take('f', &f) ||
      !tag.empty()) {
    return false;
  }
  if (!number(b, &p.bitrate_kbps) || !ParseVbrMode(v, &p.vbr) ||
      !ParseApplication(a, &p.application) || !number(c, &p.complexity) ||
      !number(f, &p.frame_us) || !Validate(p)) {
    return false;
  }
  *out = p;
  return true;
}

}  // namespace ttscache
