/* libttscache's C API: a plain C ABI over the C++ client (client.hpp), for
 * C programs and for languages with a C FFI (Python ctypes, Rust, Go).
 *
 * - Handles are opaque. ttscache_client_new never connects; the first call
 *   (or ttscache_client_connect) does, and later calls reconnect once after a
 *   daemon restart.
 * - Every call returns an int: TTSCACHE_OK (0), TTSCACHE_MISS (1) for a get
 *   that found nothing, or a TTSCACHE_ERR_* code; ttscache_last_error() then
 *   says what went wrong, in the daemon's words where it answered.
 * - Audio comes back in a ttscache_buffer the caller releases with
 *   ttscache_buffer_free (a read-only mapping of the cached file, or bytes).
 * Thread-safety: one handle per thread at a time; handles are independent. */
#ifndef TTSCACHE_TTSCACHE_H_
#define TTSCACHE_TTSCACHE_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define TTSCACHE_API __attribute__((visibility("default")))
#else
#define TTSCACHE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum {
  TTSCACHE_OK = 0,
  TTSCACHE_MISS = 1,
  TTSCACHE_ERR_BAD_REQUEST = 2,
  TTSCACHE_ERR_BAD_AUDIO = 3,
  TTSCACHE_ERR_UNKNOWN_ENGINE = 4,
  TTSCACHE_ERR_TOO_LARGE = 5,
  TTSCACHE_ERR_BUSY = 6,
  TTSCACHE_ERR_FORBIDDEN = 7,
  TTSCACHE_ERR_INTERNAL = 8,
  TTSCACHE_ERR_UNAVAILABLE = 10, /* no daemon answers at the socket */
  TTSCACHE_ERR_INVALID_ARGUMENT = 11
};

enum { TTSCACHE_FORMAT_WAV = 0, TTSCACHE_FORMAT_OPUS = 1 };

typedef struct ttscache_client ttscache_client;

typedef struct {
  const uint8_t* data;
  size_t size;
  void* owner_; /* private */
} ttscache_buffer;

/* NULL socket_path: $TTSCACHE_SOCKET, else /run/ttscache/ttscached.sock.
 * The daemon must run as root or $TTSCACHE_DAEMON_UID when set, else as root
 * or the socket file's owner (TTSCACHE_ERR_FORBIDDEN otherwise).
 * Returns NULL only when out of memory. */
TTSCACHE_API ttscache_client* ttscache_client_new(const char* socket_path, int timeout_ms);
TTSCACHE_API void ttscache_client_free(ttscache_client* client);
TTSCACHE_API int ttscache_client_connect(ttscache_client* client);
/* The message of the last failed call on this handle ("" if none). Valid
 * until the next call on the handle. */
TTSCACHE_API const char* ttscache_last_error(const ttscache_client* client);

TTSCACHE_API int ttscache_ping(ttscache_client* client);
TTSCACHE_API int ttscache_put(ttscache_client* client, const char* engine, const char* text,
                              size_t text_length, const uint8_t* wav, size_t wav_length);
/* Adopts a WAV another cache holds: the daemon copies the regular file `fd`
 * (open for reading; the caller keeps it) as the entry named by `key` (the
 * 32-byte SHA-256 the Node module named the file by) of `engine`, last used
 * at `last_used_ns` (Unix ns, e.g. the file's mtime; 0: now). `outcome`
 * (may be NULL) receives TTSCACHE_ADOPT_STORED, _ALREADY_CACHED (the
 * daemon's entry was kept) or _EVICTED (older than all of a full cache). */
enum { TTSCACHE_ADOPT_STORED = 0, TTSCACHE_ADOPT_ALREADY_CACHED = 1, TTSCACHE_ADOPT_EVICTED = 2 };
TTSCACHE_API int ttscache_put_file_by_key(ttscache_client* client, const char* engine,
                                          const uint8_t key[32], int fd, uint64_t last_used_ns,
                                          int* outcome);
/* bitrate_kbps 0: the daemon's configured Opus settings (format OPUS only). */
TTSCACHE_API int ttscache_get(ttscache_client* client, const char* engine, const char* text,
                              size_t text_length, int format, int bitrate_kbps,
                              ttscache_buffer* out);
TTSCACHE_API int ttscache_encode(ttscache_client* client, const uint8_t* wav, size_t wav_length,
                                 int bitrate_kbps, ttscache_buffer* out);
TTSCACHE_API void ttscache_buffer_free(ttscache_buffer* buffer);

#ifdef __cplusplus
}
#endif

#endif /* TTSCACHE_TTSCACHE_H_ */
