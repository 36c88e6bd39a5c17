/* Golden test: one forward + backward of a small CNN (conv, batchnorm2d,
 * relu, max-pool, bias-free conv, avg-pool, flatten, linear, cross-entropy)
 * in training and then evaluation mode against PyTorch's values in
 * tests/data/golden/conv.txt (tests/gen/gen_golden_conv.py): logits, loss,
 * the input's and every parameter's gradient, and the running statistics. */
#include "test_util.h"
#include "nabla/conv.h"
#include "golden.h"

/* |ours − torch| <= REL·|torch| + ABS. The reference is float64 from the
 * same float32 values. Batch normalisation divides by a batch standard
 * deviation and cancels means (conv1.bias's true gradient is 0 in training
 * mode), so the absolute floor is looser than for the MLP. */
#define GOLDEN_REL 1e-4
#define GOLDEN_ABS 2e-6

/* A tensor shaped and filled from a fixture. */
static nb_tensor *from_fixture(nb_ctx *ctx, const char *name, int param) {
    const golden_fixture *e = golden_get(name);
    nb_tensor *t = param ? nb_param_new(ctx, name, e->ndim, e->shape) : nb_tensor_new(ctx, e->ndim, e->shape);
    assert_non_null(t);
    for (int64_t i = 0; i < e->size; i++) t->data[i] = (float)e->values[i];
    return t;
}

static void compare(const char *name, const float *got, int64_t n) {
    const golden_fixture *e = golden_get(name);
    assert_int_equal(e->size, n);
    golden_assert_close(name, got, e, GOLDEN_REL, GOLDEN_ABS);
}

static void test_golden_cnn(void **state) {
    (void)state;
    golden_load("conv.txt");
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = from_fixture(ctx, "x", 0);
    nb_tensor_set_requires_grad(x);
    nb_tensor *labels = from_fixture(ctx, "labels", 0);
    static const char *pnames[] = {"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
                                   "conv2.weight", "fc.weight", "fc.bias"};
    nb_tensor *p[7];
    for (int i = 0; i < 7; i++) p[i] = from_fixture(ctx, pnames[i], 1);
    nb_tensor *rm = nb_tensor_1d(ctx, 3), *rv = nb_tensor_1d(ctx, 3);
    const nb_conv2d_opts pad1 = {.pad_h = 1, .pad_w = 1};
    nb_tensor *a = nb_batch_norm(ctx, nb_conv2d(ctx, x, p[0], p[1], &pad1), p[2], p[3], rm, rv, 0.1f, 1e-5f);
    nb_tensor *h = nb_max_pool2d(ctx, nb_relu(ctx, a), 2, 2, 2, 2, 0, 0);
    nb_tensor *c = nb_avg_pool2d(ctx, nb_conv2d(ctx, h, p[4], NULL, NULL), 2, 2, 1, 1, 0, 0);
    nb_tensor *logits = nb_linear(ctx, nb_flatten(ctx, c), p[5], p[6]);
    nb_tensor *loss = nb_cross_entropy(ctx, logits, labels, 0.0f);
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);

    static const char *modes[] = {"train", "eval"};
    for (int m = 0; m < 2; m++) {
        nb_set_training(ctx, m == 0);
        if (m == 0) {
            /* building the graph ran one forward already: start the running
             * statistics afresh, as PyTorch's module does */
            nb_tensor_fill(rm, 0.0f);
            nb_tensor_fill(rv, 1.0f);
        }
        nb_graph_zero_grad(g);
        memset(x->grad, 0, (size_t)x->size * sizeof(float));
        assert_int_equal(nb_graph_forward(g), NB_OK);
        assert_int_equal(nb_graph_backward(g), NB_OK);
        char name[96];
        snprintf(name, sizeof name, "%s.logits", modes[m]);
        compare(name, logits->data, logits->size);
        snprintf(name, sizeof name, "%s.loss", modes[m]);
        compare(name, loss->data, 1);
        snprintf(name, sizeof name, "%s.x.grad", modes[m]);
        compare(name, x->grad, x->size);
        for (int i = 0; i < 7; i++) {
            snprintf(name, sizeof name, "%s.%s.grad", modes[m], pnames[i]);
            compare(name, p[i]->grad, p[i]->size);
        }
        snprintf(name, sizeof name, "%s.bn1.running_mean", modes[m]);
        compare(name, rm->data, 3);
        snprintf(name, sizeof name, "%s.bn1.running_var", modes[m]);
        compare(name, rv->data, 3);
    }
    nb_ctx_free(ctx);
    golden_free();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_golden_cnn),
};
NB_TEST_MAIN(tests)
