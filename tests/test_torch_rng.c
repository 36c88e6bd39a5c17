/* Tests of nabla's PyTorch-compatible random draws (nb_rng_seed_torch,
 * NB_SHUFFLE_TORCH, `nabla train --rng torch`): MT19937's published outputs,
 * and, bit for bit against tests/data/golden/torch_rng.txt (written by
 * tests/gen/gen_golden_torch_rng.py with PyTorch 1.13), uniform_ draws, the
 * default initialisation of the `cnn` preset's and the MLP's layers after
 * torch.manual_seed, and torch.randperm orders epoch after epoch. */
#include <math.h>

#include "test_util.h"

#define MAXLINE 8192

static FILE *open_fixture(void) {
    const char *dir = getenv("NABLA_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/torch_rng.txt", dir ? dir : "tests/data");
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open fixture %s", path);
    return f;
}

/* Next fixture line starting with `kind` (without it), or NULL at the end. */
static char *next_line(FILE *f, const char *kind, char *buf) {
    const size_t k = strlen(kind);
    while (fgets(buf, MAXLINE, f))
        if (!strncmp(buf, kind, k) && buf[k] == ' ') return buf + k + 1;
    return NULL;
}

static double num(char **p) {
    char *end;
    double v = strtod(*p, &end);
    if (end == *p) fail_msg("malformed fixture near '%.40s'", *p);
    *p = end;
    return v;
}

static void word(char **p, char *out, size_t n) {
    int used = 0;
    if (sscanf(*p, " %63s%n", out, &used) != 1 || n < 64) fail_msg("malformed fixture near '%.40s'", *p);
    *p += used;
}

/* The reference MT19937 (Matsumoto and Nishimura's mt19937ar.c, and C++'s
 * std::mt19937) from seed 5489: first output 3499211612, the 10000th
 * 4123659995. */
static void test_mt19937_reference(void **state) {
    (void)state;
    nb_rng r;
    nb_rng_seed_torch(&r, 5489);
    assert_int_equal(r.kind, NB_RNG_TORCH);
    assert_int_equal(nb_rng_u32(&r), 3499211612u);
    for (int i = 2; i < 10000; i++) nb_rng_u32(&r);
    assert_int_equal(nb_rng_u32(&r), 4123659995u);
    /* nb_rng_seed switches back to PCG32 */
    nb_rng_seed(&r, 0);
    assert_int_equal(r.kind, NB_RNG_PCG);
    assert_int_equal(nb_rng_u32(&r), 3894649422u);
}

static void test_uniform_matches_torch(void **state) {
    (void)state;
    FILE *f = open_fixture();
    static char buf[MAXLINE];
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *t = nb_tensor_1d(ctx, 16);
    NBT_ASSERT_OK(ctx);
    int cases = 0;
    char *p;
    while ((p = next_line(f, "uniform", buf))) {
        const uint64_t seed = (uint64_t)num(&p);
        const float lo = (float)num(&p), hi = (float)num(&p);
        nb_rng r;
        nb_rng_seed_torch(&r, seed);
        assert_int_equal(nb_init_uniform(t, &r, lo, hi), NB_OK);
        for (int i = 0; i < 16; i++) {
            const float want = (float)num(&p);
            if (t->data[i] != want)
                fail_msg("seed %llu U(%g, %g) draw %d: %a, torch %a", (unsigned long long)seed,
                         (double)lo, (double)hi, i, (double)t->data[i], (double)want);
        }
        cases++;
    }
    assert_int_equal(cases, 3);
    fclose(f);
    nb_ctx_free(ctx);
}

/* The layers as nn.Sequential builds them: Conv2d(1,32,3,p1), Conv2d(32,64,
 * 3,p1), Linear(3136,128), Linear(128,10) ("0", "3", "7", "9"), and the MLP
 * Linear(784,256), Linear(256,128), Linear(128,10) ("0", "2", "4"). */
static nb_model *build(nb_ctx *ctx, const char *model) {
    nb_model *m = nb_model_new(ctx);
    const nb_conv2d_opts o = {.pad_h = 1, .pad_w = 1};
    if (!strcmp(model, "cnn")) {
        nb_conv2d_layer_new(m, "0", 1, 32, 3, 3, &o, 1);
        nb_conv2d_layer_new(m, "3", 32, 64, 3, 3, &o, 1);
        nb_linear_layer_new(m, "7", 3136, 128, 1);
        nb_linear_layer_new(m, "9", 128, 10, 1);
    } else {
        nb_linear_layer_new(m, "0", 784, 256, 1);
        nb_linear_layer_new(m, "2", 256, 128, 1);
        nb_linear_layer_new(m, "4", 128, 10, 1);
    }
    NBT_ASSERT_OK(ctx);
    return m;
}

static void test_default_layers_match_torch(void **state) {
    (void)state;
    FILE *f = open_fixture();
    static char buf[MAXLINE];
    char model[64], name[64], built_model[64] = "";
    uint64_t built_seed = UINT64_MAX;
    nb_ctx *ctx = NULL;
    nb_model *m = NULL;
    int checked = 0, k = 0;
    char *p;
    while ((p = next_line(f, "param", buf))) {
        word(&p, model, sizeof model);
        const uint64_t seed = (uint64_t)num(&p);
        word(&p, name, sizeof name);
        if (strcmp(model, built_model) || seed != built_seed) { /* a new model */
            nb_ctx_free(ctx);
            ctx = nb_ctx_new();
            nb_rng_seed_torch(nb_ctx_rng(ctx), seed);
            m = build(ctx, model);
            snprintf(built_model, sizeof built_model, "%s", model);
            built_seed = seed;
            k = 0;
        }
        assert_true(k < nb_model_num_params(m));
        const nb_tensor *t = nb_model_param(m, k++);
        if (strcmp(t->name, name)) fail_msg("%s: parameter %d is %s, torch has %s", model, k - 1, t->name, name);
        const int64_t numel = (int64_t)num(&p);
        assert_int_equal(t->size, numel);
        const double sum = num(&p);
        double s = 0.0;
        for (int64_t i = 0; i < t->size; i++) s += (double)t->data[i];
        /* one element an ulp away moves the sum by > 1e-10; rounding of the
         * sum itself stays near 1e-13 */
        if (fabs(s - sum) > 1e-11)
            fail_msg("%s seed %llu %s: sum %.17g, torch %.17g", model, (unsigned long long)seed, name, s,
                     sum);
        for (int i = 0; i < 12; i++) {
            const int64_t at = i < 6 ? i : t->size - 12 + i;
            const float want = (float)num(&p);
            if (t->data[at] != want)
                fail_msg("%s seed %llu %s[%lld]: %a, torch %a", model, (unsigned long long)seed, name,
                         (long long)at, (double)t->data[at], (double)want);
        }
        checked++;
    }
    assert_int_equal(checked, 2 * 8 + 2 * 6);
    nb_ctx_free(ctx);
    fclose(f);
}

static void test_shuffle_matches_torch(void **state) {
    (void)state;
    FILE *f = open_fixture();
    static char buf[MAXLINE];
    int cases = 0;
    char *p;
    while ((p = next_line(f, "perm", buf))) {
        const uint64_t seed = (uint64_t)num(&p);
        const int64_t n = (int64_t)num(&p), epoch = (int64_t)num(&p);
        float *x = calloc((size_t)n, sizeof *x);
        assert_non_null(x);
        nb_dataset ds = {.n = n, .feat_ndim = 1, .feat_shape = {1}, .features = 1, .x = x};
        nb_batch_iter it;
        char err[128];
        assert_int_equal(nb_batch_iter_init(&it, &ds, 7, NB_SHUFFLE_TORCH, seed, err, sizeof err), NB_OK);
        assert_int_equal(nb_batch_epoch(&it, epoch), NB_OK);
        for (int i = 0; i < 12 && i < n; i++) {
            const int64_t want = (int64_t)num(&p);
            if (it.order[i] != want)
                fail_msg("seed %llu n %lld epoch %lld position %d: %lld, torch %lld",
                         (unsigned long long)seed, (long long)n, (long long)epoch, i,
                         (long long)it.order[i], (long long)want);
        }
        /* still a permutation */
        unsigned char *seen = calloc((size_t)n, 1);
        assert_non_null(seen);
        for (int64_t i = 0; i < n; i++) {
            assert_true(it.order[i] >= 0 && it.order[i] < n && !seen[it.order[i]]);
            seen[it.order[i]] = 1;
        }
        free(seen);
        nb_batch_iter_free(&it);
        free(x);
        cases++;
    }
    assert_int_equal(cases, 9);
    fclose(f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mt19937_reference),
    cmocka_unit_test(test_uniform_matches_torch),
    cmocka_unit_test(test_default_layers_match_torch),
    cmocka_unit_test(test_shuffle_matches_torch),
};
NB_TEST_MAIN(tests)
