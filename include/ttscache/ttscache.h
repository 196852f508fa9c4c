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
 * - An encode stream (ttscache_stream) encodes audio as it is pushed and hands
 *   the Ogg Opus pages to a callback as the daemon completes them.
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

/* Encode streams (docs/protocol.md, "Encode streams"): push PCM as an engine
 * produces it, get Ogg Opus pages while it still does. A stream borrows its
 * client: it runs on the client's connection, its errors are read with
 * ttscache_last_error(client), and it is used by the client's thread.
 * REQUIRES: the client outlives the stream (free the stream first).
 * on_pages(user, pages, length) receives the next bytes of the one Ogg
 * stream, in order, from inside ttscache_stream_push, _wait and _finish; the
 * bytes are valid only during the call. An error from the daemon ends the
 * stream: that call and every later one on it return it. */
typedef struct ttscache_stream ttscache_stream;
typedef void (*ttscache_pages_fn)(void* user, const uint8_t* pages, size_t length);

enum { TTSCACHE_STREAM_RAW = 0, TTSCACHE_STREAM_WAV = 1 };
/* Raw PCM is interleaved, little-endian. */
enum {
  TTSCACHE_SAMPLE_U8 = 0,
  TTSCACHE_SAMPLE_S16LE = 1,
  TTSCACHE_SAMPLE_S24LE = 2,
  TTSCACHE_SAMPLE_S32LE = 3,
  TTSCACHE_SAMPLE_F32LE = 4,
  TTSCACHE_SAMPLE_F64LE = 5
};
typedef struct {
  int input;         /* TTSCACHE_STREAM_RAW, or TTSCACHE_STREAM_WAV: a WAV as written to
                        a pipe (sizes may be unknown); the fields below are then ignored */
  int sample_format; /* TTSCACHE_SAMPLE_* */
  int channels;      /* 1 or 2 */
  int sample_rate;   /* 8000-192000 Hz; `piper --output_raw`: s16le, mono, 22050 */
} ttscache_stream_format;

enum { TTSCACHE_CACHED_NOT_ASKED = 0, TTSCACHE_CACHED_STORED = 1, TTSCACHE_CACHED_NOT_STORED = 2 };
typedef struct {
  uint64_t samples_48k; /* what the stream decodes to: ceil(frames * 48000 / rate) */
  int cached;           /* TTSCACHE_CACHED_* */
  const char* note;     /* why it was not stored ("" otherwise); valid until the stream is freed */
} ttscache_stream_result;

/* Opens a stream. bitrate_kbps 0: the daemon's configured Opus settings.
 * With an engine and a text (both or neither; NULL engine and text NULL with
 * length 0 for neither) the finished stream is stored as that cache entry,
 * WAV and Opus variant. On TTSCACHE_OK *out is the stream, else NULL. */
TTSCACHE_API int ttscache_stream_open(ttscache_client* client, const ttscache_stream_format* format,
                                      int bitrate_kbps, const char* engine, const char* text,
                                      size_t text_length, ttscache_pages_fn on_pages, void* user,
                                      ttscache_stream** out);
/* Pushes the next bytes of input, any length (half a sample, a WAV header cut
 * anywhere); returns without waiting for them to be encoded, unless too much
 * is in flight. Pages that have arrived are delivered first. */
TTSCACHE_API int ttscache_stream_push(ttscache_stream* stream, const void* data, size_t length);
/* Delivers the pages that have arrived, waiting up to timeout_ms (0: not at
 * all) for the daemon when pushes are in flight: a producer waiting for its
 * engine's next chunk calls it (or polls ttscache_stream_poll_fd, readable
 * when there is something to deliver). */
TTSCACHE_API int ttscache_stream_wait(ttscache_stream* stream, int timeout_ms);
/* The connection's socket, for poll()/epoll; -1 when not connected. */
TTSCACHE_API int ttscache_stream_poll_fd(const ttscache_stream* stream);
/* Ends the input: the last pages (the final one with end-of-stream) reach
 * on_pages before it returns. `out` may be NULL. */
TTSCACHE_API int ttscache_stream_finish(ttscache_stream* stream, ttscache_stream_result* out);
/* Drops the stream; nothing is stored, no more pages are delivered. */
TTSCACHE_API int ttscache_stream_abort(ttscache_stream* stream);
/* Releases the stream, aborting it if it is still open. NULL is ignored. */
TTSCACHE_API void ttscache_stream_free(ttscache_stream* stream);

#ifdef __cplusplus
}
#endif

#endif /* TTSCACHE_TTSCACHE_H_ */
