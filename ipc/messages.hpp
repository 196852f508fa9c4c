// The bodies of every request and reply (docs/protocol.md). Decode functions
// validate every field (lengths within the body, enums in range, Opus
// parameters in range, nothing left over) and return kInvalidArgument naming
// the field; views into the body stay valid while the body lives.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/audio/opus_params.hpp"
#include "core/result.hpp"
#include "ipc/protocol.hpp"
#include "ipc/wire_codec.hpp"

namespace ttscache::ipc {

// Audio in a request: inline bytes, or (offset, length) in the arena.
struct AudioRef {
  AudioPlace place = AudioPlace::kInline;
  std::span<const uint8_t> bytes;   // kInline
  uint64_t offset = 0, length = 0;  // kArena
};

// Where a reply's audio goes: inline in the reply, or into the arena.
struct OutputRef {
  AudioPlace place = AudioPlace::kInline;
  uint64_t offset = 0, capacity = 0;  // kArena
};

struct HelloReply {
  uint16_t version = kVersion;
  uint32_t max_frame_body = kMaxFrameBody;
  uint32_t max_text_bytes = 0;
  uint32_t max_inflight = kMaxInflightPerConnection;
  uint64_t max_arena_bytes = kMaxArenaBytes;
};

// Names one cached file for as long as the daemon keeps it open: a random
// nonce per daemon start and a sequence, never reused for different content.
struct FileId {
  uint64_t nonce = 0, sequence = 0;
  bool valid() const { return nonce != 0 || sequence != 0; }
  bool operator==(const FileId&) const = default;
};

struct GetRequest {
  std::string_view engine, text;
  AudioFormat format = AudioFormat::kWav;
  OpusParams params;  // for kOpus
  Delivery delivery = Delivery::kInline;
  FileId known;  // optional (descriptor delivery): the file the client already maps
  // The optional claim block (docs/protocol.md, "Coordinating synthesis"):
  // on a miss, claim it or wait up to wait_ms for the claim's put. Encoded
  // only when claim is set (known then goes too, zeros if invalid).
  bool claim = false;
  uint32_t wait_ms = 0;
};

struct PutRequest {
  std::string_view engine, text;
  AudioRef audio;
};

struct EncodeRequest {
  OpusParams params;
  AudioRef audio;
  OutputRef output;
};

struct PutEncodeRequest {
  std::string_view engine, text;
  OpusParams params;
  AudioRef audio;
  OutputRef output;
};

// PUT_FILE: the WAV arrives as a passed descriptor and is stored under the
// key as given (the Node module's file name), with a last-used time.
struct PutFileRequest {
  std::string_view engine;
  std::span<const uint8_t> key;  // 32 bytes: the SHA-256 the entry is named by
  uint64_t last_used_ns = 0;     // Unix time in ns; 0: now
};

struct PutFileReply {
  PutFileOutcome outcome = PutFileOutcome::kStored;
  uint64_t size = 0;  // bytes of the WAV
};

// HAS_KEYS: which of these keys (32 bytes each, SHA-256) the engine holds.
struct HasKeysRequest {
  std::string_view engine;
  std::span<const uint8_t> keys;  // count × 32 bytes, count ≤ kMaxKeysPerHas
  size_t count() const { return keys.size() / 32; }
};

// GET, ENCODE and PUT_ENCODE replies: the audio's size, then the bytes when
// inline; with a descriptor the frame carries the file (kFlagFd); in the
// arena the bytes are at the request's output offset.
struct AudioReply {
  AudioPlace place = AudioPlace::kInline;  // kArena also stands for "descriptor" in GET
  uint64_t size = 0;
  std::span<const uint8_t> bytes;
  FileId file;            // GET by descriptor: the file sent (kArena) or still current (kUnchanged)
  uint32_t lease_ms = 0;  // kClaimed: the claim's lease
};

// CLAIM_DROP: gives up this connection's claim on (engine, text).
struct ClaimDropRequest {
  std::string_view engine, text;
};

// SLOT_ACQUIRE: one unit of the slot `name`, waiting up to wait_ms.
struct SlotAcquireRequest {
  std::string_view name;
  uint32_t wait_ms = 0;
};
struct SlotAcquireReply {
  uint64_t hold = 0;  // never 0
  uint32_t size = 0;  // 0: no limit
  uint32_t held = 0;  // units held now, this one included
};

// STATS flag kStatsCoordinate: claims since start and now, and each slot.
struct SlotStatsWire {
  std::string name;
  uint32_t size = 0, held = 0, waiting = 0;
  uint64_t acquired = 0, waited = 0, timeouts = 0, wait_us = 0;
};
struct CoordinationStatsWire {
  uint64_t claims = 0, claim_waits = 0, waits_served = 0, wait_timeouts = 0, lease_expiries = 0,
           takeovers = 0, claims_refused = 0;
  uint64_t claims_open = 0, waiting = 0;
  std::vector<SlotStatsWire> slots;
};

// STATS flag kStatsTier: the fleet-shared second tier (docs/fleet.md).
// Counters since start; the state and queue depth now. All zero when the
// daemon has no tier configured (enabled 0).
enum class TierState : uint8_t { kUp = 0, kDown = 1, kProbing = 2 };  // the circuit breaker
struct TierStatsWire {
  bool enabled = false;
  TierState state = TierState::kUp;
  uint32_t servers = 0;  // configured
  uint64_t lookups = 0, coalesced = 0, hits = 0, variant_hits = 0, misses = 0, errors = 0,
           timeouts = 0, corrupt = 0, skipped = 0, writes = 0, write_errors = 0, dropped = 0,
           oversized = 0, queue_depth = 0, queue_capacity = 0, breaker_opens = 0, lookup_us = 0;
  bool operator==(const TierStatsWire&) const = default;
};

// STREAM_OPEN: the input's format (raw PCM: sample format, channels, rate;
// a WAV: all three 0, read from its header), the Opus parameters, and
// optionally the cache entry the finished stream becomes (empty engine: none).
struct StreamOpenRequest {
  StreamInput input = StreamInput::kRawPcm;
  uint8_t sample_format = 1;  // SampleEncoding: 0 u8, 1 s16le, 2 s24le, 3 s32le, 4 f32le, 5 f64le
  uint8_t channels = 1;
  uint32_t sample_rate = 22050;
  OpusParams params;
  std::string_view engine, text;
};

// The stream's id on this connection and the limits it runs under.
struct StreamOpenReply {
  uint32_t stream = 0;
  uint32_t max_buffered_bytes = 0;  // pushed and not yet encoded; more ends the stream
  uint32_t idle_timeout_ms = 0;     // no request on the stream for this long ends it
  uint32_t max_seconds = 0;         // of input audio
};

struct StreamPushRequest {
  uint32_t stream = 0;
  AudioRef audio;
};

// STREAM_FINISH's reply: the last pages (the end-of-stream page with the
// trimmed granule), the decoded length, and what became of the cache entry.
struct StreamFinishReply {
  std::span<const uint8_t> pages;
  uint64_t samples_48k = 0;
  StreamCached cached = StreamCached::kNotAsked;
  std::string_view note;  // why it was not stored (kNotStored), else empty
};

// STATS flag kStatsDetail: what monitoring needs beyond the counters.
inline constexpr size_t kEncodeHistogramBuckets = 12;
// Upper bounds of the encode duration histogram, in µs (the last bucket,
// +Inf, is implied: count - sum of the others).
inline constexpr uint64_t kEncodeBucketBoundsUs[kEncodeHistogramBuckets] = {
    1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000, 2000000, 5000000};

struct StatsDetail {
  uint64_t disk_free_bytes = 0, disk_total_bytes = 0;  // statvfs of the cache dir (for non-root)
  uint64_t min_free_bytes = 0;                         // the min_free in force, in bytes (0: none)
  uint64_t max_age_s = 0;                              // 0: none
  uint64_t expired = 0;                                // entries removed by max_age
  uint64_t evicted_for_space = 0;                      // entries removed by min_free
  uint64_t deleted = 0, purged = 0;                    // entries removed by DELETE and PURGE
  std::vector<uint64_t> oldest_access_ns;              // per engine (STATS order); 0: empty
  uint64_t queue_depth = 0, queue_capacity = 0;        // jobs queued now; queue_depth setting
  uint64_t connections_open = 0, forbidden = 0;
  // Encodes finished since start: cumulative counts per bucket bound (as
  // Prometheus `le`), then the total count and the sum of durations.
  std::array<uint64_t, kEncodeHistogramBuckets> encode_buckets{};
  uint64_t encode_count = 0, encode_sum_us = 0;
};

struct EngineStatsWire {
  std::string name;
  uint64_t entries, bytes, hits, misses, puts, evictions, variant_hits, variant_misses;
};

struct StatsReply {
  std::vector<EngineStatsWire> engines;
  uint64_t connections = 0, requests = 0, busy = 0, errors = 0, encodes = 0, shared_encodes = 0;
  // Present when the request asked for them (a STATS body of u8 1) and the
  // daemon knows them: max_entries per engine, max_bytes (0: none).
  bool has_limits = false;
  uint64_t max_entries = 0, max_bytes = 0;
  // Present when asked (kStatsStreams) and known: encode streams open now,
  // opened since start, finished and stored in the cache, and ended by an
  // error, an abort, a limit or a client that left.
  bool has_streams = false;
  uint64_t streams_open = 0, streams_opened = 0, streams_stored = 0, streams_failed = 0;
  // Present when asked (kStatsDetail) and known.
  bool has_detail = false;
  StatsDetail detail;
  // Present when asked (kStatsCoordinate) and known.
  bool has_coordination = false;
  CoordinationStatsWire coordination;
  // Present when asked (kStatsTier) and known.
  bool has_tier = false;
  TierStatsWire tier;
};

// DELETE: one entry, named by (engine, text) or (engine, key). `engine`
// may be "engine/voice". Admin only.
struct DeleteRequest {
  std::string_view engine;
  DeleteBy by = DeleteBy::kText;
  std::string_view text;         // kText
  std::span<const uint8_t> key;  // kKey: 32 bytes
};

// Whether the entry was cached (and is now gone), and the bytes freed (WAV
// and variants) and variant files removed with it.
struct DeleteReply {
  bool deleted = false;
  uint64_t bytes = 0;
  uint32_t variants = 0;
};

// PURGE: "engine" drops every entry of the engine, all voices included;
// "engine/voice" only that voice's. Admin only.
struct PurgeReply {
  uint64_t entries = 0, bytes = 0;
};

// LIST: a page of the index. `cursor` 0 starts; the reply's next_cursor
// continues (0: the end). Filters (0 = no bound): engine ("engine" with all
// its voices, or "engine/voice"; empty = all), idle time (since last use)
// and total bytes (WAV + variants), both bounds inclusive.
struct ListRequest {
  uint64_t cursor = 0;
  uint32_t max_entries = kMaxListEntries;  // 1..kMaxListEntries
  std::string_view engine;
  uint64_t min_idle_s = 0, max_idle_s = 0;
  uint64_t min_bytes = 0, max_bytes = 0;
};

struct ListVariant {
  OpusParams params;
  uint64_t bytes = 0;
};

struct ListEntry {
  std::string engine;  // "engine" or "engine/voice"
  std::array<uint8_t, 32> key{};
  uint64_t wav_bytes = 0, total_bytes = 0;
  uint64_t last_access_ns = 0;  // Unix time
  std::vector<ListVariant> variants;
};

struct ListReply {
  uint64_t next_cursor = 0;  // 0: no more
  std::vector<ListEntry> entries;
};

// VERIFY: check the index against the folder and every WAV header;
// `repair` (admin only) fixes what it can without losing a sound entry.
struct VerifyRequest {
  bool repair = false;
};

struct VerifyProblem {
  std::string kind;    // short and stable: "missing-file", "size-mismatch", "bad-wav", ...
  std::string path;    // relative to the cache dir ("" for the index as a whole)
  std::string detail;  // what was found and what was expected
  bool repaired = false;
};

struct VerifyReply {
  VerifyVerdict verdict = VerifyVerdict::kClean;
  uint64_t entries_checked = 0, files_checked = 0;
  uint64_t problems_total = 0;          // may exceed problems.size()
  std::vector<VerifyProblem> problems;  // the first kMaxVerifyProblems
};

struct ErrorReply {
  ErrorCode code = ErrorCode::kInternal;
  uint32_t retry_after_ms = 0;
  uint64_t needed = 0;
  std::string message;
};

std::vector<uint8_t> EncodeHelloRequest(uint16_t min_version, uint16_t max_version);
std::vector<uint8_t> EncodeHelloReply(const HelloReply& r);
std::vector<uint8_t> EncodeGetRequest(const GetRequest& r);
std::vector<uint8_t> EncodePutRequest(const PutRequest& r);
std::vector<uint8_t> EncodeEncodeRequest(const EncodeRequest& r);
std::vector<uint8_t> EncodePutEncodeRequest(const PutEncodeRequest& r);
std::vector<uint8_t> EncodeArenaRequest(uint64_t size);
std::vector<uint8_t> EncodePutFileRequest(const PutFileRequest& r);
std::vector<uint8_t> EncodePutFileReply(const PutFileReply& r);
std::vector<uint8_t> EncodeHasKeysRequest(const HasKeysRequest& r);
// One byte per key asked, in order: 1 cached, 0 not.
std::vector<uint8_t> EncodeHasKeysReply(const std::vector<bool>& cached);
// STATS: an empty body, or u8 flags (kStatsLimits, kStatsStreams).
std::vector<uint8_t> EncodeStatsRequest(uint8_t flags);
std::vector<uint8_t> EncodeStreamOpenRequest(const StreamOpenRequest& r);
std::vector<uint8_t> EncodeStreamOpenReply(const StreamOpenReply& r);
std::vector<uint8_t> EncodeStreamPushRequest(const StreamPushRequest& r);
// PUSH's reply: the Ogg pages this chunk completed (often none).
std::vector<uint8_t> EncodeStreamPagesReply(std::span<const uint8_t> pages);
std::vector<uint8_t> EncodeStreamFinishReply(const StreamFinishReply& r);
// FINISH and ABORT name the stream only.
std::vector<uint8_t> EncodeStreamIdRequest(uint32_t stream);
std::vector<uint8_t> EncodeAudioReply(AudioPlace place, uint64_t size,
                                      std::span<const uint8_t> bytes, FileId file = {});
std::vector<uint8_t> EncodeStatsReply(const StatsReply& r);
std::vector<uint8_t> EncodeErrorReply(const ErrorReply& r);
std::vector<uint8_t> EncodeDeleteRequest(const DeleteRequest& r);
std::vector<uint8_t> EncodeDeleteReply(const DeleteReply& r);
std::vector<uint8_t> EncodePurgeRequest(std::string_view engine);
std::vector<uint8_t> EncodePurgeReply(const PurgeReply& r);
std::vector<uint8_t> EncodeListRequest(const ListRequest& r);
std::vector<uint8_t> EncodeListReply(const ListReply& r);
std::vector<uint8_t> EncodeVerifyRequest(const VerifyRequest& r);
std::vector<uint8_t> EncodeVerifyReply(const VerifyReply& r);
// GET's claimed reply: place kClaimed, size 0, u32 lease_ms.
std::vector<uint8_t> EncodeClaimedReply(uint32_t lease_ms);
std::vector<uint8_t> EncodeClaimDropRequest(const ClaimDropRequest& r);
std::vector<uint8_t> EncodeClaimDropReply(bool dropped);
std::vector<uint8_t> EncodeSlotAcquireRequest(const SlotAcquireRequest& r);
std::vector<uint8_t> EncodeSlotAcquireReply(const SlotAcquireReply& r);
std::vector<uint8_t> EncodeSlotReleaseRequest(uint64_t hold);

Result<std::pair<uint16_t, uint16_t>> DecodeHelloRequest(std::span<const uint8_t> body);
Result<HelloReply> DecodeHelloReply(std::span<const uint8_t> body);
Result<GetRequest> DecodeGetRequest(std::span<const uint8_t> body);
Result<PutRequest> DecodePutRequest(std::span<const uint8_t> body);
Result<EncodeRequest> DecodeEncodeRequest(std::span<const uint8_t> body);
Result<PutEncodeRequest> DecodePutEncodeRequest(std::span<const uint8_t> body);
Result<uint64_t> DecodeArenaRequest(std::span<const uint8_t> body);
Result<PutFileRequest> DecodePutFileRequest(std::span<const uint8_t> body);
Result<PutFileReply> DecodePutFileReply(std::span<const uint8_t> body);
Result<HasKeysRequest> DecodeHasKeysRequest(std::span<const uint8_t> body);
Result<std::vector<bool>> DecodeHasKeysReply(std::span<const uint8_t> body);
// The STATS request's flags (0 for an empty body).
Result<uint8_t> DecodeStatsRequest(std::span<const uint8_t> body);
Result<StreamOpenRequest> DecodeStreamOpenRequest(std::span<const uint8_t> body);
Result<StreamOpenReply> DecodeStreamOpenReply(std::span<const uint8_t> body);
Result<StreamPushRequest> DecodeStreamPushRequest(std::span<const uint8_t> body);
Result<std::span<const uint8_t>> DecodeStreamPagesReply(std::span<const uint8_t> body);
Result<StreamFinishReply> DecodeStreamFinishReply(std::span<const uint8_t> body);
Result<uint32_t> DecodeStreamIdRequest(std::span<const uint8_t> body);
Result<AudioReply> DecodeAudioReply(std::span<const uint8_t> body);
// `asked`: the flags the request sent; what a daemon appended for them is read.
Result<StatsReply> DecodeStatsReply(std::span<const uint8_t> body, uint8_t asked = kStatsLimits);
Result<ErrorReply> DecodeErrorReply(std::span<const uint8_t> body);
Result<DeleteRequest> DecodeDeleteRequest(std::span<const uint8_t> body);
Result<DeleteReply> DecodeDeleteReply(std::span<const uint8_t> body);
Result<std::string_view> DecodePurgeRequest(std::span<const uint8_t> body);
Result<PurgeReply> DecodePurgeReply(std::span<const uint8_t> body);
Result<ListRequest> DecodeListRequest(std::span<const uint8_t> body);
Result<ListReply> DecodeListReply(std::span<const uint8_t> body);
Result<VerifyRequest> DecodeVerifyRequest(std::span<const uint8_t> body);
Result<VerifyReply> DecodeVerifyReply(std::span<const uint8_t> body);
Result<ClaimDropRequest> DecodeClaimDropRequest(std::span<const uint8_t> body);
Result<bool> DecodeClaimDropReply(std::span<const uint8_t> body);
Result<SlotAcquireRequest> DecodeSlotAcquireRequest(std::span<const uint8_t> body);
Result<SlotAcquireReply> DecodeSlotAcquireReply(std::span<const uint8_t> body);
Result<uint64_t> DecodeSlotReleaseRequest(std::span<const uint8_t> body);

}  // namespace ttscache::ipc
