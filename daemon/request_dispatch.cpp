// Request handling for Server (see server.hpp): decode, check, then answer
// on the loop (HELLO, PING, STATS, ARENA, cache hits) or hand a job to the
// workers (PUT, PUT_FILE, ENCODE, PUT_ENCODE, variant encodes); DELETE, PURGE,
// LIST and VERIFY are in operate_dispatch.cpp; CLAIM_DROP, SLOT_ACQUIRE,
// SLOT_RELEASE and a GET's claim in coordinate_dispatch.cpp. Every failure becomes
// an ERROR reply to that request; the connection and everyone else go on.
#include <sys/mman.h>
#include <sys/socket.h>

#include "core/audio/ogg_opus_encoder.hpp"
#include "core/audio/wav_reader.hpp"
#include "core/log.hpp"
#include "daemon/server.hpp"
#include "daemon/sliced_encode.hpp"
#include "ipc/error_codes.hpp"

namespace ttscache {
namespace {

constexpr uint32_t kBusyRetryMs = 50;
// The most audio one inline reply may carry: a frame's body holds the audio
// and a few fields around it.
constexpr uint64_t kMaxInlineAudio = ipc::kMaxFrameBody - 1024;
// A descriptor GET whose reply may not carry a descriptor now (too many sit
// unread) is answered inline up to this size, BUSY above it.
constexpr uint64_t kInlineFallbackBytes = 1u << 20;
// What a PUT_FILE copies per turn of a worker: ~10–40 ms of disk work, like
// an encode's slice, so another connection's jobs go between.
constexpr uint64_t kPutFileSliceBytes = 8u << 20;

Error TooManyUnreadDescriptors() {
  return MakeError(Errc::kBusy,
                   "too many descriptor replies wait unread (on this connection, or in all); read "
                   "them, then retry");
}

using ipc::ReplyOpcode;

std::vector<uint8_t> ErrorBody(const Error& e) {
  return ipc::EncodeErrorReply({ipc::ToWireError(e.code), 0, 0, e.message});
}

// An encode on its way to where the request said: into the arena range
// (zero copy: the encoder's pages land straight in the client's memory) or
// into the reply, a slice at a time (sliced_encode.hpp). The WAV bytes are
// borrowed; the job that owns this keeps them alive.
class EncodeToOutput {
 public:
  EncodeToOutput(std::span<const uint8_t> wav, const OpusParams& params, int max_seconds,
                 const ipc::OutputRef& output, std::shared_ptr<MappedRegion> arena)
      : arena_(std::move(arena)), output_(output), inline_sink_(kMaxInlineAudio) {
    timer_.StartOnce();
    ByteSink* sink = &inline_sink_;
    if (output.place == ipc::AudioPlace::kArena) {
      if (!arena_ || !ipc::RangeInside(output.offset, output.capacity, arena_->size())) {
        failed_ = MakeError(Errc::kInvalidArgument, "output range outside the arena (or no arena)");
        return;
      }
      span_sink_.emplace(arena_->bytes().subspan(output.offset, output.capacity));
      sink = &*span_sink_;
    }
    Result<std::unique_ptr<SlicedEncode>> started =
        SlicedEncode::Start(wav, params, sink, max_seconds);
    if (started) {
      encode_ = std::move(*started);
    } else {
      failed_ = started.error();
    }
  }

  // Since this was made, on the job's first slice.
  uint64_t ElapsedUs() const { return timer_.ElapsedUs(); }
  // Whether it failed before any work (too long, bad audio, no arena range).
  bool failed() const { return failed_.has_value(); }
  // Runs one slice; true when there is nothing left to do (Reply then).
  bool Step() {
    if (failed_) return true;
    Result<bool> done = encode_->Step();
    if (!done) failed_ = done.error();
    return !done || *done;
  }

  // The reply to send (opcode, body); with `encoded_copy`, the Ogg bytes too.
  std::pair<uint8_t, std::vector<uint8_t>> Reply(uint8_t reply_opcode,
                                                 std::vector<uint8_t>* encoded_copy) {
    const uint8_t error_op = static_cast<uint8_t>(ipc::Opcode::kError);
    if (failed_ && failed_->code == Errc::kTooLarge && !span_sink_ &&
        failed_->message.find("max_encode_seconds") == std::string::npos) {
      failed_->message = "the Ogg Opus output exceeds " + std::to_string(kMaxInlineAudio) +
                         " bytes, the most a reply carries inline; encode into an arena range "
                         "instead";
    }
    if (failed_) return {error_op, ErrorBody(*failed_)};
    if (span_sink_) {
      if (span_sink_->overflowed()) {
        return {error_op,
                ipc::EncodeErrorReply({ipc::ErrorCode::kBufferTooSmall, 0, span_sink_->needed(),
                                       "output range of " + std::to_string(output_.capacity) +
                                           " bytes is too small, " +
                                           std::to_string(span_sink_->needed()) + " needed"})};
      }
      if (encoded_copy) {
        auto bytes = arena_->bytes().subspan(output_.offset, span_sink_->needed());
        encoded_copy->assign(bytes.begin(), bytes.end());
      }
      return {reply_opcode,
              ipc::EncodeAudioReply(ipc::AudioPlace::kArena, span_sink_->needed(), {})};
    }
    if (encoded_copy) *encoded_copy = inline_sink_.bytes();
    return {reply_opcode, ipc::EncodeAudioReply(ipc::AudioPlace::kInline,
                                                inline_sink_.bytes().size(), inline_sink_.bytes())};
  }

 private:
  std::shared_ptr<MappedRegion> arena_;
  ipc::OutputRef output_;
  VectorSink inline_sink_;
  std::optional<SpanSink> span_sink_;
  std::unique_ptr<SlicedEncode> encode_;
  std::optional<Error> failed_;
  EncodeTimer timer_;
};

}  // namespace

OpusParams Server::Effective(const OpusParams& requested) const {
  // Bitrate 0 on the wire means "the daemon's configured settings".
  return requested.bitrate_kbps == 0 ? config_.config.opus.params : requested;
}

Status Server::OpusAllowed() const {
  if (config_.config.opus.enabled) return {};
  return MakeError(Errc::kInvalidArgument,
                   "Opus encoding is disabled on this daemon ([opus] enabled = false)");
}

Result<std::span<const uint8_t>> Server::AudioBytes(const ipc::AudioRef& ref,
                                                    const std::shared_ptr<MappedRegion>& arena) {
  if (ref.place == ipc::AudioPlace::kInline) return ref.bytes;
  if (!arena)
    return MakeError(Errc::kInvalidArgument, "audio in the arena, but no arena registered");
  if (!ipc::RangeInside(ref.offset, ref.length, arena->size())) {
    return MakeError(Errc::kInvalidArgument, "audio range [" + std::to_string(ref.offset) + ", +" +
                                                 std::to_string(ref.length) +
                                                 ") lies outside the arena of " +
                                                 std::to_string(arena->size()) + " bytes");
  }
  return std::span<const uint8_t>(arena->bytes().subspan(ref.offset, ref.length));
}

bool Server::ReserveArenaCopy(Connection& c, uint64_t request, uint64_t length) {
  // The job copies the range before checking it (the client can still write
  // its arena): that copy is request memory like a frame's body.
  if (input_budget_.TryTake(length)) {
    dispatch_hold_ = BudgetHold(&input_budget_, length);
    return true;
  }
  if (length > input_budget_.limit()) {
    QueueError(c, request,
               MakeError(Errc::kTooLarge, "audio of " + std::to_string(length) +
                                              " bytes in the arena, more than the daemon's " +
                                              std::to_string(input_budget_.limit()) +
                                              "-byte budget for request audio"));
  } else {
    busy_++;
    QueueError(c, request,
               MakeError(Errc::kBusy, "the daemon's memory for request audio is taken; retry"),
               kBusyRetryMs);
  }
  return false;
}

bool Server::RefuseIfTooManyInFlight(Connection& c, uint64_t request) {
  if (c.inflight < ipc::kMaxInflightPerConnection) return false;
  busy_++;
  QueueError(c, request, MakeError(Errc::kBusy, "too many requests in flight on this connection"),
             kBusyRetryMs);
  return true;
}

bool Server::SubmitJob(Connection& c, uint64_t request, JobSlice slice, bool cancellable) {
  if (RefuseIfTooManyInFlight(c, request)) return false;
  auto job = std::make_shared<RunningJob>();
  job->slice = std::move(slice);
  job->client_gone = c.gone;
  job->cancellable = cancellable;
  // The request's body stays counted in the input budget until the job is
  // done (the job holds the body).
  job->hold = std::move(dispatch_hold_);
  job->connection = c.id;
  job->request = request;
  jobs_running_++;
  if (!workers_->TrySubmit(c.id, [this, job] { RunSlice(job); })) {
    jobs_running_--;
    busy_++;
    QueueError(c, request, MakeError(Errc::kBusy, "the job queue is full"), kBusyRetryMs);
    return false;
  }
  c.inflight++;
  return true;
}

void Server::RunSlice(std::shared_ptr<RunningJob> job) {
  if (job->cancellable && *job->client_gone) {  // nobody will read the result
    job->slice = nullptr;
    job->hold.Release();
    jobs_running_--;
    return;
  }
  std::optional<Completion> done = job->slice();
  if (!done) {
    workers_->Continue(job->connection, [this, job] { RunSlice(job); });
    return;
  }
  done->connection = job->connection;
  done->request = job->request;
  job->slice = nullptr;  // frees the body before the budget is given back
  job->hold.Release();
  Post(std::move(*done));
  jobs_running_--;
}

void Server::Dispatch(Connection& c, ipc::ReceivedFrame received) {
  ipc::Frame& frame = received.frame;
  const uint64_t request = frame.header.request_id;
  const auto op = static_cast<ipc::Opcode>(frame.header.opcode);
  // Descriptors are accepted with ARENA and PUT_FILE only; any other is closed unread.
  if (op != ipc::Opcode::kArena && op != ipc::Opcode::kPutFile && !received.fds.empty()) {
    received.fds.clear();
    const Error why = MakeError(Errc::kInvalidArgument,
                                "a descriptor came with a request that takes none; closed");
    QueueError(c, request, why);
    if (op == ipc::Opcode::kStreamPush || op == ipc::Opcode::kStreamFinish) {
      EndStreamOfRefused(c, frame.body, why);
    }
    return;
  }
  // While stopping, streams already open may still finish their sentence.
  const bool on_open_stream = op == ipc::Opcode::kStreamPush || op == ipc::Opcode::kStreamFinish ||
                              op == ipc::Opcode::kStreamAbort;
  if (stopping_ && !on_open_stream) {
    QueueError(c, request, MakeError(Errc::kBusy, "the daemon is stopping"), 1000);
    return;
  }
  auto body = std::make_shared<std::vector<uint8_t>>(std::move(frame.body));
  switch (op) {
    case ipc::Opcode::kHello: {
      Result<std::pair<uint16_t, uint16_t>> v = ipc::DecodeHelloRequest(*body);
      if (!v) return QueueError(c, request, v.error());
      if (v->first > ipc::kVersion || v->second < ipc::kVersion) {
        return QueueError(c, request,
                          MakeError(Errc::kInvalidArgument,
                                    "client speaks versions " + std::to_string(v->first) + "–" +
                                        std::to_string(v->second) + ", the daemon speaks 1"));
      }
      ipc::HelloReply reply;
      reply.max_text_bytes = static_cast<uint32_t>(config_.config.cache.max_text_bytes);
      return Queue(c,
                   {ipc::BuildFrame(ReplyOpcode(op), request, ipc::EncodeHelloReply(reply)), {}});
    }
    case ipc::Opcode::kPing:
      return Queue(c, {ipc::BuildFrame(ReplyOpcode(op), request, {}), {}});
    case ipc::Opcode::kStats: {
      Result<uint8_t> flags = ipc::DecodeStatsRequest(*body);
      if (!flags) return QueueError(c, request, flags.error());
      return Queue(c, {ipc::BuildFrame(ReplyOpcode(op), request, StatsBody(*flags)), {}});
    }
    case ipc::Opcode::kArena:
      return HandleArena(c, request, *body, std::move(received.fds));
    case ipc::Opcode::kPutFile:
      return HandlePutFile(c, request, *body, std::move(received.fds));
    case ipc::Opcode::kStreamOpen:
      return HandleStreamOpen(c, request, *body);
    case ipc::Opcode::kStreamPush:
      return HandleStreamChunk(c, request, /*finish=*/false, body);
    case ipc::Opcode::kStreamFinish:
      return HandleStreamChunk(c, request, /*finish=*/true, body);
    case ipc::Opcode::kStreamAbort:
      return HandleStreamAbort(c, request, *body);
    case ipc::Opcode::kDelete:
      return HandleDelete(c, request, *body);
    case ipc::Opcode::kPurge:
      return HandlePurge(c, request, *body);
    case ipc::Opcode::kList:
      return HandleList(c, request, *body);
    case ipc::Opcode::kVerify:
      return HandleVerify(c, request, *body);
    case ipc::Opcode::kClaimDrop:
      return HandleClaimDrop(c, request, *body);
    case ipc::Opcode::kSlotAcquire:
      return HandleSlotAcquire(c, request, *body);
    case ipc::Opcode::kSlotRelease:
      return HandleSlotRelease(c, request, *body);
    case ipc::Opcode::kHasKeys: {
      // On the loop: at most kMaxKeysPerHas lookups in the mapped index.
      Result<ipc::HasKeysRequest> has = ipc::DecodeHasKeysRequest(*body);
      if (!has) return QueueError(c, request, has.error());
      std::vector<CacheKey> keys(has->count());
      for (size_t i = 0; i < keys.size(); ++i) {
        std::copy_n(has->keys.begin() + static_cast<long>(32 * i), 32, keys[i].digest.begin());
      }
      Result<std::vector<bool>> cached = store_->HasKeys(has->engine, keys);
      if (!cached) return QueueError(c, request, cached.error());
      return Queue(
          c, {ipc::BuildFrame(ReplyOpcode(op), request, ipc::EncodeHasKeysReply(*cached)), {}});
    }
    case ipc::Opcode::kGet: {
      Result<ipc::GetRequest> get = ipc::DecodeGetRequest(*body);
      if (!get) return QueueError(c, request, get.error());
      return HandleGet(c, request, *get);
    }
    case ipc::Opcode::kPut: {
      Result<ipc::PutRequest> put = ipc::DecodePutRequest(*body);
      if (!put) return QueueError(c, request, put.error());
      Result<std::span<const uint8_t>> audio = AudioBytes(put->audio, c.arena);
      if (!audio) return QueueError(c, request, audio.error());
      const bool in_arena = put->audio.place == ipc::AudioPlace::kArena;
      if (in_arena && !ReserveArenaCopy(c, request, put->audio.length)) return;
      SubmitJob(c, request, [this, body, arena = c.arena, put = *put, audio = *audio, in_arena] {
        Completion done;
        done.opcode = ReplyOpcode(ipc::Opcode::kPut);
        // The client can still write its arena: what is checked must be what
        // is stored, so the store reads a private copy.
        const std::vector<uint8_t> copy =
            in_arena ? std::vector<uint8_t>(audio.begin(), audio.end()) : std::vector<uint8_t>();
        if (auto s = store_->Put(put.engine, put.text, in_arena ? copy : audio); !s) {
          done.opcode = static_cast<uint8_t>(ipc::Opcode::kError);
          done.body = ErrorBody(s.error());
          done.error = true;
        } else {
          done.stored_entry = ClaimKey(put.engine, s->key);  // fulfils its claim
          OfferToTier(put.engine, s->key);
        }
        return done;
      });
      return;
    }
    case ipc::Opcode::kEncode: {
      if (Status s = OpusAllowed(); !s) return QueueError(c, request, s.error());
      Result<ipc::EncodeRequest> enc = ipc::DecodeEncodeRequest(*body);
      if (!enc) return QueueError(c, request, enc.error());
      Result<std::span<const uint8_t>> audio = AudioBytes(enc->audio, c.arena);
      if (!audio) return QueueError(c, request, audio.error());
      // Read here, on the loop: a reload rewrites the configuration.
      const OpusParams params = Effective(enc->params);
      const int max_seconds = config_.config.daemon.max_encode_seconds;
      // Made on the first slice, on a worker: parsing and creating the
      // encoder stay off the loop.
      auto task = std::make_shared<std::optional<EncodeToOutput>>();
      SubmitJob(
          c, request,
          [this, body, arena = c.arena, enc = *enc, audio = *audio, params, max_seconds,
           task]() -> std::optional<Completion> {
            if (!*task) task->emplace(audio, params, max_seconds, enc.output, arena);
            if (!(*task)->Step()) return std::nullopt;
            encodes_++;
            encode_histogram_.Record((*task)->ElapsedUs());
            Completion done;
            std::tie(done.opcode, done.body) =
                (*task)->Reply(ReplyOpcode(ipc::Opcode::kEncode), nullptr);
            done.error = done.opcode == static_cast<uint8_t>(ipc::Opcode::kError);
            return done;
          },
          /*cancellable=*/true);
      return;
    }
    case ipc::Opcode::kPutEncode: {
      if (Status s = OpusAllowed(); !s) return QueueError(c, request, s.error());
      Result<ipc::PutEncodeRequest> pe = ipc::DecodePutEncodeRequest(*body);
      if (!pe) return QueueError(c, request, pe.error());
      Result<std::span<const uint8_t>> audio_ref = AudioBytes(pe->audio, c.arena);
      if (!audio_ref) return QueueError(c, request, audio_ref.error());
      const OpusParams params = Effective(pe->params);
      const int max_seconds = config_.config.daemon.max_encode_seconds;
      const bool in_arena = pe->audio.place == ipc::AudioPlace::kArena;
      if (in_arena && !ReserveArenaCopy(c, request, pe->audio.length)) return;
      struct PutThenEncode {
        std::vector<uint8_t> copy;  // of arena audio: what is checked is what is stored
        std::span<const uint8_t> audio;
        std::optional<EncodeToOutput> encode;
        uint64_t generation = 0;  // of the entry stored: its variant must match it
        CacheKey key;
      };
      auto task = std::make_shared<PutThenEncode>();
      SubmitJob(
          c, request,
          [this, body, arena = c.arena, pe = *pe, audio_ref = *audio_ref, params, max_seconds,
           in_arena, task]() -> std::optional<Completion> {
            if (!task->encode) {
              if (in_arena) task->copy.assign(audio_ref.begin(), audio_ref.end());
              task->audio = in_arena ? std::span<const uint8_t>(task->copy) : audio_ref;
              task->encode.emplace(task->audio, params, max_seconds, pe.output, arena);
              // Refused (too long, bad audio, no arena range) before anything
              // is stored; else the WAV is stored first, then encoded.
              if (!task->encode->failed()) {
                Result<StoredEntry> stored = store_->Put(pe.engine, pe.text, task->audio);
                if (!stored) {
                  Completion failed;
                  failed.opcode = static_cast<uint8_t>(ipc::Opcode::kError);
                  failed.body = ErrorBody(stored.error());
                  failed.error = true;
                  return failed;
                }
                task->generation = stored->generation;
                task->key = stored->key;
                // The claim is fulfilled now, not after the encode: waiters
                // for the WAV need not wait for it, and a client that leaves
                // mid-encode (its job is then dropped between slices) still
                // fulfils what it stored. A completion for no connection
                // carries only that.
                Completion fulfilled;
                fulfilled.stored_entry = ClaimKey(pe.engine, stored->key);
                Post(std::move(fulfilled));
                OfferToTier(pe.engine, stored->key);
              }
            }
            if (!task->encode->Step()) return std::nullopt;
            encodes_++;
            encode_histogram_.Record(task->encode->ElapsedUs());
            Completion done;
            std::vector<uint8_t> encoded;
            std::tie(done.opcode, done.body) =
                task->encode->Reply(ReplyOpcode(ipc::Opcode::kPutEncode), &encoded);
            done.error = done.opcode == static_cast<uint8_t>(ipc::Opcode::kError);
            if (!done.error) {
              if (Status s =
                      store_->PutVariant(pe.engine, pe.text, task->generation, params, encoded);
                  !s) {
                log::Warning("put_encode: variant not stored: " + s.error().message);
              } else {
                OfferToTier(pe.engine, task->key, &params, task->audio);
              }
            }
            return done;
          },
          /*cancellable=*/true);
      return;
    }
    default:
      return QueueError(c, request,
                        MakeError(Errc::kInvalidArgument,
                                  "unknown opcode 0x" + ipc::Hex32(frame.header.opcode).substr(6)));
  }
}

void Server::HandlePutFile(Connection& c, uint64_t request, std::span<const uint8_t> body,
                           std::vector<UniqueFd> fds) {
  Result<ipc::PutFileRequest> put = ipc::DecodePutFileRequest(body);
  if (!put) return QueueError(c, request, put.error());
  if (fds.size() != 1) {
    return QueueError(
        c, request,
        MakeError(Errc::kInvalidArgument, "PUT_FILE carries " + std::to_string(fds.size()) +
                                              " descriptors, expected 1 (the WAV file)"));
  }
  CacheKey key;
  std::copy(put->key.begin(), put->key.end(), key.digest.begin());
  // Checked, copied and published on a worker: fstat, a copy of up to the
  // largest audio a put may bring, and fsync must not stall the loop. The
  // copy goes a slice per turn, so a large file does not hold a worker from
  // other connections; it is in the kernel, so no request memory is held.
  struct Adoption {
    UniqueFd file;
    std::unique_ptr<FileAdoption> copy;
  };
  auto task = std::make_shared<Adoption>();
  task->file = std::move(fds[0]);
  SubmitJob(
      c, request,
      [this, task, engine = std::string(put->engine), key, last_used = put->last_used_ns,
       entry = ClaimKey(put->engine, key),
       max_size = input_budget_.limit()]() -> std::optional<Completion> {
        Completion done;
        auto failed = [&](const Error& e) {
          done.opcode = static_cast<uint8_t>(ipc::Opcode::kError);
          done.body = ErrorBody(e);
          done.error = true;
          return done;
        };
        if (!task->copy) {
          Result<std::unique_ptr<FileAdoption>> started =
              store_->StartPutFile(engine, key, task->file.get(), last_used, max_size);
          if (!started) return failed(started.error());
          task->copy = std::move(*started);
        }
        Result<bool> copied = store_->ContinuePutFile(*task->copy, kPutFileSliceBytes);
        if (!copied) return failed(copied.error());
        if (!*copied) return std::nullopt;  // the next slice, in this connection's next turn
        Result<PutFileResult> stored = store_->FinishPutFile(*task->copy);
        task->file.reset();
        if (!stored) return failed(stored.error());
        ipc::PutFileReply reply;
        reply.size = stored->size;
        reply.outcome = stored->outcome == PutFileOutcome::kStored ? ipc::PutFileOutcome::kStored
                        : stored->outcome == PutFileOutcome::kAlreadyCached
                            ? ipc::PutFileOutcome::kAlreadyCached
                            : ipc::PutFileOutcome::kEvictedAtOnce;
        done.opcode = ReplyOpcode(ipc::Opcode::kPutFile);
        done.body = ipc::EncodePutFileReply(reply);
        // Evicted at once is no entry to serve: its waiters wait on.
        if (stored->outcome != PutFileOutcome::kEvictedAtOnce) done.stored_entry = entry;
        // What was cached already came from somewhere that offered it then.
        if (stored->outcome == PutFileOutcome::kStored) OfferToTier(engine, key);
        return done;
      },
      /*cancellable=*/true);  // a client that left is not waiting: its copy is discarded
}

void Server::HandleArena(Connection& c, uint64_t request, std::span<const uint8_t> body,
                         std::vector<UniqueFd> fds) {
  Result<uint64_t> size = ipc::DecodeArenaRequest(body);
  if (!size) return QueueError(c, request, size.error());
  if (fds.size() != 1) {
    return QueueError(
        c, request,
        MakeError(Errc::kInvalidArgument, "ARENA carries " + std::to_string(fds.size()) +
                                              " descriptors, expected 1 memfd"));
  }
  Result<MappedRegion> mapped = ipc::MapPeerArena(fds[0].get(), ipc::kMaxArenaBytes);
  if (!mapped) return QueueError(c, request, mapped.error());
  if (mapped->size() != *size) {
    return QueueError(c, request,
                      MakeError(Errc::kInvalidArgument, "ARENA says " + std::to_string(*size) +
                                                            " bytes, the memfd has " +
                                                            std::to_string(mapped->size())));
  }
  // Jobs still running keep the old arena mapped through their shared_ptr.
  c.arena = std::make_shared<MappedRegion>(std::move(*mapped));
  Queue(c, {ipc::BuildFrame(ReplyOpcode(ipc::Opcode::kArena), request, {}), {}});
}

void Server::HandleGet(Connection& c, uint64_t request, const ipc::GetRequest& get,
                       const TierPass* tier) {
  const uint8_t reply_op = ReplyOpcode(ipc::Opcode::kGet);
  auto reply_with = [&](CachedFile file) {
    const ipc::FileId id{file.id_nonce, file.id_sequence};
    bool by_descriptor = get.delivery == ipc::Delivery::kDescriptor;
    if (by_descriptor && !(id.valid() && id == get.known) && !MayPassDescriptor(c)) {
      // Descriptors parked unread count against the daemon's own limit.
      if (file.size > kInlineFallbackBytes) {
        busy_++;
        return QueueError(c, request, TooManyUnreadDescriptors(), kBusyRetryMs);
      }
      by_descriptor = false;
    }
    if (by_descriptor) {
      if (id.valid() && id == get.known) {
        // The client still maps this very file: no descriptor to pass, and
        // the client skips mmap/munmap/close (SCM_RIGHTS plus those measured
        // 8–30 µs per hit here, against a 21–29 µs round trip).
        return Queue(c, {ipc::BuildFrame(
                             reply_op, request,
                             ipc::EncodeAudioReply(ipc::AudioPlace::kUnchanged, file.size, {}, id)),
                         {}});
      }
      // The client maps the cached file itself: nothing is copied.
      return Queue(
          c, {ipc::BuildFrame(reply_op, request,
                              ipc::EncodeAudioReply(ipc::AudioPlace::kArena, file.size, {}, id),
                              ipc::kFlagFd),
              std::move(file.fd)});
    }
    if (file.size > kMaxInlineAudio) {
      return QueueError(c, request,
                        MakeError(Errc::kTooLarge,
                                  "the entry is " + std::to_string(file.size) +
                                      " bytes, more than a reply carries inline (" +
                                      std::to_string(kMaxInlineAudio) + "); ask for a descriptor"));
    }
    Result<std::vector<uint8_t>> bytes = ReadCachedFile(file);
    if (!bytes) return QueueError(c, request, bytes.error());
    Queue(c, {ipc::BuildFrame(reply_op, request,
                              ipc::EncodeAudioReply(ipc::AudioPlace::kInline, file.size, *bytes)),
              {}});
  };
  if (get.format == ipc::AudioFormat::kWav) {
    Result<std::optional<CachedFile>> hit = store_->Get(get.engine, get.text);
    if (!hit) return QueueError(c, request, hit.error());
    if (!*hit) {
      if (!tier && AskTier(c, request, get, /*want_wav=*/true, 0, {})) return;
      return AnswerMiss(c, request, get);
    }
    return reply_with(std::move(**hit));
  }
  if (Status s = OpusAllowed(); !s) return QueueError(c, request, s.error());
  const OpusParams params = Effective(get.params);
  const int max_seconds = config_.config.daemon.max_encode_seconds;
  Result<VariantLookup> lookup = store_->GetVariant(get.engine, get.text, params);
  if (!lookup) return QueueError(c, request, lookup.error());
  if (lookup->variant) return reply_with(std::move(*lookup->variant));
  // No WAV: the Opus GET's miss is the entry's (one claim for every format).
  if (!lookup->wav) {
    if (!tier && AskTier(c, request, get, /*want_wav=*/true, 0, params)) return;
    return AnswerMiss(c, request, get);
  }
  // Encode once, however many ask: later askers wait on the first one's job.
  const CacheKey entry_key = store_->Resolve(get.engine, get.text)->second;
  const std::string key =
      std::string(get.engine) + "/" + entry_key.hex() + "/" + VariantTag(params);
  auto pending = pending_variants_.find(key);
  if (pending != pending_variants_.end()) {
    if (RefuseIfTooManyInFlight(c, request)) return;
    shared_encodes_++;
    pending->second.waiters.push_back({c.id, request, get.delivery});
    c.inflight++;
    return;
  }
  // The WAV is here, its variant not (nor being encoded): the fleet may
  // have encoded it.
  if (!(tier && tier->variant_asked) &&
      AskTier(c, request, get, /*want_wav=*/false, lookup->generation, params,
              tier ? tier->deadline_ms : 0)) {
    return;
  }
  auto wav = std::make_shared<CachedFile>(std::move(*lookup->wav));
  // SubmitJob counts this request in flight; FinishVariant settles every waiter.
  // The WAV is read, not mapped: a file truncated meanwhile is an error, not
  // SIGBUS. The variant is stored here, on the worker, only if the entry is
  // still the one whose WAV was read (its generation).
  const std::string engine(get.engine), text(get.text);
  const uint64_t generation = lookup->generation;
  struct VariantEncode {
    std::vector<uint8_t> wav;
    VectorSink sink{kMaxInlineAudio};
    std::unique_ptr<SlicedEncode> encode;
    EncodeTimer timer;  // from the job's first slice
  };
  auto task = std::make_shared<VariantEncode>();
  bool queued = SubmitJob(
      c, request,
      [this, wav, params, key, max_seconds, task, engine, text, generation,
       entry_key]() -> std::optional<Completion> {
        task->timer.StartOnce();
        Completion done;
        done.variant_key = key;
        Status encoded;
        if (!task->encode) {
          Result<std::vector<uint8_t>> bytes = ReadCachedFile(*wav);
          if (bytes) {
            task->wav = std::move(*bytes);
            Result<std::unique_ptr<SlicedEncode>> started =
                SlicedEncode::Start(task->wav, params, &task->sink, max_seconds);
            if (started) {
              task->encode = std::move(*started);
            } else {
              encoded = started.error();
            }
          } else {
            encoded = bytes.error();
          }
        }
        if (encoded) {
          Result<bool> finished = task->encode->Step();
          if (finished && !*finished) return std::nullopt;
          if (!finished) encoded = finished.error();
        }
        encodes_++;
        encode_histogram_.Record(task->timer.ElapsedUs());
        if (!encoded) {
          done.error = true;
          done.body = ErrorBody(encoded.error());
        } else {
          done.encoded = std::move(task->sink.bytes());
          if (Status s = store_->PutVariant(engine, text, generation, params, done.encoded); !s) {
            log::Warning("variant not stored: " + s.error().message);
          } else {
            OfferToTier(engine, entry_key, &params, task->wav);
          }
        }
        return done;
      });
  if (!queued) return;
  pending_variants_[key] = PendingVariant{
      std::string(get.engine), std::string(get.text), params, {{c.id, request, get.delivery}}};
}

void Server::FinishVariant(Completion& done) {
  auto it = pending_variants_.find(done.variant_key);
  if (it == pending_variants_.end()) return;
  PendingVariant pending = std::move(it->second);
  pending_variants_.erase(it);
  const uint8_t reply_op = ReplyOpcode(ipc::Opcode::kGet);
  for (const VariantWaiter& w : pending.waiters) {
    auto conn = connections_.find(w.connection);
    if (conn == connections_.end()) continue;
    Connection& c = *conn->second;
    c.inflight--;
    if (done.error) {
      errors_++;
      QueueReply(w.connection, w.request, static_cast<uint8_t>(ipc::Opcode::kError), done.body);
      continue;
    }
    if (w.delivery == ipc::Delivery::kDescriptor && !MayPassDescriptor(c) &&
        done.encoded.size() > kInlineFallbackBytes) {
      busy_++;
      QueueError(c, w.request, TooManyUnreadDescriptors(), kBusyRetryMs);
      continue;
    }
    if (w.delivery == ipc::Delivery::kDescriptor && MayPassDescriptor(c)) {
      Result<VariantLookup> stored =
          store_->GetVariant(pending.engine, pending.text, pending.params);
      if (stored && stored->variant) {
        const CachedFile& file = *stored->variant;
        QueueReply(w.connection, w.request, reply_op,
                   ipc::EncodeAudioReply(ipc::AudioPlace::kArena, file.size, {},
                                         {file.id_nonce, file.id_sequence}),
                   file.fd);
        continue;
      }
    }
    QueueReply(w.connection, w.request, reply_op,
               ipc::EncodeAudioReply(ipc::AudioPlace::kInline, done.encoded.size(), done.encoded));
  }
}

std::vector<uint8_t> Server::StatsBody(uint8_t flags) {
  CacheStats s = store_->Stats();
  ipc::StatsReply reply;
  for (auto& [name, c] : s.engines) {
    reply.engines.push_back({name, c.entries, c.bytes, c.hits, c.misses, c.puts, c.evictions,
                             c.variant_hits, c.variant_misses});
  }
  reply.connections = connections_.size();
  reply.requests = requests_;
  reply.busy = busy_;
  reply.errors = errors_;
  reply.encodes = encodes_;
  reply.shared_encodes = shared_encodes_;
  if (flags & ipc::kStatsLimits) {
    reply.has_limits = true;
    reply.max_entries = config_.config.cache.max_entries;
    reply.max_bytes = config_.config.cache.max_bytes;
  }
  if (flags & ipc::kStatsStreams) {
    reply.has_streams = true;
    reply.streams_open = streams_open_;
    reply.streams_opened = streams_opened_;
    reply.streams_stored = streams_stored_;
    reply.streams_failed = streams_failed_;
  }
  if (flags & ipc::kStatsDetail) {
    reply.has_detail = true;
    FillStatsDetail(s, &reply.detail);
  }
  if (flags & ipc::kStatsCoordinate) {
    reply.has_coordination = true;
    FillCoordinationStats(&reply.coordination);
  }
  if (flags & ipc::kStatsTier) {
    reply.has_tier = true;
    if (tier_) reply.tier = tier_->Stats();  // else enabled false: no tier configured
  }
  return ipc::EncodeStatsReply(reply);
}

}  // namespace ttscache
