// See encode_stream.hpp. Pushes are pipelined on the Client's
// connection; their replies are taken oldest first, so pages reach the
// caller in the order the input was pushed, whatever order replies arrive in.
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/src/client_impl.hpp"
#include "client/src/exception_barrier.hpp"
#include "ipc/messages.hpp"
#include "ttscache/encode_stream.hpp"

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

// A moved-from stream answers every call with this.
Error Moved() { return MakeError(Errc::kInvalidArgument, "the stream was moved from"); }

}  // namespace

// The stream's state, behind the public class's pointer: it borrows the
// Client's connection (Client::Impl stays put when a Client is moved).
struct internal::EncodeStreamState {
  Client::Impl* client = nullptr;
  uint64_t connection = 0;  // the client's connection the stream was opened on
  uint32_t id = 0;
  uint64_t window = 0;  // input bytes that may be in flight
  EncodeStream::PageSink on_pages;
  std::deque<std::pair<uint64_t, uint64_t>> in_flight;  // (request id, bytes), oldest first
  uint64_t in_flight_bytes = 0;
  bool open = true;
  std::optional<Error> failed;

  Status Fail(const Error& e);
  // The stream's id names it only on the connection it was opened on: after
  // a reconnect it may name another stream of this client. Fails the stream.
  Status CheckConnection();
  // Hands pages to the caller's sink; a sink that throws ends the stream
  // (pages it did not take are a hole in the Ogg stream).
  Status Deliver(std::span<const uint8_t> pages);
  // Takes the oldest push's reply: waiting for it, or only if it is there.
  Result<bool> CollectOldest(bool wait);
  Status SendPush(std::vector<uint8_t> body, uint64_t bytes);
  Status Collect();
  Status WaitForPages(int timeout_ms);
  Status Push(std::span<const uint8_t> bytes);
  Status PushFromArena(uint64_t offset, uint64_t length);
  Result<StreamResult> Finish();
  Status Abort();
};

Status internal::EncodeStreamState::Fail(const Error& e) {
  if (!failed) failed = e;
  // The daemon ended the stream (or the connection is gone): replies still
  // due carry nothing the caller can use.
  for (auto& [request, bytes] : in_flight) client->Abandon(request);
  in_flight.clear();
  in_flight_bytes = 0;
  open = false;
  return *failed;
}

Status internal::EncodeStreamState::CheckConnection() {
  if (client->connection() == connection) return {};
  return Fail(MakeError(Errc::kUnavailable,
                        "the stream's connection to the daemon is gone (the daemon restarted "
                        "or the client reconnected): the stream ended"));
}

Status internal::EncodeStreamState::Deliver(std::span<const uint8_t> pages) {
  if (pages.empty() || !on_pages) return {};
  Error why{Errc::kInternal, ""};
  try {
    on_pages(pages);
    return {};
  } catch (const std::bad_alloc&) {
    why = Error{Errc::kOutOfMemory, "out of memory"};
  } catch (const std::exception& e) {
    why = MakeError(Errc::kInternal, std::string("the page sink threw: ") + e.what());
  } catch (...) {
    why = MakeError(Errc::kInternal, "the page sink threw");
  }
  const bool daemon_has_it = open;
  Status failed_status = Fail(why);
  if (daemon_has_it) {  // the daemon's side is still open: end it, without waiting
    Result<uint64_t> request =
        client->Send(ipc::Opcode::kStreamAbort, ipc::EncodeStreamIdRequest(id));
    if (request) client->Abandon(*request);
  }
  return failed_status;
}

Result<bool> internal::EncodeStreamState::CollectOldest(bool wait) {
  const uint64_t request = in_flight.front().first;
  Result<std::optional<Client::Impl::Reply>> reply = client->ReceiveOrPoll(request, wait);
  if (!reply) return Fail(reply.error()).error();
  if (!*reply) return false;
  in_flight_bytes -= in_flight.front().second;
  in_flight.pop_front();
  if (IsError((*reply)->opcode)) return Fail(Client::Impl::ErrorFromBody((*reply)->body)).error();
  Result<std::span<const uint8_t>> pages =
      Client::Impl::FromDaemon(ipc::DecodeStreamPagesReply((*reply)->body));
  if (!pages) return Fail(pages.error()).error();
  if (Status delivered = Deliver(*pages); !delivered) return delivered.error();
  return true;
}

Status internal::EncodeStreamState::SendPush(std::vector<uint8_t> body, uint64_t bytes) {
  while (!in_flight.empty() &&
         (in_flight_bytes + bytes > window || in_flight.size() >= kMaxPushesInFlight)) {
    if (Result<bool> r = CollectOldest(/*wait=*/true); !r) return r.error();
  }
  Result<uint64_t> request = client->Send(ipc::Opcode::kStreamPush, body);
  if (!request) return Fail(request.error());
  in_flight.emplace_back(*request, bytes);
  in_flight_bytes += bytes;
  return Collect();  // pages that are ready go to the caller now, not at the next wait
}

Status internal::EncodeStreamState::Collect() {
  if (failed) return *failed;
  if (Status s = CheckConnection(); !s) return s;
  while (!in_flight.empty()) {
    Result<bool> taken = CollectOldest(/*wait=*/false);
    if (!taken) return taken.error();
    if (!*taken) break;
  }
  return {};
}

Status internal::EncodeStreamState::WaitForPages(int timeout_ms) {
  if (failed) return *failed;
  if (Status s = CheckConnection(); !s) return s;
  if (in_flight.empty()) return {};
  pollfd p{client->socket_fd(), POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) < 0 && errno != EINTR) {
    return Fail(MakeError(Errc::kUnavailable, "poll on the daemon's socket failed"));
  }
  return Collect();
}

Status internal::EncodeStreamState::Push(std::span<const uint8_t> bytes) {
  if (failed) return *failed;
  if (Status s = CheckConnection(); !s) return s;
  if (!open) return MakeError(Errc::kInvalidArgument, "push to a stream that was finished");
  do {
    const std::span<const uint8_t> piece = bytes.first(std::min<size_t>(bytes.size(), window));
    ipc::StreamPushRequest p{id, {ipc::AudioPlace::kInline, piece, 0, 0}};
    if (Status s = SendPush(ipc::EncodeStreamPushRequest(p), piece.size()); !s) return s;
    bytes = bytes.subspan(piece.size());
  } while (!bytes.empty());
  return {};
}

Status internal::EncodeStreamState::PushFromArena(uint64_t offset, uint64_t length) {
  if (failed) return *failed;
  if (Status s = CheckConnection(); !s) return s;
  if (!open) return MakeError(Errc::kInvalidArgument, "push to a stream that was finished");
  do {
    const uint64_t piece = std::min(length, window);
    ipc::StreamPushRequest p{id, {ipc::AudioPlace::kArena, {}, offset, piece}};
    if (Status s = SendPush(ipc::EncodeStreamPushRequest(p), piece); !s) return s;
    offset += piece;
    length -= piece;
  } while (length > 0);
  return {};
}

Result<StreamResult> internal::EncodeStreamState::Finish() {
  if (failed) return *failed;
  if (Status s = CheckConnection(); !s) return s.error();
  if (!open) return MakeError(Errc::kInvalidArgument, "the stream was finished already");
  Result<uint64_t> request =
      client->Send(ipc::Opcode::kStreamFinish, ipc::EncodeStreamIdRequest(id));
  if (!request) return Fail(request.error()).error();
  while (!in_flight.empty()) {
    if (Result<bool> r = CollectOldest(/*wait=*/true); !r) {
      client->Abandon(*request);
      return r.error();
    }
  }
  open = false;
  Result<Client::Impl::Reply> reply = client->Receive(*request);
  if (!reply) return Fail(reply.error()).error();
  if (IsError(reply->opcode)) return Fail(Client::Impl::ErrorFromBody(reply->body)).error();
  Result<ipc::StreamFinishReply> end =
      Client::Impl::FromDaemon(ipc::DecodeStreamFinishReply(reply->body));
  if (!end) return Fail(end.error()).error();
  if (Status delivered = Deliver(end->pages); !delivered) return delivered.error();
  StreamResult result;
  result.samples_48k = end->samples_48k;
  result.cached = end->cached == ipc::StreamCached::kStored      ? StreamResult::Cached::kStored
                  : end->cached == ipc::StreamCached::kNotStored ? StreamResult::Cached::kNotStored
                                                                 : StreamResult::Cached::kNotAsked;
  result.note = std::string(end->note);
  return result;
}

Status internal::EncodeStreamState::Abort() {
  if (!open) return {};
  if (!CheckConnection()) return {};  // the daemon dropped it with the connection
  (void)Fail(MakeError(Errc::kInvalidArgument, "the stream was aborted"));
  Result<uint64_t> request =
      client->Send(ipc::Opcode::kStreamAbort, ipc::EncodeStreamIdRequest(id));
  if (!request) return request.error();
  Result<Client::Impl::Reply> reply = client->Receive(*request);
  if (!reply) return reply.error();
  // "No such stream": the daemon had ended it already (an error in flight).
  return {};
}

// --- The public class: each call crosses the exception barrier once. ---

EncodeStream::EncodeStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
EncodeStream::EncodeStream(EncodeStream&&) noexcept = default;

EncodeStream& EncodeStream::operator=(EncodeStream&& o) noexcept {
  if (this != &o) {
    if (state_) (void)Abort();
    state_ = std::move(o.state_);
  }
  return *this;
}

EncodeStream::~EncodeStream() {
  if (state_) (void)Abort();
}

Status EncodeStream::Push(std::span<const uint8_t> bytes) {
  if (!state_) return Moved();
  return CatchAtEdge([&] { return state_->Push(bytes); });
}

Status EncodeStream::PushFromArena(uint64_t offset, uint64_t length) {
  if (!state_) return Moved();
  return CatchAtEdge([&] { return state_->PushFromArena(offset, length); });
}

Result<StreamResult> EncodeStream::Finish() {
  if (!state_) return Moved();
  return CatchAtEdge([&] { return state_->Finish(); });
}

Status EncodeStream::Abort() {
  if (!state_) return {};
  return CatchAtEdge([&] { return state_->Abort(); });
}

Status EncodeStream::Collect() {
  if (!state_) return Moved();
  return CatchAtEdge([&] { return state_->Collect(); });
}

Status EncodeStream::WaitForPages(int timeout_ms) {
  if (!state_) return Moved();
  return CatchAtEdge([&] { return state_->WaitForPages(timeout_ms); });
}

uint32_t EncodeStream::id() const { return state_ ? state_->id : 0; }
int EncodeStream::poll_fd() const { return state_ ? state_->client->socket_fd() : -1; }
size_t EncodeStream::pushes_in_flight() const { return state_ ? state_->in_flight.size() : 0; }

Result<EncodeStream> Client::OpenEncodeStream(const StreamFormat& format,
                                              EncodeStream::PageSink on_pages,
                                              const OpusParams& params, std::string_view engine,
                                              std::string_view text) {
  if (!impl_) return MakeError(Errc::kInvalidArgument, "the client was moved from");
  return CatchAtEdge([&]() -> Result<EncodeStream> {
    Result<ipc::StreamOpenReply> opened = impl_->OpenEncodeStream(format, params, engine, text);
    if (!opened) return opened.error();
    auto state = std::make_unique<EncodeStream::State>();
    state->client = impl_.get();
    state->connection = impl_->connection();
    state->id = opened->stream;
    state->window = std::max<uint64_t>(opened->max_buffered_bytes / 2, kMinWindow);
    state->on_pages = std::move(on_pages);
    return EncodeStream(std::move(state));
  });
}

}  // namespace ttscache
