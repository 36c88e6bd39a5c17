/* Tests of weight initialisation (src/nn/init.c): gains and fans as in
 * torch.nn.init, and the sample bounds, mean and spread of every scheme
 * against its formula; Linear's and Embedding's default init. */
#include "test_util.h"

typedef struct stats {
    double mean, std, min, max;
} stats;

static stats sample_stats(const nb_tensor *t) {
    double s = 0, s2 = 0;
    stats st = {0, 0, INFINITY, -INFINITY};
    for (int64_t i = 0; i < t->size; i++) {
        double v = t->data[i];
        s += v;
        s2 += v * v;
        st.min = v < st.min ? v : st.min;
        st.max = v > st.max ? v : st.max;
    }
    st.mean = s / (double)t->size;
    st.std = sqrt(s2 / (double)t->size - st.mean * st.mean);
    return st;
}

/* A U(-b, b) sample of n values: inside the bounds, reaching close to them,
 * mean 0 and std b/√3 within 5 standard errors (sd of the std ≈ 0.45σ/√n). */
static void assert_uniform(const nb_tensor *t, double lo, double hi, const char *what) {
    stats st = sample_stats(t);
    double n = (double)t->size, sd = (hi - lo) / sqrt(12.0), span = hi - lo;
    if (!(st.min >= lo && st.max < hi)) fail_msg("%s: [%g, %g] outside [%g, %g)", what, st.min, st.max, lo, hi);
    if (!(st.min < lo + 0.01 * span && st.max > hi - 0.01 * span))
        fail_msg("%s: [%g, %g] does not fill [%g, %g)", what, st.min, st.max, lo, hi);
    if (!(fabs(st.mean - (lo + hi) / 2) < 5 * sd / sqrt(n))) fail_msg("%s: mean %g", what, st.mean);
    if (!(fabs(st.std - sd) < 5 * 0.45 * sd / sqrt(n))) fail_msg("%s: std %g, want %g", what, st.std, sd);
}

/* N(mean, sd²): sample mean and std within 5 standard errors (sd of the std
 * ≈ σ/√(2n)), and a maximum deviation plausible for n normals. */
static void assert_normal(const nb_tensor *t, double mean, double sd, const char *what) {
    stats st = sample_stats(t);
    double n = (double)t->size;
    if (!(fabs(st.mean - mean) < 5 * sd / sqrt(n))) fail_msg("%s: mean %g, want %g", what, st.mean, mean);
    if (!(fabs(st.std - sd) < 5 * sd / sqrt(2 * n))) fail_msg("%s: std %g, want %g", what, st.std, sd);
    if (!(st.max - mean > 3 * sd && mean - st.min > 3 * sd && st.max - mean < 7 * sd))
        fail_msg("%s: range [%g, %g] implausible for N(%g, %g²)", what, st.min, st.max, mean, sd);
}

static void test_gains(void **state) {
    (void)state;
    assert_float_equal(nb_init_gain(NB_NL_LINEAR, 0), 1.0f, 1e-7f);
    assert_float_equal(nb_init_gain(NB_NL_SIGMOID, 0), 1.0f, 1e-7f);
    assert_float_equal(nb_init_gain(NB_NL_TANH, 0), 5.0f / 3.0f, 1e-7f);
    assert_float_equal(nb_init_gain(NB_NL_RELU, 0), 1.41421356f, 1e-6f);
    assert_float_equal(nb_init_gain(NB_NL_LEAKY_RELU, 0.0f), 1.41421356f, 1e-6f);
    assert_float_equal(nb_init_gain(NB_NL_LEAKY_RELU, 0.2f), sqrtf(2.0f / 1.04f), 1e-6f);
    assert_float_equal(nb_init_gain(NB_NL_LEAKY_RELU, sqrtf(5.0f)), sqrtf(1.0f / 3.0f), 1e-6f);
    assert_float_equal(nb_init_gain(NB_NL_SELU, 0), 0.75f, 1e-7f);
}

static void test_fans(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    int64_t in = 0, out = 0;
    assert_int_equal(nb_init_fans(nb_tensor_2d(ctx, 7, 3), &in, &out), NB_OK);
    assert_true(in == 3 && out == 7);
    assert_int_equal(nb_init_fans(nb_tensor_4d(ctx, 16, 8, 3, 5), &in, &out), NB_OK);
    assert_true(in == 8 * 15 && out == 16 * 15);
    assert_int_equal(nb_init_fans(nb_tensor_3d(ctx, 4, 2, 9), &in, &out), NB_OK);
    assert_true(in == 18 && out == 36);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_init_fans(nb_tensor_1d(ctx, 5), &in, &out), NB_ERR_SHAPE);
    assert_non_null(strstr(nb_error_message(ctx), "[5]"));
    nb_ctx_free(ctx);
}

static void test_uniform_normal_constant(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_rng *rng = nb_ctx_rng(ctx);
    nb_tensor *t = nb_tensor_2d(ctx, 200, 300);
    assert_int_equal(nb_init_uniform(t, rng, -0.5f, 2.0f), NB_OK);
    assert_uniform(t, -0.5, 2.0, "uniform");
    assert_int_equal(nb_init_normal(t, rng, 3.0f, 0.25f), NB_OK);
    assert_normal(t, 3.0, 0.25, "normal");
    assert_int_equal(nb_init_zeros(t), NB_OK);
    for (int64_t i = 0; i < t->size; i++) assert_true(t->data[i] == 0.0f);
    assert_int_equal(nb_init_ones(t), NB_OK);
    for (int64_t i = 0; i < t->size; i++) assert_true(t->data[i] == 1.0f);
    assert_int_equal(nb_init_constant(t, -2.5f), NB_OK);
    for (int64_t i = 0; i < t->size; i++) assert_true(t->data[i] == -2.5f);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_init_uniform(t, rng, 1.0f, 0.0f), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_int_equal(nb_init_normal(t, rng, 0.0f, -1.0f), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_int_equal(nb_init_normal(t, NULL, 0.0f, 1.0f), NB_ERR_NULL);
    nb_clear_error(ctx);
    assert_int_equal(nb_init_uniform(NULL, rng, 0.0f, 1.0f), NB_ERR_NULL);
    nb_ctx_free(ctx);
}

static void test_xavier(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_rng *rng = nb_ctx_rng(ctx);
    nb_tensor *w = nb_tensor_2d(ctx, 200, 300); /* fan_in 300, fan_out 200 */
    float gain = 5.0f / 3.0f;
    assert_int_equal(nb_init_xavier_uniform(w, rng, gain), NB_OK);
    double b = gain * sqrt(6.0 / 500.0);
    assert_uniform(w, -b, b, "xavier_uniform");
    assert_int_equal(nb_init_xavier_normal(w, rng, 1.0f), NB_OK);
    assert_normal(w, 0.0, sqrt(2.0 / 500.0), "xavier_normal");
    nb_tensor *conv = nb_tensor_4d(ctx, 64, 32, 3, 3); /* fans 288, 576 */
    assert_int_equal(nb_init_xavier_uniform(conv, rng, 1.0f), NB_OK);
    b = sqrt(6.0 / (288.0 + 576.0));
    assert_uniform(conv, -b, b, "xavier_uniform conv");
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_init_xavier_normal(nb_tensor_1d(ctx, 10), rng, 1.0f), NB_ERR_SHAPE);
    nb_ctx_free(ctx);
}

static void test_kaiming(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_rng *rng = nb_ctx_rng(ctx);
    nb_tensor *w = nb_tensor_2d(ctx, 400, 150); /* fan_in 150, fan_out 400 */
    /* torch default: a = 0, fan_in, leaky_relu -> gain √2 */
    assert_int_equal(nb_init_kaiming_uniform(w, rng, 0.0f, NB_FAN_IN, NB_NL_LEAKY_RELU), NB_OK);
    double b = sqrt(2.0) * sqrt(3.0 / 150.0);
    assert_uniform(w, -b, b, "kaiming_uniform fan_in");
    assert_int_equal(nb_init_kaiming_uniform(w, rng, 0.0f, NB_FAN_OUT, NB_NL_RELU), NB_OK);
    b = sqrt(2.0) * sqrt(3.0 / 400.0);
    assert_uniform(w, -b, b, "kaiming_uniform fan_out relu");
    assert_int_equal(nb_init_kaiming_uniform(w, rng, 0.3f, NB_FAN_IN, NB_NL_LEAKY_RELU), NB_OK);
    b = sqrt(2.0 / 1.09) * sqrt(3.0 / 150.0);
    assert_uniform(w, -b, b, "kaiming_uniform leaky 0.3");
    assert_int_equal(nb_init_kaiming_normal(w, rng, 0.0f, NB_FAN_IN, NB_NL_TANH), NB_OK);
    assert_normal(w, 0.0, (5.0 / 3.0) / sqrt(150.0), "kaiming_normal tanh");
    assert_int_equal(nb_init_kaiming_normal(w, rng, 0.0f, NB_FAN_OUT, NB_NL_RELU), NB_OK);
    assert_normal(w, 0.0, sqrt(2.0) / sqrt(400.0), "kaiming_normal fan_out relu");
    nb_tensor *conv = nb_tensor_4d(ctx, 32, 16, 5, 5); /* fan_in 400 */
    assert_int_equal(nb_init_kaiming_normal(conv, rng, 0.0f, NB_FAN_IN, NB_NL_RELU), NB_OK);
    assert_normal(conv, 0.0, sqrt(2.0 / 400.0), "kaiming_normal conv");
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_init_kaiming_uniform(w, rng, 0.0f, (nb_fan_mode)7, NB_NL_RELU), NB_ERR_ARG);
    nb_ctx_free(ctx);
}

/* Same seed, same call order => the same weights; different seeds differ. */
static void test_init_deterministic(void **state) {
    (void)state;
    float first[60];
    for (int rep = 0; rep < 3; rep++) {
        nb_ctx *ctx = nb_ctx_new();
        nb_rng_seed(nb_ctx_rng(ctx), rep < 2 ? 5 : 6);
        nb_tensor *w = nb_tensor_2d(ctx, 6, 10);
        assert_int_equal(nb_init_kaiming_normal(w, nb_ctx_rng(ctx), 0, NB_FAN_IN, NB_NL_RELU), NB_OK);
        if (rep == 0) memcpy(first, w->data, sizeof first);
        int same = memcmp(first, w->data, sizeof first) == 0;
        assert_int_equal(same, rep < 2);
        nb_ctx_free(ctx);
    }
}

/* torch.nn.Linear: weight and bias both U(-1/√in, 1/√in). */
static void test_linear_default_init(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_linear_layer *l = nb_linear_layer_new(m, "fc", 50, 2000, 1);
    NBT_ASSERT_OK(ctx);
    double b = 1.0 / sqrt(50.0);
    assert_uniform(l->weight, -b, b, "linear weight");
    assert_uniform(l->bias, -b, b, "linear bias");
    nb_ctx_free(ctx);
}

/* torch.nn.Embedding: weight N(0, 1). */
static void test_embedding_default_init(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_embedding_layer *e = nb_embedding_layer_new(m, "emb", 1000, 64);
    NBT_ASSERT_OK(ctx);
    assert_normal(e->weight, 0.0, 1.0, "embedding weight");
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_gains),
    cmocka_unit_test(test_fans),
    cmocka_unit_test(test_uniform_normal_constant),
    cmocka_unit_test(test_xavier),
    cmocka_unit_test(test_kaiming),
    cmocka_unit_test(test_init_deterministic),
    cmocka_unit_test(test_linear_default_init),
    cmocka_unit_test(test_embedding_default_init),
};
NB_TEST_MAIN(tests)
