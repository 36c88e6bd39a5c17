/* Golden test: one forward + backward of a 6-5-4-3 ReLU MLP built with
 * nb_mlp_new, with cross-entropy loss (plain and label-smoothed), against
 * PyTorch's values in tests/data/golden/mlp.txt (tests/gen/gen_golden_mlp.py). */
#include "test_util.h"
#include "golden.h"

/* Agreement: |ours - torch| <= REL·|torch| + ABS. The reference is exact
 * (float64 from the same float32 weights); float32 rounding through three
 * layers is ~1e-7 relative, and the absolute floor covers entries whose true
 * value is 0 or tiny (dead ReLU units, cancelling sums). */
#define GOLDEN_REL 1e-5
#define GOLDEN_ABS 1e-7

static void assert_close(const char *what, const float *got, const golden_fixture *e) {
    golden_assert_close(what, got, e, GOLDEN_REL, GOLDEN_ABS);
}

/* Builds the model, loads PyTorch's weights by name, and checks logits, loss
 * and every parameter gradient for the case with the given prefix. */
static void run_case(const char *prefix, float smoothing) {
    golden_load("mlp.txt");
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    const int64_t widths[] = {6, 5, 4, 3};
    nb_sequential *mlp = nb_mlp_new(m, NULL, widths, 4, NB_ACT_RELU, 0.0f);
    NBT_ASSERT_OK(ctx);

    /* Every PyTorch parameter exists in the model under the same name, and
     * the model has no others. */
    int ntorch = 0;
    for (int i = 0; i < golden_nfx; i++) {
        if (strncmp(golden_fx[i].name, "fc", 2) != 0) continue;
        nb_tensor *p = nb_model_find(m, golden_fx[i].name);
        if (!p) fail_msg("model has no parameter '%s'", golden_fx[i].name);
        golden_copy_in(p, &golden_fx[i]);
        ntorch++;
    }
    assert_int_equal(ntorch, nb_model_num_params(m));

    const golden_fixture *fxx = golden_get("x"), *fxl = golden_get("labels");
    nb_tensor *x = nb_tensor_new(ctx, fxx->ndim, fxx->shape);
    nb_tensor *labels = nb_tensor_new(ctx, fxl->ndim, fxl->shape);
    golden_copy_in(x, fxx);
    golden_copy_in(labels, fxl);
    nb_tensor *logits = nb_sequential_forward(mlp, x);
    nb_tensor *loss = nb_cross_entropy(ctx, logits, labels, smoothing);
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);

    char name[96];
    /* twice: the values must also come out of a replay of the graph */
    for (int rep = 0; rep < 2; rep++) {
        nb_graph_zero_grad(g);
        if (rep) assert_int_equal(nb_graph_forward(g), NB_OK);
        assert_int_equal(nb_graph_backward(g), NB_OK);
        snprintf(name, sizeof name, "%slogits", prefix);
        assert_close(name, logits->data, golden_get(name));
        snprintf(name, sizeof name, "%sloss", prefix);
        assert_close(name, loss->data, golden_get(name));
        for (int i = 0; i < nb_model_num_params(m); i++) {
            nb_tensor *p = nb_model_param(m, i);
            snprintf(name, sizeof name, "%sgrad.%s", prefix, p->name);
            const golden_fixture *e = golden_get(name);
            golden_assert_shape(p, e);
            assert_close(name, p->grad, e);
        }
    }
    nb_ctx_free(ctx);
    golden_free();
}

static void test_mlp_cross_entropy(void **state) {
    (void)state;
    run_case("ce.", 0.0f);
}

static void test_mlp_cross_entropy_label_smoothing(void **state) {
    (void)state;
    run_case("ls.", 0.1f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mlp_cross_entropy),
    cmocka_unit_test(test_mlp_cross_entropy_label_smoothing),
};
NB_TEST_MAIN(tests)
