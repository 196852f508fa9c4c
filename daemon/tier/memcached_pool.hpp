// MemcachedPool: one libmemcached handle (memcached_st) on the fleet's pool
// of servers, set up the one way the tier uses it — binary protocol (SASL
// needs it; always on, so the tests cover it), consistent hashing (ketama),
// non-blocking I/O bounded by `timeout_ms` per connect, poll, send and
// receive, and a server that fails ejected from the hash
// ring (its keys go to the others) and retried after 2 s. Connections are
// made on first use.
// Ownership: owns its handle and its connections (closed by the destructor).
// Thread-safety: none — libmemcached handles must not be shared, so each
// thread makes its own (Clone). Errors carry libmemcached's message, which
// names the server when it is known; a value the server refuses as too
// large is Errc::kTooLarge.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/config.hpp"
#include "core/result.hpp"
#include "daemon/tier/sasl_credentials.hpp"

struct memcached_st;

namespace ttscache {

struct MemcachedPoolOptions {
  std::vector<TierServer> servers;
  int timeout_ms = 100;
  std::optional<SaslCredentials> sasl;
  // A value the server sends larger than this is refused (an error, its
  // connection closed) as soon as its length is read, before it is: a peer
  // cannot make us hold a huge value, even for the time of one read.
  uint64_t max_value_bytes = 1u << 20;
};

class MemcachedPool {
 public:
  // kConfig when a server cannot be added (the message names it).
  static Result<std::unique_ptr<MemcachedPool>> Create(const MemcachedPoolOptions& options);
  // Another handle on the same servers and settings, for another thread.
  Result<std::unique_ptr<MemcachedPool>> Clone() const { return Create(options_); }
  ~MemcachedPool();

  // Each key's value (nullopt: not stored), in the order of `keys`; an
  // error when the pool could not be asked (every server down, timed out).
  // REQUIRES: keys valid (IsValidMemcachedKey).
  Result<std::vector<std::optional<std::vector<uint8_t>>>> MultiGet(
      std::span<const std::string> keys);
  Status Set(std::string_view key, std::span<const uint8_t> value, uint64_t expire_s);
  // Ok when deleted or not there.
  Status Delete(std::string_view key);

  // Shuts down (both ways) every socket of this process connected to one of
  // `servers`, so that a call blocked on one — in any handle, any thread —
  // fails at once. For a peer that trickles its answer: libmemcached bounds
  // each poll by timeout_ms, not an operation. Thread-safe; connections are
  // made again on next use.
  static void InterruptConnections(std::span<const TierServer> servers);

  MemcachedPool(const MemcachedPool&) = delete;
  MemcachedPool& operator=(const MemcachedPool&) = delete;

 private:
  MemcachedPool(MemcachedPoolOptions options, memcached_st* handle);
  Error LastError(std::string_view what, int rc) const;

  MemcachedPoolOptions options_;
  uint64_t largest_allocation_ = 0;  // the bounded allocators' context (memcached_pool.cpp)
  memcached_st* handle_;
};

}  // namespace ttscache
