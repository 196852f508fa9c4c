// See encode_session.hpp. A WAV's header is collected until its data chunk
// starts; then ParseWav checks it (with the sizes set to "unknown", as a tool
// writing to a pipe would), so a streamed WAV is held to exactly the rules
// of a whole one. Samples then go to the encoder as they come.
#include "core/audio/encode_session.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/audio/byte_sink.hpp"
#include "core/audio/wav_reader.hpp"

namespace ttscache {
namespace {

// A streamed WAV may hold this much before its samples (fmt, LIST, fact...):
// a header is a few dozen bytes; anything near this is not a TTS engine's.
constexpr size_t kMaxWavHeader = 64u << 10;
// Sizes a tool writing a WAV to a pipe puts in the header because it cannot
// seek back: 0, 0xFFFFFFFF, or (espeak-ng, sox) 0x7FFFF000. Any size from
// there up is taken as "unknown": no TTS sentence is 2 GiB long.
constexpr uint32_t kPlaceholderSize = 0x7FFFF000;

uint32_t Le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
void PutLe(std::vector<uint8_t>* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Where the encoder's pages go: held until the caller collects them, and
// kept whole when the stream is retained for the cache.
class SessionSink final : public ByteSink {
 public:
  Status Write(std::span<const uint8_t> bytes) override {
    pending.insert(pending.end(), bytes.begin(), bytes.end());
    if (retain) all.insert(all.end(), bytes.begin(), bytes.end());
    return {};
  }
  void MoveTo(std::vector<uint8_t>* pages) {
    pages->insert(pages->end(), pending.begin(), pending.end());
    pending.clear();
  }
  bool retain = false;
  std::vector<uint8_t> pending;
  std::vector<uint8_t> all;
};

}  // namespace

struct EncodeSession::State {
  EncodeSessionSpec spec;
  SessionSink sink;
  std::optional<OggOpusEncoder> encoder;  // once the format is known
  std::optional<PcmFormat> format;
  std::vector<uint8_t> header;        // a WAV's bytes before its samples
  std::optional<uint64_t> data_left;  // a WAV's known data size, still to come
  uint64_t data_size = 0;             // the known size as declared (for messages)
  uint64_t pcm_bytes = 0;             // sample bytes taken so far
  std::vector<uint8_t> retained_pcm;
  bool finished = false;
  bool failed = false;

  Status StartEncoder(const PcmFormat& f) {
    EncoderOptions options;
    options.pages = PageFlush::kStreaming;
    options.serial = spec.serial;
    Result<OggOpusEncoder> e = OggOpusEncoder::Create(f, spec.params, &sink, options);
    if (!e) return e.error();
    encoder.emplace(std::move(*e));
    format = f;
    return {};
  }

  // Takes WAV header bytes from the front of `bytes` until the data chunk
  // starts; returns the rest (samples), or nothing while the header is open.
  Result<std::span<const uint8_t>> ScanWavHeader(std::span<const uint8_t> bytes) {
    const size_t before = header.size();
    header.insert(header.end(), bytes.begin(), bytes.end());
    if (header.size() >= 12 &&
        (std::memcmp(header.data(), "RIFF", 4) != 0 || std::memcmp(header.data() + 8, "WAVE", 4))) {
      Result<WavView> why = ParseWav({header.data(), 12});  // names what it found instead
      return why ? MakeError(Errc::kBadAudio, "not a RIFF/WAVE stream") : why.error();
    }
    size_t pos = 12;
    while (header.size() >= 12 && pos + 8 <= header.size()) {
      const uint8_t* chunk = header.data() + pos;
      const uint64_t size = Le32(chunk + 4);
      if (std::memcmp(chunk, "data", 4) == 0) {
        // Checked as a whole file whose sizes are unknown: a complete header.
        std::vector<uint8_t> prefix(header.begin(), header.begin() + static_cast<long>(pos + 8));
        std::memset(prefix.data() + 4, 0, 4);
        std::memset(prefix.data() + pos + 4, 0, 4);
        Result<WavView> view = ParseWav(prefix);
        if (!view) {
          Error e = view.error();
          if (e.message.find("no fmt chunk") != std::string::npos) {
            e.message += " (a streamed WAV needs its fmt chunk before its data)";
          }
          return e;
        }
        if (size != 0 && size < kPlaceholderSize) {
          data_left = size;
          data_size = size;
        }
        if (Status s = StartEncoder(view->format); !s) return s.error();
        const size_t samples_at = pos + 8;
        header.clear();
        header.shrink_to_fit();
        // The samples in this push start after the header's bytes in it.
        return bytes.subspan(samples_at - before);
      }
      if (pos + 8 + size > kMaxWavHeader) {
        return MakeError(Errc::kBadAudio,
                         "the WAV's chunk " + std::string(reinterpret_cast<const char*>(chunk), 4) +
                             " at offset " + std::to_string(pos) + " is " + std::to_string(size) +
                             " bytes: a streamed WAV may hold at most " +
                             std::to_string(kMaxWavHeader) + " bytes before its samples");
      }
      pos += 8 + size + (size & 1);
    }
    if (header.size() > kMaxWavHeader) {
      return MakeError(Errc::kBadAudio, "no data chunk in the first " +
                                            std::to_string(kMaxWavHeader) +
                                            " bytes of the streamed WAV");
    }
    return std::span<const uint8_t>();
  }

  Status Samples(std::span<const uint8_t> bytes) {
    if (data_left) {  // a known data size: later chunks (LIST...) are not audio
      bytes = bytes.first(static_cast<size_t>(std::min<uint64_t>(*data_left, bytes.size())));
      *data_left -= bytes.size();
    }
    if (bytes.empty()) return {};
    const uint64_t frame_bytes = static_cast<uint64_t>(format->bytes_per_frame());
    const uint64_t rate = static_cast<uint64_t>(format->sample_rate);
    if ((pcm_bytes + bytes.size()) / frame_bytes > spec.max_seconds * rate) {
      return MakeError(Errc::kTooLarge,
                       "the stream's input passed " + std::to_string(spec.max_seconds) +
                           " s of audio (max_seconds) at " + std::to_string(rate) + " Hz");
    }
    pcm_bytes += bytes.size();
    if (spec.retain) retained_pcm.insert(retained_pcm.end(), bytes.begin(), bytes.end());
    return encoder->PushPcm(bytes);
  }
};

EncodeSession::EncodeSession(std::unique_ptr<State> state) : state_(std::move(state)) {}
EncodeSession::~EncodeSession() = default;

Result<std::unique_ptr<EncodeSession>> EncodeSession::Create(const EncodeSessionSpec& spec) {
  auto state = std::make_unique<State>();
  state->spec = spec;
  state->sink.retain = spec.retain;
  if (spec.raw) {
    if (Status s = state->StartEncoder(*spec.raw); !s) return s.error();
  } else if (Status valid = Validate(spec.params); !valid) {
    return valid.error();
  }
  return std::unique_ptr<EncodeSession>(new EncodeSession(std::move(state)));
}

Status EncodeSession::Push(std::span<const uint8_t> bytes, std::vector<uint8_t>* pages) {
  State& s = *state_;
  if (s.failed) return MakeError(Errc::kInvalidArgument, "push to a session that failed");
  if (s.finished) return MakeError(Errc::kInvalidArgument, "push after the end of the stream");
  Status status;
  if (!s.encoder) {
    Result<std::span<const uint8_t>> samples = s.ScanWavHeader(bytes);
    status = samples ? s.Samples(*samples) : Status(samples.error());
  } else {
    status = s.Samples(bytes);
  }
  // What this push completed leaves now, as a page of its own.
  if (status && s.encoder) status = s.encoder->FlushPages();
  if (!status) {
    s.failed = true;
    return status;
  }
  s.sink.MoveTo(pages);
  return {};
}

Status EncodeSession::Finish(std::vector<uint8_t>* pages) {
  State& s = *state_;
  if (s.failed) return MakeError(Errc::kInvalidArgument, "finish of a session that failed");
  if (s.finished) return MakeError(Errc::kInvalidArgument, "the stream was finished already");
  s.finished = true;
  s.failed = true;  // until it succeeds
  if (!s.encoder) {
    return MakeError(Errc::kBadAudio, "the stream ended inside the WAV header, after " +
                                          std::to_string(s.header.size()) +
                                          " bytes (no data chunk yet)");
  }
  if (s.data_left && *s.data_left > 0) {
    return MakeError(Errc::kBadAudio, "the WAV's data chunk says " + std::to_string(s.data_size) +
                                          " bytes; the stream ended after " +
                                          std::to_string(s.data_size - *s.data_left) +
                                          ": the audio is truncated");
  }
  if (s.pcm_bytes == 0) return MakeError(Errc::kBadAudio, "the stream holds no samples");
  if (Status st = s.encoder->Finish(); !st) return st;
  s.failed = false;
  s.sink.MoveTo(pages);
  return {};
}

uint64_t EncodeSession::decoded_samples_48k() const {
  return state_->encoder ? state_->encoder->decoded_samples_48k() : 0;
}
uint64_t EncodeSession::retained_bytes() const {
  return state_->retained_pcm.size() + state_->sink.all.size();
}
void EncodeSession::StopRetaining() {
  state_->spec.retain = false;
  state_->sink.retain = false;
  std::vector<uint8_t>().swap(state_->retained_pcm);
  std::vector<uint8_t>().swap(state_->sink.all);
}

std::vector<uint8_t> EncodeSession::CachedWav() const {
  if (!state_->format) return {};
  return MakeWav(*state_->format, state_->retained_pcm);
}
const std::vector<uint8_t>& EncodeSession::ogg() const { return state_->sink.all; }

std::vector<uint8_t> MakeWav(const PcmFormat& format, std::span<const uint8_t> pcm) {
  const bool is_float =
      format.encoding == SampleEncoding::kFloat32 || format.encoding == SampleEncoding::kFloat64;
  const uint64_t pad = pcm.size() & 1;  // RIFF chunks are padded to even sizes
  std::vector<uint8_t> wav;
  wav.reserve(44 + pcm.size() + pad);
  wav.insert(wav.end(), {'R', 'I', 'F', 'F'});
  PutLe(&wav, 36 + pcm.size() + pad, 4);
  wav.insert(wav.end(), {'W', 'A', 'V', 'E', 'f', 'm', 't', ' '});
  PutLe(&wav, 16, 4);
  PutLe(&wav, is_float ? 3 : 1, 2);
  PutLe(&wav, static_cast<uint64_t>(format.channels), 2);
  PutLe(&wav, static_cast<uint64_t>(format.sample_rate), 4);
  PutLe(&wav, static_cast<uint64_t>(format.sample_rate) * format.bytes_per_frame(), 4);
  PutLe(&wav, static_cast<uint64_t>(format.bytes_per_frame()), 2);
  PutLe(&wav, static_cast<uint64_t>(format.bytes_per_sample()) * 8, 2);
  wav.insert(wav.end(), {'d', 'a', 't', 'a'});
  PutLe(&wav, pcm.size(), 4);
  wav.insert(wav.end(), pcm.begin(), pcm.end());
  if (pad) wav.push_back(0);
  return wav;
}

}  // namespace ttscache
