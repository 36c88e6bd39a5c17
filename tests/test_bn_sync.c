/* nb_batch_norm_sync in one process: with an identity cross-process sum the
 * results are bitwise those of nb_batch_norm, its gradients pass gradcheck,
 * the sum is called once forward and once backward, and its failure is
 * reported. The multi-process equivalence is tests/test_dist_syncbn.c. */
#include "test_util.h"

typedef struct calls {
    int n, fail;
    int sizes[8];
} calls;

static int identity_sum(double *v, int n, void *user) {
    calls *c = user;
    for (int i = 0; i < n; i++) v[i] *= 1.0;
    if (c) {
        if (c->n < 8) c->sizes[c->n] = n;
        c->n++;
        return c->fail;
    }
    return 0;
}

enum { N = 6, CH = 3, H = 2, W = 3 };

typedef struct run {
    nb_ctx *ctx;
    nb_tensor *x, *gamma, *beta, *rm, *rv, *loss;
    nb_graph *g;
} run;

/* three training steps of a 4-D batch norm, x changed every step */
static void run_steps(run *r, int sync, nb_allsum_fn fn, void *user) {
    r->ctx = nb_ctx_new();
    assert_non_null(r->ctx);
    if (fn) nb_ctx_set_allsum(r->ctx, fn, user);
    uint64_t s = 11;
    const int64_t xs[4] = {N, CH, H, W}, cs[1] = {CH};
    r->x = nbt_param(r->ctx, &s, -2.0f, 3.0f, 4, xs);
    r->gamma = nbt_param(r->ctx, &s, 0.5f, 1.5f, 1, cs);
    r->beta = nbt_param(r->ctx, &s, -0.5f, 0.5f, 1, cs);
    r->rm = nb_tensor_new(r->ctx, 1, cs);
    r->rv = nb_tensor_new(r->ctx, 1, cs);
    nb_tensor *y = nb_batch_norm_sync(r->ctx, r->x, r->gamma, r->beta, r->rm, r->rv, 0.1f, 1e-5f, sync);
    r->loss = nbt_weighted_sum(r->ctx, y, &s);
    r->g = nb_graph_new(r->ctx, r->loss);
    NBT_ASSERT_OK(r->ctx);
    for (int step = 0; step < 3; step++) {
        nbt_fill_uniform(r->x, &s, -2.0f + (float)step, 3.0f);
        nb_graph_zero_grad(r->g);
        assert_int_equal(nb_graph_forward(r->g), NB_OK);
        assert_int_equal(nb_graph_backward(r->g), NB_OK);
    }
}

static void same_bits(const nb_tensor *a, const nb_tensor *b, const float *ga, const float *gb) {
    assert_int_equal(a->size, b->size);
    assert_memory_equal(a->data, b->data, (size_t)a->size * sizeof(float));
    if (ga || gb) assert_memory_equal(ga, gb, (size_t)a->size * sizeof(float));
}

static void test_identity_sum_is_bitwise_plain(void **state) {
    (void)state;
    run plain, synced;
    calls c = {0};
    run_steps(&plain, 0, NULL, NULL);
    run_steps(&synced, 1, identity_sum, &c);
    /* construction + 3 steps forward, 3 backward; the sizes 1 + 3C and 2C */
    assert_int_equal(c.n, 7);
    assert_int_equal(c.sizes[0], 1 + 3 * CH);
    assert_int_equal(c.sizes[2], 2 * CH);
    same_bits(synced.loss, plain.loss, NULL, NULL);
    same_bits(synced.x, plain.x, synced.x->grad, plain.x->grad);
    same_bits(synced.gamma, plain.gamma, synced.gamma->grad, plain.gamma->grad);
    same_bits(synced.beta, plain.beta, synced.beta->grad, plain.beta->grad);
    same_bits(synced.rm, plain.rm, NULL, NULL);
    same_bits(synced.rv, plain.rv, NULL, NULL);
    /* the running statistics moved, so the comparison covers them */
    assert_true(fabsf(plain.rm->data[0]) > 1e-3f);
    nb_ctx_free(plain.ctx);
    nb_ctx_free(synced.ctx);
}

/* Without sync, or in evaluation mode, the sum is never called. */
static void test_sum_not_called_unless_synced_training(void **state) {
    (void)state;
    run r;
    calls c = {0};
    run_steps(&r, 0, identity_sum, &c);
    assert_int_equal(c.n, 0);
    nb_ctx_free(r.ctx);
    run_steps(&r, 1, identity_sum, &c);
    c.n = 0;
    nb_set_training(r.ctx, 0);
    assert_int_equal(nb_graph_forward(r.g), NB_OK);
    assert_int_equal(nb_graph_backward(r.g), NB_OK);
    assert_int_equal(c.n, 0);
    nb_ctx_free(r.ctx);
}

static void test_sum_failure_is_reported(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    calls c = {.fail = 7};
    nb_ctx_set_allsum(ctx, identity_sum, &c);
    uint64_t s = 3;
    const int64_t xs[2] = {4, 2};
    nb_tensor *x = nbt_param(ctx, &s, -1.0f, 1.0f, 2, xs);
    assert_null(nb_batch_norm_sync(ctx, x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_STATE);
    assert_non_null(strstr(nb_error_message(ctx), "batch_norm: the cross-process sum"));
    nb_ctx_free(ctx);
}

/* Global count below 2: an error naming it, whatever the local shape. */
static void test_global_count_checked(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_ctx_set_allsum(ctx, identity_sum, NULL);
    uint64_t s = 3;
    const int64_t xs[2] = {1, 2};
    nb_tensor *x = nbt_param(ctx, &s, -1.0f, 1.0f, 2, xs);
    assert_null(nb_batch_norm_sync(ctx, x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    assert_non_null(strstr(nb_error_message(ctx), "over all processes, got 1"));
    nb_ctx_free(ctx);
}

static void test_gradcheck_sync_path(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    calls c = {0};
    nb_ctx_set_allsum(ctx, identity_sum, &c);
    uint64_t s = 21;
    const int64_t xs[3] = {4, 3, 2}, cs[1] = {3};
    nb_tensor *x = nbt_param(ctx, &s, -2.0f, 2.0f, 3, xs);
    nb_tensor *gamma = nbt_param(ctx, &s, 0.5f, 1.5f, 1, cs);
    nb_tensor *beta = nbt_param(ctx, &s, -0.5f, 0.5f, 1, cs);
    nb_tensor *y = nb_batch_norm_sync(ctx, x, gamma, beta, NULL, NULL, 0.1f, 1e-5f, 1);
    nb_tensor *wrt[3] = {x, gamma, beta};
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &s), wrt, 3, "batch_norm_sync");
    assert_true(c.n > 2); /* the synchronised path was the one checked */
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_identity_sum_is_bitwise_plain),
    cmocka_unit_test(test_sum_not_called_unless_synced_training),
    cmocka_unit_test(test_sum_failure_is_reported),
    cmocka_unit_test(test_global_count_checked),
    cmocka_unit_test(test_gradcheck_sync_path),
};
NB_TEST_MAIN(tests)
