// ParseWav: finds the fmt and data chunks of a RIFF/WAVE file held in memory
// the caller owns (a daemon's shared-memory mapping, a cache file) and returns
// a view of the samples, without copying them.
//
// Accepts PCM 8/16/24/32-bit, IEEE float 32/64 and WAVE_FORMAT_EXTENSIBLE
// carrying those; 1–2 channels; 8–192 kHz; chunks in any order; streaming
// headers whose RIFF or data size is 0 or 0xFFFFFFFF ("to the end").
// Everything else is Errc::kBadAudio naming the field, its value and what was
// expected. A data chunk larger than the buffer is always an error: truncated
// TTS output must never be encoded or cached.
// Thread-safety: pure function. The view borrows `bytes`.
#pragma once

#include <cstdint>
#include <span>

#include "core/audio/pcm_format.hpp"
#include "core/result.hpp"

namespace ttscache {

struct WavView {
  PcmFormat format;
  std::span<const uint8_t> data;  // whole frames only, inside the parsed buffer
  uint64_t frames = 0;
};

Result<WavView> ParseWav(std::span<const uint8_t> bytes);

// A name for a WAVE format tag, e.g. 0x0055 → "MP3"; "unknown" otherwise.
const char* WaveFormatTagName(uint16_t tag);

}  // namespace ttscache
