/* tests/test_clip.c — gradient clipping by global L2 norm (torch's
 * clip_grad_norm_ formula, against a double-precision scalar reference) and
 * by value, and non-finite detection in the loss and gradients with the
 * step and parameter name in the message. (Clipping inside a training loop
 * is also checked against PyTorch in test_optim's golden cases.) */
#include "test_util.h"

static void make_params(nb_ctx *ctx, nb_tensor **p, uint64_t *seed, float scale) {
    p[0] = nb_param_new(ctx, "fc1.weight", 2, (int64_t[]){7, 13});
    p[1] = nb_param_new(ctx, "fc1.bias", 1, (int64_t[]){7});
    p[2] = nb_param_new(ctx, "fc2.weight", 2, (int64_t[]){3, 7});
    NBT_ASSERT_OK(ctx);
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < p[k]->size; i++) p[k]->grad[i] = scale * nbt_uniform(seed, -1, 1);
}

static double ref_norm(nb_tensor **p, int n) {
    double s = 0;
    for (int k = 0; k < n; k++)
        for (int64_t i = 0; i < p[k]->size; i++) s += (double)p[k]->grad[i] * p[k]->grad[i];
    return sqrt(s);
}

static void test_clip_norm_scales(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *p[3];
    uint64_t seed = 5;
    make_params(ctx, p, &seed, 3.0f);
    float before[3][91];
    for (int k = 0; k < 3; k++) memcpy(before[k], p[k]->grad, (size_t)p[k]->size * sizeof(float));
    double want = ref_norm(p, 3);
    float norm = nb_clip_grad_norm(p, 3, 1.5f);
    assert_true(fabs(norm - want) <= 1e-6 * want);
    float coef = 1.5f / ((float)want + 1e-6f);
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < p[k]->size; i++)
            assert_true(fabsf(p[k]->grad[i] - before[k][i] * coef) <= 1e-6f * fabsf(before[k][i]));
    /* the new norm is max_norm (up to the 1e-6 guard) */
    assert_true(fabs(ref_norm(p, 3) - 1.5) < 1e-5);
    nb_ctx_free(ctx);
}

static void test_clip_norm_below_limit_untouched(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *p[3];
    uint64_t seed = 6;
    make_params(ctx, p, &seed, 0.01f);
    float before[91];
    memcpy(before, p[0]->grad, sizeof before);
    double want = ref_norm(p, 3);
    float norm = nb_clip_grad_norm(p, 3, 10.0f);
    assert_true(fabs(norm - want) <= 1e-6 * want);
    assert_memory_equal(before, p[0]->grad, sizeof before);
    /* a parameter without gradient is skipped, a negative max_norm refused */
    nb_tensor *x = nb_tensor_1d(ctx, 4);
    nb_tensor *q[2] = {p[0], x};
    assert_true(nb_clip_grad_norm(q, 2, 10.0f) > 0.0f);
    assert_true(nb_clip_grad_norm(p, 3, -1.0f) == -1.0f);
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_ctx_free(ctx);
}

static void test_clip_norm_nonfinite_left_alone(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *p[3];
    uint64_t seed = 7;
    make_params(ctx, p, &seed, 1.0f);
    p[1]->grad[2] = INFINITY;
    float v = p[0]->grad[0];
    assert_true(isinf(nb_clip_grad_norm(p, 3, 1.0f)));
    assert_true(p[0]->grad[0] == v);
    nb_ctx_free(ctx);
}

static void test_clip_value(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *p[3];
    uint64_t seed = 8;
    make_params(ctx, p, &seed, 2.0f);
    float before[91];
    memcpy(before, p[0]->grad, sizeof before);
    assert_int_equal(nb_clip_grad_value(p, 3, 0.5f), NB_OK);
    int clipped = 0;
    for (int64_t i = 0; i < p[0]->size; i++) {
        float want = before[i] > 0.5f ? 0.5f : before[i] < -0.5f ? -0.5f : before[i];
        assert_true(p[0]->grad[i] == want);
        clipped += want != before[i];
    }
    assert_true(clipped > 10);
    for (int k = 1; k < 3; k++)
        for (int64_t i = 0; i < p[k]->size; i++) assert_true(fabsf(p[k]->grad[i]) <= 0.5f);
    assert_int_equal(nb_clip_grad_value(p, 3, -0.1f), NB_ERR_ARG);
    nb_ctx_free(ctx);
}

static void test_nonfinite_gradient_named(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *p[3];
    uint64_t seed = 9;
    make_params(ctx, p, &seed, 1.0f);
    nb_tensor *loss = nb_scalar(ctx, 0.5f);
    assert_int_equal(nb_check_finite(ctx, 11, loss, p, 3), NB_OK);
    /* the first non-finite one is reported: fc1.bias[3] before fc2.weight[20] */
    p[2]->grad[20] = INFINITY;
    p[1]->grad[3] = NAN;
    assert_int_equal(nb_check_finite(ctx, 12, loss, p, 3), NB_ERR_NONFINITE);
    assert_int_equal(nb_error(ctx), NB_ERR_NONFINITE);
    const char *m = nb_error_message(ctx);
    if (!strstr(m, "step 12") || !strstr(m, "fc1.bias[3]") || !strstr(m, "nan"))
        fail_msg("message: %s", m);
    /* skipping: clear the error and the bad gradient, carry on */
    nb_clear_error(ctx);
    p[1]->grad[3] = 0.0f;
    assert_int_equal(nb_check_finite(ctx, 13, loss, p, 3), NB_ERR_NONFINITE);
    assert_non_null(strstr(nb_error_message(ctx), "fc2.weight[20] = inf"));
    nb_clear_error(ctx);
    p[2]->grad[20] = 1.0f;
    /* large arrays: the block screen must still find a late element */
    int64_t n = 5000;
    nb_tensor *big = nb_param_new(ctx, "big", 1, &n);
    big->grad[4097] = -INFINITY;
    assert_int_equal(nb_check_finite(ctx, 14, NULL, &big, 1), NB_ERR_NONFINITE);
    assert_non_null(strstr(nb_error_message(ctx), "big[4097] = -inf"));
    nb_ctx_free(ctx);
}

static void test_nonfinite_loss(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *p[3];
    uint64_t seed = 10;
    make_params(ctx, p, &seed, 1.0f);
    nb_tensor *loss = nb_scalar(ctx, NAN);
    p[0]->grad[0] = NAN;
    assert_int_equal(nb_check_finite(ctx, 3, loss, p, 3), NB_ERR_NONFINITE);
    const char *m = nb_error_message(ctx);
    if (!strstr(m, "non-finite loss at step 3")) fail_msg("message: %s", m);
    nb_ctx_free(ctx);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clip_norm_scales),
        cmocka_unit_test(test_clip_norm_below_limit_untouched),
        cmocka_unit_test(test_clip_norm_nonfinite_left_alone),
        cmocka_unit_test(test_clip_value),
        cmocka_unit_test(test_nonfinite_gradient_named),
        cmocka_unit_test(test_nonfinite_loss),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
