// Request handling for Server (see server.hpp): decode, check, then answer
// on the loop (HELLO, PING, STATS, ARENA, cache hits) or hand a job to the
// workers (PUT, ENCODE, PUT_ENCODE, variant encodes). Every failure becomes
// an ERROR reply to that request; the connection and everyone else go on.
#include <sys/mman.h>
#include <sys/socket.h>

#include "core/audio/ogg_opus_encoder.hpp"
#include "core/log.hpp"
#include "daemon/server.hpp"

namespace ttscache {
namespace {

constexpr uint32_t kBusyRetryMs = 50;

uint8_t ReplyOpcode(ipc::Opcode op) { return static_cast<uint8_t>(op) | ipc::kReplyBit; }

std::vector<uint8_t> ErrorBody(const Error& e, uint64_t needed = 0) {
  return ipc::EncodeErrorReply({ToWireError(e.code), 0, needed, e.message});
}

// Encodes `wav` to where the request said: into the arena range (zero copy:
// the encoder's pages land straight in the client's memory) or into the reply.
std::pair<uint8_t, std::vector<uint8_t>> EncodeToOutput(
    std::span<const uint8_t> wav, const OpusParams& params, const ipc::OutputRef& output,
    const std::shared_ptr<ipc::MappedRegion>& arena, uint8_t reply_opcode,
    std::vector<uint8_t>* encoded_copy) {
  const uint8_t error_op = static_cast<uint8_t>(ipc::Opcode::kError);
  if (output.place == ipc::AudioPlace::kArena) {
    if (!arena || !ipc::RangeInside(output.offset, output.capacity, arena->size())) {
      return {error_op, ErrorBody(MakeError(Errc::kInvalidArgument,
                                            "output range outside the arena (or no arena)"))};
    }
    SpanSink sink(arena->bytes().subspan(output.offset, output.capacity));
    if (Status s = EncodeWavToOggOpus(wav, params, &sink); !s)
      return {error_op, ErrorBody(s.error())};
    if (sink.overflowed()) {
      return {error_op, ErrorBody(MakeError(Errc::kTooLarge,
                                            "output range of " + std::to_string(output.capacity) +
                                                " bytes is too small, " +
                                                std::to_string(sink.needed()) + " needed"),
                                  sink.needed())};
    }
    if (encoded_copy) {
      auto bytes = arena->bytes().subspan(output.offset, sink.needed());
      encoded_copy->assign(bytes.begin(), bytes.end());
    }
    return {reply_opcode, ipc::EncodeAudioReply(ipc::AudioPlace::kArena, sink.needed(), {})};
  }
  VectorSink sink;
  if (Status s = EncodeWavToOggOpus(wav, params, &sink); !s)
    return {error_op, ErrorBody(s.error())};
  if (encoded_copy) *encoded_copy = sink.bytes();
  return {reply_opcode,
          ipc::EncodeAudioReply(ipc::AudioPlace::kInline, sink.bytes().size(), sink.bytes())};
}

}  // namespace

OpusParams Server::Effective(const OpusParams& requested) const {
  // Bitrate 0 on the wire means "the daemon's configured settings".
  return requested.bitrate_kbps == 0 ? config_.config.opus.params : requested;
}

Result<std::span<const uint8_t>> Server::AudioBytes(
    const ipc::AudioRef& ref, const std::shared_ptr<ipc::MappedRegion>& arena) {
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

bool Server::RefuseIfTooManyInFlight(Connection& c, uint64_t request) {
  if (c.inflight < ipc::kMaxInflightPerConnection) return false;
  busy_++;
  QueueError(c, request, MakeError(Errc::kBusy, "too many requests in flight on this connection"),
             kBusyRetryMs);
  return true;
}

bool Server::SubmitJob(Connection& c, uint64_t request, std::function<Completion()> job) {
  if (RefuseIfTooManyInFlight(c, request)) return false;
  const uint64_t connection = c.id;
  jobs_running_++;
  bool queued = workers_->TrySubmit([this, job = std::move(job), connection, request] {
    Completion done = job();
    done.connection = connection;
    done.request = request;
    Post(std::move(done));
    jobs_running_--;
  });
  if (!queued) {
    jobs_running_--;
    busy_++;
    QueueError(c, request, MakeError(Errc::kBusy, "the job queue is full"), kBusyRetryMs);
    return false;
  }
  c.inflight++;
  return true;
}

void Server::Dispatch(Connection& c, ipc::Frame frame) {
  const uint64_t request = frame.header.request_id;
  const auto op = static_cast<ipc::Opcode>(frame.header.opcode);
  // Descriptors are accepted with ARENA only; any other is closed unread.
  if (op != ipc::Opcode::kArena && !c.received_fds.empty()) {
    c.received_fds.clear();
    QueueError(c, request,
               MakeError(Errc::kInvalidArgument,
                         "a descriptor came with a request that takes none; closed"));
    return;
  }
  if (stopping_) {
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
    case ipc::Opcode::kStats:
      return Queue(c, {ipc::BuildFrame(ReplyOpcode(op), request, StatsBody()), {}});
    case ipc::Opcode::kArena:
      return HandleArena(c, request, *body);
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
      SubmitJob(c, request, [this, body, arena = c.arena, put = *put, audio = *audio] {
        Completion done;
        done.opcode = ReplyOpcode(ipc::Opcode::kPut);
        if (auto s = store_->Put(put.engine, put.text, audio); !s) {
          done.opcode = static_cast<uint8_t>(ipc::Opcode::kError);
          done.body = ErrorBody(s.error());
          done.error = true;
        }
        return done;
      });
      return;
    }
    case ipc::Opcode::kEncode: {
      Result<ipc::EncodeRequest> enc = ipc::DecodeEncodeRequest(*body);
      if (!enc) return QueueError(c, request, enc.error());
      Result<std::span<const uint8_t>> audio = AudioBytes(enc->audio, c.arena);
      if (!audio) return QueueError(c, request, audio.error());
      SubmitJob(c, request, [this, body, arena = c.arena, enc = *enc, audio = *audio] {
        encodes_++;
        Completion done;
        std::tie(done.opcode, done.body) =
            EncodeToOutput(audio, Effective(enc.params), enc.output, arena,
                           ReplyOpcode(ipc::Opcode::kEncode), nullptr);
        done.error = done.opcode == static_cast<uint8_t>(ipc::Opcode::kError);
        return done;
      });
      return;
    }
    case ipc::Opcode::kPutEncode: {
      Result<ipc::PutEncodeRequest> pe = ipc::DecodePutEncodeRequest(*body);
      if (!pe) return QueueError(c, request, pe.error());
      Result<std::span<const uint8_t>> audio = AudioBytes(pe->audio, c.arena);
      if (!audio) return QueueError(c, request, audio.error());
      SubmitJob(c, request, [this, body, arena = c.arena, pe = *pe, audio = *audio] {
        Completion done;
        done.opcode = static_cast<uint8_t>(ipc::Opcode::kError);
        done.error = true;
        Result<uint64_t> generation = store_->Put(pe.engine, pe.text, audio);
        if (!generation) {
          done.body = ErrorBody(generation.error());
          return done;
        }
        encodes_++;
        const OpusParams params = Effective(pe.params);
        std::vector<uint8_t> encoded;
        std::tie(done.opcode, done.body) = EncodeToOutput(
            audio, params, pe.output, arena, ReplyOpcode(ipc::Opcode::kPutEncode), &encoded);
        done.error = done.opcode == static_cast<uint8_t>(ipc::Opcode::kError);
        if (!done.error) {
          if (Status s = store_->PutVariant(pe.engine, pe.text, *generation, params, encoded); !s) {
            log::Warning("put_encode: variant not stored: " + s.error().message);
          }
        }
        return done;
      });
      return;
    }
    default:
      return QueueError(c, request,
                        MakeError(Errc::kInvalidArgument,
                                  "unknown opcode 0x" + ipc::Hex32(frame.header.opcode).substr(6)));
  }
}

void Server::HandleArena(Connection& c, uint64_t request, std::span<const uint8_t> body) {
  std::vector<UniqueFd> fds = std::move(c.received_fds);
  c.received_fds.clear();
  Result<uint64_t> size = ipc::DecodeArenaRequest(body);
  if (!size) return QueueError(c, request, size.error());
  if (fds.size() != 1) {
    return QueueError(
        c, request,
        MakeError(Errc::kInvalidArgument, "ARENA carries " + std::to_string(fds.size()) +
                                              " descriptors, expected 1 memfd"));
  }
  Result<ipc::MappedRegion> mapped = ipc::MapPeerArena(fds[0].get(), ipc::kMaxArenaBytes);
  if (!mapped) return QueueError(c, request, mapped.error());
  if (mapped->size() != *size) {
    return QueueError(c, request,
                      MakeError(Errc::kInvalidArgument, "ARENA says " + std::to_string(*size) +
                                                            " bytes, the memfd has " +
                                                            std::to_string(mapped->size())));
  }
  // Jobs still running keep the old arena mapped through their shared_ptr.
  c.arena = std::make_shared<ipc::MappedRegion>(std::move(*mapped));
  Queue(c, {ipc::BuildFrame(ReplyOpcode(ipc::Opcode::kArena), request, {}), {}});
}

void Server::HandleGet(Connection& c, uint64_t request, const ipc::GetRequest& get) {
  const uint8_t reply_op = ReplyOpcode(ipc::Opcode::kGet);
  auto reply_with = [&](CachedFile file) {
    if (get.delivery == ipc::Delivery::kDescriptor) {
      const ipc::FileId id{file.id_nonce, file.id_sequence};
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
    std::vector<uint8_t> bytes(file.size);
    if (::pread(file.fd.get(), bytes.data(), bytes.size(), 0) !=
        static_cast<ssize_t>(bytes.size())) {
      return QueueError(c, request, MakeError(Errc::kIo, "reading the cached file failed"));
    }
    Queue(c, {ipc::BuildFrame(reply_op, request,
                              ipc::EncodeAudioReply(ipc::AudioPlace::kInline, file.size, bytes)),
              {}});
  };
  if (get.format == ipc::AudioFormat::kWav) {
    Result<std::optional<CachedFile>> hit = store_->Get(get.engine, get.text);
    if (!hit) return QueueError(c, request, hit.error());
    if (!*hit) return QueueError(c, request, MakeError(Errc::kNotFound, "not in the cache"));
    return reply_with(std::move(**hit));
  }
  const OpusParams params = Effective(get.params);
  Result<VariantLookup> lookup = store_->GetVariant(get.engine, get.text, params);
  if (!lookup) return QueueError(c, request, lookup.error());
  if (lookup->variant) return reply_with(std::move(*lookup->variant));
  if (!lookup->wav) return QueueError(c, request, MakeError(Errc::kNotFound, "not in the cache"));

  // Encode once, however many ask: later askers wait on the first one's job.
  const std::string key = std::string(get.engine) + "/" +
                          store_->Resolve(get.engine, get.text)->second.hex() + "/" +
                          VariantTag(params);
  auto pending = pending_variants_.find(key);
  if (pending != pending_variants_.end()) {
    if (RefuseIfTooManyInFlight(c, request)) return;
    shared_encodes_++;
    pending->second.waiters.push_back({c.id, request, get.delivery});
    c.inflight++;
    return;
  }
  auto wav = std::make_shared<CachedFile>(std::move(*lookup->wav));
  // SubmitJob counts this request in flight; FinishVariant settles every waiter.
  // The WAV is read, not mapped: a file truncated meanwhile is an error, not
  // SIGBUS. The variant is stored here, on the worker, only if the entry is
  // still the one whose WAV was read (its generation).
  const std::string engine(get.engine), text(get.text);
  const uint64_t generation = lookup->generation;
  bool queued = SubmitJob(c, request, [this, wav, params, key, engine, text, generation] {
    Completion done;
    done.variant_key = key;
    Result<std::vector<uint8_t>> bytes = ReadCachedFile(*wav);
    VectorSink sink;
    Status encoded = bytes ? EncodeWavToOggOpus(*bytes, params, &sink) : bytes.error();
    encodes_++;
    if (!encoded) {
      done.error = true;
      done.body = ErrorBody(encoded.error());
    } else {
      done.encoded = std::move(sink.bytes());
      if (Status s = store_->PutVariant(engine, text, generation, params, done.encoded); !s) {
        log::Warning("variant not stored: " + s.error().message);
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
    if (w.delivery == ipc::Delivery::kDescriptor) {
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

std::vector<uint8_t> Server::StatsBody() {
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
  return ipc::EncodeStatsReply(reply);
}

}  // namespace ttscache
