/* Tests of models and modules (src/nn): named parameters and buffers, linear,
 * activation, dropout and embedding layers against plain reference loops,
 * the sequential container, the MLP builder's names and the summary. */
#include "test_util.h"

static void test_model_params_and_buffers(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    assert_ptr_equal(nb_model_ctx(m), ctx);
    nb_linear_layer *a = nb_linear_layer_new(m, "enc.fc1", 4, 3, 1);
    nb_linear_layer *b = nb_linear_layer_new(m, "enc.fc2", 3, 2, 0);
    nb_tensor *rm = nb_model_buffer_new(m, "bn", "running_mean", 1, (int64_t[]){3});
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_model_num_params(m), 3);
    const char *names[3] = {"enc.fc1.weight", "enc.fc1.bias", "enc.fc2.weight"};
    nb_tensor *const *params = nb_model_params(m);
    for (int i = 0; i < 3; i++) {
        assert_ptr_equal(params[i], nb_model_param(m, i));
        assert_string_equal(params[i]->name, names[i]);
        assert_true(params[i]->flags & NB_PARAM);
        assert_non_null(params[i]->grad);
        assert_ptr_equal(nb_model_find(m, names[i]), params[i]);
    }
    assert_null(b->bias);
    assert_ptr_equal(a->weight, params[0]);
    assert_true(a->weight->shape[0] == 3 && a->weight->shape[1] == 4);
    assert_null(nb_model_param(m, 3));
    assert_null(nb_model_param(m, -1));
    assert_int_equal(nb_model_param_elements(m), 12 + 3 + 6);

    assert_int_equal(nb_model_num_buffers(m), 1);
    assert_ptr_equal(nb_model_buffer(m, 0), rm);
    assert_ptr_equal(nb_model_buffers(m)[0], rm);
    assert_string_equal(rm->name, "bn.running_mean");
    assert_false(rm->flags & (NB_PARAM | NB_REQUIRES_GRAD));
    assert_ptr_equal(nb_model_find(m, "bn.running_mean"), rm);
    assert_null(nb_model_find(m, "enc.fc2.bias"));

    /* many parameters: the contiguous array survives growth */
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "l%d", i);
        assert_non_null(nb_linear_layer_new(m, name, 2, 2, 1));
    }
    assert_int_equal(nb_model_num_params(m), 83);
    assert_string_equal(nb_model_params(m)[0]->name, "enc.fc1.weight");
    assert_string_equal(nb_model_params(m)[82]->name, "l39.bias");
    nb_ctx_free(ctx);
}

static void test_model_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    assert_non_null(nb_linear_layer_new(m, "fc1", 2, 2, 1));
    /* duplicate names, across parameters and buffers */
    assert_null(nb_linear_layer_new(m, "fc1", 2, 2, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(ctx), "fc1.weight"));
    nb_clear_error(ctx);
    assert_null(nb_model_buffer_new(m, "fc1", "bias", 1, (int64_t[]){2}));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_int_equal(nb_model_num_params(m), 2);
    assert_int_equal(nb_model_num_buffers(m), 0);
    /* add_param wants a named NB_PARAM leaf; add_buffer a non-trainable one */
    nb_tensor *plain = nb_tensor_1d(ctx, 3);
    assert_int_equal(nb_model_add_param(m, plain), NB_ERR_ARG); /* no name */
    nb_clear_error(ctx);
    nb_tensor_set_name(plain, "plain");
    assert_int_equal(nb_model_add_param(m, plain), NB_ERR_ARG); /* not NB_PARAM */
    nb_clear_error(ctx);
    assert_int_equal(nb_model_add_buffer(m, plain), NB_OK);
    nb_tensor *p = nb_param_new(ctx, "extra", 1, (int64_t[]){2});
    assert_int_equal(nb_model_add_buffer(m, p), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_int_equal(nb_model_add_param(m, p), NB_OK);
    assert_int_equal(nb_model_add_param(m, p), NB_ERR_ARG); /* twice */
    nb_clear_error(ctx);
    assert_int_equal(nb_model_num_params(m), 3);
    /* bad sizes */
    assert_null(nb_linear_layer_new(m, "z", 0, 2, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_null(nb_embedding_layer_new(m, "e", 5, 0));
    nb_clear_error(ctx);
    assert_null(nb_dropout_layer_new(m, "d", 1.5f));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_null(nb_mlp_new(m, "mlp", (int64_t[]){3}, 1, NB_ACT_RELU, 0));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    /* a failed context makes constructors no-ops */
    nb_tensor_new(ctx, -1, NULL);
    assert_int_not_equal(nb_error(ctx), NB_OK);
    assert_null(nb_linear_layer_new(m, "late", 2, 2, 1));
    assert_null(nb_model_new(ctx));
    nb_ctx_free(ctx);
}

/* y = x·Wᵀ + b by a plain triple loop in double. */
static void test_linear_layer_forward(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 3;
    nb_model *m = nb_model_new(ctx);
    nb_linear_layer *l = nb_linear_layer_new(m, "fc", 7, 5, 1);
    nb_tensor *x = nb_tensor_3d(ctx, 2, 3, 7);
    nbt_fill_uniform(x, &seed, -2, 2);
    nb_tensor *y = nb_linear_layer_forward(l, x);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(y->ndim, 3);
    assert_true(y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 5);
    for (int r = 0; r < 6; r++)
        for (int o = 0; o < 5; o++) {
            double s = l->bias->data[o];
            for (int i = 0; i < 7; i++) s += (double)x->data[r * 7 + i] * l->weight->data[o * 7 + i];
            assert_float_equal(y->data[r * 5 + o], (float)s, 1e-5f);
        }
    assert_ptr_equal(l->base.output, y);
    assert_ptr_equal(nb_module_forward(&l->base, x)->src[0], x);
    nb_ctx_free(ctx);
}

/* Names and structure match the documented PyTorch layout; forward equals
 * the layers applied by hand. */
static void test_mlp_builder(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    uint64_t seed = 4;
    nb_model *m = nb_model_new(ctx);
    nb_sequential *s = nb_mlp_new(m, "mlp", (int64_t[]){6, 5, 4, 3}, 4, NB_ACT_TANH, 0.25f);
    NBT_ASSERT_OK(ctx);
    const char *kinds[] = {"linear", "tanh", "dropout", "linear", "tanh", "dropout", "linear"};
    const char *lnames[] = {"mlp.fc1", "mlp.act1", "mlp.drop1", "mlp.fc2", "mlp.act2", "mlp.drop2", "mlp.fc3"};
    assert_int_equal(s->count, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(s->items[i]->kind, kinds[i]);
        assert_string_equal(s->items[i]->name, lnames[i]);
    }
    const char *pnames[] = {"mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
                            "mlp.fc2.bias", "mlp.fc3.weight", "mlp.fc3.bias"};
    assert_int_equal(nb_model_num_params(m), 6);
    for (int i = 0; i < 6; i++) assert_string_equal(nb_model_param(m, i)->name, pnames[i]);
    assert_int_equal(nb_model_param_elements(m), 35 + 24 + 15);

    /* no prefix, no dropout: fc1, act1, fc2 */
    nb_sequential *s2 = nb_mlp_new(m, NULL, (int64_t[]){2, 3, 1}, 3, NB_ACT_RELU, 0.0f);
    assert_int_equal(s2->count, 3);
    assert_non_null(nb_model_find(m, "fc2.bias"));

    nb_set_training(ctx, 0); /* dropout off: compare with the layers by hand */
    nb_tensor *x = nb_tensor_2d(ctx, 3, 6);
    nbt_fill_uniform(x, &seed, -1, 1);
    nb_tensor *y = nb_sequential_forward(s, x);
    nb_linear_layer *fc[3] = {(nb_linear_layer *)s->items[0], (nb_linear_layer *)s->items[3],
                              (nb_linear_layer *)s->items[6]};
    nb_tensor *h = x;
    for (int i = 0; i < 3; i++) {
        h = nb_linear(ctx, h, fc[i]->weight, fc[i]->bias);
        if (i < 2) h = nb_tanh(ctx, h);
    }
    NBT_ASSERT_OK(ctx);
    assert_int_equal(y->size, 9);
    for (int64_t i = 0; i < y->size; i++) assert_true(y->data[i] == h->data[i]);
    nb_ctx_free(ctx);
}

/* A user-defined module in a sequential: x -> 2x + 1 through ops. */
static nb_tensor *affine_forward(nb_module *self, nb_tensor *x) {
    nb_ctx *ctx = nb_model_ctx(self->model);
    return nb_add_scalar(ctx, nb_scale(ctx, x, 2.0f), 1.0f);
}

static void test_sequential_custom_module(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_sequential *s = nb_sequential_new(m, "seq");
    nb_module custom = {.kind = "affine", .name = "aff", .forward = affine_forward};
    assert_int_equal(nb_module_register(m, &custom), NB_OK);
    nb_activation_layer *relu = nb_activation_layer_new(m, "relu", NB_ACT_RELU);
    assert_int_equal(nb_sequential_add(s, &custom), NB_OK);
    assert_int_equal(nb_sequential_add(s, &relu->base), NB_OK);
    assert_int_equal(nb_sequential_add(s, &custom), NB_OK); /* reuse is allowed */
    nb_tensor *x = nb_tensor_1d(ctx, 4);
    const float xv[4] = {-2.0f, -0.25f, 0.5f, 3.0f};
    nb_tensor_copy_in(x, xv, 4);
    nb_tensor *y = nb_module_forward(&s->base, x);
    NBT_ASSERT_OK(ctx);
    for (int i = 0; i < 4; i++) {
        float h = 2 * xv[i] + 1;
        assert_float_equal(y->data[i], 2 * (h > 0 ? h : 0) + 1, 1e-6f);
    }
    assert_ptr_equal(custom.output, y);
    assert_int_equal(nb_sequential_add(s, &s->base), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_int_equal(nb_module_register(m, &custom), NB_ERR_STATE);
    nb_ctx_free(ctx);
}

/* Inverted dropout in training mode: zeros or x/(1-p), about 1-p kept, a new
 * mask on every replay, the same masks after reseeding; identity in eval
 * mode (also for a graph built in training mode) and for p = 0. */
static void test_dropout_modes(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_dropout_layer *d = nb_dropout_layer_new(m, "drop", 0.3f);
    nb_tensor *x = nb_tensor_2d(ctx, 100, 100);
    nb_tensor_fill(x, 2.0f);
    nb_rng_seed(nb_ctx_rng(ctx), 5);
    nb_tensor *y = nb_dropout_layer_forward(d, x);
    nb_graph *g = nb_graph_new(ctx, y);
    NBT_ASSERT_OK(ctx);
    float first[200];
    memcpy(first, y->data, sizeof first);
    const float kept_value = 2.0f * (1.0f / 0.7f);
    for (int rep = 0; rep < 2; rep++) {
        int64_t kept = 0;
        for (int64_t i = 0; i < y->size; i++) {
            if (y->data[i] != 0.0f && y->data[i] != kept_value)
                fail_msg("y[%lld] = %g is neither 0 nor x/(1-p)", (long long)i, (double)y->data[i]);
            kept += y->data[i] != 0.0f;
        }
        /* 10000 Bernoulli(0.7): sd 46 */
        assert_true(llabs(kept - 7000) < 5 * 46);
        assert_int_equal(nb_graph_forward(g), NB_OK);
    }
    assert_true(memcmp(first, y->data, sizeof first) != 0); /* fresh masks */
    nb_rng_seed(nb_ctx_rng(ctx), 5);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    assert_memory_equal(first, y->data, sizeof first);       /* reproducible */

    nb_set_training(ctx, 0);
    nb_rng before = *nb_ctx_rng(ctx);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    for (int64_t i = 0; i < y->size; i++) assert_true(y->data[i] == 2.0f);
    assert_memory_equal(&before, nb_ctx_rng(ctx), sizeof before); /* drew nothing */

    nb_set_training(ctx, 1);
    nb_tensor *y0 = nb_dropout(ctx, x, 0.0f);
    nb_tensor *y1 = nb_dropout(ctx, x, 1.0f);
    NBT_ASSERT_OK(ctx);
    for (int64_t i = 0; i < x->size; i++) assert_true(y0->data[i] == 2.0f && y1->data[i] == 0.0f);
    assert_null(nb_dropout(ctx, x, -0.1f));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(ctx), "dropout"));
    nb_ctx_free(ctx);
}

/* Lookup equals the table rows; bad ids are refused with their position and
 * value, when built and when a replay meets them. */
static void test_embedding_lookup_and_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_embedding_layer *e = nb_embedding_layer_new(m, "tok", 10, 4);
    nb_tensor *ids = nb_tensor_2d(ctx, 2, 3);
    const float idv[6] = {9, 0, 4, 4, 7, 1};
    nb_tensor_copy_in(ids, idv, 6);
    nb_tensor *y = nb_embedding_layer_forward(e, ids);
    NBT_ASSERT_OK(ctx);
    assert_string_equal(e->weight->name, "tok.weight");
    assert_int_equal(y->ndim, 3);
    assert_true(y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 4);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++) assert_true(y->data[i * 4 + j] == e->weight->data[(int)idv[i] * 4 + j]);

    nb_graph *g = nb_graph_new(ctx, y);
    ids->data[4] = 10.0f;
    assert_int_equal(nb_graph_forward(g), NB_ERR_ARG);
    const char *msg = nb_error_message(ctx);
    if (!strstr(msg, "embedding") || !strstr(msg, "position 4") || !strstr(msg, "10"))
        fail_msg("unhelpful message: %s", msg);
    nb_clear_error(ctx);

    const float bad[3] = {2.5f, -1.0f, NAN};
    for (int k = 0; k < 3; k++) {
        nb_tensor *b = nb_tensor_1d(ctx, 3);
        b->data[2] = bad[k];
        assert_null(nb_embedding(ctx, e->weight, b));
        assert_int_equal(nb_error(ctx), NB_ERR_ARG);
        assert_non_null(strstr(nb_error_message(ctx), "position 2"));
        nb_clear_error(ctx);
    }
    assert_null(nb_embedding(ctx, nb_tensor_1d(ctx, 3), ids));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    nb_ctx_free(ctx);
}

static void test_summary(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_sequential *s = nb_mlp_new(m, NULL, (int64_t[]){6, 5, 3}, 3, NB_ACT_RELU, 0.5f);
    nb_tensor *x = nb_tensor_2d(ctx, 4, 6);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(nb_model_summary(m, f), NB_OK); /* before any forward: "-" */
    nb_sequential_forward(s, x);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_model_summary(m, f), NB_OK);
    char text[4096];
    rewind(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    const char *second = strstr(text + 1, "layer");
    assert_non_null(second);
    /* the first table has no shapes yet ("-"), the second has them */
    char want[128];
    snprintf(want, sizeof want, "%-5s  %-10s  %-20s  %12d\n", "fc1", "linear", "-", 35);
    const char *first_fc1 = strstr(text, want);
    if (!first_fc1 || first_fc1 > second) fail_msg("first summary lacks '%s':\n%s", want, text);
    const char *rows[] = {"fc1", "linear", "[4,5]", "35", "act1", "relu", "drop1", "dropout",
                          "fc2", "[4,3]", "18", "53 trainable parameters in 4 tensors"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (!strstr(second, rows[i])) fail_msg("summary lacks '%s':\n%s", rows[i], text);
    snprintf(want, sizeof want, "%-5s  %-10s  %-20s  %12d\n", "fc1", "linear", "[4,5]", 35);
    if (!strstr(second, want)) fail_msg("summary row for fc1 differs:\n%s", text);
    assert_int_equal(nb_model_summary(m, NULL), NB_ERR_NULL);
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_model_params_and_buffers),
    cmocka_unit_test(test_model_errors),
    cmocka_unit_test(test_linear_layer_forward),
    cmocka_unit_test(test_mlp_builder),
    cmocka_unit_test(test_sequential_custom_module),
    cmocka_unit_test(test_dropout_modes),
    cmocka_unit_test(test_embedding_lookup_and_errors),
    cmocka_unit_test(test_summary),
};
NB_TEST_MAIN(tests)
