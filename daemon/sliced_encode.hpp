// SlicedEncode: a WAV → Ogg Opus encode done a slice of input at a time, so
// a long encode gives its worker back between slices and the pool's turns
// (worker_pool.hpp) reach other clients' jobs: a 10-minute input holds a
// worker for about 85 ms at a time at complexity 10, not for 10 s.
//
// Start checks the WAV and its length (at most `max_seconds`) before any
// work; Step encodes the next kSliceSeconds and reports completion. The WAV
// bytes and the sink are borrowed: the caller keeps both alive until the
// encode is done or dropped. Not thread-safe (one worker at a time runs it;
// the pool orders the slices). Errors as EncodeWavToOggOpus, plus kTooLarge
// for input longer than `max_seconds`.
#pragma once

#include <memory>
#include <span>

#include "core/audio/byte_sink.hpp"
#include "core/audio/ogg_opus_encoder.hpp"
#include "core/result.hpp"

namespace ttscache {

class SlicedEncode {
 public:
  static constexpr int kSliceSeconds = 5;

  static Result<std::unique_ptr<SlicedEncode>> Start(std::span<const uint8_t> wav,
                                                     const OpusParams& params, ByteSink* sink,
                                                     int max_seconds);
  // Encodes the next slice; true once the stream is complete (then it must
  // not be called again).
  Result<bool> Step();

 private:
  SlicedEncode(OggOpusEncoder encoder, std::span<const uint8_t> pcm, size_t slice_bytes)
      : encoder_(std::move(encoder)), pcm_(pcm), slice_bytes_(slice_bytes) {}

  OggOpusEncoder encoder_;
  std::span<const uint8_t> pcm_;  // what is left to encode
  size_t slice_bytes_;
};

}  // namespace ttscache
