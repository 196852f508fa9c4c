// PcmFormat: how interleaved PCM bytes encode samples (as a WAV fmt chunk
// describes them), and the conversion of such bytes to float in [-1, 1).
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ttscache {

enum class SampleEncoding : uint8_t {
  kUnsigned8,  // WAV 8-bit PCM is unsigned with 128 as zero
  kSigned16,
  kSigned24,
  kSigned32,
  kFloat32,
  kFloat64,
};

struct PcmFormat {
  SampleEncoding encoding = SampleEncoding::kSigned16;
  int channels = 1;         // 1 or 2
  int sample_rate = 22050;  // 8000–192000

  int bytes_per_sample() const;
  int bytes_per_frame() const { return bytes_per_sample() * channels; }
  bool operator==(const PcmFormat&) const = default;
};

// Converts whole frames of little-endian PCM to interleaved float.
// REQUIRES: bytes.size() is a multiple of format.bytes_per_frame();
//           out has room for bytes.size() / bytes_per_sample() floats.
void PcmToFloat(const PcmFormat& format, std::span<const uint8_t> bytes, float* out);

}  // namespace ttscache
