// Resampler: libsoxr (high quality) converting interleaved float PCM from the
// input rate to one Opus accepts. soxr compensates its own filter delay: the
// first output sample lines up with the first input sample, and Flush()
// drains the tail, so output length is round(input × out_rate / in_rate) and
// the encoder needs no extra pre-skip for it. Move-only; not thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "core/result.hpp"

namespace ttscache {

class Resampler {
 public:
  static Result<Resampler> Create(int in_rate, int out_rate, int channels);

  // Appends the output available so far for `frames` input frames to *out.
  Status Process(const float* in, size_t frames, std::vector<float>* out);
  // Appends the remaining output after the last input.
  Status Flush(std::vector<float>* out);

 private:
  struct SoxrDeleter {
    void operator()(void* soxr) const;
  };
  Resampler(void* soxr, double ratio, int channels);
  Status Run(const float* in, size_t frames, std::vector<float>* out);

  std::unique_ptr<void, SoxrDeleter> soxr_;
  double ratio_;
  int channels_;
};

// The Opus rate for an input rate: the lowest of 8/12/16/24/48 kHz at or above it.
int OpusRateFor(int input_rate);

}  // namespace ttscache
