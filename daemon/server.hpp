// Server: ttscached's event loop. One thread runs an epoll loop over the
// listening socket, every connection, a signalfd (TERM/INT: drain and stop;
// HUP: reload), an eventfd that workers use to hand back results, and a 1 s
// timer (idle timeouts, STATUS=, the systemd watchdog). Cache hits are
// answered on the loop; encodes and cache writes run on PinnedWorkerPool.
// Concurrent requests for the same Opus variant share one encode.
//
// Limits per connection: frames over ipc::kMaxFrameBody are refused before
// they are read, at most kMaxInflightPerConnection requests in flight (BUSY
// beyond), reading pauses while replies pile up unread, idle connections are
// closed. A peer outside allowed_uids/allowed_gids gets FORBIDDEN and is
// closed. Run() returns the process exit status.
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/config/config.hpp"
#include "core/shared_fd.hpp"
#include "core/unique_fd.hpp"
#include "daemon/cache/cache_store.hpp"
#include "daemon/listen_socket.hpp"
#include "daemon/worker_pool.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "ipc/shared_memory.hpp"

namespace ttscache {

class Server {
 public:
  Server(LoadedConfig config, std::optional<std::string> config_path,
         std::unique_ptr<CacheStore> store, ListenSocket listen);
  ~Server();
  int Run();

 private:
  struct OutFrame {
    std::vector<uint8_t> bytes;
    SharedFd fd;  // sent with the frame's first byte
  };
  struct Connection {
    uint64_t id = 0;
    UniqueFd fd;
    ipc::FrameParser parser;
    std::vector<UniqueFd> received_fds;
    std::deque<OutFrame> out;
    size_t out_offset = 0;  // bytes of out.front() already sent
    size_t out_bytes = 0;
    std::shared_ptr<ipc::MappedRegion> arena;
    uint32_t inflight = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    int64_t last_active_ms = 0;
    bool closing = false;     // close once `out` is flushed
    uint32_t events = 0x001;  // the epoll mask registered now (EPOLLIN at accept)
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

  // Loop plumbing (server.cpp).
  void Accept();
  void OnReadable(Connection& c);
  void OnWritable(Connection& c);
  bool Flush(Connection& c);
  void Close(uint64_t id);
  int WaitForEvents(epoll_event* events, int max_events);
  void Queue(Connection& c, OutFrame frame);
  void QueueError(Connection& c, uint64_t request, const Error& error, uint32_t retry_ms = 0,
                  uint64_t needed = 0);
  void QueueReply(uint64_t connection, uint64_t request, uint8_t opcode, std::vector<uint8_t> body,
                  SharedFd fd = {});
  void UpdateEvents(Connection& c);
  void DrainCompletions();
  void Post(Completion completion);
  void OnTimer();
  void AcceptWhileOutOfDescriptors();
  void RecreateSocketIfDeleted();
  void OnSignal();
  void Reload();
  void Notify(const std::string& state);

  // Requests (request_dispatch.cpp).
  void Dispatch(Connection& c, ipc::Frame frame);
  void HandleGet(Connection& c, uint64_t request, const ipc::GetRequest& get);
  void HandleArena(Connection& c, uint64_t request, std::span<const uint8_t> body);
  // Answers BUSY and returns true when `c` has its maximum of requests in flight.
  bool RefuseIfTooManyInFlight(Connection& c, uint64_t request);
  // Queues `job` on the workers, counting the request in flight; BUSY when full.
  bool SubmitJob(Connection& c, uint64_t request, std::function<Completion()> job);
  void FinishVariant(Completion& completion);
  OpusParams Effective(const OpusParams& requested) const;
  Result<std::span<const uint8_t>> AudioBytes(const ipc::AudioRef& ref,
                                              const std::shared_ptr<ipc::MappedRegion>& arena);
  std::vector<uint8_t> StatsBody();

  LoadedConfig config_;
  std::optional<std::string> config_path_;
  std::unique_ptr<CacheStore> store_;
  ListenSocket listen_;
  std::unique_ptr<PinnedWorkerPool> workers_;
  UniqueFd epoll_, signal_fd_, wake_fd_, timer_fd_;
  // Held in reserve so that, out of descriptors, we can still accept a
  // client, tell it BUSY and close it instead of spinning on the backlog.
  UniqueFd spare_fd_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::map<std::string, PendingVariant> pending_variants_;
  uint64_t next_connection_id_ = 1;
  bool stopping_ = false;
  // When the loop last had events; busy polling runs for busy_poll_us after it.
  std::chrono::steady_clock::time_point last_events_{};
  int64_t watchdog_interval_ms_ = 0;
  int64_t last_watchdog_ms_ = 0;
  int64_t last_status_ms_ = 0;
  std::atomic<uint64_t> jobs_running_{0};

  std::mutex completions_mutex_;
  std::vector<Completion> completions_;  // GUARDED_BY(completions_mutex_)

  // Counters for STATS and STATUS=.
  std::atomic<uint64_t> accepted_{0}, requests_{0}, busy_{0}, errors_{0}, encodes_{0},
      shared_encodes_{0};
};

// Maps a ttscache error to the protocol's error code.
ipc::ErrorCode ToWireError(Errc code);

}  // namespace ttscache
