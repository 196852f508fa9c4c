/* The C API's operating calls against a real daemon (run as root, so an
 * admin): put entries of an engine and of a voice, list them page by page
 * with a filter and a cursor, delete by text and by key (TTSCACHE_MISS when
 * not cached), purge a voice and an engine, verify, and STATS with its
 * detail. Usage: c_api_operate_test SOCKET WAVFILE. Exits 0 when every
 * check holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ttscache/ttscache.h"

static void put(ttscache_client* c, const char* engine, const char* text, const uint8_t* wav,
                size_t wav_length) {
  CHECK(ttscache_put(c, engine, text, strlen(text), wav, wav_length) == TTSCACHE_OK,
        "put %s %s: %s", engine, text, ttscache_last_error(c));
}

/* Lists everything matching `filter` two entries a page; returns the count. */
static size_t count_all(ttscache_client* c, const ttscache_list_filter* filter) {
  size_t n = 0;
  uint64_t cursor = 0;
  int pages = 0;
  do {
    ttscache_list_page* page = NULL;
    CHECK(ttscache_list(c, cursor, filter, 2, &page) == TTSCACHE_OK, "list: %s",
          ttscache_last_error(c));
    CHECK(page->count <= 2, "a page of %zu, asked 2", page->count);
    for (size_t i = 0; i < page->count; ++i) {
      const ttscache_list_entry* e = &page->entries[i];
      CHECK(e->wav_bytes > 44 && e->total_bytes >= e->wav_bytes && e->last_access_ns > 0,
            "entry %zu: sizes %llu/%llu", i, (unsigned long long)e->wav_bytes,
            (unsigned long long)e->total_bytes);
      CHECK(strncmp(e->engine, "piper", 5) == 0 || strcmp(e->engine, "xtts") == 0, "engine %s",
            e->engine);
    }
    n += page->count;
    cursor = page->next_cursor;
    ttscache_list_free(page);
    CHECK(++pages < 10000, "the listing does not end");
  } while (cursor != 0);
  return n;
}

int main(int argc, char** argv) {
  CHECK(argc == 3, "usage: c_api_operate_test SOCKET WAVFILE");
  FILE* f = fopen(argv[2], "rb");
  CHECK(f != NULL, "cannot open %s", argv[2]);
  static uint8_t wav[1 << 22];
  size_t wav_length = fread(wav, 1, sizeof(wav), f);
  fclose(f);
  ttscache_client* c = ttscache_client_new(argv[1], 5000);
  CHECK(c != NULL, "ttscache_client_new");

  put(c, "piper", "one", wav, wav_length);
  put(c, "piper", "two", wav, wav_length);
  put(c, "piper", "three", wav, wav_length);
  put(c, "piper/en_US-lessac-medium", "one", wav, wav_length);
  put(c, "xtts", "one", wav, wav_length);

  CHECK(count_all(c, NULL) == 5, "all entries");
  ttscache_list_filter filter;
  memset(&filter, 0, sizeof(filter));
  filter.engine = "piper";
  CHECK(count_all(c, &filter) == 4, "piper with its voice");
  filter.engine = "piper/en_US-lessac-medium";
  CHECK(count_all(c, &filter) == 1, "the voice alone");
  filter.engine = NULL;
  filter.min_bytes = (uint64_t)wav_length * 100;
  CHECK(count_all(c, &filter) == 0, "nothing that large");
  filter.min_bytes = 0;
  filter.reserved_[0] = 1;
  ttscache_list_page* page = NULL;
  CHECK(ttscache_list(c, 0, &filter, 10, &page) == TTSCACHE_ERR_INVALID_ARGUMENT && page == NULL,
        "reserved_ must be 0");

  ttscache_delete_result d;
  CHECK(ttscache_delete(c, "piper", "ONE ", 4, &d) == TTSCACHE_OK, "delete: %s",
        ttscache_last_error(c));
  CHECK(d.deleted == 1 && d.bytes == wav_length && d.variants == 0, "delete result %d %llu %u",
        d.deleted, (unsigned long long)d.bytes, d.variants);
  CHECK(ttscache_delete(c, "piper", "one", 3, &d) == TTSCACHE_MISS && d.deleted == 0,
        "delete again: MISS");
  ttscache_buffer b;
  CHECK(ttscache_get(c, "piper/en_US-lessac-medium", "one", 3, TTSCACHE_FORMAT_WAV, 0, &b) ==
            TTSCACHE_OK,
        "the voice's entry stays: %s", ttscache_last_error(c));
  ttscache_buffer_free(&b);

  /* By key: the first entry of xtts, as LIST names it. */
  filter.engine = "xtts";
  CHECK(ttscache_list(c, 0, &filter, 10, &page) == TTSCACHE_OK && page->count == 1, "list xtts");
  uint8_t key[32];
  memcpy(key, page->entries[0].key, 32);
  ttscache_list_free(page);
  CHECK(ttscache_delete_key(c, "xtts", key, NULL) == TTSCACHE_OK, "delete_key: %s",
        ttscache_last_error(c));
  CHECK(ttscache_delete_key(c, "xtts", key, &d) == TTSCACHE_MISS, "delete_key again");

  ttscache_purge_result p;
  CHECK(ttscache_purge(c, "piper/en_US-lessac-medium", &p) == TTSCACHE_OK && p.entries == 1 &&
            p.bytes == wav_length,
        "purge voice: %s", ttscache_last_error(c));
  CHECK(ttscache_purge(c, "piper", &p) == TTSCACHE_OK && p.entries == 2, "purge piper: %llu",
        (unsigned long long)p.entries);
  CHECK(ttscache_purge(c, "nope", &p) == TTSCACHE_ERR_UNKNOWN_ENGINE, "purge of an unknown engine");
  CHECK(count_all(c, NULL) == 0, "empty after the purges");

  put(c, "piper", "four", wav, wav_length);
  ttscache_verify_report* v = NULL;
  CHECK(ttscache_verify(c, 0, &v) == TTSCACHE_OK, "verify: %s", ttscache_last_error(c));
  CHECK(v->verdict == TTSCACHE_VERIFY_CLEAN && v->entries_checked == 1 && v->problem_count == 0,
        "verify of a sound cache: verdict %d, %llu entries, %zu problems", v->verdict,
        (unsigned long long)v->entries_checked, v->problem_count);
  ttscache_verify_free(v);
  CHECK(ttscache_verify(c, 2, &v) == TTSCACHE_ERR_INVALID_ARGUMENT && v == NULL, "repair 2");

  ttscache_stats_detail* s = NULL;
  CHECK(ttscache_stats_detail_get(c, &s) == TTSCACHE_OK, "stats detail: %s",
        ttscache_last_error(c));
  CHECK(s->has_detail && s->stats->has_limits && s->disk_total_bytes > 0 &&
            s->disk_free_bytes <= s->disk_total_bytes,
        "stats detail: disk");
  CHECK(s->deleted == 2 && s->purged == 3, "removed: %llu deleted, %llu purged",
        (unsigned long long)s->deleted, (unsigned long long)s->purged);
  for (size_t i = 0; i < s->stats->engine_count; ++i) {
    int piper = strcmp(s->stats->engines[i].name, "piper") == 0;
    CHECK(piper ? s->oldest_access_ns[i] > 0 : s->oldest_access_ns[i] == 0, "oldest of %s",
          s->stats->engines[i].name);
  }
  for (size_t i = 1; i < TTSCACHE_ENCODE_BUCKETS; ++i) {
    CHECK(s->encode_buckets[i] >= s->encode_buckets[i - 1] &&
              s->encode_bucket_bounds_us[i] > s->encode_bucket_bounds_us[i - 1],
          "histogram at %zu", i);
  }
  ttscache_stats_detail_free(s);
  ttscache_client_free(c);
  puts("c api operate ok");
  return 0;
}
