// EncodeSession: one streamed encode (docs/protocol.md, "Encode streams").
// Input arrives in chunks of any size — raw PCM of a format named up front,
// or a WAV as an engine writes it to a pipe (header first, sizes possibly
// unknown) — and each Push returns the Ogg Opus pages that chunk completed.
// Pages: the first audio packet on a page of its own, then one page per
// push (PageFlush::kStreaming). Finish returns the last pages; the stream
// then decodes to exactly ceil(N × 48000 / rate) samples.
//
// With `retain`, the session also keeps the input's samples and every Ogg
// byte, so a finished stream can become a cache entry (CachedWav, ogg()).
// Errors: kBadAudio for a WAV header that does not parse (naming the field),
// input that ends inside the header or short of a known data size, or no
// samples; kTooLarge past `max_seconds` of input; kInvalidArgument for
// calls out of order. After an error the session is unusable.
// Not thread-safe: one worker at a time runs it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/audio/ogg_opus_encoder.hpp"
#include "core/audio/opus_params.hpp"
#include "core/audio/pcm_format.hpp"
#include "core/result.hpp"

namespace ttscache {

struct EncodeSessionSpec {
  std::optional<PcmFormat> raw;  // the format of raw PCM; nullopt: a WAV, read from its header
  OpusParams params;
  uint64_t max_seconds = 600;      // of input audio
  bool retain = false;             // keep the input and output for the cache
  std::optional<uint32_t> serial;  // Ogg serial; default random (tests fix it)
};

class EncodeSession {
 public:
  static Result<std::unique_ptr<EncodeSession>> Create(const EncodeSessionSpec& spec);
  ~EncodeSession();

  // Appends the pages this chunk completed to `pages` (the header pages come
  // with the first chunk that makes the format known).
  Status Push(std::span<const uint8_t> bytes, std::vector<uint8_t>* pages);
  // Ends the input; appends the last pages to `pages`.
  Status Finish(std::vector<uint8_t>* pages);

  uint64_t decoded_samples_48k() const;
  // Bytes held for the cache (input samples and Ogg so far); 0 without retain.
  uint64_t retained_bytes() const;
  // Frees what was retained and keeps nothing more (the stream will not be
  // cached: its caller could not afford the memory).
  void StopRetaining();
  // After Finish, with retain: the input as a canonical WAV (44-byte header,
  // PCM or IEEE float) and the whole Ogg stream.
  std::vector<uint8_t> CachedWav() const;
  const std::vector<uint8_t>& ogg() const;

 private:
  struct State;
  explicit EncodeSession(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// A canonical WAV file around whole frames of `pcm` in `format`.
std::vector<uint8_t> MakeWav(const PcmFormat& format, std::span<const uint8_t> pcm);

}  // namespace ttscache
