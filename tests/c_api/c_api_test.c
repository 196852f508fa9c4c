/* The C API from C: put, get (hit, miss), unknown engine, encode, put by key
 * from a file descriptor, encode streams (pages before finish, exact length,
 * cached as an entry, bad input, misuse), no daemon.
 * The rest of the API is in c_api_more_test.c.
 * Usage: c_api_test SOCKET WAVFILE OUTDIR (OUTDIR: files for opusinfo).
 * Exits 0 when every check holds. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ttscache/ttscache.h"

/* c_api_more_test.c: the arena, Opus parameters, stats, hello, pipelined
 * gets, version, error codes, NULL arguments, out of memory. */
void test_more(const char* socket_path, const uint8_t* wav, size_t wav_length, const char* out_dir);

/* What a stream's page callback saw. */
typedef struct {
  uint8_t* bytes;
  size_t size, capacity;
  int calls;
} collected;

static void collect_pages(void* user, const uint8_t* pages, size_t length) {
  collected* c = (collected*)user;
  if (c->size + length > c->capacity) {
    c->capacity = (c->size + length) * 2;
    c->bytes = realloc(c->bytes, c->capacity);
    CHECK(c->bytes != NULL, "out of memory");
  }
  memcpy(c->bytes + c->size, pages, length);
  c->size += length;
  c->calls++;
}

/* Walks the Ogg pages: every one starts with "OggS" and fits; returns the
 * page count and the last page's header type and granule position. */
static int walk_ogg(const uint8_t* b, size_t size, int* last_type, int64_t* last_granule) {
  int pages = 0;
  size_t at = 0;
  while (at < size) {
    CHECK(size - at >= 27 && memcmp(b + at, "OggS", 4) == 0, "page %d at %zu is not OggS", pages,
          at);
    size_t segments = b[at + 26], body = 0;
    CHECK(size - at >= 27 + segments, "page %d: segment table cut", pages);
    for (size_t i = 0; i < segments; ++i) body += b[at + 27 + i];
    CHECK(size - at >= 27 + segments + body, "page %d: body cut", pages);
    *last_type = b[at + 5];
    int64_t g = 0;
    for (int i = 7; i >= 0; --i) g = (g << 8) | b[at + 6 + i];
    *last_granule = g;
    at += 27 + segments + body;
    pages++;
  }
  return pages;
}

/* A 1.5 s 220 Hz tone, s16le mono at 22050 Hz, pushed in odd-sized pieces
 * with a pause for pages between some of them. */
static void test_stream(ttscache_client* c) {
  enum { kRate = 22050, kFrames = 33075 };
  static int16_t tone[kFrames];
  /* sin(w n) by the recurrence y[n] = 2 cos(w) y[n-1] - y[n-2] (no libm). */
  double y1 = 0.0, y2 = -0.06264832417874368; /* sin(0), sin(-w) for w = 2 pi 220 / 22050 */
  for (int i = 0; i < kFrames; ++i) {
    double y = i == 0 ? 0.0 : 1.99607132886337 * y1 - y2;
    if (i > 0) {
      y2 = y1;
      y1 = y;
    }
    tone[i] = (int16_t)(8000 * y);
  }
  const uint8_t* pcm = (const uint8_t*)tone;
  const size_t pcm_size = sizeof(tone);

  collected got = {0};
  ttscache_stream_format raw = {TTSCACHE_STREAM_RAW, TTSCACHE_SAMPLE_S16LE, 1, kRate};
  ttscache_stream* s = NULL;
  const char* text = "A streamed tone.";
  CHECK(ttscache_stream_open(c, &raw, 0, "piper", text, strlen(text), collect_pages, &got, &s) ==
            TTSCACHE_OK,
        "stream_open: %s", ttscache_last_error(c));
  CHECK(s != NULL && ttscache_stream_poll_fd(s) >= 0, "stream handle and poll fd");
  const size_t pieces[] = {1, 4095, 3, 7777, 1001, 12345, 2};
  size_t at = 0, before_finish = 0;
  for (int round = 0; at < pcm_size; ++round) {
    size_t n = pieces[round % 7];
    if (n > pcm_size - at) n = pcm_size - at;
    CHECK(ttscache_stream_push(s, pcm + at, n) == TTSCACHE_OK, "push %zu at %zu: %s", n, at,
          ttscache_last_error(c));
    at += n;
    if (round % 5 == 4)
      CHECK(ttscache_stream_wait(s, 200) == TTSCACHE_OK, "wait: %s", ttscache_last_error(c));
  }
  for (int i = 0; i < 50 && got.size == before_finish; ++i) {
    CHECK(ttscache_stream_wait(s, 100) == TTSCACHE_OK, "wait: %s", ttscache_last_error(c));
  }
  before_finish = got.size;
  int type = 0;
  int64_t granule = 0;
  CHECK(before_finish > 0 && walk_ogg(got.bytes, before_finish, &type, &granule) >= 3,
        "no audio page arrived before finish (%zu bytes)", before_finish);
  CHECK((type & 4) == 0, "end of stream before finish");

  ttscache_stream_result r;
  CHECK(ttscache_stream_finish(s, &r) == TTSCACHE_OK, "finish: %s", ttscache_last_error(c));
  const uint64_t expected = ((uint64_t)kFrames * 48000 + kRate - 1) / kRate;
  CHECK(r.samples_48k == expected, "samples_48k %llu, expected %llu",
        (unsigned long long)r.samples_48k, (unsigned long long)expected);
  CHECK(r.cached == TTSCACHE_CACHED_STORED, "cached %d: %s", r.cached, r.note);
  CHECK(got.size > before_finish, "finish delivered no pages");
  CHECK(memcmp(got.bytes, "OggS", 4) == 0, "stream starts with OggS");
  int pages = walk_ogg(got.bytes, got.size, &type, &granule);
  CHECK(pages >= 4 && (type & 4) != 0, "last of %d pages has no EOS flag (type %d)", pages, type);
  CHECK(granule - 312 == (int64_t)r.samples_48k, "final granule %lld - pre-skip != samples",
        (long long)granule);
  CHECK(ttscache_stream_push(s, pcm, 2) != TTSCACHE_OK, "push after finish is refused");
  ttscache_stream_free(s);

  /* The finished stream is the entry: its WAV is a hit. */
  ttscache_buffer b;
  CHECK(ttscache_get(c, "piper", text, strlen(text), TTSCACHE_FORMAT_WAV, 0, &b) == TTSCACHE_OK,
        "get after stream: %s", ttscache_last_error(c));
  CHECK(b.size > pcm_size && memcmp(b.data, "RIFF", 4) == 0 &&
            memcmp(b.data + b.size - pcm_size, pcm, pcm_size) == 0,
        "cached WAV does not end with the pushed PCM (%zu bytes)", b.size);
  ttscache_buffer_free(&b);

  /* Garbage as a WAV: bad audio, on a push or at finish. */
  ttscache_stream_format wav = {TTSCACHE_STREAM_WAV, 0, 0, 0};
  got.size = 0;
  CHECK(ttscache_stream_open(c, &wav, 0, NULL, NULL, 0, collect_pages, &got, &s) == TTSCACHE_OK,
        "open wav: %s", ttscache_last_error(c));
  int rc = ttscache_stream_push(s, "this is not a RIFF header at all, no", 36);
  if (rc == TTSCACHE_OK) rc = ttscache_stream_finish(s, NULL);
  CHECK(rc == TTSCACHE_ERR_BAD_AUDIO, "garbage WAV gave %d: %s", rc, ttscache_last_error(c));
  CHECK(strstr(ttscache_last_error(c), "RIFF") != NULL, "message: %s", ttscache_last_error(c));
  ttscache_stream_free(s);

  /* Aborted: nothing stored; freeing an open stream aborts it. */
  const char* never = "An aborted stream.";
  CHECK(ttscache_stream_open(c, &raw, 24, "piper", never, strlen(never), NULL, NULL, &s) ==
            TTSCACHE_OK,
        "open: %s", ttscache_last_error(c));
  CHECK(ttscache_stream_push(s, pcm, 8192) == TTSCACHE_OK, "push: %s", ttscache_last_error(c));
  CHECK(ttscache_stream_abort(s) == TTSCACHE_OK, "abort: %s", ttscache_last_error(c));
  CHECK(ttscache_stream_finish(s, NULL) != TTSCACHE_OK, "finish after abort is refused");
  ttscache_stream_free(s);
  CHECK(ttscache_stream_open(c, &raw, 0, "piper", never, strlen(never), NULL, NULL, &s) ==
            TTSCACHE_OK,
        "open: %s", ttscache_last_error(c));
  CHECK(ttscache_stream_push(s, pcm, 8192) == TTSCACHE_OK, "push: %s", ttscache_last_error(c));
  ttscache_stream_free(s);
  CHECK(ttscache_get(c, "piper", never, strlen(never), TTSCACHE_FORMAT_WAV, 0, &b) == TTSCACHE_MISS,
        "an aborted stream was stored");
  CHECK(ttscache_ping(c) == TTSCACHE_OK, "connection still usable: %s", ttscache_last_error(c));

  /* Misuse is refused at the edge. */
  ttscache_stream_format bad = raw;
  bad.channels = 3;
  CHECK(ttscache_stream_open(c, &bad, 0, NULL, NULL, 0, NULL, NULL, &s) ==
                TTSCACHE_ERR_INVALID_ARGUMENT &&
            s == NULL,
        "3 channels");
  bad = raw;
  bad.sample_format = 9;
  CHECK(ttscache_stream_open(c, &bad, 0, NULL, NULL, 0, NULL, NULL, &s) ==
            TTSCACHE_ERR_INVALID_ARGUMENT,
        "sample format 9");
  CHECK(ttscache_stream_open(c, &raw, 0, "piper", NULL, 0, NULL, NULL, &s) ==
            TTSCACHE_ERR_INVALID_ARGUMENT,
        "engine without text");
  CHECK(ttscache_stream_open(c, NULL, 0, NULL, NULL, 0, NULL, NULL, &s) ==
            TTSCACHE_ERR_INVALID_ARGUMENT,
        "NULL format");
  bad = raw;
  bad.sample_rate = 4000;
  CHECK(ttscache_stream_open(c, &bad, 0, NULL, NULL, 0, NULL, NULL, &s) == TTSCACHE_ERR_BAD_REQUEST,
        "4000 Hz: %s", ttscache_last_error(c));
  ttscache_stream_free(NULL);
  free(got.bytes);
}

int main(int argc, char** argv) {
  CHECK(argc == 4, "usage: c_api_test SOCKET WAVFILE OUTDIR");
  FILE* f = fopen(argv[2], "rb");
  CHECK(f != NULL, "cannot open %s", argv[2]);
  static uint8_t wav[1 << 22];
  size_t wav_length = fread(wav, 1, sizeof(wav), f);
  fclose(f);

  ttscache_client* c = ttscache_client_new(argv[1], 5000);
  CHECK(c != NULL, "ttscache_client_new");
  CHECK(ttscache_ping(c) == TTSCACHE_OK, "ping: %s", ttscache_last_error(c));
  const char* text = "The lights are on.";
  CHECK(ttscache_put(c, "piper", text, strlen(text), wav, wav_length) == TTSCACHE_OK, "put: %s",
        ttscache_last_error(c));

  ttscache_buffer b;
  CHECK(
      ttscache_get(c, "piper", "the LIGHTS are on.", 18, TTSCACHE_FORMAT_WAV, 0, &b) == TTSCACHE_OK,
      "get: %s", ttscache_last_error(c));
  CHECK(b.size == wav_length && memcmp(b.data, wav, wav_length) == 0, "hit differs from the put");
  ttscache_buffer_free(&b);
  CHECK(b.data == NULL && b.size == 0, "buffer_free resets the buffer");

  CHECK(ttscache_get(c, "piper", "never said", 10, TTSCACHE_FORMAT_WAV, 0, &b) == TTSCACHE_MISS,
        "miss");
  CHECK(ttscache_get(c, "nope", "x", 1, TTSCACHE_FORMAT_WAV, 0, &b) == TTSCACHE_ERR_UNKNOWN_ENGINE,
        "unknown engine");
  CHECK(strstr(ttscache_last_error(c), "unknown engine") != NULL, "message: %s",
        ttscache_last_error(c));
  CHECK(ttscache_get(c, "piper", "x", 1, 7, 0, &b) == TTSCACHE_ERR_INVALID_ARGUMENT, "bad format");

  CHECK(ttscache_get(c, "piper", text, strlen(text), TTSCACHE_FORMAT_OPUS, 24, &b) == TTSCACHE_OK,
        "opus variant: %s", ttscache_last_error(c));
  CHECK(b.size > 100 && memcmp(b.data, "OggS", 4) == 0, "variant is Ogg");
  ttscache_buffer_free(&b);
  CHECK(ttscache_encode(c, wav, wav_length, 0, &b) == TTSCACHE_OK, "encode: %s",
        ttscache_last_error(c));
  CHECK(memcmp(b.data, "OggS", 4) == 0, "encode gives Ogg");
  ttscache_buffer_free(&b);
  CHECK(ttscache_encode(c, wav, 10, 0, &b) == TTSCACHE_ERR_BAD_AUDIO, "bad audio");

  uint8_t key[32];
  memset(key, 0xA5, sizeof(key));
  int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
  int outcome = -1;
  CHECK(
      ttscache_put_file_by_key(c, "xtts", key, fd, 1700000000000000000ull, &outcome) == TTSCACHE_OK,
      "put_file_by_key: %s", ttscache_last_error(c));
  CHECK(outcome == TTSCACHE_ADOPT_STORED, "put_file_by_key outcome %d", outcome);
  CHECK(ttscache_put_file_by_key(c, "xtts", key, fd, 0, &outcome) == TTSCACHE_OK &&
            outcome == TTSCACHE_ADOPT_ALREADY_CACHED,
        "put_file_by_key again: outcome %d", outcome);
  close(fd);
  int p[2];
  CHECK(pipe(p) == 0, "pipe");
  CHECK(ttscache_put_file_by_key(c, "xtts", key, p[0], 0, NULL) == TTSCACHE_ERR_BAD_REQUEST,
        "a pipe is refused");
  CHECK(strstr(ttscache_last_error(c), "is a pipe") != NULL, "message: %s", ttscache_last_error(c));
  close(p[0]);
  close(p[1]);
  CHECK(ttscache_put_file_by_key(c, "xtts", key, -1, 0, NULL) == TTSCACHE_ERR_INVALID_ARGUMENT,
        "fd -1");
  /* A descriptor that is not open is the caller's mistake: refused at once,
   * not "lost the daemon" after twice the timeout. */
  int closed_fd = 1000;
  while (fcntl(closed_fd, F_GETFD) != -1) ++closed_fd;
  time_t before = time(NULL);
  int rc_closed = ttscache_put_file_by_key(c, "xtts", key, closed_fd, 0, NULL);
  CHECK(rc_closed == TTSCACHE_ERR_INVALID_ARGUMENT, "a closed fd gave %s: %s",
        ttscache_strerror(rc_closed), ttscache_last_error(c));
  CHECK(time(NULL) - before <= 1, "a closed fd took %ld s", (long)(time(NULL) - before));
  CHECK(ttscache_ping(c) == TTSCACHE_OK, "ping after a closed fd: %s", ttscache_last_error(c));
  test_stream(c);
  ttscache_client_free(c);
  test_more(argv[1], wav, wav_length, argv[3]);

  ttscache_client* none = ttscache_client_new("/nonexistent/ttscached.sock", 1000);
  CHECK(ttscache_ping(none) == TTSCACHE_ERR_UNAVAILABLE, "no daemon");
  CHECK(strstr(ttscache_last_error(none), "cannot connect") != NULL, "message: %s",
        ttscache_last_error(none));
  ttscache_client_free(none);
  puts("c api ok");
  return 0;
}
