// Connection I/O and backpressure (Server's members, see server.hpp): accept
// (peer credentials, the connection limit, refusing with BUSY when out of
// descriptors), reading into each connection's FrameReader, serving its frames
// one at a time while its unsent replies stay under kMaxQueuedOutputBytes,
// reserving large frames in the shared input budget, queueing and flushing
// replies (descriptor replies bounded by what clients have left unread), and
// closing connections that stall. Everything here runs on the loop thread;
// every limit it applies is listed at the top of server.hpp.
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/log.hpp"
#include "daemon/server.hpp"
#include "ipc/error_codes.hpp"
#include "ipc/fd_passing.hpp"

namespace ttscache {
namespace {

// A connection's frames wait (unread, unserved) while this much of its
// replies is unsent: one client's backlog is this plus one reply.
constexpr size_t kMaxQueuedOutputBytes = 32u << 20;
// Replies waiting unsent over all connections. A reply over kSmallReplyBytes
// that would pass it is answered BUSY instead, so clients that never read
// cannot make the daemon hold more than this (small replies are bounded by
// the per-connection limits).
constexpr uint64_t kQueuedOutputBudget = 256ull << 20;
constexpr size_t kSmallReplyBytes = 64u << 10;
// Frames up to this size need no reservation in the input budget
// (kInputBudget, server.cpp): at most this much is read for a connection
// before its frames are served.
constexpr uint32_t kUnbudgetedFrameBytes = 64u << 10;
// What a queued frame costs beyond its bytes (the OutFrame, its vector, the
// deque slot): counted, so a flood of tiny replies is bounded as well.
constexpr size_t kFrameOverhead = 64;
// A reserved frame must arrive at this rate at least (after a grace of
// send_timeout_s): a sender trickling bytes cannot sit on the budget.
constexpr uint64_t kMinReceiveBytesPerSecond = 8u << 20;
constexpr uint32_t kRetryMs = 100;
constexpr int64_t kRefusalLogIntervalMs = 10000;

uint64_t RequestIdOf(const std::vector<uint8_t>& frame) {
  uint64_t id = 0;
  for (int i = 7; i >= 0; --i) id = (id << 8) | frame[8 + static_cast<size_t>(i)];
  return id;
}

std::vector<uint8_t> BusyFrame(uint64_t request, const std::string& why) {
  return ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kError), request,
                         ipc::EncodeErrorReply({ipc::ErrorCode::kBusy, kRetryMs, 0, why}));
}

bool Allowed(const DaemonSettings& d, uid_t uid, gid_t gid) {
  if (d.allowed_uids.empty() && d.allowed_gids.empty()) return true;
  if (uid == ::getuid()) return true;  // the daemon's own user (and root's tools run as it)
  bool by_uid =
      std::find(d.allowed_uids.begin(), d.allowed_uids.end(), uid) != d.allowed_uids.end();
  bool by_gid =
      std::find(d.allowed_gids.begin(), d.allowed_gids.end(), gid) != d.allowed_gids.end();
  return by_uid || by_gid;
}

}  // namespace

void Server::Accept() {
  while (true) {
    UniqueFd fd(::accept4(listen_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd.valid()) {
      if (errno == EMFILE || errno == ENFILE) AcceptWhileOutOfDescriptors();
      return;
    }
    if (stopping_) continue;
    if (connections_.size() >= max_connections_) {
      const std::string why = "the daemon serves " + std::to_string(connections_.size()) +
                              " clients, its maximum (max_connections, RLIMIT_NOFILE)";
      static int64_t last_warning_ms = -kRefusalLogIntervalMs;
      if (NowMs() - last_warning_ms >= kRefusalLogIntervalMs) {
        log::Warning("accept: " + why + "; telling new clients BUSY until some leave");
        last_warning_ms = NowMs();
      }
      Refuse(std::move(fd), why + "; retry later");
      continue;
    }
    ucred cred{};
    socklen_t len = sizeof(cred);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len);
    auto c = std::make_unique<Connection>();
    c->id = next_connection_id_++;
    c->fd = std::move(fd);
    c->uid = cred.uid;
    c->gid = cred.gid;
    c->pid = cred.pid;
    c->last_active_ms = NowMs();
    c->last_progress_ms = c->last_active_ms;
    accepted_++;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kFirstConnectionTag + c->id;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c->fd.get(), &ev);
    Connection& ref = *c;
    connections_[c->id] = std::move(c);
    if (!Allowed(config_.config.daemon, cred.uid, cred.gid)) {
      forbidden_++;
      // One line per interval: a peer retrying in a loop must not flood the journal.
      const int64_t now = NowMs();
      if (last_refusal_log_ms_ < 0 || now - last_refusal_log_ms_ >= kRefusalLogIntervalMs) {
        log::Notice("refusing peer uid " + std::to_string(cred.uid) + " gid " +
                    std::to_string(cred.gid) + " pid " + std::to_string(cred.pid) +
                    (refusals_unlogged_ ? " (and " + std::to_string(refusals_unlogged_) +
                                              " refusals not logged since the last line)"
                                        : ""));
        last_refusal_log_ms_ = now;
        refusals_unlogged_ = 0;
      } else {
        refusals_unlogged_++;
      }
      const uint64_t id = ref.id;
      ref.closing = true;
      QueueError(ref, 0,
                 MakeError(Errc::kForbidden, "uid " + std::to_string(cred.uid) +
                                                 " is not in allowed_uids/allowed_gids"));
      if (connections_.count(id)) UpdateEvents(ref);
    }
  }
}

void Server::AcceptWhileOutOfDescriptors() {
  static int64_t last_warning_ms = 0;
  if (NowMs() - last_warning_ms > 10000) {
    log::Warning("accept: out of descriptors (" + std::to_string(connections_.size()) +
                 " clients); telling new clients BUSY until some leave");
    last_warning_ms = NowMs();
  }
  spare_fd_.reset();
  UniqueFd fd(::accept4(listen_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  // Closed by Refuse before the spare is taken back, or the spare cannot be had.
  if (fd.valid()) Refuse(std::move(fd), "the daemon is out of file descriptors; retry later");
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

void Server::Refuse(UniqueFd fd, const std::string& why) {
  busy_++;
  std::vector<uint8_t> frame =
      ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kError), 0,
                      ipc::EncodeErrorReply({ipc::ErrorCode::kBusy, 1000, 0, why}));
  [[maybe_unused]] Result<size_t> sent = ipc::SendWithFd(fd.get(), frame, -1);
}

void Server::OnReadable(Connection& c) {
  if (c.closing) {
    uint8_t sink[4096];
    if (::recv(c.fd.get(), sink, sizeof(sink), MSG_DONTWAIT) == 0) Close(c.id);
    return;
  }
  uint8_t buffer[65536];
  // At most 16 reads a turn, so one client cannot hold the loop; and none
  // while its frames may not be served (its replies pile up unread) or its
  // next frame has no input budget: what it sent waits in its socket.
  for (int rounds = 0; rounds < 16 && MayServe(c) && !c.waiting_for_input_budget; ++rounds) {
    std::vector<UniqueFd> fds;
    Result<size_t> n = ipc::ReceiveWithFds(c.fd.get(), buffer, &fds, ipc::kMaxFdsPerMessage);
    if (!n) {
      if (n.error().code == Errc::kNotFound) break;  // EAGAIN
      if (n.error().sys_errno == ECONNRESET) {       // the peer left without reading
        Close(c.id);
        return;
      }
      log::Notice("connection " + std::to_string(c.id) + ": " + n.error().message);
      errors_++;
      QueueError(c, 0, MakeError(Errc::kInvalidArgument, n.error().message));
      c.closing = true;
      UpdateEvents(c);
      return;
    }
    if (*n == 0) {
      // The peer shut its sending side (or left): what it asked for is still
      // answered, as `socat -t` and shutdown(SHUT_WR) users expect.
      c.peer_done = true;
      if (!CloseIfFinished(c)) UpdateEvents(c);
      return;
    }
    c.last_active_ms = NowMs();
    if (Status s = c.reader.Feed({buffer, *n}, std::move(fds)); !s) {
      errors_++;
      QueueError(c, 0, MakeError(s.error().code, "closing connection: " + s.error().message));
      c.closing = true;
      UpdateEvents(c);
      return;
    }
    if (!ServeFrames(c)) return;
    // A short read drained the socket: epoll is level-triggered and reports
    // anything that arrives later, so the recv that would say EAGAIN is saved.
    if (*n < sizeof(buffer)) break;
  }
  UpdateEvents(c);
}

bool Server::CloseIfFinished(Connection& c) {
  // Parked requests (waiting for a claim or a slot) are still owed an answer.
  if (!c.peer_done || c.inflight != 0 || !c.out.empty() || ParkedBy(c.id) != 0) return false;
  Close(c.id);
  return true;
}

bool Server::MayServe(const Connection& c) const {
  // Past the shared budget, a connection with replies still unsent waits
  // for them to drain: only connections that read keep being served.
  return c.out_bytes < kMaxQueuedOutputBytes &&
         (c.out.empty() || queued_output_bytes_ < kQueuedOutputBudget);
}

bool Server::ServeFrames(Connection& c) {
  const uint64_t id = c.id;
  while (MayServe(c)) {
    std::optional<ipc::ReceivedFrame> frame = c.reader.Next();
    if (!frame) break;
    requests_++;
    // A large frame's reservation now belongs to its request (SubmitJob
    // hands it to the job; a request answered on the loop returns it below).
    if (frame->frame.header.body_length > kUnbudgetedFrameBytes && !c.input_holds.empty()) {
      dispatch_hold_ = std::move(c.input_holds.front());
      c.input_holds.pop_front();
    }
    Dispatch(c, std::move(*frame));
    dispatch_hold_.Release();
    if (!connections_.count(id)) return false;
    if (c.closing) return false;
  }
  ReserveInput(c);
  ResumeInputWaiters();
  return true;
}

bool Server::ReserveInput(Connection& c) {
  const std::optional<uint32_t> pending = c.reader.pending_body_length();
  if (!pending || *pending <= kUnbudgetedFrameBytes ||
      c.reader.pending_frame_start() == c.reserved_frame_start) {
    return true;
  }
  if (c.waiting_for_input_budget) return false;
  if (input_waiters_.empty() && input_budget_.TryTake(*pending)) {
    c.input_holds.emplace_back(&input_budget_, *pending);
    c.reserved_frame_start = *c.reader.pending_frame_start();
    c.reserved_since_ms = NowMs();
    return true;
  }
  c.waiting_for_input_budget = true;
  input_waiters_.push_back(c.id);
  return false;
}

void Server::ResumeInputWaiters() {
  // First come, first served: a large frame is not overtaken forever by
  // smaller ones that fit in what is left.
  while (!input_waiters_.empty()) {
    auto it = connections_.find(input_waiters_.front());
    if (it == connections_.end() || !it->second->waiting_for_input_budget) {
      input_waiters_.pop_front();
      continue;
    }
    Connection& c = *it->second;
    const uint32_t need = c.reader.pending_body_length().value_or(0);
    if (!input_budget_.TryTake(need)) return;
    c.input_holds.emplace_back(&input_budget_, need);
    c.reserved_frame_start = c.reader.pending_frame_start().value_or(UINT64_MAX);
    c.reserved_since_ms = NowMs();
    c.waiting_for_input_budget = false;
    c.last_active_ms = NowMs();  // waiting is not idling
    input_waiters_.pop_front();
    UpdateEvents(c);
  }
}

void Server::ForgetReadDescriptors(Connection& c) {
  if (c.unread_fd_offsets.empty()) return;
  // SIOCOUTQ on a Unix socket: what the peer has not consumed yet, counted
  // with the kernel's buffer overhead — so `consumed` errs low and a
  // descriptor is never taken for read before it is.
  int unread = 0;
  if (::ioctl(c.fd.get(), SIOCOUTQ, &unread) != 0 || unread < 0) return;
  const uint64_t consumed = c.stream_sent - std::min<uint64_t>(c.stream_sent, uint64_t(unread));
  bool progressed = false;
  while (!c.unread_fd_offsets.empty() && c.unread_fd_offsets.front() < consumed) {
    c.unread_fd_offsets.pop_front();
    unread_fds_--;
    progressed = true;
  }
  if (progressed) c.last_progress_ms = NowMs();
}

bool Server::MayPassDescriptor(Connection& c) {
  ForgetReadDescriptors(c);
  const size_t unread = c.unread_fd_offsets.size() + c.queued_fd_frames;
  return unread < ipc::kMaxInflightPerConnection &&
         unread_fds_ + queued_fd_frames_ < max_unread_fds_ &&
         queued_fd_frames_ < max_queued_fd_frames_;
}

bool Server::Flush(Connection& c) {
  while (!c.out.empty()) {
    OutFrame& f = c.out.front();
    std::span<const uint8_t> rest(f.bytes.data() + c.out_offset, f.bytes.size() - c.out_offset);
    const bool with_fd = c.out_offset == 0 && f.fd.valid();
    Result<size_t> n = ipc::SendWithFd(c.fd.get(), rest, with_fd ? f.fd.get() : -1);
    if (!n) {
      const int err = n.error().sys_errno;
      if (with_fd && (err == ETOOMANYREFS || err == EMFILE || err == ENFILE)) {
        // The descriptor cannot travel now (the daemon's user has too many
        // in flight, counting other processes of that user): this request
        // is told BUSY; the connection itself is fine.
        log::Warning("connection " + std::to_string(c.id) + ": " + n.error().message +
                     "; answering busy");
        busy_++;
        c.out_bytes -= f.bytes.size() + kFrameOverhead;
        queued_output_bytes_ -= f.bytes.size() + kFrameOverhead;
        c.queued_fd_frames--;
        queued_fd_frames_--;
        f.bytes = BusyFrame(RequestIdOf(f.bytes), "the daemon cannot pass a descriptor now (" +
                                                      n.error().message +
                                                      "); retry, or ask for the audio inline");
        f.fd = {};
        c.out_bytes += f.bytes.size() + kFrameOverhead;
        queued_output_bytes_ += f.bytes.size() + kFrameOverhead;
        continue;
      }
      if (err == ENOBUFS || err == ENOMEM) break;  // the kernel is short: EPOLLOUT retries
      return false;                                // EPIPE, ECONNRESET: the peer is gone
    }
    if (*n == 0) break;  // the socket buffer is full; EPOLLOUT resumes
    if (with_fd) {
      c.unread_fd_offsets.push_back(c.stream_sent);
      c.queued_fd_frames--;
      queued_fd_frames_--;
      unread_fds_++;
    }
    c.stream_sent += *n;
    c.last_progress_ms = NowMs();
    c.out_offset += *n;
    if (c.out_offset == f.bytes.size()) {
      c.out_bytes -= f.bytes.size() + kFrameOverhead;
      queued_output_bytes_ -= f.bytes.size() + kFrameOverhead;
      c.out.pop_front();
      c.out_offset = 0;
    }
  }
  return true;
}

void Server::OnWritable(Connection& c) {
  if (!Flush(c) || (c.out.empty() && c.closing)) {
    Close(c.id);
    return;
  }
  // Replies drained: frames that waited for that are served now.
  if (!c.closing && c.reader.buffered() > 0 && !ServeFrames(c)) return;
  if (CloseIfFinished(c)) return;
  UpdateEvents(c);
}

void Server::UpdateEvents(Connection& c) {
  // Everything owed is sent: end the connection; epoll reports the hang-up
  // and the loop closes it.
  if (c.closing && c.out.empty()) ::shutdown(c.fd.get(), SHUT_RDWR);
  const bool reading = c.closing || (!c.peer_done && MayServe(c) && !c.waiting_for_input_budget);
  const uint32_t wanted = (reading ? EPOLLIN : 0u) | (c.out.empty() ? 0u : EPOLLOUT);
  // Most replies leave in one send, so the mask rarely changes: skipping the
  // unchanged epoll_ctl saves two system calls per request on the hit path.
  if (wanted == c.events) return;
  epoll_event ev{};
  ev.events = wanted;
  ev.data.u64 = kFirstConnectionTag + c.id;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
  c.events = wanted;
}

void Server::Close(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& c = *it->second;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
  unread_fds_ -= c.unread_fd_offsets.size();
  queued_fd_frames_ -= c.queued_fd_frames;
  queued_output_bytes_ -= c.out_bytes;
  *c.gone = true;
  // Its streams end with it; nothing of them is stored (their jobs are
  // dropped at their next turn: client_gone).
  streams_open_ -= c.streams.size();
  streams_failed_ += c.streams.size();
  connections_.erase(it);  // jobs keep the arena alive through their shared_ptr
  ResumeInputWaiters();    // its input reservation went with it
  // Its claims pass to waiting GETs, its slot holds to waiting acquires; its
  // own parked requests are forgotten (nobody to answer).
  ForgetCoordination(id);
  ForgetTierGets(id);
}

bool Server::WouldRefuseReply(size_t frame_bytes) const {
  return frame_bytes > kSmallReplyBytes && queued_output_bytes_ + frame_bytes > kQueuedOutputBudget;
}

void Server::Queue(Connection& c, OutFrame frame) {
  if (WouldRefuseReply(frame.bytes.size())) {
    // Clients that do not read hold the budget until send_timeout_s closes
    // them; meanwhile a large reply is refused rather than held.
    busy_++;
    frame = {BusyFrame(RequestIdOf(frame.bytes),
                       "the daemon holds " + std::to_string(queued_output_bytes_ >> 20) +
                           " MiB of replies that clients have not read; retry"),
             {}};
  }
  if (c.out.empty()) c.last_progress_ms = NowMs();  // the send timeout runs from now
  c.out_bytes += frame.bytes.size() + kFrameOverhead;
  queued_output_bytes_ += frame.bytes.size() + kFrameOverhead;
  if (frame.fd.valid()) {
    c.queued_fd_frames++;
    queued_fd_frames_++;
  }
  c.out.push_back(std::move(frame));
  // Send at once when the socket has room; never closes here (callers still
  // hold `c`): a dead peer is closed by the loop when epoll reports it.
  if (!Flush(c)) {
    queued_output_bytes_ -= c.out_bytes;
    queued_fd_frames_ -= c.queued_fd_frames;
    c.out.clear();
    c.out_offset = 0;
    c.out_bytes = 0;
    c.queued_fd_frames = 0;
    c.closing = true;
  }
  UpdateEvents(c);
}

void Server::QueueError(Connection& c, uint64_t request, const Error& error, uint32_t retry_ms,
                        uint64_t needed) {
  if (error.code != Errc::kNotFound) errors_++;  // a miss is an answer, not an error
  ipc::ErrorReply reply{ipc::ToWireError(error.code), retry_ms, needed, error.message};
  if (error.code == Errc::kNoSpace) reply.message = "cache disk full: " + error.message;
  if (error.code == Errc::kBusy && retry_ms == 0) reply.retry_after_ms = kRetryMs;
  Queue(c, {ipc::BuildFrame(static_cast<uint8_t>(ipc::Opcode::kError), request,
                            ipc::EncodeErrorReply(reply)),
            {}});
}

void Server::QueueReply(uint64_t connection, uint64_t request, uint8_t opcode,
                        std::vector<uint8_t> body, SharedFd fd) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;  // the client left; the result is dropped
  Connection& c = *it->second;
  uint16_t flags = fd.valid() ? ipc::kFlagFd : 0;
  Queue(c, {ipc::BuildFrame(opcode, request, body, flags), std::move(fd)});
}

// The 1 s timer's part for connections: closes those that hold input budget
// with a frame arriving too slowly, those that read none of their replies for
// send_timeout_s, and those idle for idle_timeout_s.
void Server::CloseStalledConnections(int64_t now) {
  std::vector<uint64_t> idle;
  const int64_t idle_timeout_ms = int64_t{config_.config.daemon.idle_timeout_s} * 1000;
  const int64_t send_timeout_ms = int64_t{config_.config.daemon.send_timeout_s} * 1000;
  for (auto& [id, c] : connections_) {
    ForgetReadDescriptors(*c);
    const bool owes = !c->out.empty() || !c->unread_fd_offsets.empty();
    const bool receiving_reserved =
        !c->input_holds.empty() && c->reader.pending_frame_start() == c->reserved_frame_start;
    const int64_t allowed_ms =
        send_timeout_ms +
        static_cast<int64_t>(uint64_t{c->reader.pending_body_length().value_or(0)} * 1000 /
                             kMinReceiveBytesPerSecond);
    if (receiving_reserved && now - c->reserved_since_ms > allowed_ms) {
      log::Notice("connection " + std::to_string(id) + " (uid " + std::to_string(c->uid) +
                  "): its " + std::to_string(c->reader.pending_body_length().value_or(0)) +
                  "-byte frame did not arrive within " + std::to_string(allowed_ms / 1000) +
                  " s; closing it (it held input budget others wait for)");
      idle.push_back(id);
    } else if (owes && now - c->last_progress_ms > send_timeout_ms) {
      log::Notice("connection " + std::to_string(id) + " (uid " + std::to_string(c->uid) +
                  "): read none of its replies for " +
                  std::to_string(config_.config.daemon.send_timeout_s) + " s (" +
                  std::to_string(c->out_bytes) + " bytes and " +
                  std::to_string(c->unread_fd_offsets.size()) +
                  " descriptors waiting); closing it");
      idle.push_back(id);
    } else if (idle_timeout_ms > 0 && c->inflight == 0 && !owes && !c->waiting_for_input_budget &&
               ParkedBy(id) == 0 && !HoldsCoordination(id) &&
               now - c->last_active_ms > idle_timeout_ms) {
      // A holder of a slot unit or a claim is synthesizing (`ttscache slot
      // run` says nothing while its command runs): closing it would free
      // the unit under a running synthesis. A claim still ends with its lease.
      idle.push_back(id);
    }
  }
  for (uint64_t id : idle) Close(id);
}

}  // namespace ttscache
