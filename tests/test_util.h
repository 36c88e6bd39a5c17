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

/* main() for a test file: with an argument, run only the test of that name;
 * a name that matches no test is a failure (a stale binary must not pass). */
#define NB_TEST_MAIN(tests)                                                        \
    int main(int argc, char **argv) {                                              \
        if (argc > 1) {                                                            \
            int found_ = 0;                                                        \
            for (size_t i_ = 0; i_ < sizeof(tests) / sizeof(tests[0]); i_++)       \
                found_ |= strcmp(tests[i_].name, argv[1]) == 0;                    \
            if (!found_) {                                                         \
                fprintf(stderr, "no test named %s in this binary\n", argv[1]);     \
                return 1;                                                          \
            }                                                                      \
            cmocka_set_test_filter(argv[1]);                                       \
        }                                                                          \
        return cmocka_run_group_tests(tests, NULL, NULL);                          \
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

/* ---- gradient checks ------------------------------------------------------
 * Every op's check has the same shape: make inputs as parameters, apply the
 * op, reduce with a fixed random weighting (so every output element counts
 * and no two have the same weight), and compare backward with central
 * differences. One step and one tolerance for the whole suite: float32
 * central differences at eps 1e-2 carry ~1e-4 rounding error on O(10)
 * losses; a wrong gradient is off by far more than 5e-3. */
#define NBT_GRAD_EPS 1e-2f
#define NBT_GRAD_TOL 5e-3f

/* A parameter of the given shape filled uniformly in [lo, hi). */
static inline nb_tensor *nbt_param(nb_ctx *ctx, uint64_t *seed, float lo, float hi, int ndim,
                                   const int64_t *shape) {
    nb_tensor *p = nb_param_new(ctx, "p", ndim, shape);
    if (p) nbt_fill_uniform(p, seed, lo, hi);
    return p;
}

/* loss = Σ y ⊙ r with r fixed and random in [-1, 1). */
static inline nb_tensor *nbt_weighted_sum(nb_ctx *ctx, nb_tensor *y, uint64_t *seed) {
    if (!y) return NULL;
    nb_tensor *r = nb_tensor_new(ctx, y->ndim, y->shape);
    if (r) nbt_fill_uniform(r, seed, -1.0f, 1.0f);
    return nb_sum(ctx, nb_mul(ctx, y, r));
}

/* Gradcheck `loss` with respect to wrt[0..n) and fail the test if any
 * input's worst error exceeds NBT_GRAD_TOL. */
static inline void nbt_check_grads(nb_ctx *ctx, nb_tensor *loss, nb_tensor *const *wrt, int n,
                                   const char *what) {
    NBT_ASSERT_OK(ctx);
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    float worst[16];
    assert_true(n <= 16);
    assert_int_equal(nb_gradcheck(g, wrt, n, NBT_GRAD_EPS, worst), NB_OK);
    for (int i = 0; i < n; i++) {
        if (!(worst[i] <= NBT_GRAD_TOL))
            fail_msg("%s: input %d gradient error %g > %g", what, i, (double)worst[i],
                     (double)NBT_GRAD_TOL);
    }
}

#endif
