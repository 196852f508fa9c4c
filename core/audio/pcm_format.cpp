// Sample conversion for the encoder's input; see pcm_format.hpp. Integer
// formats scale by 2^(bits-1) so full scale maps to [-1, 1) exactly; float
// input passes through (libopus clips what lies outside [-1, 1]).
#include "core/audio/pcm_format.hpp"

#include <cstring>

namespace ttscache {

int PcmFormat::bytes_per_sample() const {
  switch (encoding) {
    case SampleEncoding::kUnsigned8:
      return 1;
    case SampleEncoding::kSigned16:
      return 2;
    case SampleEncoding::kSigned24:
      return 3;
    case SampleEncoding::kSigned32:
      return 4;
    case SampleEncoding::kFloat32:
      return 4;
    case SampleEncoding::kFloat64:
      return 8;
  }
  return 1;
}

void PcmToFloat(const PcmFormat& format, std::span<const uint8_t> bytes, float* out) {
  const uint8_t* p = bytes.data();
  const size_t samples = bytes.size() / format.bytes_per_sample();
  // Byte-wise assembly keeps this correct for unaligned shared-memory input.
  switch (format.encoding) {
    case SampleEncoding::kUnsigned8:
      for (size_t i = 0; i < samples; ++i) out[i] = (static_cast<int>(p[i]) - 128) * (1.0f / 128);
      break;
    case SampleEncoding::kSigned16:
      for (size_t i = 0; i < samples; ++i, p += 2) {
        out[i] = static_cast<int16_t>(p[0] | (p[1] << 8)) * (1.0f / 32768);
      }
      break;
    case SampleEncoding::kSigned24:
      for (size_t i = 0; i < samples; ++i, p += 3) {
        int32_t v = static_cast<int32_t>((uint32_t{p[0]} << 8) | (uint32_t{p[1]} << 16) |
                                         (uint32_t{p[2]} << 24)) >>
                    8;
        out[i] = static_cast<float>(v) * (1.0f / 8388608);
      }
      break;
    case SampleEncoding::kSigned32:
      for (size_t i = 0; i < samples; ++i, p += 4) {
        int32_t v = static_cast<int32_t>(uint32_t{p[0]} | (uint32_t{p[1]} << 8) |
                                         (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24));
        out[i] = static_cast<float>(static_cast<double>(v) * (1.0 / 2147483648.0));
      }
      break;
    case SampleEncoding::kFloat32:
      for (size_t i = 0; i < samples; ++i, p += 4) std::memcpy(&out[i], p, 4);
      break;
    case SampleEncoding::kFloat64:
      for (size_t i = 0; i < samples; ++i, p += 8) {
        double d;
        std::memcpy(&d, p, 8);
        out[i] = static_cast<float>(d);
      }
      break;
  }
}

}  // namespace ttscache
