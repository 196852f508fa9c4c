// Encode streams for Server (docs/protocol.md, "Encode streams"): a session
// per stream, fed by STREAM_PUSH in order, its pages sent back in each
// push's reply. Each stream runs at most one job at a time: a push queues
// behind the stream's running job and is put on the workers when that job
// is done, so a stream never holds a worker while it waits for input, and
// its jobs take turns with every other connection's (PinnedWorkerPool).
// Admission is at STREAM_OPEN (streams per connection and in all); a push
// is bounded by the connection's in-flight requests and the stream's
// max_buffered_bytes, so its job is queued with Continue, never refused.
//
// A finished stream with an engine and a text is stored on the worker, as a
// PUT_ENCODE stores: the WAV first (its generation), then the Ogg stream as
// that generation's variant. What it keeps for that counts in a budget of
// its own (stream_keep_budget_); when that is short the stream goes on but
// is not stored.
#include <algorithm>

#include "core/log.hpp"
#include "daemon/server.hpp"
#include "ipc/error_codes.hpp"
#include "ipc/wire_codec.hpp"

namespace ttscache {
namespace {

constexpr uint32_t kStreamBusyRetryMs = 50;
constexpr size_t kEndedStreamsRemembered = 16;

using ipc::ReplyOpcode;

std::string Mib(uint64_t bytes) {
  return bytes % (1u << 20) == 0 ? std::to_string(bytes >> 20) + " MiB"
                                 : std::to_string(bytes) + " bytes";
}

}  // namespace

Error Server::NoStream(const Connection& c, uint32_t id) const {
  for (const auto& [ended, why] : c.ended_streams) {
    if (ended == id) {
      return MakeError(Errc::kInvalidArgument, "stream " + std::to_string(id) + " ended: " + why);
    }
  }
  return MakeError(Errc::kInvalidArgument,
                   "no stream " + std::to_string(id) + " is open on this connection");
}

void Server::HandleStreamOpen(Connection& c, uint64_t request, std::span<const uint8_t> body) {
  if (Status s = OpusAllowed(); !s) return QueueError(c, request, s.error());
  Result<ipc::StreamOpenRequest> open = ipc::DecodeStreamOpenRequest(body);
  if (!open) return QueueError(c, request, open.error());
  const StreamSettings& limits = config_.config.stream;
  if (!open->engine.empty()) {
    // An unknown engine or an over-long text is refused now, not after the
    // whole sentence was streamed.
    if (auto key = store_->Resolve(open->engine, open->text); !key) {
      return QueueError(c, request, key.error());
    }
  }
  if (c.streams.size() >= static_cast<size_t>(limits.max_per_connection)) {
    busy_++;
    return QueueError(
        c, request,
        MakeError(Errc::kBusy, "this connection has " + std::to_string(c.streams.size()) +
                                   " streams open, the most it may "
                                   "([stream] max_per_connection); finish one first"),
        kStreamBusyRetryMs);
  }
  if (streams_open_ >= static_cast<size_t>(limits.max_total)) {
    busy_++;
    return QueueError(
        c, request,
        MakeError(Errc::kBusy, "the daemon has " + std::to_string(streams_open_) +
                                   " streams open, its maximum ([stream] max_total); retry"),
        kStreamBusyRetryMs);
  }
  auto work = std::make_shared<StreamWork>();
  if (open->input == ipc::StreamInput::kRawPcm) {
    work->spec.raw = PcmFormat{static_cast<SampleEncoding>(open->sample_format), open->channels,
                               static_cast<int>(open->sample_rate)};
  }
  work->spec.params = Effective(open->params);
  work->spec.max_seconds = static_cast<uint64_t>(limits.max_seconds);
  work->engine = std::string(open->engine);
  work->text = std::string(open->text);
  work->retain = !work->engine.empty();  // the first job copies it into spec

  const uint32_t id = c.next_stream++;
  EncodeStream& stream = c.streams[id];
  stream.work = std::move(work);
  stream.limits = limits;
  stream.last_request_ms = NowMs();
  streams_open_++;
  streams_opened_++;
  ipc::StreamOpenReply reply;
  reply.stream = id;
  reply.max_buffered_bytes = static_cast<uint32_t>(limits.max_buffered_bytes);
  reply.idle_timeout_ms = static_cast<uint32_t>(limits.idle_timeout_s) * 1000;
  reply.max_seconds = static_cast<uint32_t>(limits.max_seconds);
  Queue(c, {ipc::BuildFrame(ReplyOpcode(ipc::Opcode::kStreamOpen), request,
                            ipc::EncodeStreamOpenReply(reply)),
            {}});
}

void Server::EndStreamOfRefused(Connection& c, std::span<const uint8_t> body, const Error& why) {
  ipc::BodyReader reader(body);
  const uint32_t id = reader.U32();
  if (reader.ok() && c.streams.count(id)) EndStream(c, id, why, /*failed=*/true);
}

void Server::HandleStreamChunk(Connection& c, uint64_t request, bool finish,
                               std::shared_ptr<std::vector<uint8_t>> body) {
  uint32_t id = 0;
  StreamChunk chunk;
  chunk.request = request;
  chunk.finish = finish;
  // Any refusal of a push to an open stream ends that stream.
  auto refuse = [&](const Error& why) {
    QueueError(c, request, why);
    EndStreamOfRefused(c, *body, why);
  };
  if (finish) {
    Result<uint32_t> decoded = ipc::DecodeStreamIdRequest(*body);
    if (!decoded) return refuse(decoded.error());
    id = *decoded;
  } else {
    Result<ipc::StreamPushRequest> push = ipc::DecodeStreamPushRequest(*body);
    if (!push) return refuse(push.error());
    id = push->stream;
    Result<std::span<const uint8_t>> audio = AudioBytes(push->audio, c.arena);
    if (!audio) return refuse(audio.error());
    chunk.audio = *audio;
    if (push->audio.place == ipc::AudioPlace::kArena) chunk.arena = c.arena;
  }
  auto it = c.streams.find(id);
  if (it == c.streams.end()) return QueueError(c, request, NoStream(c, id));
  EncodeStream& stream = it->second;
  if (stream.finishing) {
    return QueueError(c, request,
                      MakeError(Errc::kInvalidArgument, "stream " + std::to_string(id) +
                                                            " was finished; nothing more "
                                                            "may be pushed to it"));
  }
  // A push refused while later ones are taken would leave a hole in the
  // audio: any refusal ends the stream.
  if (c.inflight >= ipc::kMaxInflightPerConnection) {
    busy_++;
    const Error why =
        MakeError(Errc::kBusy, "stream " + std::to_string(id) + ": " + std::to_string(c.inflight) +
                                   " requests in flight on this connection, the "
                                   "most it may have; the stream is ended");
    QueueError(c, request, why);
    return EndStream(c, id, why, /*failed=*/true);
  }
  stream.last_request_ms = NowMs();
  const uint64_t limit = stream.limits.max_buffered_bytes;
  if (chunk.audio.size() > limit - std::min(limit, stream.buffered_bytes)) {
    busy_++;
    const Error why = MakeError(
        Errc::kBusy, "stream " + std::to_string(id) + ": " +
                         std::to_string(stream.buffered_bytes + chunk.audio.size()) +
                         " bytes pushed and not yet encoded would pass [stream] "
                         "max_buffered_bytes = " +
                         Mib(limit) + "; the stream is ended (keep at most half of it in flight)");
    QueueError(c, request, why);
    return EndStream(c, id, why, /*failed=*/true);
  }
  chunk.body = std::move(body);
  chunk.hold = std::move(dispatch_hold_);
  stream.buffered_bytes += chunk.audio.size();
  stream.finishing = finish;
  stream.queued.push_back(std::move(chunk));
  c.inflight++;
  RunNextChunk(c, id, stream);
}

void Server::HandleStreamAbort(Connection& c, uint64_t request, std::span<const uint8_t> body) {
  Result<uint32_t> id = ipc::DecodeStreamIdRequest(body);
  if (!id) return QueueError(c, request, id.error());
  auto it = c.streams.find(*id);
  if (it == c.streams.end()) return QueueError(c, request, NoStream(c, *id));
  it->second.work->cancelled = true;  // a FINISH already running stores nothing
  EndStream(c, *id, MakeError(Errc::kInvalidArgument, "aborted by the client"), /*failed=*/true);
  Queue(c, {ipc::BuildFrame(ReplyOpcode(ipc::Opcode::kStreamAbort), request, {}), {}});
}

void Server::RunNextChunk(Connection& c, uint32_t id, EncodeStream& stream) {
  if (stream.running || stream.queued.empty()) return;
  stream.running = true;
  auto chunk = std::make_shared<StreamChunk>(std::move(stream.queued.front()));
  stream.queued.pop_front();
  auto job = std::make_shared<RunningJob>();
  job->client_gone = c.gone;
  job->cancellable = true;  // a client that left wants nothing of it, and nothing is stored
  job->hold = std::move(chunk->hold);
  job->connection = c.id;
  job->request = chunk->request;
  job->slice = [this, work = stream.work, chunk, id, gone = c.gone]() -> std::optional<Completion> {
    EncodeTimer timer;  // a FINISH's encode: this job, start to done
    timer.StartOnce();
    Completion done;
    done.stream = id;
    done.consumed = chunk->audio.size();
    done.finished = chunk->finish;
    auto fail = [&](const Error& e) {
      done.opcode = static_cast<uint8_t>(ipc::Opcode::kError);
      done.body = ipc::EncodeErrorReply({ipc::ToWireError(e.code), 0, 0, e.message});
      done.error = true;
      done.stream_error = e.message;
      return done;
    };
    if (!work->session) {
      work->spec.retain = work->retain;
      Result<std::unique_ptr<EncodeSession>> session = EncodeSession::Create(work->spec);
      if (!session) return fail(session.error());
      work->session = std::move(*session);
    }
    if (!work->retain) work->session->StopRetaining();
    std::vector<uint8_t> pages;
    if (!chunk->finish) {
      if (Status s = work->session->Push(chunk->audio, &pages); !s) return fail(s.error());
      done.opcode = ReplyOpcode(ipc::Opcode::kStreamPush);
      done.body = ipc::EncodeStreamPagesReply(pages);
      done.retained = work->session->retained_bytes();
      return done;
    }
    if (Status s = work->session->Finish(&pages); !s) return fail(s.error());
    encodes_++;
    encode_histogram_.Record(timer.ElapsedUs());
    ipc::StreamFinishReply reply;
    reply.pages = pages;
    reply.samples_48k = work->session->decoded_samples_48k();
    std::string note;
    if (!work->engine.empty()) {
      reply.cached = ipc::StreamCached::kNotStored;
      if (work->cancelled || *gone) {
        note = "the stream was aborted";
      } else if (!work->retain) {
        note =
            "the stream kept more than the daemon's memory for streams being cached "
            "(128 MiB, shared) allows";
      } else {
        const std::vector<uint8_t> wav = work->session->CachedWav();
        if (Result<StoredEntry> stored = store_->Put(work->engine, work->text, wav); !stored) {
          note = "the WAV was not stored: " + stored.error().message;
        } else {
          reply.cached = ipc::StreamCached::kStored;
          done.stored = true;
          done.stored_entry = ClaimKey(work->engine, stored->key);  // fulfils its claim
          OfferToTier(work->engine, stored->key);
          if (Status v = store_->PutVariant(work->engine, work->text, stored->generation,
                                            work->spec.params, work->session->ogg());
              !v) {
            note = "the WAV was stored, its Opus variant not: " + v.error().message;
          } else {
            OfferToTier(work->engine, stored->key, &work->spec.params, wav);
          }
        }
      }
      if (!note.empty()) log::Warning("stream " + std::to_string(id) + ": " + note);
    }
    reply.note = note;
    done.opcode = ReplyOpcode(ipc::Opcode::kStreamFinish);
    done.body = ipc::EncodeStreamFinishReply(reply);
    work->session.reset();  // its buffers go now, not when the loop drops the stream
    return done;
  };
  jobs_running_++;
  workers_->Continue(c.id, [this, job] { RunSlice(job); });
}

void Server::OnStreamJobDone(Completion& done) {
  auto conn = connections_.find(done.connection);
  if (conn == connections_.end()) return;  // the client left; its streams are gone
  Connection& c = *conn->second;
  c.inflight--;
  if (done.error) errors_++;
  if (!done.error && WouldRefuseReply(ipc::kHeaderSize + done.body.size())) {
    // Its pages would be replaced by BUSY: the client would have a hole.
    busy_++;
    done.error = true;
    done.stream_error = "stream " + std::to_string(done.stream) +
                        ": the daemon holds too many replies that clients have not read to "
                        "send this push's pages; the stream is ended";
    done.opcode = static_cast<uint8_t>(ipc::Opcode::kError);
    done.body = ipc::EncodeErrorReply({ipc::ErrorCode::kBusy, 100, 0, done.stream_error});
  }
  QueueReply(done.connection, done.request, done.opcode, std::move(done.body));
  auto it = c.streams.find(done.stream);
  if (it != c.streams.end()) {  // else ended (aborted, over a limit) while the job ran
    EncodeStream& stream = it->second;
    stream.running = false;
    stream.buffered_bytes -= std::min(stream.buffered_bytes, done.consumed);
    if (done.error) {
      EndStream(c, done.stream, MakeError(Errc::kInvalidArgument, done.stream_error),
                /*failed=*/true);
    } else if (done.finished) {
      if (done.stored) streams_stored_++;
      EndStream(c, done.stream, MakeError(Errc::kInvalidArgument, "it was finished"),
                /*failed=*/false);
    } else {
      // What the cache entry keeps counts in the input budget; when it
      // cannot be had, the stream goes on without being stored.
      if (stream.work->retain && done.retained > stream.retained.bytes()) {
        const uint64_t more = done.retained - stream.retained.bytes();
        if (stream_keep_budget_.TryTake(more)) {
          stream.retained.Add(&stream_keep_budget_, more);
        } else {
          stream.work->retain = false;
          stream.retained.Release();
        }
      }
      RunNextChunk(c, done.stream, stream);
    }
  }
  CloseIfFinished(c);
}

void Server::EndStream(Connection& c, uint32_t id, const Error& why, bool failed) {
  auto it = c.streams.find(id);
  if (it == c.streams.end()) return;
  EncodeStream stream = std::move(it->second);
  c.streams.erase(it);
  streams_open_--;
  if (failed) streams_failed_++;
  stream.work->cancelled = stream.work->cancelled || failed;
  c.ended_streams.emplace_back(id, why.message);
  if (c.ended_streams.size() > kEndedStreamsRemembered) c.ended_streams.pop_front();
  // A running job keeps the work alive and answers its own request; the
  // session goes with the last reference.
  for (StreamChunk& chunk : stream.queued) {
    c.inflight--;
    QueueError(c, chunk.request,
               MakeError(Errc::kInvalidArgument,
                         "stream " + std::to_string(id) + " ended: " + why.message));
  }
  stream.queued.clear();
  ResumeInputWaiters();  // the queued pushes' input budget is free again
}

void Server::ExpireIdleStreams(int64_t now) {
  for (auto& [cid, c] : connections_) {
    std::vector<uint32_t> idle;
    // Bytes still arriving, or a frame waiting for input budget, are the
    // client at work, not idle: its push is on its way.
    if (c->waiting_for_input_budget || c->reader.buffered() > 0) continue;
    for (auto& [id, stream] : c->streams) {
      const int64_t last = std::max(stream.last_request_ms, c->last_active_ms);
      if (!stream.running && stream.queued.empty() &&
          now - last > int64_t{stream.limits.idle_timeout_s} * 1000) {
        idle.push_back(id);
      }
    }
    for (uint32_t id : idle) {
      const std::string seconds = std::to_string(c->streams[id].limits.idle_timeout_s);
      log::Notice("connection " + std::to_string(cid) + " (uid " + std::to_string(c->uid) +
                  "): stream " + std::to_string(id) + " had no request for " + seconds +
                  " s; ending it");
      EndStream(*c, id,
                MakeError(Errc::kInvalidArgument,
                          "no request for " + seconds + " s ([stream] idle_timeout_s)"),
                /*failed=*/true);
    }
  }
}

}  // namespace ttscache
