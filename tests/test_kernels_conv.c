/* test_kernels_conv.c — im2col and col2im against plain loops written from
 * their definitions, over geometries that take the contiguous "same width"
 * path (stride 1, output as wide as the input) and ones that do not, on the
 * portable path and on AVX2 (whose same-width loops must give the same bits). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "kernels/conv.h"
#include "kernels/kernels.h" /* nb__set_cpu_path */

typedef struct {
    int64_t c, h, w, kh, kw, sh, sw, ph, pw, dh, dw;
} geom_case;

static const geom_case cases[] = {
    {2, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1}, /* same: the CNN's conv2 */
    {1, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1}, /* same: conv1 */
    {3, 7, 9, 5, 5, 1, 1, 2, 2, 1, 1},   /* same, 5x5 */
    {2, 6, 8, 3, 3, 1, 1, 2, 2, 2, 2},   /* same, dilated */
    {2, 5, 6, 1, 3, 1, 1, 0, 1, 1, 1},   /* same, 1x3 */
    {2, 3, 4, 3, 3, 1, 1, 1, 1, 1, 1},   /* same, tiny planes */
    {2, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1},   /* same, ow = 8: one AVX2 vector per row */
    {1, 5, 13, 3, 3, 1, 1, 1, 1, 1, 1},  /* same, ow = 13: vectors span rows, p % 8 = 1 */
    {2, 4, 9, 5, 5, 1, 1, 2, 2, 1, 1},   /* same, two padding columns per side */
    {1, 3, 10, 7, 3, 1, 1, 3, 1, 1, 1},  /* same, taps that read only padding */
    {2, 10, 12, 3, 3, 1, 1, 2, 2, 2, 2}, /* same, dilated, ow = 12 */
    {2, 9, 9, 3, 3, 1, 1, 0, 0, 1, 1},   /* valid: general path */
    {2, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1},   /* strided */
    {1, 6, 7, 3, 2, 1, 2, 1, 0, 2, 1},   /* mixed */
};

static nb_k_conv_geom make_geom(const geom_case *c) {
    nb_k_conv_geom g = {.c = c->c, .h = c->h, .w = c->w, .kh = c->kh, .kw = c->kw, .sh = c->sh,
                        .sw = c->sw, .ph = c->ph, .pw = c->pw, .dh = c->dh, .dw = c->dw};
    g.oh = (c->h + 2 * c->ph - c->dh * (c->kh - 1) - 1) / c->sh + 1;
    g.ow = (c->w + 2 * c->pw - c->dw * (c->kw - 1) - 1) / c->sw + 1;
    return g;
}

/* Input pixel (ci, yy, xx) that column row r, position q reads, or -1. */
static int64_t source(const nb_k_conv_geom *g, int64_t r, int64_t q) {
    const int64_t ci = r / (g->kh * g->kw), i = r / g->kw % g->kh, j = r % g->kw;
    const int64_t y = q / g->ow, x = q % g->ow;
    const int64_t yy = y * g->sh - g->ph + i * g->dh, xx = x * g->sw - g->pw + j * g->dw;
    if (yy < 0 || yy >= g->h || xx < 0 || xx >= g->w) return -1;
    return (ci * g->h + yy) * g->w + xx;
}

/* One path's im2col and col2im of every case, checked against the
 * definition; out receives each case's col then dx, for the paths'
 * comparison. */
static void check_path(float **out) {
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const nb_k_conv_geom g = make_geom(&cases[t]);
        const int64_t ns = 2, xs = g.c * g.h * g.w, p = g.oh * g.ow, rows = g.c * g.kh * g.kw;
        const int64_t ldcol = ns * p + 3; /* wider than the columns, as the API allows */
        float *x = malloc((size_t)(ns * xs) * sizeof(float));
        float *col = malloc((size_t)(rows * ldcol) * sizeof(float));
        float *dcol = malloc((size_t)(rows * ldcol) * sizeof(float));
        float *dx = malloc((size_t)(ns * xs) * sizeof(float));
        double *ref = malloc((size_t)(ns * xs) * sizeof(double));
        assert_true(x && col && dcol && dx && ref);
        uint64_t seed = 100 + t;
        for (int64_t i = 0; i < ns * xs; i++) x[i] = nbt_uniform(&seed, -1, 1);
        for (int64_t i = 0; i < rows * ldcol; i++) col[i] = 99.0f; /* must all be overwritten */
        nb_k_im2col(&g, ns, x, xs, col, ldcol);
        for (int64_t s = 0; s < ns; s++)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t q = 0; q < p; q++) {
                    const int64_t src = source(&g, r, q);
                    const float want = src < 0 ? 0.0f : x[s * xs + src];
                    if (col[r * ldcol + s * p + q] != want)
                        fail_msg("case %zu: im2col row %lld col %lld: %g, want %g", t, (long long)r,
                                 (long long)(s * p + q), col[r * ldcol + s * p + q], want);
                }
        /* col2im: every column entry added to the pixel it came from (if any) */
        for (int64_t i = 0; i < rows * ldcol; i++) dcol[i] = nbt_uniform(&seed, -1, 1);
        for (int64_t i = 0; i < ns * xs; i++) dx[i] = ref[i] = (float)(i % 5) * 0.25f;
        for (int64_t s = 0; s < ns; s++)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t q = 0; q < p; q++) {
                    const int64_t src = source(&g, r, q);
                    if (src >= 0) ref[s * xs + src] += dcol[r * ldcol + s * p + q];
                }
        nb_k_col2im_acc(&g, ns, dcol, ldcol, dx, xs);
        for (int64_t i = 0; i < ns * xs; i++)
            if (fabs(dx[i] - ref[i]) > 1e-5)
                fail_msg("case %zu: col2im pixel %lld: %g, want %g", t, (long long)i, dx[i], ref[i]);
        out[t] = malloc((size_t)(rows * ldcol + ns * xs) * sizeof(float));
        memcpy(out[t], col, (size_t)(rows * ldcol) * sizeof(float));
        memcpy(out[t] + rows * ldcol, dx, (size_t)(ns * xs) * sizeof(float));
        free(x), free(col), free(dcol), free(dx), free(ref);
    }
}

enum { NCASES = sizeof cases / sizeof cases[0] };

static void test_im2col_col2im_reference(void **state) {
    (void)state;
    float *portable[NCASES], *avx2[NCASES];
    assert_int_equal(nb__set_cpu_path(NB_CPU_SCALAR), NB_OK);
    check_path(portable);
    const int have_avx2 = nb__set_cpu_path(NB_CPU_AVX2) == NB_OK;
    if (have_avx2) {
        check_path(avx2);
        for (size_t t = 0; t < NCASES; t++) {
            const nb_k_conv_geom g = make_geom(&cases[t]);
            const int64_t p = g.oh * g.ow, n = g.c * g.kh * g.kw * (2 * p + 3) + 2 * g.c * g.h * g.w;
            if (memcmp(portable[t], avx2[t], (size_t)n * sizeof(float)))
                fail_msg("case %zu: the AVX2 im2col/col2im differ from the portable loops", t);
            free(avx2[t]);
        }
    }
    nb__set_cpu_path(NB_CPU_AUTO);
    for (size_t t = 0; t < NCASES; t++) free(portable[t]);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_im2col_col2im_reference),
};
NB_TEST_MAIN(tests)
