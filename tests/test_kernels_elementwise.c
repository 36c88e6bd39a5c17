/* The vectorised elementwise kernels against their scalar references on every
 * dispatch path this CPU supports (others are skipped with a message): odd
 * sizes, unaligned pointers, special values, the documented error bounds of
 * the vector math swept against double-precision libm, and bitwise
 * determinism (1 vs 2 threads where the kernel promises it). */
#include <float.h>

#include "test_util.h"
#include "kernels/broadcast.h"
#include "kernels/elementwise.h"
#include "kernels/kernels.h"
#include "kernels/reduce.h"
#include "kernels/softmax.h"
#include "kernels/unary.h"

/* The documented maximum relative errors (elementwise_simd.h,
 * docs/kernels.md), in units of ULP = 2^-24. */
#define ULP (FLT_EPSILON / 2.0)
#define EXP_MAX_REL (2.0 * ULP)
#define LOG_MAX_REL (3.0 * ULP)
#define TANH_MAX_REL (3.0 * ULP)
#define SIGMOID_MAX_REL (4.0 * ULP)
/* GELU (erf form), from a rational Φ: absolute error <= GELU_ABS_X·|x| for
 * every x with a normal result (relative accuracy is lost in the far negative
 * tail, where GELU(x) = x·Φ(x) is far below u·|x|, as in PyTorch's
 * ½x(1 + erf)); relative <= GELU_REL for x >= −1; its derivative within
 * GELU_GRAD_ABS absolutely. Checked once over every float 2^-125 <= |x| <= 20
 * (4.11 u, 5.14 u, 6.27 u at worst); the sweeps here assert them. */
#define GELU_ABS_X (4.5 * ULP)
#define GELU_REL (5.5 * ULP)
#define GELU_GRAD_ABS (6.5 * ULP)
/* Versus the scalar path (libm, itself within ~1 ulp) after a few more
 * roundings of the ops built on these: this is a bound on a difference of two
 * approximations, not a fudge. */
#define VS_SCALAR_REL (20.0 * ULP)

static const int64_t sizes[] = {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 65, 255, 1000, 4099};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))
#define MAXN 4099

/* Runs `body` once per SIMD path this CPU supports (with `path` set), and
 * says which paths it skips. The scalar path is the reference. */
#define FOR_EACH_SIMD_PATH(...)                                                            \
    do {                                                                                   \
        for (int path = NB_CPU_AVX2; path <= NB_CPU_AVX512; path++) {                      \
            if (!nb__cpu_supports(path)) {                                                 \
                print_message("  [skip] %s path: this CPU lacks it\n",                     \
                              nb__cpu_path_name(path));                                    \
                continue;                                                                  \
            }                                                                              \
            __VA_ARGS__;                                                                   \
        }                                                                                  \
        nb__set_cpu_path(NB_CPU_AUTO);                                                     \
    } while (0)

static void use(int path) { assert_int_equal(nb__set_cpu_path(path), NB_OK); }

/* Buffers with one float of slack in front so `off` = 1 makes them unaligned. */
static float *buf(size_t n) {
    float *p = calloc(n + 2, sizeof *p);
    assert_non_null(p);
    return p;
}

static void fill(float *p, int64_t n, uint64_t *s, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) p[i] = nbt_uniform(s, lo, hi);
}

static int same_bits(const float *a, const float *b, int64_t n) {
    return n == 0 || memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* ---- the vector math against double libm, over the whole domain ----------- */

#define SWEEP 1000000

static double rel_err(double got, double want) {
    if (got == want) return 0.0; /* also both infinite */
    return fabs(got - want) / fabs(want);
}

/* Max relative error of the op on `path` over x in [lo, hi] (a uniform or,
 * when geometric, a geometric grid), vs ref(x) in double. With sub_unit > 0,
 * results below FLT_MIN are measured in units of sub_unit instead. */
static double sweep(int path, nb_unop op, double (*ref)(double), float lo, float hi,
                    int geometric, double sub_unit) {
    float *x = buf(SWEEP), *y = buf(SWEEP);
    for (int i = 0; i < SWEEP; i++) {
        double t = (double)i / (SWEEP - 1);
        x[i] = geometric ? (float)(lo * pow((double)hi / lo, t)) : (float)(lo + (hi - lo) * t);
    }
    use(path);
    nb_k_unary(op, SWEEP, x, y, 0.0f, 0.0f);
    double worst = 0.0;
    for (int i = 0; i < SWEEP; i++) {
        double want = ref(x[i]);
        double e = sub_unit > 0 && fabs(want) < FLT_MIN ? fabs(y[i] - want) / sub_unit
                                                           : rel_err(y[i], want);
        if (!(e <= worst)) worst = e; /* NaN counts as worst */
    }
    free(x);
    free(y);
    return worst;
}

static double ref_exp(double x) { return exp(x); }
static double ref_log(double x) { return log(x); }
static double ref_tanh(double x) { return tanh(x); }
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* GELU forward and derivative on `path` over a uniform grid on [lo, hi]
 * against double erfc/exp: worst[0] = max |error|/(u·|x|), worst[1] = max
 * relative error / u over x >= −1, worst[2] = max |derivative error| / u. */
static void sweep_gelu(int path, float lo, float hi, double worst[3]) {
    float *x = buf(SWEEP), *y = buf(SWEEP), *one = buf(SWEEP), *d = buf(SWEEP);
    for (int i = 0; i < SWEEP; i++) {
        x[i] = (float)(lo + (hi - lo) * ((double)i / (SWEEP - 1)));
        one[i] = 1.0f;
    }
    use(path);
    nb_k_unary(NB_UN_GELU_ERF, SWEEP, x, y, 0.0f, 0.0f);
    nb_k_unary_backward(NB_UN_GELU_ERF, SWEEP, x, y, one, d, 0.0f, 0.0f); /* d = 0 + 1·GELU' */
    worst[0] = worst[1] = worst[2] = 0.0;
    for (int i = 0; i < SWEEP; i++) {
        const double xi = x[i], phi = ref_phi(xi), want = xi * phi;
        const double grad = phi + xi * exp(-0.5 * xi * xi) / 2.50662827463100050242;
        const double err = fabs(y[i] - want);
        double e[3] = {xi == 0.0 ? (y[i] == 0.0f ? 0.0 : INFINITY) : err / (ULP * fabs(xi)),
                       xi >= -1.0 ? rel_err(y[i], want) / ULP : 0.0, fabs(d[i] - grad) / ULP};
        for (int k = 0; k < 3; k++)
            if (!(e[k] <= worst[k])) worst[k] = e[k]; /* NaN counts as worst */
    }
    free(x), free(y), free(one), free(d);
}

static void check_bound(const char *what, const char *path, double worst, double bound) {
    print_message("  %-8s %-6s max error %.3g (bound %.3g)\n", what, path, worst, bound);
    if (!(worst <= bound))
        fail_msg("%s on %s: max error %g > documented %g", what, path, worst, bound);
}

static void test_vecmath_error_bounds(void **state) {
    (void)state;
    nb_set_threads(2);
    FOR_EACH_SIMD_PATH({
        const char *p = nb__cpu_path_name(path);
        check_bound("exp", p, sweep(path, NB_UN_EXP, ref_exp, -87.3f, 88.72f, 0, 0), EXP_MAX_REL);
        /* subnormal results: within one subnormal step (2^-149) */
        check_bound("exp-sub", p,
                    sweep(path, NB_UN_EXP, ref_exp, -103.9f, -87.3f, 0, FLT_TRUE_MIN), 1.0);
        check_bound("log", p, sweep(path, NB_UN_LOG, ref_log, 1e-45f, 3e38f, 1, 0), LOG_MAX_REL);
        check_bound("log~1", p, sweep(path, NB_UN_LOG, ref_log, 0.5f, 2.0f, 0, 0), LOG_MAX_REL);
        check_bound("tanh", p, sweep(path, NB_UN_TANH, ref_tanh, -10.0f, 10.0f, 0, 0),
                    TANH_MAX_REL);
        check_bound("tanh~0", p, sweep(path, NB_UN_TANH, ref_tanh, 1e-30f, 1.0f, 1, 0),
                    TANH_MAX_REL);
        check_bound("sigmoid", p, sweep(path, NB_UN_SIGMOID, ref_sigmoid, -87.0f, 40.0f, 0, 0),
                    SIGMOID_MAX_REL);
        /* GELU over the clamp points (±5.5, ±6) and well past them */
        double g[3];
        sweep_gelu(path, -12.0f, 12.0f, g);
        check_bound("gelu|x|", p, g[0] * ULP, GELU_ABS_X);
        check_bound("gelu", p, g[1] * ULP, GELU_REL);
        check_bound("gelu'", p, g[2] * ULP, GELU_GRAD_ABS);
        sweep_gelu(path, -1.0f, 1.0f, g); /* finer near 0, where the relative bound is tight */
        check_bound("gelu~0", p, g[1] * ULP, GELU_REL);
        check_bound("gelu'~0", p, g[2] * ULP, GELU_GRAD_ABS);
    });
    nb_set_threads(0);
}

/* Large arguments, infinities and NaN on every path: no overflow, no
 * spurious NaN, NaN in -> NaN out. */
static void test_vecmath_special_values(void **state) {
    (void)state;
    const float in[] = {-1000.0f, -200.0f, -100.0f, 0.0f, -0.0f, 100.0f, 1000.0f, INFINITY,
                        -INFINITY, NAN, 88.8f, -104.0f};
    const int n = (int)(sizeof in / sizeof in[0]);
    float y[16];
    FOR_EACH_SIMD_PATH({
        use(path);
        nb_k_unary(NB_UN_EXP, n, in, y, 0, 0);
        assert_true(y[0] == 0.0f && y[1] == 0.0f && y[3] == 1.0f && y[4] == 1.0f);
        assert_true(y[2] > 0.0f && fabs(y[2] - exp(-100.0)) <= FLT_TRUE_MIN); /* subnormal, kept */
        assert_true(isinf(y[5]) && isinf(y[6]) && isinf(y[7]) && y[8] == 0.0f && isnan(y[9]));
        assert_true(isinf(y[10]) && y[11] == 0.0f);
        nb_k_unary(NB_UN_SIGMOID, n, in, y, 0, 0);
        assert_true(y[0] == 0.0f && y[6] == 1.0f && y[7] == 1.0f && y[8] == 0.0f && isnan(y[9]));
        assert_true(y[3] == 0.5f && y[5] == 1.0f && y[2] > 0.0f);
        assert_true(fabs(y[2] - exp(-100.0)) <= FLT_TRUE_MIN);
        nb_k_unary(NB_UN_TANH, n, in, y, 0, 0);
        assert_true(y[0] == -1.0f && y[6] == 1.0f && y[7] == 1.0f && y[8] == -1.0f && isnan(y[9]));
        assert_true(y[3] == 0.0f && !signbit(y[3]) && y[4] == 0.0f && signbit(y[4]));
        nb_k_unary(NB_UN_LOG, n, in, y, 0, 0);
        assert_true(isnan(y[0]) && isinf(y[3]) && y[3] < 0 && isinf(y[7]) && y[7] > 0);
        assert_true(isnan(y[8]) && isnan(y[9]) && rel_err(y[5], log(100.0)) < 1e-6);
        nb_k_unary(NB_UN_GELU_ERF, n, in, y, 0, 0);
        assert_true(y[0] == 0.0f && y[6] == 1000.0f && y[3] == 0.0f && isnan(y[9]));
        assert_true(isinf(y[7]) && y[7] > 0 && y[8] == 0.0f && signbit(y[8])); /* −inf -> −0 */
        assert_true(y[4] == 0.0f && signbit(y[4]) && signbit(y[2]) && y[2] > -1e-30f);
        {
            float one[16], d[16];
            for (int i = 0; i < n; i++) one[i] = 1.0f, d[i] = 0.25f;
            nb_k_unary_backward(NB_UN_GELU_ERF, n, in, y, one, d, 0, 0);
            /* GELU' is 0 at −inf, 1 at +inf, ½ at ±0 */
            assert_true(d[0] == 0.25f && d[8] == 0.25f && d[7] == 1.25f && d[6] == 1.25f);
            assert_true(d[3] == 0.75f && d[4] == 0.75f && isnan(d[9]));
        }
        nb_k_unary(NB_UN_GELU_TANH, n, in, y, 0, 0);
        assert_true(y[0] == 0.0f && y[6] == 1000.0f && y[3] == 0.0f && isnan(y[9]));
        nb_k_unary(NB_UN_RELU, n, in, y, 0, 0);
        assert_true(y[0] == 0.0f && y[6] == 1000.0f && isnan(y[9]) && signbit(y[4]));
        /* softmax of ±1e3 logits, and a NaN row stays NaN */
        const float z[6] = {1000.0f, -1000.0f, 999.0f, 1.0f, NAN, 2.0f};
        float p[6];
        nb_k_softmax(z, 2, 3, 1, p);
        assert_true(fabs(p[0] - 1.0 / (1.0 + exp(-1.0))) < 1e-6 && p[1] == 0.0f);
        assert_true(isnan(p[3]) && isnan(p[4]) && isnan(p[5]));
        nb_k_log_softmax(z, 1, 3, 1, p);
        assert_true(isfinite(p[0]) && fabs(p[1] - (-2000.0 - log1p(exp(-1.0)))) < 1e-3);
    });
    /* the scalar reference agrees on GELU at ±inf: −0 and 0 slope at −inf */
    use(NB_CPU_SCALAR);
    const float gx[4] = {-INFINITY, INFINITY, -30.0f, NAN}, one[4] = {1, 1, 1, 1};
    float gy[4], gd[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    nb_k_unary(NB_UN_GELU_ERF, 4, gx, gy, 0, 0);
    nb_k_unary_backward(NB_UN_GELU_ERF, 4, gx, gy, one, gd, 0, 0);
    assert_true(gy[0] == 0.0f && signbit(gy[0]) && isinf(gy[1]) && gy[1] > 0 && gy[2] == 0.0f);
    assert_true(isnan(gy[3]) && gd[0] == 0.25f && gd[1] == 1.25f && gd[2] == 0.25f && isnan(gd[3]));
    nb__set_cpu_path(NB_CPU_AUTO);
}

/* ---- every kernel against its scalar reference ------------------------------ */

typedef struct {
    nb_unop op;
    float p0, p1, lo, hi;
    int exact; /* no transcendental part: bitwise equal to the scalar loop */
} un_case;

static const un_case un_cases[] = {
    {NB_UN_NEG, 0, 0, -3, 3, 1},          {NB_UN_SCALE, 1.7f, 0, -3, 3, 1},
    {NB_UN_ADD_SCALAR, -0.3f, 0, -3, 3, 1}, {NB_UN_EXP, 0, 0, -20, 20, 0},
    {NB_UN_LOG, 0, 0, 1e-3f, 50, 0},      {NB_UN_SQRT, 0, 0, 0, 9, 1},
    {NB_UN_SQUARE, 0, 0, -3, 3, 1},       {NB_UN_ABS, 0, 0, -3, 3, 1},
    {NB_UN_CLAMP, -0.5f, 0.7f, -2, 2, 1}, {NB_UN_SIGMOID, 0, 0, -30, 30, 0},
    {NB_UN_TANH, 0, 0, -6, 6, 0},         {NB_UN_RELU, 0, 0, -3, 3, 1},
    {NB_UN_LEAKY_RELU, 0.01f, 0, -3, 3, 1}, {NB_UN_GELU_ERF, 0, 0, -9, 6, 0},
    {NB_UN_GELU_TANH, 0, 0, -9, 6, 0},
};

/* |got − want| <= VS_SCALAR_REL · (|want| + |g|·(1 + |x| + x²)): the second
 * term covers derivatives like x·φ(x) and ½x(1 − t²)u' whose parts cancel. */
static void assert_close(const float *got, const float *want, const float *x, const float *g,
                         int64_t n, const char *what, int64_t size, const char *path) {
    for (int64_t i = 0; i < n; i++) {
        double xi = x ? fabs(x[i]) : 0.0, gi = g ? fabs(g[i]) : 1.0;
        double tol = VS_SCALAR_REL * (fabs(want[i]) + gi * (1.0 + xi + xi * xi)) + 1e-37;
        if (!(fabs((double)got[i] - want[i]) <= tol))
            fail_msg("%s n=%lld [%lld] on %s: %.9g vs scalar %.9g", what, (long long)size,
                     (long long)i, path, (double)got[i], (double)want[i]);
    }
}

static void test_unary_vs_scalar(void **state) {
    (void)state;
    nb_set_threads(1);
    float *x = buf(MAXN), *y = buf(MAXN), *dy = buf(MAXN), *rx = buf(MAXN), *ry = buf(MAXN);
    float *dxs = buf(MAXN), *dxv = buf(MAXN), *yv = buf(MAXN);
    uint64_t seed = 11;
    FOR_EACH_SIMD_PATH({
        for (size_t c = 0; c < sizeof un_cases / sizeof un_cases[0]; c++) {
            const un_case *u = &un_cases[c];
            assert_true(nb__ew_unary_vectorised(u->op));
            for (int s = 0; s < NSIZES; s++)
                for (int off = 0; off < 2; off++) {
                    const int64_t n = sizes[s];
                    float *xo = x + off, *yo = yv + off, *dxo = dxv + off;
                    fill(xo, n, &seed, u->lo, u->hi);
                    fill(dy, n, &seed, -1, 1);
                    fill(dxs, n, &seed, -1, 1);
                    memcpy(dxo, dxs, (size_t)n * sizeof *dxs);
                    yo[n] = 12345.0f; /* must survive: no store past n */
                    use(NB_CPU_SCALAR);
                    nb_k_unary(u->op, n, xo, ry, u->p0, u->p1);
                    nb_k_unary_backward(u->op, n, xo, ry, dy, dxs, u->p0, u->p1);
                    use(path);
                    nb_k_unary(u->op, n, xo, yo, u->p0, u->p1);
                    nb_k_unary_backward(u->op, n, xo, ry, dy, dxo, u->p0, u->p1);
                    assert_true(yo[n] == 12345.0f);
                    if (u->exact) {
                        if (!same_bits(yo, ry, n) || !same_bits(dxo, dxs, n))
                            fail_msg("unary %d n=%lld off=%d on %s differs from scalar", u->op,
                                     (long long)n, off, nb__cpu_path_name(path));
                    } else {
                        assert_close(yo, ry, xo, NULL, n, "unary fwd", n, nb__cpu_path_name(path));
                        assert_close(dxo, dxs, xo, dy, n, "unary bwd", n, nb__cpu_path_name(path));
                    }
                }
        }
    });
    free(x), free(y), free(dy), free(rx), free(ry), free(dxs), free(dxv), free(yv);
    nb_set_threads(0);
}

/* nb_k_unary_backward_store over a poisoned dx is bitwise the accumulating
 * backward over zeros, for every op, on the scalar and every SIMD path, at 1
 * and 2 threads (the store kernels: relu and GELU; the rest clear first). */
static void test_unary_backward_store(void **state) {
    (void)state;
    float *x = buf(MAXN), *y = buf(MAXN), *dy = buf(MAXN), *acc = buf(MAXN), *st = buf(MAXN);
    uint64_t seed = 21;
    const int64_t big = 200003; /* enough work for two threads */
    float *bx = malloc((size_t)big * sizeof *bx), *bdy = malloc((size_t)big * sizeof *bdy);
    float *bacc = malloc((size_t)big * sizeof *bacc), *bst = malloc((size_t)big * sizeof *bst);
    float *by = malloc((size_t)big * sizeof *by);
    assert_true(bx && bdy && bacc && bst && by);
    for (int path = NB_CPU_SCALAR; path <= NB_CPU_AVX512; path++) {
        if (!nb__cpu_supports(path)) continue;
        use(path);
        for (size_t c = 0; c < sizeof un_cases / sizeof un_cases[0]; c++) {
            const un_case *u = &un_cases[c];
            for (int s = 0; s < NSIZES; s++) {
                const int64_t n = sizes[s];
                fill(x, n, &seed, u->lo, u->hi);
                fill(dy, n, &seed, -1, 1);
                nb_k_unary(u->op, n, x, y, u->p0, u->p1);
                memset(acc, 0, (size_t)n * sizeof *acc);
                for (int64_t i = 0; i < n; i++) st[i] = NAN;
                st[n] = 777.0f; /* no store past n */
                nb_k_unary_backward(u->op, n, x, y, dy, acc, u->p0, u->p1);
                nb_k_unary_backward_store(u->op, n, x, y, dy, st, u->p0, u->p1);
                if (!same_bits(st, acc, n) || st[n] != 777.0f)
                    fail_msg("unary %d backward store n=%lld on %s differs from += over zeros",
                             u->op, (long long)n, nb__cpu_path_name(path));
            }
            for (int t = 1; t <= 2; t++) {
                nb_set_threads(t);
                fill(bx, big, &seed, u->lo, u->hi);
                fill(bdy, big, &seed, -1, 1);
                nb_k_unary(u->op, big, bx, by, u->p0, u->p1);
                memset(bacc, 0, (size_t)big * sizeof *bacc);
                for (int64_t i = 0; i < big; i++) bst[i] = NAN;
                nb_k_unary_backward(u->op, big, bx, by, bdy, bacc, u->p0, u->p1);
                nb_k_unary_backward_store(u->op, big, bx, by, bdy, bst, u->p0, u->p1);
                if (!same_bits(bst, bacc, big))
                    fail_msg("unary %d backward store (%d threads) on %s differs", u->op, t,
                             nb__cpu_path_name(path));
            }
            nb_set_threads(0);
        }
    }
    nb__set_cpu_path(NB_CPU_AUTO);
    free(x), free(y), free(dy), free(acc), free(st), free(bx), free(bdy), free(bacc), free(bst);
    free(by);
}

/* Binary ops on [R, C] against same-shape, row-broadcast ([C]), column-
 * broadcast ([R, 1]) and scalar operands: forward and both gradients are
 * bitwise the scalar path's (the broadcast gradients sum in the same order). */
static void test_binary_vs_scalar(void **state) {
    (void)state;
    nb_set_threads(1);
    const int64_t R = 3;
    float *a = buf(R * MAXN), *b = buf(R * MAXN), *g = buf(R * MAXN), *o1 = buf(R * MAXN);
    float *o2 = buf(R * MAXN), *da1 = buf(R * MAXN), *da2 = buf(R * MAXN);
    float *db1 = buf(R * MAXN), *db2 = buf(R * MAXN);
    uint64_t seed = 5;
    FOR_EACH_SIMD_PATH({
        for (int op = NB_BIN_ADD; op <= NB_BIN_DIV; op++)
            for (int s = 0; s < NSIZES; s++)
                for (int kind = 0; kind < 4; kind++) {
                    const int64_t C = sizes[s], shape[2] = {R, C}, total = R * C;
                    const int off = (kind + s) & 1;
                    const int64_t sa[2] = {C, 1};
                    int64_t sb[2] = {C, 1}, nb = total; /* 0: same shape */
                    if (kind == 1) sb[0] = 0, nb = C;              /* [C]   */
                    if (kind == 2) sb[0] = 1, sb[1] = 0, nb = R;   /* [R,1] */
                    if (kind == 3) sb[0] = sb[1] = 0, nb = 1;      /* []    */
                    float *ao = a + off, *bo = b + off;
                    fill(ao, total, &seed, -2, 2);
                    fill(bo, nb, &seed, 0.5f, 2);
                    fill(g, total, &seed, -1, 1);
                    fill(da1, total, &seed, -1, 1);
                    fill(db1, nb, &seed, -1, 1);
                    memcpy(da2 + off, da1, (size_t)total * sizeof *da1);
                    memcpy(db2 + off, db1, (size_t)nb * sizeof *db1);
                    use(NB_CPU_SCALAR);
                    nb_k_binary((nb_binop)op, 2, shape, o1, ao, sa, bo, sb);
                    nb_k_binary_backward((nb_binop)op, 2, shape, g, o1, ao, sa, da1, bo, sb, db1);
                    use(path);
                    nb_k_binary((nb_binop)op, 2, shape, o2 + off, ao, sa, bo, sb);
                    nb_k_binary_backward((nb_binop)op, 2, shape, g, o1, ao, sa, da2 + off, bo, sb,
                                         db2 + off);
                    if (!same_bits(o1, o2 + off, total) || !same_bits(da1, da2 + off, total) ||
                        !same_bits(db1, db2 + off, nb))
                        fail_msg("binary op %d kind %d C=%lld on %s differs from scalar", op, kind,
                                 (long long)C, nb__cpu_path_name(path));
                }
    });
    free(a), free(b), free(g), free(o1), free(o2), free(da1), free(da2), free(db1), free(db2);
    nb_set_threads(0);
}

/* Sums are bitwise the same on every path and every thread count, and within
 * the pairwise bound of a double reference. */
static void test_sum_vs_scalar(void **state) {
    (void)state;
    const int64_t big = 300007; /* above the threading threshold */
    float *x = buf(big + 1), *rows = buf(3 * MAXN);
    uint64_t seed = 3;
    fill(x, big + 1, &seed, -1, 2);
    int64_t ns[NSIZES + 1];
    memcpy(ns, sizes, sizeof sizes);
    ns[NSIZES] = big;
    for (int s = 0; s <= NSIZES; s++)
        for (int off = 0; off < 2; off++) {
            const int64_t n = ns[s];
            nb_set_threads(1);
            use(NB_CPU_SCALAR);
            const float ref = nb_k_sum(x + off, n);
            double d = 0.0, mag = 0.0;
            for (int64_t i = 0; i < n; i++) d += x[off + i], mag += fabs(x[off + i]);
            assert_true(fabs(ref - d) <= (NB_SUM_BLOCK / NB_SUM_LANES + 20) * ULP * mag + 1e-30);
            FOR_EACH_SIMD_PATH({
                for (int t = 1; t <= 2; t++) {
                    nb_set_threads(t);
                    use(path);
                    const float v = nb_k_sum(x + off, n);
                    if (memcmp(&v, &ref, sizeof v) != 0)
                        fail_msg("sum n=%lld on %s, %d threads: %.9g vs scalar %.9g",
                                 (long long)n, nb__cpu_path_name(path), t, (double)v, (double)ref);
                }
            });
        }
    /* row sums ([R, n] along axis 1) and column sums (inner > 1) */
    for (int s = 0; s < NSIZES; s++) {
        const int64_t n = sizes[s];
        float r1[8], r2[8];
        fill(rows, 3 * n, &seed, -1, 1);
        nb_set_threads(1);
        use(NB_CPU_SCALAR);
        nb_k_sum_axis(rows + 1, 3, n, 1, r1);
        FOR_EACH_SIMD_PATH({
            use(path);
            nb_k_sum_axis(rows + 1, 3, n, 1, r2);
            assert_true(same_bits(r1, r2, 3));
            nb_k_sum_axis(rows, 1, n, 3, r2); /* strided columns stay correct */
            for (int i = 0; i < 3; i++) {
                double d = 0.0;
                for (int64_t k = 0; k < n; k++) d += rows[k * 3 + i];
                assert_true(fabs(r2[i] - d) <= 1e-5 * (1.0 + (double)n));
            }
        });
    }
    free(x), free(rows);
    nb_set_threads(0);
}

/* Softmax / log-softmax rows, their backward passes, cross-entropy forward,
 * backward and the fused form: vector vs scalar (double sums) within the exp
 * bound plus float-lane summation error of n/W terms. */
static void test_softmax_xent_vs_scalar(void **state) {
    (void)state;
    nb_set_threads(1);
    const int64_t R = 3;
    float *x = buf(R * MAXN), *dy = buf(R * MAXN), *y1 = buf(R * MAXN), *y2 = buf(R * MAXN);
    float *d1 = buf(R * MAXN), *d2 = buf(R * MAXN), *d3 = buf(R * MAXN), lab[3];
    float lse1[3], lse2[3], lse3[3];
    uint64_t seed = 9;
    FOR_EACH_SIMD_PATH({
        const char *pn = nb__cpu_path_name(path);
        for (int s = 1; s < NSIZES; s++) {
            const int64_t n = sizes[s], total = R * n;
            /* summation over n terms in float lanes: n/W·ulp worst case */
            const double tol = EXP_MAX_REL + 16 * ULP + (double)n / 8.0 * ULP;
            float *xo = x + (s & 1);
            fill(xo, total, &seed, -8, 8);
            fill(dy, total, &seed, -1, 1);
            for (int r = 0; r < R; r++) lab[r] = (float)((r * 7 + 1) % n);
            for (int kind = 0; kind < 2; kind++) {
                use(NB_CPU_SCALAR);
                if (kind == 0) nb_k_softmax(xo, R, n, 1, y1);
                else nb_k_log_softmax(xo, R, n, 1, y1);
                use(path);
                if (kind == 0) nb_k_softmax(xo, R, n, 1, y2);
                else nb_k_log_softmax(xo, R, n, 1, y2);
                for (int64_t i = 0; i < total; i++)
                    if (!(fabs(y2[i] - y1[i]) <= tol * (fabs(y1[i]) + (kind ? 8.0 : 0.0))))
                        fail_msg("%s n=%lld on %s: %g vs %g", kind ? "log_softmax" : "softmax",
                                 (long long)n, pn, (double)y2[i], (double)y1[i]);
                fill(d1, total, &seed, -1, 1);
                memcpy(d2, d1, (size_t)total * sizeof *d1);
                use(NB_CPU_SCALAR);
                if (kind == 0) nb_k_softmax_backward(y1, dy, R, n, 1, d1);
                else nb_k_log_softmax_backward(y1, dy, R, n, 1, d1);
                use(path);
                if (kind == 0) nb_k_softmax_backward(y1, dy, R, n, 1, d2);
                else nb_k_log_softmax_backward(y1, dy, R, n, 1, d2);
                for (int64_t i = 0; i < total; i++)
                    if (!(fabs(d2[i] - d1[i]) <=
                          tol * (fabs(d1[i]) + 1.0 + (kind ? (double)n : 0.0))))
                        fail_msg("%s backward n=%lld on %s: %g vs %g",
                                 kind ? "log_softmax" : "softmax", (long long)n, pn,
                                 (double)d2[i], (double)d1[i]);
            }
            for (int e = 0; e < 2; e++) {
                const float eps = e ? 0.1f : 0.0f, scale = 0.37f;
                fill(d1, total, &seed, -1, 1);
                memcpy(d2, d1, (size_t)total * sizeof *d1);
                memcpy(d3, d1, (size_t)total * sizeof *d1);
                use(NB_CPU_SCALAR);
                double l1 = nb_k_cross_entropy(xo, lab, R, n, eps, lse1);
                nb_k_cross_entropy_backward(xo, lab, lse1, R, n, eps, scale, d1);
                use(path);
                double l2 = nb_k_cross_entropy(xo, lab, R, n, eps, lse2);
                nb_k_cross_entropy_backward(xo, lab, lse2, R, n, eps, scale, d2);
                double l3 = nb_k_cross_entropy_fused(xo, lab, R, n, eps, scale, lse3, d3);
                assert_true(fabs(l2 - l1) <= tol * R * 16.0 && l2 == l3);
                assert_true(same_bits(lse2, lse3, R));
                for (int r = 0; r < R; r++) assert_true(fabs(lse2[r] - lse1[r]) <= tol * 16.0);
                /* the fused gradient uses exp(z − max)/Σ, the backward exp(z − lse):
                 * both within the bound of the scalar reference */
                for (int64_t i = 0; i < total; i++)
                    if (!(fabs(d2[i] - d1[i]) <= tol * 16.0 * (fabs(d1[i]) + scale)) ||
                        !(fabs(d3[i] - d1[i]) <= tol * 16.0 * (fabs(d1[i]) + scale)))
                        fail_msg("xent grad n=%lld on %s: %g / fused %g vs %g", (long long)n, pn,
                                 (double)d2[i], (double)d3[i], (double)d1[i]);
            }
        }
    });
    free(x), free(dy), free(y1), free(y2), free(d1), free(d2), free(d3);
    nb_set_threads(0);
}

/* exp and sigmoid run in blocks, fast unless a block holds an input out of
 * the fast form's range, then redone: the bits must not depend on where an
 * element sits, on the block it shares, or on computing in place. */
static void test_blocked_maps_match(void **state) {
    (void)state;
    nb_set_threads(1);
    const int64_t n = 3001;
    float *x = buf(n), *y = buf(n), *z = buf(n), one;
    uint64_t seed = 31;
    fill(x, n, &seed, -10, 10);
    const float far[] = {-100.0f, -95.0f, -88.0f, 87.9f, 88.5f, 100.0f, INFINITY, -INFINITY, NAN};
    for (int k = 0; k < 9; k++) x[(int64_t)(nbt_rand_u32(&seed) % (uint32_t)(n / 2))] = far[k];
    const nb_unop ops[2] = {NB_UN_EXP, NB_UN_SIGMOID};
    FOR_EACH_SIMD_PATH({
        use(path);
        for (int o = 0; o < 2; o++) {
            nb_k_unary(ops[o], n, x, y, 0, 0);
            memcpy(z, x, (size_t)n * sizeof *z);
            nb_k_unary(ops[o], n, z, z, 0, 0); /* in place */
            for (int64_t i = 0; i < n; i++) {
                nb_k_unary(ops[o], 1, x + i, &one, 0, 0);
                if (memcmp(&one, y + i, sizeof one) != 0 || memcmp(z + i, y + i, sizeof one) != 0)
                    fail_msg("op %d on %s: x[%lld] = %g gives %a alone, %a in the array, %a in "
                             "place", ops[o], nb__cpu_path_name(path), (long long)i,
                             (double)x[i], (double)one, (double)y[i], (double)z[i]);
            }
        }
    });
    free(x), free(y), free(z);
    nb_set_threads(0);
}

/* The row kernels fetch the next row's max (and min) while they exponentiate
 * a row, keep the terms on the stack and write each row's output during the
 * next one's sweep: bitwise the same as doing each row alone with max,
 * exp_sum, scale (or sub), at 1 and 2 threads, in place too, for rows that
 * take the tested exp (spread beyond 87.5), hold NaN or −inf, or are too wide
 * for the stack buffers. */
typedef struct {
    float (*max)(const float *, int64_t);
    float (*exp_sum)(const float *, int64_t, float, float *);
    void (*scale)(const float *, int64_t, float, float *);
    void (*sub)(const float *, int64_t, float, float *);
} row_ref_fns;

static void test_rows_pipelined_match(void **state) {
    (void)state;
    const int64_t ns[] = {1, 7, 8, 17, 1000, 2049, 4099}, R = 40;
    float *x = buf(R * 4099), *y = buf(R * 4099), *ref = buf(R * 4099), *z = buf(R * 4099);
    float *d = buf(R * 4099), *ref_ls = buf(R * 4099), *e = buf(4099);
    float lab[40], lse[40], lse_ref[40];
    uint64_t seed = 41;
    FOR_EACH_SIMD_PATH({
        row_ref_fns f = {nb__ew_max_avx2, nb__ew_exp_sum_avx2, nb__ew_scale_avx2, nb__ew_sub_avx2};
        if (path == NB_CPU_AVX512)
            f = (row_ref_fns){nb__ew_max_avx512, nb__ew_exp_sum_avx512, nb__ew_scale_avx512,
                              nb__ew_sub_avx512};
        use(path);
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            const int64_t n = ns[k], total = R * n;
            fill(x, total, &seed, -6, 6);
            for (int64_t r = 0; r < R; r++) lab[r] = (float)(r % n);
            for (int64_t i = 0; i < n; i++) x[3 * n + i] = -200.0f * (float)i / (float)n; /* far */
            x[5 * n + n / 2] = NAN;
            x[7 * n] = -INFINITY;
            for (int64_t i = 0; i < n; i++) x[9 * n + i] = -INFINITY; /* all −inf */
            x[11 * n + n - 1] = -100.0f;
            for (int64_t r = 0; r < R; r++) { /* the reference: each row alone */
                const float *xr = x + r * n;
                const float m = f.max(xr, n);
                const float s = f.exp_sum(xr, n, m, ref + r * n);
                f.scale(ref + r * n, n, 1.0f / s, ref + r * n);
                lse_ref[r] = isnan(m) ? m : isinf(m) ? (m < 0 ? m : NAN) : m + logf(s);
                f.sub(xr, n, lse_ref[r], ref_ls + r * n);
            }
            for (int t = 1; t <= 2; t++) {
                nb_set_threads(t);
                nb_k_softmax(x, R, n, 1, y);
                memcpy(z, x, (size_t)total * sizeof *z);
                nb_k_softmax(z, R, n, 1, z);
                if (!same_bits(y, ref, total) || !same_bits(z, ref, total))
                    fail_msg("softmax n=%lld, %d threads on %s: rows differ from row-alone",
                             (long long)n, t, nb__cpu_path_name(path));
                nb_k_log_softmax(x, R, n, 1, y);
                if (!same_bits(y, ref_ls, total))
                    fail_msg("log_softmax n=%lld, %d threads on %s", (long long)n, t,
                             nb__cpu_path_name(path));
                (void)nb_k_cross_entropy(x, lab, R, n, 0.1f, lse);
                assert_true(same_bits(lse, lse_ref, R));
                /* fused: terms e = exp(z − max) as exp_sum's, dz += s·(e·(1/Σ) − eps/C);
                 * rows too wide for its stack buffer: forward then backward */
                memset(d, 0, (size_t)total * sizeof *d);
                (void)nb_k_cross_entropy_fused(x, lab, R, n, 0.1f, 0.5f, lse, d);
                assert_true(same_bits(lse, lse_ref, R));
                if (n > NB_XENT_STACK_ROW) {
                    memset(y, 0, (size_t)total * sizeof *y);
                    nb_k_cross_entropy_backward(x, lab, lse, R, n, 0.1f, 0.5f, y);
                    assert_true(same_bits(d, y, total));
                    continue;
                }
                for (int64_t r = 0; r < R; r++) {
                    const float *xr = x + r * n;
                    const float m = f.max(xr, n);
                    if (!isfinite(m)) continue; /* the exp(z − lse) fallback: NaN or inf rows */
                    const float s = f.exp_sum(xr, n, m, e), inv = 1.0f / s;
                    for (int64_t i = 0; i < n; i++) {
                        float want = 0.0f + 0.5f * (e[i] * inv - 0.1f / (float)n);
                        if (i == (int64_t)lab[r]) want -= 0.5f * (1.0f - 0.1f);
                        if (memcmp(&want, d + r * n + i, sizeof want) != 0)
                            fail_msg("fused xent n=%lld row %lld [%lld] on %s: %a vs %a",
                                     (long long)n, (long long)r, (long long)i,
                                     nb__cpu_path_name(path), (double)d[r * n + i], (double)want);
                    }
                }
            }
        }
    });
    free(x), free(y), free(ref), free(z), free(d), free(ref_ls), free(e);
    nb_set_threads(0);
}

/* Same input twice with 2 threads (sizes above the threading threshold) ->
 * identical bits, on every path; and the same bits as 1 thread, since no
 * kernel here lets the split change an operation. */
static void test_determinism_two_threads(void **state) {
    (void)state;
    const int64_t n = 1 << 19, R = 512, C = n / R, tot = 3 * n + 8;
    float *x = buf(n), *y = buf(n), *out[3], lab[512], lse[512];
    for (int k = 0; k < 3; k++) out[k] = buf(tot);
    uint64_t seed = 21;
    fill(x, n, &seed, -4, 4);
    fill(y, n, &seed, -4, 4);
    for (int r = 0; r < R; r++) lab[r] = (float)(r % C);
    const int64_t shape[2] = {R, C}, s_full[2] = {C, 1}, s_row[2] = {0, 1};
    for (int path = NB_CPU_SCALAR; path <= NB_CPU_AVX512; path++) {
        if (!nb__cpu_supports(path)) {
            print_message("  [skip] %s path: this CPU lacks it\n", nb__cpu_path_name(path));
            continue;
        }
        use(path);
        for (int k = 0; k < 3; k++) {
            nb_set_threads(k == 2 ? 1 : 2);
            float *A = out[k], *B = A + n, *Cb = B + n, *tail = Cb + n;
            memset(A, 0, (size_t)tot * sizeof *A);
            nb_k_unary(NB_UN_GELU_ERF, n, x, A, 0, 0);
            nb_k_unary_backward(NB_UN_TANH, n, x, y, y, B, 0, 0);
            nb_k_binary(NB_BIN_MUL, 2, shape, Cb, A, s_full, y, s_row);
            nb_k_binary_backward(NB_BIN_DIV, 2, shape, y, Cb, x, s_full, A, y, s_full, B);
            nb_k_softmax(Cb, R, C, 1, Cb);
            nb_k_log_softmax_backward(y, x, R, C, 1, A);
            tail[0] = nb_k_sum(A, n);
            tail[1] = (float)nb_k_cross_entropy_fused(x, lab, R, C, 0.1f, 0.5f, lse, B);
            nb_k_sum_axis(Cb, 4, n / 4, 1, tail + 2);
        }
        if (!same_bits(out[0], out[1], tot))
            fail_msg("%s: two runs with 2 threads differ", nb__cpu_path_name(path));
        if (!same_bits(out[0], out[2], tot))
            fail_msg("%s: 1 and 2 threads differ", nb__cpu_path_name(path));
    }
    nb__set_cpu_path(NB_CPU_AUTO);
    nb_set_threads(0);
    free(x), free(y);
    for (int k = 0; k < 3; k++) free(out[k]);
}

/* The threading threshold: the kernels must give the same answers when the
 * job is just below and above it (a chunking bug shows up at the edges). */
static void test_threaded_chunks_match(void **state) {
    (void)state;
    const int64_t ns[] = {131071, 131072, 131073, 262161};
    float *x = buf(262161 + 1), *y1 = buf(262161 + 1), *y2 = buf(262161 + 1);
    uint64_t seed = 8;
    fill(x, 262161 + 1, &seed, -3, 3);
    for (int i = 0; i < 4; i++) {
        nb_set_threads(1);
        nb_k_unary(NB_UN_SIGMOID, ns[i], x + 1, y1, 0, 0);
        nb_set_threads(2);
        y2[ns[i]] = -7.0f;
        nb_k_unary(NB_UN_SIGMOID, ns[i], x + 1, y2, 0, 0);
        assert_true(same_bits(y1, y2, ns[i]) && y2[ns[i]] == -7.0f);
    }
    nb_set_threads(0);
    free(x), free(y1), free(y2);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_vecmath_error_bounds),
    cmocka_unit_test(test_vecmath_special_values),
    cmocka_unit_test(test_unary_vs_scalar),
    cmocka_unit_test(test_unary_backward_store),
    cmocka_unit_test(test_binary_vs_scalar),
    cmocka_unit_test(test_sum_vs_scalar),
    cmocka_unit_test(test_softmax_xent_vs_scalar),
    cmocka_unit_test(test_blocked_maps_match),
    cmocka_unit_test(test_rows_pipelined_match),
    cmocka_unit_test(test_determinism_two_threads),
    cmocka_unit_test(test_threaded_chunks_match),
};
NB_TEST_MAIN(tests)
