// The event loop of Server (see server.hpp): start-up (descriptor limits,
// CPU pinning, the workers), the epoll loop and its drain on stop, the 1 s
// timer and the signals, and the completions workers post back. What happens
// on one connection (accept, read, backpressure, send) is in
// connection_io.cpp; requests in request_dispatch.cpp and encode_streams.cpp;
// SIGHUP's reload in reload.cpp; systemd's notify socket behind
// SystemdNotifier (systemd_notify.hpp).
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

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "core/log.hpp"
#include "ipc/fd_passing.hpp"

namespace ttscache {
namespace {

constexpr uint64_t kListenTag = 0, kSignalTag = 1, kWakeTag = 2, kTimerTag = 3,
                   kCoordinateTimerTag = 4;
// Request bodies held (being received, or carried by jobs) over all
// connections; small frames need no reservation (kUnbudgetedFrameBytes,
// connection_io.cpp).
constexpr uint64_t kInputBudget = 256ull << 20;
// What all encode streams together keep to be cached (their input and Ogg);
// past it a stream goes on but is not stored.
constexpr uint64_t kStreamKeepBudget = 128ull << 20;
constexpr int64_t kDrainTimeoutMs = 10000;

// Descriptors this process has open (/proc/self/fd), or a guess without /proc.
size_t OpenDescriptorCount() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return 32;
  size_t count = 0;
  while (::readdir(dir)) ++count;
  ::closedir(dir);
  return count;  // ".", ".." and the one opendir holds: a little margin
}

}  // namespace

Server::Server(LoadedConfig config, std::optional<std::string> config_path,
               std::unique_ptr<CacheStore> store, ListenSocket listen,
               std::unique_ptr<FleetTier> tier)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      store_(std::move(store)),
      tier_(std::move(tier)),
      listen_(std::move(listen)),
      input_budget_(kInputBudget),
      stream_keep_budget_(kStreamKeepBudget) {}

Server::~Server() {
  // Workers offer to the tier, and the tier's threads post to the loop's
  // completions: both stop before those go (Run() does it when it returns).
  workers_.reset();
  tier_.reset();
}

int64_t Server::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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
  coordinate_timer_fd_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!signal_fd_.valid() || !wake_fd_.valid() || !timer_fd_.valid() ||
      !coordinate_timer_fd_.valid() || !epoll_.valid()) {
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
  watch(coordinate_timer_fd_.get(), kCoordinateTimerTag);
  ApplyCoordinateLimits();

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
  systemd_.StartWatchdog();
  const CacheStats stats = store_->Stats();
  log::Info("ttscached: listening on " + listen_.path +
            (listen_.activated ? " (socket activation)" : "") + ", " + std::to_string(d.workers) +
            " workers, " + std::to_string(stats.total.entries) + " cached entries, up to " +
            std::to_string(max_connections_) + " clients (RLIMIT_NOFILE " + std::to_string(limit) +
            ")");
  systemd_.Ready("ready, " + std::to_string(stats.total.entries) + " entries");

  int64_t stop_deadline = 0;
  epoll_event events[64];
  while (true) {
    if (stopping_) {
      // Streams still open get the drain's time to finish their sentence.
      // GETs parked on the tier go on within timeout_ms.
      bool drained = jobs_running_ == 0 && pending_variants_.empty() && streams_open_ == 0 &&
                     tier_lookups_.empty();
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
      } else if (tag == kCoordinateTimerTag) {
        OnCoordinateTimer();
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
  systemd_.Stopping();
  // Connections first: an encode still running past the drain deadline is
  // dropped at its next slice instead of holding the stop for minutes.
  std::vector<uint64_t> ids;
  for (auto& [id, c] : connections_) ids.push_back(id);
  for (uint64_t id : ids) Close(id);
  workers_->Stop();
  // Queued lookups are answered (a miss), queued writes dropped; within
  // about timeout_ms. Before the store closes: its writer reads the store.
  tier_.reset();
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
  // Entries stored by these jobs: their claims' waiters are served again
  // once the puts' own replies are queued.
  std::vector<std::string> stored;
  for (Completion& c : done) {
    if (!c.stored_entry.empty()) stored.push_back(std::move(c.stored_entry));
    if (!c.tier_lookup.empty()) {
      OnTierLookupDone(c);
      continue;
    }
    if (!c.variant_key.empty()) {
      FinishVariant(c);
      continue;
    }
    if (c.stream != 0) {
      OnStreamJobDone(c);
      continue;
    }
    if (c.ends_verify) verify_running_ = false;
    auto it = connections_.find(c.connection);
    if (it == connections_.end()) continue;
    it->second->inflight--;
    if (c.error) errors_++;
    QueueReply(c.connection, c.request, c.opcode, std::move(c.body));
    if (auto again = connections_.find(c.connection); again != connections_.end()) {
      CloseIfFinished(*again->second);
    }
  }
  for (const std::string& entry : stored) OnEntryStored(entry);
  ResumeInputWaiters();  // finished jobs gave their bodies' budget back
}

void Server::OnTimer() {
  const int64_t now = NowMs();
  RecreateSocketIfDeleted();
  CloseStalledConnections(now);
  ExpireIdleStreams(now);
  StartMaintenance();
  LogClaimEvents();  // counts held back by the log's interval
  // Large replies and frames are freed to the heap, which glibc keeps: give
  // it back now and then once nothing is queued, so an attack's peak does
  // not stay the daemon's size.
  if (queued_output_bytes_ == 0 && input_budget_.used() == 0 && now - last_trim_ms_ >= 10000) {
    ::malloc_trim(0);
    last_trim_ms_ = now;
  }
  systemd_.Tick(now, [this] {
    const CacheStats s = store_->Stats();
    return std::to_string(connections_.size()) + " clients, " + std::to_string(streams_open_) +
           " streams, " + std::to_string(s.total.entries) + " entries, " +
           std::to_string(s.total.hits) + " hits, " + std::to_string(s.total.misses) + " misses, " +
           std::to_string(encodes_) + " encodes";
  });
}

void Server::OnSignal() {
  signalfd_siginfo info;
  while (::read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo == SIGHUP) {
      Reload();
    } else if (!stopping_) {
      log::Info("ttscached: signal " + std::to_string(info.ssi_signo) +
                ": finishing in-flight requests, then stopping");
      systemd_.Stopping();
      stopping_ = true;
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listen_.fd.get(), nullptr);
    }
  }
}

}  // namespace ttscache
