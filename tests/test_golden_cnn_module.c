/* Golden test of the convolutional layer modules: a small CNN built from
 * nabla's layers in an nb_sequential, its weights AND running statistics
 * loaded by state_dict name from tests/data/golden/cnn_module.txt
 * (tests/gen/gen_golden_cnn.py), compared with PyTorch in training mode
 * (logits, loss, every gradient, running statistics after one and two
 * forwards) and in evaluation mode (logits, loss, every gradient). */
#include "test_util.h"
#include "golden.h"

/* |ours − torch| <= REL·|torch| + ABS against a float64 reference computed
 * from the same float32 inputs; as in test_golden_conv.c, the batch norms
 * divide by batch standard deviations and cancel means (a bias feeding a
 * training-mode batch norm has a true gradient of 0), hence the floor. */
#define GOLDEN_REL 1e-4
#define GOLDEN_ABS 2e-6

/* The entry named by fmt with a and b filled in. */
static const golden_fixture *fixture(const char *fmt, const char *a, const char *b) {
    char name[256];
    snprintf(name, sizeof name, fmt, a, b);
    return golden_get(name);
}

static void compare(const golden_fixture *e, const float *got, int64_t n) {
    assert_int_equal(e->size, n);
    golden_assert_close(e->name, got, e, GOLDEN_REL, GOLDEN_ABS);
}

/* The PyTorch Net of gen_golden_cnn.py with the same attribute names. */
static nb_sequential *build_net(nb_model *m) {
    nb_sequential *s = nb_sequential_new(m, "");
    const nb_conv2d_opts pad1 = {.pad_h = 1, .pad_w = 1};
    const nb_conv2d_opts pad1g2 = {.pad_h = 1, .pad_w = 1, .groups = 2};
    nb_module *mods[] = {
        &nb_conv2d_layer_new(m, "conv1", 2, 4, 3, 3, &pad1, 1)->base,
        &nb_batchnorm2d_layer_new(m, "bn1", 4, 0.1f, 1e-5f, 1)->base,
        &nb_activation_layer_new(m, "relu1", NB_ACT_RELU)->base,
        &nb_max_pool2d_layer_new(m, "pool1", 2, 2, 0, 0, 0, 0)->base,
        &nb_conv2d_layer_new(m, "conv2", 4, 6, 3, 3, &pad1g2, 0)->base,
        &nb_activation_layer_new(m, "relu2", NB_ACT_RELU)->base,
        &nb_avg_pool2d_layer_new(m, "pool2", 2, 2, 1, 1, 0, 0)->base,
        nb_flatten_layer_new(m, "flatten"),
        &nb_linear_layer_new(m, "fc1", 24, 8, 1)->base,
        &nb_batchnorm1d_layer_new(m, "bn2", 8, 0.1f, 1e-5f, 1)->base,
        &nb_activation_layer_new(m, "relu3", NB_ACT_RELU)->base,
        &nb_linear_layer_new(m, "fc2", 8, 3, 1)->base,
    };
    NBT_ASSERT_OK(nb_model_ctx(m));
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
        assert_int_equal(nb_sequential_add(s, mods[i]), NB_OK);
    return s;
}

static void test_golden_cnn_module(void **state) {
    (void)state;
    golden_load("cnn_module.txt");
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_sequential *net = build_net(m);

    /* every state_dict entry (but num_batches_tracked) is a parameter or a
     * buffer of the same name and shape, and nothing else is */
    int nstate = 0;
    for (int i = 0; i < golden_nfx; i++) {
        if (strncmp(golden_fx[i].name, "state.", 6) != 0) continue;
        nstate++;
        nb_tensor *t = nb_model_find(m, golden_fx[i].name + 6);
        if (!t) fail_msg("PyTorch's %s has no nabla counterpart", golden_fx[i].name + 6);
        golden_copy_in(t, &golden_fx[i]);
    }
    assert_int_equal(nstate, nb_model_num_params(m) + nb_model_num_buffers(m));
    assert_int_equal(nb_model_num_params(m), 11);
    assert_int_equal(nb_model_num_buffers(m), 4);

    const golden_fixture *ex = fixture("x", "", ""), *el = fixture("labels", "", "");
    nb_tensor *x = nb_tensor_new(ctx, ex->ndim, ex->shape);
    nb_tensor *labels = nb_tensor_1d(ctx, el->size);
    golden_copy_in(x, ex);
    for (int64_t k = 0; k < labels->size; k++) labels->data[k] = (float)el->values[k];

    /* built in training mode on the real batch: building runs every forward
     * once, and that must not move the running statistics */
    nb_set_training(ctx, 1);
    nb_tensor *logits = nb_module_forward(&net->base, x);
    nb_tensor *loss = nb_cross_entropy(ctx, logits, labels, 0.0f);
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    for (int i = 0; i < nb_model_num_buffers(m); i++) {
        nb_tensor *b = nb_model_buffer(m, i);
        compare(fixture("state.%s%s", b->name, ""), b->data, b->size);
    }

    nb_tensor *const *params = nb_model_params(m);
    const int np = nb_model_num_params(m);
    static const char *modes[] = {"train", "eval"};
    for (int mode = 0; mode < 2; mode++) {
        nb_set_training(ctx, mode == 0);
        nb_graph_zero_grad(g);
        assert_int_equal(nb_graph_forward(g), NB_OK);
        assert_int_equal(nb_graph_backward(g), NB_OK);
        compare(fixture("%s.logits%s", modes[mode], ""), logits->data, logits->size);
        compare(fixture("%s.loss%s", modes[mode], ""), loss->data, 1);
        for (int i = 0; i < np; i++) {
            char key[96];
            snprintf(key, sizeof key, "%s.%s", modes[mode], params[i]->name);
            compare(fixture("%s.grad%s", key, ""), params[i]->grad, params[i]->size);
        }
        if (mode == 0) {
            for (int i = 0; i < nb_model_num_buffers(m); i++) {
                nb_tensor *b = nb_model_buffer(m, i);
                compare(fixture("train.%s%s", b->name, ""), b->data, b->size);
            }
            /* a second executed forward moves them a second time, as a
             * second call of the PyTorch module does */
            assert_int_equal(nb_graph_forward(g), NB_OK);
            for (int i = 0; i < nb_model_num_buffers(m); i++) {
                nb_tensor *b = nb_model_buffer(m, i);
                compare(fixture("train2.%s%s", b->name, ""), b->data, b->size);
            }
        } else {
            /* evaluation reads the running statistics and leaves them alone */
            for (int i = 0; i < nb_model_num_buffers(m); i++) {
                nb_tensor *b = nb_model_buffer(m, i);
                compare(fixture("train2.%s%s", b->name, ""), b->data, b->size);
            }
        }
    }
    nb_ctx_free(ctx);
    golden_free();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_golden_cnn_module),
};
NB_TEST_MAIN(tests)
