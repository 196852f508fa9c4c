// libttscache: the C++ client of ttscached (docs/protocol.md, docs/clients.md).
//
// A Client owns one connection. Calls are synchronous, each with the
// connection's timeout; Send*/Receive* pipeline several requests on one
// connection (replies may arrive out of order; they are matched by id). After
// a daemon restart the next call reconnects once (and re-registers the arena)
// before giving up. A call that times out is not retried (the caller's bound
// is spent) and its late reply is discarded. Errors carry the daemon's
// message; Errc::kNotFound is a cache miss, Errc::kUnavailable means no daemon
// answers at the socket or it did not answer within the timeout.
//
// The client does not trust what answers at the socket. At connect it checks
// the peer's uid (SO_PEERCRED): by default the daemon must run as the owner of
// the socket file or as root; ClientOptions::daemon_uid names it explicitly
// (root is always accepted: under socket activation the peer the kernel
// reports is systemd, which created the listening socket).
// A passed descriptor must be a regular file at least as long as announced
// (so a read can never raise SIGBUS), sizes must lie inside the ranges asked
// for, and a reply to a request that is not outstanding ends the connection
// (Errc::kInternal), so nothing received grows without bound.
//
// Audio results are AudioBuffers (audio_buffer.hpp). The arena is a sealed
// memfd shared with the daemon: write a WAV into arena() (ArenaAllocator
// carves it up) and Put/Encode it by offset, with Opus written straight back.
// No exception leaves a Client call: a failed allocation is Errc::kOutOfMemory.
// Thread-safety: a Client is used by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ttscache/audio_buffer.hpp"
#include "ttscache/encode_stream.hpp"
#include "ttscache/export.hpp"
#include "ttscache/opus_params.hpp"
#include "ttscache/result.hpp"

namespace ttscache {
namespace internal {
class ClientImpl;  // the library's own: the connection and what it keeps
}

struct ClientOptions {
  std::string socket_path;
  int timeout_ms = 10000;
  // The uid the daemon must run as; -1: the socket file's owner. Root always passes.
  // Another peer is refused with Errc::kForbidden.
  int64_t daemon_uid = -1;
};

enum class Format { kWav, kOpus };

// OpusParams with bitrate 0: "the daemon's configured settings".
inline OpusParams DaemonDefaultOpus() {
  OpusParams p;
  p.bitrate_kbps = 0;
  return p;
}

// What the daemon announced at HELLO: its protocol version and limits.
struct Hello {
  uint16_t version = 0;
  uint32_t max_frame_body = 0;
  uint32_t max_text_bytes = 0;
  uint32_t max_inflight = 0;
  uint64_t max_arena_bytes = 0;
};

struct EngineStats {
  std::string name;
  uint64_t entries = 0, bytes = 0, hits = 0, misses = 0, puts = 0, evictions = 0, variant_hits = 0,
           variant_misses = 0;
};

struct Stats {
  std::vector<EngineStats> engines;
  uint64_t connections = 0, requests = 0, busy = 0, errors = 0, encodes = 0, shared_encodes = 0;
  // StatsWithLimits/StatsWithStreams; false from a daemon that predates them.
  // max_entries per engine and max_bytes (0: none).
  bool has_limits = false;
  uint64_t max_entries = 0, max_bytes = 0;
  // Encode streams open now, opened since start, finished and stored, and
  // ended by an error, an abort, a limit or a client that left.
  bool has_streams = false;
  uint64_t streams_open = 0, streams_opened = 0, streams_stored = 0, streams_failed = 0;
};

// What PutFileByKey did: stored the file; found the key already cached (the
// daemon's entry is kept); or stored it as the least recently used entry of
// a full engine, so it was evicted at once.
enum class PutFileOutcome : uint8_t { kStored = 0, kAlreadyCached = 1, kEvictedAtOnce = 2 };
struct PutFileResult {
  PutFileOutcome outcome = PutFileOutcome::kStored;
  uint64_t size = 0;  // bytes of the file
};

// --- Operating the cache (docs/protocol.md, "Operating the cache") ---
// Every `engine` below is "engine" or "engine/voice" (EngineWithVoice).

// What Delete removed: whether the entry was cached (false is not an
// error), the bytes its files held (WAV and variants) and its variant count.
struct DeleteResult {
  bool deleted = false;
  uint64_t bytes = 0;
  uint32_t variants = 0;
};

struct PurgeResult {
  uint64_t entries = 0, bytes = 0;
};

// List's filters; 0 is "no bound", bounds are inclusive. `engine`: "" (all),
// "engine" (with all its voices) or "engine/voice". Idle time is seconds
// since the entry's last use; bytes are its total (WAV and variants).
struct ListFilter {
  std::string engine;
  uint64_t min_idle_s = 0, max_idle_s = 0;
  uint64_t min_bytes = 0, max_bytes = 0;
};

struct ListedVariant {
  OpusParams params;
  uint64_t bytes = 0;
};

struct ListedEntry {
  std::string engine;  // "engine" or "engine/voice"
  std::array<uint8_t, 32> key{};
  uint64_t wav_bytes = 0, total_bytes = 0;
  uint64_t last_access_ns = 0;  // Unix time
  std::vector<ListedVariant> variants;
};

// One page: at most the entries asked for (possibly none while more
// follow); next_cursor 0 is the end.
struct ListPage {
  std::vector<ListedEntry> entries;
  uint64_t next_cursor = 0;
};

enum class VerifyVerdict : uint8_t { kClean = 0, kRepaired = 1, kDamaged = 2 };

struct VerifyProblem {
  std::string kind;    // short and stable ("missing-file", "bad-wav", ...; docs/cli.md)
  std::string path;    // relative to the cache dir ("" for the index itself)
  std::string detail;  // what was found and what was expected
  bool repaired = false;
};

struct VerifyResult {
  VerifyVerdict verdict = VerifyVerdict::kClean;
  uint64_t entries_checked = 0, files_checked = 0;
  uint64_t problems_total = 0;          // may exceed problems.size()
  std::vector<VerifyProblem> problems;  // the first 1,000 at most
};

// STATS with every detail (a new type: Stats' layout is part of the ABI).
// `stats` has the limits and stream counters; has_detail is false from a
// daemon that predates the detail (the fields below are then 0/empty).
struct StatsDetail {
  ttscache::Stats stats;
  bool has_detail = false;
  uint64_t disk_free_bytes = 0, disk_total_bytes = 0;  // statvfs of the cache dir
  uint64_t min_free_bytes = 0, max_age_s = 0;          // in force; 0: none
  // Entries removed since start by max_age, min_free, Delete, Purge.
  uint64_t expired = 0, evicted_for_space = 0, deleted = 0, purged = 0;
  std::vector<uint64_t> oldest_access_ns;  // per engine (stats.engines order); 0: empty
  uint64_t queue_depth = 0, queue_capacity = 0;
  uint64_t connections_open = 0, forbidden = 0;
  // Encode durations: cumulative counts of encodes that took at most
  // kEncodeBucketBoundsUs[i] (as Prometheus' `le`), the total and the sum.
  static constexpr size_t kEncodeBuckets = 12;
  static constexpr std::array<uint64_t, kEncodeBuckets> kEncodeBucketBoundsUs = {
      1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000, 2000000, 5000000};
  std::array<uint64_t, kEncodeBuckets> encode_buckets{};
  uint64_t encode_count = 0, encode_sum_us = 0;

  // hits / (hits + misses) of engine `i` (of all engines for TotalHitRatio);
  // 0 when nothing was asked. REQUIRES: i < stats.engines.size().
  double HitRatio(size_t i) const {
    const EngineStats& e = stats.engines[i];
    return e.hits + e.misses ? static_cast<double>(e.hits) / static_cast<double>(e.hits + e.misses)
                             : 0.0;
  }
  double TotalHitRatio() const {
    uint64_t hits = 0, asked = 0;
    for (const EngineStats& e : stats.engines) hits += e.hits, asked += e.hits + e.misses;
    return asked ? static_cast<double>(hits) / static_cast<double>(asked) : 0.0;
  }
};

// --- Coordinating synthesis (docs/protocol.md, "Coordinating synthesis") ---

// What GetOrClaim found: the entry (`audio`), or `claimed`: a miss that
// this client now holds the claim on — synthesize the phrase and Put it
// within lease_ms (or DropClaim it); other clients' GetOrClaim of the same
// phrase wait for that Put.
struct ClaimedGet {
  AudioBuffer audio;  // empty when claimed
  bool claimed = false;
  uint32_t lease_ms = 0;
};

// A unit of a synthesis slot, held until ReleaseSlot or the connection closes.
struct SlotHold {
  uint64_t id = 0;    // never 0 once acquired
  uint32_t size = 0;  // the slot's size (0: no limit)
  uint32_t held = 0;  // units held when this one was granted, this one included
};

struct SlotStats {
  std::string name;
  uint32_t size = 0, held = 0, waiting = 0;
  uint64_t acquired = 0, waited = 0, timeouts = 0, wait_us = 0;
};

// Claims and slots since the daemon started (claims_open, waiting, held and
// waiting per slot: now). has_coordination is false from a daemon that
// predates them.
struct CoordinationStats {
  bool has_coordination = false;
  uint64_t claims = 0, claim_waits = 0, waits_served = 0, wait_timeouts = 0, lease_expiries = 0,
           takeovers = 0, claims_refused = 0;
  uint64_t claims_open = 0, waiting = 0;
  std::vector<SlotStats> slots;
};

// --- The fleet's second tier (docs/fleet.md) ---

// The tier's circuit breaker: down, lookups and writes are skipped; probing,
// one lookup tries whether the pool answers again.
enum class TierState : uint8_t { kUp = 0, kDown = 1, kProbing = 2 };

// The tier's counters since the daemon started (state, queue_depth: now);
// docs/protocol.md, "STATS reply", flag 16, says what each counts.
// has_tier is false from a daemon that predates the tier; enabled is false
// when the daemon has no [tier] configured, and every figure is then 0.
struct TierStats {
  bool has_tier = false;
  bool enabled = false;
  TierState state = TierState::kUp;
  uint32_t servers = 0;  // configured
  uint64_t lookups = 0, coalesced = 0, hits = 0, variant_hits = 0, misses = 0, errors = 0,
           timeouts = 0, corrupt = 0, skipped = 0, writes = 0, write_errors = 0, dropped = 0,
           oversized = 0, queue_depth = 0, queue_capacity = 0, breaker_opens = 0, lookup_us = 0;
  // hits / lookups: the share of the tier's lookups that found the WAV; 0
  // before any.
  double HitRatio() const {
    return lookups ? static_cast<double>(hits) / static_cast<double>(lookups) : 0.0;
  }
};

// "engine" or "engine/voice" (an empty voice: the engine alone), as every
// engine field takes it. The daemon checks the names.
inline std::string EngineWithVoice(std::string_view engine, std::string_view voice) {
  std::string field(engine);
  if (!voice.empty()) field.append("/").append(voice);
  return field;
}

class TTSCACHE_EXPORT Client {
 public:
  static Result<Client> Connect(const ClientOptions& options);
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  Status Ping();
  Result<ttscache::Hello> Hello();
  Result<ttscache::Stats> Stats();
  Result<ttscache::Stats> StatsWithLimits();
  // Stats with the limits and the encode stream counters.
  Result<ttscache::Stats> StatsWithStreams();
  // A miss is Errc::kNotFound. With `descriptor`, the reply is the cached
  // file itself, mapped read-only. The client keeps its last 64 such mappings
  // (at most 256 MiB) and names the file it holds in the request; while the
  // daemon still serves that very file it answers "unchanged" without a
  // descriptor and the same mapping is returned (passing and mapping a
  // descriptor cost 8–30 µs per hit on the VMs we measured, against a round
  // trip of 21–29 µs). A kept mapping pins its file's disk space
  // after an eviction until it leaves the client's list.
  Result<AudioBuffer> Get(std::string_view engine, std::string_view text, Format format,
                          const OpusParams& params = DaemonDefaultOpus(), bool descriptor = true);
  Status Put(std::string_view engine, std::string_view text, std::span<const uint8_t> wav);
  // Adopts a WAV another cache holds (PUT_FILE): passes `fd`, a regular file
  // open for reading, and the daemon stores a copy of it as the entry `key`
  // (the SHA-256 the Node module named the file by) of `engine`, last used
  // at `last_used_ns` (Unix ns, e.g. the file's mtime; 0: now). The caller
  // keeps `fd`. The reply says whether it was stored, already cached, or
  // evicted at once (older than everything in a full cache).
  Result<PutFileResult> PutFileByKey(std::string_view engine, std::span<const uint8_t, 32> key,
                                     int fd, uint64_t last_used_ns);
  Result<AudioBuffer> Encode(std::span<const uint8_t> wav,
                             const OpusParams& params = DaemonDefaultOpus());
  Result<AudioBuffer> PutEncode(std::string_view engine, std::string_view text,
                                std::span<const uint8_t> wav,
                                const OpusParams& params = DaemonDefaultOpus());

  // Shared memory. AttachArena creates a sealed memfd of `bytes` and hands it
  // to the daemon; arena() is its mapping. Offsets below are into it.
  Status AttachArena(size_t bytes);
  std::span<uint8_t> arena() const;
  Status PutFromArena(std::string_view engine, std::string_view text, uint64_t offset,
                      uint64_t length);
  // Encodes arena[offset, +length) into arena[out_offset, +out_capacity);
  // returns the Opus size. Too small: Errc::kBufferTooSmall, the message says how much.
  Result<uint64_t> EncodeInArena(uint64_t offset, uint64_t length, uint64_t out_offset,
                                 uint64_t out_capacity,
                                 const OpusParams& params = DaemonDefaultOpus());

  // Which of `keys` (SHA-256 digests, 32 bytes each) the engine holds, in
  // order; any number (sent in requests of 4096). Counts no
  // hit or miss.
  Result<std::vector<bool>> HasKeys(std::string_view engine,
                                    std::span<const std::array<uint8_t, 32>> keys);

  // Starts an encode stream (encode_stream.hpp). With an engine and a text
  // (both or neither) the finished stream is stored as that entry, WAV and
  // Opus variant, so the next Get of the phrase is a hit.
  Result<EncodeStream> OpenEncodeStream(const StreamFormat& format, EncodeStream::PageSink on_pages,
                                        const OpusParams& params = DaemonDefaultOpus(),
                                        std::string_view engine = {}, std::string_view text = {});

  // --- Operating the cache. Delete, DeleteKey, Purge and Verify(true) are
  // admin operations: anyone else gets Errc::kForbidden (the connection stays).
  Result<DeleteResult> Delete(std::string_view engine, std::string_view text);
  Result<DeleteResult> DeleteKey(std::string_view engine, std::span<const uint8_t, 32> key);
  Result<PurgeResult> Purge(std::string_view engine);
  // One page of the index from `cursor` (0 starts), at most `max_entries`
  // (1–1024) entries; a page may be empty while next_cursor is not 0.
  Result<ListPage> List(uint64_t cursor, const ListFilter& filter, uint32_t max_entries = 1024);
  // Every matching entry, page by page (never all held at once): `each` is
  // called per entry and returns false to stop. An error ends the listing
  // after the entries already delivered. An exception from `each` is caught
  // at the library's edge and returned as an error.
  Status ForEachEntry(const ListFilter& filter,
                      const std::function<bool(const ListedEntry&)>& each);
  Result<VerifyResult> Verify(bool repair);
  // Stats with the limits, the stream counters and the detail.
  Result<ttscache::StatsDetail> StatsDetail();

  // --- Coordinating synthesis. The calls below that wait have the
  // connection's timeout added to their wait.
  //
  // Get that claims a miss: the entry, or `claimed` (synthesize and Put), or
  // — when another client holds the claim — waits up to wait_ms for its Put
  // and returns the entry; Errc::kNotFound when the wait ended first or a
  // claim was refused (synthesize anyway).
  Result<ClaimedGet> GetOrClaim(std::string_view engine, std::string_view text, Format format,
                                uint32_t wait_ms, const OpusParams& params = DaemonDefaultOpus(),
                                bool descriptor = true);
  // Gives up this connection's claim (a synthesis failed): true if it held one.
  Result<bool> DropClaim(std::string_view engine, std::string_view text);
  // Takes a unit of the slot `name` (an engine, or a slot the daemon's
  // [coordinate] slots names), waiting up to wait_ms in line; Errc::kBusy
  // when none came free in time. SlotHold::id is this Client's handle, not
  // the daemon's (it stays unique across reconnects).
  Result<SlotHold> AcquireSlot(std::string_view name, uint32_t wait_ms);
  // Gives the unit back. A hold whose connection has closed since was
  // released with it: OK, nothing is sent. One this Client does not hold
  // (released already, or never acquired): Errc::kInvalidArgument.
  Status ReleaseSlot(const SlotHold& hold);
  Result<CoordinationStats> Coordination();
  // The fleet tier's counters (STATS flag 16). A reply no daemon sends (an
  // enabled tier with no servers or more than 64, a queue over 1,000,000)
  // ends the connection: Errc::kInternal.
  Result<TierStats> Tier();

  // Pipelining: send now, collect later, in any order.
  Result<uint64_t> SendGet(std::string_view engine, std::string_view text, Format format,
                           const OpusParams& params = DaemonDefaultOpus(), bool descriptor = true);
  Result<AudioBuffer> ReceiveGet(uint64_t request_id);

  // The version of the ttscache release the library comes from, e.g. "0.2.0"
  // (its ABI is the SONAME's number, libttscache.so.1; docs/clients.md).
  static const char* LibraryVersion();

  using Impl = internal::ClientImpl;  // opaque

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ttscache
