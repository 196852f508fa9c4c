// See sliced_encode.hpp.
#include "daemon/sliced_encode.hpp"

#include <string>

#include "core/audio/wav_reader.hpp"

namespace ttscache {

Result<std::unique_ptr<SlicedEncode>> SlicedEncode::Start(std::span<const uint8_t> wav,
                                                          const OpusParams& params, ByteSink* sink,
                                                          int max_seconds) {
  Result<WavView> view = ParseWav(wav);
  if (!view) return view.error();
  if (view->frames == 0) return MakeError(Errc::kBadAudio, "data chunk holds no samples");
  const uint64_t rate = static_cast<uint64_t>(view->format.sample_rate);
  if (view->frames > rate * static_cast<uint64_t>(max_seconds)) {
    return MakeError(Errc::kTooLarge,
                     "the WAV lasts " + std::to_string(view->frames / rate) +
                         " s, longer than max_encode_seconds = " + std::to_string(max_seconds));
  }
  Result<OggOpusEncoder> encoder = OggOpusEncoder::Create(view->format, params, sink);
  if (!encoder) return encoder.error();
  const size_t slice_bytes = static_cast<size_t>(rate) * kSliceSeconds *
                             static_cast<size_t>(view->format.bytes_per_frame());
  return std::unique_ptr<SlicedEncode>(
      new SlicedEncode(std::move(*encoder), view->data, slice_bytes));
}

Result<bool> SlicedEncode::Step() {
  const std::span<const uint8_t> slice = pcm_.first(std::min(slice_bytes_, pcm_.size()));
  if (Status s = encoder_.PushPcm(slice); !s) return s.error();
  pcm_ = pcm_.subspan(slice.size());
  if (!pcm_.empty()) return false;
  if (Status s = encoder_.Finish(); !s) return s.error();
  return true;
}

}  // namespace ttscache
