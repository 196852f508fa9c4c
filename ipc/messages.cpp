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

// STATS flag 8's block (docs/protocol.md, "STATS reply").
void PutCoordination(BodyWriter& w, const CoordinationStatsWire& c) {
  w.U64(c.claims).U64(c.claim_waits).U64(c.waits_served).U64(c.wait_timeouts);
  w.U64(c.lease_expiries).U64(c.takeovers).U64(c.claims_refused).U64(c.claims_open).U64(c.waiting);
  w.U32(static_cast<uint32_t>(c.slots.size()));
  for (const SlotStatsWire& s : c.slots) {
    w.String(s.name).U32(s.size).U32(s.held).U32(s.waiting);
    w.U64(s.acquired).U64(s.waited).U64(s.timeouts).U64(s.wait_us);
  }
}

// Bounds a daemon cannot exceed ([coordinate] in docs/config.md): a peer
// announcing more is not believed.
constexpr uint32_t kMaxSlotsListed = 4096;
constexpr uint32_t kMaxSlotNameBytes = 64;
constexpr uint32_t kMaxSlotSize = 1024;        // `slots`, `default_slots`
constexpr uint32_t kMaxSlotWaiting = 1000000;  // `max_slot_waiters`
constexpr uint32_t kMaxSlotHeld = 1u << 24;    // unlimited slots: connections × 64

Status ReadCoordination(BodyReader& r, CoordinationStatsWire& c) {
  c.claims = r.U64();
  c.claim_waits = r.U64();
  c.waits_served = r.U64();
  c.wait_timeouts = r.U64();
  c.lease_expiries = r.U64();
  c.takeovers = r.U64();
  c.claims_refused = r.U64();
  c.claims_open = r.U64();
  c.waiting = r.U64();
  const uint32_t n = r.U32();
  if (!r.ok()) return BadField("STATS reply: coordination block");
  if (n > kMaxSlotsListed) {
    return MakeError(Errc::kInvalidArgument, "malformed STATS reply: " + std::to_string(n) +
                                                 " slots, at most " +
                                                 std::to_string(kMaxSlotsListed));
  }
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    SlotStatsWire s;
    s.name = std::string(r.String(kMaxSlotNameBytes));
    s.size = r.U32();
    s.held = r.U32();
    s.waiting = r.U32();
    s.acquired = r.U64();
    s.waited = r.U64();
    s.timeouts = r.U64();
    s.wait_us = r.U64();
    if (!r.ok()) return BadField("STATS reply: slot (name of at most 64 bytes and its figures)");
    if (s.name.empty()) return BadField("STATS reply: a slot without a name");
    if (s.size > kMaxSlotSize || s.held > kMaxSlotHeld || s.waiting > kMaxSlotWaiting) {
      return MakeError(Errc::kInvalidArgument,
                       "malformed STATS reply: slot " + s.name + " size " + std::to_string(s.size) +
                           ", held " + std::to_string(s.held) + ", waiting " +
                           std::to_string(s.waiting) + " (at most " + std::to_string(kMaxSlotSize) +
                           ", " + std::to_string(kMaxSlotHeld) + ", " +
                           std::to_string(kMaxSlotWaiting) + ")");
    }
    c.slots.push_back(std::move(s));
  }
  if (!r.ok()) return BadField("STATS reply: coordination block");
  return {};
}

// STATS flag 16's block (docs/protocol.md, "STATS reply"): u8 enabled, u8
// state, u16 0, u32 servers, then the counters in TierStatsWire's order.
void PutTier(BodyWriter& w, const TierStatsWire& t) {
  w.U8(t.enabled ? 1 : 0).U8(static_cast<uint8_t>(t.state)).U16(0).U32(t.servers);
  w.U64(t.lookups).U64(t.coalesced).U64(t.hits).U64(t.variant_hits).U64(t.misses).U64(t.errors);
  w.U64(t.timeouts).U64(t.corrupt).U64(t.skipped).U64(t.writes).U64(t.write_errors);
  w.U64(t.dropped).U64(t.oversized).U64(t.queue_depth).U64(t.queue_capacity);
  w.U64(t.breaker_opens).U64(t.lookup_us);
}

// Only what holds for every daemon is checked: a known state, the reserved
// u16 zero, all zero when no tier is configured, the queue within its size.
// (hits + misses need not add up to lookups: a lookup under way is neither,
// and variant hits come from the same lookups.)
Status ReadTier(BodyReader& r, TierStatsWire& t) {
  const uint8_t enabled = r.U8(), state = r.U8();
  const uint16_t reserved = r.U16();
  t.servers = r.U32();
  for (uint64_t* field :
       {&t.lookups, &t.coalesced, &t.hits, &t.variant_hits, &t.misses, &t.errors, &t.timeouts,
        &t.corrupt, &t.skipped, &t.writes, &t.write_errors, &t.dropped, &t.oversized,
        &t.queue_depth, &t.queue_capacity, &t.breaker_opens, &t.lookup_us}) {
    *field = r.U64();
  }
  if (!r.ok()) return BadField("STATS reply: tier block (u8, u8, u16, u32 and 17 x u64)");
  if (enabled > 1) {
    return MakeError(Errc::kInvalidArgument, "malformed STATS reply: tier enabled = " +
                                                 std::to_string(enabled) + ", expected 0 or 1");
  }
  if (state > static_cast<uint8_t>(TierState::kProbing)) {
    return MakeError(Errc::kInvalidArgument,
                     "malformed STATS reply: tier state = " + std::to_string(state) +
                         ", expected 0 up, 1 down or 2 probing");
  }
  if (reserved != 0) {
    return MakeError(Errc::kInvalidArgument, "malformed STATS reply: tier reserved u16 = " +
                                                 std::to_string(reserved) + ", expected 0");
  }
  t.enabled = enabled == 1;
  t.state = static_cast<TierState>(state);
  if (!t.enabled && t != TierStatsWire{}) {
    return BadField("STATS reply: tier not enabled but with figures (every field must be 0)");
  }
  if (t.queue_depth > t.queue_capacity) {
    return MakeError(Errc::kInvalidArgument,
                     "malformed STATS reply: tier queue_depth " + std::to_string(t.queue_depth) +
                         " over its queue_capacity " + std::to_string(t.queue_capacity));
  }
  return {};
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
  // The claim block follows `known`, so `known` goes (zeros: none) whenever
  // the claim does.
  if (g.known.valid() || g.claim) w.U64(g.known.nonce).U64(g.known.sequence);
  if (g.claim) w.U8(1).U8(0).U16(0).U32(g.wait_ms);
  return std::move(w.bytes());
}

Result<GetRequest> DecodeGetRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  GetRequest g;
  g.engine = r.String(kMaxEngineField);
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
  if (r.ok() && !r.done()) {  // the optional claim block
    const uint8_t claim = r.U8(), zero8 = r.U8();
    const uint16_t zero16 = r.U16();
    const uint32_t wait_ms = r.U32();
    if (!r.ok()) {
      return BadField("GET claim block (u8 claim, u8 0, u16 0, u32 wait_ms after the known file)");
    }
    if (claim > 1) {
      return MakeError(Errc::kInvalidArgument,
                       "GET claim = " + std::to_string(claim) + ", expected 0 or 1");
    }
    if (zero8 != 0 || zero16 != 0) return BadField("GET claim block: reserved bytes (must be 0)");
    g.claim = claim == 1;
    g.wait_ms = g.claim ? wait_ms : 0;  // claim 0: a plain GET, the rest ignored
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
  p.engine = r.String(kMaxEngineField);
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
  p.engine = r.String(kMaxEngineField);
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
  p.engine = r.String(kMaxEngineField);
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
  h.engine = r.String(kMaxEngineField);
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
  if (body.size() == 1 && (body[0] & ~(kStatsLimits | kStatsStreams | kStatsDetail |
                                       kStatsCoordinate | kStatsTier)) == 0)
    return body[0];
  return BadField(
      "STATS request (expected an empty body, or u8 flags: 1 limits, 2 streams, 4 detail, 8 "
      "coordinate, 16 tier)");
}

std::vector<uint8_t> EncodeAudioReply(AudioPlace place, uint64_t size,
                                      std::span<const uint8_t> bytes, FileId file) {
  BodyWriter w;
  if (place == AudioPlace::kClaimed) return EncodeClaimedReply(0);  // use EncodeClaimedReply
  w.U8(static_cast<uint8_t>(place)).U64(size);
  if (place == AudioPlace::kInline) w.Raw(bytes);
  if (place != AudioPlace::kInline && file.valid()) w.U64(file.nonce).U64(file.sequence);
  return std::move(w.bytes());
}

std::vector<uint8_t> EncodeClaimedReply(uint32_t lease_ms) {
  BodyWriter w;
  w.U8(static_cast<uint8_t>(AudioPlace::kClaimed)).U64(0).U32(lease_ms);
  return std::move(w.bytes());
}

Result<AudioReply> DecodeAudioReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  AudioReply a;
  uint8_t place = r.U8();
  a.size = r.U64();
  if (!r.ok() || place > 3) return BadField("audio reply");
  a.place = static_cast<AudioPlace>(place);
  if (a.place == AudioPlace::kClaimed) {
    if (a.size != 0) return BadField("audio reply: claimed (place 3) with a size (must be 0)");
    a.lease_ms = r.U32();
    return Finish(r, a, "audio reply: claimed (u8 3, u64 0, u32 lease_ms)");
  }
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
  if (s.has_detail) {
    const StatsDetail& d = s.detail;
    w.U64(d.disk_free_bytes).U64(d.disk_total_bytes).U64(d.min_free_bytes).U64(d.max_age_s);
    w.U64(d.expired).U64(d.evicted_for_space).U64(d.deleted).U64(d.purged);
    w.U32(static_cast<uint32_t>(d.oldest_access_ns.size()));
    for (uint64_t t : d.oldest_access_ns) w.U64(t);
    w.U64(d.queue_depth).U64(d.queue_capacity).U64(d.connections_open).U64(d.forbidden);
    w.U32(kEncodeHistogramBuckets);
    for (uint64_t c : d.encode_buckets) w.U64(c);
    w.U64(d.encode_count).U64(d.encode_sum_us);
  }
  if (s.has_coordination) PutCoordination(w, s.coordination);
  if (s.has_tier) PutTier(w, s.tier);
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
  if ((asked & kStatsDetail) && r.ok() && !r.done()) {
    s.has_detail = true;
    StatsDetail& d = s.detail;
    d.disk_free_bytes = r.U64();
    d.disk_total_bytes = r.U64();
    d.min_free_bytes = r.U64();
    d.max_age_s = r.U64();
    d.expired = r.U64();
    d.evicted_for_space = r.U64();
    d.deleted = r.U64();
    d.purged = r.U64();
    uint32_t engines = r.U32();
    if (engines != s.engines.size()) return BadField("STATS reply: detail engine count");
    for (uint32_t i = 0; i < engines && r.ok(); ++i) d.oldest_access_ns.push_back(r.U64());
    d.queue_depth = r.U64();
    d.queue_capacity = r.U64();
    d.connections_open = r.U64();
    d.forbidden = r.U64();
    if (r.U32() != kEncodeHistogramBuckets) return BadField("STATS reply: histogram buckets");
    for (uint64_t& c : d.encode_buckets) c = r.U64();
    d.encode_count = r.U64();
    d.encode_sum_us = r.U64();
  }
  if ((asked & kStatsCoordinate) && r.ok() && !r.done()) {
    s.has_coordination = true;
    if (Status st = ReadCoordination(r, s.coordination); !st) return st.error();
  }
  if ((asked & kStatsTier) && r.ok() && !r.done()) {
    s.has_tier = true;
    if (Status st = ReadTier(r, s.tier); !st) return st.error();
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
  o.engine = r.String(kMaxEngineField);
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

namespace ttscache::ipc {

std::vector<uint8_t> EncodeDeleteRequest(const DeleteRequest& d) {
  BodyWriter w;
  w.String(d.engine).U8(static_cast<uint8_t>(d.by));
  if (d.by == DeleteBy::kText) {
    w.String(d.text);
  } else {
    w.Raw(d.key);
  }
  return std::move(w.bytes());
}

Result<DeleteRequest> DecodeDeleteRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  DeleteRequest d;
  d.engine = r.String(kMaxEngineField);
  uint8_t by = r.U8();
  if (!r.ok()) return BadField("DELETE request (string engine, u8 by, text or key)");
  if (by == 0) {
    d.text = r.String();
  } else if (by == 1) {
    d.by = DeleteBy::kKey;
    d.key = r.Take(32);
  } else {
    return BadField("DELETE request: by (expected 0 text or 1 key)");
  }
  return Finish(r, d, "DELETE request (string engine, u8 by, text or key)");
}

std::vector<uint8_t> EncodeDeleteReply(const DeleteReply& d) {
  BodyWriter w;
  w.U8(d.deleted ? 1 : 0).U64(d.bytes).U32(d.variants);
  return std::move(w.bytes());
}

Result<DeleteReply> DecodeDeleteReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  DeleteReply d;
  uint8_t deleted = r.U8();
  d.bytes = r.U64();
  d.variants = r.U32();
  if (deleted > 1) return BadField("DELETE reply: deleted");
  d.deleted = deleted == 1;
  return Finish(r, d, "DELETE reply");
}

std::vector<uint8_t> EncodePurgeRequest(std::string_view engine) {
  BodyWriter w;
  w.String(engine);
  return std::move(w.bytes());
}

Result<std::string_view> DecodePurgeRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  std::string_view engine = r.String(kMaxEngineField);
  return Finish(r, engine, "PURGE request (string engine)");
}

std::vector<uint8_t> EncodePurgeReply(const PurgeReply& p) {
  BodyWriter w;
  w.U64(p.entries).U64(p.bytes);
  return std::move(w.bytes());
}

Result<PurgeReply> DecodePurgeReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  PurgeReply p;
  p.entries = r.U64();
  p.bytes = r.U64();
  return Finish(r, p, "PURGE reply");
}

std::vector<uint8_t> EncodeListRequest(const ListRequest& l) {
  BodyWriter w;
  w.U64(l.cursor).U32(l.max_entries).String(l.engine);
  w.U64(l.min_idle_s).U64(l.max_idle_s).U64(l.min_bytes).U64(l.max_bytes);
  return std::move(w.bytes());
}

Result<ListRequest> DecodeListRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  ListRequest l;
  l.cursor = r.U64();
  l.max_entries = r.U32();
  l.engine = r.String(kMaxEngineField);
  l.min_idle_s = r.U64();
  l.max_idle_s = r.U64();
  l.min_bytes = r.U64();
  l.max_bytes = r.U64();
  if (r.ok() && (l.max_entries == 0 || l.max_entries > kMaxListEntries)) {
    return MakeError(Errc::kInvalidArgument,
                     "LIST request: max_entries " + std::to_string(l.max_entries) +
                         " (expected 1 to " + std::to_string(kMaxListEntries) + ")");
  }
  return Finish(r, l, "LIST request");
}

std::vector<uint8_t> EncodeListReply(const ListReply& l) {
  BodyWriter w;
  w.U64(l.next_cursor).U32(static_cast<uint32_t>(l.entries.size()));
  for (const ListEntry& e : l.entries) {
    w.String(e.engine).Raw(e.key).U64(e.wav_bytes).U64(e.total_bytes).U64(e.last_access_ns);
    w.U8(static_cast<uint8_t>(e.variants.size()));
    for (const ListVariant& v : e.variants) {
      PutParams(w, v.params);
      w.U64(v.bytes);
    }
  }
  return std::move(w.bytes());
}

Result<ListReply> DecodeListReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  ListReply l;
  l.next_cursor = r.U64();
  uint32_t n = r.U32();
  if (n > kMaxListEntries) return BadField("LIST reply: entry count");
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    ListEntry e;
    e.engine = std::string(r.String(kMaxEngineField));
    std::span<const uint8_t> key = r.Take(32);
    if (key.size() == 32) std::copy(key.begin(), key.end(), e.key.begin());
    e.wav_bytes = r.U64();
    e.total_bytes = r.U64();
    e.last_access_ns = r.U64();
    uint8_t variants = r.U8();
    if (variants > 16) return BadField("LIST reply: variant count");
    for (uint8_t v = 0; v < variants && r.ok(); ++v) {
      Result<OpusParams> params = ReadParams(r);
      if (!params) return params.error();
      e.variants.push_back({*params, r.U64()});
    }
    l.entries.push_back(std::move(e));
  }
  return Finish(r, l, "LIST reply");
}

std::vector<uint8_t> EncodeVerifyRequest(const VerifyRequest& v) {
  BodyWriter w;
  w.U8(v.repair ? 1 : 0);
  return std::move(w.bytes());
}

Result<VerifyRequest> DecodeVerifyRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  uint8_t repair = r.U8();
  if (r.ok() && repair > 1) return BadField("VERIFY request: repair (expected 0 or 1)");
  return Finish(r, VerifyRequest{repair == 1}, "VERIFY request (u8 repair)");
}

std::vector<uint8_t> EncodeVerifyReply(const VerifyReply& v) {
  BodyWriter w;
  w.U8(static_cast<uint8_t>(v.verdict)).U64(v.entries_checked).U64(v.files_checked);
  w.U64(v.problems_total).U32(static_cast<uint32_t>(v.problems.size()));
  for (const VerifyProblem& p : v.problems) {
    w.String(p.kind).String(p.path).String(p.detail).U8(p.repaired ? 1 : 0);
  }
  return std::move(w.bytes());
}

Result<VerifyReply> DecodeVerifyReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  VerifyReply v;
  uint8_t verdict = r.U8();
  v.entries_checked = r.U64();
  v.files_checked = r.U64();
  v.problems_total = r.U64();
  uint32_t n = r.U32();
  if (verdict > 2) return BadField("VERIFY reply: verdict");
  if (n > kMaxVerifyProblems) return BadField("VERIFY reply: problem count");
  v.verdict = static_cast<VerifyVerdict>(verdict);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    VerifyProblem p;
    p.kind = std::string(r.String(64));
    p.path = std::string(r.String(4096));
    p.detail = std::string(r.String(4096));
    p.repaired = r.U8() == 1;
    v.problems.push_back(std::move(p));
  }
  return Finish(r, v, "VERIFY reply");
}

std::vector<uint8_t> EncodeClaimDropRequest(const ClaimDropRequest& c) {
  BodyWriter w;
  w.String(c.engine).String(c.text);
  return std::move(w.bytes());
}

Result<ClaimDropRequest> DecodeClaimDropRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  ClaimDropRequest c;
  c.engine = r.String(kMaxEngineField);
  c.text = r.String();
  return Finish(r, c, "CLAIM_DROP request (string engine, string text)");
}

std::vector<uint8_t> EncodeClaimDropReply(bool dropped) {
  BodyWriter w;
  w.U8(dropped ? 1 : 0);
  return std::move(w.bytes());
}

Result<bool> DecodeClaimDropReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  const uint8_t dropped = r.U8();
  if (r.ok() && dropped > 1) return BadField("CLAIM_DROP reply: dropped (expected 0 or 1)");
  return Finish(r, dropped == 1, "CLAIM_DROP reply (u8 dropped)");
}

std::vector<uint8_t> EncodeSlotAcquireRequest(const SlotAcquireRequest& s) {
  BodyWriter w;
  w.String(s.name).U32(s.wait_ms);
  return std::move(w.bytes());
}

Result<SlotAcquireRequest> DecodeSlotAcquireRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  SlotAcquireRequest s;
  s.name = r.String(kMaxSlotNameBytes);
  s.wait_ms = r.U32();
  return Finish(r, s, "SLOT_ACQUIRE request (string name of at most 64 bytes, u32 wait_ms)");
}

std::vector<uint8_t> EncodeSlotAcquireReply(const SlotAcquireReply& s) {
  BodyWriter w;
  w.U64(s.hold).U32(s.size).U32(s.held);
  return std::move(w.bytes());
}

Result<SlotAcquireReply> DecodeSlotAcquireReply(std::span<const uint8_t> body) {
  BodyReader r(body);
  SlotAcquireReply s;
  s.hold = r.U64();
  s.size = r.U32();
  s.held = r.U32();
  if (r.ok() && s.hold == 0) return BadField("SLOT_ACQUIRE reply: hold 0 (holds are never 0)");
  return Finish(r, s, "SLOT_ACQUIRE reply (u64 hold, u32 size, u32 held)");
}

std::vector<uint8_t> EncodeSlotReleaseRequest(uint64_t hold) {
  BodyWriter w;
  w.U64(hold);
  return std::move(w.bytes());
}

Result<uint64_t> DecodeSlotReleaseRequest(std::span<const uint8_t> body) {
  BodyReader r(body);
  const uint64_t hold = r.U64();
  return Finish(r, hold, "SLOT_RELEASE request (u64 hold)");
}

}  // namespace ttscache::ipc
