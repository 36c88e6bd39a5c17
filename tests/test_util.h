/* Shared helpers for nabla's cmocka tests: the main() that honours a test-name
 * filter (ctest runs each test function as its own entry) and small tensor
 * utilities. Include after <cmocka.h>'s prerequisites via this file only. */
#ifndef NB_TEST_UTIL_H
#define NB_TEST_UTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nabla.h"

/* main() for a test file: with an argument, run only the test of that name. */
#define NB_TEST_MAIN(tests)                                             \
    int main(int argc, char **argv) {                                   \
        if (argc > 1) cmocka_set_test_filter(argv[1]);                  \
        return cmocka_run_group_tests(tests, NULL, NULL);               \
    }

/* Deterministic test data without touching library RNG state. */
static inline uint32_t nbt_rand_u32(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    uint32_t x = (uint32_t)(((*s >> 18) ^ *s) >> 27);
    uint32_t r = (uint32_t)(*s >> 59);
    return (x >> r) | (x << ((-r) & 31));
}
/* Uniform in [lo, hi). */
static inline float nbt_uniform(uint64_t *s, float lo, float hi) {
    return lo + (hi - lo) * (float)(nbt_rand_u32(s) >> 8) * (1.0f / 16777216.0f);
}
static inline void nbt_fill_uniform(nb_tensor *t, uint64_t *s, float lo, float hi) {
    for (int64_t i = 0; i < t->size; i++) t->data[i] = nbt_uniform(s, lo, hi);
}

/* Assert that the context holds no error; print it if it does. */
#define NBT_ASSERT_OK(ctx)                                                          \
    do {                                                                            \
        if (nb_error(ctx) != NB_OK) fail_msg("nabla error: %s", nb_error_message(ctx)); \
    } while (0)

#endif
