/* The C API's tier counters (ttscache_tier_get / ttscache_tier_free)
 * against a real daemon. With "off" the daemon has no [tier]: the call
 * succeeds, the block is there, enabled is 0 and every figure 0. With "on"
 * (a daemon with [tier] on a live memcached): enabled, up, with its one
 * server and a queue size. NULL
 * arguments are refused. Usage: c_api_tier_test SOCKET off|on. Exits 0
 * when every check holds. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ttscache/ttscache.h"

int main(int argc, char** argv) {
  CHECK(argc == 3 && (strcmp(argv[2], "off") == 0 || strcmp(argv[2], "on") == 0),
        "usage: c_api_tier_test SOCKET off|on");
  const int on = strcmp(argv[2], "on") == 0;
  ttscache_client* c = ttscache_client_new(argv[1], 5000);
  CHECK(c != NULL, "ttscache_client_new");
  ttscache_tier_stats* t = NULL;
  CHECK(ttscache_tier_get(c, &t) == TTSCACHE_OK, "tier: %s", ttscache_last_error(c));
  CHECK(t != NULL, "no stats");
  if (on) {
    CHECK(t->has_tier == 1 && t->enabled == 1 && t->state == TTSCACHE_TIER_UP && t->servers == 1 &&
              t->queue_capacity > 0 && t->queue_depth <= t->queue_capacity,
          "on: has_tier %d enabled %d state %d servers %u queue %llu/%llu", t->has_tier, t->enabled,
          t->state, t->servers, (unsigned long long)t->queue_depth,
          (unsigned long long)t->queue_capacity);
  } else {
    CHECK(t->has_tier == 1 && t->enabled == 0 && t->state == TTSCACHE_TIER_UP && t->servers == 0 &&
              t->lookups == 0 && t->hits == 0 && t->writes == 0 && t->queue_capacity == 0 &&
              t->lookup_us == 0,
          "off: has_tier %d enabled %d servers %u lookups %llu", t->has_tier, t->enabled,
          t->servers, (unsigned long long)t->lookups);
  }
  ttscache_tier_free(t);
  ttscache_tier_free(NULL);

  t = (ttscache_tier_stats*)1;
  CHECK(ttscache_tier_get(c, NULL) == TTSCACHE_ERR_INVALID_ARGUMENT, "NULL out");
  CHECK(ttscache_tier_get(NULL, &t) == TTSCACHE_ERR_INVALID_ARGUMENT && t == NULL, "NULL client");
  ttscache_client_free(c);
  printf("c api tier %s ok\n", argv[2]);
  return 0;
}
