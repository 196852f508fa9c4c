/* The C API from C: put, get (hit, miss), unknown engine, encode, put by key
 * from a file descriptor, no daemon.
 * Usage: c_api_test SOCKET WAVFILE. Exits 0 when every check holds. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttscache/ttscache.h"

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
      exit(1);                                             \
    }                                                      \
  } while (0)

int main(int argc, char** argv) {
  CHECK(argc == 3, "usage: c_api_test SOCKET WAVFILE");
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
  ttscache_client_free(c);

  ttscache_client* none = ttscache_client_new("/nonexistent/ttscached.sock", 1000);
  CHECK(ttscache_ping(none) == TTSCACHE_ERR_UNAVAILABLE, "no daemon");
  CHECK(strstr(ttscache_last_error(none), "cannot connect") != NULL, "message: %s",
        ttscache_last_error(none));
  ttscache_client_free(none);
  puts("c api ok");
  return 0;
}
