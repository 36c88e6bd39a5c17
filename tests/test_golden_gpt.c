/* Golden test of the transformer modules: one pre-LayerNorm block and a
 * 2-layer GPT with tied embeddings, forward + backward against PyTorch's
 * values in tests/data/golden/gpt.txt (tests/gen/gen_golden_gpt.py, which runs
 * ../shared/bench/torch/gpt_model.py). Weights are loaded by parameter name. */
#include "test_util.h"
#include "golden.h"

/* Agreement: |ours - torch| <= REL·|torch| + ABS·max|torch over the tensor|.
 * The reference is exact (float64 from the same float32 weights). A float32
 * dot product or sum of n terms of size up to M is off by ~n·2^-24·M at most,
 * independent of how small the result is, so an entry that cancels to nearly
 * 0 (e.g. a gradient summed over B·T positions of both signs) can only be
 * matched to a fraction of its tensor's scale, not of its own value; 1e-6 of
 * the largest entry is that float32 floor for these sizes (n <= 64 terms per
 * sum, a few layers deep) with a margin of ~5. */
#define GOLDEN_REL 1e-5
#define GOLDEN_ABS 1e-6

static void assert_close(const float *got, const golden_fixture *e) {
    golden_assert_close_scaled(e->name, got, e, GOLDEN_REL, GOLDEN_ABS);
}

/* Loads every fixture "<prefix><param name>" into the model's parameter of
 * that name; the model must have exactly those parameters. */
static void load_weights(nb_model *m, const char *prefix) {
    size_t lp = strlen(prefix);
    int n = 0;
    for (int i = 0; i < golden_nfx; i++) {
        if (strncmp(golden_fx[i].name, prefix, lp) != 0) continue;
        const char *pname = golden_fx[i].name + lp;
        nb_tensor *p = nb_model_find(m, pname);
        if (!p) continue; /* inputs and results of the cases share the prefix */
        golden_copy_in(p, &golden_fx[i]);
        n++;
    }
    assert_int_equal(n, nb_model_num_params(m));
}

/* Every parameter's gradient against "<prefix>grad.<name>". */
static void check_param_grads(nb_model *m, const char *prefix) {
    char name[160];
    for (int i = 0; i < nb_model_num_params(m); i++) {
        nb_tensor *p = nb_model_param(m, i);
        snprintf(name, sizeof name, "%sgrad.%s", prefix, p->name);
        const golden_fixture *e = golden_get(name);
        golden_assert_shape(p, e);
        assert_close(p->grad, e);
    }
}

static void test_block(void **state) {
    (void)state;
    golden_load("gpt.txt");
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_transformer_block *b = nb_transformer_block_new(m, NULL, 8, 2, 0.0f);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_model_num_params(m), 12);
    load_weights(m, "block.");

    const golden_fixture *fxx = golden_get("block.x"), *fxr = golden_get("block.r");
    nb_tensor *x = nb_tensor_new(ctx, fxx->ndim, fxx->shape);
    nb_tensor *r = nb_tensor_new(ctx, fxr->ndim, fxr->shape);
    golden_copy_in(x, fxx);
    golden_copy_in(r, fxr);
    assert_int_equal(nb_tensor_set_requires_grad(x), NB_OK);
    nb_tensor *y = nb_transformer_block_forward(b, x);
    nb_tensor *loss = nb_sum(ctx, nb_mul(ctx, y, r));
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    /* twice: the values must also come out of a replay of the graph */
    for (int rep = 0; rep < 2; rep++) {
        nb_graph_zero_grad(g);
        if (x->grad) memset(x->grad, 0, (size_t)x->size * sizeof(float));
        if (rep) assert_int_equal(nb_graph_forward(g), NB_OK);
        assert_int_equal(nb_graph_backward(g), NB_OK);
        assert_close(y->data, golden_get("block.y"));
        assert_close(loss->data, golden_get("block.loss"));
        assert_close(x->grad, golden_get("block.grad.x"));
        check_param_grads(m, "block.");
    }
    nb_ctx_free(ctx);
    golden_free();
}

/* The GPT case `c` ("gpt.full." or "gpt.short."): logits, loss and every
 * gradient, on first run and on replay. */
static void run_gpt_case(const char *c) {
    golden_load("gpt.txt");
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_gpt_config cfg = {.vocab = 11, .context = 8, .layers = 2, .heads = 2, .width = 16, .dropout = 0.0f};
    nb_gpt *gpt = nb_gpt_new(m, NULL, &cfg);
    NBT_ASSERT_OK(ctx);
    /* wte, wpe, 12 per block, ln_f: no separate lm_head */
    assert_int_equal(nb_model_num_params(m), 2 + 12 * 2 + 2);
    assert_int_equal(nb_model_param_elements(m), nb_gpt_param_count(&cfg));
    load_weights(m, "gpt.");

    char name[160];
    snprintf(name, sizeof name, "%sids", c);
    const golden_fixture *fi = golden_get(name);
    snprintf(name, sizeof name, "%stargets", c);
    const golden_fixture *ft = golden_get(name);
    nb_tensor *ids = nb_tensor_new(ctx, fi->ndim, fi->shape);
    nb_tensor *tgt = nb_tensor_new(ctx, ft->ndim, ft->shape);
    golden_copy_in(ids, fi);
    golden_copy_in(tgt, ft);
    nb_tensor *logits = nb_gpt_forward(gpt, ids);
    nb_tensor *loss = nb_gpt_loss(ctx, logits, tgt);
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    for (int rep = 0; rep < 2; rep++) {
        nb_graph_zero_grad(g);
        if (rep) assert_int_equal(nb_graph_forward(g), NB_OK);
        assert_int_equal(nb_graph_backward(g), NB_OK);
        snprintf(name, sizeof name, "%slogits", c);
        assert_close(logits->data, golden_get(name));
        snprintf(name, sizeof name, "%sloss", c);
        assert_close(loss->data, golden_get(name));
        check_param_grads(m, c);
    }
    nb_ctx_free(ctx);
    golden_free();
}

static void test_gpt_full_context(void **state) {
    (void)state;
    run_gpt_case("gpt.full.");
}

/* T = 5 < context 8: positions 5..7 get no gradient */
static void test_gpt_short_sequence(void **state) {
    (void)state;
    run_gpt_case("gpt.short.");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_block),
    cmocka_unit_test(test_gpt_full_context),
    cmocka_unit_test(test_gpt_short_sequence),
};
NB_TEST_MAIN(tests)
