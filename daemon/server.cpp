// The event loop of Server; see server.hpp. Requests themselves are handled
// in request_dispatch.cpp.
#include "daemon/server.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "core/log.hpp"
#include "ipc/fd_passing.hpp"

namespace ttscache {
namespace {

constexpr uint64_t kListenTag = 0, kSignalTag = 1, kWakeTag = 2, kTimerTag = 3;
constexpr uint64_t kFirstConnectionTag = 16;
constexpr size_t kMaxQueuedOutputBytes = 32u << 20;  // stop reading while this much is unsent
constexpr int64_t kDrainTimeoutMs = 10000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
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

ipc::ErrorCode ToWireError(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument:
      return ipc::ErrorCode::kBadRequest;
    case Errc::kBadAudio:
      return ipc::ErrorCode::kBadAudio;
    case Errc::kUnknownEngine:
      return ipc::ErrorCode::kUnknownEngine;
    case Errc::kTooLarge:
      return ipc::ErrorCode::kTooLarge;
    case Errc::kNotFound:
      return ipc::ErrorCode::kNotFound;
    case Errc::kForbidden:
      return ipc::ErrorCode::kForbidden;
    case Errc::kBusy:
      return ipc::ErrorCode::kBusy;
    default:
      return ipc::ErrorCode::kInternal;
  }
}

Server::Server(LoadedConfig config, std::optional<std::string> config_path,
               std::unique_ptr<CacheStore> store, ListenSocket listen)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      store_(std::move(store)),
      listen_(std::move(listen)) {}

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
    log::Error("ttscached: cannot create event loop descriptors: " + std::string(strerror(errno)));
    return 1;
  }
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
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
      log::Warning("cannot pin the event loop: " + std::string(strerror(errno)));
    }
  }
  workers_ =
      std::make_unique<PinnedWorkerPool>(d.workers, static_cast<size_t>(d.queue_depth), d.cpus);
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0) {
    watchdog_interval_ms_ = static_cast<int64_t>(watchdog_usec / 2000);
  }
  const CacheStats stats = store_->Stats();
  log::Info("ttscached: listening on " + listen_.path +
            (listen_.activated ? " (socket activation)" : "") + ", " + std::to_string(d.workers) +
            " workers, " + std::to_string(stats.total.entries) + " cached entries");
  Notify("READY=1\nSTATUS=ready, " + std::to_string(stats.total.entries) + " entries");

  int64_t stop_deadline = 0;
  epoll_event events[64];
  while (true) {
    if (stopping_) {
      bool drained = jobs_running_ == 0 && pending_variants_.empty();
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
      log::Error("epoll_wait: " + std::string(strerror(errno)));
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
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) OnReadable(c);
        if (connections_.count(tag - kFirstConnectionTag) && (events[i].events & EPOLLOUT)) {
          OnWritable(c);
        }
      }
    }
  }
  Notify("STOPPING=1");
  workers_->Stop();
  DrainCompletions();
  std::vector<uint64_t> ids;
  for (auto& [id, c] : connections_) ids.push_back(id);
  for (uint64_t id : ids) Close(id);
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
    ucred cred{};
    socklen_t len = sizeof(cred);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len);
    auto c = std::make_unique<Connection>();
    c->id = next_connection_id_++;
    c->fd = std::move(fd);
    c->uid = cred.uid;
    c->gid = cred.gid;
    c->last_active_ms = NowMs();
    accepted_++;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kFirstConnectionTag + c->id;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c->fd.get(), &ev);
    Connection& ref = *c;
    connections_[c->id] = std::move(c);
    if (!Allowed(config_.config.daemon, cred.uid, cred.gid)) {
      log::Notice("refusing peer uid " + std::to_string(cred.uid) + " gid " +
                  std::to_string(cred.gid) + " pid " + std::to_string(cred.pid));
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
  if (fd.valid()) {
    busy_++;
    std::vector<uint8_t> frame = ipc::BuildFrame(
        static_cast<uint8_t>(ipc::Opcode::kError), 0,
        ipc::EncodeErrorReply({ipc::ErrorCode::kBusy, 1000, 0,
                               "the daemon is out of file descriptors; retry later"}));
    [[maybe_unused]] Result<size_t> sent = ipc::SendWithFd(fd.get(), frame, -1);
    fd.reset();  // before taking the spare back, or the spare cannot be had
  }
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
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
  for (int rounds = 0; rounds < 16 && c.out_bytes < kMaxQueuedOutputBytes; ++rounds) {
    Result<size_t> n =
        ipc::ReceiveWithFds(c.fd.get(), buffer, &c.received_fds, ipc::kMaxFdsPerMessage);
    if (!n) {
      if (n.error().code == Errc::kNotFound) break;  // EAGAIN
      log::Notice("connection " + std::to_string(c.id) + ": " + n.error().message);
      errors_++;
      QueueError(c, 0, MakeError(Errc::kInvalidArgument, n.error().message));
      c.closing = true;
      UpdateEvents(c);
      return;
    }
    if (*n == 0) {
      Close(c.id);
      return;
    }
    c.last_active_ms = NowMs();
    if (Status s = c.parser.Feed({buffer, *n}); !s) {
      errors_++;
      QueueError(c, 0, MakeError(s.error().code, "closing connection: " + s.error().message));
      c.closing = true;
      UpdateEvents(c);
      return;
    }
    while (std::optional<ipc::Frame> frame = c.parser.Next()) {
      requests_++;
      Dispatch(c, std::move(*frame));
      if (c.closing || !connections_.count(c.id)) return;
    }
    // A short read drained the socket: epoll is level-triggered and reports
    // anything that arrives later, so the recv that would say EAGAIN is saved.
    if (*n < sizeof(buffer)) break;
  }
  UpdateEvents(c);
}

bool Server::Flush(Connection& c) {
  while (!c.out.empty()) {
    OutFrame& f = c.out.front();
    std::span<const uint8_t> rest(f.bytes.data() + c.out_offset, f.bytes.size() - c.out_offset);
    Result<size_t> n = ipc::SendWithFd(c.fd.get(), rest, c.out_offset == 0 ? f.fd.get() : -1);
    if (!n) return false;  // the peer is gone
    if (*n == 0) break;    // the socket buffer is full; EPOLLOUT resumes
    c.out_offset += *n;
    if (c.out_offset == f.bytes.size()) {
      c.out_bytes -= f.bytes.size();
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
  UpdateEvents(c);
}

void Server::UpdateEvents(Connection& c) {
  // Everything owed is sent: end the connection; epoll reports the hang-up
  // and the loop closes it.
  if (c.closing && c.out.empty()) ::shutdown(c.fd.get(), SHUT_RDWR);
  const uint32_t wanted =
      (c.out_bytes < kMaxQueuedOutputBytes ? EPOLLIN : 0u) | (c.out.empty() ? 0u : EPOLLOUT);
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
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->fd.get(), nullptr);
  connections_.erase(it);  // jobs keep the arena alive through their shared_ptr
}

void Server::Queue(Connection& c, OutFrame frame) {
  c.out_bytes += frame.bytes.size();
  c.out.push_back(std::move(frame));
  // Send at once when the socket has room; never closes here (callers still
  // hold `c`): a dead peer is closed by the loop when epoll reports it.
  if (!Flush(c)) {
    c.out.clear();
    c.out_bytes = 0;
    c.closing = true;
  }
  UpdateEvents(c);
}

void Server::QueueError(Connection& c, uint64_t request, const Error& error, uint32_t retry_ms,
                        uint64_t needed) {
  if (error.code != Errc::kNotFound) errors_++;  // a miss is an answer, not an error
  ipc::ErrorReply reply{ToWireError(error.code), retry_ms, needed, error.message};
  if (error.code == Errc::kNoSpace) reply.message = "cache disk full: " + error.message;
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
    std::lock_guard lock(completions_mutex_);
    completions_.push_back(std::move(completion));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(wake_fd_.get(), &one, sizeof(one));
}

void Server::DrainCompletions() {
  std::vector<Completion> done;
  {
    std::lock_guard lock(completions_mutex_);
    done.swap(completions_);
  }
  for (Completion& c : done) {
    if (!c.variant_key.empty()) {
      FinishVariant(c);
      continue;
    }
    auto it = connections_.find(c.connection);
    if (it == connections_.end()) continue;
    it->second->inflight--;
    if (c.error) errors_++;
    QueueReply(c.connection, c.request, c.opcode, std::move(c.body));
  }
}

void Server::OnTimer() {
  const int64_t now = NowMs();
  RecreateSocketIfDeleted();
  std::vector<uint64_t> idle;
  const int64_t idle_timeout_ms = int64_t{config_.config.daemon.idle_timeout_s} * 1000;
  for (auto& [id, c] : connections_) {
    if (idle_timeout_ms > 0 && c->inflight == 0 && c->out.empty() &&
        now - c->last_active_ms > idle_timeout_ms) {
      idle.push_back(id);
    }
  }
  for (uint64_t id : idle) Close(id);
  if (watchdog_interval_ms_ > 0 && now - last_watchdog_ms_ >= watchdog_interval_ms_) {
    Notify("WATCHDOG=1");
    last_watchdog_ms_ = now;
  }
  if (now - last_status_ms_ >= 5000) {
    const CacheStats s = store_->Stats();
    Notify("STATUS=" + std::to_string(connections_.size()) + " clients, " +
           std::to_string(s.total.entries) + " entries, " + std::to_string(s.total.hits) +
           " hits, " + std::to_string(s.total.misses) + " misses, " + std::to_string(encodes_) +
           " encodes");
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
      next.daemon.socket_group != now.daemon.socket_group) {
    log::Warning(
        "reload: socket, socket_mode, socket_group, cache dir, engines, workers, cpus and "
        "queue_depth changes need a restart; they are left as they were");
  }
  CacheLimits limits{next.cache.max_entries, next.cache.max_bytes, next.cache.max_text_bytes};
  if (Status s = store_->SetLimits(limits); !s) {
    log::Warning("reload: cache limits not applied: " + s.error().message);
  }
  config_.config.opus = next.opus;
  config_.config.daemon.allowed_uids = next.daemon.allowed_uids;
  config_.config.daemon.allowed_gids = next.daemon.allowed_gids;
  config_.config.cache.max_entries = next.cache.max_entries;
  config_.config.cache.max_bytes = next.cache.max_bytes;
  config_.config.cache.max_text_bytes = next.cache.max_text_bytes;
  config_.config.daemon.idle_timeout_s = next.daemon.idle_timeout_s;
  config_.config.daemon.busy_poll_us = next.daemon.busy_poll_us;
  log::Info("reload: opus " + VariantTag(next.opus.params) + ", max_entries " +
            std::to_string(next.cache.max_entries));
  Notify("READY=1");
}

}  // namespace ttscache
