// OggOpusEncoder: PCM in, Ogg Opus pages out, incrementally. A caller pushes
// PCM as a TTS engine produces it and pages reach the sink as soon as they
// are complete; Finish() pads, trims and ends the stream so the decoded
// length equals the input length exactly (at 48 kHz, rounded up).
//
// Pipeline: PCM bytes → float → libsoxr to the Opus rate (when the input rate
// is not 8/12/16/24/48 kHz) → libopus frames → OggOpusWriter → ByteSink.
// Move-only; not thread-safe (one encoder per job). Errors: kInvalidArgument
// for bad parameters, kInternal when libopus/soxr/libogg fail, or the sink's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "core/audio/byte_sink.hpp"
#include "core/audio/ogg_opus_writer.hpp"
#include "core/audio/opus_params.hpp"
#include "core/audio/pcm_format.hpp"
#include "core/result.hpp"

namespace ttscache {

inline constexpr const char* kOggOpusContentType = "audio/ogg; codecs=opus";

struct EncoderOptions {
  // When pages are cut (ogg_opus_writer.hpp): a page per second of audio,
  // per packet, or for streams the first packet alone and then FlushPages().
  PageFlush pages = PageFlush::kEverySecond;
  std::optional<uint32_t> serial;  // default: random
};

class OggOpusEncoder {
 public:
  // Writes the header pages to `sink` (borrowed; must outlive the encoder).
  static Result<OggOpusEncoder> Create(const PcmFormat& input, const OpusParams& params,
                                       ByteSink* sink, const EncoderOptions& options = {});
  OggOpusEncoder(OggOpusEncoder&&) noexcept;
  OggOpusEncoder& operator=(OggOpusEncoder&&) noexcept;
  ~OggOpusEncoder();

  // Little-endian PCM in the input format; any length (a partial frame waits
  // for the next call). REQUIRES: Finish() not called yet.
  Status PushPcm(std::span<const uint8_t> bytes);
  // Interleaved float frames at the input rate.
  Status PushFloat(const float* frames, size_t frame_count);
  // Writes the packets encoded so far as a page now, so a streaming caller
  // can send them (the samples of a packet not yet complete wait).
  Status FlushPages();
  // Ends the stream. A partial PCM frame left over is an error (truncated input).
  Status Finish();

  uint64_t input_frames() const;
  // What the stream decodes to once finished: ceil(input_frames × 48000 / rate).
  uint64_t decoded_samples_48k() const;

 private:
  struct State;
  explicit OggOpusEncoder(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Whole-buffer convenience: parses `wav` (see wav_reader.hpp) and encodes all
// of it. A WAV without samples is Errc::kBadAudio.
Status EncodeWavToOggOpus(std::span<const uint8_t> wav, const OpusParams& params, ByteSink* sink,
                          const EncoderOptions& options = {});

}  // namespace ttscache
