/* softmax and log_softmax: forward values against a double-precision
 * reference along every axis of 2-D and 3-D tensors, gradient checks, and
 * stability (logits of ±1000 give finite, correct values; rows sum to 1). */
#include "test_util.h"

static const int64_t shapes[][3] = {{4, 5, 0}, {2, 3, 4}, {1, 6, 2}};
static const int ranks[] = {2, 3, 3};
#define NSHAPES 3

/* Reference (log-)softmax of x viewed as [outer, n, inner], in double. */
static double ref_value(int logp, const float *x, int64_t n, int64_t inner, int64_t o,
                        int64_t k, int64_t i) {
    double m = -INFINITY;
    for (int64_t j = 0; j < n; j++) m = fmax(m, (double)x[(o * n + j) * inner + i]);
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) s += exp((double)x[(o * n + j) * inner + i] - m);
    double v = (double)x[(o * n + k) * inner + i] - m - log(s);
    return logp ? v : exp(v);
}

static void check(int logp, const char *name) {
    uint64_t seed = 101 + (uint64_t)logp;
    for (int s = 0; s < NSHAPES; s++) {
        int nd = ranks[s];
        int axes[] = {0, 1, -1, nd == 3 ? 2 : -2};
        for (int ai = 0; ai < 4; ai++) {
            int axis = axes[ai], a = axis < 0 ? axis + nd : axis;
            nb_ctx *ctx = nb_ctx_new();
            nb_tensor *x = nbt_param(ctx, &seed, -3.0f, 3.0f, nd, shapes[s]);
            nb_tensor *y = logp ? nb_log_softmax(ctx, x, axis) : nb_softmax(ctx, x, axis);
            NBT_ASSERT_OK(ctx);
            assert_int_equal(y->ndim, nd);
            int64_t outer = 1, inner = 1, n = shapes[s][a];
            for (int d = 0; d < a; d++) outer *= shapes[s][d];
            for (int d = a + 1; d < nd; d++) inner *= shapes[s][d];
            for (int64_t o = 0; o < outer; o++)
                for (int64_t k = 0; k < n; k++)
                    for (int64_t i = 0; i < inner; i++) {
                        double ref = ref_value(logp, x->data, n, inner, o, k, i);
                        assert_float_equal(y->data[(o * n + k) * inner + i], ref, 1e-5 * (1 + fabs(ref)));
                    }
            nb_tensor *loss = nbt_weighted_sum(ctx, y, &seed);
            char what[64];
            snprintf(what, sizeof what, "%s rank %d axis %d", name, nd, axis);
            nbt_check_grads(ctx, loss, &x, 1, what);
            nb_ctx_free(ctx);
        }
    }
}

/* Logits far outside exp's float range: exp(1000) overflows, so only a
 * max-subtracted form gives these numbers. */
static void check_stability(int logp) {
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_2d(ctx, 3, 3);
    float v[9] = {1000, 999, 998, -1000, -1001, -1002, 1000, -1000, 0};
    nb_tensor_copy_in(x, v, 9);
    nb_tensor *y = logp ? nb_log_softmax(ctx, x, -1) : nb_softmax(ctx, x, 1);
    NBT_ASSERT_OK(ctx);
    /* rows 0 and 1 are both the pattern (0, -1, -2) shifted */
    double s = 1.0 + exp(-1.0) + exp(-2.0);
    double want[9] = {-log(s), -1 - log(s), -2 - log(s), -log(s), -1 - log(s), -2 - log(s),
                      0, -2000, -1000};
    for (int i = 0; i < 9; i++) {
        assert_true(isfinite(y->data[i]));
        double w = logp ? want[i] : exp(want[i]);
        assert_float_equal(y->data[i], w, 1e-5 * (1 + fabs(w)));
    }
    if (!logp)
        for (int r = 0; r < 3; r++)
            assert_float_equal(y->data[3 * r] + y->data[3 * r + 1] + y->data[3 * r + 2], 1.0f, 1e-6);
    nb_ctx_free(ctx);
}

static void test_softmax(void **state) {
    (void)state;
    check(0, "softmax");
    check_stability(0);
    /* rows of random logits sum to 1 along the chosen axis */
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 7;
    nb_tensor *x = nbt_param(ctx, &seed, -20.0f, 20.0f, 3, (int64_t[]){3, 17, 5});
    nb_tensor *y = nb_softmax(ctx, x, 1);
    NBT_ASSERT_OK(ctx);
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 5; i++) {
            double s = 0;
            for (int k = 0; k < 17; k++) s += y->data[(o * 17 + k) * 5 + i];
            assert_float_equal(s, 1.0, 1e-5);
        }
    nb_ctx_free(ctx);
}

static void test_log_softmax(void **state) {
    (void)state;
    check(1, "log_softmax");
    check_stability(1);
}

static void test_softmax_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_2d(ctx, 2, 3);
    assert_null(nb_softmax(ctx, x, 2));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(ctx), "softmax"));
    nb_clear_error(ctx);
    assert_null(nb_log_softmax(ctx, nb_scalar(ctx, 1.0f), 0));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_softmax),
    cmocka_unit_test(test_log_softmax),
    cmocka_unit_test(test_softmax_errors),
};
NB_TEST_MAIN(tests)
