// Body codecs; see messages.hpp and docs/protocol.md for the layouts.
#include "ipc/messages.hpp"

namespace ttscache::ipc {
namespace {

Error BadField(const char* what) {
  return MakeError(Errc::kInvalidArgument, std::string("malformed ") + what);
}

void PutParams(BodyWriter& w, const OpusParams& p) {
  w.U16(static_cast<uint16_t>(p.bitrate_kbps)).U8(static_cast<uint8_t>(p.vbr));
  w.U8(static_cast<uint8_t>(p.application)).U8(static_cast<uint8_t>(p.complexity)).U8(0).U16(0);
  w.U32(static_cast<uint32_t>(p.frame_us));
}

Result<OpusParams> ReadParams(BodyReader& r) {
  OpusParams p;
  p.bitrate_kbps = r.U16();
  uint8_t vbr = r.U8(), app = r.U8();
  p.complexity = r.U8();
  r.U8();
  r.U16();
  p.frame_us = static_cast<int>(r.U32());
  if (!r.ok()) return BadField("opus parameters");
  if (vbr > 2 || app > 2) return BadField("opus parameters: vbr or application code");
  if (p.bitrate_kbps == 0) return OpusParams{0, VbrMode::kOn, OpusApplication::kVoip, 0, 0};
  p.vbr = static_cast<VbrMode>(vbr);
  p.application = static_cast<OpusApplication>(app);
  if (Status s = Validate(p); !s) {
    return MakeError(Errc::kInvalidArgument, "opus parameters: " + s.error().message);
  }
  return p;
}

void PutAudio(BodyWriter& w, const AudioRef& a) {
  w.U8(static_cast<uint8_t>(a.place));
  if (a.place == AudioPlace::kInline) {
    w.Bytes(a.bytes);
  } else {
    w.U64(a.offset).U64(a.length);
  }
}

Result<AudioRef> ReadAudio(BodyReader& r) {
  AudioRef a;
  uint8_t place = r.U8();
  if (place == 0) {
    a.bytes = r.Bytes(kMaxFrameBody);
  } else if (place == 1) {
    a.place = AudioPlace::kArena;
    a.offset = r.U64();
    a.length = r.U64();
  } else {
    return BadField("audio place (expected 0 inline or 1 arena)");
  }
  if (!r.ok()) return BadField("audio");
  return a;
}

void PutOutput(BodyWriter& w, const OutputRef& o) {
  w.U8(static_cast<uint8_t>(o.place));
  if (o.place == AudioPlace::kArena) w.U64(o.offset).U64(o.capacity);
}

Result<OutputRef> ReadOutput(BodyReader& r) {
  OutputRef o;
  uint8_t place = r.U8();
  if (place == 1) {
    o.place = AudioPlace::kArena;
    o.offset = r.U64();
    o.capacity = r.U64();
  } else if (place != 0) {
    return BadField("output place (expected 0 inline or 1 arena)");
  }
  if (!r.ok()) return BadField("output");
  return o;
}

template <class T>
Result<T> Finish(const BodyReader& r, T value, const char* what) {
  if (!r.done()) return BadField(what);
  return value;
}

}  // namespace

std::vector<uint8_t> EncodeHelloRequest(uint16_t min_version, uint16_t max_version) {
  BodyWriter w;
  w.U16(min_version).U16(max_version);
  return std::move(w.bytes());
}

Result<std::pair<uint16_t, uint16_t>> DecodeHelloRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  std::pair<uint16_t, uint16_t> v{r.U16(), r.U16()};
  return Finish(r, v, "HELLO request");
}

std::vector<uint8_t> EncodeHelloReply(const HelloReply& h) {
  BodyWriter w;
  w.U16(h.version).U16(0).U32(h.max_frame_body).U32(h.max_text_bytes).U32(h.max_inflight);
  w.U64(h.max_arena_bytes);
  return std::move(w.bytes());
}

Result<HelloReply> DecodeHelloReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  HelloReply h;
  h.version = r.U16();
  r.U16();
  h.max_frame_body = r.U32();
  h.max_text_bytes = r.U32();
  h.max_inflight = r.U32();
  h.max_arena_bytes = r.U64();
  return Finish(r, h, "HELLO reply");
}

std::vector<uint8_t> EncodeGetRequest(const GetRequest& g) {
  BodyWriter w;
  w.String(g.engine).String(g.text).U8(static_cast<uint8_t>(g.format));
  PutParams(w, g.params);
  w.U8(static_cast<uint8_t>(g.delivery));
  if (g.known.valid()) w.U64(g.known.nonce).U64(g.known.sequence);
  return std::move(w.bytes());
}

Result<GetRequest> DecodeGetRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  GetRequest g;
  g.engine = r.String(64);
  g.text = r.String();
  uint8_t format = r.U8();
  Result<OpusParams> params = ReadParams(r);
  if (!params) return params.error();
  g.params = *params;
  uint8_t delivery = r.U8();
  if (r.ok() && !r.done()) {  // the optional known file
    g.known.nonce = r.U64();
    g.known.sequence = r.U64();
  }
  if (format > 1) return BadField("GET format (expected 0 wav or 1 opus)");
  if (delivery > 1) return BadField("GET delivery (expected 0 inline or 1 descriptor)");
  g.format = static_cast<AudioFormat>(format);
  g.delivery = static_cast<Delivery>(delivery);
  return Finish(r, g, "GET request");
}

std::vector<uint8_t> EncodePutRequest(const PutRequest& p) {
  BodyWriter w;
  w.String(p.engine).String(p.text);
  PutAudio(w, p.audio);
  return std::move(w.bytes());
}

Result<PutRequest> DecodePutRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  PutRequest p;
  p.engine = r.String(64);
  p.text = r.String();
  Result<AudioRef> audio = ReadAudio(r);
  if (!audio) return audio.error();
  p.audio = *audio;
  return Finish(r, p, "PUT request");
}

std::vector<uint8_t> EncodeEncodeRequest(const EncodeRequest& e) {
  BodyWriter w;
  PutParams(w, e.params);
  PutAudio(w, e.audio);
  PutOutput(w, e.output);
  return std::move(w.bytes());
}

Result<EncodeRequest> DecodeEncodeRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  EncodeRequest e;
  Result<OpusParams> params = ReadParams(r);
  if (!params) return params.error();
  e.params = *params;
  Result<AudioRef> audio = ReadAudio(r);
  if (!audio) return audio.error();
  e.audio = *audio;
  Result<OutputRef> output = ReadOutput(r);
  if (!output) return output.error();
  e.output = *output;
  return Finish(r, e, "ENCODE request");
}

std::vector<uint8_t> EncodePutEncodeRequest(const PutEncodeRequest& p) {
  BodyWriter w;
  w.String(p.engine).String(p.text);
  PutParams(w, p.params);
  PutAudio(w, p.audio);
  PutOutput(w, p.output);
  return std::move(w.bytes());
}

Result<PutEncodeRequest> DecodePutEncodeRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  PutEncodeRequest p;
  p.engine = r.String(64);
  p.text = r.String();
  Result<OpusParams> params = ReadParams(r);
  if (!params) return params.error();
  p.params = *params;
  Result<AudioRef> audio = ReadAudio(r);
  if (!audio) return audio.error();
  p.audio = *audio;
  Result<OutputRef> output = ReadOutput(r);
  if (!output) return output.error();
  p.output = *output;
  return Finish(r, p, "PUT_ENCODE request");
}

std::vector<uint8_t> EncodeArenaRequest(uint64_t size) {
  BodyWriter w;
  w.U64(size);
  return std::move(w.bytes());
}

Result<uint64_t> DecodeArenaRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  uint64_t size = r.U64();
  return Finish(r, size, "ARENA request");
}

std::vector<uint8_t> EncodePutFileRequest(const PutFileRequest& p) {
  BodyWriter w;
  w.String(p.engine).Raw(p.key).U64(p.last_used_ns);
  return std::move(w.bytes());
}

Result<PutFileRequest> DecodePutFileRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  PutFileRequest p;
  p.engine = r.String(64);
  p.key = r.Take(32);
  p.last_used_ns = r.U64();
  return Finish(r, p, "PUT_FILE request (string engine, 32-byte key, u64 last_used_ns)");
}

std::vector<uint8_t> EncodePutFileReply(const PutFileReply& p) {
  BodyWriter w;
  w.U8(static_cast<uint8_t>(p.outcome)).U64(p.size);
  return std::move(w.bytes());
}

Result<PutFileReply> DecodePutFileReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  PutFileReply p;
  const uint8_t outcome = r.U8();
  p.size = r.U64();
  if (outcome > 2) return BadField("PUT_FILE reply outcome (expected 0–2)");
  p.outcome = static_cast<PutFileOutcome>(outcome);
  return Finish(r, p, "PUT_FILE reply");
}

std::vector<uint8_t> EncodeHasKeysRequest(const HasKeysRequest& h) {
  BodyWriter w;
  w.String(h.engine).U32(static_cast<uint32_t>(h.count())).Raw(h.keys);
  return std::move(w.bytes());
}

Result<HasKeysRequest> DecodeHasKeysRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  HasKeysRequest h;
  h.engine = r.String(64);
  const uint32_t count = r.U32();
  if (r.ok() && count > kMaxKeysPerHas) {
    return MakeError(Errc::kInvalidArgument, "HAS_KEYS asks for " + std::to_string(count) +
                                                 " keys, at most " +
                                                 std::to_string(kMaxKeysPerHas) + " per request");
  }
  h.keys = r.Take(size_t{count} * 32);
  return Finish(r, h, "HAS_KEYS request (string engine, u32 count, count × 32-byte key)");
}

std::vector<uint8_t> EncodeHasKeysReply(const std::vector<bool>& cached) {
  BodyWriter w;
  w.U32(static_cast<uint32_t>(cached.size()));
  for (bool c : cached) w.U8(c ? 1 : 0);
  return std::move(w.bytes());
}

Result<std::vector<bool>> DecodeHasKeysReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  const uint32_t count = r.U32();
  if (count > kMaxKeysPerHas) return BadField("HAS_KEYS reply count");
  std::vector<bool> cached;
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    const uint8_t c = r.U8();
    if (c > 1) return BadField("HAS_KEYS reply flag (expected 0 or 1)");
    cached.push_back(c == 1);
  }
  return Finish(r, cached, "HAS_KEYS reply");
}

std::vector<uint8_t> EncodeStatsRequest(uint8_t flags) {
  if (flags == 0) return {};
  return {flags};
}

Result<uint8_t> DecodeStatsRequest(std::span<const uint8_t> body) {
  if (body.empty()) return uint8_t{0};
  if (body.size() == 1 && (body[0] & ~(kStatsLimits | kStatsStreams)) == 0) return body[0];
  return BadField("STATS request (expected an empty body, or u8 flags: 1 limits, 2 streams)");
}

std::vector<uint8_t> EncodeAudioReply(AudioPlace place, uint64_t size,
                                      std::span<const uint8_t> bytes, FileId file) {
  BodyWriter w;
  w.U8(static_cast<uint8_t>(place)).U64(size);
  if (place == AudioPlace::kInline) w.Raw(bytes);
  if (place != AudioPlace::kInline && file.valid()) w.U64(file.nonce).U64(file.sequence);
  return std::move(w.bytes());
}

Result<AudioReply> DecodeAudioReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  AudioReply a;
  uint8_t place = r.U8();
  a.size = r.U64();
  if (!r.ok() || place > 2) return BadField("audio reply");
  a.place = static_cast<AudioPlace>(place);
  if (a.place == AudioPlace::kInline) {
    a.bytes = r.Take(a.size);
  } else if (r.ok() && !r.done()) {  // the file id, optional with kArena
    a.file.nonce = r.U64();
    a.file.sequence = r.U64();
  }
  if (a.place == AudioPlace::kUnchanged && !a.file.valid()) return BadField("audio reply");
  return Finish(r, a, "audio reply");
}

std::vector<uint8_t> EncodeStatsReply(const StatsReply& s) {
  BodyWriter w;
  w.U32(static_cast<uint32_t>(s.engines.size()));
  for (const EngineStatsWire& e : s.engines) {
    w.String(e.name).U64(e.entries).U64(e.bytes).U64(e.hits).U64(e.misses).U64(e.puts);
    w.U64(e.evictions).U64(e.variant_hits).U64(e.variant_misses);
  }
  w.U64(s.connections).U64(s.requests).U64(s.busy).U64(s.errors).U64(s.encodes);
  w.U64(s.shared_encodes);
  if (s.has_limits) w.U64(s.max_entries).U64(s.max_bytes);
  if (s.has_streams) {
    w.U64(s.streams_open).U64(s.streams_opened).U64(s.streams_stored).U64(s.streams_failed);
  }
  return std::move(w.bytes());
}

Result<StatsReply> DecodeStatsReply(std::span<const uint8_t> body, uint8_t asked) {
  BodyReader r(body);
  StatsReply s;
  uint32_t n = r.U32();
  if (n > 64) return BadField("STATS reply: engine count");
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    EngineStatsWire e;
    e.name = std::string(r.String(64));
    e.entries = r.U64();
    e.bytes = r.U64();
    e.hits = r.U64();
    e.misses = r.U64();
    e.puts = r.U64();
    e.evictions = r.U64();
    e.variant_hits = r.U64();
    e.variant_misses = r.U64();
    s.engines.push_back(std::move(e));
  }
  s.connections = r.U64();
  s.requests = r.U64();
  s.busy = r.U64();
  s.errors = r.U64();
  s.encodes = r.U64();
  s.shared_encodes = r.U64();
  // What was asked for follows, in this order; a daemon that predates a
  // flag sends nothing for it.
  if ((asked & kStatsLimits) && r.ok() && !r.done()) {
    s.has_limits = true;
    s.max_entries = r.U64();
    s.max_bytes = r.U64();
  }
  if ((asked & kStatsStreams) && r.ok() && !r.done()) {
    s.has_streams = true;
    s.streams_open = r.U64();
    s.streams_opened = r.U64();
    s.streams_stored = r.U64();
    s.streams_failed = r.U64();
  }
  return Finish(r, s, "STATS reply");
}

std::vector<uint8_t> EncodeErrorReply(const ErrorReply& e) {
  BodyWriter w;
  w.U16(static_cast<uint16_t>(e.code)).U16(0).U32(e.retry_after_ms).U64(e.needed).String(e.message);
  return std::move(w.bytes());
}

Result<ErrorReply> DecodeErrorReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  ErrorReply e;
  e.code = static_cast<ErrorCode>(r.U16());
  r.U16();
  e.retry_after_ms = r.U32();
  e.needed = r.U64();
  e.message = std::string(r.String());
  return Finish(r, e, "ERROR reply");
}

std::vector<uint8_t> EncodeStreamOpenRequest(const StreamOpenRequest& o) {
  BodyWriter w;
  w.U8(static_cast<uint8_t>(o.input)).U8(o.sample_format).U8(o.channels).U8(0);
  w.U32(o.sample_rate);
  PutParams(w, o.params);
  w.String(o.engine).String(o.text);
  return std::move(w.bytes());
}

Result<StreamOpenRequest> DecodeStreamOpenRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  StreamOpenRequest o;
  const uint8_t input = r.U8();
  o.sample_format = r.U8();
  o.channels = r.U8();
  const uint8_t zero = r.U8();
  o.sample_rate = r.U32();
  Result<OpusParams> params = ReadParams(r);
  if (!params) return params.error();
  o.params = *params;
  o.engine = r.String(64);
  o.text = r.String();
  if (!r.done()) {
    return BadField(
        "STREAM_OPEN request (u8 input, u8 sample_format, u8 channels, u8 0, u32 sample_rate, "
        "opus, string engine, string text)");
  }
  if (input > 1 || zero != 0) {
    return MakeError(Errc::kInvalidArgument, "STREAM_OPEN input = " + std::to_string(input) +
                                                 ", expected 0 (raw PCM) or 1 (WAV)");
  }
  o.input = static_cast<StreamInput>(input);
  if (o.input == StreamInput::kWav) {
    if (o.sample_format != 0 || o.channels != 0 || o.sample_rate != 0) {
      return MakeError(Errc::kInvalidArgument,
                       "STREAM_OPEN of a WAV names no format (sample_format, channels and "
                       "sample_rate must be 0: the WAV's header says them)");
    }
  } else {
    if (o.sample_format > 5) {
      return MakeError(Errc::kInvalidArgument,
                       "STREAM_OPEN sample_format = " + std::to_string(o.sample_format) +
                           ", expected 0 u8, 1 s16le, 2 s24le, 3 s32le, 4 f32le or 5 f64le");
    }
    if (o.channels < 1 || o.channels > 2) {
      return MakeError(
          Errc::kInvalidArgument,
          "STREAM_OPEN channels = " + std::to_string(o.channels) + ", expected 1 or 2");
    }
    if (o.sample_rate < 8000 || o.sample_rate > 192000) {
      return MakeError(Errc::kInvalidArgument,
                       "STREAM_OPEN sample_rate = " + std::to_string(o.sample_rate) +
                           " Hz, expected 8000–192000");
    }
  }
  if (o.engine.empty() != o.text.empty()) {
    return MakeError(Errc::kInvalidArgument,
                     "STREAM_OPEN names an engine without a text or a text without an engine: "
                     "give both (the finished stream is cached) or neither");
  }
  return o;
}

std::vector<uint8_t> EncodeStreamOpenReply(const StreamOpenReply& o) {
  BodyWriter w;
  w.U32(o.stream).U32(o.max_buffered_bytes).U32(o.idle_timeout_ms).U32(o.max_seconds);
  return std::move(w.bytes());
}

Result<StreamOpenReply> DecodeStreamOpenReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  StreamOpenReply o;
  o.stream = r.U32();
  o.max_buffered_bytes = r.U32();
  o.idle_timeout_ms = r.U32();
  o.max_seconds = r.U32();
  return Finish(r, o, "STREAM_OPEN reply");
}

std::vector<uint8_t> EncodeStreamPushRequest(const StreamPushRequest& p) {
  BodyWriter w;
  w.U32(p.stream);
  PutAudio(w, p.audio);
  return std::move(w.bytes());
}

Result<StreamPushRequest> DecodeStreamPushRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  StreamPushRequest p;
  p.stream = r.U32();
  Result<AudioRef> audio = ReadAudio(r);
  if (!audio) return audio.error();
  p.audio = *audio;
  return Finish(r, p, "STREAM_PUSH request (u32 stream, audio)");
}

std::vector<uint8_t> EncodeStreamPagesReply(std::span<const uint8_t> pages) {
  BodyWriter w;
  w.Bytes(pages);
  return std::move(w.bytes());
}

Result<std::span<const uint8_t>> DecodeStreamPagesReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  std::span<const uint8_t> pages = r.Bytes(kMaxFrameBody);
  return Finish(r, pages, "STREAM_PUSH reply (u32 length, pages)");
}

std::vector<uint8_t> EncodeStreamFinishReply(const StreamFinishReply& f) {
  BodyWriter w;
  w.Bytes(f.pages).U64(f.samples_48k).U8(static_cast<uint8_t>(f.cached)).String(f.note);
  return std::move(w.bytes());
}

Result<StreamFinishReply> DecodeStreamFinishReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  StreamFinishReply f;
  f.pages = r.Bytes(kMaxFrameBody);
  f.samples_48k = r.U64();
  const uint8_t cached = r.U8();
  f.note = r.String();
  if (cached > 2) return BadField("STREAM_FINISH reply: cached (expected 0, 1 or 2)");
  f.cached = static_cast<StreamCached>(cached);
  return Finish(r, f,
                "STREAM_FINISH reply (u32 length, pages, u64 samples_48k, u8 cached, string note)");
}

std::vector<uint8_t> EncodeStreamIdRequest(uint32_t stream) {
  BodyWriter w;
  w.U32(stream);
  return std::move(w.bytes());
}

Result<uint32_t> DecodeStreamIdRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  const uint32_t stream = r.U32();
  return Finish(r, stream, "STREAM_FINISH/STREAM_ABORT request (u32 stream)");
}

}  // namespace ttscache::ipc
