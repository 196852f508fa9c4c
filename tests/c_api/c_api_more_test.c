/* The C API beyond put/get/encode/streams, against a real daemon: the arena
 * (allocate, write a WAV, put from it, get it back; encode into it, a range
 * too small and the size it needed), full Opus parameters changing the
 * output, the stats struct moving, pipelined gets received out of order,
 * hello, version, strerror, each daemon error the tests can provoke, NULL
 * arguments, and an allocation failure reported as OUT_OF_MEMORY (in a child
 * under RLIMIT_AS; skipped when $TTSCACHE_TEST_SANITIZED is set, since a
 * sanitizer's shadow memory needs the address space). */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ttscache/ttscache.h"

void test_more(const char* socket_path, const uint8_t* wav, size_t wav_length, const char* out_dir);

/* The struct layouts are a promise to programs already built (and to ctypes
 * declarations): a reorder or a resize fails here, at compile time (LP64). */
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(ttscache_buffer) == 24, "ttscache_buffer layout");
_Static_assert(sizeof(ttscache_opus_params) == 32, "ttscache_opus_params layout");
_Static_assert(offsetof(ttscache_opus_params, frame_us) == 16, "ttscache_opus_params layout");
_Static_assert(sizeof(ttscache_hello_info) == 56, "ttscache_hello_info layout");
_Static_assert(offsetof(ttscache_hello_info, max_arena_bytes) == 16, "ttscache_hello_info layout");
_Static_assert(sizeof(ttscache_engine_stats) == 72, "ttscache_engine_stats layout");
_Static_assert(offsetof(ttscache_stats, has_limits) == 48 &&
                   offsetof(ttscache_stats, has_streams) == 72 &&
                   offsetof(ttscache_stats, engine_count) == 112 &&
                   offsetof(ttscache_stats, engines) == 120,
               "ttscache_stats layout (fields may only be appended)");
_Static_assert(sizeof(ttscache_stream_format) == 16, "ttscache_stream_format layout");
_Static_assert(sizeof(ttscache_stream_result) == 24, "ttscache_stream_result layout");
#endif

static void write_file(const char* dir, const char* name, const uint8_t* data, size_t size) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE* f = fopen(path, "wb");
  CHECK(f != NULL && fwrite(data, 1, size, f) == size && fclose(f) == 0, "write %s", path);
}

static const ttscache_engine_stats* engine_of(const ttscache_stats* s, const char* name) {
  for (size_t i = 0; i < s->engine_count; ++i) {
    if (strcmp(s->engines[i].name, name) == 0) return &s->engines[i];
  }
  return NULL;
}

static void test_version_and_names(void) {
  char expected[64];
  snprintf(expected, sizeof(expected), "%d.%d.%d", TTSCACHE_VERSION_MAJOR, TTSCACHE_VERSION_MINOR,
           TTSCACHE_VERSION_PATCH);
  CHECK(strcmp(ttscache_version(), expected) == 0, "version %s, header %s", ttscache_version(),
        expected);
  CHECK(ttscache_version_number() ==
            TTSCACHE_VERSION_MAJOR * 10000 + TTSCACHE_VERSION_MINOR * 100 + TTSCACHE_VERSION_PATCH,
        "version number %d", ttscache_version_number());
  /* Every code has its own name; the numbers of the old ones are unchanged. */
  CHECK(TTSCACHE_ERR_BAD_AUDIO == 3 && TTSCACHE_ERR_INTERNAL == 8 &&
            TTSCACHE_ERR_UNAVAILABLE == 10 && TTSCACHE_ERR_INVALID_ARGUMENT == 11,
        "old codes renumbered");
  for (int code = TTSCACHE_OK; code <= TTSCACHE_ERR_CONFIG; ++code) {
    const char* name = ttscache_strerror(code);
    CHECK(strncmp(name, "TTSCACHE_", 9) == 0 && strcmp(name, "TTSCACHE_ERR_UNKNOWN_CODE") != 0,
          "code %d has no name (%s)", code, name);
    for (int other = TTSCACHE_OK; other < code; ++other) {
      CHECK(strcmp(name, ttscache_strerror(other)) != 0, "codes %d and %d share %s", other, code,
            name);
    }
  }
  CHECK(strcmp(ttscache_strerror(TTSCACHE_ERR_OUT_OF_MEMORY), "TTSCACHE_ERR_OUT_OF_MEMORY") == 0,
        "OOM name");
  CHECK(strcmp(ttscache_strerror(-5), "TTSCACHE_ERR_UNKNOWN_CODE") == 0, "unknown code");
  CHECK(strcmp(ttscache_strerror(99), "TTSCACHE_ERR_UNKNOWN_CODE") == 0, "unknown code 99");
}

static void test_hello_and_stats(ttscache_client* c, const uint8_t* wav, size_t wav_length) {
  ttscache_hello_info h;
  CHECK(ttscache_hello(c, &h) == TTSCACHE_OK, "hello: %s", ttscache_last_error(c));
  CHECK(h.protocol_version >= 1 && h.max_frame_body >= 1024 && h.max_inflight >= 1 &&
            h.max_arena_bytes >= (1u << 20) && h.max_text_bytes == 4096,
        "hello: version %u frame %u text %u inflight %u arena %llu", h.protocol_version,
        h.max_frame_body, h.max_text_bytes, h.max_inflight, (unsigned long long)h.max_arena_bytes);

  ttscache_stats* before = NULL;
  CHECK(ttscache_stats_get(c, &before) == TTSCACHE_OK && before != NULL, "stats: %s",
        ttscache_last_error(c));
  CHECK(before->has_limits && before->has_streams, "limits and streams present");
  const ttscache_engine_stats* piper = engine_of(before, "piper");
  CHECK(piper != NULL && engine_of(before, "xtts") != NULL, "engines piper and xtts listed");
  const uint64_t entries = piper->entries, hits = piper->hits, misses = piper->misses,
                 puts = piper->puts, requests = before->requests, opened = before->streams_opened;

  const char* text = "Counted in the stats.";
  CHECK(ttscache_put(c, "piper", text, strlen(text), wav, wav_length) == TTSCACHE_OK, "put: %s",
        ttscache_last_error(c));
  ttscache_buffer b;
  CHECK(ttscache_get(c, "piper", text, strlen(text), TTSCACHE_FORMAT_WAV, 0, &b) == TTSCACHE_OK,
        "hit");
  ttscache_buffer_free(&b);
  CHECK(
      ttscache_get(c, "piper", "not counted yet", 15, TTSCACHE_FORMAT_WAV, 0, &b) == TTSCACHE_MISS,
      "miss");
  ttscache_stream_format raw = {TTSCACHE_STREAM_RAW, TTSCACHE_SAMPLE_S16LE, 1, 22050};
  ttscache_stream* s = NULL;
  CHECK(ttscache_stream_open(c, &raw, 0, NULL, NULL, 0, NULL, NULL, &s) == TTSCACHE_OK, "open");
  ttscache_stream_free(s);

  ttscache_stats* after = NULL;
  CHECK(ttscache_stats_get(c, &after) == TTSCACHE_OK, "stats: %s", ttscache_last_error(c));
  piper = engine_of(after, "piper");
  CHECK(piper != NULL, "piper after");
  CHECK(piper->entries == entries + 1 && piper->puts == puts + 1 && piper->hits == hits + 1 &&
            piper->misses == misses + 1,
        "piper: entries %llu→%llu puts %llu→%llu hits %llu→%llu misses %llu→%llu",
        (unsigned long long)entries, (unsigned long long)piper->entries, (unsigned long long)puts,
        (unsigned long long)piper->puts, (unsigned long long)hits, (unsigned long long)piper->hits,
        (unsigned long long)misses, (unsigned long long)piper->misses);
  CHECK(piper->bytes >= wav_length, "piper bytes %llu", (unsigned long long)piper->bytes);
  CHECK(after->requests >= requests + 4, "requests %llu→%llu", (unsigned long long)requests,
        (unsigned long long)after->requests);
  CHECK(after->streams_opened == opened + 1, "streams_opened %llu→%llu", (unsigned long long)opened,
        (unsigned long long)after->streams_opened);
  CHECK(after->connections >= 1, "connections");
  ttscache_stats_free(before);
  ttscache_stats_free(after);
  ttscache_stats_free(NULL);
}

/* Allocate, write, put from the arena, get back; encode into the arena;
 * too small; two bitrates; out of arena space. */
static void test_arena(ttscache_client* c, const uint8_t* wav, size_t wav_length,
                       const char* out_dir) {
  uint8_t* base = NULL;
  size_t size = 0;
  uint8_t* p = NULL;
  uint64_t at = 0;
  CHECK(ttscache_arena(c, &base, &size) == TTSCACHE_ERR_INVALID_ARGUMENT && base == NULL,
        "arena before attach");
  CHECK(ttscache_arena_alloc(c, 16, &p, &at) == TTSCACHE_ERR_INVALID_ARGUMENT, "alloc w/o arena");
  CHECK(ttscache_put_from_arena(c, "piper", "x", 1, 0, 10) == TTSCACHE_ERR_INVALID_ARGUMENT,
        "put from arena before attach");
  CHECK(ttscache_arena_attach(c, 0) == TTSCACHE_ERR_INVALID_ARGUMENT, "0-byte arena");
  /* 8 EiB cannot be mapped: mmap's ENOMEM is out of memory, not "busy". */
  int rc = ttscache_arena_attach(c, SIZE_MAX / 2);
  CHECK(rc == TTSCACHE_ERR_OUT_OF_MEMORY, "8 EiB arena gave %s: %s", ttscache_strerror(rc),
        ttscache_last_error(c));
  CHECK(ttscache_arena_attach(c, 2u << 30) == TTSCACHE_ERR_TOO_LARGE, "2 GiB arena: %d %s",
        ttscache_arena_attach(c, 2u << 30), ttscache_last_error(c));

  const size_t arena_size = 8u << 20;
  CHECK(ttscache_arena_attach(c, arena_size) == TTSCACHE_OK, "attach: %s", ttscache_last_error(c));
  CHECK(ttscache_arena(c, &base, &size) == TTSCACHE_OK && base != NULL && size == arena_size,
        "arena mapping %zu", size);

  uint8_t* in = NULL;
  uint64_t in_at = 0;
  CHECK(ttscache_arena_alloc(c, wav_length, &in, &in_at) == TTSCACHE_OK, "alloc: %s",
        ttscache_last_error(c));
  CHECK(in == base + in_at && in_at + wav_length <= size, "alloc's pointer and offset agree");
  memcpy(in, wav, wav_length);
  const char* text = "Put from the arena.";
  CHECK(ttscache_put_from_arena(c, "piper", text, strlen(text), in_at, wav_length) == TTSCACHE_OK,
        "put_from_arena: %s", ttscache_last_error(c));
  ttscache_buffer b;
  CHECK(ttscache_get(c, "piper", "put FROM the arena.", strlen(text), TTSCACHE_FORMAT_WAV, 0, &b) ==
            TTSCACHE_OK,
        "get: %s", ttscache_last_error(c));
  CHECK(b.size == wav_length && memcmp(b.data, wav, wav_length) == 0, "arena put differs");
  ttscache_buffer_free(&b);

  /* Encode into the arena, at two bitrates: different sizes. */
  uint8_t* out = NULL;
  uint64_t out_at = 0;
  const size_t out_capacity = 1u << 20;
  CHECK(ttscache_arena_alloc(c, out_capacity, &out, &out_at) == TTSCACHE_OK, "alloc out: %s",
        ttscache_last_error(c));
  ttscache_opus_params low, high;
  ttscache_opus_params_init(&low);
  ttscache_opus_params_init(&high);
  CHECK(low.bitrate_kbps == 0 && low.complexity == 10 && low.frame_us == 0 && low.vbr == 0,
        "params_init");
  low.bitrate_kbps = 12;
  high.bitrate_kbps = 128;
  high.vbr = TTSCACHE_VBR_OFF;
  uint64_t low_size = 0, high_size = 0, default_size = 0;
  CHECK(ttscache_encode_in_arena(c, in_at, wav_length, out_at, out_capacity, &low, &low_size) ==
            TTSCACHE_OK,
        "encode_in_arena 12: %s", ttscache_last_error(c));
  CHECK(low_size > 100 && low_size <= out_capacity && memcmp(out, "OggS", 4) == 0,
        "arena Opus (%llu bytes)", (unsigned long long)low_size);
  write_file(out_dir, "arena-12.opus", out, low_size);
  CHECK(ttscache_encode_in_arena(c, in_at, wav_length, out_at, out_capacity, &high, &high_size) ==
            TTSCACHE_OK,
        "encode_in_arena 128: %s", ttscache_last_error(c));
  write_file(out_dir, "arena-128.opus", out, high_size);
  CHECK(high_size > low_size * 3, "128 kbps CBR (%llu bytes) not much larger than 12 (%llu)",
        (unsigned long long)high_size, (unsigned long long)low_size);
  CHECK(ttscache_encode_in_arena(c, in_at, wav_length, out_at, out_capacity, NULL, &default_size) ==
            TTSCACHE_OK,
        "encode_in_arena defaults: %s", ttscache_last_error(c));

  /* An output range over the input would be written while the daemon still
   * reads the WAV: a corrupt encoding reported as OK. Refused instead. */
  uint64_t overlap_size = 0;
  rc =
      ttscache_encode_in_arena(c, in_at, wav_length, in_at + 1024, wav_length, NULL, &overlap_size);
  CHECK(rc == TTSCACHE_ERR_INVALID_ARGUMENT, "output overlapping the input gave %s (%llu bytes)",
        ttscache_strerror(rc), (unsigned long long)overlap_size);
  rc = ttscache_encode_in_arena(c, in_at + 1024, wav_length, in_at, 2048, NULL, &overlap_size);
  CHECK(rc == TTSCACHE_ERR_INVALID_ARGUMENT, "output overlapping the input's start gave %s",
        ttscache_strerror(rc));

  /* Too small: its own code and the size it needed, which then suffices. */
  uint64_t needed = 0;
  rc = ttscache_encode_in_arena(c, in_at, wav_length, out_at, 200, &low, &needed);
  CHECK(rc == TTSCACHE_ERR_BUFFER_TOO_SMALL, "200-byte range gave %s: %s", ttscache_strerror(rc),
        ttscache_last_error(c));
  CHECK(needed == low_size, "needed %llu, the encoding is %llu", (unsigned long long)needed,
        (unsigned long long)low_size);
  CHECK(ttscache_encode_in_arena(c, in_at, wav_length, out_at, needed, &low, &needed) ==
                TTSCACHE_OK &&
            needed == low_size,
        "the needed size suffices: %s", ttscache_last_error(c));

  /* Bad ranges and bad audio in the arena. */
  rc = ttscache_put_from_arena(c, "piper", "beyond", 6, size - 10, 100);
  CHECK(rc == TTSCACHE_ERR_BAD_REQUEST, "range beyond the arena gave %s: %s", ttscache_strerror(rc),
        ttscache_last_error(c));
  memcpy(out, "not a wave file at all.........................", 48);
  rc = ttscache_put_from_arena(c, "piper", "garbage", 7, out_at, 48);
  CHECK(rc == TTSCACHE_ERR_BAD_AUDIO, "garbage from the arena gave %s: %s", ttscache_strerror(rc),
        ttscache_last_error(c));
  rc = ttscache_put_from_arena(c, "nope", "x", 1, in_at, wav_length);
  CHECK(rc == TTSCACHE_ERR_UNKNOWN_ENGINE, "unknown engine gave %s", ttscache_strerror(rc));

  /* A failed attach leaves the arena and its allocations as they were. */
  CHECK(ttscache_arena_attach(c, 2u << 30) == TTSCACHE_ERR_TOO_LARGE, "2 GiB arena again");
  CHECK(ttscache_arena(c, &base, &size) == TTSCACHE_OK && size == arena_size, "arena kept");
  CHECK(ttscache_arena_alloc(c, 4096, &p, &at) == TTSCACHE_OK &&
            (at + 4096 <= in_at || at >= in_at + wav_length) &&
            (at + 4096 <= out_at || at >= out_at + out_capacity),
        "a new block overlaps a live one (at %llu)", (unsigned long long)at);
  CHECK(ttscache_arena_free(c, at) == TTSCACHE_OK, "free");

  /* The allocator: full, then room again after a free. */
  rc = ttscache_arena_alloc(c, arena_size, &p, &at);
  CHECK(rc == TTSCACHE_ERR_TOO_LARGE && p == NULL, "alloc of the whole arena gave %s",
        ttscache_strerror(rc));
  /* Sizes near SIZE_MAX must not wrap to a small block in the allocator's rounding. */
  for (size_t ask = SIZE_MAX; ask >= SIZE_MAX - 64; --ask) {
    rc = ttscache_arena_alloc(c, ask, &p, &at);
    CHECK(rc == TTSCACHE_ERR_TOO_LARGE && p == NULL, "alloc of %zu bytes gave %s (offset %llu)",
          ask, ttscache_strerror(rc), (unsigned long long)at);
  }
  CHECK(ttscache_arena_free(c, out_at) == TTSCACHE_OK, "free: %s", ttscache_last_error(c));
  CHECK(ttscache_arena_alloc(c, out_capacity, &p, &at) == TTSCACHE_OK && at == out_at,
        "the freed range is reused (at %llu, was %llu)", (unsigned long long)at,
        (unsigned long long)out_at);
  CHECK(ttscache_arena_free(c, size + 5) == TTSCACHE_ERR_INVALID_ARGUMENT, "free outside");

  /* A second attach replaces the arena and its allocations. */
  CHECK(ttscache_arena_attach(c, 1u << 20) == TTSCACHE_OK, "re-attach: %s", ttscache_last_error(c));
  CHECK(ttscache_arena(c, &base, &size) == TTSCACHE_OK && size == (1u << 20), "new size %zu", size);
  CHECK(ttscache_arena_alloc(c, 4096, &p, &at) == TTSCACHE_OK && p == base + at, "alloc in new");
}

/* _ex calls and put_encode with full parameters. */
static void test_opus_params(ttscache_client* c, const uint8_t* wav, size_t wav_length) {
  ttscache_opus_params p;
  ttscache_opus_params_init(&p);
  ttscache_buffer low, high, b;
  p.bitrate_kbps = 8;
  p.frame_us = 60000;
  p.application = TTSCACHE_APPLICATION_VOIP;
  CHECK(ttscache_encode_ex(c, wav, wav_length, &p, &low) == TTSCACHE_OK, "encode_ex: %s",
        ttscache_last_error(c));
  p.bitrate_kbps = 96;
  p.frame_us = 10000;
  p.application = TTSCACHE_APPLICATION_AUDIO;
  p.vbr = TTSCACHE_VBR_CONSTRAINED;
  p.complexity = 0;
  CHECK(ttscache_encode_ex(c, wav, wav_length, &p, &high) == TTSCACHE_OK, "encode_ex: %s",
        ttscache_last_error(c));
  CHECK(memcmp(low.data, "OggS", 4) == 0 && high.size > low.size * 3,
        "96 kbps (%zu bytes) vs 8 kbps (%zu)", high.size, low.size);
  ttscache_buffer_free(&low);
  ttscache_buffer_free(&high);
  CHECK(ttscache_encode_ex(c, wav, wav_length, NULL, &b) == TTSCACHE_OK, "encode_ex NULL params");
  ttscache_buffer_free(&b);

  /* Out of range: refused before sending. */
  ttscache_opus_params bad = p;
  bad.bitrate_kbps = 5;
  CHECK(ttscache_encode_ex(c, wav, wav_length, &bad, &b) == TTSCACHE_ERR_INVALID_ARGUMENT,
        "bitrate 5");
  CHECK(strstr(ttscache_last_error(c), "bitrate") != NULL, "message: %s", ttscache_last_error(c));
  bad = p;
  bad.frame_us = 1234;
  CHECK(ttscache_encode_ex(c, wav, wav_length, &bad, &b) == TTSCACHE_ERR_INVALID_ARGUMENT,
        "frame 1234");
  bad = p;
  bad.complexity = 11;
  CHECK(ttscache_encode_ex(c, wav, wav_length, &bad, &b) == TTSCACHE_ERR_INVALID_ARGUMENT,
        "complexity 11");
  bad = p;
  bad.vbr = 9;
  CHECK(ttscache_get_ex(c, "piper", "x", 1, TTSCACHE_FORMAT_OPUS, &bad, &b) ==
            TTSCACHE_ERR_INVALID_ARGUMENT,
        "vbr 9");
  bad = p;
  bad.application = 7;
  CHECK(ttscache_encode_ex(c, wav, wav_length, &bad, &b) == TTSCACHE_ERR_INVALID_ARGUMENT,
        "application 7");
  bad = p;
  bad.reserved_[1] = 1;
  CHECK(ttscache_encode_ex(c, wav, wav_length, &bad, &b) == TTSCACHE_ERR_INVALID_ARGUMENT,
        "reserved");
  /* The plain calls keep their behavior: the daemon judges the bitrate. */
  CHECK(ttscache_encode(c, wav, wav_length, 5, &b) == TTSCACHE_ERR_BAD_REQUEST, "plain bitrate 5");
  /* A bitrate the wire's u16 cannot carry is refused, not truncated (65536 + 64
   * was sent as 64, 65536 as 0: "the daemon's settings"); likewise a complexity
   * past its u8. */
  int rc_wide = ttscache_encode(c, wav, wav_length, 65536 + 64, &b);
  CHECK(rc_wide == TTSCACHE_ERR_BAD_REQUEST && b.data == NULL, "plain bitrate 65600 gave %s",
        ttscache_strerror(rc_wide));
  rc_wide = ttscache_get(c, "xtts", "x", 1, TTSCACHE_FORMAT_OPUS, 65536, &b);
  CHECK(rc_wide == TTSCACHE_ERR_BAD_REQUEST, "plain bitrate 65536 gave %s",
        ttscache_strerror(rc_wide));
  uint64_t wide_id = 0;
  bad = p;
  bad.bitrate_kbps = 65536 + 64;
  CHECK(ttscache_send_get(c, "xtts", "x", 1, TTSCACHE_FORMAT_OPUS, &bad, &wide_id) ==
            TTSCACHE_ERR_INVALID_ARGUMENT,
        "send_get with bitrate 65600");

  /* put_encode stores the WAV and the variant: get_ex with the same
   * parameters is the same Ogg. */
  const char* text = "Put and encoded.";
  ttscache_buffer encoded;
  CHECK(ttscache_put_encode(c, "xtts", text, strlen(text), wav, wav_length, &p, &encoded) ==
            TTSCACHE_OK,
        "put_encode: %s", ttscache_last_error(c));
  CHECK(encoded.size > 100 && memcmp(encoded.data, "OggS", 4) == 0, "put_encode gives Ogg");
  CHECK(ttscache_get_ex(c, "xtts", text, strlen(text), TTSCACHE_FORMAT_OPUS, &p, &b) == TTSCACHE_OK,
        "get_ex: %s", ttscache_last_error(c));
  CHECK(b.size == encoded.size && memcmp(b.data, encoded.data, b.size) == 0,
        "the variant is what put_encode returned");
  ttscache_buffer_free(&b);
  ttscache_buffer_free(&encoded);
  CHECK(ttscache_get_ex(c, "xtts", text, strlen(text), TTSCACHE_FORMAT_WAV, NULL, &b) ==
                TTSCACHE_OK &&
            b.size == wav_length,
        "put_encode stored the WAV");
  ttscache_buffer_free(&b);
  CHECK(
      ttscache_put_encode(c, "xtts", text, strlen(text), wav, 12, &p, &b) == TTSCACHE_ERR_BAD_AUDIO,
      "put_encode of 12 bytes");

  /* A stream with full parameters. */
  ttscache_stream_format format = {TTSCACHE_STREAM_WAV, 0, 0, 0};
  ttscache_stream* s = NULL;
  CHECK(ttscache_stream_open_ex(c, &format, &p, NULL, NULL, 0, NULL, NULL, &s) == TTSCACHE_OK,
        "stream_open_ex: %s", ttscache_last_error(c));
  CHECK(ttscache_stream_push(s, wav, wav_length) == TTSCACHE_OK, "push: %s",
        ttscache_last_error(c));
  ttscache_stream_result r;
  CHECK(ttscache_stream_finish(s, &r) == TTSCACHE_OK && r.samples_48k > 0, "finish: %s",
        ttscache_last_error(c));
  ttscache_stream_free(s);
  CHECK(ttscache_stream_open_ex(c, &format, &bad, NULL, NULL, 0, NULL, NULL, &s) ==
                TTSCACHE_ERR_INVALID_ARGUMENT &&
            s == NULL,
        "stream_open_ex with bad params");
}

/* Three gets sent, received last first. */
static void test_pipelined(ttscache_client* c, const uint8_t* wav, size_t wav_length) {
  const char* a = "Pipelined one.";
  const char* z = "Pipelined two.";
  CHECK(ttscache_put(c, "piper", a, strlen(a), wav, wav_length) == TTSCACHE_OK, "put");
  CHECK(ttscache_put(c, "piper", z, strlen(z), wav, wav_length) == TTSCACHE_OK, "put: %s",
        ttscache_last_error(c));
  uint64_t ids[3];
  CHECK(ttscache_send_get(c, "piper", a, strlen(a), TTSCACHE_FORMAT_WAV, NULL, &ids[0]) ==
            TTSCACHE_OK,
        "send_get: %s", ttscache_last_error(c));
  CHECK(ttscache_send_get(c, "piper", "never put", 9, TTSCACHE_FORMAT_WAV, NULL, &ids[1]) ==
            TTSCACHE_OK,
        "send_get");
  ttscache_opus_params p;
  ttscache_opus_params_init(&p);
  p.bitrate_kbps = 16;
  CHECK(
      ttscache_send_get(c, "piper", z, strlen(z), TTSCACHE_FORMAT_OPUS, &p, &ids[2]) == TTSCACHE_OK,
      "send_get");
  CHECK(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "distinct ids");
  CHECK(ttscache_ping(c) == TTSCACHE_OK, "a call between send and receive: %s",
        ttscache_last_error(c));
  ttscache_buffer b;
  CHECK(ttscache_receive_get(c, ids[2], &b) == TTSCACHE_OK, "receive 3: %s",
        ttscache_last_error(c));
  CHECK(memcmp(b.data, "OggS", 4) == 0, "third is the Opus of two");
  ttscache_buffer_free(&b);
  CHECK(ttscache_receive_get(c, ids[1], &b) == TTSCACHE_MISS, "second is a miss");
  CHECK(ttscache_receive_get(c, ids[0], &b) == TTSCACHE_OK && b.size == wav_length &&
            memcmp(b.data, wav, wav_length) == 0,
        "first is the WAV of one");
  ttscache_buffer_free(&b);
  CHECK(ttscache_receive_get(c, ids[0], &b) == TTSCACHE_ERR_INVALID_ARGUMENT, "received twice");
  CHECK(ttscache_receive_get(c, 999999, &b) == TTSCACHE_ERR_INVALID_ARGUMENT, "never sent");
  CHECK(ttscache_send_get(c, "nope", "x", 1, TTSCACHE_FORMAT_WAV, NULL, &ids[0]) == TTSCACHE_OK,
        "send to an unknown engine");
  CHECK(ttscache_receive_get(c, ids[0], &b) == TTSCACHE_ERR_UNKNOWN_ENGINE, "its error");
}

/* Every new entry point refuses NULL where it needs a pointer. */
static void test_null_arguments(ttscache_client* c) {
  ttscache_buffer b;
  uint8_t* p;
  size_t n;
  uint64_t id;
  ttscache_hello_info h;
  ttscache_stats* s;
  ttscache_stream* st;
  ttscache_stream_format format = {TTSCACHE_STREAM_WAV, 0, 0, 0};
  const int inv = TTSCACHE_ERR_INVALID_ARGUMENT;
  CHECK(ttscache_hello(NULL, &h) == inv && ttscache_hello(c, NULL) == inv, "hello");
  CHECK(ttscache_stats_get(NULL, &s) == inv && ttscache_stats_get(c, NULL) == inv, "stats");
  CHECK(ttscache_arena_attach(NULL, 10) == inv, "attach");
  CHECK(ttscache_arena(NULL, &p, &n) == inv && ttscache_arena(c, NULL, &n) == inv &&
            ttscache_arena(c, &p, NULL) == inv,
        "arena");
  CHECK(ttscache_arena_alloc(NULL, 1, &p, &id) == inv && ttscache_arena_free(NULL, 0) == inv,
        "alloc/free");
  CHECK(ttscache_put_from_arena(NULL, "piper", "x", 1, 0, 1) == inv &&
            ttscache_put_from_arena(c, NULL, "x", 1, 0, 1) == inv &&
            ttscache_put_from_arena(c, "piper", NULL, 1, 0, 1) == inv,
        "put_from_arena");
  CHECK(ttscache_encode_in_arena(NULL, 0, 1, 0, 1, NULL, NULL) == inv, "encode_in_arena");
  CHECK(ttscache_get_ex(NULL, "piper", "x", 1, 0, NULL, &b) == inv &&
            ttscache_get_ex(c, NULL, "x", 1, 0, NULL, &b) == inv &&
            ttscache_get_ex(c, "piper", NULL, 1, 0, NULL, &b) == inv &&
            ttscache_get_ex(c, "piper", "x", 1, 0, NULL, NULL) == inv &&
            ttscache_get_ex(c, "piper", "x", 1, 5, NULL, &b) == inv,
        "get_ex");
  CHECK(ttscache_encode_ex(NULL, (const uint8_t*)"x", 1, NULL, &b) == inv &&
            ttscache_encode_ex(c, NULL, 1, NULL, &b) == inv &&
            ttscache_encode_ex(c, (const uint8_t*)"x", 1, NULL, NULL) == inv,
        "encode_ex");
  CHECK(ttscache_put_encode(NULL, "piper", "x", 1, (const uint8_t*)"x", 1, NULL, &b) == inv &&
            ttscache_put_encode(c, NULL, "x", 1, (const uint8_t*)"x", 1, NULL, &b) == inv &&
            ttscache_put_encode(c, "piper", "x", 1, NULL, 1, NULL, &b) == inv &&
            ttscache_put_encode(c, "piper", "x", 1, (const uint8_t*)"x", 1, NULL, NULL) == inv,
        "put_encode");
  CHECK(ttscache_send_get(NULL, "piper", "x", 1, 0, NULL, &id) == inv &&
            ttscache_send_get(c, NULL, "x", 1, 0, NULL, &id) == inv &&
            ttscache_send_get(c, "piper", "x", 1, 0, NULL, NULL) == inv &&
            ttscache_receive_get(NULL, 1, &b) == inv && ttscache_receive_get(c, 1, NULL) == inv,
        "send/receive");
  CHECK(ttscache_stream_open_ex(NULL, &format, NULL, NULL, NULL, 0, NULL, NULL, &st) == inv &&
            ttscache_stream_open_ex(c, NULL, NULL, NULL, NULL, 0, NULL, NULL, &st) == inv &&
            ttscache_stream_open_ex(c, &format, NULL, NULL, NULL, 0, NULL, NULL, NULL) == inv,
        "stream_open_ex");
  /* A text longer than the wire's u32 length is refused, not truncated. */
  CHECK(ttscache_get(c, "piper", "x", (size_t)UINT32_MAX + 2, 0, 0, &b) == inv, "4 GiB text");
  ttscache_opus_params_init(NULL);
  CHECK(strcmp(ttscache_last_error(NULL), "NULL client") == 0, "last_error(NULL)");
  CHECK(ttscache_client_connect(NULL) == inv, "connect NULL");
}

/* TOO_LARGE (a text over max_text_bytes), FORBIDDEN (a daemon uid that is
 * not its own), UNAVAILABLE on the new calls. */
static void test_daemon_errors(const char* socket_path, ttscache_client* c) {
  static char long_text[5000];
  memset(long_text, 'a', sizeof(long_text));
  ttscache_buffer b;
  int rc = ttscache_get(c, "piper", long_text, sizeof(long_text), TTSCACHE_FORMAT_WAV, 0, &b);
  CHECK(rc == TTSCACHE_ERR_TOO_LARGE, "a 5000-byte text gave %s: %s", ttscache_strerror(rc),
        ttscache_last_error(c));

  char uid[32];
  snprintf(uid, sizeof(uid), "%u", (unsigned)getuid() + 1);
  CHECK(setenv("TTSCACHE_DAEMON_UID", uid, 1) == 0, "setenv");
  ttscache_client* other = ttscache_client_new(socket_path, 2000);
  unsetenv("TTSCACHE_DAEMON_UID");
  if (getuid() != 0) { /* root's daemon is always accepted */
    rc = ttscache_hello(other, &(ttscache_hello_info){0});
    CHECK(rc == TTSCACHE_ERR_FORBIDDEN, "wrong daemon uid gave %s: %s", ttscache_strerror(rc),
          ttscache_last_error(other));
  }
  ttscache_client_free(other);

  ttscache_client* none = ttscache_client_new("/nonexistent/ttscached.sock", 500);
  ttscache_stats* s = NULL;
  CHECK(ttscache_stats_get(none, &s) == TTSCACHE_ERR_UNAVAILABLE && s == NULL, "stats, no daemon");
  CHECK(ttscache_arena_attach(none, 1 << 20) == TTSCACHE_ERR_UNAVAILABLE, "attach, no daemon");
  uint64_t id = 7;
  CHECK(
      ttscache_send_get(none, "piper", "x", 1, 0, NULL, &id) == TTSCACHE_ERR_UNAVAILABLE && id == 0,
      "send_get, no daemon");
  ttscache_client_free(none);
}

/* An allocation that fails inside the library is OUT_OF_MEMORY, not a
 * crash: in a child whose address space is capped just above its use, a
 * put of a 64 MiB WAV needs a 64 MiB frame. */
static void test_out_of_memory(const char* socket_path) {
  if (getenv("TTSCACHE_TEST_SANITIZED")) {
    puts("out-of-memory check skipped (sanitizer build)");
    return;
  }
  const size_t big = 64u << 20;
  uint8_t* wav = calloc(1, big);
  CHECK(wav != NULL, "calloc");
  ttscache_client* c = ttscache_client_new(socket_path, 5000);
  CHECK(ttscache_ping(c) == TTSCACHE_OK, "ping: %s", ttscache_last_error(c));
  fflush(stdout);
  pid_t child = fork();
  CHECK(child >= 0, "fork");
  if (child == 0) {
    FILE* statm = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!statm || fscanf(statm, "%lu", &pages) != 1) _exit(2);
    fclose(statm);
    const rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (16u << 20);
    struct rlimit limit = {cap, cap};
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(3);
    int rc = ttscache_put(c, "piper", "too big to send", 15, wav, big);
    if (rc != TTSCACHE_ERR_OUT_OF_MEMORY) {
      fprintf(stderr, "put under RLIMIT_AS gave %s: %s\n", ttscache_strerror(rc),
              ttscache_last_error(c));
      _exit(4);
    }
    if (strcmp(ttscache_last_error(c), "out of memory") != 0) _exit(5);
    _exit(0);
  }
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child, "waitpid");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "out-of-memory child: status %d", status);
  CHECK(ttscache_ping(c) == TTSCACHE_OK, "parent's connection still fine");
  ttscache_client_free(c);
  free(wav);
}

void test_more(const char* socket_path, const uint8_t* wav, size_t wav_length,
               const char* out_dir) {
  test_version_and_names();
  ttscache_client* c = ttscache_client_new(socket_path, 5000);
  CHECK(c != NULL, "client_new");
  test_null_arguments(c);
  test_hello_and_stats(c, wav, wav_length);
  test_arena(c, wav, wav_length, out_dir);
  test_opus_params(c, wav, wav_length);
  test_pipelined(c, wav, wav_length);
  test_daemon_errors(socket_path, c);
  ttscache_client_free(c);
  test_out_of_memory(socket_path);
}
