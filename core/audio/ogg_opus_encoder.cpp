// The encoding pipeline behind OggOpusEncoder; see ogg_opus_encoder.hpp.
//
// Timing: libopus delays its output by its lookahead, so the stream's
// pre-skip is that lookahead converted to 48 kHz. soxr removes its own filter
// delay (see resampler.hpp), so it adds nothing to pre-skip; instead it is
// flushed at the end. Finish() then encodes zero-padded frames until the
// packets cover pre-skip + the input length, and the final granule position
// cuts the padding off (RFC 7845 §4.5, end trimming).
#include "core/audio/ogg_opus_encoder.hpp"

#include <opus.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "core/audio/ogg_opus_writer.hpp"
#include "core/audio/resampler.hpp"
#include "core/audio/wav_reader.hpp"

namespace ttscache {
namespace {

constexpr size_t kMaxPacketBytes = 4000;  // > 60 ms at 510 kb/s (3825 bytes)
constexpr size_t kConvertFrames = 4096;   // PCM → float in slices this long

struct OpusEncoderDeleter {
  void operator()(OpusEncoder* e) const { opus_encoder_destroy(e); }
};

int OpusApplicationCode(OpusApplication a) {
  switch (a) {
    case OpusApplication::kVoip:
      return OPUS_APPLICATION_VOIP;
    case OpusApplication::kAudio:
      return OPUS_APPLICATION_AUDIO;
    case OpusApplication::kLowDelay:
      return OPUS_APPLICATION_RESTRICTED_LOWDELAY;
  }
  return OPUS_APPLICATION_VOIP;
}

Error OpusError(const char* what, int code) {
  return MakeError(Errc::kInternal, std::string(what) + ": " + opus_strerror(code));
}

}  // namespace

struct OggOpusEncoder::State {
  PcmFormat input;
  int opus_rate = 48000;
  int frame_samples = 0;  // per channel, at opus_rate
  int frame_48k = 0;
  int pre_skip = 0;
  std::unique_ptr<OpusEncoder, OpusEncoderDeleter> opus;
  std::optional<Resampler> resampler;
  std::optional<OggOpusWriter> writer;
  std::vector<float> pending;    // interleaved, at opus_rate, not yet encoded
  size_t pending_start = 0;      // frames of `pending` already consumed
  std::vector<uint8_t> partial;  // PCM bytes short of a whole frame
  std::vector<float> scratch;
  std::vector<uint8_t> packet = std::vector<uint8_t>(kMaxPacketBytes);
  uint64_t input_frames = 0;
  bool finished = false;

  size_t pending_frames() const { return pending.size() / input.channels - pending_start; }

  // Encodes one frame from `pending` (zero-padded if short) into the stream.
  Status EncodeFrame(bool last, int64_t end_granule) {
    const int ch = input.channels;
    const size_t available = std::min<size_t>(pending_frames(), frame_samples);
    const float* pcm = pending.data() + pending_start * ch;
    std::vector<float> padded;
    if (available < static_cast<size_t>(frame_samples)) {
      padded.assign(static_cast<size_t>(frame_samples) * ch, 0.0f);
      std::copy(pcm, pcm + available * ch, padded.begin());
      pcm = padded.data();
    }
    pending_start += available;
    int bytes = opus_encode_float(opus.get(), pcm, frame_samples, packet.data(),
                                  static_cast<opus_int32>(packet.size()));
    if (bytes < 0) return OpusError("opus_encode_float", bytes);
    if (bytes == 0) return MakeError(Errc::kInternal, "opus_encode_float produced 0 bytes");
    return writer->AddPacket({packet.data(), static_cast<size_t>(bytes)}, frame_48k, last,
                             end_granule);
  }

  Status EncodeWholeFrames() {
    while (pending_frames() >= static_cast<size_t>(frame_samples)) {
      if (Status s = EncodeFrame(false, 0); !s) return s;
    }
    // Drop consumed samples now and then, not after every frame.
    if (pending_start * 2 > pending.size() / input.channels) {
      pending.erase(pending.begin(), pending.begin() + pending_start * input.channels);
      pending_start = 0;
    }
    return {};
  }
};

OggOpusEncoder::OggOpusEncoder(std::unique_ptr<State> state) : state_(std::move(state)) {}
OggOpusEncoder::OggOpusEncoder(OggOpusEncoder&&) noexcept = default;
OggOpusEncoder& OggOpusEncoder::operator=(OggOpusEncoder&&) noexcept = default;
OggOpusEncoder::~OggOpusEncoder() = default;

Result<OggOpusEncoder> OggOpusEncoder::Create(const PcmFormat& input, const OpusParams& params,
                                              ByteSink* sink, const EncoderOptions& options) {
  if (Status valid = Validate(params); !valid) return valid.error();
  if (input.channels < 1 || input.channels > 2 || input.sample_rate < 8000 ||
      input.sample_rate > 192000) {
    return MakeError(Errc::kInvalidArgument, "input format: " + std::to_string(input.channels) +
                                                 " channels at " +
                                                 std::to_string(input.sample_rate) +
                                                 " Hz, expected 1–2 channels at 8000–192000 Hz");
  }
  auto s = std::make_unique<State>();
  s->input = input;
  s->opus_rate = OpusRateFor(input.sample_rate);
  s->frame_samples = static_cast<int>(int64_t{s->opus_rate} * params.frame_us / 1000000);
  s->frame_48k = params.frame_us * 48 / 1000;

  int error = OPUS_OK;
  s->opus.reset(opus_encoder_create(s->opus_rate, input.channels,
                                    OpusApplicationCode(params.application), &error));
  if (error != OPUS_OK || !s->opus) return OpusError("opus_encoder_create", error);
  OpusEncoder* e = s->opus.get();
  int ctl_errors = 0;
  ctl_errors |= opus_encoder_ctl(e, OPUS_SET_BITRATE(params.bitrate_kbps * 1000));
  ctl_errors |= opus_encoder_ctl(e, OPUS_SET_VBR(params.vbr == VbrMode::kOff ? 0 : 1));
  ctl_errors |=
      opus_encoder_ctl(e, OPUS_SET_VBR_CONSTRAINT(params.vbr == VbrMode::kConstrained ? 1 : 0));
  ctl_errors |= opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(params.complexity));
  if (params.application == OpusApplication::kVoip) {
    ctl_errors |= opus_encoder_ctl(e, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
  }
  opus_int32 lookahead = 0;
  ctl_errors |= opus_encoder_ctl(e, OPUS_GET_LOOKAHEAD(&lookahead));
  if (ctl_errors != OPUS_OK) return OpusError("opus_encoder_ctl", ctl_errors);
  s->pre_skip = static_cast<int>(lookahead * (48000 / s->opus_rate));

  if (s->opus_rate != input.sample_rate) {
    Result<Resampler> r = Resampler::Create(input.sample_rate, s->opus_rate, input.channels);
    if (!r) return r.error();
    s->resampler.emplace(std::move(*r));
  }
  OggOpusHeader header{input.channels, s->pre_skip, input.sample_rate,
                       options.serial ? *options.serial : RandomOggSerial()};
  Result<OggOpusWriter> writer = OggOpusWriter::Create(header, options.pages, sink);
  if (!writer) return writer.error();
  s->writer.emplace(std::move(*writer));
  return OggOpusEncoder(std::move(s));
}

Status OggOpusEncoder::PushFloat(const float* frames, size_t frame_count) {
  State& s = *state_;
  if (s.finished) return MakeError(Errc::kInvalidArgument, "push after Finish()");
  s.input_frames += frame_count;
  if (s.resampler) {
    if (Status st = s.resampler->Process(frames, frame_count, &s.pending); !st) return st;
  } else {
    s.pending.insert(s.pending.end(), frames, frames + frame_count * s.input.channels);
  }
  return s.EncodeWholeFrames();
}

Status OggOpusEncoder::PushPcm(std::span<const uint8_t> bytes) {
  State& s = *state_;
  const size_t frame_bytes = static_cast<size_t>(s.input.bytes_per_frame());
  // Complete a frame left over from the previous call first.
  if (!s.partial.empty()) {
    size_t take = std::min(frame_bytes - s.partial.size(), bytes.size());
    s.partial.insert(s.partial.end(), bytes.begin(), bytes.begin() + take);
    bytes = bytes.subspan(take);
    if (s.partial.size() < frame_bytes) return {};
    s.scratch.resize(s.input.channels);
    PcmToFloat(s.input, s.partial, s.scratch.data());
    s.partial.clear();
    if (Status st = PushFloat(s.scratch.data(), 1); !st) return st;
  }
  const size_t whole = bytes.size() / frame_bytes;
  for (size_t done = 0; done < whole;) {
    size_t n = std::min(kConvertFrames, whole - done);
    s.scratch.resize(n * s.input.channels);
    PcmToFloat(s.input, bytes.subspan(done * frame_bytes, n * frame_bytes), s.scratch.data());
    if (Status st = PushFloat(s.scratch.data(), n); !st) return st;
    done += n;
  }
  s.partial.assign(bytes.begin() + whole * frame_bytes, bytes.end());
  return {};
}

Status OggOpusEncoder::Finish() {
  State& s = *state_;
  if (s.finished) return MakeError(Errc::kInvalidArgument, "Finish() called twice");
  s.finished = true;
  if (!s.partial.empty()) {
    return MakeError(Errc::kBadAudio, "input ends with " + std::to_string(s.partial.size()) +
                                          " bytes of a " +
                                          std::to_string(s.input.bytes_per_frame()) +
                                          "-byte frame: the audio is truncated");
  }
  if (s.resampler) {
    if (Status st = s.resampler->Flush(&s.pending); !st) return st;
  }
  const int64_t end_granule = s.pre_skip + static_cast<int64_t>(decoded_samples_48k());
  // At least one frame remains to encode: the lookahead (pre-skip > 0) is
  // never covered by the whole frames encoded while pushing.
  while (true) {
    bool last = s.writer->granule() + s.frame_48k >= end_granule;
    if (Status st = s.EncodeFrame(last, end_granule); !st) return st;
    if (last) return {};
  }
}

Status OggOpusEncoder::FlushPages() {
  if (state_->finished) return MakeError(Errc::kInvalidArgument, "FlushPages after Finish()");
  return state_->writer->Flush();
}

uint64_t OggOpusEncoder::input_frames() const { return state_->input_frames; }
uint64_t OggOpusEncoder::decoded_samples_48k() const {
  const uint64_t rate = static_cast<uint64_t>(state_->input.sample_rate);
  return (state_->input_frames * 48000 + rate - 1) / rate;
}

Status EncodeWavToOggOpus(std::span<const uint8_t> wav, const OpusParams& params, ByteSink* sink,
                          const EncoderOptions& options) {
  Result<WavView> view = ParseWav(wav);
  if (!view) return view.error();
  if (view->frames == 0) return MakeError(Errc::kBadAudio, "data chunk holds no samples");
  Result<OggOpusEncoder> encoder = OggOpusEncoder::Create(view->format, params, sink, options);
  if (!encoder) return encoder.error();
  if (Status s = encoder->PushPcm(view->data); !s) return s;
  return encoder->Finish();
}

}  // namespace ttscache
