/* Tiny assertion macros for the C tests: count checks, report failures with
 * file:line, keep going. End main with CHECK_DONE("test_name"). */
#ifndef NAS_TEST_CHECK_H
#define NAS_TEST_CHECK_H
#include <stdio.h>
#include <string.h>

static int check_count = 0, check_failed = 0;

#define CHECK(cond)                                                          \
  do {                                                                       \
    check_count++;                                                           \
    if (!(cond)) {                                                           \
      check_failed++;                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                        \
  } while (0)

#define CHECK_EQ(a, b)                                                       \
  do {                                                                       \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b);          \
    check_count++;                                                           \
    if (check_a_ != check_b_) {                                              \
      check_failed++;                                                        \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n",   \
              __FILE__, __LINE__, #a, #b, check_a_, check_b_);               \
    }                                                                        \
  } while (0)

/* haystack contains needle */
#define CHECK_HAS(hay, needle)                                               \
  do {                                                                       \
    const char *check_h_ = (hay), *check_n_ = (needle);                      \
    check_count++;                                                           \
    if (!check_h_ || !strstr(check_h_, check_n_)) {                          \
      check_failed++;                                                        \
      fprintf(stderr, "%s:%d: CHECK_HAS failed: \"%s\" lacks \"%s\"\n",      \
              __FILE__, __LINE__, check_h_ ? check_h_ : "(null)", check_n_); \
    }                                                                        \
  } while (0)

#define CHECK_DONE(name)                                                     \
  (printf("%s: %d checks, %d failed\n", (name), check_count, check_failed),  \
   check_failed != 0)

#endif
