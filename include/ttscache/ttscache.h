/* libttscache's C API: a plain C ABI over the C++ client (client.hpp), for
 * C programs and for languages with a C FFI (Python ctypes, Rust, Go).
 *
 * - Handles are opaque. ttscache_client_new never connects; the first call
 *   (or ttscache_client_connect) does, and later calls reconnect once after a
 *   daemon restart.
 * - Every call returns an int: TTSCACHE_OK (0), TTSCACHE_MISS (1) for a get
 *   that found nothing, or a TTSCACHE_ERR_* code; ttscache_last_error() then
 *   says what went wrong, in the daemon's words where it answered, and
 *   ttscache_strerror() names the code.
 * - Audio comes back in a ttscache_buffer the caller releases with
 *   ttscache_buffer_free (a read-only mapping of the cached file, or bytes).
 * - The arena is shared memory with the daemon: write a WAV into it (by hand
 *   or with ttscache_arena_alloc), put or encode it by offset, and Opus is
 *   written straight back into it. Nothing is copied on either side.
 * - An encode stream (ttscache_stream) encodes audio as it is pushed and hands
 *   the Ogg Opus pages to a callback as the daemon completes them.
 * - No C++ exception crosses this API: every entry point catches at its edge
 *   (an allocation failure is TTSCACHE_ERR_OUT_OF_MEMORY, anything else
 *   TTSCACHE_ERR_INTERNAL with its message). Callbacks are C and must return
 *   normally (no longjmp out of them).
 * - ABI: existing functions, codes and struct layouts never change; new ones
 *   are added. Structs the library fills for the caller (stats) are
 *   allocated by the library, so they may grow at their end.
 * Thread-safety: one handle per thread at a time; handles are independent.
 * ttscache_version, ttscache_strerror and ttscache_opus_params_init may be
 * called from any thread at any time. */
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
  TTSCACHE_ERR_BUFFER_TOO_SMALL = 9,  /* an arena output range too small for the result */
  TTSCACHE_ERR_UNAVAILABLE = 10,      /* no daemon answers at the socket, or not in time */
  TTSCACHE_ERR_INVALID_ARGUMENT = 11, /* refused by the library before anything was sent */
  TTSCACHE_ERR_OUT_OF_MEMORY = 12,    /* an allocation or mapping in the library failed */
  TTSCACHE_ERR_NO_SPACE = 13,         /* ENOSPC / EDQUOT */
  TTSCACHE_ERR_IO = 14,               /* the OS refused (memfd_create, mmap, ...) */
  TTSCACHE_ERR_UNSUPPORTED = 15,      /* the daemon does not know the request */
  TTSCACHE_ERR_LOCKED = 16,
  TTSCACHE_ERR_CONFIG = 17 /* a configuration value is wrong */
};
/* Codes 1-9 are the daemon's wire error codes (docs/protocol.md). */

/* The code's name ("TTSCACHE_ERR_BAD_AUDIO"); "TTSCACHE_ERR_UNKNOWN_CODE" for
 * a number that is none. Static storage. */
TTSCACHE_API const char* ttscache_strerror(int code);

/* The library's version: "MAJOR.MINOR.PATCH" (static storage). The macros say
 * which header a program was built with. */
#define TTSCACHE_VERSION_MAJOR 0
#define TTSCACHE_VERSION_MINOR 2
#define TTSCACHE_VERSION_PATCH 0
TTSCACHE_API const char* ttscache_version(void);
/* MAJOR * 10000 + MINOR * 100 + PATCH, for comparisons. */
TTSCACHE_API int ttscache_version_number(void);

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

/* Opus encoder settings (docs/protocol.md, "opus"). bitrate_kbps 0 means
 * "the daemon's configured settings", all of them (the other fields are then
 * ignored). Otherwise vbr, application and frame_us of 0 are the library's
 * defaults (VBR on, voip, 20000 us) and complexity is taken as it is.
 * ttscache_opus_params_init sets bitrate 0, complexity 10 and the rest 0:
 * call it first, then set fields (`reserved_` must stay 0, room for later
 * settings). A NULL params pointer means the daemon's settings. Out of range
 * (bitrate 6-510, complexity 0-10, frame_us one of 2500 5000 10000 20000
 * 40000 60000): TTSCACHE_ERR_INVALID_ARGUMENT. */
enum {
  TTSCACHE_VBR_DEFAULT = 0,
  TTSCACHE_VBR_ON = 1,
  TTSCACHE_VBR_OFF = 2,
  TTSCACHE_VBR_CONSTRAINED = 3
};
enum {
  TTSCACHE_APPLICATION_DEFAULT = 0,
  TTSCACHE_APPLICATION_VOIP = 1,
  TTSCACHE_APPLICATION_AUDIO = 2,
  TTSCACHE_APPLICATION_LOWDELAY = 3
};
typedef struct {
  int bitrate_kbps; /* 0: the daemon's settings */
  int vbr;          /* TTSCACHE_VBR_* */
  int application;  /* TTSCACHE_APPLICATION_* */
  int complexity;   /* 0-10 */
  int frame_us;     /* 0: 20000 */
  int reserved_[3];
} ttscache_opus_params;
TTSCACHE_API void ttscache_opus_params_init(ttscache_opus_params* params);

/* ttscache_get and ttscache_encode with full Opus parameters (NULL: the
 * daemon's). Same ownership and errors as the plain calls. */
TTSCACHE_API int ttscache_get_ex(ttscache_client* client, const char* engine, const char* text,
                                 size_t text_length, int format, const ttscache_opus_params* params,
                                 ttscache_buffer* out);
TTSCACHE_API int ttscache_encode_ex(ttscache_client* client, const uint8_t* wav, size_t wav_length,
                                    const ttscache_opus_params* params, ttscache_buffer* out);
/* Stores the WAV as the entry of (engine, text) and returns its Opus
 * encoding in `out` (also cached as the entry's variant for `params`). */
TTSCACHE_API int ttscache_put_encode(ttscache_client* client, const char* engine, const char* text,
                                     size_t text_length, const uint8_t* wav, size_t wav_length,
                                     const ttscache_opus_params* params, ttscache_buffer* out);

/* Pipelined gets: send several, then receive each by its id, in any order.
 * *request_id identifies the reply on this handle. Every id sent must be
 * received (or the handle freed); a get's miss arrives as TTSCACHE_MISS from
 * ttscache_receive_get. An id not outstanding (never sent, or received
 * already): TTSCACHE_ERR_INVALID_ARGUMENT, at once. Other calls on the
 * handle may go in between.
 * Pipelined gets do not reconnect after a daemon restart (UNAVAILABLE). */
TTSCACHE_API int ttscache_send_get(ttscache_client* client, const char* engine, const char* text,
                                   size_t text_length, int format,
                                   const ttscache_opus_params* params, uint64_t* request_id);
TTSCACHE_API int ttscache_receive_get(ttscache_client* client, uint64_t request_id,
                                      ttscache_buffer* out);

/* The daemon's HELLO: its protocol version and limits. */
typedef struct {
  uint32_t protocol_version;
  uint32_t max_frame_body;  /* bytes of one request or reply */
  uint32_t max_text_bytes;  /* of a text (0: the daemon did not say) */
  uint32_t max_inflight;    /* requests in flight per connection */
  uint64_t max_arena_bytes; /* the largest arena ttscache_arena_attach may ask */
  uint64_t reserved_[4];
} ttscache_hello_info;
TTSCACHE_API int ttscache_hello(ttscache_client* client, ttscache_hello_info* out);

/* The daemon's counters. Allocated by the library on TTSCACHE_OK and
 * released with ttscache_stats_free (the engine array and its names go with
 * it); fields may be appended in later versions. has_limits / has_streams
 * are 0 from a daemon that predates those fields (they are then 0). */
typedef struct {
  const char* name;
  uint64_t entries, bytes, hits, misses, puts, evictions, variant_hits, variant_misses;
} ttscache_engine_stats;
typedef struct {
  uint64_t connections, requests, busy, errors, encodes, shared_encodes;
  int has_limits;
  uint64_t max_entries, max_bytes; /* per engine; 0: none */
  int has_streams;
  uint64_t streams_open, streams_opened, streams_stored, streams_failed;
  size_t engine_count;
  const ttscache_engine_stats* engines;
} ttscache_stats;
TTSCACHE_API int ttscache_stats_get(ttscache_client* client, ttscache_stats** out);
/* NULL is ignored. */
TTSCACHE_API void ttscache_stats_free(ttscache_stats* stats);

/* Operating the cache (docs/protocol.md, "Operating the cache"). Every
 * `engine` is "engine" or "engine/voice" (e.g. "piper/en_US-lessac-medium").
 * Delete, purge and verify with repair are admin operations: anyone else
 * gets TTSCACHE_ERR_FORBIDDEN (the handle stays usable).
 *
 * Deletes one entry and its Opus variants, named by its text or by its key
 * (the 32-byte SHA-256 of its file name). TTSCACHE_OK: deleted, and `out`
 * (may be NULL) says what its files held; TTSCACHE_MISS: it was not cached
 * (`out` is zeroed). */
typedef struct {
  int deleted;       /* 1 on TTSCACHE_OK, 0 on TTSCACHE_MISS */
  uint32_t variants; /* Opus variant files removed with it */
  uint64_t bytes;    /* WAV and variants */
  uint64_t reserved_[2];
} ttscache_delete_result;
TTSCACHE_API int ttscache_delete(ttscache_client* client, const char* engine, const char* text,
                                 size_t text_length, ttscache_delete_result* out);
TTSCACHE_API int ttscache_delete_key(ttscache_client* client, const char* engine,
                                     const uint8_t key[32], ttscache_delete_result* out);
/* Every entry of "engine" (all its voices) or "engine/voice" cached when the
 * purge began. `out` may be NULL. */
typedef struct {
  uint64_t entries, bytes;
  uint64_t reserved_[2];
} ttscache_purge_result;
TTSCACHE_API int ttscache_purge(ttscache_client* client, const char* engine,
                                ttscache_purge_result* out);

/* A page of the index (LIST): from `cursor` (0 starts) at most `max_entries`
 * (1-1024) entries matching `filter` (NULL: all). The page is allocated by
 * the library on TTSCACHE_OK and released with ttscache_list_free (entries,
 * engines and variants go with it). A page may be empty while next_cursor is
 * not 0: keep asking with next_cursor until it is 0. The filter is the
 * caller's: zero it (every 0 is "no bound"), then set fields. */
typedef struct {
  const char* engine; /* NULL or "": all; "engine": with all its voices; "engine/voice" */
  uint64_t min_idle_s, max_idle_s; /* seconds since last use, inclusive */
  uint64_t min_bytes, max_bytes;   /* WAV and variants, inclusive */
  uint64_t reserved_[4];           /* must be 0 */
} ttscache_list_filter;
typedef struct {
  ttscache_opus_params params;
  uint64_t bytes;
} ttscache_list_variant;
typedef struct {
  const char* engine; /* "engine" or "engine/voice" */
  uint8_t key[32];
  uint64_t wav_bytes, total_bytes;
  uint64_t last_access_ns; /* Unix time */
  size_t variant_count;
  const ttscache_list_variant* variants;
  uint64_t reserved_[2]; /* 0; an array element cannot grow, so room is kept */
} ttscache_list_entry;
typedef struct {
  uint64_t next_cursor; /* 0: the end */
  size_t count;
  const ttscache_list_entry* entries;
} ttscache_list_page;
TTSCACHE_API int ttscache_list(ttscache_client* client, uint64_t cursor,
                               const ttscache_list_filter* filter, uint32_t max_entries,
                               ttscache_list_page** out);
/* NULL is ignored. */
TTSCACHE_API void ttscache_list_free(ttscache_list_page* page);

/* Checks the index against the folder and every WAV header; with repair 1
 * (admin) fixes what it can without losing a sound entry. The report is
 * allocated by the library on TTSCACHE_OK; release it with
 * ttscache_verify_free. At most 1,000 problems are listed; problems_total
 * counts all. */
enum { TTSCACHE_VERIFY_CLEAN = 0, TTSCACHE_VERIFY_REPAIRED = 1, TTSCACHE_VERIFY_DAMAGED = 2 };
typedef struct {
  const char* kind; /* short and stable: "missing-file", "bad-wav", ... (docs/cli.md) */
  const char* path; /* relative to the cache dir; "" for the index itself */
  const char* detail;
  int repaired;
  uint64_t reserved_[2]; /* 0; an array element cannot grow, so room is kept */
} ttscache_verify_problem;
typedef struct {
  int verdict; /* TTSCACHE_VERIFY_* */
  uint64_t entries_checked, files_checked, problems_total;
  size_t problem_count;
  const ttscache_verify_problem* problems;
} ttscache_verify_report;
TTSCACHE_API int ttscache_verify(ttscache_client* client, int repair, ttscache_verify_report** out);
/* NULL is ignored. */
TTSCACHE_API void ttscache_verify_free(ttscache_verify_report* report);

/* STATS with every detail: the counters of ttscache_stats_get (`stats`,
 * owned by this block) and what monitoring needs beyond them. Allocated by
 * the library on TTSCACHE_OK, released with ttscache_stats_detail_free;
 * fields may be appended in later versions. has_detail is 0 from a daemon
 * that predates the detail (the fields after it are then 0). */
#define TTSCACHE_ENCODE_BUCKETS 12
typedef struct {
  const ttscache_stats* stats;
  int has_detail;
  uint64_t disk_free_bytes, disk_total_bytes; /* statvfs of the cache dir */
  uint64_t min_free_bytes, max_age_s;         /* in force; 0: none */
  /* entries removed since start by max_age, min_free, delete, purge */
  uint64_t expired, evicted_for_space, deleted, purged;
  const uint64_t* oldest_access_ns; /* stats->engine_count of them, Unix ns; 0: empty */
  uint64_t queue_depth, queue_capacity;
  uint64_t connections_open, forbidden;
  /* encodes that took at most encode_bucket_bounds_us[i] (cumulative) */
  uint64_t encode_bucket_bounds_us[TTSCACHE_ENCODE_BUCKETS];
  uint64_t encode_buckets[TTSCACHE_ENCODE_BUCKETS];
  uint64_t encode_count, encode_sum_us;
} ttscache_stats_detail;
TTSCACHE_API int ttscache_stats_detail_get(ttscache_client* client, ttscache_stats_detail** out);
/* NULL is ignored. */
TTSCACHE_API void ttscache_stats_detail_free(ttscache_stats_detail* detail);

/* Coordinating synthesis (docs/protocol.md, "Coordinating synthesis").
 * ttscache_get_or_claim: as ttscache_get_ex, but a miss is claimed. On
 * TTSCACHE_OK either *claimed is 0 and `out` holds the entry (possibly after
 * waiting up to wait_ms for another client's put), or *claimed is 1, `out`
 * is empty and *lease_ms (may be NULL) says how long this client has to put
 * the phrase (or ttscache_claim_drop it). TTSCACHE_MISS: the wait
 * ended first or no claim was granted; synthesize anyway. */
TTSCACHE_API int ttscache_get_or_claim(ttscache_client* client, const char* engine,
                                       const char* text, size_t text_length, int format,
                                       const ttscache_opus_params* params, uint32_t wait_ms,
                                       ttscache_buffer* out, int* claimed, uint32_t* lease_ms);
/* *dropped (may be NULL): 1 if this connection held the claim. */
TTSCACHE_API int ttscache_claim_drop(ttscache_client* client, const char* engine, const char* text,
                                     size_t text_length, int* dropped);
/* A unit of the synthesis slot `name`, waiting up to wait_ms in line
 * (TTSCACHE_ERR_BUSY when none came free). *hold receives its id; the unit
 * is held until ttscache_slot_release or the handle's connection closes. */
TTSCACHE_API int ttscache_slot_acquire(ttscache_client* client, const char* name, uint32_t wait_ms,
                                       uint64_t* hold);
/* TTSCACHE_OK also for a hold whose connection has closed since (it was
 * released with it); TTSCACHE_ERR_BAD_REQUEST for one this handle does not
 * hold (released already). */
TTSCACHE_API int ttscache_slot_release(ttscache_client* client, uint64_t hold);
typedef struct {
  const char* name;
  uint32_t size, held, waiting; /* size 0: no limit */
  uint64_t acquired, waited, timeouts, wait_us;
  uint64_t reserved_[2]; /* 0 */
} ttscache_slot_stats;
/* Allocated by the library on TTSCACHE_OK, released with
 * ttscache_coordination_free; fields may be appended in later versions. */
typedef struct {
  int has_coordination; /* 0 from a daemon that predates it */
  uint64_t claims, claim_waits, waits_served, wait_timeouts, lease_expiries, takeovers,
      claims_refused;
  uint64_t claims_open, waiting;
  size_t slot_count;
  const ttscache_slot_stats* slots;
} ttscache_coordination_stats;
TTSCACHE_API int ttscache_coordination_get(ttscache_client* client,
                                           ttscache_coordination_stats** out);
/* NULL is ignored. */
TTSCACHE_API void ttscache_coordination_free(ttscache_coordination_stats* stats);

/* The fleet's second tier (docs/fleet.md): its counters since the daemon
 * started (state and queue_depth: now); docs/protocol.md, "STATS reply",
 * flag 16, says what each counts. Allocated by the library on TTSCACHE_OK,
 * released with ttscache_tier_free; fields may be appended in later
 * versions. has_tier is 0 from a daemon that predates the tier; enabled is 0
 * when the daemon has no [tier] configured (every field after it is 0). A
 * reply no daemon sends ends the connection: TTSCACHE_ERR_INTERNAL. */
#define TTSCACHE_TIER_UP 0
#define TTSCACHE_TIER_DOWN 1    /* the breaker is open: lookups and writes skipped */
#define TTSCACHE_TIER_PROBING 2 /* one lookup tries whether the pool answers again */
typedef struct {
  int has_tier;
  int enabled;
  int state; /* TTSCACHE_TIER_UP, _DOWN or _PROBING */
  uint32_t servers;
  uint64_t lookups, coalesced, hits, variant_hits, misses, errors, timeouts, corrupt, skipped;
  uint64_t writes, write_errors, dropped, oversized, queue_depth, queue_capacity;
  uint64_t breaker_opens, lookup_us;
} ttscache_tier_stats;
TTSCACHE_API int ttscache_tier_get(ttscache_client* client, ttscache_tier_stats** out);
/* NULL is ignored. */
TTSCACHE_API void ttscache_tier_free(ttscache_tier_stats* stats);

/* The arena: shared memory of `bytes` (at most the daemon's max_arena_bytes)
 * made and handed to the daemon; a second attach replaces the first (its
 * mapping, offsets and allocations are gone; a failed one leaves them). It is
 * re-registered after a daemon restart. */
TTSCACHE_API int ttscache_arena_attach(ttscache_client* client, size_t bytes);
/* The arena's mapping: *data and *size (NULL and 0 before an attach, which
 * is TTSCACHE_ERR_INVALID_ARGUMENT). Valid until the next attach or the
 * handle is freed. The daemon reads a range only during the call that names
 * it, and writes an encode's output range only then. */
TTSCACHE_API int ttscache_arena(ttscache_client* client, uint8_t** data, size_t* size);
/* A simple allocator over the whole arena (best fit; its bookkeeping lives in
 * the arena). Once ttscache_arena_alloc is called, write only to ranges it
 * returned. On TTSCACHE_OK *data is the range's memory and *offset what the
 * calls below take (either may be NULL). Nothing that big is free:
 * TTSCACHE_ERR_TOO_LARGE. Freeing an offset outside the arena is
 * TTSCACHE_ERR_INVALID_ARGUMENT; one inside it that ttscache_arena_alloc did
 * not return (or freed already) is undefined, as with free(). */
TTSCACHE_API int ttscache_arena_alloc(ttscache_client* client, size_t bytes, uint8_t** data,
                                      uint64_t* offset);
TTSCACHE_API int ttscache_arena_free(ttscache_client* client, uint64_t offset);
/* Stores arena[offset, +length) (a WAV) as the entry of (engine, text). */
TTSCACHE_API int ttscache_put_from_arena(ttscache_client* client, const char* engine,
                                         const char* text, size_t text_length, uint64_t offset,
                                         uint64_t length);
/* Encodes arena[offset, +length) (a WAV) into arena[out_offset,
 * +out_capacity); *opus_size (may be NULL) is the Ogg Opus size. When the
 * range is too small: TTSCACHE_ERR_BUFFER_TOO_SMALL and *opus_size is the
 * size needed (0 if the daemon did not say). */
TTSCACHE_API int ttscache_encode_in_arena(ttscache_client* client, uint64_t offset, uint64_t length,
                                          uint64_t out_offset, uint64_t out_capacity,
                                          const ttscache_opus_params* params, uint64_t* opus_size);

/* Encode streams (docs/protocol.md, "Encode streams"): push PCM as an engine
 * produces it, get Ogg Opus pages while it still does. A stream borrows its
 * client: it runs on the client's connection, its errors are read with
 * ttscache_last_error(client), and it is used by the client's thread.
 * REQUIRES: the client outlives the stream (free the stream first).
 * on_pages(user, pages, length) receives the next bytes of the one Ogg
 * stream, in order, from inside ttscache_stream_push, _wait and _finish; the
 * bytes are valid only during the call (on_pages is C: it returns normally,
 * it cannot throw). An error from the daemon ends the
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
/* ttscache_stream_open with full Opus parameters (NULL: the daemon's). */
TTSCACHE_API int ttscache_stream_open_ex(ttscache_client* client,
                                         const ttscache_stream_format* format,
                                         const ttscache_opus_params* params, const char* engine,
                                         const char* text, size_t text_length,
                                         ttscache_pages_fn on_pages, void* user,
                                         ttscache_stream** out);
/* Drops the stream; nothing is stored, no more pages are delivered. */
TTSCACHE_API int ttscache_stream_abort(ttscache_stream* stream);
/* Releases the stream, aborting it if it is still open. NULL is ignored. */
TTSCACHE_API void ttscache_stream_free(ttscache_stream* stream);

#ifdef __cplusplus
}
#endif

#endif /* TTSCACHE_TTSCACHE_H_ */
