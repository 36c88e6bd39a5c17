/* Reductions: forward values of sum/mean/max (all and per axis, every axis of
 * several ranks, keepdim 0/1) against double-precision references, their
 * gradient checks, first-index tie breaking for max, and error cases. */
#include "test_util.h"

enum kind { SUM, MEAN, MAX };

static const int64_t shapes[][4] = {{7, 0, 0, 0}, {3, 5, 0, 0}, {2, 3, 4, 0}, {2, 1, 3, 2}};
static const int ranks[] = {1, 2, 3, 4};
#define NSHAPES 4

/* Values a random permutation of 0.05·k − 1: distinct, with gaps wider than
 * the finite-difference step so the argmax does not move during the check. */
static void fill_distinct(nb_tensor *t, uint64_t *seed) {
    for (int64_t i = 0; i < t->size; i++) t->data[i] = 0.05f * (float)i - 1.0f;
    for (int64_t i = t->size - 1; i > 0; i--) {
        int64_t j = (int64_t)(nbt_rand_u32(seed) % (uint32_t)(i + 1));
        float tmp = t->data[i];
        t->data[i] = t->data[j];
        t->data[j] = tmp;
    }
}

/* Reference reduction over x viewed as [outer, n, inner], in double. */
static double ref_reduce(enum kind k, const float *x, int64_t n, int64_t inner, int64_t o,
                         int64_t i) {
    double acc = k == MAX ? -INFINITY : 0.0;
    for (int64_t j = 0; j < n; j++) {
        double v = x[(o * n + j) * inner + i];
        if (k == MAX) acc = v > acc ? v : acc;
        else acc += v;
    }
    return k == MEAN ? acc / (double)n : acc;
}

static nb_tensor *apply_all(nb_ctx *ctx, enum kind k, nb_tensor *x) {
    return k == SUM ? nb_sum(ctx, x) : k == MEAN ? nb_mean(ctx, x) : nb_max(ctx, x);
}
static nb_tensor *apply_axis(nb_ctx *ctx, enum kind k, nb_tensor *x, int axis, int keepdim) {
    return k == SUM    ? nb_sum_axis(ctx, x, axis, keepdim)
           : k == MEAN ? nb_mean_axis(ctx, x, axis, keepdim)
                       : nb_max_axis(ctx, x, axis, keepdim);
}

static void check_all(enum kind k, const char *name) {
    uint64_t seed = 11 + (uint64_t)k;
    for (int s = 0; s < NSHAPES; s++) {
        nb_ctx *ctx = nb_ctx_new();
        nb_tensor *x = nbt_param(ctx, &seed, -2.0f, 2.0f, ranks[s], shapes[s]);
        if (k == MAX) fill_distinct(x, &seed);
        nb_tensor *y = apply_all(ctx, k, x);
        NBT_ASSERT_OK(ctx);
        assert_int_equal(y->ndim, 0);
        assert_int_equal(y->size, 1);
        double ref = ref_reduce(k, x->data, x->size, 1, 0, 0);
        assert_float_equal(y->data[0], ref, 1e-5 * (1.0 + fabs(ref)));
        /* a scalar output still goes through the weighted sum, to scale the gradient */
        nb_tensor *loss = nbt_weighted_sum(ctx, y, &seed);
        nbt_check_grads(ctx, loss, &x, 1, name);
        nb_ctx_free(ctx);
    }
}

static void check_axis(enum kind k, const char *name) {
    uint64_t seed = 23 + (uint64_t)k;
    for (int s = 0; s < NSHAPES; s++) {
        int nd = ranks[s];
        for (int axis = -nd; axis < nd; axis++) {
            for (int keepdim = 0; keepdim <= 1; keepdim++) {
                nb_ctx *ctx = nb_ctx_new();
                nb_tensor *x = nbt_param(ctx, &seed, -2.0f, 2.0f, nd, shapes[s]);
                if (k == MAX) fill_distinct(x, &seed);
                nb_tensor *y = apply_axis(ctx, k, x, axis, keepdim);
                NBT_ASSERT_OK(ctx);
                int a = axis < 0 ? axis + nd : axis;
                /* shape: the axis dropped, or kept as 1 */
                assert_int_equal(y->ndim, keepdim ? nd : nd - 1);
                for (int d = 0, j = 0; d < nd; d++) {
                    if (d == a && !keepdim) continue;
                    assert_int_equal(y->shape[j], d == a ? 1 : shapes[s][d]);
                    j++;
                }
                int64_t outer = 1, inner = 1, n = shapes[s][a];
                for (int d = 0; d < a; d++) outer *= shapes[s][d];
                for (int d = a + 1; d < nd; d++) inner *= shapes[s][d];
                for (int64_t o = 0; o < outer; o++)
                    for (int64_t i = 0; i < inner; i++) {
                        double ref = ref_reduce(k, x->data, n, inner, o, i);
                        assert_float_equal(y->data[o * inner + i], ref, 1e-5 * (1.0 + fabs(ref)));
                    }
                nb_tensor *loss = nbt_weighted_sum(ctx, y, &seed);
                char what[64];
                snprintf(what, sizeof what, "%s rank %d axis %d keepdim %d", name, nd, axis, keepdim);
                nbt_check_grads(ctx, loss, &x, 1, what);
                nb_ctx_free(ctx);
            }
        }
    }
}

/* Summing 2^20 copies of 0.1f one by one in float drifts by about 1e-2
 * relative; the library's sum must stay at rounding level. */
static void test_sum_accuracy(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    int64_t n = 1 << 20;
    nb_tensor *x = nb_tensor_1d(ctx, n);
    nb_tensor_fill(x, 0.1f);
    nb_tensor *s = nb_sum(ctx, x);
    NBT_ASSERT_OK(ctx);
    double ref = (double)0.1f * (double)n;
    assert_true(fabs(s->data[0] - ref) / ref < 1e-6);
    /* deterministic: replaying gives the same bits */
    float first = s->data[0];
    nb_graph *g = nb_graph_new(ctx, s);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    assert_true(memcmp(&first, &s->data[0], sizeof first) == 0);
    /* along an axis too: [4, n/4] summed over the long axis */
    nb_tensor *x2 = nb_tensor_2d(ctx, n / 4, 4);
    nb_tensor_fill(x2, 0.1f);
    nb_tensor *s2 = nb_sum_axis(ctx, x2, 0, 0);
    NBT_ASSERT_OK(ctx);
    for (int i = 0; i < 4; i++) assert_true(fabs(s2->data[i] - ref / 4) / (ref / 4) < 1e-6);
    nb_ctx_free(ctx);
}

static void test_sum(void **state) { (void)state; check_all(SUM, "sum"); }
static void test_mean(void **state) { (void)state; check_all(MEAN, "mean"); }
static void test_max(void **state) {
    (void)state;
    check_all(MAX, "max");
    /* ties: the gradient goes to the first maximal element only */
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_param_new(ctx, "x", 1, (int64_t[]){5});
    float v[5] = {1, 3, 2, 3, 3};
    nb_tensor_copy_in(x, v, 5);
    nb_tensor *m = nb_max(ctx, x);
    nb_graph *g = nb_graph_new(ctx, m);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    assert_float_equal(m->data[0], 3.0f, 0.0f);
    float want[5] = {0, 1, 0, 0, 0};
    for (int i = 0; i < 5; i++) assert_float_equal(x->grad[i], want[i], 0.0f);
    nb_ctx_free(ctx);
}
static void test_sum_axis(void **state) { (void)state; check_axis(SUM, "sum_axis"); }
static void test_mean_axis(void **state) { (void)state; check_axis(MEAN, "mean_axis"); }
static void test_max_axis(void **state) {
    (void)state;
    check_axis(MAX, "max_axis");
    /* ties per column: [[2,5],[2,1],[0,5]] along axis 0 -> rows 0 and 0 */
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_param_new(ctx, "x", 2, (int64_t[]){3, 2});
    float v[6] = {2, 5, 2, 1, 0, 5};
    nb_tensor_copy_in(x, v, 6);
    nb_tensor *m = nb_max_axis(ctx, x, 0, 1);
    nb_graph *g = nb_graph_new(ctx, nb_sum(ctx, m));
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    float want[6] = {1, 1, 0, 0, 0, 0};
    for (int i = 0; i < 6; i++) assert_float_equal(x->grad[i], want[i], 0.0f);
    nb_ctx_free(ctx);
}

static void test_reduce_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_2d(ctx, 2, 3);
    assert_null(nb_sum_axis(ctx, x, 2, 0));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(ctx), "sum_axis"));
    nb_clear_error(ctx);
    assert_null(nb_max_axis(ctx, x, -3, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    nb_tensor *e = nb_tensor_2d(ctx, 2, 0);
    assert_null(nb_max(ctx, e));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(ctx), "[2,0]"));
    nb_clear_error(ctx);
    assert_null(nb_mean(ctx, NULL));
    assert_int_equal(nb_error(ctx), NB_ERR_NULL);
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sum),       cmocka_unit_test(test_mean),
    cmocka_unit_test(test_max),       cmocka_unit_test(test_sum_axis),
    cmocka_unit_test(test_mean_axis), cmocka_unit_test(test_max_axis),
    cmocka_unit_test(test_sum_accuracy), cmocka_unit_test(test_reduce_errors),
};
NB_TEST_MAIN(tests)
