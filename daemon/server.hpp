// Server: ttscached's event loop. One thread runs an epoll loop over the
// listening socket, every connection, a signalfd (TERM/INT: drain and stop;
// HUP: reload), an eventfd that workers use to hand back results, a 1 s
// timer (idle and send timeouts, STATUS=, the systemd watchdog) and a
// one-shot timer for the earliest claim lease or coordinated wait to end.
// Cache hits are answered on the loop; encodes and cache writes run on
// PinnedWorkerPool. Concurrent requests for the same Opus variant share one
// encode; concurrent misses of one entry, with a claim, share one synthesis
// by the client that got the claim (ClaimTable), and clients share named
// synthesis slots (SynthesisSlots) — both tables live on the loop thread.
//
// What one client can cost the daemon is bounded (docs/reliability.md):
// - connections: at most max_connections, and never more than RLIMIT_NOFILE
//   leaves after a reserve for cache files and descriptors in flight;
// - input: frames over ipc::kMaxFrameBody are refused before they are read;
//   a large frame reserves its size in a budget shared by all connections
//   before its body is read, and holds it until its request is done;
// - output: a connection's frames are served one at a time, and only while
//   less than kMaxQueuedOutputBytes of its replies wait unsent; large replies
//   also need room in a budget shared by all connections (else BUSY);
// - descriptors: at most kMaxInflightPerConnection descriptor replies may sit
//   unread in one client's socket, and a quarter of RLIMIT_NOFILE in all
//   (they count against the daemon's limit); beyond, replies go inline;
// - time: a client that reads none of its replies for send_timeout_s, or is
//   idle for idle_timeout_s, is closed; at most kMaxInflightPerConnection
//   requests in flight (BUSY beyond).
// - encode streams: at most [stream] max_per_connection per connection and
//   max_total in all, each holding at most max_buffered_bytes of input not
//   yet encoded, ended after idle_timeout_s without a request or past
//   max_seconds of audio (encode_streams.cpp).
// - coordination (coordinate_dispatch.cpp): GETs waiting for another's claim
//   and SLOT_ACQUIREs waiting for a unit are parked, not in flight: at most
//   ipc::kMaxParkedPerConnection per connection over both, max_waiters_per_key
//   per entry, max_slot_waiters in all; claims at most max_claims (and
//   max_claims_per_connection), slot holds 64 per connection; every wait is
//   cut to max_wait_s and ends on time (its own timerfd).
// - the fleet tier (tier_dispatch.cpp, docs/fleet.md): a GET that misses
//   locally waits for the tier's lookup at most [tier] timeout_ms (the
//   coordinate timer), then goes on as a miss; such a parked GET counts in
//   its connection's inflight (kMaxInflightPerConnection), and concurrent
//   misses of one key share one lookup. The tier's own queues are bounded
//   (lookups 1,024, writes queue_size: one more is skipped or dropped), and
//   a tier that fails is a miss, never an error.
// A peer outside allowed_uids/allowed_gids gets FORBIDDEN and is closed.
// DELETE, PURGE and VERIFY with repair are for admins only (admin_uids,
// admin_gids, the daemon's own user): others get FORBIDDEN and stay
// connected (operate_dispatch.cpp); one VERIFY runs at a time (BUSY
// beyond), as anyone may ask one. Once a second the timer runs the
// store's Maintain (max_age, min_free) on a worker, one at a time.
// Run() returns the process exit status. Thread-safety: Run() and everything
// but Post() on the loop thread.
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/audio/encode_session.hpp"
#include "core/config/config.hpp"
#include "core/mutex.hpp"
#include "core/shared_fd.hpp"
#include "core/unique_fd.hpp"
#include "daemon/byte_budget.hpp"
#include "daemon/cache/cache_store.hpp"
#include "daemon/claim_table.hpp"
#include "daemon/encode_histogram.hpp"
#include "daemon/listen_socket.hpp"
#include "daemon/synthesis_slots.hpp"
#include "daemon/systemd_notify.hpp"
#include "daemon/tier/fleet_tier.hpp"
#include "daemon/worker_pool.hpp"
#include "ipc/frame.hpp"
#include "ipc/frame_reader.hpp"
#include "ipc/messages.hpp"
#include "ipc/shared_memory.hpp"

namespace ttscache {

class Server {
 public:
  // `tier`: the fleet tier, started on `store` (null: local only).
  Server(LoadedConfig config, std::optional<std::string> config_path,
         std::unique_ptr<CacheStore> store, ListenSocket listen,
         std::unique_ptr<FleetTier> tier = nullptr);
  ~Server();
  int Run();

 private:
  // Encode streams (encode_streams.cpp). What a stream's jobs share with the
  // loop: the loop touches it only while no job of the stream is queued or
  // running, and a job only while it runs (the pool's queue orders the two).
  struct StreamWork {
    EncodeSessionSpec spec;
    std::unique_ptr<EncodeSession> session;  // made by the first job, on a worker
    std::string engine, text;                // the cache entry it becomes, if any
    bool retain = false;                     // false once the loop could not budget it
    // Set by ABORT: a FINISH already running stores nothing.
    std::atomic<bool> cancelled{false};
  };
  // A push or finish waiting for its turn in the stream.
  struct StreamChunk {
    uint64_t request = 0;
    bool finish = false;
    std::shared_ptr<std::vector<uint8_t>> body;  // owns inline audio
    std::span<const uint8_t> audio;              // inline, or in `arena`
    std::shared_ptr<MappedRegion> arena;
    BudgetHold hold;  // the frame's input budget
  };
  struct EncodeStream {
    std::shared_ptr<StreamWork> work;
    std::deque<StreamChunk> queued;
    bool running = false;         // a job of this stream is on the workers
    bool finishing = false;       // FINISH received: no more pushes
    uint64_t buffered_bytes = 0;  // pushed, not yet encoded (queued and running)
    int64_t last_request_ms = 0;
    StreamSettings limits;  // as configured when it opened
    BudgetHold retained;    // stream_keep_budget_ for what the cache entry keeps
  };

  struct OutFrame {
    std::vector<uint8_t> bytes;  // header first: the request id is read back from it
    SharedFd fd;                 // sent with the frame's first byte
  };
  struct Connection {
    uint64_t id = 0;
    UniqueFd fd;
    ipc::FrameReader reader;
    std::deque<OutFrame> out;
    size_t out_offset = 0;  // bytes of out.front() already sent
    size_t out_bytes = 0;
    // The outgoing stream: bytes sent so far, and the offsets at which
    // descriptor replies went out that the peer may not have read yet.
    uint64_t stream_sent = 0;
    std::deque<uint64_t> unread_fd_offsets;
    uint32_t queued_fd_frames = 0;  // frames in `out` that carry a descriptor
    // The peer shut its sending side: nothing more is read; the connection
    // closes once what it asked for is answered.
    bool peer_done = false;
    // Set when the connection closes: its encodes stop at their next slice.
    std::shared_ptr<std::atomic<bool>> gone = std::make_shared<std::atomic<bool>>(false);
    int64_t reserved_since_ms = 0;  // when the newest input reservation was taken
    // When the peer last took bytes or descriptors from us (send timeout).
    int64_t last_progress_ms = 0;
    // The input budget reserved for each large frame received or being
    // received, in stream order, and which frame the newest one is for.
    std::deque<BudgetHold> input_holds;
    uint64_t reserved_frame_start = UINT64_MAX;
    bool waiting_for_input_budget = false;
    std::shared_ptr<MappedRegion> arena;
    uint32_t inflight = 0;
    uid_t uid = 0;  // the peer's credentials at accept (SO_PEERCRED)
    gid_t gid = 0;
    pid_t pid = 0;
    int64_t last_active_ms = 0;
    bool closing = false;     // close once `out` is flushed
    uint32_t events = 0x001;  // the epoll mask registered now (EPOLLIN at accept)
    std::map<uint32_t, EncodeStream> streams;
    uint32_t next_stream = 1;
    // Why recent streams ended, so a late request on one gets a clear error.
    std::deque<std::pair<uint32_t, std::string>> ended_streams;
  };
  // A worker's result, handed to the loop.
  struct Completion {
    uint64_t connection = 0;
    uint64_t request = 0;
    uint8_t opcode = 0;
    std::vector<uint8_t> body;
    bool error = false;
    std::string variant_key;       // set for shared variant encodes
    std::vector<uint8_t> encoded;  // the variant's bytes, for waiters
    // Set for a stream's job: which stream, what it consumed, what the
    // session now retains for the cache, (finish) whether it was stored, and
    // why it failed (the stream ends with that).
    uint32_t stream = 0;
    std::string stream_error;
    uint64_t consumed = 0;
    uint64_t retained = 0;
    bool finished = false, stored = false;
    // A VERIFY's: the loop may start another one (verify_running_).
    bool ends_verify = false;
    // Set by a put (PUT, PUT_ENCODE, PUT_FILE, a stream's FINISH) that stored
    // its entry: the entry's claim key (ClaimKey), whose claim it fulfils.
    std::string stored_entry;
    // A tier lookup's answer (posted by the tier's thread): which lookup
    // (its key in tier_lookups_ and its id) and what it stored.
    std::string tier_lookup;
    uint64_t tier_lookup_id = 0;
  };
  // A GET parked on a tier lookup: the request as it came, and whether the
  // lookup asks what it needs (it wants the WAV, or the lookup asks its
  // variant too). False: an Opus GET that joined a lookup of the WAV alone
  // (or of another variant), whose variant is asked for alone once the WAV
  // is here — before the deadline of the lookup it joined.
  struct TierParkedGet {
    ParkedGet get;
    bool variant_asked = true;
  };
  // One tier lookup in flight and the GETs waiting for it.
  struct TierWait {
    uint64_t id = 0;
    int64_t deadline_ms = 0;  // NowMs() + [tier] timeout_ms at the first ask of the GETs
    std::string variant_tag;  // the variant it asks (VariantTag), if any
    std::vector<TierParkedGet> gets;
  };
  struct VariantWaiter {
    uint64_t connection, request;
    ipc::Delivery delivery;
  };
  struct PendingVariant {
    std::string engine, text;
    OpusParams params;
    std::vector<VariantWaiter> waiters;
  };

  // The loop's clock: monotonic milliseconds.
  static int64_t NowMs();
  // epoll tags: below this the loop's own descriptors, from it connections.
  static constexpr uint64_t kFirstConnectionTag = 16;

  // The loop (server.cpp), connection I/O and backpressure (connection_io.cpp),
  // and reload (reload.cpp).
  void Accept();
  // Accepts nothing more from `fd` than a BUSY with `why`, then closes it.
  void Refuse(UniqueFd fd, const std::string& why);
  void OnReadable(Connection& c);
  void OnWritable(Connection& c);
  // Dispatches the complete frames `c` has buffered while its budgets allow.
  // False when `c` was closed or is closing.
  bool ServeFrames(Connection& c);
  // Whether `c` may have its next frame served: its unsent replies are under
  // kMaxQueuedOutputBytes.
  bool MayServe(const Connection& c) const;
  // Reserves input budget for the large frame `c` is receiving; false (and
  // `c` waits, not read) when the budget is spent.
  bool ReserveInput(Connection& c);
  void ResumeInputWaiters();
  // Drops the descriptor replies the peer has read (SIOCOUTQ).
  void ForgetReadDescriptors(Connection& c);
  // Whether a reply to `c` may carry a descriptor now (see server.hpp's top).
  bool MayPassDescriptor(Connection& c);
  // False when the peer is gone.
  bool Flush(Connection& c);
  // Closes `c` when its peer has stopped sending and everything it asked
  // for is answered and sent; true if it did.
  bool CloseIfFinished(Connection& c);
  void Close(uint64_t id);
  int WaitForEvents(epoll_event* events, int max_events);
  void Queue(Connection& c, OutFrame frame);
  // Whether Queue would answer a reply frame of this size BUSY instead (the
  // shared budget of unsent replies is spent).
  bool WouldRefuseReply(size_t frame_bytes) const;
  void QueueError(Connection& c, uint64_t request, const Error& error, uint32_t retry_ms = 0,
                  uint64_t needed = 0);
  void QueueReply(uint64_t connection, uint64_t request, uint8_t opcode, std::vector<uint8_t> body,
                  SharedFd fd = {});
  void UpdateEvents(Connection& c);
  void DrainCompletions() EXCLUDES(completions_mutex_);
  void Post(Completion completion) EXCLUDES(completions_mutex_);
  void OnTimer();
  // Closes connections past their send, receive or idle timeouts.
  void CloseStalledConnections(int64_t now);
  void AcceptWhileOutOfDescriptors();
  void RecreateSocketIfDeleted();
  void OnSignal();
  void Reload();

  // Requests (request_dispatch.cpp).
  void Dispatch(Connection& c, ipc::ReceivedFrame received);
  // A GET served again after a tier lookup answered or timed out: its WAV
  // was asked (a miss now goes on locally); its Opus variant too, or not
  // (then a variant missing here beside the WAV is asked for alone, until
  // the deadline of the lookup it waited on).
  struct TierPass {
    bool variant_asked = true;
    int64_t deadline_ms = 0;
  };
  // `tier`: null for a GET as it came.
  void HandleGet(Connection& c, uint64_t request, const ipc::GetRequest& get,
                 const TierPass* tier = nullptr);
  // PUT_FILE: the passed file is checked, copied and published on a worker.
  void HandlePutFile(Connection& c, uint64_t request, std::span<const uint8_t> body,
                     std::vector<UniqueFd> fds);
  void HandleArena(Connection& c, uint64_t request, std::span<const uint8_t> body,
                   std::vector<UniqueFd> fds);
  // Reserves input budget for a put's copy of `length` bytes of arena audio
  // (into dispatch_hold_); answers BUSY or too large and returns false when
  // it cannot be had.
  bool ReserveArenaCopy(Connection& c, uint64_t request, uint64_t length);
  // Answers BUSY and returns true when `c` has its maximum of requests in flight.
  bool RefuseIfTooManyInFlight(Connection& c, uint64_t request);
  // A request's work on the workers, one slice per call: the completion when
  // done, nullopt when the job gave its worker back and has more to do (a
  // long encode); its next slice then waits behind one job of every other
  // connection (PinnedWorkerPool::Continue).
  using JobSlice = std::function<std::optional<Completion>()>;
  struct RunningJob {
    JobSlice slice;
    // An encode whose client left is dropped between slices (a variant
    // encode is not: other clients may wait for it).
    std::shared_ptr<std::atomic<bool>> client_gone;
    bool cancellable = false;
    BudgetHold hold;  // the request body's input budget, given back when done
    uint64_t connection = 0, request = 0;
  };
  // Queues `slice` on the workers under the connection's turn, counting the
  // request in flight; BUSY when full.
  bool SubmitJob(Connection& c, uint64_t request, JobSlice slice, bool cancellable = false);
  void RunSlice(std::shared_ptr<RunningJob> job);
  void FinishVariant(Completion& completion);

  // Encode streams (encode_streams.cpp).
  void HandleStreamOpen(Connection& c, uint64_t request, std::span<const uint8_t> body);
  void HandleStreamChunk(Connection& c, uint64_t request, bool finish,
                         std::shared_ptr<std::vector<uint8_t>> body);
  void HandleStreamAbort(Connection& c, uint64_t request, std::span<const uint8_t> body);
  // Puts the stream's next queued chunk on the workers, if none is running.
  void RunNextChunk(Connection& c, uint32_t id, EncodeStream& s);
  void OnStreamJobDone(Completion& done);
  // Ends the stream: every queued chunk is answered with `why`, and a later
  // request on it too; its budget is given back.
  void EndStream(Connection& c, uint32_t id, const Error& why, bool failed);
  // The error for a request on a stream that is not open.
  Error NoStream(const Connection& c, uint32_t id) const;
  void ExpireIdleStreams(int64_t now);
  // Ends the stream a refused STREAM_PUSH/FINISH named (its first u32), if
  // it is open: a refused push would leave a hole in its audio.
  void EndStreamOfRefused(Connection& c, std::span<const uint8_t> body, const Error& why);
  // The parameters an Opus request gets (bitrate 0: the configured ones).
  // Loop thread only: a reload rewrites the configuration.
  OpusParams Effective(const OpusParams& requested) const;
  // An error when Opus work is disabled ([opus] enabled = false).
  Status OpusAllowed() const;
  Result<std::span<const uint8_t>> AudioBytes(const ipc::AudioRef& ref,
                                              const std::shared_ptr<MappedRegion>& arena);
  std::vector<uint8_t> StatsBody(uint8_t flags);

  // Operating the cache (operate_dispatch.cpp): DELETE, PURGE and VERIFY
  // run on the workers, LIST on the loop (bounded by kMaxListVisit).
  void HandleDelete(Connection& c, uint64_t request, std::span<const uint8_t> body);
  void HandlePurge(Connection& c, uint64_t request, std::span<const uint8_t> body);
  void HandleList(Connection& c, uint64_t request, std::span<const uint8_t> body);
  void HandleVerify(Connection& c, uint64_t request, std::span<const uint8_t> body);
  // Whether `c`'s peer may run admin operations: its uid in admin_uids, its
  // gid in admin_gids, or the daemon's own euid.
  bool IsAdmin(const Connection& c) const;
  // Answers FORBIDDEN (the connection stays open), counts and logs it, and
  // returns true when `c` is not an admin; `what` names the operation.
  bool RefuseUnlessAdmin(Connection& c, uint64_t request, const std::string& what);
  // STATS flag kStatsDetail: the store's extras and the server's own counters.
  void FillStatsDetail(const CacheStats& s, ipc::StatsDetail* detail) const;
  // The timer's part: Maintain on a worker when max_age or min_free is set
  // and none is running.
  void StartMaintenance();

  // Coordinating synthesis (coordinate_dispatch.cpp): claims on GET misses,
  // CLAIM_DROP, SLOT_ACQUIRE and SLOT_RELEASE, and the answers the tables
  // owe when a put lands, a connection closes or a wait or lease ends.
  // The claim key of an entry: the engine field as given + "/" + hex key.
  static std::string ClaimKey(std::string_view engine, const CacheKey& key);
  // A GET missed: with a claim block (and [coordinate] claims on), claim it
  // or park it; else a plain miss.
  void AnswerMiss(Connection& c, uint64_t request, const ipc::GetRequest& get);
  void HandleClaimDrop(Connection& c, uint64_t request, std::span<const uint8_t> body);
  void HandleSlotAcquire(Connection& c, uint64_t request, std::span<const uint8_t> body);
  void HandleSlotRelease(Connection& c, uint64_t request, std::span<const uint8_t> body);
  // The entry `key` was stored: its claim ends and its waiters are served again.
  void OnEntryStored(const std::string& key);
  // Serves a parked GET again as a fresh GET, with what is left of its wait.
  void ServeParked(const ParkedGet& get, int64_t now);
  void AnswerTakeovers(const std::vector<ClaimTable::Takeover>& takeovers);
  void AnswerGrants(const std::vector<SlotGrant>& grants);
  // `connection` closed: its claims pass on, its holds free, its waits end.
  void ForgetCoordination(uint64_t connection);
  // The coordinate timer fired: leases and waits that ended are answered.
  void OnCoordinateTimer();
  // Arms coordinate_timer_fd_ for the tables' earliest deadline (or disarms it).
  void ArmCoordinateTimer();
  // Requests of `connection` parked in either table.
  uint32_t ParkedBy(uint64_t connection) const;
  // Whether `connection` holds a claim or a slot unit: it is working (a
  // synthesis), not idle, however long it stays silent.
  bool HoldsCoordination(uint64_t connection) const;
  // Closes `connection` if its peer is done and nothing more is owed (after
  // a parked request of it was answered).
  void SettleConnection(uint64_t connection);
  // The tables' limits from config_ (start and reload); grants are answered.
  void ApplyCoordinateLimits();
  // One line per interval about lease expiries and takeovers, with counts.
  void LogClaimEvents();
  void FillCoordinationStats(ipc::CoordinationStatsWire* wire) const;

  // The fleet tier (tier_dispatch.cpp, docs/fleet.md). A GET that missed
  // locally: when the tier is on and shares what it misses (the WAV, or
  // only the variant: `want_wav` false, with the local entry's
  // `generation`), park it on a lookup of its key — joining one in flight —
  // and return true; false: go on locally (no tier, not shared, the
  // connection's inflight full, the tier refused the lookup).
  // `deadline_ms`: when the wait ends (0: timeout_ms from now; past: false).
  bool AskTier(Connection& c, uint64_t request, const ipc::GetRequest& get, bool want_wav,
               uint64_t generation, const OpusParams& params, int64_t deadline_ms = 0);
  // A lookup answered: its GETs are served again (a TierPass).
  void OnTierLookupDone(const Completion& done);
  // Lookups past their deadline: their GETs go on as misses (counted).
  void ExpireTierLookups(int64_t now);
  // `answered`: the lookup answered (else its deadline passed, and no GET
  // of it goes back to the tier). `deadline_ms`: the lookup's.
  void ResumeTierGets(const std::vector<TierParkedGet>& gets, bool answered, int64_t deadline_ms);
  // `connection` closed: its GETs parked on lookups are forgotten.
  void ForgetTierGets(uint64_t connection);
  // Write-behind after a put or a variant stored here (any thread): the
  // entry's WAV, or with `variant` that variant, encoded from `wav` (whose
  // CRC-32C binds the variant to it in the tier). No-op without a tier.
  void OfferToTier(std::string_view engine, const CacheKey& key,
                   const OpusParams* variant = nullptr, std::span<const uint8_t> wav = {});

  LoadedConfig config_;
  std::optional<std::string> config_path_;
  std::unique_ptr<CacheStore> store_;
  // Set at construction, reset at the end of Run() after the workers stop
  // (they offer to it) and before the store closes (it reads the store);
  // read-only meanwhile, so workers call it without a lock.
  std::unique_ptr<FleetTier> tier_;
  // Lookups in flight by key (ClaimKey, + "/" + VariantTag for a variant
  // alone), their deadlines in order (loop only).
  std::unordered_map<std::string, TierWait> tier_lookups_;
  std::set<std::pair<int64_t, std::string>> tier_deadlines_;
  uint64_t next_tier_lookup_ = 1;
  ListenSocket listen_;
  std::unique_ptr<PinnedWorkerPool> workers_;
  UniqueFd epoll_, signal_fd_, wake_fd_, timer_fd_;
  // One-shot, armed to the earliest claim lease or coordinated wait to end:
  // waits end to the millisecond, not on the 1 s tick.
  UniqueFd coordinate_timer_fd_;
  int64_t coordinate_armed_ms_ = -1;  // the deadline armed now; -1: disarmed
  ClaimTable claims_;
  SynthesisSlots slots_;
  // Lease expiries and takeovers already logged, and when (LogClaimEvents).
  uint64_t logged_expiries_ = 0, logged_takeovers_ = 0;
  int64_t last_claim_log_ms_ = -1;
  // Held in reserve so that, out of descriptors, we can still accept a
  // client, tell it BUSY and close it instead of spinning on the backlog.
  UniqueFd spare_fd_;
  // From RLIMIT_NOFILE at start: clients served at once, and descriptor
  // replies that may sit unread in clients' sockets (they count against the
  // daemon's limit: past it, sendmsg fails with ETOOMANYREFS for everyone).
  size_t max_connections_ = 0;
  size_t max_unread_fds_ = 0;
  size_t unread_fds_ = 0;
  // Descriptor replies queued unsent, over all connections: each may hold a
  // cache file open in our own table, so they have a share of the reserve.
  size_t queued_fd_frames_ = 0;
  size_t max_queued_fd_frames_ = 0;
  int64_t last_trim_ms_ = 0;
  // Reply bytes queued unsent over all connections.
  uint64_t queued_output_bytes_ = 0;
  ByteBudget input_budget_;
  // What encode streams keep to be cached: its own budget, so a long stream
  // cannot take the input budget its own next push needs.
  ByteBudget stream_keep_budget_;
  std::deque<uint64_t> input_waiters_;  // connections waiting for input budget, in order
  // The input budget held by the frame being dispatched; SubmitJob hands it
  // to the job, so a body stays counted until its request is done.
  BudgetHold dispatch_hold_;
  // Refused peers are logged once per interval with the count in between.
  int64_t last_refusal_log_ms_ = -1;
  uint64_t refusals_unlogged_ = 0;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::map<std::string, PendingVariant> pending_variants_;
  uint64_t next_connection_id_ = 1;
  bool stopping_ = false;
  // When the loop last had events; busy polling runs for busy_poll_us after it.
  std::chrono::steady_clock::time_point last_events_{};
  SystemdNotifier systemd_;
  std::atomic<uint64_t> jobs_running_{0};

  // Completions posted by the workers, drained by the event loop.
  Mutex completions_mutex_;
  std::vector<Completion> completions_ GUARDED_BY(completions_mutex_);

  // Counters for STATS and STATUS=.
  std::atomic<uint64_t> accepted_{0}, requests_{0}, busy_{0}, errors_{0}, encodes_{0},
      shared_encodes_{0};
  // Peers refused as not allowed or not admin (loop only).
  uint64_t forbidden_ = 0;
  // Every encode's duration (workers record, STATS reads).
  EncodeHistogram encode_histogram_;
  // A VERIFY is queued or running (loop only): one at a time, since each
  // reads the whole folder and anyone may ask (without repair).
  bool verify_running_ = false;
  // A Maintain job is queued or running: set by the loop, cleared by the job.
  std::atomic<bool> maintenance_running_{false};
  // When the maintenance job last logged a failure (only that job touches it,
  // one at a time, ordered by maintenance_running_).
  int64_t maintenance_warned_ms_ = -1;
  // Encode streams: open now (loop only), and counted since start.
  size_t streams_open_ = 0;
  uint64_t streams_opened_ = 0, streams_stored_ = 0, streams_failed_ = 0;
};

}  // namespace ttscache
