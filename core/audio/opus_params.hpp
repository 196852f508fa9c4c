// OpusParams (public: include/ttscache/opus_params.hpp) as the config file
// ([opus] section), the wire protocol and the cache's variant names use it:
// names, parsing, and Validate(), which states the allowed ranges in one place.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "ttscache/opus_params.hpp"

namespace ttscache {

// Names as written in the config file and CLI: "on", "off", "constrained";
// "voip", "audio", "lowdelay".
const char* VbrModeName(VbrMode mode);
const char* ApplicationName(OpusApplication application);
bool ParseVbrMode(std::string_view text, VbrMode* out);
bool ParseApplication(std::string_view text, OpusApplication* out);
bool IsValidFrameUs(int frame_us);

// An error naming the first field out of range, or ok.
Status Validate(const OpusParams& params);

// A short stable tag for file names, e.g. "b32-von-avoip-c10-f20000".
std::string VariantTag(const OpusParams& params);
// The inverse of VariantTag; false unless `tag` is exactly such a tag of valid params.
bool ParseVariantTag(std::string_view tag, OpusParams* out);

}  // namespace ttscache
