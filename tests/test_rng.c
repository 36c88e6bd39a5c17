/* Tests of the context RNG (src/core/rng.c): PCG32's exact first outputs
 * against an independent Python reimplementation, the uniform and normal
 * samplers' range and moments, and exact resumption from a copied state. */
#include "test_util.h"

/* The reference values below were computed once with this Python snippet
 * (independent of the C code; it follows the seeding documented in rng.c:
 * state = 0, inc = 1442695040888963407, step, state += seed, step):
 *
 *   import math, struct
 *   M = 6364136223846793005; INC = 1442695040888963407; MASK = (1 << 64) - 1
 *   class P:
 *       def __init__(s, seed):
 *           s.state = 0; s.step(); s.state = (s.state + seed) & MASK; s.step()
 *       def step(s):
 *           old = s.state; s.state = (old * M + INC) & MASK
 *           x = (((old >> 18) ^ old) >> 27) & 0xffffffff; r = old >> 59
 *           return ((x >> r) | (x << ((-r) & 31))) & 0xffffffff
 *   f32 = lambda v: struct.unpack('f', struct.pack('f', v))[0]
 *   p = P(0); print([p.step() for _ in range(6)])
 *   p = P(42); print([p.step() for _ in range(3)])
 *   p = P(0); print([repr(f32((p.step() >> 8) / 16777216.0)) for _ in range(3)])
 *   p = P(7); u1 = ((p.step() >> 8) + 1.0) / 16777216.0; u2 = (p.step() >> 8) / 16777216.0
 *   r = math.sqrt(-2 * math.log(u1)); t = 2 * math.pi * u2
 *   print(repr(f32(r * math.cos(t))), repr(f32(r * math.sin(t))))
 */
static void test_pcg32_known_outputs(void **state) {
    (void)state;
    static const uint32_t seed0[6] = {3894649422u, 2055130073u, 2315086854u,
                                      2925816488u, 3443325253u, 1644475139u};
    static const uint32_t seed42[3] = {3270867926u, 1795671209u, 1924641435u};
    nb_rng r;
    nb_rng_seed(&r, 0);
    for (int i = 0; i < 6; i++) assert_int_equal(nb_rng_u32(&r), seed0[i]);
    nb_rng_seed(&r, 42);
    for (int i = 0; i < 3; i++) assert_int_equal(nb_rng_u32(&r), seed42[i]);

    static const float uni0[3] = {0.9067937135696411f, 0.4784972071647644f, 0.5390231609344482f};
    nb_rng_seed(&r, 0);
    for (int i = 0; i < 3; i++) assert_true(nb_rng_uniform(&r) == uni0[i]);

    /* Box–Muller in double, rounded to float: allow libm's last-bit freedom */
    nb_rng_seed(&r, 7);
    float n0 = nb_rng_normal(&r), n1 = nb_rng_normal(&r);
    assert_true(fabsf(n0 - 1.5446807146072388f) <= 1e-6f * 1.6f);
    assert_true(fabsf(n1 - -0.21299342811107635f) <= 1e-6f);
}

/* A fresh context's generator is seed 0. */
static void test_context_rng_default_seed(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_rng *r = nb_ctx_rng(ctx);
    assert_non_null(r);
    assert_int_equal(nb_rng_u32(r), 3894649422u);
    assert_null(nb_ctx_rng(NULL));
    nb_ctx_free(ctx);
}

static void test_uniform_range_and_moments(void **state) {
    (void)state;
    nb_rng r;
    nb_rng_seed(&r, 123);
    const int n = 100000;
    double s = 0, s2 = 0;
    float lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        float u = nb_rng_uniform(&r);
        if (!(u >= 0.0f && u < 1.0f)) fail_msg("uniform draw %d is %g, outside [0, 1)", i, (double)u);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        s += u;
        s2 += (double)u * u;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    /* 5 standard errors: sd(mean) = √(1/12 / n) ≈ 9.1e-4, sd(var) ≈ 2.7e-4 */
    assert_true(fabs(mean - 0.5) < 5 * 9.2e-4);
    assert_true(fabs(var - 1.0 / 12.0) < 5 * 2.7e-4);
    assert_true(lo < 1e-4f && hi > 1.0f - 1e-4f);
}

static void test_normal_moments(void **state) {
    (void)state;
    nb_rng r;
    nb_rng_seed(&r, 2024);
    const int n = 100000;
    double s = 0, s2 = 0, s4 = 0;
    int beyond3 = 0;
    for (int i = 0; i < n; i++) {
        double z = nb_rng_normal(&r);
        if (!isfinite(z)) fail_msg("normal draw %d is not finite", i);
        s += z;
        s2 += z * z;
        s4 += z * z * z * z;
        beyond3 += fabs(z) > 3.0;
    }
    double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n;
    /* sd(mean) = 1/√n ≈ 3.2e-3; sd(var) = √(2/n) ≈ 4.5e-3; E z⁴ = 3, sd ≈ 0.03 */
    assert_true(fabs(mean) < 5 * 3.2e-3);
    assert_true(fabs(var - 1.0) < 5 * 4.5e-3);
    assert_true(fabs(kurt - 3.0) < 0.2);
    /* P(|z| > 3) = 0.0027: expect 270 ± 16 */
    assert_true(beyond3 > 190 && beyond3 < 350);
}

/* A copied state (including a pending Box–Muller spare) continues exactly:
 * what checkpoints rely on. Reseeding restarts the sequence. */
static void test_state_copy_resumes(void **state) {
    (void)state;
    nb_rng a, b;
    nb_rng_seed(&a, 99);
    (void)nb_rng_normal(&a); /* leaves a spare pending */
    b = a;
    for (int i = 0; i < 101; i++) {
        assert_true(nb_rng_normal(&a) == nb_rng_normal(&b));
        assert_int_equal(nb_rng_u32(&a), nb_rng_u32(&b));
    }
    nb_rng_seed(&a, 99);
    nb_rng_seed(&b, 99);
    assert_int_equal(a.has_spare, 0);
    assert_true(nb_rng_uniform(&a) == nb_rng_uniform(&b));
    nb_rng_seed(&b, 100);
    nb_rng_seed(&a, 99);
    assert_true(nb_rng_u32(&a) != nb_rng_u32(&b));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pcg32_known_outputs),
    cmocka_unit_test(test_context_rng_default_seed),
    cmocka_unit_test(test_uniform_range_and_moments),
    cmocka_unit_test(test_normal_moments),
    cmocka_unit_test(test_state_copy_resumes),
};
NB_TEST_MAIN(tests)
