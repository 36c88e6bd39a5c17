/* Tests of the convolutional layer modules (src/nn/conv_layers.c): names,
 * shapes and PyTorch's default initialisation; forwards against plain loops;
 * batch-norm running statistics (untouched by construction, moved once per
 * executed training forward, used in evaluation); errors; the `cnn` preset's
 * parameter count and summary; a checkpoint round trip with buffers. */
#include <unistd.h>

#include "test_util.h"

/* ---- references ---- */

static float ref_conv(const float *x, int64_t C, int64_t H, int64_t W, const float *w, int64_t O,
                      int kh, int kw, const float *b, const nb_conv2d_opts *o, int64_t n, int64_t oc,
                      int64_t oy, int64_t ox) {
    const int64_t cg = C / o->groups, og = O / o->groups, g = oc / og;
    double acc = b ? b[oc] : 0.0;
    for (int64_t ci = 0; ci < cg; ci++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                const int64_t y = oy * o->stride_h - o->pad_h + i * o->dil_h;
                const int64_t xx = ox * o->stride_w - o->pad_w + j * o->dil_w;
                if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
                acc += (double)x[((n * C + g * cg + ci) * H + y) * W + xx] *
                       w[((oc * cg + ci) * kh + i) * kw + j];
            }
    return (float)acc;
}

static void expect_close(const char *what, const float *got, const float *want, int64_t n, float tol) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= tol * (1.0f + fabsf(want[i]))))
            fail_msg("%s[%lld]: got %.8g, want %.8g", what, (long long)i, (double)got[i], (double)want[i]);
}

static char *summary_text(nb_model *m, char *text, size_t cap) {
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(nb_model_summary(m, f), NB_OK);
    rewind(f);
    size_t n = fread(text, 1, cap - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* ---- conv2d ---- */

static void test_conv2d_layer(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    const nb_conv2d_opts o = {.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 2, .dil_w = 2, .groups = 2};
    nb_conv2d_layer *c = nb_conv2d_layer_new(m, "features.conv1", 4, 6, 3, 2, &o, 1);
    nb_conv2d_layer *d = nb_conv2d_layer_new(m, "plain", 8, 8, 3, 3, NULL, 0);
    nb_conv2d_layer *big = nb_conv2d_layer_new(m, "big", 32, 64, 3, 3, &(nb_conv2d_opts){.groups = 4}, 1);
    NBT_ASSERT_OK(ctx);
    assert_string_equal(c->weight->name, "features.conv1.weight");
    assert_string_equal(c->bias->name, "features.conv1.bias");
    assert_true(c->weight->ndim == 4 && c->weight->shape[0] == 6 && c->weight->shape[1] == 2 &&
                c->weight->shape[2] == 3 && c->weight->shape[3] == 2);
    assert_true(c->weight->flags & NB_PARAM);
    assert_int_equal(c->base.num_params, 6 * 2 * 3 * 2 + 6);
    assert_string_equal(c->base.kind, "conv2d");
    /* zero options stored as their effective values */
    assert_int_equal(d->opts.stride_h, 1);
    assert_int_equal(d->opts.groups, 1);
    assert_int_equal(d->opts.dil_w, 1);
    assert_int_equal(c->opts.dil_h, 1);
    assert_int_equal(c->opts.dil_w, 2);
    assert_null(d->bias);
    assert_int_equal(nb_model_num_params(m), 5);

    /* PyTorch's init: weight and bias in U(±1/√fan_in), fan_in = C/g·KH·KW
     * (here 8·9 = 72), spread over the whole interval */
    const float bound = 1.0f / sqrtf(72.0f);
    float lo = 1.0f, hi = -1.0f;
    double mean = 0.0;
    for (int64_t i = 0; i < big->weight->size; i++) {
        const float v = big->weight->data[i];
        assert_true(v >= -bound && v <= bound);
        lo = fminf(lo, v);
        hi = fmaxf(hi, v);
        mean += v;
    }
    mean /= (double)big->weight->size;
    assert_true(lo < -0.98f * bound && hi > 0.98f * bound);
    assert_true(fabs(mean) < 0.02 * bound);
    lo = 1.0f, hi = -1.0f;
    for (int64_t i = 0; i < big->bias->size; i++) {
        assert_true(fabsf(big->bias->data[i]) <= bound);
        lo = fminf(lo, big->bias->data[i]);
        hi = fmaxf(hi, big->bias->data[i]);
    }
    assert_true(lo < -0.5f * bound && hi > 0.5f * bound); /* not the weight's 1/√(32·9) bound */

    /* same seed, same layers in the same order: same weights */
    nb_ctx *ctx2 = nb_ctx_new();
    nb_model *m2 = nb_model_new(ctx2);
    nb_conv2d_layer_new(m2, "features.conv1", 4, 6, 3, 2, &o, 1);
    nb_conv2d_layer_new(m2, "plain", 8, 8, 3, 3, NULL, 0);
    nb_conv2d_layer *big2 = nb_conv2d_layer_new(m2, "big", 32, 64, 3, 3, &(nb_conv2d_opts){.groups = 4}, 1);
    assert_non_null(big2);
    assert_memory_equal(big2->weight->data, big->weight->data, (size_t)big->weight->size * sizeof(float));
    nb_ctx_free(ctx2);

    /* forward against the plain loop */
    uint64_t seed = 11;
    nb_tensor *x = nb_tensor_4d(ctx, 2, 4, 7, 6);
    nbt_fill_uniform(x, &seed, -1.0f, 1.0f);
    nb_tensor *y = nb_module_forward(&c->base, x);
    NBT_ASSERT_OK(ctx);
    /* OH = (7 + 2 − 2 − 1)/2 + 1 = 4, OW = (6 + 4 − 2·1 − 1)/1 + 1 = 8 */
    assert_true(y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == 6 && y->shape[2] == 4 && y->shape[3] == 8);
    assert_ptr_equal(c->base.output, y);
    float want[2 * 6 * 4 * 8];
    int64_t k = 0;
    for (int64_t n = 0; n < 2; n++)
        for (int64_t oc = 0; oc < 6; oc++)
            for (int64_t oy = 0; oy < 4; oy++)
                for (int64_t ox = 0; ox < 8; ox++)
                    want[k++] = ref_conv(x->data, 4, 7, 6, c->weight->data, 6, 3, 2, c->bias->data,
                                         &c->opts, n, oc, oy, ox);
    expect_close("conv2d_layer", y->data, want, k, 1e-5f);
    nb_ctx_free(ctx);
}

static void test_conv2d_layer_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    assert_null(nb_conv2d_layer_new(m, "c", 3, 4, 3, 3, &(nb_conv2d_opts){.groups = 2}, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(ctx), "'c'"));
    assert_non_null(strstr(nb_error_message(ctx), "groups 2"));
    nb_clear_error(ctx);
    assert_null(nb_conv2d_layer_new(m, "c", 0, 4, 3, 3, NULL, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_null(nb_conv2d_layer_new(m, "c", 2, 4, 3, 0, NULL, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_null(nb_conv2d_layer_new(m, "c", 2, 4, 3, 3, &(nb_conv2d_opts){.pad_w = -1}, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(ctx), "negative"));
    nb_clear_error(ctx);
    assert_int_equal(nb_model_num_params(m), 0);
    /* input with the wrong channel count: the op's shape error */
    nb_conv2d_layer *c = nb_conv2d_layer_new(m, "c", 2, 4, 3, 3, NULL, 1);
    assert_non_null(c);
    assert_null(nb_conv2d_layer_forward(c, nb_tensor_4d(ctx, 1, 3, 5, 5)));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    nb_clear_error(ctx);
    assert_null(nb_conv2d_layer_forward(NULL, nb_tensor_4d(ctx, 1, 2, 5, 5)));
    nb_ctx_free(ctx);
}

/* ---- batch normalisation ---- */

/* Batch statistics of x viewed [n][c][inner]: mean and biased variance. */
static void ref_stats(const float *x, int64_t n, int64_t c, int64_t inner, double *mean, double *var) {
    for (int64_t ch = 0; ch < c; ch++) {
        double s = 0.0, s2 = 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) s += x[(i * c + ch) * inner + j];
        mean[ch] = s / (double)(n * inner);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) {
                const double d = x[(i * c + ch) * inner + j] - mean[ch];
                s2 += d * d;
            }
        var[ch] = s2 / (double)(n * inner);
    }
}

/* One batch-norm layer checked in both modes against the formulas:
 * construction leaves the running statistics alone, every executed training
 * forward moves them once, evaluation normalises with them. */
static void check_batchnorm(nb_ctx *ctx, nb_batchnorm_layer *l, nb_tensor *x, uint64_t *seed) {
    const int64_t n = x->shape[0], c = x->shape[1], inner = x->size / (n * c);
    nbt_fill_uniform(l->weight, seed, 0.5f, 1.5f);
    nbt_fill_uniform(l->bias, seed, -0.5f, 0.5f);
    nbt_fill_uniform(l->running_mean, seed, -0.2f, 0.2f);
    nbt_fill_uniform(l->running_var, seed, 0.5f, 1.5f);
    float rm0[16], rv0[16];
    assert_true(c <= 16);
    memcpy(rm0, l->running_mean->data, (size_t)c * sizeof(float));
    memcpy(rv0, l->running_var->data, (size_t)c * sizeof(float));

    nb_set_training(ctx, 1);
    nbt_fill_uniform(x, seed, -2.0f, 3.0f);
    nb_tensor *y = nb_batchnorm_layer_forward(l, x);
    nb_graph *g = nb_graph_new(ctx, nb_sum(ctx, y));
    NBT_ASSERT_OK(ctx);
    assert_memory_equal(l->running_mean->data, rm0, (size_t)c * sizeof(float));
    assert_memory_equal(l->running_var->data, rv0, (size_t)c * sizeof(float));

    float want[512], rm[16], rv[16];
    double mean[16], var[16];
    assert_true(x->size <= 512);
    memcpy(rm, rm0, sizeof rm);
    memcpy(rv, rv0, sizeof rv);
    for (int step = 0; step < 2; step++) {
        nbt_fill_uniform(x, seed, -2.0f, 3.0f); /* new data each step, as in training */
        assert_int_equal(nb_graph_forward(g), NB_OK);
        ref_stats(x->data, n, c, inner, mean, var);
        const double m = (double)(n * inner), mom = l->momentum;
        for (int64_t ch = 0; ch < c; ch++) {
            rm[ch] = (float)((1.0 - mom) * rm[ch] + mom * mean[ch]);
            rv[ch] = (float)((1.0 - mom) * rv[ch] + mom * var[ch] * m / (m - 1.0));
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < inner; j++) {
                    const int64_t at = (i * c + ch) * inner + j;
                    want[at] = (float)((x->data[at] - mean[ch]) / sqrt(var[ch] + l->eps) * l->weight->data[ch] +
                                       l->bias->data[ch]);
                }
        }
        expect_close("batchnorm train", y->data, want, x->size, 2e-5f);
        expect_close("running_mean", l->running_mean->data, rm, c, 1e-5f);
        expect_close("running_var", l->running_var->data, rv, c, 1e-5f);
    }
    nb_set_training(ctx, 0);
    nbt_fill_uniform(x, seed, -2.0f, 3.0f);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    for (int64_t i = 0; i < x->size; i++) {
        const int64_t ch = (i / inner) % c;
        want[i] = (float)((x->data[i] - (double)rm[ch]) / sqrt((double)rv[ch] + l->eps) * l->weight->data[ch] +
                          l->bias->data[ch]);
    }
    expect_close("batchnorm eval", y->data, want, x->size, 2e-5f);
    expect_close("running_mean after eval", l->running_mean->data, rm, c, 1e-5f);
    expect_close("running_var after eval", l->running_var->data, rv, c, 1e-5f);
}

static void test_batchnorm_layers(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_batchnorm_layer *b2 = nb_batchnorm2d_layer_new(m, "bn1", 3, 0.1f, 1e-5f, 1);
    nb_batchnorm_layer *b1 = nb_batchnorm1d_layer_new(m, "head.bn", 5, 0.25f, 1e-3f, 1);
    nb_batchnorm_layer *na = nb_batchnorm2d_layer_new(m, "bn_plain", 3, 0.1f, 1e-5f, 0);
    NBT_ASSERT_OK(ctx);
    /* state_dict names and order: params weight, bias; buffers running_* */
    const char *pn[] = {"bn1.weight", "bn1.bias", "head.bn.weight", "head.bn.bias"};
    const char *bn[] = {"bn1.running_mean", "bn1.running_var", "head.bn.running_mean",
                        "head.bn.running_var", "bn_plain.running_mean", "bn_plain.running_var"};
    assert_int_equal(nb_model_num_params(m), 4);
    assert_int_equal(nb_model_num_buffers(m), 6);
    for (int i = 0; i < 4; i++) assert_string_equal(nb_model_param(m, i)->name, pn[i]);
    for (int i = 0; i < 6; i++) {
        nb_tensor *b = nb_model_buffer(m, i);
        assert_string_equal(b->name, bn[i]);
        assert_false(b->flags & (NB_PARAM | NB_REQUIRES_GRAD));
        for (int64_t k = 0; k < b->size; k++) assert_true(b->data[k] == (float)(i % 2)); /* 0 then 1 */
    }
    for (int64_t k = 0; k < 3; k++) assert_true(b2->weight->data[k] == 1.0f && b2->bias->data[k] == 0.0f);
    assert_null(na->weight);
    assert_null(na->bias);
    assert_int_equal(b2->base.num_params, 6);
    assert_int_equal(na->base.num_params, 0);
    assert_string_equal(b2->base.kind, "bnorm2d");
    assert_string_equal(b1->base.kind, "bnorm1d");

    uint64_t seed = 5;
    check_batchnorm(ctx, b2, nb_tensor_4d(ctx, 3, 3, 4, 5), &seed);
    check_batchnorm(ctx, b1, nb_tensor_2d(ctx, 6, 5), &seed);
    check_batchnorm(ctx, b1, nb_tensor_3d(ctx, 2, 5, 7), &seed);

    /* affine = 0 normalises only */
    nb_set_training(ctx, 1);
    nb_tensor *x = nb_tensor_4d(ctx, 2, 3, 2, 2);
    nbt_fill_uniform(x, &seed, -1.0f, 1.0f);
    nb_tensor *y = nb_module_forward(&na->base, x);
    NBT_ASSERT_OK(ctx);
    double mean[3], var[3];
    ref_stats(x->data, 2, 3, 4, mean, var);
    float want[24];
    for (int64_t i = 0; i < 24; i++) {
        const int64_t ch = (i / 4) % 3;
        want[i] = (float)((x->data[i] - mean[ch]) / sqrt(var[ch] + 1e-5));
    }
    expect_close("batchnorm affine=0", y->data, want, 24, 2e-5f);
    nb_ctx_free(ctx);
}

static void test_batchnorm_layer_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    assert_null(nb_batchnorm2d_layer_new(m, "bn", 0, 0.1f, 1e-5f, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_null(nb_batchnorm2d_layer_new(m, "bn", 4, 1.5f, 1e-5f, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(ctx), "momentum"));
    nb_clear_error(ctx);
    assert_null(nb_batchnorm1d_layer_new(m, "bn", 4, 0.1f, 0.0f, 1));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(ctx), "eps"));
    nb_clear_error(ctx);
    assert_int_equal(nb_model_num_params(m) + nb_model_num_buffers(m), 0);

    nb_batchnorm_layer *b2 = nb_batchnorm2d_layer_new(m, "bn2", 4, 0.1f, 1e-5f, 1);
    nb_batchnorm_layer *b1 = nb_batchnorm1d_layer_new(m, "bn1", 4, 0.1f, 1e-5f, 1);
    NBT_ASSERT_OK(ctx);
    struct {
        nb_batchnorm_layer *l;
        nb_tensor *x;
    } bad[] = {
        {b2, nb_tensor_3d(ctx, 2, 4, 5)},       /* BatchNorm2d wants 4-D */
        {b2, nb_tensor_4d(ctx, 2, 3, 5, 5)},    /* wrong C */
        {b1, nb_tensor_4d(ctx, 2, 4, 5, 5)},    /* BatchNorm1d: 2-D or 3-D */
        {b1, nb_tensor_2d(ctx, 2, 5)},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(nb_batchnorm_layer_forward(bad[i].l, bad[i].x));
        assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
        assert_non_null(strstr(nb_error_message(ctx), bad[i].l->base.name));
        nb_clear_error(ctx);
    }
    assert_null(nb_batchnorm_layer_forward(b1, NULL));
    assert_int_equal(nb_error(ctx), NB_ERR_NULL);
    nb_clear_error(ctx);
    /* one value per channel in training: the op's error, and the running
     * statistics are still put back */
    nb_set_training(ctx, 1);
    nb_tensor *one = nb_tensor_2d(ctx, 1, 4);
    nb_tensor_fill(one, 3.0f);
    assert_null(nb_batchnorm_layer_forward(b1, one));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    nb_clear_error(ctx);
    for (int64_t k = 0; k < 4; k++) assert_true(b1->running_mean->data[k] == 0.0f);
    nb_ctx_free(ctx);
}

/* ---- pooling, flatten ---- */

static void test_pool_flatten_layers(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_pool2d_layer *mp = nb_max_pool2d_layer_new(m, "pool1", 2, 2, 0, 0, 0, 0);
    nb_pool2d_layer *ap = nb_avg_pool2d_layer_new(m, "pool2", 3, 3, 2, 1, 1, 1);
    nb_module *gp = nb_global_avg_pool2d_layer_new(m, "gap");
    nb_module *fl = nb_flatten_layer_new(m, "flat");
    NBT_ASSERT_OK(ctx);
    assert_int_equal(mp->sh, 2); /* default stride = kernel */
    assert_int_equal(mp->sw, 2);
    assert_int_equal(ap->sh, 2);
    assert_int_equal(nb_model_num_params(m) + nb_model_num_buffers(m), 0);
    assert_string_equal(mp->base.kind, "maxpool2d");
    assert_string_equal(ap->base.kind, "avgpool2d");
    assert_string_equal(gp->kind, "globalpool");
    assert_string_equal(fl->kind, "flatten");

    uint64_t seed = 3;
    nb_tensor *x = nb_tensor_4d(ctx, 2, 3, 5, 6);
    nbt_fill_uniform(x, &seed, -1.0f, 1.0f);
    const int64_t N = 2, C = 3, H = 5, W = 6;
    /* max 2x2 stride 2: [2,3,2,3] */
    nb_tensor *y = nb_pool2d_layer_forward(mp, x);
    NBT_ASSERT_OK(ctx);
    assert_true(y->shape[2] == 2 && y->shape[3] == 3);
    float want[2 * 3 * 5 * 6];
    int64_t k = 0;
    for (int64_t nc = 0; nc < N * C; nc++)
        for (int64_t oy = 0; oy < 2; oy++)
            for (int64_t ox = 0; ox < 3; ox++) {
                float best = -INFINITY;
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) best = fmaxf(best, x->data[(nc * H + 2 * oy + i) * W + 2 * ox + j]);
                want[k++] = best;
            }
    expect_close("max_pool layer", y->data, want, k, 0.0f);
    /* avg 3x3 stride (2,1) pad 1, padding counted: [2,3,3,6] */
    y = nb_module_forward(&ap->base, x);
    NBT_ASSERT_OK(ctx);
    assert_true(y->shape[2] == 3 && y->shape[3] == 6);
    k = 0;
    for (int64_t nc = 0; nc < N * C; nc++)
        for (int64_t oy = 0; oy < 3; oy++)
            for (int64_t ox = 0; ox < 6; ox++) {
                double s = 0.0;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) {
                        const int64_t yy = 2 * oy - 1 + i, xx = ox - 1 + j;
                        if (yy >= 0 && yy < H && xx >= 0 && xx < W) s += x->data[(nc * H + yy) * W + xx];
                    }
                want[k++] = (float)(s / 9.0);
            }
    expect_close("avg_pool layer", y->data, want, k, 1e-6f);
    /* global average then flatten: [2,3,1,1] -> [2,3] */
    nb_tensor *gy = nb_module_forward(gp, x);
    nb_tensor *fy = nb_module_forward(fl, gy);
    NBT_ASSERT_OK(ctx);
    assert_true(gy->ndim == 4 && gy->shape[2] == 1 && gy->shape[3] == 1);
    assert_true(fy->ndim == 2 && fy->shape[0] == 2 && fy->shape[1] == 3);
    for (int64_t nc = 0; nc < N * C; nc++) {
        double s = 0.0;
        for (int64_t i = 0; i < H * W; i++) s += x->data[nc * H * W + i];
        want[nc] = (float)(s / (double)(H * W));
    }
    expect_close("global_avg_pool + flatten", fy->data, want, N * C, 1e-6f);
    assert_ptr_equal(fl->output, fy);

    /* errors name the layer */
    assert_null(nb_max_pool2d_layer_new(m, "badpool", 2, 2, 0, 0, 2, 0));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(ctx), "badpool"));
    nb_clear_error(ctx);
    assert_null(nb_avg_pool2d_layer_new(m, "badpool", 0, 2, 0, 0, 0, 0));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_null(nb_pool2d_layer_forward(mp, nb_tensor_2d(ctx, 2, 3)));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    nb_ctx_free(ctx);
}

/* ---- the `cnn` preset of the issue ---- */

/* conv 1->32 3x3 pad 1, ReLU, max-pool 2; conv 32->64 3x3 pad 1, ReLU,
 * max-pool 2; flatten; linear 3136->128, ReLU; linear 10 — named as the
 * PyTorch module with attributes conv1, conv2, fc1, fc2 would be. */
static nb_sequential *cnn_preset(nb_model *m) {
    const nb_conv2d_opts pad1 = {.pad_h = 1, .pad_w = 1};
    nb_sequential *s = nb_sequential_new(m, "");
    nb_module *mods[] = {
        &nb_conv2d_layer_new(m, "conv1", 1, 32, 3, 3, &pad1, 1)->base,
        &nb_activation_layer_new(m, "relu1", NB_ACT_RELU)->base,
        &nb_max_pool2d_layer_new(m, "pool1", 2, 2, 0, 0, 0, 0)->base,
        &nb_conv2d_layer_new(m, "conv2", 32, 64, 3, 3, &pad1, 1)->base,
        &nb_activation_layer_new(m, "relu2", NB_ACT_RELU)->base,
        &nb_max_pool2d_layer_new(m, "pool2", 2, 2, 0, 0, 0, 0)->base,
        nb_flatten_layer_new(m, "flatten"),
        &nb_linear_layer_new(m, "fc1", 3136, 128, 1)->base,
        &nb_activation_layer_new(m, "relu3", NB_ACT_RELU)->base,
        &nb_linear_layer_new(m, "fc2", 128, 10, 1)->base,
    };
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
        if (nb_sequential_add(s, mods[i]) != NB_OK) return NULL;
    return s;
}

static void test_cnn_preset(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_sequential *s = cnn_preset(m);
    NBT_ASSERT_OK(ctx);
    /* sum(p.numel() for p in model.parameters()) of the PyTorch module */
    assert_int_equal(nb_model_param_elements(m), 421642);
    const char *names[] = {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                           "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    assert_int_equal(nb_model_num_params(m), 8);
    for (int i = 0; i < 8; i++) assert_string_equal(nb_model_param(m, i)->name, names[i]);
    assert_int_equal(nb_model_num_buffers(m), 0);

    nb_tensor *x = nb_tensor_4d(ctx, 2, 1, 28, 28);
    uint64_t seed = 9;
    nbt_fill_uniform(x, &seed, 0.0f, 1.0f);
    nb_tensor *logits = nb_sequential_forward(s, x);
    NBT_ASSERT_OK(ctx);
    assert_true(logits->ndim == 2 && logits->shape[0] == 2 && logits->shape[1] == 10);
    char text[4096];
    summary_text(m, text, sizeof text);
    struct {
        const char *name, *kind, *shape;
        int params;
    } rows[] = {
        {"conv1", "conv2d", "[2,32,28,28]", 320},  {"relu1", "relu", "[2,32,28,28]", 0},
        {"pool1", "maxpool2d", "[2,32,14,14]", 0}, {"conv2", "conv2d", "[2,64,14,14]", 18496},
        {"pool2", "maxpool2d", "[2,64,7,7]", 0},   {"flatten", "flatten", "[2,3136]", 0},
        {"fc1", "linear", "[2,128]", 401536},      {"fc2", "linear", "[2,10]", 1290},
    };
    char want[160];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(want, sizeof want, "%-7s  %-10s  %-20s  %12d\n", rows[i].name, rows[i].kind,
                 rows[i].shape, rows[i].params);
        if (!strstr(text, want)) fail_msg("summary lacks the row\n%swithin\n%s", want, text);
    }
    if (!strstr(text, "total: 421642 trainable parameters in 8 tensors; 0 buffer values in 0 tensors"))
        fail_msg("summary total differs:\n%s", text);
    nb_ctx_free(ctx);
}

/* ---- checkpoint with running statistics ---- */

/* conv(2->4) -> bn2d -> relu -> gap -> flatten -> linear(4->3) -> bn1d */
static nb_tensor *small_cnn(nb_model *m, nb_tensor *x) {
    nb_sequential *s = nb_sequential_new(m, "net");
    nb_module *mods[] = {
        &nb_conv2d_layer_new(m, "net.conv", 2, 4, 3, 3, &(nb_conv2d_opts){.pad_h = 1, .pad_w = 1}, 1)->base,
        &nb_batchnorm2d_layer_new(m, "net.bn", 4, 0.1f, 1e-5f, 1)->base,
        &nb_activation_layer_new(m, "net.relu", NB_ACT_RELU)->base,
        nb_global_avg_pool2d_layer_new(m, "net.gap"),
        nb_flatten_layer_new(m, "net.flatten"),
        &nb_linear_layer_new(m, "net.fc", 4, 3, 1)->base,
        &nb_batchnorm1d_layer_new(m, "net.bn_out", 3, 0.1f, 1e-5f, 1)->base,
    };
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
        if (nb_sequential_add(s, mods[i]) != NB_OK) return NULL;
    return nb_sequential_forward(s, x);
}

static void test_cnn_checkpoint_buffers(void **state) {
    (void)state;
    char dir[] = "/tmp/nabla_nnconv_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], path_nobuf[128];
    snprintf(path, sizeof path, "%s/cnn.safetensors", dir);
    snprintf(path_nobuf, sizeof path_nobuf, "%s/nobuf.safetensors", dir);

    nb_ctx *ctx = nb_ctx_new();
    nb_rng_seed(nb_ctx_rng(ctx), 1);
    nb_model *m = nb_model_new(ctx);
    nb_tensor *x = nb_tensor_4d(ctx, 4, 2, 5, 5);
    nb_tensor *y = small_cnn(m, x);
    nb_graph *g = nb_graph_new(ctx, y);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_model_num_buffers(m), 4);
    uint64_t seed = 21;
    nb_set_training(ctx, 1);
    for (int step = 0; step < 3; step++) { /* move the running statistics */
        nbt_fill_uniform(x, &seed, -1.0f, 2.0f);
        assert_int_equal(nb_graph_forward(g), NB_OK);
    }
    nb_set_training(ctx, 0);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    float want[12];
    memcpy(want, y->data, sizeof want);
    nb_checkpoint ck = {.params = nb_model_params(m), .nparams = nb_model_num_params(m),
                        .buffers = nb_model_buffers(m), .nbuffers = nb_model_num_buffers(m)};
    assert_int_equal(nb_checkpoint_save(ctx, path, &ck), NB_OK);
    ck.buffers = NULL;
    ck.nbuffers = 0;
    assert_int_equal(nb_checkpoint_save(ctx, path_nobuf, &ck), NB_OK);

    /* a fresh model built from another seed, in evaluation mode */
    nb_ctx *ctx2 = nb_ctx_new();
    nb_rng_seed(nb_ctx_rng(ctx2), 2);
    nb_set_training(ctx2, 0);
    nb_model *m2 = nb_model_new(ctx2);
    nb_tensor *x2 = nb_tensor_4d(ctx2, 4, 2, 5, 5);
    nb_tensor *y2 = small_cnn(m2, x2);
    nb_graph *g2 = nb_graph_new(ctx2, y2);
    NBT_ASSERT_OK(ctx2);
    nb_checkpoint ck2 = {.params = nb_model_params(m2), .nparams = nb_model_num_params(m2),
                         .buffers = nb_model_buffers(m2), .nbuffers = nb_model_num_buffers(m2)};
    /* a file without the running statistics cannot fill the buffers */
    assert_int_not_equal(nb_checkpoint_load(ctx2, path_nobuf, &ck2), NB_OK);
    nb_clear_error(ctx2);
    for (int64_t k = 0; k < 4; k++) assert_true(nb_model_find(m2, "net.bn.running_var")->data[k] == 1.0f);
    assert_int_equal(nb_checkpoint_load(ctx2, path, &ck2), NB_OK);
    for (int i = 0; i < nb_model_num_params(m); i++)
        assert_memory_equal(nb_model_param(m2, i)->data, nb_model_param(m, i)->data,
                            (size_t)nb_model_param(m, i)->size * sizeof(float));
    for (int i = 0; i < nb_model_num_buffers(m); i++) {
        nb_tensor *b = nb_model_buffer(m, i), *b2 = nb_model_buffer(m2, i);
        assert_string_equal(b2->name, b->name);
        assert_memory_equal(b2->data, b->data, (size_t)b->size * sizeof(float));
    }
    /* not the initial statistics: the saved ones were moved by training */
    assert_true(nb_model_find(m2, "net.bn.running_var")->data[0] != 1.0f);
    memcpy(x2->data, x->data, (size_t)x->size * sizeof(float));
    assert_int_equal(nb_graph_forward(g2), NB_OK);
    assert_memory_equal(y2->data, want, sizeof want);
    nb_ctx_free(ctx2);
    nb_ctx_free(ctx);
    unlink(path);
    unlink(path_nobuf);
    rmdir(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_conv2d_layer),
    cmocka_unit_test(test_conv2d_layer_errors),
    cmocka_unit_test(test_batchnorm_layers),
    cmocka_unit_test(test_batchnorm_layer_errors),
    cmocka_unit_test(test_pool_flatten_layers),
    cmocka_unit_test(test_cnn_preset),
    cmocka_unit_test(test_cnn_checkpoint_buffers),
};
NB_TEST_MAIN(tests)
