/* Golden test: one forward + backward of a 6-5-4-3 ReLU MLP built with
 * nb_mlp_new, with cross-entropy loss (plain and label-smoothed), against
 * PyTorch's values in tests/data/golden/mlp.txt (tests/gen/gen_golden_mlp.py). */
#include "test_util.h"

/* Agreement: |ours - torch| <= REL·|torch| + ABS. The reference is exact
 * (float64 from the same float32 weights); float32 rounding through three
 * layers is ~1e-7 relative, and the absolute floor covers entries whose true
 * value is 0 or tiny (dead ReLU units, cancelling sums). */
#define GOLDEN_REL 1e-5
#define GOLDEN_ABS 1e-7

#define MAX_FIXTURES 64

typedef struct fixture {
    char name[64];
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
        if (fscanf(f, "%63s %d", e->name, &e->ndim) != 2 || e->ndim < 0 || e->ndim > NB_MAX_DIMS)
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

static void assert_close(const char *what, const float *got, const fixture *e) {
    for (int64_t i = 0; i < e->size; i++) {
        double want = e->values[i], err = fabs((double)got[i] - want);
        if (!(err <= GOLDEN_REL * fabs(want) + GOLDEN_ABS))
            fail_msg("%s[%lld]: nabla %.9g, PyTorch %.9g (error %.3g)", what, (long long)i,
                     (double)got[i], want, err);
    }
}

/* Builds the model, loads PyTorch's weights by name, and checks logits, loss
 * and every parameter gradient for the case with the given prefix. */
static void run_case(const char *prefix, float smoothing) {
    load_fixtures("mlp.txt");
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    const int64_t widths[] = {6, 5, 4, 3};
    nb_sequential *mlp = nb_mlp_new(m, NULL, widths, 4, NB_ACT_RELU, 0.0f);
    NBT_ASSERT_OK(ctx);

    /* Every PyTorch parameter exists in the model under the same name, and
     * the model has no others. */
    int ntorch = 0;
    for (int i = 0; i < nfx; i++) {
        if (strncmp(fx[i].name, "fc", 2) != 0) continue;
        nb_tensor *p = nb_model_find(m, fx[i].name);
        if (!p) fail_msg("model has no parameter '%s'", fx[i].name);
        copy_in(p, &fx[i]);
        ntorch++;
    }
    assert_int_equal(ntorch, nb_model_num_params(m));

    const fixture *fxx = get("x"), *fxl = get("labels");
    nb_tensor *x = nb_tensor_new(ctx, fxx->ndim, fxx->shape);
    nb_tensor *labels = nb_tensor_new(ctx, fxl->ndim, fxl->shape);
    copy_in(x, fxx);
    copy_in(labels, fxl);
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
        assert_close(name, logits->data, get(name));
        snprintf(name, sizeof name, "%sloss", prefix);
        assert_close(name, loss->data, get(name));
        for (int i = 0; i < nb_model_num_params(m); i++) {
            nb_tensor *p = nb_model_param(m, i);
            snprintf(name, sizeof name, "%sgrad.%s", prefix, p->name);
            const fixture *e = get(name);
            assert_shape(p, e);
            assert_close(name, p->grad, e);
        }
    }
    nb_ctx_free(ctx);
    free_fixtures();
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
