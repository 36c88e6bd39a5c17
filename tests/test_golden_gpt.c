/* Golden test of the transformer modules: one pre-LayerNorm block and a
 * 2-layer GPT with tied embeddings, forward + backward against PyTorch's
 * values in tests/data/golden/gpt.txt (tests/gen/gen_golden_gpt.py, which runs
 * ../shared/bench/torch/gpt_model.py). Weights are loaded by parameter name. */
#include "test_util.h"

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

#define MAX_FIXTURES 192

typedef struct fixture {
    char name[80];
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t size;
    double *values;
} fixture;

static fixture fx[MAX_FIXTURES];
static int nfx;

/* Parses the whole file; fails the test on any malformed or short entry. */
static void load_fixtures(const char *file) {
    const char *dir = getenv("NABLA_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/%s", dir ? dir : "tests/data", file);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open fixture %s", path);
    nfx = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '#') {
            while ((c = fgetc(f)) != EOF && c != '\n') {}
            continue;
        }
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') continue;
        ungetc(c, f);
        assert_true(nfx < MAX_FIXTURES);
        fixture *e = &fx[nfx];
        if (fscanf(f, "%79s %d", e->name, &e->ndim) != 2 || e->ndim < 0 || e->ndim > NB_MAX_DIMS)
            fail_msg("%s: bad header after entry %d", path, nfx);
        e->size = 1;
        for (int d = 0; d < e->ndim; d++) {
            long long v;
            if (fscanf(f, "%lld", &v) != 1 || v < 0 || v > 100000) fail_msg("%s: bad shape of %s", path, e->name);
            e->shape[d] = v;
            e->size *= v;
        }
        e->values = calloc((size_t)(e->size ? e->size : 1), sizeof(double));
        assert_non_null(e->values);
        for (int64_t i = 0; i < e->size; i++)
            if (fscanf(f, "%lf", &e->values[i]) != 1) fail_msg("%s: %s is truncated", path, e->name);
        nfx++;
    }
    fclose(f);
}

static void free_fixtures(void) {
    for (int i = 0; i < nfx; i++) free(fx[i].values);
    nfx = 0;
}

static const fixture *get(const char *name) {
    for (int i = 0; i < nfx; i++)
        if (strcmp(fx[i].name, name) == 0) return &fx[i];
    fail_msg("fixture has no entry '%s'", name);
    return NULL;
}

static void assert_shape(const nb_tensor *t, const fixture *e) {
    if (t->ndim != e->ndim) fail_msg("%s: rank %d, fixture %d", e->name, t->ndim, e->ndim);
    for (int d = 0; d < e->ndim; d++)
        if (t->shape[d] != e->shape[d]) fail_msg("%s: dim %d is %lld, fixture %lld", e->name, d,
                                                 (long long)t->shape[d], (long long)e->shape[d]);
}

static void copy_in(nb_tensor *t, const fixture *e) {
    assert_shape(t, e);
    for (int64_t i = 0; i < e->size; i++) t->data[i] = (float)e->values[i];
}

static void assert_close(const float *got, const fixture *e) {
    double scale = 0.0;
    for (int64_t i = 0; i < e->size; i++) scale = fmax(scale, fabs(e->values[i]));
    for (int64_t i = 0; i < e->size; i++) {
        double want = e->values[i], err = fabs((double)got[i] - want);
        if (!(err <= GOLDEN_REL * fabs(want) + GOLDEN_ABS * scale))
            fail_msg("%s[%lld]: nabla %.9g, PyTorch %.9g (error %.3g, tensor scale %.3g)", e->name,
                     (long long)i, (double)got[i], want, err, scale);
    }
}

/* Loads every fixture "<prefix><param name>" into the model's parameter of
 * that name; the model must have exactly those parameters. */
static void load_weights(nb_model *m, const char *prefix) {
    size_t lp = strlen(prefix);
    int n = 0;
    for (int i = 0; i < nfx; i++) {
        if (strncmp(fx[i].name, prefix, lp) != 0) continue;
        const char *pname = fx[i].name + lp;
        nb_tensor *p = nb_model_find(m, pname);
        if (!p) continue; /* inputs and results of the cases share the prefix */
        copy_in(p, &fx[i]);
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
        const fixture *e = get(name);
        assert_shape(p, e);
        assert_close(p->grad, e);
    }
}

static void test_block(void **state) {
    (void)state;
    load_fixtures("gpt.txt");
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_transformer_block *b = nb_transformer_block_new(m, NULL, 8, 2, 0.0f);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_model_num_params(m), 12);
    load_weights(m, "block.");

    const fixture *fxx = get("block.x"), *fxr = get("block.r");
    nb_tensor *x = nb_tensor_new(ctx, fxx->ndim, fxx->shape);
    nb_tensor *r = nb_tensor_new(ctx, fxr->ndim, fxr->shape);
    copy_in(x, fxx);
    copy_in(r, fxr);
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
        assert_close(y->data, get("block.y"));
        assert_close(loss->data, get("block.loss"));
        assert_close(x->grad, get("block.grad.x"));
        check_param_grads(m, "block.");
    }
    nb_ctx_free(ctx);
    free_fixtures();
}

/* The GPT case `c` ("gpt.full." or "gpt.short."): logits, loss and every
 * gradient, on first run and on replay. */
static void run_gpt_case(const char *c) {
    load_fixtures("gpt.txt");
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
    const fixture *fi = get(name);
    snprintf(name, sizeof name, "%stargets", c);
    const fixture *ft = get(name);
    nb_tensor *ids = nb_tensor_new(ctx, fi->ndim, fi->shape);
    nb_tensor *tgt = nb_tensor_new(ctx, ft->ndim, ft->shape);
    copy_in(ids, fi);
    copy_in(tgt, ft);
    nb_tensor *logits = nb_gpt_forward(gpt, ids);
    nb_tensor *loss = nb_gpt_loss(ctx, logits, tgt);
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    for (int rep = 0; rep < 2; rep++) {
        nb_graph_zero_grad(g);
        if (rep) assert_int_equal(nb_graph_forward(g), NB_OK);
        assert_int_equal(nb_graph_backward(g), NB_OK);
        snprintf(name, sizeof name, "%slogits", c);
        assert_close(logits->data, get(name));
        snprintf(name, sizeof name, "%sloss", c);
        assert_close(loss->data, get(name));
        check_param_grads(m, c);
    }
    nb_ctx_free(ctx);
    free_fixtures();
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
