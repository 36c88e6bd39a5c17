/* Gradient checks of the ops in nn.h (dropout, embedding) and of modules
 * composed from ops (an MLP through nb_mlp_new), with the suite's harness. */
#include "test_util.h"

/* Eval mode: dropout is the identity, so finite differences apply. */
static void test_dropout_eval(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 11;
    nb_tensor *x = nbt_param(ctx, &seed, -1, 1, 2, (int64_t[]){3, 5});
    nb_set_training(ctx, 0);
    nb_tensor *y = nb_dropout(ctx, x, 0.4f);
    NBT_ASSERT_OK(ctx);
    for (int64_t i = 0; i < x->size; i++) assert_true(y->data[i] == x->data[i]);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), &x, 1, "dropout eval");
    nb_ctx_free(ctx);
}

/* Training mode: backward must be exactly mask ⊙ dy / (1-p), with the mask
 * read off the forward (x has no zeros, so y = 0 exactly where dropped). */
static void test_dropout_train_backward_exact(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 12;
    const float p = 0.3f, scale = 1.0f / (1.0f - p);
    nb_tensor *x = nbt_param(ctx, &seed, 0.5f, 1.5f, 3, (int64_t[]){4, 3, 7});
    nb_tensor *y = nb_dropout(ctx, x, p);
    nb_tensor *r = nb_tensor_new(ctx, y->ndim, y->shape);
    nbt_fill_uniform(r, &seed, -1, 1);
    nb_graph *g = nb_graph_new(ctx, nb_sum(ctx, nb_mul(ctx, y, r)));
    NBT_ASSERT_OK(ctx);
    for (int step = 0; step < 3; step++) {
        if (step) assert_int_equal(nb_graph_forward(g), NB_OK); /* a new mask each replay */
        nb_graph_zero_grad(g);
        assert_int_equal(nb_graph_backward(g), NB_OK);
        int kept = 0;
        for (int64_t i = 0; i < x->size; i++) {
            int keep = y->data[i] != 0.0f;
            kept += keep;
            if (keep) assert_true(y->data[i] == x->data[i] * scale);
            float want = keep ? r->data[i] * scale : 0.0f;
            if (x->grad[i] != want)
                fail_msg("step %d: dx[%lld] = %g, want %g", step, (long long)i, (double)x->grad[i], (double)want);
        }
        assert_true(kept > 0 && kept < x->size);
    }
    nb_ctx_free(ctx);
}

/* Training mode by finite differences: reseeding the context RNG before each
 * forward fixes the mask, so f(x ± eps) is a function of x alone. */
static void test_dropout_train_finite_differences(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 13;
    nb_tensor *x = nbt_param(ctx, &seed, -1, 1, 2, (int64_t[]){3, 4});
    nb_rng_seed(nb_ctx_rng(ctx), 77);
    nb_tensor *y = nb_dropout(ctx, x, 0.5f);
    nb_tensor *loss = nbt_weighted_sum(ctx, nb_tanh(ctx, y), &seed);
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    nb_graph_zero_grad(g);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    float analytic[12];
    memcpy(analytic, x->grad, sizeof analytic);
    for (int64_t i = 0; i < x->size; i++) {
        float x0 = x->data[i], f[2];
        for (int s = 0; s < 2; s++) {
            x->data[i] = x0 + (s ? -NBT_GRAD_EPS : NBT_GRAD_EPS);
            nb_rng_seed(nb_ctx_rng(ctx), 77);
            assert_int_equal(nb_graph_forward(g), NB_OK);
            f[s] = loss->data[0];
        }
        x->data[i] = x0;
        float numeric = (f[0] - f[1]) / (2 * NBT_GRAD_EPS);
        float err = fabsf(numeric - analytic[i]) / fmaxf(1.0f, fmaxf(fabsf(numeric), fabsf(analytic[i])));
        if (!(err <= NBT_GRAD_TOL))
            fail_msg("dx[%lld]: analytic %g, numeric %g", (long long)i, (double)analytic[i], (double)numeric);
    }
    nb_ctx_free(ctx);
}

/* Repeated ids make the scatter-add sum several rows into one. */
static void test_embedding(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 21;
    nb_tensor *w = nbt_param(ctx, &seed, -1, 1, 2, (int64_t[]){7, 3});
    nb_tensor *ids = nb_tensor_2d(ctx, 2, 5);
    const float idv[10] = {0, 3, 6, 3, 3, 1, 0, 5, 6, 2};
    nb_tensor_copy_in(ids, idv, 10);
    nb_tensor *y = nb_embedding(ctx, w, ids);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), &w, 1, "embedding 2-D ids");
    nb_ctx_free(ctx);

    ctx = nb_ctx_new();
    w = nbt_param(ctx, &seed, -1, 1, 2, (int64_t[]){4, 2});
    nb_tensor *one = nb_tensor_1d(ctx, 6);
    const float idv1[6] = {2, 2, 2, 0, 1, 2};
    nb_tensor_copy_in(one, idv1, 6);
    /* the table used twice: through the lookup and directly */
    nb_tensor *loss = nb_add(ctx, nbt_weighted_sum(ctx, nb_embedding(ctx, w, one), &seed),
                             nbt_weighted_sum(ctx, w, &seed));
    nbt_check_grads(ctx, loss, &w, 1, "embedding reused table");
    nb_ctx_free(ctx);
}

/* A whole MLP (tanh keeps it smooth) by finite differences over every parameter. */
static void test_mlp_module(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 31;
    nb_model *m = nb_model_new(ctx);
    nb_sequential *mlp = nb_mlp_new(m, "net", (int64_t[]){5, 4, 3}, 3, NB_ACT_TANH, 0.0f);
    nb_tensor *x = nb_tensor_2d(ctx, 3, 5);
    nbt_fill_uniform(x, &seed, -1, 1);
    nb_tensor *y = nb_sequential_forward(mlp, x);
    NBT_ASSERT_OK(ctx);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), nb_model_params(m), nb_model_num_params(m),
                    "mlp module");
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dropout_eval),
    cmocka_unit_test(test_dropout_train_backward_exact),
    cmocka_unit_test(test_dropout_train_finite_differences),
    cmocka_unit_test(test_embedding),
    cmocka_unit_test(test_mlp_module),
};
NB_TEST_MAIN(tests)
