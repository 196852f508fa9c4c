/* The C API's coordinating calls against a real daemon (default
 * [coordinate]: claims on, default_slots 2): a claimed miss; another handle
 * waiting in vain (TTSCACHE_MISS after its wait) and, in a child process,
 * waiting until the claimer's put and receiving the audio; a dropped claim
 * passing on; an engine's slot of 2 (a third acquire is TTSCACHE_ERR_BUSY
 * until a unit is released, a release twice TTSCACHE_ERR_BAD_REQUEST, an
 * unknown slot TTSCACHE_ERR_UNKNOWN_ENGINE); the coordination counters; NULL
 * arguments. Usage: c_api_coordinate_test SOCKET WAVFILE. Exits 0 when
 * every check holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ttscache/ttscache.h"

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* get_or_claim of `text` from piper as WAV. */
static int claim(ttscache_client* c, const char* text, uint32_t wait_ms, ttscache_buffer* out,
                 int* claimed, uint32_t* lease_ms) {
  return ttscache_get_or_claim(c, "piper", text, strlen(text), TTSCACHE_FORMAT_WAV, NULL, wait_ms,
                               out, claimed, lease_ms);
}

int main(int argc, char** argv) {
  CHECK(argc == 3, "usage: c_api_coordinate_test SOCKET WAVFILE");
  FILE* f = fopen(argv[2], "rb");
  CHECK(f != NULL, "cannot open %s", argv[2]);
  static uint8_t wav[1 << 22];
  size_t wav_length = fread(wav, 1, sizeof(wav), f);
  fclose(f);
  ttscache_client* a = ttscache_client_new(argv[1], 5000);
  ttscache_client* b = ttscache_client_new(argv[1], 5000);
  CHECK(a != NULL && b != NULL, "ttscache_client_new");
  ttscache_buffer out;
  int claimed = -1;
  uint32_t lease = 0;

  /* a claims the miss; b waits in vain, then (after a drop) claims it. */
  CHECK(claim(a, "one moment", 0, &out, &claimed, &lease) == TTSCACHE_OK, "claim: %s",
        ttscache_last_error(a));
  CHECK(claimed == 1 && lease > 0 && out.data == NULL, "claimed %d lease %u", claimed, lease);
  long long start = now_ms();
  CHECK(claim(b, "one moment", 300, &out, &claimed, NULL) == TTSCACHE_MISS, "b: %s",
        ttscache_last_error(b));
  long long waited = now_ms() - start;
  CHECK(claimed == 0 && waited >= 250 && waited < 5000, "b waited %lld ms", waited);
  int dropped = -1;
  CHECK(ttscache_claim_drop(a, "piper", "one moment", 10, &dropped) == TTSCACHE_OK && dropped == 1,
        "drop: %s", ttscache_last_error(a));
  CHECK(ttscache_claim_drop(a, "piper", "one moment", 10, &dropped) == TTSCACHE_OK && dropped == 0,
        "drop again");
  CHECK(claim(b, "one moment", 0, &out, &claimed, &lease) == TTSCACHE_OK && claimed == 1,
        "b takes the dropped claim: %s", ttscache_last_error(b));

  /* A child waits for b's put and receives the audio. */
  fflush(NULL);
  pid_t child = fork();
  if (child == 0) {
    ttscache_client* w = ttscache_client_new(argv[1], 5000);
    int got = claim(w, "one moment", 10000, &out, &claimed, NULL);
    int ok = got == TTSCACHE_OK && claimed == 0 && out.size == wav_length &&
             memcmp(out.data, wav, wav_length) == 0;
    if (!ok) fprintf(stderr, "waiter: %d %s\n", got, ttscache_last_error(w));
    ttscache_buffer_free(&out);
    ttscache_client_free(w);
    _exit(ok ? 0 : 1);
  }
  usleep(300 * 1000);
  CHECK(ttscache_put(b, "piper", "one moment", 10, wav, wav_length) == TTSCACHE_OK, "put: %s",
        ttscache_last_error(b));
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "the waiter did not get the put's audio");
  CHECK(claim(a, "one moment", 0, &out, &claimed, NULL) == TTSCACHE_OK && claimed == 0 &&
            out.size == wav_length,
        "a hit after the put");
  ttscache_buffer_free(&out);

  /* xtts's slot: 2 units. */
  uint64_t h1 = 0, h2 = 0, h3 = 0;
  CHECK(ttscache_slot_acquire(a, "xtts", 0, &h1) == TTSCACHE_OK && h1 != 0, "acquire 1: %s",
        ttscache_last_error(a));
  CHECK(ttscache_slot_acquire(a, "xtts", 0, &h2) == TTSCACHE_OK && h2 != 0 && h2 != h1,
        "acquire 2");
  start = now_ms();
  CHECK(ttscache_slot_acquire(b, "xtts", 300, &h3) == TTSCACHE_ERR_BUSY && h3 == 0,
        "a third unit of 2: %s", ttscache_last_error(b));
  waited = now_ms() - start;
  CHECK(waited >= 250 && waited < 5000, "the acquire waited %lld ms", waited);
  CHECK(ttscache_slot_release(a, h1) == TTSCACHE_OK, "release: %s", ttscache_last_error(a));
  CHECK(ttscache_slot_release(a, h1) == TTSCACHE_ERR_BAD_REQUEST, "release twice");
  CHECK(ttscache_slot_acquire(b, "xtts", 0, &h3) == TTSCACHE_OK, "the freed unit: %s",
        ttscache_last_error(b));
  CHECK(ttscache_slot_acquire(b, "no-such-slot", 0, &h1) == TTSCACHE_ERR_UNKNOWN_ENGINE,
        "unknown slot: %s", ttscache_last_error(b));
  CHECK(strstr(ttscache_last_error(b), "no-such-slot") != NULL, "message: %s",
        ttscache_last_error(b));

  ttscache_coordination_stats* s = NULL;
  CHECK(ttscache_coordination_get(a, &s) == TTSCACHE_OK, "coordination: %s",
        ttscache_last_error(a));
  CHECK(s->has_coordination == 1 && s->claims >= 2 && s->claim_waits >= 2 && s->waits_served >= 1 &&
            s->wait_timeouts >= 1 && s->takeovers == 0,
        "claims %llu waits %llu served %llu timeouts %llu takeovers %llu",
        (unsigned long long)s->claims, (unsigned long long)s->claim_waits,
        (unsigned long long)s->waits_served, (unsigned long long)s->wait_timeouts,
        (unsigned long long)s->takeovers);
  const ttscache_slot_stats* xtts = NULL;
  for (size_t i = 0; i < s->slot_count; ++i) {
    if (strcmp(s->slots[i].name, "xtts") == 0) xtts = &s->slots[i];
  }
  CHECK(xtts != NULL, "no xtts slot among %zu", s->slot_count);
  CHECK(xtts->size == 2 && xtts->held == 2 && xtts->waiting == 0 && xtts->acquired == 3 &&
            xtts->timeouts == 1,
        "xtts: size %u held %u acquired %llu timeouts %llu", xtts->size, xtts->held,
        (unsigned long long)xtts->acquired, (unsigned long long)xtts->timeouts);
  ttscache_coordination_free(s);
  ttscache_coordination_free(NULL);

  /* NULL arguments are refused before anything is sent. */
  CHECK(claim(a, "x", 0, NULL, &claimed, NULL) == TTSCACHE_ERR_INVALID_ARGUMENT, "NULL out");
  CHECK(claim(a, "x", 0, &out, NULL, NULL) == TTSCACHE_ERR_INVALID_ARGUMENT, "NULL claimed");
  CHECK(ttscache_claim_drop(a, NULL, "x", 1, NULL) == TTSCACHE_ERR_INVALID_ARGUMENT, "NULL engine");
  CHECK(ttscache_slot_acquire(a, NULL, 0, &h1) == TTSCACHE_ERR_INVALID_ARGUMENT, "NULL name");
  CHECK(ttscache_slot_release(NULL, h2) == TTSCACHE_ERR_INVALID_ARGUMENT, "NULL client");
  CHECK(ttscache_coordination_get(a, NULL) == TTSCACHE_ERR_INVALID_ARGUMENT, "NULL out");

  /* Freeing a handle releases what its connection holds: b's unit goes. */
  ttscache_client_free(b);
  CHECK(ttscache_slot_release(a, h2) == TTSCACHE_OK, "release 2");
  CHECK(ttscache_slot_acquire(a, "xtts", 2000, &h1) == TTSCACHE_OK, "a unit after free: %s",
        ttscache_last_error(a));
  CHECK(ttscache_slot_acquire(a, "xtts", 2000, &h2) == TTSCACHE_OK, "b's unit: %s",
        ttscache_last_error(a));
  ttscache_client_free(a);
  printf("c api coordinate ok\n");
  return 0;
}
