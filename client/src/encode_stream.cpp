// See client.hpp (EncodeStream). Pushes are pipelined on the Client's
// connection; their replies are taken oldest first, so pages reach the
// caller in the order the input was pushed, whatever order replies arrive in.
#include <poll.h>

#include <algorithm>
#include <cerrno>

#include "ipc/messages.hpp"
#include "ttscache/client.hpp"

namespace ttscache {
namespace {

bool IsError(uint8_t opcode) { return opcode == static_cast<uint8_t>(ipc::Opcode::kError); }

// The smallest window of input in flight, whatever the daemon announced (a
// chunk larger than the window is sent as several pushes, so one push never
// waits for room it can never have).
constexpr uint64_t kMinWindow = 4096;
// Pushes in flight at once: well under the daemon's 64 requests per
// connection (a refused push would end the stream), leaving room for the
// Client's other calls between pushes.
constexpr size_t kMaxPushesInFlight = 32;

}  // namespace

EncodeStream::EncodeStream(Client* client, uint32_t id, uint32_t max_buffered_bytes,
                           PageSink on_pages)
    : client_(client),
      id_(id),
      window_(std::max<uint64_t>(max_buffered_bytes / 2, kMinWindow)),
      on_pages_(std::move(on_pages)),
      open_(true) {}

EncodeStream::EncodeStream(EncodeStream&& o) noexcept
    : client_(std::exchange(o.client_, nullptr)),
      id_(o.id_),
      window_(o.window_),
      on_pages_(std::move(o.on_pages_)),
      in_flight_(std::move(o.in_flight_)),
      in_flight_bytes_(o.in_flight_bytes_),
      open_(std::exchange(o.open_, false)),
      failed_(std::move(o.failed_)) {}

EncodeStream& EncodeStream::operator=(EncodeStream&& o) noexcept {
  if (this != &o) {
    if (open_) (void)Abort();
    client_ = std::exchange(o.client_, nullptr);
    id_ = o.id_;
    window_ = o.window_;
    on_pages_ = std::move(o.on_pages_);
    in_flight_ = std::move(o.in_flight_);
    in_flight_bytes_ = o.in_flight_bytes_;
    open_ = std::exchange(o.open_, false);
    failed_ = std::move(o.failed_);
  }
  return *this;
}

EncodeStream::~EncodeStream() {
  if (open_) (void)Abort();
}

Status EncodeStream::Fail(const Error& e) {
  if (!failed_) failed_ = e;
  // The daemon ended the stream (or the connection is gone): replies still
  // due carry nothing the caller can use.
  for (auto& [request, bytes] : in_flight_) client_->Abandon(request);
  in_flight_.clear();
  in_flight_bytes_ = 0;
  open_ = false;
  return *failed_;
}

Result<bool> EncodeStream::CollectOldest(bool wait) {
  const uint64_t request = in_flight_.front().first;
  Result<std::optional<Client::Reply>> reply = client_->ReceiveOrPoll(request, wait);
  if (!reply) return Fail(reply.error()).error();
  if (!*reply) return false;
  in_flight_bytes_ -= in_flight_.front().second;
  in_flight_.pop_front();
  if (IsError((*reply)->opcode)) return Fail(Client::ErrorFromBody((*reply)->body)).error();
  Result<std::span<const uint8_t>> pages = ipc::DecodeStreamPagesReply((*reply)->body);
  if (!pages) return Fail(pages.error()).error();
  if (!pages->empty() && on_pages_) on_pages_(*pages);
  return true;
}

Status EncodeStream::SendPush(std::vector<uint8_t> body, uint64_t bytes) {
  while (!in_flight_.empty() &&
         (in_flight_bytes_ + bytes > window_ || in_flight_.size() >= kMaxPushesInFlight)) {
    if (Result<bool> r = CollectOldest(/*wait=*/true); !r) return r.error();
  }
  Result<uint64_t> request = client_->Send(ipc::Opcode::kStreamPush, body);
  if (!request) return Fail(request.error());
  in_flight_.emplace_back(*request, bytes);
  in_flight_bytes_ += bytes;
  return Collect();  // pages that are ready go to the caller now, not at the next wait
}

Status EncodeStream::Collect() {
  if (failed_) return *failed_;
  while (!in_flight_.empty()) {
    Result<bool> taken = CollectOldest(/*wait=*/false);
    if (!taken) return taken.error();
    if (!*taken) break;
  }
  return {};
}

Status EncodeStream::WaitForPages(int timeout_ms) {
  if (failed_) return *failed_;
  if (in_flight_.empty()) return {};
  pollfd p{client_->socket_fd(), POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) < 0 && errno != EINTR) {
    return Fail(MakeError(Errc::kUnavailable, "poll on the daemon's socket failed"));
  }
  return Collect();
}

int EncodeStream::poll_fd() const { return client_ ? client_->socket_fd() : -1; }

Status EncodeStream::Push(std::span<const uint8_t> bytes) {
  if (failed_) return *failed_;
  if (!open_) return MakeError(Errc::kInvalidArgument, "push to a stream that was finished");
  do {
    const std::span<const uint8_t> piece = bytes.first(std::min<size_t>(bytes.size(), window_));
    ipc::StreamPushRequest p{id_, {ipc::AudioPlace::kInline, piece, 0, 0}};
    if (Status s = SendPush(ipc::EncodeStreamPushRequest(p), piece.size()); !s) return s;
    bytes = bytes.subspan(piece.size());
  } while (!bytes.empty());
  return {};
}

Status EncodeStream::PushFromArena(uint64_t offset, uint64_t length) {
  if (failed_) return *failed_;
  if (!open_) return MakeError(Errc::kInvalidArgument, "push to a stream that was finished");
  do {
    const uint64_t piece = std::min(length, window_);
    ipc::StreamPushRequest p{id_, {ipc::AudioPlace::kArena, {}, offset, piece}};
    if (Status s = SendPush(ipc::EncodeStreamPushRequest(p), piece); !s) return s;
    offset += piece;
    length -= piece;
  } while (length > 0);
  return {};
}

Result<StreamResult> EncodeStream::Finish() {
  if (failed_) return *failed_;
  if (!open_) return MakeError(Errc::kInvalidArgument, "the stream was finished already");
  Result<uint64_t> request =
      client_->Send(ipc::Opcode::kStreamFinish, ipc::EncodeStreamIdRequest(id_));
  if (!request) return Fail(request.error()).error();
  while (!in_flight_.empty()) {
    if (Result<bool> r = CollectOldest(/*wait=*/true); !r) {
      client_->Abandon(*request);
      return r.error();
    }
  }
  open_ = false;
  Result<Client::Reply> reply = client_->Receive(*request);
  if (!reply) return Fail(reply.error()).error();
  if (IsError(reply->opcode)) return Fail(Client::ErrorFromBody(reply->body)).error();
  Result<ipc::StreamFinishReply> end = ipc::DecodeStreamFinishReply(reply->body);
  if (!end) return Fail(end.error()).error();
  if (!end->pages.empty() && on_pages_) on_pages_(end->pages);
  StreamResult result;
  result.samples_48k = end->samples_48k;
  result.cached = end->cached == ipc::StreamCached::kStored      ? StreamResult::Cached::kStored
                  : end->cached == ipc::StreamCached::kNotStored ? StreamResult::Cached::kNotStored
                                                                 : StreamResult::Cached::kNotAsked;
  result.note = std::string(end->note);
  return result;
}

Status EncodeStream::Abort() {
  if (!open_) return {};
  (void)Fail(MakeError(Errc::kInvalidArgument, "the stream was aborted"));
  Result<uint64_t> request =
      client_->Send(ipc::Opcode::kStreamAbort, ipc::EncodeStreamIdRequest(id_));
  if (!request) return request.error();
  Result<Client::Reply> reply = client_->Receive(*request);
  if (!reply) return reply.error();
  // "No such stream": the daemon had ended it already (an error in flight).
  return {};
}

Result<EncodeStream> Client::OpenEncodeStream(const StreamFormat& format,
                                              EncodeStream::PageSink on_pages,
                                              const OpusParams& params, std::string_view engine,
                                              std::string_view text) {
  ipc::StreamOpenRequest o;
  if (format.wav) {
    o.input = ipc::StreamInput::kWav;
    o.sample_format = 0;
    o.channels = 0;
    o.sample_rate = 0;
  } else {
    o.sample_format = static_cast<uint8_t>(format.sample_format);
    o.channels = static_cast<uint8_t>(format.channels);
    o.sample_rate = static_cast<uint32_t>(format.sample_rate);
  }
  o.params = params;
  o.engine = engine;
  o.text = text;
  Result<Reply> r = Call(ipc::Opcode::kStreamOpen, ipc::EncodeStreamOpenRequest(o));
  if (!r) return r.error();
  Result<ipc::StreamOpenReply> opened = ipc::DecodeStreamOpenReply(r->body);
  if (!opened) return opened.error();
  return EncodeStream(this, opened->stream, opened->max_buffered_bytes, std::move(on_pages));
}

Result<ipc::StatsReply> Client::StatsWithStreams() {
  const uint8_t flags = ipc::kStatsLimits | ipc::kStatsStreams;
  Result<Reply> r = Call(ipc::Opcode::kStats, ipc::EncodeStatsRequest(flags));
  if (!r) return r.error();
  return ipc::DecodeStatsReply(r->body, flags);
}

void Client::Abandon(uint64_t request_id) {
  early_.erase(request_id);
  if (outstanding_.erase(request_id) != 0) abandoned_.insert(request_id);
}

}  // namespace ttscache
