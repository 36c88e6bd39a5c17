/* tests/avx512_emul/test_avx512_emulated.c — the AVX-512 kernels, built from
 * their unmodified sources over the plain-C intrinsics of avx512_emul.h, run on
 * any x86-64 with AVX2: lane-wise kernels bitwise against the AVX2 path and the
 * scalar loops, reductions bitwise against a 16-lane model of the documented
 * fold, and the 12x32 SGEMM micro-kernel bitwise against its contract. */
#include <float.h>

#include "emul_names.h" /* first: nb__*_avx512 below name the emulated build */
#include "test_util.h"
#include "kernels/elementwise.h"
#include "kernels/kernels.h"
#include "kernels/reduce.h"
#include "kernels/unary.h"

/* The emulated files use real AVX2 for their 128/256-bit steps. */
static int have_avx2(void) {
    if (nb__cpu_supports(NB_CPU_AVX2)) return 1;
    print_message("  [skip] this CPU lacks AVX2, which the emulated build uses\n");
    return 0;
}

/* Equal bits, or NaN both (payloads depend on operand order, which C does not fix). */
static int same(float a, float b) {
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y || (isnan(a) && isnan(b));
}

static void expect_same(const float *got, const float *want, int64_t n, const char *what,
                        int64_t size, int off) {
    for (int64_t i = 0; i < n; i++)
        if (!same(got[i], want[i]))
            fail_msg("%s n=%lld off=%d [%lld]: avx512(emulated) %.9g (0x%08x) vs %.9g (0x%08x)",
                     what, (long long)size, off, (long long)i, (double)got[i],
                     (unsigned)(union { float f; uint32_t u; }){got[i]}.u, (double)want[i],
                     (unsigned)(union { float f; uint32_t u; }){want[i]}.u);
}

#define CANARY (-7.25f)
#define SLACK 18 /* one vector and then some past every output */

/* An output buffer: canaries before (off) and after (n) the written range. */
static float *outbuf(int64_t n) {
    float *p = malloc((size_t)(n + 2 * SLACK) * sizeof *p);
    assert_non_null(p);
    for (int64_t i = 0; i < n + 2 * SLACK; i++) p[i] = CANARY;
    return p;
}
static void expect_canaries(const float *p, int64_t n, int off, const char *what) {
    for (int64_t i = 0; i < n + 2 * SLACK; i++)
        if ((i < off || i >= off + n) && !same(p[i], CANARY))
            fail_msg("%s n=%lld off=%d: wrote outside [0, n) at %lld", what, (long long)n, off,
                     (long long)(i - off));
}

static void fill(float *p, int64_t n, uint64_t *s, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) p[i] = nbt_uniform(s, lo, hi);
}

/* Values at the edges of the vector math's ranges and of IEEE. */
static const float specials[] = {
    NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, FLT_MIN, -FLT_MIN, 1e-40f, -1e-40f,
    FLT_MAX, -FLT_MAX, 1.0f, -1.0f, 88.72f, 88.73f, 89.0f, 90.0f, -87.3f, -103.98f, -104.0f,
    -110.0f, 9.1f, -9.1f, 9.2f, 0.625f, -0.625f, 0.6249999f, 14.28f, -14.28f, 14.3f, -20.0f,
    0.70710677f, 1.4142135f, 1e-30f, 3e38f, -0.5f, 0.7f, 1e-7f, -1e-7f, 0.5f, 2.0f,
};
#define NSPECIAL ((int64_t)(sizeof specials / sizeof specials[0]))

static const int64_t sizes[] = {0,  1,  2,  3,  5,  7,  8,  9,  15,  16,  17,  23,   31,
                                32, 33, 47, 48, 49, 63, 64, 65, 100, 255, 256, 257, 1000};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))
#define MAXN 1000

/* ---- unary forward and backward ---------------------------------------------- */

typedef struct {
    nb_unop op;
    float p0, p1, lo, hi;
    int exact; /* no transcendental part: bitwise equal to the scalar loop too */
} un_case;

static const un_case un_cases[] = {
    {NB_UN_NEG, 0, 0, -3, 3, 1},            {NB_UN_SCALE, 1.7f, 0, -3, 3, 1},
    {NB_UN_ADD_SCALAR, -0.3f, 0, -3, 3, 1}, {NB_UN_EXP, 0, 0, -100, 95, 0},
    {NB_UN_LOG, 0, 0, 1e-3f, 50, 0},        {NB_UN_SQRT, 0, 0, 0, 9, 1},
    {NB_UN_SQUARE, 0, 0, -3, 3, 1},         {NB_UN_ABS, 0, 0, -3, 3, 1},
    {NB_UN_CLAMP, -0.5f, 0.7f, -2, 2, 1},   {NB_UN_SIGMOID, 0, 0, -30, 30, 0},
    {NB_UN_TANH, 0, 0, -6, 6, 0},           {NB_UN_RELU, 0, 0, -3, 3, 1},
    {NB_UN_LEAKY_RELU, 0.01f, 0, -3, 3, 1}, {NB_UN_GELU_ERF, 0, 0, -9, 6, 0},
    {NB_UN_GELU_TANH, 0, 0, -9, 6, 0},
};
#define NUN ((int)(sizeof un_cases / sizeof un_cases[0]))

/* Runs one case on AVX2 and emulated AVX-512 (and the scalar loop when exact
 * and `vs_scalar`), comparing outputs bitwise and checking the canaries. */
static void run_unary(const un_case *u, const float *x, int64_t n, const float *dy,
                      const float *dx0, int vs_scalar) {
    for (int off = 0; off < 2; off++) {
        float *y2 = outbuf(n), *y5 = outbuf(n), *d2 = outbuf(n), *d5 = outbuf(n);
        memcpy(d2 + off, dx0, (size_t)n * sizeof *d2);
        memcpy(d5 + off, dx0, (size_t)n * sizeof *d5);
        /* unaligned input for off = 1 as well */
        float *xs = malloc((size_t)(n + 1) * sizeof *xs);
        assert_non_null(xs);
        memcpy(xs + off, x, (size_t)n * sizeof *xs);
        nb__ew_unary_avx2(u->op, n, xs + off, y2 + off, u->p0, u->p1);
        nb__ew_unary_avx512(u->op, n, xs + off, y5 + off, u->p0, u->p1);
        expect_canaries(y5, n, off, "unary fwd");
        expect_same(y5 + off, y2 + off, n, "unary fwd vs avx2", n, off);
        nb__ew_unary_backward_avx2(u->op, n, xs + off, y2 + off, dy, d2 + off, u->p0, u->p1);
        nb__ew_unary_backward_avx512(u->op, n, xs + off, y2 + off, dy, d5 + off, u->p0, u->p1);
        expect_canaries(d5, n, off, "unary bwd");
        expect_same(d5 + off, d2 + off, n, "unary bwd vs avx2", n, off);
        if (u->op == NB_UN_RELU || u->op == NB_UN_GELU_ERF) { /* the store kernels */
            float *s2 = outbuf(n), *s5 = outbuf(n);
            nb__ew_unary_backward_store_avx2(u->op, n, xs + off, y2 + off, dy, s2 + off, 0, 0);
            nb__ew_unary_backward_store_avx512(u->op, n, xs + off, y2 + off, dy, s5 + off, 0, 0);
            expect_canaries(s5, n, off, "unary bwd store");
            expect_same(s5 + off, s2 + off, n, "unary bwd store vs avx2", n, off);
            free(s2), free(s5);
        }
        if (vs_scalar && u->exact && off == 0) {
            float *ys = outbuf(n), *ds = outbuf(n);
            memcpy(ds, dx0, (size_t)n * sizeof *ds);
            assert_int_equal(nb__set_cpu_path(NB_CPU_SCALAR), NB_OK);
            nb_k_unary(u->op, n, xs, ys, u->p0, u->p1);
            nb_k_unary_backward(u->op, n, xs, ys, dy, ds, u->p0, u->p1);
            nb__set_cpu_path(NB_CPU_AUTO);
            expect_same(y5, ys, n, "unary fwd vs scalar", n, off);
            expect_same(d5, ds, n, "unary bwd vs scalar", n, off);
            free(ys), free(ds);
        }
        free(xs), free(y2), free(y5), free(d2), free(d5);
    }
}

static void test_unary(void **state) {
    (void)state;
    if (!have_avx2()) return;
    nb_set_threads(1);
    float *x = malloc(MAXN * sizeof *x), *dy = malloc(MAXN * sizeof *x);
    float *dx0 = malloc(MAXN * sizeof *x);
    assert_true(x && dy && dx0);
    uint64_t seed = 5;
    const long loads0 = emu_avx512_partial_loads, stores0 = emu_avx512_partial_stores;
    for (int c = 0; c < NUN; c++) {
        const un_case *u = &un_cases[c];
        assert_true(nb__ew_unary_vectorised(u->op));
        for (int s = 0; s < NSIZES; s++) {
            const int64_t n = sizes[s];
            fill(dy, n, &seed, -1, 1);
            fill(dx0, n, &seed, -1, 1);
            fill(x, n, &seed, u->lo, u->hi);
            run_unary(u, x, n, dy, dx0, 1);
            /* the same with special values spread over lanes and tails */
            for (int64_t i = 0; i < n; i++)
                if (nbt_rand_u32(&seed) % 3 == 0) x[i] = specials[nbt_rand_u32(&seed) % NSPECIAL];
            run_unary(u, x, n, dy, dx0, 0);
        }
        /* every special value in every lane position once */
        for (int64_t r = 0; r < 16; r++) {
            const int64_t n = NSPECIAL + r;
            for (int64_t i = 0; i < n; i++) x[i] = specials[(i + r) % NSPECIAL];
            fill(dy, n, &seed, -1, 1);
            fill(dx0, n, &seed, -1, 1);
            run_unary(u, x, n, dy, dx0, 0);
        }
    }
    /* the masked tails really ran */
    assert_true(emu_avx512_partial_loads > loads0 && emu_avx512_partial_stores > stores0);
    nb_set_threads(0);
    free(x), free(dy), free(dx0);
}

/* A dense sweep of the transcendental ops over their whole ranges: the
 * emulated AVX-512 path must reproduce AVX2 bit for bit (same polynomials, same
 * operations per lane), so it inherits the error bounds test_kernels_elementwise
 * asserts for AVX2. */
static void test_vecmath_sweep(void **state) {
    (void)state;
    if (!have_avx2()) return;
    enum { N = 1 << 15 };
    float *x = malloc(N * sizeof *x), *y2 = malloc(N * sizeof *x), *y5 = malloc(N * sizeof *x);
    assert_true(x && y2 && y5);
    static const struct { nb_unop op; float lo, hi; } sw[] = {
        {NB_UN_EXP, -110, 95},  {NB_UN_LOG, 0, 100},         {NB_UN_TANH, -12, 12},
        {NB_UN_SIGMOID, -110, 110}, {NB_UN_GELU_ERF, -16, 16}, {NB_UN_GELU_TANH, -16, 16},
    };
    for (size_t c = 0; c < sizeof sw / sizeof sw[0]; c++) {
        for (int i = 0; i < N; i++) x[i] = sw[c].lo + (sw[c].hi - sw[c].lo) * ((float)i / N);
        /* and tiny magnitudes / subnormals where the reductions switch branches */
        for (int i = 0; i < N / 8; i++) x[i] = ldexpf(1.0f + (float)i / N, -149 + i % 160);
        nb__ew_unary_avx2(sw[c].op, N, x, y2, 0, 0);
        nb__ew_unary_avx512(sw[c].op, N, x, y5, 0, 0);
        expect_same(y5, y2, N, "vecmath sweep", sw[c].op, 0);
    }
    free(x), free(y2), free(y5);
}

/* ---- binary ------------------------------------------------------------------- */

static void test_binary(void **state) {
    (void)state;
    if (!have_avx2()) return;
    float *a = malloc(MAXN * sizeof *a), *b = malloc(MAXN * sizeof *a);
    float *g = malloc(MAXN * sizeof *a);
    float *d0 = malloc(MAXN * sizeof *a);
    assert_true(a && b && g && d0);
    uint64_t seed = 9;
    for (int op = NB_BIN_ADD; op <= NB_BIN_DIV; op++)
        for (int s = 0; s < NSIZES; s++) {
            const int64_t n = sizes[s];
            if (n == 0) continue; /* the kernels read a[0] / b[0] for broadcasts */
            fill(a, n, &seed, -3, 3);
            fill(b, n, &seed, 0.5f, 3);
            fill(g, n, &seed, -1, 1);
            fill(d0, n, &seed, -1, 1);
            if (n > 3) a[1] = NAN, b[2] = -0.0f;
            for (int sa = 0; sa < 2; sa++)
                for (int sb = 0; sb < 2; sb++) {
                    float *o2 = outbuf(n), *o5 = outbuf(n);
                    nb__ew_binary_avx2((nb_binop)op, n, o2, a, sa, b, sb);
                    nb__ew_binary_avx512((nb_binop)op, n, o5, a, sa, b, sb);
                    expect_canaries(o5, n, 0, "binary fwd");
                    expect_same(o5, o2, n, "binary fwd vs avx2", n, op);
                    for (int64_t i = 0; i < n; i++) { /* and the IEEE operation itself */
                        const float x = a[i * sa], y = b[i * sb];
                        const float r = op == NB_BIN_ADD ? x + y : op == NB_BIN_SUB ? x - y
                                      : op == NB_BIN_MUL ? x * y : x / y;
                        if (!same(o5[i], r)) fail_msg("binary %d [%lld]", op, (long long)i);
                    }
                    float *g2 = outbuf(n), *g5 = outbuf(n);
                    memcpy(g2, d0, (size_t)n * sizeof *g2);
                    memcpy(g5, d0, (size_t)n * sizeof *g5);
                    nb__ew_binary_grad_a_avx2((nb_binop)op, n, g, b, sb, g2);
                    nb__ew_binary_grad_a_avx512((nb_binop)op, n, g, b, sb, g5);
                    expect_canaries(g5, n, 0, "binary grad a");
                    expect_same(g5, g2, n, "binary grad a vs avx2", n, op);
                    memcpy(g2, d0, (size_t)n * sizeof *g2);
                    memcpy(g5, d0, (size_t)n * sizeof *g5);
                    nb__ew_binary_grad_b_avx2((nb_binop)op, n, g, o2, a, sa, b, g2);
                    nb__ew_binary_grad_b_avx512((nb_binop)op, n, g, o2, a, sa, b, g5);
                    expect_canaries(g5, n, 0, "binary grad b");
                    expect_same(g5, g2, n, "binary grad b vs avx2", n, op);
                    free(o2), free(o5), free(g2), free(g5);
                }
        }
    free(a), free(b), free(g), free(d0);
}

/* ---- reductions ----------------------------------------------------------------- */

/* The documented fold of 16 lanes: lane j += lane j+8, +4, +2, +1. */
static float fold16(float *acc) {
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

/* Values of mixed sign and magnitude, so any change of summation order shows. */
static void fill_mixed(float *p, int64_t n, uint64_t *s) {
    for (int64_t i = 0; i < n; i++)
        p[i] = ldexpf(nbt_uniform(s, -1, 1), (int)(nbt_rand_u32(s) % 40) - 20);
}

static void test_sum_leaf_matches_scalar(void **state) {
    (void)state;
    if (!have_avx2()) return;
    float *x = malloc(NB_SUM_BLOCK * sizeof *x);
    assert_non_null(x);
    uint64_t seed = 13;
    assert_int_equal(nb__set_cpu_path(NB_CPU_SCALAR), NB_OK);
    for (int64_t n = 0; n <= NB_SUM_BLOCK; n++) {
        fill_mixed(x, n, &seed);
        const float ref = nb_k_sum(x, n); /* one scalar leaf for n <= NB_SUM_BLOCK */
        const float v5 = nb__ew_sum_leaf_avx512(x, n), v2 = nb__ew_sum_leaf_avx2(x, n);
        if (!same(v5, ref) || !same(v2, ref))
            fail_msg("sum leaf n=%lld: avx512(emulated) %.9g avx2 %.9g scalar %.9g",
                     (long long)n, (double)v5, (double)v2, (double)ref);
    }
    nb__set_cpu_path(NB_CPU_AUTO);
    free(x);
}

static void test_row_kernels(void **state) {
    (void)state;
    if (!have_avx2()) return;
    float *x = malloc(MAXN * sizeof *x), *z = malloc(MAXN * sizeof *x);
    float *d0 = malloc(MAXN * sizeof *x);
    assert_true(x && z && d0);
    uint64_t seed = 17;
    for (int s = 0; s < NSIZES; s++) {
        const int64_t n = sizes[s];
        fill_mixed(x, n, &seed);
        fill(z, n, &seed, -4, 4);
        fill(d0, n, &seed, -1, 1);
        float acc[16];

        if (n > 0) { /* max: exact, and NaN anywhere (x[0], body, tail) gives NaN */
            float m = x[0];
            for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
            assert_true(nb__ew_max_avx512(x, n) == m);
            for (int64_t at = 0; at < n; at += (n > 40 ? 13 : 1)) {
                const float keep = x[at];
                x[at] = NAN;
                if (!isnan(nb__ew_max_avx512(x, n)))
                    fail_msg("max n=%lld: NaN at %lld missed", (long long)n, (long long)at);
                x[at] = keep;
            }
            for (int64_t i = 0; i < n; i++) d0[i] = -INFINITY;
            assert_true(nb__ew_max_avx512(d0, n) == -INFINITY);
            fill(d0, n, &seed, -1, 1);
        }

        /* exp_sum: terms bitwise as AVX2, their sum as the 16-lane model */
        const float mx = 2.0f;
        float *e2 = outbuf(n), *e5 = outbuf(n);
        const float s2 = nb__ew_exp_sum_avx2(z, n, mx, e2);
        const float s5 = nb__ew_exp_sum_avx512(z, n, mx, e5);
        (void)s2;
        expect_canaries(e5, n, 0, "exp_sum");
        expect_same(e5, e2, n, "exp_sum terms vs avx2", n, 0);
        memset(acc, 0, sizeof acc);
        for (int64_t i = 0; i < n; i++) acc[i % 16] += e2[i];
        float want = fold16(acc);
        if (!same(s5, want))
            fail_msg("exp_sum n=%lld: %.9g vs model %.9g", (long long)n, (double)s5,
                     (double)want);
        if (!same(nb__ew_exp_sum_avx512(z, n, mx, NULL), want))
            fail_msg("exp_sum(NULL) n=%lld", (long long)n);

        /* exp_sum_next (the pipelined softmax sweep): the same terms and sum,
         * with or without the row's min (fast and tested forms), plus the
         * next row's max/min and the previous row's scaled store */
        float zmin = z[0], xmax = x[0], xmin = x[0];
        for (int64_t i = 1; i < n; i++) {
            zmin = z[i] < zmin ? z[i] : zmin;
            xmax = x[i] > xmax ? x[i] : xmax;
            xmin = x[i] < xmin ? x[i] : xmin;
        }
        for (int form = 0; form < 2; form++) {
            float *en = outbuf(n), *pv = outbuf(n), *pw = outbuf(n), mm[2];
            const float sn = nb__ew_exp_sum_next_avx512(z, n, mx, form ? NAN : zmin, en, x, mm,
                                                        NULL, pv, x, 0.5f);
            expect_canaries(en, n, 0, "exp_sum_next");
            expect_same(en, e2, n, "exp_sum_next terms vs avx2", n, 0);
            if (!same(sn, want)) fail_msg("exp_sum_next n=%lld form %d", (long long)n, form);
            if (!same(mm[0], xmax) || !same(mm[1], xmin))
                fail_msg("exp_sum_next n=%lld: next max/min %g %g, want %g %g", (long long)n,
                         (double)mm[0], (double)mm[1], (double)xmax, (double)xmin);
            nb__ew_scale_avx2(x, n, 0.5f, pw);
            expect_canaries(pv, n, 0, "exp_sum_next prev");
            expect_same(pv, pw, n, "exp_sum_next prev store", n, 0);
            free(en), free(pv), free(pw);
        }

        /* dot and sum against the model */
        memset(acc, 0, sizeof acc);
        for (int64_t i = 0; i < n; i++) acc[i % 16] = fmaf(x[i], z[i], acc[i % 16]);
        want = fold16(acc);
        if (!same(nb__ew_dot_avx512(x, z, n), want)) fail_msg("dot n=%lld", (long long)n);
        memset(acc, 0, sizeof acc);
        for (int64_t i = 0; i < n; i++) acc[i % 16] += x[i];
        want = fold16(acc);
        if (!same(nb__ew_sum_avx512(x, n), want)) fail_msg("sum n=%lld", (long long)n);

        /* the lane-wise row kernels, bitwise as AVX2 */
        float *r2 = outbuf(n), *r5 = outbuf(n);
        nb__ew_scale_avx2(x, n, 0.37f, r2);
        nb__ew_scale_avx512(x, n, 0.37f, r5);
        expect_canaries(r5, n, 0, "scale");
        expect_same(r5, r2, n, "scale", n, 0);
        nb__ew_sub_avx2(x, n, 0.37f, r2);
        nb__ew_sub_avx512(x, n, 0.37f, r5);
        expect_canaries(r5, n, 0, "sub");
        expect_same(r5, r2, n, "sub", n, 0);
#define ACCUM_CASE(what, call2, call5)                                                     \
    do {                                                                                   \
        memcpy(r2, d0, (size_t)n * sizeof *r2);                                            \
        memcpy(r5, d0, (size_t)n * sizeof *r5);                                            \
        call2;                                                                             \
        call5;                                                                             \
        expect_canaries(r5, n, 0, what);                                                   \
        expect_same(r5, r2, n, what, n, 0);                                                \
    } while (0)
        ACCUM_CASE("softmax_bwd", nb__ew_softmax_bwd_avx2(e2, z, n, 0.3f, r2),
                   nb__ew_softmax_bwd_avx512(e2, z, n, 0.3f, r5));
        ACCUM_CASE("log_softmax_bwd", nb__ew_log_softmax_bwd_avx2(z, x, n, 1.3f, r2),
                   nb__ew_log_softmax_bwd_avx512(z, x, n, 1.3f, r5));
        ACCUM_CASE("xent_grad", nb__ew_xent_grad_avx2(z, n, 3.1f, 0.25f, 0.5f, r2),
                   nb__ew_xent_grad_avx512(z, n, 3.1f, 0.25f, 0.5f, r5));
        ACCUM_CASE("xent_grad_e", nb__ew_xent_grad_e_avx2(e2, n, 0.7f, 0.25f, 0.5f, r2),
                   nb__ew_xent_grad_e_avx512(e2, n, 0.7f, 0.25f, 0.5f, r5));
#undef ACCUM_CASE
        free(e2), free(e5), free(r2), free(r5);
    }
    free(x), free(z), free(d0);
}

/* ---- SGEMM micro-kernel ---------------------------------------------------------- */

/* The kernel contract (kernels.h) as scalar float arithmetic: each C element is
 * the FMA chain over p from 0, times alpha, then + C (beta 1), beta·C + that
 * in one rounding (other beta), or that alone without reading C (beta 0). */
static float tile_model(size_t k, float alpha, const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                        const float *b, ptrdiff_t rs_b, float beta, float c, int i, int j) {
    float acc = 0.0f;
    for (size_t p = 0; p < k; p++)
        acc = fmaf(a[i * rs_a + (ptrdiff_t)p * cs_a], b[(ptrdiff_t)p * rs_b + j], acc);
    const float x = alpha * acc;
    return beta == 0.0f ? x : beta == 1.0f ? x + c : fmaf(beta, c, x);
}

enum { LAYOUT_PACKED, LAYOUT_ROWS, LAYOUT_COLS };

static void kernel_case(int layout, int mr, int nr, size_t k, float alpha, float beta,
                        uint64_t *seed) {
    const nb__sgemm_arch *ar = &nb__sgemm_avx512; /* emulated */
    const int MR = ar->mr, NR = ar->nr;
    /* A exactly as large as its layout needs (ASan sees any read past it);
     * packed panels hold MR rows, the ones past mr NaN (must not leak). */
    ptrdiff_t rs_a, cs_a;
    size_t alen;
    if (layout == LAYOUT_PACKED) rs_a = 1, cs_a = MR, alen = k * (size_t)MR;
    else if (layout == LAYOUT_ROWS)
        rs_a = (ptrdiff_t)k + 3, cs_a = 1, alen = (size_t)(mr - 1) * (size_t)rs_a + k;
    else rs_a = 1, cs_a = mr + 2, alen = (k - 1) * (size_t)cs_a + (size_t)mr;
    float *a = malloc((alen ? alen : 1) * sizeof *a);
    assert_non_null(a);
    for (size_t t = 0; t < alen; t++) a[t] = NAN;
    for (int i = 0; i < mr; i++)
        for (size_t p = 0; p < k; p++) a[i * rs_a + (ptrdiff_t)p * cs_a] = nbt_uniform(seed, -1, 1);
    /* B read NR wide: columns past nr NaN; rows at stride rs_b */
    const ptrdiff_t rs_b = layout == LAYOUT_PACKED ? NR : NR + 5;
    float *b = malloc((k * (size_t)rs_b + 1) * sizeof *b);
    assert_non_null(b);
    for (size_t p = 0; p < k; p++)
        for (ptrdiff_t j = 0; j < rs_b; j++)
            b[(ptrdiff_t)p * rs_b + j] = j < nr ? nbt_uniform(seed, -1, 1) : NAN;
    /* C with a border: rows/columns outside mr x nr must stay untouched; beta 0
     * gets NaN inside, which must not leak */
    const ptrdiff_t ldc = NR + 7;
    const int rows = MR + 2;
    float *c = malloc((size_t)(rows * ldc) * sizeof *c);
    float *c0 = malloc((size_t)(rows * ldc) * sizeof *c);
    assert_true(c && c0);
    for (ptrdiff_t t = 0; t < rows * ldc; t++) c0[t] = nbt_uniform(seed, -1, 1);
    if (beta == 0.0f)
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++) c0[(i + 1) * ldc + j] = NAN;
    memcpy(c, c0, (size_t)(rows * ldc) * sizeof *c);
    ar->kernel(k, alpha, a, rs_a, cs_a, b, rs_b, beta, c + ldc, ldc, mr, nr);
    for (int i = -1; i < rows - 1; i++)
        for (int j = 0; j < ldc; j++) {
            const float got = c[(i + 1) * ldc + j], old = c0[(i + 1) * ldc + j];
            const int inside = i >= 0 && i < mr && j < nr;
            const float want =
                inside ? tile_model(k, alpha, a, rs_a, cs_a, b, rs_b, beta, old, i, j) : old;
            if (!same(got, want))
                fail_msg("sgemm 12x32 layout %d mr=%d nr=%d k=%zu alpha=%g beta=%g: "
                         "C(%d,%d) = %.9g, want %.9g%s",
                         layout, mr, nr, k, (double)alpha, (double)beta, i, j, (double)got,
                         (double)want, inside ? "" : " (outside the tile: must be untouched)");
        }
    free(a), free(b), free(c), free(c0);
}

static void test_sgemm_kernel(void **state) {
    (void)state;
    if (!have_avx2()) return;
    assert_int_equal(nb__sgemm_avx512.mr, 12);
    assert_int_equal(nb__sgemm_avx512.nr, 32);
    assert_true(nb__sgemm_avx512.mc % nb__sgemm_avx512.mr == 0);
    assert_true(nb__sgemm_avx512.nc % nb__sgemm_avx512.nr == 0);
    assert_true(nb__sgemm_avx512.mr * nb__sgemm_avx512.nr <= NB__SGEMM_MAX_TILE);
    static const int mrs[] = {1, 2, 5, 11, 12};
    static const int nrs[] = {1, 2, 7, 15, 16, 17, 24, 31, 32};
    static const size_t ks[] = {1, 3, 33};
    static const float betas[] = {0.0f, 1.0f, 0.3f, -1.7f}; /* not powers of 2: beta·C rounds */
    static const float alphas[] = {1.0f, -0.75f};
    uint64_t seed = 21;
    const long stores0 = emu_avx512_partial_stores;
    for (int layout = 0; layout < 3; layout++)
        for (size_t im = 0; im < sizeof mrs / sizeof mrs[0]; im++)
            for (size_t in = 0; in < sizeof nrs / sizeof nrs[0]; in++)
                for (size_t ik = 0; ik < sizeof ks / sizeof ks[0]; ik++)
                    for (int ib = 0; ib < 4; ib++)
                        for (int ia = 0; ia < 2; ia++)
                            kernel_case(layout, mrs[im], nrs[in], ks[ik], alphas[ia], betas[ib],
                                        &seed);
    assert_true(emu_avx512_partial_stores > stores0); /* the masked partial-width path ran */
}

/* The AVX-512 arch packs B with the AVX2 packer at nr = 32 (the AVX2 kernel
 * only ever uses 16): it must agree with the portable packer bit for bit. */
static void test_pack_b_nr32(void **state) {
    (void)state;
    if (!have_avx2()) return;
    const int nr = nb__sgemm_avx512.nr;
    assert_true(nb__sgemm_avx512.pack_b == nb__sgemm_pack_b_avx2);
    enum { LD = 101, ROWS = 90 };
    float *b = malloc(LD * ROWS * sizeof *b);
    assert_non_null(b);
    uint64_t seed = 23;
    fill(b, LD * ROWS, &seed, -1, 1);
    static const int kcs[] = {1, 7, 8, 9, 17};
    static const int ncs[] = {1, 8, 31, 32, 33, 64, 70};
    for (int trans = 0; trans < 2; trans++)
        for (size_t ik = 0; ik < sizeof kcs / sizeof kcs[0]; ik++)
            for (size_t in = 0; in < sizeof ncs / sizeof ncs[0]; in++) {
                const int kc = kcs[ik], nc = ncs[in];
                const size_t p0 = 3, j0 = 5;
                const size_t len = (size_t)((nc + nr - 1) / nr) * (size_t)nr * (size_t)kc;
                float *d1 = malloc(len * sizeof *d1), *d2 = malloc(len * sizeof *d2);
                assert_true(d1 && d2);
                for (size_t t = 0; t < len; t++) d1[t] = d2[t] = CANARY;
                nb__sgemm_pack_b_avx2(d1, b, LD, trans, p0, kc, j0, nc, nr);
                nb__sgemm_pack_b_portable(d2, b, LD, trans, p0, kc, j0, nc, nr);
                if (memcmp(d1, d2, len * sizeof *d1) != 0)
                    fail_msg("pack_b nr=32 trans=%d kc=%d nc=%d differs from portable", trans,
                             kc, nc);
                free(d1), free(d2);
            }
    free(b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_unary),
    cmocka_unit_test(test_vecmath_sweep),
    cmocka_unit_test(test_binary),
    cmocka_unit_test(test_sum_leaf_matches_scalar),
    cmocka_unit_test(test_row_kernels),
    cmocka_unit_test(test_sgemm_kernel),
    cmocka_unit_test(test_pack_b_nr32),
};
NB_TEST_MAIN(tests)
