// MemcachedPool (memcached_pool.hpp): the only file that speaks
// libmemcached. Every behavior it sets is listed with its reason below.
#include "daemon/tier/memcached_pool.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <libmemcached/memcached.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <map>

namespace ttscache {
namespace {

std::string ServerName(const TierServer& s) {
  return s.socket_path.empty() ? s.host + ":" + std::to_string(s.port) : s.socket_path;
}

// libmemcached sizes its value buffer from the length the server announces
// and reads the whole value before memcached_fetch returns it, so a check
// after the fetch comes too late: a peer announcing (and sending) 4 GiB
// would have us hold it. Its allocations go through these instead, which
// refuse any block larger than `context` (the largest value accepted plus
// room for the key and header): the read then fails as out of memory, and
// the failed multi-get drops the connection (MultiGet).
void* BoundedMalloc(const memcached_st*, const size_t size, void* context) {
  if (size > *static_cast<const uint64_t*>(context)) return nullptr;
  return std::malloc(size);
}
void BoundedFree(const memcached_st*, void* mem, void*) { std::free(mem); }
void* BoundedRealloc(const memcached_st*, void* mem, const size_t size, void* context) {
  if (size > *static_cast<const uint64_t*>(context)) return nullptr;
  return std::realloc(mem, size);
}
void* BoundedCalloc(const memcached_st*, size_t count, const size_t size, void* context) {
  if (size != 0 && count > *static_cast<const uint64_t*>(context) / size) return nullptr;
  return std::calloc(count, size);
}

}  // namespace

Result<std::unique_ptr<MemcachedPool>> MemcachedPool::Create(const MemcachedPoolOptions& options) {
  if (options.servers.empty()) {
    return MakeError(Errc::kConfig, "[tier] servers: none configured");
  }
  memcached_st* handle = memcached_create(nullptr);
  if (handle == nullptr) return MakeError(Errc::kOutOfMemory, "memcached_create failed");
  std::unique_ptr<MemcachedPool> pool(new MemcachedPool(options, handle));
  auto behavior = [&](memcached_behavior_t b, uint64_t value, const char* name) -> Status {
    memcached_return_t rc = memcached_behavior_set(handle, b, value);
    if (memcached_failed(rc)) return pool->LastError(std::string("setting ") + name, rc);
    return {};
  };
  const uint64_t ms = static_cast<uint64_t>(std::max(1, options.timeout_ms));
  struct Setting {
    memcached_behavior_t behavior;
    uint64_t value;
    const char* name;
  };
  const Setting settings[] = {
      // SASL works only over the binary protocol; one protocol everywhere.
      {MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1, "binary protocol"},
      // Ketama: adding or losing a server moves only its share of the keys.
      {MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA, "ketama"},
      // Non-blocking sockets, so that every wait is a poll bounded below.
      {MEMCACHED_BEHAVIOR_NO_BLOCK, 1, "no_block"},
      {MEMCACHED_BEHAVIOR_TCP_NODELAY, 1, "tcp_nodelay"},
      {MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, ms, "connect timeout (ms)"},
      {MEMCACHED_BEHAVIOR_POLL_TIMEOUT, ms, "poll timeout (ms)"},
      {MEMCACHED_BEHAVIOR_SND_TIMEOUT, ms * 1000, "send timeout (µs)"},
      {MEMCACHED_BEHAVIOR_RCV_TIMEOUT, ms * 1000, "receive timeout (µs)"},
      // A server that fails leaves the ring at once (its keys re-hash to
      // the others) and is tried again after 2 s. Not after two: between the
      // two, every operation on its keys fails "disabled until timed retry"
      // for the retry timeout, and five such in a row open the breaker for
      // the whole pool (Tier.AKilledServerCostsMissesNotErrorsAndIsRefilled).
      {MEMCACHED_BEHAVIOR_SERVER_FAILURE_LIMIT, 1, "server failure limit"},
      {MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 2, "retry timeout (s)"},
      // An ejected server is tried again after 2 s too. 0 (the default)
      // ejects it for good: a pool whose servers all restarted stayed
      // "SERVER IS MARKED DEAD" to this handle forever.
      {MEMCACHED_BEHAVIOR_DEAD_TIMEOUT, 2, "dead timeout (s)"},
      {MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS, 1, "remove failed servers"},
  };
  for (const Setting& s : settings) {
    if (Status st = behavior(s.behavior, s.value, s.name); !st) return st.error();
  }
  // 64 KiB over the largest value (its key, header and libmemcached's
  // rounding up of string blocks), and 32 KiB a server: libmemcached keeps
  // every server's read and write buffers (8 KiB each) in one block, and its
  // ketama points (160 a server) in another. A bound of the value alone
  // refused a pool of ten servers with max_item_bytes 1K.
  pool->largest_allocation_ =
      options.max_value_bytes + (64u << 10) + options.servers.size() * (32u << 10);
  if (memcached_return_t rc =
          memcached_set_memory_allocators(handle, BoundedMalloc, BoundedFree, BoundedRealloc,
                                          BoundedCalloc, &pool->largest_allocation_);
      memcached_failed(rc)) {
    return pool->LastError("setting bounded allocators", rc);
  }
  for (const TierServer& s : options.servers) {
    memcached_return_t rc =
        s.socket_path.empty()
            ? memcached_server_add(handle, s.host.c_str(), static_cast<in_port_t>(s.port))
            : memcached_server_add_unix_socket(handle, s.socket_path.c_str());
    if (memcached_failed(rc)) {
      Error e = pool->LastError("adding server " + ServerName(s), rc);
      e.code = Errc::kConfig;
      return e;
    }
  }
  if (options.sasl) {
    memcached_return_t rc = memcached_set_sasl_auth_data(handle, options.sasl->user.c_str(),
                                                         options.sasl->password.c_str());
    if (memcached_failed(rc)) return pool->LastError("setting SASL credentials", rc);
  }
  return pool;
}

MemcachedPool::MemcachedPool(MemcachedPoolOptions options, memcached_st* handle)
    : options_(std::move(options)), handle_(handle) {}

MemcachedPool::~MemcachedPool() {
  if (options_.sasl) memcached_destroy_sasl_auth_data(handle_);
  memcached_free(handle_);
}

Error MemcachedPool::LastError(std::string_view what, int rc) const {
  const auto code = static_cast<memcached_return_t>(rc);
  std::string message = std::string(what) + ": ";
  const char* detail = memcached_last_error_message(handle_);
  message += detail && *detail ? detail : memcached_strerror(handle_, code);
  const Errc errc = code == MEMCACHED_E2BIG ? Errc::kTooLarge : Errc::kUnavailable;
  Error e = MakeError(errc, std::move(message));
  e.sys_errno = memcached_last_error_errno(handle_);
  return e;
}

Result<std::vector<std::optional<std::vector<uint8_t>>>> MemcachedPool::MultiGet(
    std::span<const std::string> keys) {
  std::vector<std::optional<std::vector<uint8_t>>> values(keys.size());
  if (keys.empty()) return values;
  std::vector<const char*> key_ptrs;
  std::vector<size_t> key_lengths;
  std::map<std::string_view, size_t> index_of;
  for (size_t i = 0; i < keys.size(); ++i) {
    key_ptrs.push_back(keys[i].data());
    key_lengths.push_back(keys[i].size());
    index_of.emplace(keys[i], i);
  }
  memcached_return_t rc = memcached_mget(handle_, key_ptrs.data(), key_lengths.data(), keys.size());
  // SOME_ERRORS: a server of some key failed; the others still answer.
  const bool partial = rc == MEMCACHED_SOME_ERRORS;
  if (memcached_failed(rc) && !partial) return LastError("multi-get", rc);
  std::optional<Error> failure;
  size_t found = 0;
  for (;;) {
    // memcached_fetch hands over a malloc'd value and copies the key into
    // `key_buffer` (at most MEMCACHED_MAX_KEY bytes with its NUL).
    char key_buffer[MEMCACHED_MAX_KEY];
    size_t key_length = 0, length = 0;
    uint32_t flags = 0;
    memcached_return_t fetch_rc = MEMCACHED_SUCCESS;
    std::unique_ptr<char, decltype(&std::free)> fetched(
        memcached_fetch(handle_, key_buffer, &key_length, &length, &flags, &fetch_rc), &std::free);
    if (!fetched) {
      if (fetch_rc != MEMCACHED_END && fetch_rc != MEMCACHED_NOTFOUND &&
          memcached_failed(fetch_rc)) {
        failure = LastError("multi-get", fetch_rc);
      }
      if (fetch_rc == MEMCACHED_SUCCESS && length == 0) {  // an empty value: not ours either
        continue;
      }
      break;
    }
    const std::string_view key(key_buffer, std::min(key_length, sizeof key_buffer));
    auto it = index_of.find(key);
    if (it == index_of.end()) continue;  // not asked: ignore what a server invents
    if (length > options_.max_value_bytes) {
      failure = MakeError(Errc::kTooLarge, "multi-get: value of " + std::string(key) + " is " +
                                               std::to_string(length) + " bytes, over " +
                                               std::to_string(options_.max_value_bytes));
      continue;
    }
    const auto* bytes = reinterpret_cast<const uint8_t*>(fetched.get());
    values[it->second].emplace(bytes, bytes + length);
    ++found;
  }
  // A response cut short (refused as too large, timed out mid-value) leaves
  // its rest on the connection, to be read as the next response: close
  // them all, the next operation connects afresh. (Not for a server that
  // failed before answering: libmemcached has dealt with it.)
  if (failure) memcached_quit(handle_);
  if (partial && found == 0 && !failure) failure = LastError("multi-get", rc);
  if (failure && found == 0) return *failure;
  return values;
}

void MemcachedPool::InterruptConnections(std::span<const TierServer> servers) {
  // libmemcached does not tell its descriptors: find them by their peer.
  // The daemon's other sockets are Unix sockets its clients connect to
  // (their peers unnamed), so a peer that is a pool server is the pool's.
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  const int own = dirfd(dir);
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == own) continue;
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
      continue;  // ENOTSOCK, ENOTCONN: not a connection
    }
    char host[INET6_ADDRSTRLEN] = "";
    int port = -1;
    std::string path;
    if (peer.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&peer);
      inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
      port = ntohs(in->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&peer);
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
      port = ntohs(in6->sin6_port);
    } else if (peer.ss_family == AF_UNIX && length > offsetof(sockaddr_un, sun_path)) {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&peer);
      path.assign(un->sun_path, strnlen(un->sun_path, length - offsetof(sockaddr_un, sun_path)));
    } else {
      continue;
    }
    for (const TierServer& s : servers) {
      bool match = false;
      if (!s.socket_path.empty()) {
        match = !path.empty() && path == s.socket_path;
      } else if (port == s.port) {
        // A numeric address must be the same; a name matches by port (it
        // may resolve to any address, and resolving here could block).
        in6_addr any{};
        const bool numeric = inet_pton(AF_INET, s.host.c_str(), &any) == 1 ||
                             inet_pton(AF_INET6, s.host.c_str(), &any) == 1;
        match = !numeric || s.host == host;
      }
      if (match) {
        shutdown(static_cast<int>(fd), SHUT_RDWR);
        break;
      }
    }
  }
  closedir(dir);
}

Status MemcachedPool::Set(std::string_view key, std::span<const uint8_t> value, uint64_t expire_s) {
  memcached_return_t rc =
      memcached_set(handle_, key.data(), key.size(), reinterpret_cast<const char*>(value.data()),
                    value.size(), static_cast<time_t>(expire_s), 0);
  if (memcached_failed(rc)) return LastError("set " + std::string(key), rc);
  return {};
}

Status MemcachedPool::Delete(std::string_view key) {
  memcached_return_t rc = memcached_delete(handle_, key.data(), key.size(), 0);
  if (rc == MEMCACHED_NOTFOUND) return {};
  if (memcached_failed(rc)) return LastError("delete " + std::string(key), rc);
  return {};
}

}  // namespace ttscache
