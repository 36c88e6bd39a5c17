/* Tests of the transformer modules (nabla/gpt.h): parameter names, order and
 * counts against gpt_model.py, initialisation, graph replay with new tokens,
 * causality, dropout modes, errors, and a tiny GPT overfitting a fixed batch
 * with AdamW. Numerical agreement with PyTorch is test_golden_gpt.c. */
#include "test_util.h"

static nb_gpt_config tiny_cfg(void) {
    nb_gpt_config c = {.vocab = 11, .context = 8, .layers = 2, .heads = 2, .width = 16, .dropout = 0.0f};
    return c;
}

static void fill_ids(nb_tensor *t, uint64_t *seed, int64_t vocab) {
    for (int64_t i = 0; i < t->size; i++) {
        int64_t v = (int64_t)nbt_uniform(seed, 0.0f, (float)vocab);
        t->data[i] = (float)(v < vocab ? v : vocab - 1);
    }
}

/* Names and order are gpt_model.py's named_parameters() (tied lm_head once). */
static void test_param_names_and_order(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_gpt_config cfg = tiny_cfg();
    nb_gpt *g = nb_gpt_new(m, NULL, &cfg);
    NBT_ASSERT_OK(ctx);
    assert_non_null(g);
    static const char *const block[] = {"ln1.weight", "ln1.bias", "qkv.weight", "qkv.bias",
                                        "proj.weight", "proj.bias", "ln2.weight", "ln2.bias",
                                        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    char want[64];
    int k = 0;
    assert_string_equal(nb_model_param(m, k++)->name, "wte.weight");
    assert_string_equal(nb_model_param(m, k++)->name, "wpe.weight");
    for (int l = 0; l < cfg.layers; l++)
        for (int j = 0; j < 12; j++) {
            snprintf(want, sizeof want, "blocks.%d.%s", l, block[j]);
            assert_string_equal(nb_model_param(m, k++)->name, want);
        }
    assert_string_equal(nb_model_param(m, k++)->name, "ln_f.weight");
    assert_string_equal(nb_model_param(m, k++)->name, "ln_f.bias");
    assert_int_equal(k, nb_model_num_params(m));
    assert_int_equal(nb_model_num_buffers(m), 0);
    /* shapes of a few */
    nb_tensor *qkv = nb_model_find(m, "blocks.1.qkv.weight");
    assert_int_equal(qkv->shape[0], 48);
    assert_int_equal(qkv->shape[1], 16);
    nb_tensor *fc2 = nb_model_find(m, "blocks.0.fc2.weight");
    assert_int_equal(fc2->shape[0], 16);
    assert_int_equal(fc2->shape[1], 64);
    assert_ptr_equal(g->wte->weight, nb_model_find(m, "wte.weight"));

    /* a prefix lands in front of every name */
    nb_model *m2 = nb_model_new(ctx);
    assert_non_null(nb_gpt_new(m2, "lm", &cfg));
    NBT_ASSERT_OK(ctx);
    assert_non_null(nb_model_find(m2, "lm.blocks.1.fc2.bias"));
    assert_null(nb_model_find(m2, "blocks.1.fc2.bias"));
    nb_ctx_free(ctx);
}

/* Parameter counts: PyTorch's gpt_model.GPT(...).n_params() for the tiny and
 * the char model, and GPT-2 small's published 124,439,808, from the formula
 * (no allocation) and, for the small ones, from the built model. */
static void test_param_counts(void **state) {
    (void)state;
    nb_gpt_config cfg = tiny_cfg();
    assert_int_equal(nb_gpt_param_count(&cfg), 6896);
    nb_gpt_config chr = {.vocab = 90, .context = 64, .layers = 4, .heads = 4, .width = 128};
    assert_int_equal(nb_gpt_param_count(&chr), 813056);
    nb_gpt_config gpt2 = {.vocab = 50257, .context = 1024, .layers = 12, .heads = 12, .width = 768};
    assert_int_equal(nb_gpt_param_count(&gpt2), 124439808);
    nb_gpt_config bad = cfg;
    bad.heads = 3;
    assert_int_equal(nb_gpt_param_count(&bad), -1);
    assert_int_equal(nb_gpt_param_count(NULL), -1);

    const nb_gpt_config *built[] = {&cfg, &chr};
    for (int i = 0; i < 2; i++) {
        nb_ctx *ctx = nb_ctx_new();
        nb_model *m = nb_model_new(ctx);
        nb_gpt *g = nb_gpt_new(m, NULL, built[i]);
        NBT_ASSERT_OK(ctx);
        assert_non_null(g);
        assert_int_equal(nb_model_param_elements(m), nb_gpt_param_count(built[i]));
        assert_int_equal(nb_model_num_params(m), 4 + 12 * built[i]->layers);
        nb_ctx_free(ctx);
    }
}

static void moments(const nb_tensor *t, double *mean, double *std) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < t->size; i++) {
        s += t->data[i];
        s2 += (double)t->data[i] * t->data[i];
    }
    *mean = s / (double)t->size;
    *std = sqrt(s2 / (double)t->size - *mean * *mean);
}

/* gpt_model.py's init: N(0, 0.02) weights, zero biases, LayerNorm 1/0,
 * residual projections N(0, 0.02/√(2L)); same seed => same weights. */
static void test_init(void **state) {
    (void)state;
    nb_gpt_config cfg = {.vocab = 90, .context = 64, .layers = 4, .heads = 4, .width = 128};
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    assert_non_null(nb_gpt_new(m, NULL, &cfg));
    NBT_ASSERT_OK(ctx);
    double resid = 0.02 / sqrt(8.0);
    for (int i = 0; i < nb_model_num_params(m); i++) {
        nb_tensor *p = nb_model_param(m, i);
        const char *n = p->name;
        size_t len = strlen(n);
        double mean, std;
        moments(p, &mean, &std);
        if (strstr(n, "ln")) {
            float want = strstr(n, ".weight") ? 1.0f : 0.0f;
            for (int64_t j = 0; j < p->size; j++) assert_true(p->data[j] == want);
        } else if (len > 5 && strcmp(n + len - 5, ".bias") == 0) {
            for (int64_t j = 0; j < p->size; j++) assert_true(p->data[j] == 0.0f);
        } else {
            double want = (strstr(n, "proj.") || strstr(n, "fc2.")) ? resid : 0.02;
            /* >= 8192 samples each: the sample std is within ~2% */
            if (fabs(std - want) > 0.05 * want || fabs(mean) > 0.1 * want)
                fail_msg("%s: mean %g std %g, want N(0, %g)", n, mean, std, want);
        }
    }
    /* reproducible from the context's seed */
    nb_ctx *ctx2 = nb_ctx_new();
    nb_model *m2 = nb_model_new(ctx2);
    assert_non_null(nb_gpt_new(m2, NULL, &cfg));
    for (int i = 0; i < nb_model_num_params(m); i++)
        assert_memory_equal(nb_model_param(m, i)->data, nb_model_param(m2, i)->data,
                            (size_t)nb_model_param(m, i)->size * sizeof(float));
    nb_ctx_free(ctx2);
    nb_ctx_free(ctx);
}

typedef struct built {
    nb_ctx *ctx;
    nb_model *m;
    nb_gpt *gpt;
    nb_tensor *ids, *tgt, *logits, *loss;
    nb_graph *g;
} built;

/* A model from the default seed, built on [B,T] ids/targets drawn from seed. */
static built build(const nb_gpt_config *cfg, int64_t B, int64_t T, uint64_t seed) {
    built b;
    b.ctx = nb_ctx_new();
    b.m = nb_model_new(b.ctx);
    b.gpt = nb_gpt_new(b.m, NULL, cfg);
    b.ids = nb_tensor_2d(b.ctx, B, T);
    b.tgt = nb_tensor_2d(b.ctx, B, T);
    NBT_ASSERT_OK(b.ctx);
    fill_ids(b.ids, &seed, cfg->vocab);
    fill_ids(b.tgt, &seed, cfg->vocab);
    b.logits = nb_gpt_forward(b.gpt, b.ids);
    b.loss = nb_gpt_loss(b.ctx, b.logits, b.tgt);
    b.g = nb_graph_new(b.ctx, b.loss);
    NBT_ASSERT_OK(b.ctx);
    return b;
}

/* Replaying a graph with new ids gives bit for bit what a graph built on those
 * ids gives (the position ids are constant; nothing depends on the first ids). */
static void test_replay_new_tokens(void **state) {
    (void)state;
    nb_gpt_config cfg = tiny_cfg();
    built a = build(&cfg, 3, 6, 1), b = build(&cfg, 3, 6, 2);
    assert_true(a.loss->data[0] != b.loss->data[0]);
    memcpy(a.ids->data, b.ids->data, (size_t)b.ids->size * sizeof(float));
    memcpy(a.tgt->data, b.tgt->data, (size_t)b.tgt->size * sizeof(float));
    for (int rep = 0; rep < 2; rep++) {
        nb_graph_zero_grad(a.g);
        assert_int_equal(nb_graph_forward(a.g), NB_OK);
        assert_int_equal(nb_graph_backward(a.g), NB_OK);
    }
    nb_graph_zero_grad(b.g);
    assert_int_equal(nb_graph_backward(b.g), NB_OK);
    assert_memory_equal(a.logits->data, b.logits->data, (size_t)a.logits->size * sizeof(float));
    assert_true(a.loss->data[0] == b.loss->data[0]);
    for (int i = 0; i < nb_model_num_params(a.m); i++)
        assert_memory_equal(nb_model_param(a.m, i)->grad, nb_model_param(b.m, i)->grad,
                            (size_t)nb_model_param(a.m, i)->size * sizeof(float));
    /* an id out of range is caught on replay, naming the op */
    a.ids->data[4] = 11.0f;
    assert_int_equal(nb_graph_forward(a.g), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(a.ctx), "embedding"));
    nb_ctx_free(a.ctx);
    nb_ctx_free(b.ctx);
}

/* Logits at position t depend on tokens 0..t only. */
static void test_causal(void **state) {
    (void)state;
    nb_gpt_config cfg = tiny_cfg();
    built a = build(&cfg, 2, 8, 3);
    int64_t V = cfg.vocab, T = 8;
    float *before = malloc((size_t)a.logits->size * sizeof(float));
    assert_non_null(before);
    memcpy(before, a.logits->data, (size_t)a.logits->size * sizeof(float));
    /* change the token at position 5 of sequence 1 */
    a.ids->data[T + 5] = (float)(((int)a.ids->data[T + 5] + 3) % (int)V);
    assert_int_equal(nb_graph_forward(a.g), NB_OK);
    for (int64_t b = 0; b < 2; b++)
        for (int64_t t = 0; t < T; t++) {
            const float *x = before + (b * T + t) * V, *y = a.logits->data + (b * T + t) * V;
            int same = memcmp(x, y, (size_t)V * sizeof(float)) == 0;
            if (b == 1 && t >= 5) assert_false(same);
            else assert_true(same);
        }
    free(before);
    nb_ctx_free(a.ctx);
}

/* Dropout draws a fresh mask per forward in training mode; in evaluation
 * mode the model equals the same weights without dropout. */
static void test_dropout_modes(void **state) {
    (void)state;
    nb_gpt_config cfg = tiny_cfg(), dcfg = tiny_cfg();
    dcfg.dropout = 0.2f;
    built plain = build(&cfg, 2, 8, 4), drop = build(&dcfg, 2, 8, 4);
    /* same seed, same draw order: same weights */
    for (int i = 0; i < nb_model_num_params(plain.m); i++)
        assert_memory_equal(nb_model_param(plain.m, i)->data, nb_model_param(drop.m, i)->data,
                            (size_t)nb_model_param(plain.m, i)->size * sizeof(float));
    assert_true(nb_graph_num_nodes(drop.g) > nb_graph_num_nodes(plain.g));
    float l1 = drop.loss->data[0];
    assert_int_equal(nb_graph_forward(drop.g), NB_OK);
    float l2 = drop.loss->data[0];
    assert_true(l1 != l2);
    assert_true(l1 != plain.loss->data[0]);
    nb_set_training(drop.ctx, 0);
    assert_int_equal(nb_graph_forward(drop.g), NB_OK);
    assert_memory_equal(drop.logits->data, plain.logits->data, (size_t)plain.logits->size * sizeof(float));
    nb_ctx_free(plain.ctx);
    nb_ctx_free(drop.ctx);
}

static void expect_error(nb_ctx *ctx, int code, const char *text) {
    assert_int_equal(nb_error(ctx), code);
    if (!strstr(nb_error_message(ctx), text))
        fail_msg("message '%s' does not mention '%s'", nb_error_message(ctx), text);
    nb_clear_error(ctx);
}

static void test_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_gpt_config cfg = tiny_cfg();
    cfg.heads = 3;
    assert_null(nb_gpt_new(m, NULL, &cfg));
    expect_error(ctx, NB_ERR_ARG, "heads must divide width");
    cfg = tiny_cfg();
    cfg.dropout = 1.0f;
    assert_null(nb_gpt_new(m, NULL, &cfg));
    expect_error(ctx, NB_ERR_ARG, "dropout");
    cfg = tiny_cfg();
    cfg.layers = 0;
    assert_null(nb_gpt_new(m, NULL, &cfg));
    expect_error(ctx, NB_ERR_ARG, "layers 0");
    assert_null(nb_gpt_new(m, NULL, NULL));
    expect_error(ctx, NB_ERR_NULL, "config");
    assert_null(nb_self_attention_new(m, "a", 10, 4, 1, 0.0f));
    expect_error(ctx, NB_ERR_ARG, "self_attention 'a'");
    assert_null(nb_layer_norm_layer_new(m, "n", 0, 1e-5f));
    expect_error(ctx, NB_ERR_ARG, "layer_norm_layer 'n'");

    cfg = tiny_cfg();
    nb_gpt *g = nb_gpt_new(m, NULL, &cfg);
    NBT_ASSERT_OK(ctx);
    /* a second model with the same names in the same model is refused */
    assert_null(nb_gpt_new(m, NULL, &cfg));
    expect_error(ctx, NB_ERR_ARG, "wte.weight");
    nb_tensor *too_long = nb_tensor_2d(ctx, 2, 9);
    assert_null(nb_gpt_forward(g, too_long));
    expect_error(ctx, NB_ERR_SHAPE, "[2,9]");
    nb_tensor *rank3 = nb_tensor_3d(ctx, 2, 4, 1);
    assert_null(nb_gpt_forward(g, rank3));
    expect_error(ctx, NB_ERR_SHAPE, "[B,T]");
    nb_tensor *ids = nb_tensor_2d(ctx, 2, 4);
    nb_tensor *logits = nb_gpt_forward(g, ids);
    NBT_ASSERT_OK(ctx);
    assert_null(nb_gpt_loss(ctx, logits, nb_tensor_2d(ctx, 2, 5)));
    expect_error(ctx, NB_ERR_SHAPE, "gpt_loss");
    ids->data[3] = 2.5f;
    assert_null(nb_gpt_forward(g, ids));
    expect_error(ctx, NB_ERR_ARG, "embedding");
    nb_tensor *x = nb_tensor_3d(ctx, 2, 4, 15);
    assert_null(nb_transformer_block_forward(g->blocks[0], x));
    expect_error(ctx, NB_ERR_SHAPE, "[2,4,15]");
    nb_ctx_free(ctx);
}

/* The summary lists the layers with their parameter counts. */
static void test_summary(void **state) {
    (void)state;
    nb_gpt_config cfg = tiny_cfg();
    built a = build(&cfg, 1, 8, 5);
    char buf[8192] = {0};
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(nb_model_summary(a.m, f), NB_OK);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "blocks.1.qkv"));
    assert_non_null(strstr(buf, "[1,8,48]"));
    assert_non_null(strstr(buf, "ln_f"));
    assert_non_null(strstr(buf, "total: 6896 trainable parameters"));
    nb_ctx_free(a.ctx);
}

/* A tiny GPT memorises one fixed batch: the loss falls from ~ln V (2.42) to
 * below 0.05 within 60 AdamW steps at lr 1e-2 (it reaches ~0.005 here). */
static void test_overfit_fixed_batch(void **state) {
    (void)state;
    nb_gpt_config cfg = {.vocab = 11, .context = 8, .layers = 2, .heads = 2, .width = 32};
    built a = build(&cfg, 4, 8, 6);
    float first = a.loss->data[0];
    assert_true(fabsf(first - logf(11.0f)) < 0.5f);
    nb_optim_config oc = nb_optim_defaults(NB_OPTIM_ADAMW);
    oc.lr = 1e-2;
    nb_optim *opt = nb_optim_new(nb_model_params(a.m), nb_model_num_params(a.m), &oc);
    NBT_ASSERT_OK(a.ctx);
    for (int step = 0; step < 60; step++) {
        if (step) assert_int_equal(nb_graph_forward(a.g), NB_OK);
        nb_graph_zero_grad(a.g);
        assert_int_equal(nb_graph_backward(a.g), NB_OK);
        assert_int_equal(nb_optim_step(opt), NB_OK);
    }
    assert_int_equal(nb_graph_forward(a.g), NB_OK);
    float last = a.loss->data[0];
    if (!(last < 0.05f)) fail_msg("loss %g -> %g after 60 steps", (double)first, (double)last);
    nb_ctx_free(a.ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_param_names_and_order),
    cmocka_unit_test(test_param_counts),
    cmocka_unit_test(test_init),
    cmocka_unit_test(test_replay_new_tokens),
    cmocka_unit_test(test_causal),
    cmocka_unit_test(test_dropout_modes),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_summary),
    cmocka_unit_test(test_overfit_fixed_batch),
};
NB_TEST_MAIN(tests)
