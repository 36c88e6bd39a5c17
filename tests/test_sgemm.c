/* nb_sgemm against a naive double-accumulating reference: all four transpose
 * combinations, odd sizes, alpha/beta (beta = 0 over NaN), padded leading
 * dimensions, unaligned pointers, every dispatch path, 1 and 2 threads,
 * bitwise determinism, the error codes for invalid arguments, and the A
 * packers against their documented layout. */
#include <float.h>

#include "test_util.h"
#include "kernels/kernels.h"

/* One tolerance for every case: |got - ref| <= TOL * (|alpha| Σ_p |a||b| +
 * |beta||c|). Float sums of KC = 256 terms carry at most ~256 ulps of the
 * magnitude in the worst case; a wrong element or index is off by O(1). */
#define TOL (256.0 * FLT_EPSILON)

typedef struct {
    int ta, tb, m, n, k;
    float alpha, beta;
    int pad; /* extra leading-dimension columns */
    int off; /* pointer offset in floats (1 = not 16-byte aligned) */
} gemm_case;

static float *alloc_filled(size_t count, uint64_t *seed) {
    float *p = malloc((count ? count : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < count; i++) p[i] = nbt_uniform(seed, -1.0f, 1.0f);
    return p;
}

/* Runs one case on the current path and thread count, checked against the
 * reference when `check`; returns C (caller frees) so determinism tests can
 * compare runs bitwise. */
static float *run_case_ex(const gemm_case *g, uint64_t seed, int check) {
    const int ar = g->ta ? g->k : g->m, ac = g->ta ? g->m : g->k;
    const int br = g->tb ? g->n : g->k, bc = g->tb ? g->k : g->n;
    const int lda = ac + g->pad > 0 ? ac + g->pad : 1;
    const int ldb = bc + g->pad > 0 ? bc + g->pad : 1;
    const int ldc = g->n + g->pad > 0 ? g->n + g->pad : 1;
    const size_t na = (size_t)ar * lda + g->off, nbb = (size_t)br * ldb + g->off;
    const size_t ncc = (size_t)g->m * ldc + g->off;
    float *abuf = alloc_filled(na, &seed), *bbuf = alloc_filled(nbb, &seed);
    float *cbuf = alloc_filled(ncc, &seed);
    const float *a = abuf + g->off, *b = bbuf + g->off;
    float *c = cbuf + g->off;
    if (g->beta == 0.0f)
        for (int i = 0; i < g->m; i++)
            for (int j = 0; j < g->n; j++) c[(size_t)i * ldc + j] = NAN;
    float *c0 = malloc((ncc ? ncc : 1) * sizeof *c0);
    assert_non_null(c0);
    memcpy(c0, cbuf, ncc * sizeof *c0);

    assert_int_equal(nb_sgemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, a, lda, b, ldb,
                              g->beta, c, ldc),
                     NB_OK);

    const float *c0o = c0 + g->off;
    for (int i = 0; i < g->m && check; i++) {
        for (int j = 0; j < g->n; j++) {
            double s = 0.0, mag = 0.0;
            for (int p = 0; p < g->k; p++) {
                const double x = g->ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                const double y = g->tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += x * y;
                mag += fabs(x * y);
            }
            const double cin = g->beta == 0.0f ? 0.0 : c0o[(size_t)i * ldc + j];
            const double ref = g->alpha * s + g->beta * cin;
            const double tol = TOL * (fabs(g->alpha) * mag + fabs(g->beta * cin)) + 1e-30;
            const double got = c[(size_t)i * ldc + j];
            if (!(fabs(got - ref) <= tol))
                fail_msg("path %s ta=%d tb=%d m=%d n=%d k=%d alpha=%g beta=%g pad=%d off=%d: "
                         "C[%d,%d] = %.9g, expected %.9g (tol %.3g)",
                         nb__cpu_path_name(nb__cpu_path()), g->ta, g->tb, g->m, g->n, g->k,
                         (double)g->alpha, (double)g->beta, g->pad, g->off, i, j, got, ref, tol);
        }
        /* The padding between rows of C must not be touched. */
        for (int j = g->n; j < ldc && i + 1 < g->m; j++)
            if (memcmp(&c[(size_t)i * ldc + j], &c0o[(size_t)i * ldc + j], sizeof(float)))
                fail_msg("m=%d n=%d: padding C[%d,%d] was written", g->m, g->n, i, j);
    }
    free(abuf);
    free(bbuf);
    free(c0);
    /* Hand back a compact copy of C for bitwise comparisons. */
    float *out = malloc(((size_t)g->m * g->n + 1) * sizeof *out);
    assert_non_null(out);
    for (int i = 0; i < g->m; i++) memcpy(out + (size_t)i * g->n, c + (size_t)i * ldc, (size_t)g->n * sizeof *out);
    free(cbuf);
    return out;
}

static float *run_case(const gemm_case *g, uint64_t seed) { return run_case_ex(g, seed, 1); }

static const int small_sizes[] = {1, 3, 7, 17, 31, 33, 65};
static const float alphas[] = {1.0f, -0.5f, 2.0f};
static const float betas[] = {0.0f, 1.0f, -0.5f};

/* Every small (m, n, k) triple, each with all four transpose combinations; the
 * alpha/beta/padding/offset variants rotate so all of them meet all sizes. */
static void sweep_small(void) {
    const int ns = (int)(sizeof small_sizes / sizeof *small_sizes);
    int idx = 0;
    for (int im = 0; im < ns; im++)
        for (int in = 0; in < ns; in++)
            for (int ik = 0; ik < ns; ik++)
                for (int t = 0; t < 4; t++, idx++) {
                    gemm_case g = {t >> 1, t & 1, small_sizes[im], small_sizes[in], small_sizes[ik],
                                   alphas[idx % 3], betas[(idx / 3) % 3], (idx / 9) % 2 ? 5 : 0,
                                   (idx / 5) % 2};
                    free(run_case(&g, 1000u + (uint64_t)idx));
                }
}

/* Sizes across cache blocks and thread splits: 255/257 straddle KC = 256,
 * 1000 spans several KC and MC blocks and uneven thread splits, n = 4200 more
 * than one NC block. Kept near 40 M multiply-adds in all, so the suite stays
 * quick under sanitizers. */
static const gemm_case big_cases[] = {
    {0, 0, 257, 255, 65, 1.0f, 0.0f, 0, 0},    {1, 0, 255, 33, 257, -0.5f, 1.0f, 3, 1},
    {0, 1, 1000, 33, 65, 2.0f, -0.5f, 0, 1},   {1, 1, 33, 1000, 65, 1.0f, 0.0f, 7, 0},
    {0, 1, 17, 257, 1000, 1.0f, 1.0f, 0, 0},   {1, 0, 1000, 17, 65, -0.5f, 0.0f, 1, 1},
    {0, 0, 7, 1000, 257, 1.0f, -0.5f, 0, 1},   {1, 1, 257, 17, 1000, 2.0f, 1.0f, 2, 0},
    {0, 0, 1000, 1000, 3, 1.0f, 0.0f, 0, 0},   {1, 0, 3, 1000, 1000, 1.0f, 1.0f, 0, 1},
    {0, 1, 1000, 1, 255, -0.5f, 0.0f, 0, 0},   {0, 0, 1000, 255, 1, 1.0f, -0.5f, 4, 1},
    {0, 0, 65, 4200, 17, 1.0f, 1.0f, 0, 0},    {1, 1, 31, 4200, 7, -0.5f, 0.0f, 1, 1},
    /* Remainder tiles of at most 4 rows (the AVX2 kernel's shorter loop) under
     * packed A (10 = 6 + 4) and in-place A with sliver-wise packed B (64). */
    {1, 0, 10, 130, 70, 1.0f, 0.0f, 0, 1},     {0, 1, 64, 40, 90, 2.0f, 1.0f, 3, 0},
    /* One tile of C and a long K: enough flops for two threads, work for one. */
    {1, 0, 1, 3, 400000, 1.0f, 0.0f, 0, 1},
    /* Short and wide A·Bᵀ with K ≥ 512, run swapped (Cᵀ = B·Aᵀ): partial
     * tiles both ways, K in one pass and in two (k > 4096: beta, then 1),
     * padding, offsets; and short K, which is not swapped. */
    {0, 1, 37, 2100, 600, 1.5f, 0.5f, 3, 1},   {0, 1, 5, 4200, 520, 1.0f, 0.0f, 0, 0},
    {0, 1, 100, 600, 530, -0.5f, 1.0f, 1, 1},  {0, 1, 9, 2100, 4500, 1.0f, 0.5f, 2, 1},
    {0, 1, 130, 2053, 33, -0.5f, 1.0f, 1, 1},
};

static void sweep_big(void) {
    for (size_t i = 0; i < sizeof big_cases / sizeof *big_cases; i++)
        free(run_case(&big_cases[i], 77u + i));
}

/* Forces `path` (skipping when the CPU lacks it) and runs the sweeps at 1 and
 * 2 threads. The small sweep (under 1 Mflop a case) stays on one thread by
 * design, so it runs once. */
static void check_path(int path) {
    if (nb__set_cpu_path(path) != NB_OK) {
        print_message("[  SKIP    ] this CPU lacks the %s path\n", nb__cpu_path_name(path));
        skip();
    }
    assert_int_equal(nb__cpu_path(), path);
    nb_set_threads(1);
    sweep_small();
    for (int t = 1; t <= 2; t++) {
        nb_set_threads(t);
        sweep_big();
    }
    nb_set_threads(0);
    nb__set_cpu_path(NB_CPU_AUTO);
}

static void test_path_scalar(void **state) { (void)state; check_path(NB_CPU_SCALAR); }
static void test_path_avx2(void **state) { (void)state; check_path(NB_CPU_AVX2); }
static void test_path_avx512(void **state) { (void)state; check_path(NB_CPU_AVX512); }

/* Same inputs twice at the same thread count give bitwise equal C; and since
 * no thread ever splits K, 1 and 2 threads agree bitwise too. */
static void test_determinism(void **state) {
    (void)state;
    const gemm_case cases[] = {{0, 1, 200, 517, 300, 1.0f, 0.0f, 0, 0},
                               {1, 0, 64, 784, 256, 1.0f, 1.0f, 0, 1},
                               {0, 0, 257, 1000, 33, -0.5f, 0.0f, 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nb_set_threads(2);
        float *x = run_case(&cases[i], 5), *y = run_case_ex(&cases[i], 5, 0);
        nb_set_threads(1);
        float *z = run_case_ex(&cases[i], 5, 0);
        const size_t bytes = (size_t)cases[i].m * cases[i].n * sizeof(float);
        assert_memory_equal(x, y, bytes);
        assert_memory_equal(x, z, bytes);
        free(x);
        free(y);
        free(z);
    }
    nb_set_threads(0);
}

/* beta scaling when there is nothing to multiply; A and B are not read. */
/* The swapped A·Bᵀ (K ≥ 512, one pass over K) gives, for every element,
 * exactly the kernel's FMA chain over k in order from zero, then alpha, then
 * beta·C added as the kernel adds it: checked bitwise against that chain in
 * scalar fmaf, at 1 and 2 threads, beta 0, 1, 0.5, alpha 1 and 1.5, on the
 * FMA kernels this CPU has (the portable kernel rounds a·b before adding). */
static void test_swapped_bitwise(void **state) {
    (void)state;
    const int m = 37, n = 2100, k = 600;
    uint64_t seed = 3;
    float *a = alloc_filled((size_t)m * k, &seed), *b = alloc_filled((size_t)n * k, &seed);
    float *c0 = alloc_filled((size_t)m * n, &seed), *c1 = malloc((size_t)m * n * sizeof *c1);
    float *chain = malloc((size_t)m * n * sizeof *chain);
    assert_true(c1 && chain);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++) acc = fmaf(a[(size_t)i * k + p], b[(size_t)j * k + p], acc);
            chain[(size_t)i * n + j] = acc;
        }
    const float betas3[3] = {0.0f, 1.0f, 0.5f}, alphas[2] = {1.0f, 1.5f};
    const int paths[2] = {NB_CPU_AVX2, NB_CPU_AVX512};
    int ran = 0;
    for (int pt = 0; pt < 4; pt++) {
        if (nb__set_cpu_path(paths[pt / 2]) != NB_OK) continue;
        ran++;
        const int t = 1 + pt % 2;
        nb_set_threads(t);
        for (int i = 0; i < 6; i++) {
            const float alpha = alphas[i / 3], beta = betas3[i % 3];
            memcpy(c1, c0, (size_t)m * n * sizeof *c1);
            assert_int_equal(nb_sgemm(0, 1, m, n, k, alpha, a, k, b, k, beta, c1, n), NB_OK);
            for (size_t e = 0; e < (size_t)m * n; e++) {
                const float x = alpha == 1.0f ? chain[e] : alpha * chain[e];
                const float want = beta == 0.0f ? x : beta == 1.0f ? x + c0[e] : fmaf(beta, c0[e], x);
                if (memcmp(&want, &c1[e], sizeof want))
                    fail_msg("swapped A·Bᵀ element %zu: %.9g, the FMA chain gives %.9g (threads %d, "
                             "alpha %g, beta %g)", e, (double)c1[e], (double)want, t,
                             (double)alpha, (double)beta);
            }
        }
    }
    nb_set_threads(0);
    nb__set_cpu_path(NB_CPU_AUTO);
    free(a), free(b), free(c0), free(c1), free(chain);
    if (!ran) {
        print_message("[  SKIP    ] this CPU has no FMA kernel\n");
        skip();
    }
}

static void test_degenerate(void **state) {
    (void)state;
    float c[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    const float nan_ab[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    assert_int_equal(nb_sgemm(0, 0, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 0.0f, c, 3), NB_OK);
    for (int i = 0; i < 6; i++) assert_true(c[i] == 0.0f);
    for (int i = 0; i < 6; i++) c[i] = (float)i;
    assert_int_equal(nb_sgemm(0, 0, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 2.0f, c, 3), NB_OK);
    for (int i = 0; i < 6; i++) assert_true(c[i] == 2.0f * (float)i);
    /* alpha == 0: BLAS does not read A or B, so their NaNs do not reach C. */
    assert_int_equal(nb_sgemm(0, 0, 2, 3, 2, 0.0f, nan_ab, 2, nan_ab, 3, 0.5f, c, 3), NB_OK);
    for (int i = 0; i < 6; i++) assert_true(c[i] == (float)i);
    /* Empty outputs are a no-op, even with NULL pointers. */
    assert_int_equal(nb_sgemm(0, 0, 0, 3, 5, 1.0f, NULL, 5, NULL, 3, 0.0f, NULL, 3), NB_OK);
    assert_int_equal(nb_sgemm(1, 1, 4, 0, 5, 1.0f, NULL, 4, NULL, 5, 0.0f, NULL, 1), NB_OK);
}

static void test_invalid_args(void **state) {
    (void)state;
    float a[64] = {0}, b[64] = {0}, c[64] = {0};
    assert_int_equal(nb_sgemm(0, 0, -1, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2), NB_ERR_ARG);
    assert_int_equal(nb_sgemm(0, 0, 2, -1, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2), NB_ERR_ARG);
    assert_int_equal(nb_sgemm(0, 0, 2, 2, -1, 1.0f, a, 2, b, 2, 0.0f, c, 2), NB_ERR_ARG);
    /* Leading dimensions below the stored width (which the flags decide). */
    assert_int_equal(nb_sgemm(0, 0, 2, 3, 4, 1.0f, a, 3, b, 3, 0.0f, c, 3), NB_ERR_ARG);
    assert_int_equal(nb_sgemm(1, 0, 2, 3, 4, 1.0f, a, 1, b, 3, 0.0f, c, 3), NB_ERR_ARG);
    assert_int_equal(nb_sgemm(0, 0, 2, 3, 4, 1.0f, a, 4, b, 2, 0.0f, c, 3), NB_ERR_ARG);
    assert_int_equal(nb_sgemm(0, 1, 2, 3, 4, 1.0f, a, 4, b, 3, 0.0f, c, 3), NB_ERR_ARG);
    assert_int_equal(nb_sgemm(0, 0, 2, 3, 4, 1.0f, a, 4, b, 3, 0.0f, c, 2), NB_ERR_ARG);
    assert_int_equal(nb_sgemm(0, 0, 2, 3, 4, 1.0f, a, 0, b, 3, 0.0f, c, 3), NB_ERR_ARG);
    /* The same shapes with valid leading dimensions are accepted. */
    assert_int_equal(nb_sgemm(1, 1, 2, 3, 4, 1.0f, a, 2, b, 4, 0.0f, c, 3), NB_OK);
    /* NULL where the sizes say data is read or written. */
    assert_int_equal(nb_sgemm(0, 0, 2, 3, 4, 1.0f, NULL, 4, b, 3, 0.0f, c, 3), NB_ERR_NULL);
    assert_int_equal(nb_sgemm(0, 0, 2, 3, 4, 1.0f, a, 4, NULL, 3, 0.0f, c, 3), NB_ERR_NULL);
    assert_int_equal(nb_sgemm(0, 0, 2, 3, 4, 1.0f, a, 4, b, 3, 0.0f, NULL, 3), NB_ERR_NULL);
}

/* The A packers against the layout kernels.h defines: element (i, p) of op(A)
 * at dst[s*mr*kc + p*mr + (i - s*mr)] for sliver s, zeros past mc, nothing
 * written past the last sliver; both transpose flags, even and odd tile heights
 * (mr = 12 is the AVX-512 arch's, which packs A with the AVX2 packer), k tails
 * and partial slivers. */
#define CANARY 12345.0f
static void check_pack_a(nb__sgemm_pack_a pack, const char *name) {
    enum { LD = 101, ROWS = 90 };
    float *a = malloc(LD * ROWS * sizeof *a);
    assert_non_null(a);
    uint64_t seed = 31;
    for (int t = 0; t < LD * ROWS; t++) a[t] = nbt_uniform(&seed, -1.0f, 1.0f);
    static const int mrs[] = {1, 4, 5, 6, 12};
    static const int kcs[] = {1, 7, 8, 9, 17, 33};
    static const int mcs[] = {1, 3, 5, 6, 7, 13, 24, 25};
    for (size_t im = 0; im < sizeof mrs / sizeof *mrs; im++)
        for (int trans = 0; trans < 2; trans++)
            for (size_t ik = 0; ik < sizeof kcs / sizeof *kcs; ik++)
                for (size_t ic = 0; ic < sizeof mcs / sizeof *mcs; ic++) {
                    const int mr = mrs[im], kc = kcs[ik], mc = mcs[ic];
                    const size_t i0 = 5, p0 = 3;
                    const int ns = (mc + mr - 1) / mr;
                    const size_t len = (size_t)ns * (size_t)mr * (size_t)kc;
                    float *d = malloc((len + 8) * sizeof *d);
                    assert_non_null(d);
                    for (size_t t = 0; t < len + 8; t++) d[t] = CANARY;
                    pack(d, a, LD, trans, i0, mc, p0, kc, mr);
                    for (int s = 0; s < ns; s++)
                        for (int p = 0; p < kc; p++)
                            for (int r = 0; r < mr; r++) {
                                const size_t i = (size_t)(s * mr + r);
                                const float want =
                                    (int)i >= mc ? 0.0f
                                    : trans      ? a[(p0 + (size_t)p) * LD + i0 + i]
                                                 : a[(i0 + i) * LD + p0 + (size_t)p];
                                const float got =
                                    d[(size_t)s * mr * kc + (size_t)p * mr + (size_t)r];
                                if (memcmp(&got, &want, sizeof got))
                                    fail_msg("%s mr=%d trans=%d kc=%d mc=%d: sliver %d (p %d, "
                                             "row %d) = %g, want %g",
                                             name, mr, trans, kc, mc, s, p, r, (double)got,
                                             (double)want);
                            }
                    for (size_t t = len; t < len + 8; t++)
                        if (d[t] != CANARY)
                            fail_msg("%s mr=%d trans=%d kc=%d mc=%d: wrote past the slivers",
                                     name, mr, trans, kc, mc);
                    free(d);
                }
    free(a);
}

static void test_pack_a(void **state) {
    (void)state;
    check_pack_a(nb__sgemm_pack_a_portable, "portable");
    assert_true(nb__sgemm_portable.pack_a == nb__sgemm_pack_a_portable);
#if defined(__x86_64__)
    assert_true(nb__sgemm_avx2.pack_a == nb__sgemm_pack_a_avx2);
    assert_true(nb__sgemm_avx512.pack_a == nb__sgemm_pack_a_avx2);
    if (!nb__cpu_supports(NB_CPU_AVX2)) {
        print_message("[  SKIP    ] this CPU lacks AVX2: the AVX2 packer is not run\n");
        return;
    }
    check_pack_a(nb__sgemm_pack_a_avx2, "avx2");
#endif
}

/* Forcing a path the CPU lacks fails and leaves the current path alone. */
static void test_cpu_path_override(void **state) {
    (void)state;
    const int before = nb__cpu_path();
    assert_int_equal(nb__set_cpu_path(7), NB_ERR_ARG);
    assert_int_equal(nb__set_cpu_path(-2), NB_ERR_ARG);
    assert_int_equal(nb__cpu_path(), before);
    assert_int_equal(nb__set_cpu_path(NB_CPU_SCALAR), NB_OK);
    assert_int_equal(nb__cpu_path(), NB_CPU_SCALAR);
    for (int p = NB_CPU_SCALAR; p <= NB_CPU_AVX512; p++)
        if (!nb__cpu_supports(p)) assert_int_equal(nb__set_cpu_path(p), NB_ERR_ARG);
    assert_int_equal(nb__set_cpu_path(NB_CPU_AUTO), NB_OK);
    assert_int_equal(nb__cpu_path(), before);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_scalar),
        cmocka_unit_test(test_path_avx2),
        cmocka_unit_test(test_path_avx512),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_pack_a),
        cmocka_unit_test(test_swapped_bitwise),
        cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_invalid_args),
        cmocka_unit_test(test_cpu_path_override),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
