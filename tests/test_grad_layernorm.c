/* layer_norm and rms_norm: forward values and saved statistics against
 * double-precision references, gradient checks with and without gamma/beta
 * (ranks 1-3, last axes shorter and longer than a vector), and error cases. */
#include "test_util.h"
#include "nabla/seq.h"
#include "kernels/kernels.h" /* nb__set_cpu_path */

static const int64_t shapes[][3] = {{7, 0, 0}, {4, 5, 0}, {2, 3, 13}, {3, 37, 0}};
static const int ranks[] = {1, 2, 3, 2};
#define NSHAPES 4

static int64_t last_dim(int s) { return shapes[s][ranks[s] - 1]; }

/* y = (x − mean)/sqrt(var + eps)·gamma + beta (rms: x/sqrt(mean x² + eps)·gamma) in double. */
static void check_forward(int rms, const nb_tensor *x, const nb_tensor *gamma, const nb_tensor *beta,
                          float eps, const nb_tensor *y) {
    const int64_t d = x->shape[x->ndim - 1], rows = x->size / d;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x->data + r * d;
        double mean = 0, var = 0;
        for (int64_t j = 0; j < d; j++) mean += xr[j];
        mean = rms ? 0.0 : mean / (double)d;
        for (int64_t j = 0; j < d; j++) var += ((double)xr[j] - mean) * ((double)xr[j] - mean);
        var /= (double)d;
        const double rstd = 1.0 / sqrt(var + (double)eps);
        for (int64_t j = 0; j < d; j++) {
            double want = ((double)xr[j] - mean) * rstd;
            if (gamma) want *= gamma->data[j];
            if (beta) want += beta->data[j];
            const double got = y->data[r * d + j];
            if (fabs(got - want) > 2e-6 * (1.0 + fabs(want)))
                fail_msg("%s row %lld col %lld: %.9g, want %.9g", rms ? "rms_norm" : "layer_norm",
                         (long long)r, (long long)j, got, want);
        }
    }
}

/* affine: bit 0 gamma, bit 1 beta. */
static void check_layer_norm(int affine, const char *name) {
    uint64_t seed = 11 + (uint64_t)affine;
    for (int s = 0; s < NSHAPES; s++) {
        nb_ctx *ctx = nb_ctx_new();
        const int64_t d = last_dim(s);
        nb_tensor *x = nbt_param(ctx, &seed, -2.0f, 2.0f, ranks[s], shapes[s]);
        nb_tensor *gamma = (affine & 1) ? nbt_param(ctx, &seed, 0.5f, 1.5f, 1, &d) : NULL;
        nb_tensor *beta = (affine & 2) ? nbt_param(ctx, &seed, -1.0f, 1.0f, 1, &d) : NULL;
        nb_tensor *y = nb_layer_norm(ctx, x, gamma, beta, 1e-5f);
        NBT_ASSERT_OK(ctx);
        assert_int_equal(y->ndim, x->ndim);
        for (int i = 0; i < x->ndim; i++) assert_int_equal(y->shape[i], x->shape[i]);
        check_forward(0, x, gamma, beta, 1e-5f, y);
        nb_tensor *wrt[3] = {x};
        int n = 1;
        if (gamma) wrt[n++] = gamma;
        if (beta) wrt[n++] = beta;
        char what[64];
        snprintf(what, sizeof what, "%s shape %d", name, s);
        nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), wrt, n, what);
        nb_ctx_free(ctx);
    }
}

static void test_layer_norm(void **state) {
    (void)state;
    check_layer_norm(3, "layer_norm");
    /* replay with new data: forward is recomputed from the inputs, not cached */
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 5;
    nb_tensor *x = nbt_param(ctx, &seed, -1.0f, 1.0f, 2, (int64_t[]){3, 6});
    nb_tensor *y = nb_layer_norm(ctx, x, NULL, NULL, 1e-5f);
    nb_graph *g = nb_graph_new(ctx, nb_sum(ctx, nb_square(ctx, y)));
    NBT_ASSERT_OK(ctx);
    nbt_fill_uniform(x, &seed, -5.0f, 5.0f);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    check_forward(0, x, NULL, NULL, 1e-5f, y);
    nb_ctx_free(ctx);
}

static void test_layer_norm_noaffine(void **state) {
    (void)state;
    check_layer_norm(0, "layer_norm (no affine)");
    check_layer_norm(1, "layer_norm (gamma only)");
    check_layer_norm(2, "layer_norm (beta only)");
    /* a constant row normalises to beta; x used twice sums both gradients */
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 9;
    nb_tensor *x = nbt_param(ctx, &seed, -1.0f, 1.0f, 2, (int64_t[]){2, 5});
    for (int j = 0; j < 5; j++) x->data[j] = 3.0f;
    nb_tensor *beta = nbt_param(ctx, &seed, -1.0f, 1.0f, 1, (int64_t[]){5});
    nb_tensor *y = nb_layer_norm(ctx, x, NULL, beta, 1e-5f);
    NBT_ASSERT_OK(ctx);
    for (int j = 0; j < 5; j++) assert_float_equal(y->data[j], beta->data[j], 1e-6);
    nbt_fill_uniform(x, &seed, -1.0f, 1.0f);
    nb_tensor *y2 = nb_mul(ctx, nb_layer_norm(ctx, x, NULL, beta, 1e-5f), x);
    nb_tensor *wrt[2] = {x, beta};
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y2, &seed), wrt, 2, "layer_norm(x)·x");
    nb_ctx_free(ctx);
}

static void test_rms_norm(void **state) {
    (void)state;
    uint64_t seed = 23;
    for (int with_gamma = 0; with_gamma < 2; with_gamma++)
        for (int s = 0; s < NSHAPES; s++) {
            nb_ctx *ctx = nb_ctx_new();
            const int64_t d = last_dim(s);
            nb_tensor *x = nbt_param(ctx, &seed, -2.0f, 2.0f, ranks[s], shapes[s]);
            nb_tensor *gamma = with_gamma ? nbt_param(ctx, &seed, 0.5f, 1.5f, 1, &d) : NULL;
            nb_tensor *y = nb_rms_norm(ctx, x, gamma, 1e-6f);
            NBT_ASSERT_OK(ctx);
            check_forward(1, x, gamma, NULL, 1e-6f, y);
            nb_tensor *wrt[2] = {x, gamma};
            char what[64];
            snprintf(what, sizeof what, "rms_norm gamma %d shape %d", with_gamma, s);
            nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), wrt, with_gamma ? 2 : 1, what);
            nb_ctx_free(ctx);
        }
}

/* Rows split across threads, and the portable and AVX2 builds of the row
 * loops, give the same bits; x reaches the norm as xin·xin (exact on every
 * path), so its gradient takes the overwrite path. */
static void test_layer_norm_threads(void **state) {
    (void)state;
    uint64_t seed = 77;
    float *ref[4] = {0};
    const int threads[2] = {1, 3}, paths[2] = {NB_CPU_SCALAR, NB_CPU_AVX2};
    for (int c = 0; c < 4; c++) {
        const int path = paths[c / 2];
        if (nb__set_cpu_path(path) != NB_OK) continue; /* this CPU lacks AVX2 */
        nb_set_threads(threads[c % 2]);
        nb_ctx *ctx = nb_ctx_new();
        uint64_t s = seed;
        nb_tensor *xin = nbt_param(ctx, &s, -2.0f, 2.0f, 2, (int64_t[]){512, 96});
        nb_tensor *gamma = nbt_param(ctx, &s, 0.5f, 1.5f, 1, (int64_t[]){96});
        nb_tensor *beta = nbt_param(ctx, &s, -1.0f, 1.0f, 1, (int64_t[]){96});
        nb_tensor *x = nb_mul(ctx, xin, xin);
        nb_tensor *y = nb_layer_norm(ctx, x, gamma, beta, 1e-5f);
        nb_graph *g = nb_graph_new(ctx, nbt_weighted_sum(ctx, y, &s));
        NBT_ASSERT_OK(ctx);
        assert_int_equal(nb_graph_forward(g), NB_OK);
        assert_int_equal(nb_graph_backward(g), NB_OK);
        const nb_tensor *res[4] = {y, x, gamma, beta};
        for (int i = 0; i < 4; i++) {
            const float *v = i == 0 ? res[i]->data : res[i]->grad;
            if (c == 0) {
                ref[i] = malloc((size_t)res[i]->size * sizeof(float));
                memcpy(ref[i], v, (size_t)res[i]->size * sizeof(float));
            } else if (memcmp(ref[i], v, (size_t)res[i]->size * sizeof(float)) != 0) {
                fail_msg("layer_norm result %d: %s path at %d threads differs from scalar at 1", i,
                         nb__cpu_path_name(path), threads[c % 2]);
            }
        }
        nb_ctx_free(ctx);
    }
    for (int i = 0; i < 4; i++) free(ref[i]);
    nb_set_threads(0);
    nb__set_cpu_path(NB_CPU_AUTO);
}

static void expect_error(nb_ctx *ctx, nb_tensor *r, int code, const char *a, const char *b) {
    assert_null(r);
    assert_int_equal(nb_error(ctx), code);
    const char *msg = nb_error_message(ctx);
    if (!strstr(msg, a) || (b && !strstr(msg, b))) fail_msg("message '%s' lacks '%s'/'%s'", msg, a, b ? b : "");
    nb_clear_error(ctx);
}

static void test_layer_norm_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_2d(ctx, 3, 4);
    nb_tensor *g5 = nb_tensor_1d(ctx, 5), *g4 = nb_tensor_1d(ctx, 4);
    nb_tensor *g2d = nb_tensor_2d(ctx, 1, 4);
    expect_error(ctx, nb_layer_norm(ctx, x, g5, NULL, 1e-5f), NB_ERR_SHAPE, "layer_norm: gamma", "[5]");
    expect_error(ctx, nb_layer_norm(ctx, x, g4, g2d, 1e-5f), NB_ERR_SHAPE, "layer_norm: beta", "[1,4]");
    expect_error(ctx, nb_layer_norm(ctx, nb_scalar(ctx, 1.0f), NULL, NULL, 1e-5f), NB_ERR_SHAPE,
                 "layer_norm", "[]");
    expect_error(ctx, nb_layer_norm(ctx, nb_tensor_2d(ctx, 3, 0), NULL, NULL, 1e-5f), NB_ERR_SHAPE,
                 "layer_norm", "[3,0]");
    expect_error(ctx, nb_layer_norm(ctx, x, NULL, NULL, -1.0f), NB_ERR_ARG, "layer_norm: eps", NULL);
    expect_error(ctx, nb_layer_norm(ctx, NULL, NULL, NULL, 1e-5f), NB_ERR_NULL, "layer_norm", NULL);
    expect_error(ctx, nb_rms_norm(ctx, x, g5, 1e-5f), NB_ERR_SHAPE, "rms_norm: gamma", "[3,4]");
    expect_error(ctx, nb_rms_norm(ctx, x, NULL, NAN), NB_ERR_ARG, "rms_norm: eps", NULL);
    nb_ctx *other = nb_ctx_new();
    expect_error(ctx, nb_layer_norm(ctx, x, nb_tensor_1d(other, 4), NULL, 1e-5f), NB_ERR_ARG,
                 "layer_norm: gamma", "another context");
    nb_ctx_free(other);
    /* a failed context makes later calls no-ops */
    nb_layer_norm(ctx, x, g5, NULL, 1e-5f);
    assert_null(nb_layer_norm(ctx, x, g4, NULL, 1e-5f));
    assert_non_null(strstr(nb_error_message(ctx), "[5]"));
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_layer_norm),
    cmocka_unit_test(test_layer_norm_noaffine),
    cmocka_unit_test(test_rms_norm),
    cmocka_unit_test(test_layer_norm_threads),
    cmocka_unit_test(test_layer_norm_errors),
};
NB_TEST_MAIN(tests)
