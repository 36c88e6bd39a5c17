/* tests/test_core.c — the engine itself: contexts, tensors, the sticky error
 * mechanism, graph replay, gradient accumulation, inference mode, and the
 * promise that a training step allocates nothing. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "core/engine.h" /* to corrupt one op record on purpose */
#include "alloc_count.h" /* nbt_allocs: the training step allocates nothing */

static void test_context_lifecycle(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    assert_non_null(ctx);
    nb_tensor *t = nb_tensor_3d(ctx, 2, 3, 4);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(t->ndim, 3);
    assert_int_equal(t->size, 24);
    assert_int_equal(t->strides[0], 12);
    assert_int_equal(t->strides[1], 4);
    assert_int_equal(t->strides[2], 1);
    assert_true(((uintptr_t)t->data % 64) == 0);
    for (int64_t i = 0; i < t->size; i++) assert_true(t->data[i] == 0.0f);
    assert_null(t->grad);
    nb_tensor *s = nb_scalar(ctx, 2.5f);
    assert_int_equal(s->ndim, 0);
    assert_int_equal(s->size, 1);
    assert_true(s->data[0] == 2.5f);
    nb_tensor *big = nb_tensor_2d(ctx, 1000, 1000); /* larger than one arena chunk */
    assert_non_null(big);
    big->data[999999] = 1.0f;
    nb_tensor *p = nb_param_new(ctx, "w", 2, (int64_t[]){3, 5});
    assert_non_null(p->grad);
    assert_true(p->flags & NB_PARAM);
    assert_string_equal(p->name, "w");
    assert_true(nb_ctx_memory(ctx) >= 4000000);
    char buf[64];
    assert_string_equal(nb_shape_string(t, buf, sizeof buf), "[2,3,4]");
    assert_string_equal(nb_shape_string(s, buf, sizeof buf), "[]");
    nb_ctx_free(ctx);
    nb_ctx_free(NULL); /* harmless */
}

static void test_copy_in_out(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *t = nb_tensor_2d(ctx, 2, 2);
    float in[4] = {1, 2, 3, 4}, out[4] = {0};
    assert_int_equal(nb_tensor_copy_in(t, in, 4), NB_OK);
    assert_int_equal(nb_tensor_copy_out(t, out, 4), NB_OK);
    assert_memory_equal(in, out, sizeof in);
    assert_int_equal(nb_tensor_copy_in(t, in, 3), NB_ERR_SHAPE);
    assert_non_null(strstr(nb_error_message(ctx), "[2,2]"));
    nb_ctx_free(ctx);
}

/* Each kind of error: recorded once, sticky, names the op and the shapes. */
static void test_errors_are_sticky_and_named(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *a = nb_tensor_2d(ctx, 2, 3), *b = nb_tensor_2d(ctx, 4, 5);
    assert_null(nb_add(ctx, a, b));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    const char *msg = nb_error_message(ctx);
    assert_non_null(strstr(msg, "add"));
    assert_non_null(strstr(msg, "[2,3]"));
    assert_non_null(strstr(msg, "[4,5]"));
    /* later calls are no-ops and keep the first message */
    assert_null(nb_tensor_2d(ctx, 1, 1));
    assert_null(nb_mul(ctx, a, a));
    assert_non_null(strstr(nb_error_message(ctx), "add"));
    nb_clear_error(ctx);
    assert_int_equal(nb_error(ctx), NB_OK);
    assert_string_equal(nb_error_message(ctx), "");

    /* a NULL input (e.g. from an earlier failed call) */
    assert_null(nb_mul(ctx, a, NULL));
    assert_int_equal(nb_error(ctx), NB_ERR_NULL);
    assert_non_null(strstr(nb_error_message(ctx), "mul"));
    nb_clear_error(ctx);

    /* invalid sizes */
    assert_null(nb_tensor_2d(ctx, -1, 3));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_null(nb_tensor_new(ctx, NB_MAX_DIMS + 1, (int64_t[NB_MAX_DIMS + 1]){1}));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);

    /* failed allocation: a tensor larger than any machine's memory */
    assert_null(nb_tensor_2d(ctx, (int64_t)1 << 40, (int64_t)1 << 20));
    assert_int_equal(nb_error(ctx), NB_ERR_ALLOC);
    nb_clear_error(ctx);

    /* tensors from another context */
    nb_ctx *other = nb_ctx_new();
    nb_tensor *c = nb_tensor_2d(other, 2, 3);
    assert_null(nb_add(ctx, a, c));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    nb_ctx_free(other);

    /* backward of a non-scalar, and of something with no parameters */
    nb_tensor *y = nb_add(ctx, a, a);
    nb_graph *g = nb_graph_new(ctx, y);
    assert_int_equal(nb_graph_backward(g), NB_ERR_STATE);
    assert_non_null(strstr(nb_error_message(ctx), "[2,3]"));
    nb_clear_error(ctx);
    g = nb_graph_new(ctx, nb_sum(ctx, y));
    assert_int_equal(nb_graph_backward(g), NB_ERR_STATE);
    nb_clear_error(ctx);

    /* NULL arguments to every kind of entry point */
    assert_null(nb_graph_new(ctx, NULL));
    assert_int_equal(nb_error(ctx), NB_ERR_NULL);
    nb_clear_error(ctx);
    assert_int_equal(nb_graph_forward(NULL), NB_ERR_NULL);
    assert_int_equal(nb_error(NULL), NB_ERR_NULL);
    assert_null(nb_tensor_2d(NULL, 2, 2));
    assert_string_equal(nb_status_string(NB_ERR_SHAPE), "shape mismatch");
    nb_ctx_free(ctx);
}

/* A tensor used twice receives the sum of both contributions:
 * L = Σ (x·x + x) ⇒ dL/dx = 2x + 1. */
static void test_reused_input_accumulates(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 1;
    nb_tensor *x = nbt_param(ctx, &seed, -2, 2, 2, (int64_t[]){3, 4});
    nb_tensor *loss = nb_sum(ctx, nb_add(ctx, nb_mul(ctx, x, x), x));
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    nb_graph_zero_grad(g);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    for (int64_t i = 0; i < x->size; i++)
        assert_float_equal(x->grad[i], 2 * x->data[i] + 1, 1e-6);
    /* parameters accumulate across backward calls until zeroed */
    assert_int_equal(nb_graph_backward(g), NB_OK);
    for (int64_t i = 0; i < x->size; i++)
        assert_float_equal(x->grad[i], 2 * (2 * x->data[i] + 1), 1e-5);
    nb_graph_zero_grad(g); /* lazy: read as zero once settled */
    nb_tensor_grad_settle(x);
    for (int64_t i = 0; i < x->size; i++) assert_true(x->grad[i] == 0.0f);
    nb_ctx_free(ctx);
}

/* nb_graph_zero_grad only marks the leaves. The next backward must give
 * exactly what a memset followed by accumulation gives: for leaves whose
 * first writer stores (linear's weight and bias, matmul's operands), for
 * leaves cleared before a writer that adds (a tied weight's second use, a
 * parameter used twice in one op), and for a leaf whose consumers never
 * write its gradient. The optimizer and clipping see zeros for a marked
 * gradient even without a backward. */
static void test_lazy_zero_grad(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 5;
    nb_tensor *x = nbt_param(ctx, &seed, -1, 1, 2, (int64_t[]){3, 5});
    nb_tensor *w = nbt_param(ctx, &seed, -1, 1, 2, (int64_t[]){4, 5});
    nb_tensor *b = nbt_param(ctx, &seed, -1, 1, 1, (int64_t[]){4});
    nb_tensor *m = nbt_param(ctx, &seed, -1, 1, 2, (int64_t[]){4, 4});
    nb_tensor *idx = nb_tensor_new(ctx, 1, (int64_t[]){3});
    nb_tensor *h = nb_tanh(ctx, nb_linear(ctx, x, w, b));                 /* [3,4] */
    nb_tensor *hm = nb_matmul(ctx, h, nb_mul(ctx, m, m));                 /* m twice in one op */
    nb_tensor *tied = nb_linear(ctx, hm, nb_transpose(ctx, w, 0, 1), NULL); /* w again: [3,5] */
    nb_tensor *e = nb_embedding(ctx, w, idx);                              /* and a scatter-add */
    /* `unused` reaches the loss only through a node made without gradients:
     * backward never writes its gradient, yet it must read zero after */
    nb_tensor *unused = nbt_param(ctx, &seed, -1, 1, 1, (int64_t[]){4});
    nb_set_grad_enabled(ctx, 0);
    nb_tensor *zero_path = nb_mul(ctx, unused, unused);
    nb_set_grad_enabled(ctx, 1);
    nb_tensor *loss = nb_add(ctx, nb_add(ctx, nbt_weighted_sum(ctx, tied, &seed),
                                         nbt_weighted_sum(ctx, e, &seed)),
                             nbt_weighted_sum(ctx, zero_path, &seed));
    NBT_ASSERT_OK(ctx);
    for (int i = 0; i < 3; i++) idx->data[i] = (float)(3 - i);
    nb_tensor *leaves[5] = {x, w, b, m, unused};
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    /* reference: explicit zeros, then one accumulating backward */
    float *ref[5];
    for (int k = 0; k < 5; k++) {
        memset(leaves[k]->grad, 0, (size_t)leaves[k]->size * sizeof(float));
        leaves[k]->grad_stale = 0;
    }
    assert_int_equal(nb_graph_forward(g), NB_OK);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    for (int k = 0; k < 5; k++) {
        ref[k] = malloc((size_t)leaves[k]->size * sizeof(float));
        assert_non_null(ref[k]);
        memcpy(ref[k], leaves[k]->grad, (size_t)leaves[k]->size * sizeof(float));
        /* stale values that must not leak into the next step */
        for (int64_t i = 0; i < leaves[k]->size; i++) leaves[k]->grad[i] = 1e3f + (float)i;
    }
    nb_graph_zero_grad(g);
    for (int k = 0; k < 5; k++) assert_true(leaves[k]->grad_stale);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    for (int k = 0; k < 5; k++) {
        assert_false(leaves[k]->grad_stale);
        assert_memory_equal(leaves[k]->grad, ref[k], (size_t)leaves[k]->size * sizeof(float));
    }
    /* a second backward without zeroing still accumulates */
    assert_int_equal(nb_graph_backward(g), NB_OK);
    for (int64_t i = 0; i < x->size; i++) assert_true(x->grad[i] == 2.0f * ref[0][i]);
    for (int64_t i = 0; i < w->size; i++) assert_float_equal(w->grad[i], 2.0f * ref[1][i], 1e-5);
    /* marked, then stepped and clipped with no backward: zero gradients */
    nb_graph_zero_grad(g);
    assert_true(nb_clip_grad_norm(leaves, 5, 1.0f) == 0.0f);
    nb_graph_zero_grad(g);
    nb_optim_config c = nb_optim_defaults(NB_OPTIM_SGD);
    nb_optim *o = nb_optim_new(leaves, 5, &c);
    assert_non_null(o);
    float w0 = w->data[0], x0 = x->data[7];
    assert_int_equal(nb_optim_step(o), NB_OK);
    assert_true(w->data[0] == w0 && x->data[7] == x0);
    for (int k = 0; k < 5; k++) free(ref[k]);
    nb_ctx_free(ctx);
}

/* Replaying a graph with new input data recomputes every node. */
static void test_replay_with_new_inputs(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_1d(ctx, 3);
    nb_tensor *w = nb_param_new(ctx, "w", 1, (int64_t[]){3});
    float xv[3] = {1, 2, 3}, wv[3] = {0.5f, -1, 2};
    nb_tensor_copy_in(x, xv, 3);
    nb_tensor_copy_in(w, wv, 3);
    nb_tensor *loss = nb_sum(ctx, nb_mul(ctx, x, w));
    NBT_ASSERT_OK(ctx);
    assert_float_equal(loss->data[0], 0.5 - 2 + 6, 1e-6); /* computed at once */
    nb_graph *g = nb_graph_new(ctx, loss);
    assert_int_equal(nb_graph_num_params(g), 1);
    assert_ptr_equal(nb_graph_param(g, 0), w);
    assert_ptr_equal(nb_graph_output(g), loss);
    float xv2[3] = {-1, 0, 4};
    nb_tensor_copy_in(x, xv2, 3);
    nb_graph_zero_grad(g);
    nb_graph_forward(g);
    nb_graph_backward(g);
    assert_float_equal(loss->data[0], -0.5 + 0 + 8, 1e-6);
    for (int i = 0; i < 3; i++) assert_float_equal(w->grad[i], xv2[i], 0);
    assert_null(x->grad); /* inputs get no gradient */
    nb_ctx_free(ctx);
}

/* The profiler counts the timed passes and names every op kind of the graph
 * (and the gradient clearing); it refuses to report before being enabled. */
static void test_graph_profile_report(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 3;
    nb_tensor *x = nbt_param(ctx, &seed, -2, 2, 2, (int64_t[]){4, 5});
    nb_tensor *loss = nb_sum(ctx, nb_relu(ctx, nb_mul(ctx, x, x)));
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(nb_graph_profile_report(g, f), NB_ERR_STATE);
    nb_clear_error(ctx);
    assert_int_equal(nb_graph_profile(g, 1), NB_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nb_graph_forward(g), NB_OK);
        assert_int_equal(nb_graph_backward(g), NB_OK);
    }
    assert_int_equal(nb_graph_profile(g, 0), NB_OK);
    assert_int_equal(nb_graph_forward(g), NB_OK); /* not counted */
    assert_int_equal(nb_graph_profile_report(g, f), NB_OK);
    rewind(f);
    char text[4096];
    const size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "3 forward passes"));
    assert_non_null(strstr(text, "mul "));
    assert_non_null(strstr(text, "relu "));
    assert_non_null(strstr(text, "sum "));
    assert_non_null(strstr(text, "(clear gradients)"));
    nb_ctx_free(ctx);
}

/* Ops that overwrite an intermediate's gradient instead of adding to it
 * (linear, matmul, conv2d, add, reshape) must do so only for its first writer:
 * gradients stay exact with several consumers, a tensor used twice by one op,
 * and a second backward without zero_grad doubles the leaves' gradients and
 * leaves the intermediates' unchanged. */
static void test_gradient_overwrite_first_writer(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 11;
    nb_tensor *x = nbt_param(ctx, &seed, -1, 1, 4, (int64_t[]){2, 2, 6, 6});
    nb_tensor *cw = nbt_param(ctx, &seed, -0.5f, 0.5f, 4, (int64_t[]){3, 2, 3, 3});
    nb_tensor *lw = nbt_param(ctx, &seed, -0.5f, 0.5f, 2, (int64_t[]){4, 27});
    nb_tensor *h = nb_tanh(ctx, x);                                       /* two consumers */
    nb_tensor *c = nb_conv2d(ctx, h, cw, NULL, &(nb_conv2d_opts){.pad_h = 1, .pad_w = 1});
    /* smooth (average) pooling: a max-pool's kinks would upset the finite
     * differences; its overwrite is tested in test_grad_pool.c */
    nb_tensor *p = nb_avg_pool2d(ctx, nb_tanh(ctx, c), 2, 2, 2, 2, 0, 0); /* [2,3,3,3] */
    nb_tensor *f = nb_reshape(ctx, p, 2, (int64_t[]){2, 27});
    nb_tensor *l = nb_tanh(ctx, nb_linear(ctx, f, lw, NULL));             /* [2,4] */
    nb_tensor *sq = nb_matmul(ctx, l, nb_transpose(ctx, l, 0, 1));       /* [2,2], l twice */
    nb_tensor *mm = nb_matmul(ctx, sq, sq);                               /* same tensor, both slots */
    nb_tensor *bp = nbt_param(ctx, &seed, -1, 1, 1, (int64_t[]){6});
    nb_tensor *bt = nb_tanh(ctx, bp);                                     /* broadcast in the add */
    nb_tensor *loss = nb_add(ctx, nbt_weighted_sum(ctx, mm, &seed),
                             nbt_weighted_sum(ctx, nb_add(ctx, nb_mul(ctx, h, h), bt), &seed));
    nb_tensor *wrt[4] = {x, cw, lw, bp};
    nbt_check_grads(ctx, loss, wrt, 4, "overwrite chain");

    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    nb_graph_zero_grad(g);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    float *x1 = malloc((size_t)x->size * sizeof(float)), *h1 = malloc((size_t)h->size * sizeof(float));
    float bt1[6], bp1[6];
    assert_true(x1 && h1);
    memcpy(x1, x->grad, (size_t)x->size * sizeof(float));
    memcpy(h1, h->grad, (size_t)h->size * sizeof(float));
    memcpy(bt1, bt->grad, sizeof bt1);
    memcpy(bp1, bp->grad, sizeof bp1);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    for (int64_t i = 0; i < x->size; i++) assert_true(x->grad[i] == 2.0f * x1[i]);
    for (int i = 0; i < 6; i++) assert_true(bp->grad[i] == 2.0f * bp1[i]);
    assert_memory_equal(h->grad, h1, (size_t)h->size * sizeof(float));
    assert_memory_equal(bt->grad, bt1, sizeof bt1);
    free(x1), free(h1);
    nb_ctx_free(ctx);
}

/* Inference mode records nothing for backward. */
static void test_inference_mode(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 2;
    nb_tensor *w = nbt_param(ctx, &seed, -1, 1, 1, (int64_t[]){4});
    nb_set_grad_enabled(ctx, 0);
    assert_false(nb_grad_enabled(ctx));
    nb_tensor *y = nb_sum(ctx, nb_mul(ctx, w, w));
    NBT_ASSERT_OK(ctx);
    assert_false(y->flags & NB_REQUIRES_GRAD);
    nb_graph *g = nb_graph_new(ctx, y);
    assert_int_equal(nb_graph_backward(g), NB_ERR_STATE);
    nb_clear_error(ctx);
    nb_set_grad_enabled(ctx, 1);
    nb_tensor *y2 = nb_sum(ctx, nb_mul(ctx, w, w));
    assert_true(y2->flags & NB_REQUIRES_GRAD);
    nb_ctx_free(ctx);
}

/* gradcheck must be able to fail: with one node's backward removed, the
 * analytic gradient is wrong and the reported error is large. */
static void test_gradcheck_detects_wrong_gradients(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 3;
    nb_tensor *x = nbt_param(ctx, &seed, 0.5f, 2, 1, (int64_t[]){5});
    nb_tensor *loss = nb_sum(ctx, nb_mul(ctx, x, x));
    nb_graph *g = nb_graph_new(ctx, loss);
    float worst;
    assert_int_equal(nb_gradcheck(g, &x, 1, NBT_GRAD_EPS, &worst), NB_OK);
    assert_true(worst <= NBT_GRAD_TOL);
    nb_tensor *sq = loss->src[0];
    nb_op_def wrong = *sq->op;
    wrong.backward = NULL; /* drop this node's gradient entirely */
    const nb_op_def *saved = sq->op;
    sq->op = &wrong;
    assert_int_equal(nb_gradcheck(g, &x, 1, NBT_GRAD_EPS, &worst), NB_OK);
    assert_true(worst > 0.5f);
    sq->op = saved;
    /* bad arguments */
    assert_int_equal(nb_gradcheck(g, &x, 1, 0.0f, &worst), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_int_equal(nb_gradcheck(g, &loss, 1, NBT_GRAD_EPS, &worst), NB_ERR_ARG);
    nb_ctx_free(ctx);
}

/* The training step — zero_grad, forward, backward, an SGD update — makes no
 * heap allocation once the graph is built (after a warm-up step, so that
 * one-time buffers such as sgemm's packing space exist). */
static void test_training_step_allocates_nothing(void **state) {
    (void)state;
#ifndef NBT_COUNT_MALLOC
    skip();
#else
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 4;
    const int64_t n = 64, in = 784, hid = 128, classes = 10;
    nb_tensor *x = nb_tensor_2d(ctx, n, in);
    nb_tensor *labels = nb_tensor_1d(ctx, n);
    nb_tensor *w1 = nbt_param(ctx, &seed, -0.05f, 0.05f, 2, (int64_t[]){hid, in});
    nb_tensor *b1 = nbt_param(ctx, &seed, -0.05f, 0.05f, 1, (int64_t[]){hid});
    nb_tensor *w2 = nbt_param(ctx, &seed, -0.1f, 0.1f, 2, (int64_t[]){classes, hid});
    nb_tensor *b2 = nbt_param(ctx, &seed, -0.1f, 0.1f, 1, (int64_t[]){classes});
    nb_tensor *h = nb_relu(ctx, nb_linear(ctx, x, w1, b1));
    nb_tensor *loss = nb_cross_entropy(ctx, nb_linear(ctx, h, w2, b2), labels, 0.0f);
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    nb_tensor *params[4] = {w1, b1, w2, b2};
    float first = 0, last = 0;
    for (int step = 0; step < 12; step++) {
        if (step == 2) nbt_allocs = 0;
        /* a new batch: same data each step so the loss must fall */
        uint64_t ds = 99;
        for (int64_t i = 0; i < x->size; i++) x->data[i] = nbt_uniform(&ds, 0, 1);
        for (int64_t i = 0; i < n; i++) labels->data[i] = (float)(i % classes);
        nb_graph_zero_grad(g);
        assert_int_equal(nb_graph_forward(g), NB_OK);
        assert_int_equal(nb_graph_backward(g), NB_OK);
        for (int p = 0; p < 4; p++)
            for (int64_t i = 0; i < params[p]->size; i++)
                params[p]->data[i] -= 0.1f * params[p]->grad[i];
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
    }
    long allocs = nbt_allocs;
    assert_int_equal(allocs, 0);
    assert_true(last < first);
    nb_ctx_free(ctx);
#endif
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_context_lifecycle),
    cmocka_unit_test(test_copy_in_out),
    cmocka_unit_test(test_errors_are_sticky_and_named),
    cmocka_unit_test(test_reused_input_accumulates),
    cmocka_unit_test(test_lazy_zero_grad),
    cmocka_unit_test(test_replay_with_new_inputs),
    cmocka_unit_test(test_graph_profile_report),
    cmocka_unit_test(test_gradient_overwrite_first_writer),
    cmocka_unit_test(test_inference_mode),
    cmocka_unit_test(test_gradcheck_detects_wrong_gradients),
    cmocka_unit_test(test_training_step_allocates_nothing),
};
NB_TEST_MAIN(tests)
