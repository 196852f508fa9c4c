// The event loop of Server; see server.hpp. Requests themselves are handled
// in request_dispatch.cpp.
#include "daemon/server.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "core/log.hpp"
#include "ipc/error_codes.hpp"
#include "ipc/fd_passing.hpp"

namespace ttscache {
namespace {

constexpr uint64_t kListenTag = 0, kSignalTag = 1, kWakeTag = 2, kTimerTag = 3;
constexpr uint64_t kFirstConnectionTag = 16;
// A connection's frames wait (unread, unserved) while this much of its
// replies is unsent: one client's backlog is this plus one reply.
constexpr size_t kMaxQueuedOutputBytes = 32u << 20;
// Replies waiting unsent over all connections. A reply over kSmallReplyBytes
// that would pass it is answered BUSY instead, so clients that never read
// cannot make the daemon hold more than this (small replies are bounded by
// the per-connection limits).
constexpr uint64_t kQueuedOutputBudget = 256ull << 20;
constexpr size_t kSmallReplyBytes = 64u << 10;
// Request bodies held (being received, or carried by jobs) over all
// connections. Frames up to kUnbudgetedFrameBytes need no reservation: at
// most that much is read for a connection before its frames are served.
constexpr uint64_t kInputBudget = 256ull << 20;
constexpr uint32_t kUnbudgetedFrameBytes = 64u << 10;
// What all encode streams together keep to be cached (their input and Ogg);
// past it a stream goes on but is not stored.
constexpr uint64_t kStreamKeepBudget = 128ull << 20;
// What a queued frame costs beyond its bytes (the OutFrame, its vector, the
// deque slot): counted, so a flood of tiny replies is bounded as well.
constexpr size_t kFrameOverhead = 64;
// A reserved frame must arrive at this rate at least (after a grace of
// send_timeout_s): a sender trickling bytes cannot sit on the budget.
constexpr uint64_t kMinReceiveBytesPerSecond = 8u << 20;
constexpr uint32_t kRetryMs = 100;
constexpr int64_t kRefusalLogIntervalMs = 10000;
constexpr int64_t kDrainTimeoutMs = 10000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Descriptors this process has open (/proc/self/fd), or a guess without /proc.
size_t OpenDescriptorCount() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return 32;
  size_t count = 0;
  while (::readdir(dir)) ++count;
  ::closedir(dir);
  return count;  // ".", ".." and the one opendir holds: a little margin
}

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

Server::Server(LoadedConfig config, std::optional<std::string> config_path,
               std::unique_ptr<CacheStore> store, ListenSocket listen)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      store_(std::move(store)),
      listen_(std::move(listen)),
      input_budget_(kInputBudget),
      stream_keep_budget_(kStreamKeepBudget) {}

Server::~Server() = default;

void Server::Notify(const std::string& state) { sd_notify(0, state.c_str()); }

int Server::Run() {
  const DaemonSettings& d = config_.config.daemon;
  // Signals arrive through a signalfd; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  signal_fd_.reset(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  timer_fd_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!signal_fd_.valid() || !wake_fd_.valid() || !timer_fd_.valid() || !epoll_.valid()) {
    log::Error("ttscached: cannot create event loop descriptors: " + ErrnoText(errno));
    return 1;
  }
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  // Descriptors: connections get what the limit leaves after those open now,
  // the store's cache of open files (an eighth, DefaultOpenFileCacheCapacity)
  // and a few per worker for the files it writes — so running out falls on
  // a new client (told BUSY), never on a cache file. Descriptor replies
  // parked unread in clients' sockets are not in our table but count against
  // the same limit in the kernel (per user): at most a quarter of it.
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  const size_t limit = nofile.rlim_cur == RLIM_INFINITY ? size_t{1} << 20 : nofile.rlim_cur;
  max_unread_fds_ = std::max<size_t>(limit / 4, 1);
  max_queued_fd_frames_ = std::max<size_t>(limit / 8, 1);
  const size_t reserve = OpenDescriptorCount() + limit / 8 + max_queued_fd_frames_ +
                         2 * static_cast<size_t>(d.workers) + 8;
  // Two per connection: its socket, and a descriptor it sent that waits in
  // its frame reader for the frame that claims it.
  max_connections_ = limit > reserve + 2 ? (limit - reserve) / 2 : 1;
  if (d.max_connections > 0) {
    max_connections_ = std::min(max_connections_, static_cast<size_t>(d.max_connections));
  }
  itimerspec tick{{1, 0}, {1, 0}};
  ::timerfd_settime(timer_fd_.get(), 0, &tick, nullptr);
  auto watch = [this](int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  };
  watch(listen_.fd.get(), kListenTag);
  watch(signal_fd_.get(), kSignalTag);
  watch(wake_fd_.get(), kWakeTag);
  watch(timer_fd_.get(), kTimerTag);

  // The loop runs on the configured CPUs; each worker then pins itself to one.
  if (!d.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : d.cpus) CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
      std::string list;
      for (int cpu : d.cpus) list += (list.empty() ? "" : ",") + std::to_string(cpu);
      log::Warning("cannot pin the event loop to CPUs " + list + ": " + ErrnoText(errno));
    }
  }
  // One connection may fill at most half the queue: the rest stays for the
  // others (its own excess is told BUSY), and turns keep the order fair.
  const size_t queue_depth = static_cast<size_t>(d.queue_depth);
  workers_ = std::make_unique<PinnedWorkerPool>(d.workers, queue_depth, d.cpus,
                                                std::max<size_t>(1, queue_depth / 2));
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0) {
    watchdog_interval_ms_ = static_cast<int64_t>(watchdog_usec / 2000);
  }
  const CacheStats stats = store_->Stats();
  log::Info("ttscached: listening on " + listen_.path +
            (listen_.activated ? " (socket activation)" : "") + ", " + std::to_string(d.workers) +
            " workers, " + std::to_string(stats.total.entries) + " cached entries, up to " +
            std::to_string(max_connections_) + " clients (RLIMIT_NOFILE " + std::to_string(limit) +
            ")");
  Notify("READY=1\nSTATUS=ready, " + std::to_string(stats.total.entries) + " entries");

  int64_t stop_deadline = 0;
  epoll_event events[64];
  while (true) {
    if (stopping_) {
      // Streams still open get the drain's time to finish their sentence.
      bool drained = jobs_running_ == 0 && pending_variants_.empty() && streams_open_ == 0;
      if (drained) {
        bool unsent = false;
        for (auto& [id, c] : connections_) unsent = unsent || !c->out.empty();
        if (!unsent || NowMs() > stop_deadline) break;
      }
      if (NowMs() > stop_deadline) {
        log::Warning("ttscached: in-flight jobs did not finish within " +
                     std::to_string(kDrainTimeoutMs / 1000) + " s; stopping anyway");
        break;
      }
    }
    int n = WaitForEvents(events, 64);
    if (n < 0 && errno != EINTR) {
      log::Error("epoll_wait: " + ErrnoText(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kListenTag) {
        Accept();
      } else if (tag == kSignalTag) {
        bool was_stopping = stopping_;
        OnSignal();
        if (stopping_ && !was_stopping) stop_deadline = NowMs() + kDrainTimeoutMs;
      } else if (tag == kWakeTag) {
        uint64_t ignored;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_.get(), &ignored, sizeof(ignored));
        DrainCompletions();
      } else if (tag == kTimerTag) {
        uint64_t ticks;
        [[maybe_unused]] ssize_t r = ::read(timer_fd_.get(), &ticks, sizeof(ticks));
        OnTimer();
      } else {
        auto it = connections_.find(tag - kFirstConnectionTag);
        if (it == connections_.end()) continue;
        Connection& c = *it->second;
        // A full hang-up or an error while we are not reading: no reply can
        // reach the peer any more (and level-triggered, it would spin).
        if ((events[i].events & (EPOLLHUP | EPOLLERR)) && !(c.events & EPOLLIN)) {
          Close(c.id);
          continue;
        }
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) OnReadable(c);
        if (connections_.count(tag - kFirstConnectionTag) && (events[i].events & EPOLLOUT)) {
          OnWritable(c);
        }
      }
    }
  }
  Notify("STOPPING=1");
  // Connections first: an encode still running past the drain deadline is
  // dropped at its next slice instead of holding the stop for minutes.
  std::vector<uint64_t> ids;
  for (auto& [id, c] : connections_) ids.push_back(id);
  for (uint64_t id : ids) Close(id);
  workers_->Stop();
  DrainCompletions();
  if (!listen_.activated) ::unlink(listen_.path.c_str());
  if (Status s = store_->Close(); !s) {
    log::Error("ttscached: closing the cache: " + s.error().message);
    return 1;
  }
  log::Info("ttscached: stopped cleanly");
  return 0;
}

// Busy polling: for busy_poll_us after the last events, ask epoll without
// sleeping. A request that arrives meanwhile (the next one of a client in a
// request-reply loop) is served without waking a halted CPU, which on these
// VMs is most of a local round trip (docs/benchmarks.md). It spends the
// daemon's CPU, so it is for dedicated cores (`cpus`) and off by default.
int Server::WaitForEvents(epoll_event* events, int max_events) {
  const auto spin = std::chrono::microseconds(config_.config.daemon.busy_poll_us);
  int n = 0;
  if (spin.count() > 0 && !stopping_) {
    const auto until = last_events_ + spin;
    do {
      n = ::epoll_wait(epoll_.get(), events, max_events, 0);
    } while (n == 0 && std::chrono::steady_clock::now() < until);
  }
  // No timeout while serving: the timer fd wakes the loop for periodic work,
  // and a timeout would arm a kernel timer on every wait.
  if (n == 0) n = ::epoll_wait(epoll_.get(), events, max_events, stopping_ ? 100 : -1);
  if (n > 0 && spin.count() > 0) last_events_ = std::chrono::steady_clock::now();
  return n;
}

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

void Server::RecreateSocketIfDeleted() {
  if (listen_.activated || stopping_) return;  // systemd owns an activated socket's file
  struct stat st;
  if (::lstat(listen_.path.c_str(), &st) == 0 || errno != ENOENT) return;
  Result<ListenSocket> fresh = OpenListenSocket(config_.config.daemon);
  if (!fresh) {
    log::Error("the socket file " + listen_.path +
               " was deleted and cannot be recreated: " + fresh.error().message);
    return;
  }
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listen_.fd.get(), nullptr);
  listen_ = std::move(*fresh);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenTag;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listen_.fd.get(), &ev);
  log::Warning("the socket file " + listen_.path + " was deleted; recreated it");
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
  if (!c.peer_done || c.inflight != 0 || !c.out.empty()) return false;
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

void Server::Post(Completion completion) {
  {
    MutexLock lock(completions_mutex_);
    completions_.push_back(std::move(completion));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(wake_fd_.get(), &one, sizeof(one));
}

void Server::DrainCompletions() {
  std::vector<Completion> done;
  {
    MutexLock lock(completions_mutex_);
    done.swap(completions_);
  }
  for (Completion& c : done) {
    if (!c.variant_key.empty()) {
      FinishVariant(c);
      continue;
    }
    if (c.stream != 0) {
      OnStreamJobDone(c);
      continue;
    }
    auto it = connections_.find(c.connection);
    if (it == connections_.end()) continue;
    it->second->inflight--;
    if (c.error) errors_++;
    QueueReply(c.connection, c.request, c.opcode, std::move(c.body));
    if (auto again = connections_.find(c.connection); again != connections_.end()) {
      CloseIfFinished(*again->second);
    }
  }
  ResumeInputWaiters();  // finished jobs gave their bodies' budget back
}

void Server::OnTimer() {
  const int64_t now = NowMs();
  RecreateSocketIfDeleted();
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
               now - c->last_active_ms > idle_timeout_ms) {
      idle.push_back(id);
    }
  }
  for (uint64_t id : idle) Close(id);
  ExpireIdleStreams(now);
  // Large replies and frames are freed to the heap, which glibc keeps: give
  // it back now and then once nothing is queued, so an attack's peak does
  // not stay the daemon's size.
  if (queued_output_bytes_ == 0 && input_budget_.used() == 0 && now - last_trim_ms_ >= 10000) {
    ::malloc_trim(0);
    last_trim_ms_ = now;
  }
  if (watchdog_interval_ms_ > 0 && now - last_watchdog_ms_ >= watchdog_interval_ms_) {
    Notify("WATCHDOG=1");
    last_watchdog_ms_ = now;
  }
  if (now - last_status_ms_ >= 5000) {
    const CacheStats s = store_->Stats();
    Notify("STATUS=" + std::to_string(connections_.size()) + " clients, " +
           std::to_string(streams_open_) + " streams, " + std::to_string(s.total.entries) +
           " entries, " + std::to_string(s.total.hits) + " hits, " +
           std::to_string(s.total.misses) + " misses, " + std::to_string(encodes_) + " encodes");
    last_status_ms_ = now;
  }
}

void Server::OnSignal() {
  signalfd_siginfo info;
  while (::read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo == SIGHUP) {
      Reload();
    } else if (!stopping_) {
      log::Info("ttscached: signal " + std::to_string(info.ssi_signo) +
                ": finishing in-flight requests, then stopping");
      Notify("STOPPING=1");
      stopping_ = true;
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listen_.fd.get(), nullptr);
    }
  }
}

void Server::Reload() {
  Notify("RELOADING=1");
  Result<LoadedConfig> fresh = LoadConfigFile(config_path_);
  if (!fresh) {
    log::Error("reload: keeping the running configuration: " + fresh.error().message);
    Notify("READY=1");
    return;
  }
  const Config& now = config_.config;
  const Config& next = fresh->config;
  if (next.daemon.socket != now.daemon.socket || next.cache.dir != now.cache.dir ||
      next.cache.engines != now.cache.engines || next.daemon.workers != now.daemon.workers ||
      next.daemon.cpus != now.daemon.cpus || next.daemon.queue_depth != now.daemon.queue_depth ||
      next.daemon.socket_mode != now.daemon.socket_mode ||
      next.daemon.socket_group != now.daemon.socket_group ||
      next.daemon.max_connections != now.daemon.max_connections) {
    log::Warning(
        "reload: socket, socket_mode, socket_group, cache dir, engines, workers, cpus, "
        "queue_depth and max_connections changes need a restart; they are left as they were");
  }
  CacheLimits limits{next.cache.max_entries, next.cache.max_bytes, next.cache.max_text_bytes};
  if (Status s = store_->SetLimits(limits); !s) {
    log::Warning("reload: cache limits not applied: " + s.error().message);
  }
  config_.config.opus = next.opus;
  config_.config.stream = next.stream;
  config_.config.daemon.allowed_uids = next.daemon.allowed_uids;
  config_.config.daemon.allowed_gids = next.daemon.allowed_gids;
  config_.config.cache.max_entries = next.cache.max_entries;
  config_.config.cache.max_bytes = next.cache.max_bytes;
  config_.config.cache.max_text_bytes = next.cache.max_text_bytes;
  config_.config.daemon.idle_timeout_s = next.daemon.idle_timeout_s;
  config_.config.daemon.busy_poll_us = next.daemon.busy_poll_us;
  config_.config.daemon.send_timeout_s = next.daemon.send_timeout_s;
  config_.config.daemon.max_encode_seconds = next.daemon.max_encode_seconds;
  log::Info("reload: opus " + VariantTag(next.opus.params) + ", max_entries " +
            std::to_string(next.cache.max_entries));
  Notify("READY=1");
}

}  // namespace ttscache
