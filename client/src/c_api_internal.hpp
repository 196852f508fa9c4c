// What the C API's files (c_api*.cpp) share: the handle behind
// ttscache_client, and the one place where C++ errors and exceptions become
// C codes. Every extern "C" function runs its body inside Guarded, so no
// exception reaches a C caller, and reports failure through Fail or Invalid,
// so the code and ttscache_last_error always agree.
#pragma once

#include <exception>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ttscache/arena_allocator.hpp"
#include "ttscache/client.hpp"
#include "ttscache/ttscache.h"

struct ttscache_client {
  ttscache::ClientOptions options;
  std::optional<ttscache::Client> client;
  std::string last_error;
  std::string setup_error;  // a bad environment value, reported by the first call
  // Over the whole arena once ttscache_arena_alloc is first called; reset by an attach.
  std::optional<ttscache::ArenaAllocator> allocator;
  std::set<uint64_t> sent_gets;  // ttscache_send_get ids not yet received
};

namespace ttscache::capi {

// The C code for an Errc (kNotFound is TTSCACHE_MISS).
int CodeOf(Errc code);
// Records `e` as the handle's last error; returns its code.
int Fail(ttscache_client* c, const Error& e);
// A caller's mistake caught before anything was sent.
int Invalid(ttscache_client* c, const char* what);
// Success: clears the last error.
int Ok(ttscache_client* c);
// Connects on first use (and reports a bad environment value then).
int EnsureConnected(ttscache_client* c);
// The C parameters as OpusParams (NULL: the daemon's); INVALID_ARGUMENT when out of range.
int ToParams(ttscache_client* c, const ttscache_opus_params* in, OpusParams* out);
// The plain calls' one Opus setting: the bitrate as given (0: the daemon's
// settings), the rest the library's defaults; the daemon checks the range.
OpusParams BitrateOnly(int bitrate_kbps);
// Hands audio to the caller as a ttscache_buffer.
int Deliver(ttscache_client* c, Result<AudioBuffer> audio, ttscache_buffer* out);
// Why a text cannot be sent (NULL with a length, longer than the wire's
// u32 length), or nullptr.
const char* BadText(const char* text, size_t length);
// The same for a buffer of audio.
const char* BadBytes(const void* data, size_t length);

// A ttscache_stats and what it points into; the public struct comes first so
// a pointer to it is the block's (ttscache_stats_free casts back).
struct StatsBlock {
  ttscache_stats pub{};
  std::vector<ttscache_engine_stats> engines;
  std::vector<std::string> names;
};
// Fills `block` from `s` (c_api_info.cpp).
void FillStats(const Stats& s, StatsBlock* block);

// Runs `fn`, turning an escaping exception into a code and a message on `c`
// (may be NULL).
template <class Fn>
int Guarded(ttscache_client* c, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    if (c) {
      try {
        c->last_error = "out of memory";
      } catch (...) {
      }
    }
    return TTSCACHE_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    try {
      if (c) c->last_error = e.what();
    } catch (...) {
    }
    return TTSCACHE_ERR_INTERNAL;
  } catch (...) {
    try {
      if (c) c->last_error = "unknown exception";
    } catch (...) {
    }
    return TTSCACHE_ERR_INTERNAL;
  }
}

}  // namespace ttscache::capi
