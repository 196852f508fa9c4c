// Test support: builds WAV files byte by byte, including malformed ones, and
// synthetic signals. Header-only; used by the codec tests and benchmarks.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace ttscache::testing {

struct Chunk {
  std::string id;  // 4 bytes
  std::vector<uint8_t> body;
  std::optional<uint32_t> declared_size;  // default: body.size()
};

struct WavSpec {
  uint16_t tag = 1;  // PCM
  uint16_t channels = 1;
  uint32_t rate = 22050;
  uint16_t bits = 16;
  std::optional<uint16_t> block_align;  // default: channels * bits / 8
  bool extensible = false;              // wrap `tag` in WAVE_FORMAT_EXTENSIBLE
  std::optional<uint32_t> riff_size;    // default: the true size
  std::optional<uint32_t> data_size;    // default: the true size
  std::vector<Chunk> before_fmt;        // chunks placed before fmt
  std::vector<Chunk> between;           // between fmt and data
  std::vector<Chunk> after_data;
  bool data_before_fmt = false;
  bool omit_fmt = false;
  bool omit_data = false;
};

inline void Put16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(x & 0xFF);
  v.push_back(x >> 8);
}
inline void Put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back((x >> (8 * i)) & 0xFF);
}

// Encodes float samples in [-1, 1] as the spec's sample format.
inline std::vector<uint8_t> EncodeSamples(const WavSpec& s, const std::vector<float>& samples) {
  std::vector<uint8_t> out;
  bool is_float = s.tag == 3;
  for (float f : samples) {
    double x = std::fmax(-1.0, std::fmin(f, 0.999999));
    if (is_float && s.bits == 32) {
      float v = static_cast<float>(x);
      uint8_t b[4];
      std::memcpy(b, &v, 4);
      out.insert(out.end(), b, b + 4);
    } else if (is_float && s.bits == 64) {
      uint8_t b[8];
      std::memcpy(b, &x, 8);
      out.insert(out.end(), b, b + 8);
    } else if (s.bits == 8) {
      out.push_back(static_cast<uint8_t>(std::lround(x * 127) + 128));
    } else {
      int64_t v = std::llround(x * ((int64_t{1} << (s.bits - 1)) - 1));
      for (int i = 0; i < s.bits / 8; ++i) out.push_back((v >> (8 * i)) & 0xFF);
    }
  }
  return out;
}

inline void AppendChunk(std::vector<uint8_t>& v, const Chunk& c) {
  v.insert(v.end(), c.id.begin(), c.id.end());
  Put32(v, c.declared_size.value_or(static_cast<uint32_t>(c.body.size())));
  v.insert(v.end(), c.body.begin(), c.body.end());
  if (c.body.size() % 2) v.push_back(0);  // RIFF pad byte
}

inline std::vector<uint8_t> MakeWav(const WavSpec& s, const std::vector<uint8_t>& pcm) {
  Chunk fmt{"fmt ", {}, std::nullopt};
  uint16_t block_align = s.block_align.value_or(static_cast<uint16_t>(s.channels * s.bits / 8));
  Put16(fmt.body, s.extensible ? 0xFFFE : s.tag);
  Put16(fmt.body, s.channels);
  Put32(fmt.body, s.rate);
  Put32(fmt.body, s.rate * block_align);
  Put16(fmt.body, block_align);
  Put16(fmt.body, s.bits);
  if (s.extensible) {
    Put16(fmt.body, 22);
    Put16(fmt.body, s.bits);
    Put32(fmt.body, s.channels == 2 ? 3 : 4);
    Put16(fmt.body, s.tag);
    const uint8_t tail[14] = {0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71};
    fmt.body.insert(fmt.body.end(), tail, tail + 14);
  }
  Chunk data{"data", pcm, s.data_size};
  std::vector<uint8_t> body = {'W', 'A', 'V', 'E'};
  for (const Chunk& c : s.before_fmt) AppendChunk(body, c);
  if (s.data_before_fmt && !s.omit_data) AppendChunk(body, data);
  if (!s.omit_fmt) AppendChunk(body, fmt);
  for (const Chunk& c : s.between) AppendChunk(body, c);
  if (!s.data_before_fmt && !s.omit_data) {
    // A data chunk's pad byte is not written when it ends the file.
    body.insert(body.end(), {'d', 'a', 't', 'a'});
    Put32(body, data.declared_size.value_or(static_cast<uint32_t>(pcm.size())));
    body.insert(body.end(), pcm.begin(), pcm.end());
    if (!s.after_data.empty() && pcm.size() % 2) body.push_back(0);
  }
  for (const Chunk& c : s.after_data) AppendChunk(body, c);
  std::vector<uint8_t> out = {'R', 'I', 'F', 'F'};
  Put32(out, s.riff_size.value_or(static_cast<uint32_t>(body.size())));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// A harmonic test tone (fundamental + 3 overtones, slow amplitude envelope),
// interleaved; the second channel is phase-shifted so stereo is not mono.
inline std::vector<float> HarmonicSignal(int rate, int channels, double seconds,
                                         double fundamental = 220.0) {
  const size_t frames = static_cast<size_t>(rate * seconds);
  std::vector<float> out(frames * channels);
  for (size_t i = 0; i < frames; ++i) {
    double t = static_cast<double>(i) / rate;
    double envelope = 0.5 + 0.3 * std::sin(2 * M_PI * 1.5 * t);
    for (int c = 0; c < channels; ++c) {
      double phase = c * 0.7;
      double v = 0;
      for (int h = 1; h <= 4; ++h) v += std::sin(2 * M_PI * fundamental * h * t + phase * h) / h;
      out[i * channels + c] = static_cast<float>(0.4 * envelope * v);
    }
  }
  return out;
}

}  // namespace ttscache::testing
