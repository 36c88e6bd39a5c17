/* Tests of batch normalisation: gradient checks in training mode (through the
 * batch statistics) and evaluation mode (a fixed affine map), 2-D [N,C,H,W]
 * and 1-D [N,C]; forward values against a double reference; running-statistic
 * updates against hand computation (unbiased variance, momentum, one update
 * per replayed forward); affine=False and no running stats; errors.
 * In training mode the finite-difference forwards of a gradcheck also move the
 * running statistics; the training-mode output does not depend on them, so
 * the check is unaffected (eval-mode checks never move them). */
#include "test_util.h"
#include "nabla/conv.h"

#define ASSERT_ERR(ctx, code, text)                                                        \
    do {                                                                                   \
        assert_int_equal(nb_error(ctx), (code));                                           \
        if (!strstr(nb_error_message(ctx), (text)))                                        \
            fail_msg("message \"%s\" lacks \"%s\"", nb_error_message(ctx), (text));       \
        nb_clear_error(ctx);                                                               \
    } while (0)

/* y = (x − μ)/sqrt(σ² + eps)·γ + β per channel, in double; batch statistics
 * (biased variance) when rm is NULL. Also returns the batch mean and the
 * unbiased batch variance per channel. */
static void ref_bn(int ndim, const int64_t *shape, const float *x, const float *gamma,
                   const float *beta, const float *rm, const float *rv, double eps, double *y,
                   double *bmean, double *bvar_unbiased) {
    const int64_t n = shape[0], c = shape[1];
    int64_t inner = 1;
    for (int d = 2; d < ndim; d++) inner *= shape[d];
    const int64_t m = n * inner;
    for (int64_t ch = 0; ch < c; ch++) {
        double s = 0, ss = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t q = 0; q < inner; q++) s += x[(i * c + ch) * inner + q];
        const double mu = s / m;
        for (int64_t i = 0; i < n; i++)
            for (int64_t q = 0; q < inner; q++) {
                const double d = x[(i * c + ch) * inner + q] - mu;
                ss += d * d;
            }
        bmean[ch] = mu;
        bvar_unbiased[ch] = ss / (m - 1);
        const double use_mu = rm ? rm[ch] : mu, use_var = rv ? rv[ch] : ss / m;
        const double is = 1.0 / sqrt(use_var + eps);
        for (int64_t i = 0; i < n; i++)
            for (int64_t q = 0; q < inner; q++) {
                const int64_t k = (i * c + ch) * inner + q;
                y[k] = (x[k] - use_mu) * is * (gamma ? gamma[ch] : 1.0) + (beta ? beta[ch] : 0.0);
            }
    }
}

/* One batch-norm case: forward values, running-stat update, gradcheck. */
static void bn_case(int ndim, const int64_t *shape, int training, int affine, uint64_t seed) {
    nb_ctx *ctx = nb_ctx_new();
    nb_set_training(ctx, training);
    const int64_t c = shape[1];
    const float momentum = 0.1f, eps = 1e-5f;
    nb_tensor *x = nbt_param(ctx, &seed, -2.0f, 2.0f, ndim, shape);
    nb_tensor *gamma = affine ? nbt_param(ctx, &seed, 0.5f, 1.5f, 1, &c) : NULL;
    nb_tensor *beta = affine ? nbt_param(ctx, &seed, -0.5f, 0.5f, 1, &c) : NULL;
    nb_tensor *rm = nb_tensor_1d(ctx, c), *rv = nb_tensor_1d(ctx, c);
    nbt_fill_uniform(rm, &seed, -0.5f, 0.5f);
    nbt_fill_uniform(rv, &seed, 0.5f, 2.0f);
    float rm0[16], rv0[16];
    assert_true(c <= 16);
    memcpy(rm0, rm->data, (size_t)c * sizeof(float));
    memcpy(rv0, rv->data, (size_t)c * sizeof(float));

    nb_tensor *y = nb_batch_norm(ctx, x, gamma, beta, rm, rv, momentum, eps);
    NBT_ASSERT_OK(ctx);
    double *ry = calloc((size_t)x->size, sizeof(double)), bm[16], bv[16];
    ref_bn(ndim, shape, x->data, gamma ? gamma->data : NULL, beta ? beta->data : NULL,
           training ? NULL : rm0, training ? NULL : rv0, eps, ry, bm, bv);
    for (int64_t i = 0; i < x->size; i++)
        if (!(fabs(y->data[i] - ry[i]) <= 1e-5 * (1 + fabs(ry[i]))))
            fail_msg("y[%lld] = %.8g, reference %.8g", (long long)i, (double)y->data[i], ry[i]);
    for (int64_t ch = 0; ch < c; ch++) {
        const double em = training ? 0.9 * rm0[ch] + 0.1 * bm[ch] : rm0[ch];
        const double ev = training ? 0.9 * rv0[ch] + 0.1 * bv[ch] : rv0[ch];
        if (!(fabs(rm->data[ch] - em) <= 1e-6 && fabs(rv->data[ch] - ev) <= 1e-6 * (1 + ev)))
            fail_msg("running stats[%lld] = %.8g, %.8g, expected %.8g, %.8g", (long long)ch,
                     (double)rm->data[ch], (double)rv->data[ch], em, ev);
    }
    free(ry);
    nb_tensor *wrt[3] = {x, gamma, beta};
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), wrt, affine ? 3 : 1,
                    training ? "batch_norm train" : "batch_norm eval");
    if (!training)
        for (int64_t ch = 0; ch < c; ch++) assert_true(rm->data[ch] == rm0[ch] && rv->data[ch] == rv0[ch]);
    nb_ctx_free(ctx);
}

static void test_batch_norm2d_train(void **state) {
    (void)state;
    bn_case(4, (int64_t[]){3, 4, 3, 2}, 1, 1, 1);
    bn_case(4, (int64_t[]){1, 2, 3, 3}, 1, 1, 2); /* N = 1 is fine with H·W > 1 */
    bn_case(4, (int64_t[]){2, 3, 2, 2}, 1, 0, 3); /* affine=False */
}

static void test_batch_norm2d_eval(void **state) {
    (void)state;
    bn_case(4, (int64_t[]){3, 4, 3, 2}, 0, 1, 4);
    bn_case(4, (int64_t[]){2, 3, 2, 2}, 0, 0, 5);
}

static void test_batch_norm1d_train(void **state) {
    (void)state;
    bn_case(2, (int64_t[]){6, 3}, 1, 1, 6);
    bn_case(3, (int64_t[]){3, 2, 4}, 1, 1, 7); /* [N,C,L] */
    bn_case(2, (int64_t[]){5, 2}, 1, 0, 8);
}

static void test_batch_norm1d_eval(void **state) {
    (void)state;
    bn_case(2, (int64_t[]){6, 3}, 0, 1, 9);
    bn_case(3, (int64_t[]){3, 2, 4}, 0, 0, 10);
}

/* Running statistics by hand: x = 1, 2, 3, 4 in one channel has mean 2.5,
 * biased variance 1.25, unbiased 5/3. Each replayed forward updates once. */
static void test_batch_norm_running_stats(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_2d(ctx, 4, 1);
    nb_tensor_copy_in(x, (const float[]){1, 2, 3, 4}, 4);
    nb_tensor *rm = nb_tensor_1d(ctx, 1), *rv = nb_tensor_1d(ctx, 1);
    rv->data[0] = 1.0f;
    nb_tensor *y = nb_batch_norm(ctx, x, NULL, NULL, rm, rv, 0.1f, 1e-5f);
    NBT_ASSERT_OK(ctx);
    assert_true(fabsf(rm->data[0] - 0.25f) <= 1e-7f);
    assert_true(fabsf(rv->data[0] - (0.9f + 0.1f * 5.0f / 3.0f)) <= 1e-6f);
    /* y = (x − 2.5)/sqrt(1.25 + 1e-5) */
    assert_true(fabsf(y->data[0] - (float)(-1.5 / sqrt(1.25 + 1e-5))) <= 1e-6f);
    assert_true(fabsf(y->data[3] - (float)(1.5 / sqrt(1.25 + 1e-5))) <= 1e-6f);
    nb_graph *g = nb_graph_new(ctx, nb_sum(ctx, y));
    NBT_ASSERT_OK(ctx);
    nb_graph_forward(g);
    assert_true(fabsf(rm->data[0] - (0.9f * 0.25f + 0.25f)) <= 1e-6f);
    assert_true(fabsf(rv->data[0] - (0.9f * (0.9f + 0.1f * 5.0f / 3.0f) + 0.1f * 5.0f / 3.0f)) <= 1e-6f);
    /* evaluation mode uses and keeps them */
    nb_set_training(ctx, 0);
    const float m2 = rm->data[0], v2 = rv->data[0];
    nb_graph_forward(g);
    assert_true(rm->data[0] == m2 && rv->data[0] == v2);
    assert_true(fabsf(y->data[1] - (float)((2.0 - m2) / sqrt((double)v2 + 1e-5))) <= 1e-6f);
    /* momentum 1 keeps only the latest batch; 0 never moves */
    nb_set_training(ctx, 1);
    nb_tensor *rm1 = nb_tensor_1d(ctx, 1), *rv1 = nb_tensor_1d(ctx, 1);
    nb_batch_norm(ctx, x, NULL, NULL, rm1, rv1, 1.0f, 1e-5f);
    assert_true(fabsf(rm1->data[0] - 2.5f) <= 1e-6f && fabsf(rv1->data[0] - 5.0f / 3.0f) <= 1e-6f);
    nb_batch_norm(ctx, x, NULL, NULL, rm1, rv1, 0.0f, 1e-5f);
    assert_true(fabsf(rm1->data[0] - 2.5f) <= 1e-6f && fabsf(rv1->data[0] - 5.0f / 3.0f) <= 1e-6f);
    NBT_ASSERT_OK(ctx);
    nb_ctx_free(ctx);
}

/* Without running statistics both modes normalise with the batch's; the
 * backward follows the mode of the latest forward. */
static void test_batch_norm_no_running(void **state) {
    (void)state;
    uint64_t seed = 20;
    nb_ctx *ctx = nb_ctx_new();
    nb_set_training(ctx, 0);
    const int64_t shape[4] = {2, 3, 2, 3};
    nb_tensor *x = nbt_param(ctx, &seed, -2.0f, 2.0f, 4, shape);
    nb_tensor *gamma = nbt_param(ctx, &seed, 0.5f, 1.5f, 1, (int64_t[]){3});
    nb_tensor *y = nb_batch_norm(ctx, x, gamma, NULL, NULL, NULL, 0.1f, 1e-5f);
    NBT_ASSERT_OK(ctx);
    double ry[36], bm[3], bv[3];
    ref_bn(4, shape, x->data, gamma->data, NULL, NULL, NULL, 1e-5, ry, bm, bv);
    for (int i = 0; i < 36; i++) assert_true(fabs(y->data[i] - ry[i]) <= 1e-5 * (1 + fabs(ry[i])));
    nb_tensor *wrt[2] = {x, gamma};
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), wrt, 2, "batch_norm no running stats");
    nb_ctx_free(ctx);
}

/* Switching to eval after building a training graph: forward and backward
 * both follow the new mode (gradcheck would fail if backward still used the
 * batch-statistics formula). */
static void test_batch_norm_mode_switch(void **state) {
    (void)state;
    uint64_t seed = 30;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nbt_param(ctx, &seed, -2.0f, 2.0f, 2, (int64_t[]){5, 2});
    nb_tensor *gamma = nbt_param(ctx, &seed, 0.5f, 1.5f, 1, (int64_t[]){2});
    nb_tensor *beta = nbt_param(ctx, &seed, -0.5f, 0.5f, 1, (int64_t[]){2});
    nb_tensor *rm = nb_tensor_1d(ctx, 2), *rv = nb_tensor_1d(ctx, 2);
    nb_tensor_fill(rv, 1.0f);
    nb_tensor *loss = nbt_weighted_sum(ctx, nb_batch_norm(ctx, x, gamma, beta, rm, rv, 0.1f, 1e-5f), &seed);
    nb_set_training(ctx, 0);
    nb_tensor *wrt[3] = {x, gamma, beta};
    nbt_check_grads(ctx, loss, wrt, 3, "batch_norm switched to eval");
    nb_ctx_free(ctx);
}

static void test_batch_norm_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_4d(ctx, 2, 3, 4, 4);
    nb_tensor *c3 = nb_tensor_1d(ctx, 3), *c4 = nb_tensor_1d(ctx, 4);
    assert_null(nb_batch_norm(ctx, nb_tensor_1d(ctx, 3), NULL, NULL, NULL, NULL, 0.1f, 1e-5f));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "batch_norm: x must be [N,C], [N,C,L] or [N,C,H,W], got [3]");
    assert_null(nb_batch_norm(ctx, x, c4, NULL, NULL, NULL, 0.1f, 1e-5f));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "batch_norm: gamma must be [3] for x [2,3,4,4], got [4]");
    assert_null(nb_batch_norm(ctx, x, c3, c4, NULL, NULL, 0.1f, 1e-5f));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "batch_norm: beta must be [3] for x [2,3,4,4], got [4]");
    assert_null(nb_batch_norm(ctx, x, NULL, NULL, c3, c4, 0.1f, 1e-5f));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "batch_norm: running_var must be [3] for x [2,3,4,4], got [4]");
    assert_null(nb_batch_norm(ctx, x, NULL, NULL, c3, NULL, 0.1f, 1e-5f));
    ASSERT_ERR(ctx, NB_ERR_NULL, "running_mean and running_var must both be given or both NULL");
    assert_null(nb_batch_norm(ctx, x, NULL, NULL, NULL, NULL, 1.5f, 1e-5f));
    ASSERT_ERR(ctx, NB_ERR_ARG, "batch_norm: momentum 1.5 is outside [0, 1]");
    assert_null(nb_batch_norm(ctx, x, NULL, NULL, NULL, NULL, 0.1f, 0.0f));
    ASSERT_ERR(ctx, NB_ERR_ARG, "batch_norm: eps must be positive, got 0");
    /* one value per channel cannot give a batch variance in training */
    assert_null(nb_batch_norm(ctx, nb_tensor_2d(ctx, 1, 3), NULL, NULL, c3, c3, 0.1f, 1e-5f));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "batch_norm: training needs more than one value per channel, x is [1,3]");
    nb_set_training(ctx, 0); /* but evaluation with running stats is fine */
    nb_tensor *rv = nb_tensor_1d(ctx, 3);
    nb_tensor_fill(rv, 1.0f);
    assert_non_null(nb_batch_norm(ctx, nb_tensor_2d(ctx, 1, 3), NULL, NULL, c3, rv, 0.1f, 1e-5f));
    NBT_ASSERT_OK(ctx);
    nb_ctx *other = nb_ctx_new();
    assert_null(nb_batch_norm(ctx, x, nb_tensor_1d(other, 3), NULL, NULL, NULL, 0.1f, 1e-5f));
    assert_int_not_equal(nb_error(ctx), NB_OK);
    nb_ctx_free(other);
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_batch_norm2d_train),
    cmocka_unit_test(test_batch_norm2d_eval),
    cmocka_unit_test(test_batch_norm1d_train),
    cmocka_unit_test(test_batch_norm1d_eval),
    cmocka_unit_test(test_batch_norm_running_stats),
    cmocka_unit_test(test_batch_norm_no_running),
    cmocka_unit_test(test_batch_norm_mode_switch),
    cmocka_unit_test(test_batch_norm_errors),
};
NB_TEST_MAIN(tests)
