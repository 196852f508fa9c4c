/* CHECK(cond, fmt, ...): the C API tests' one assertion; prints where and
 * why, and exits 1. */
#ifndef TTSCACHE_TESTS_C_API_CHECK_H_
#define TTSCACHE_TESTS_C_API_CHECK_H_

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
      exit(1);                                             \
    }                                                      \
  } while (0)

#endif /* TTSCACHE_TESTS_C_API_CHECK_H_ */
