/* Tests of max/avg/global-average pooling and flatten: gradient checks on
 * inputs away from ties, forward and backward against naive loops in double
 * (padding, strides, overlapping windows, ties resolved to the first maximum,
 * NaN), and the error messages. */
#include "test_util.h"
#include "kernels/kernels.h" /* nb__set_cpu_path */
#include "kernels/pool.h"
#include "nabla/conv.h"

#define ASSERT_ERR(ctx, code, text)                                                        \
    do {                                                                                   \
        assert_int_equal(nb_error(ctx), (code));                                           \
        if (!strstr(nb_error_message(ctx), (text)))                                        \
            fail_msg("message \"%s\" lacks \"%s\"", nb_error_message(ctx), (text));       \
        nb_clear_error(ctx);                                                               \
    } while (0)

typedef struct pspec {
    int n, c, h, w, kh, kw, sh, sw, ph, pw;
} pspec;

static void pool_out(const pspec *s, int *oh, int *ow) {
    const int sh = s->sh ? s->sh : s->kh, sw = s->sw ? s->sw : s->kw;
    *oh = (s->h + 2 * s->ph - s->kh) / sh + 1;
    *ow = (s->w + 2 * s->pw - s->kw) / sw + 1;
}

/* Distinct values spaced 0.05 apart in a seeded random order: every window's
 * maximum is unique and stays so under ±eps perturbations. */
static void fill_distinct(nb_tensor *t, uint64_t *seed) {
    for (int64_t i = 0; i < t->size; i++) t->data[i] = 0.05f * (float)(i - t->size / 2);
    for (int64_t i = t->size - 1; i > 0; i--) {
        const int64_t j = nbt_rand_u32(seed) % (uint32_t)(i + 1);
        const float v = t->data[i];
        t->data[i] = t->data[j];
        t->data[j] = v;
    }
}

/* Naive pooling of x (max when is_max, else average over kh·kw) and its
 * gradient given dy, in double. Max ties go to the first element in
 * row-major window order; padding is skipped (−∞ / 0). */
static void ref_pool(const pspec *s, int is_max, const float *x, const float *dy, double *y,
                     double *dx) {
    int oh, ow;
    pool_out(s, &oh, &ow);
    const int sh = s->sh ? s->sh : s->kh, sw = s->sw ? s->sw : s->kw;
    for (int pl = 0; pl < s->n * s->c; pl++) {
        const float *xp = x + (size_t)pl * s->h * s->w;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                const size_t yi = ((size_t)pl * oh + oy) * ow + ox;
                double acc = 0.0, best = -INFINITY;
                int bi = -1;
                for (int i = 0; i < s->kh; i++)
                    for (int j = 0; j < s->kw; j++) {
                        const int iy = oy * sh - s->ph + i, ix = ox * sw - s->pw + j;
                        if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                        const double v = xp[iy * s->w + ix];
                        acc += v;
                        if (bi < 0 || v > best) best = v, bi = iy * s->w + ix;
                        if (!is_max && dx) dx[(size_t)pl * s->h * s->w + iy * s->w + ix] += dy[yi] / (s->kh * s->kw);
                    }
                y[yi] = is_max ? best : acc / (s->kh * s->kw);
                if (is_max && dx) dx[(size_t)pl * s->h * s->w + bi] += dy[yi];
            }
    }
}

typedef nb_tensor *(*pool_fn)(nb_ctx *, nb_tensor *, int, int, int, int, int, int);

static void pool_case(const pspec *s, int is_max, uint64_t seed, int check_grads, int distinct) {
    nb_ctx *ctx = nb_ctx_new();
    const int64_t shape[4] = {s->n, s->c, s->h, s->w};
    nb_tensor *x = nb_param_new(ctx, "x", 4, shape);
    if (distinct) fill_distinct(x, &seed);
    else nbt_fill_uniform(x, &seed, -1.0f, 1.0f);
    pool_fn fn = is_max ? nb_max_pool2d : nb_avg_pool2d;
    nb_tensor *y = fn(ctx, x, s->kh, s->kw, s->sh, s->sw, s->ph, s->pw);
    NBT_ASSERT_OK(ctx);
    int oh, ow;
    pool_out(s, &oh, &ow);
    assert_int_equal(y->shape[0], s->n);
    assert_int_equal(y->shape[1], s->c);
    assert_int_equal(y->shape[2], oh);
    assert_int_equal(y->shape[3], ow);
    nb_tensor *r = nb_tensor_new(ctx, 4, y->shape);
    nbt_fill_uniform(r, &seed, -1.0f, 1.0f);
    nb_tensor *loss = nb_sum(ctx, nb_mul(ctx, y, r));
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    nb_graph_zero_grad(g);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    double *ry = calloc((size_t)y->size, sizeof(double)), *rdx = calloc((size_t)x->size, sizeof(double));
    ref_pool(s, is_max, x->data, r->data, ry, rdx);
    for (int64_t i = 0; i < y->size; i++)
        if (!(fabs(y->data[i] - ry[i]) <= 1e-6 * (1 + fabs(ry[i]))))
            fail_msg("y[%lld] = %.8g, reference %.8g", (long long)i, (double)y->data[i], ry[i]);
    for (int64_t i = 0; i < x->size; i++)
        if (!(fabs(x->grad[i] - rdx[i]) <= 1e-5 * (1 + fabs(rdx[i]))))
            fail_msg("dx[%lld] = %.8g, reference %.8g", (long long)i, (double)x->grad[i], rdx[i]);
    free(ry), free(rdx);
    if (check_grads) nbt_check_grads(ctx, loss, &x, 1, is_max ? "max_pool2d" : "avg_pool2d");
    nb_ctx_free(ctx);
}

static const pspec pool_shapes[] = {
    {2, 3, 6, 6, 2, 2, 2, 2, 0, 0},  /* the CNN case: fast path */
    {1, 2, 7, 5, 2, 2, 2, 2, 0, 0},  /* odd sizes drop the last row/column */
    {2, 2, 5, 6, 3, 3, 2, 2, 1, 1},  /* overlapping, padded */
    {1, 2, 6, 7, 3, 2, 1, 2, 1, 1},  /* stride 1 overlap */
    {1, 1, 5, 5, 2, 3, 0, 0, 1, 1},  /* stride 0 = kernel size */
    {2, 1, 4, 9, 1, 4, 1, 3, 0, 2},
};

static void test_max_pool2d(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof pool_shapes / sizeof pool_shapes[0]; i++)
        pool_case(&pool_shapes[i], 1, 10 + i, 1, 1);
}

static void test_avg_pool2d(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof pool_shapes / sizeof pool_shapes[0]; i++)
        pool_case(&pool_shapes[i], 0, 20 + i, 1, 0);
}

/* Larger odd shapes against the reference only (random values, so ties are
 * unlikely but the reference resolves them the same way anyway). */
static void test_pool_reference(void **state) {
    (void)state;
    const pspec big[] = {
        {3, 5, 28, 28, 2, 2, 2, 2, 0, 0}, {2, 3, 17, 13, 3, 3, 2, 2, 1, 1},
        {2, 4, 15, 16, 5, 3, 3, 1, 2, 1}, {1, 3, 9, 11, 4, 4, 3, 3, 2, 2},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        pool_case(&big[i], 1, 40 + i, 0, 0);
        pool_case(&big[i], 0, 50 + i, 0, 0);
    }
}

/* Ties go to the first element in window order, for the fast 2×2 path and
 * the general one; NaN propagates. */
static void test_max_pool2d_ties_nan(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_param_new(ctx, "x", 4, (int64_t[]){1, 1, 2, 4});
    const float v[8] = {1, 3, 3, 0, 3, 3, NAN, 5};
    nb_tensor_copy_in(x, v, 8);
    nb_tensor *y = nb_max_pool2d(ctx, x, 2, 2, 2, 2, 0, 0);
    nb_tensor *y3 = nb_max_pool2d(ctx, x, 2, 2, 1, 1, 0, 0); /* general path */
    NBT_ASSERT_OK(ctx);
    assert_true(y->data[0] == 3.0f);
    assert_true(isnan(y->data[1]));
    assert_int_equal(y3->shape[3], 3);
    assert_true(y3->data[0] == 3.0f);
    assert_true(isnan(y3->data[1]) && isnan(y3->data[2]));
    nb_graph *g = nb_graph_new(ctx, nb_sum(ctx, y));
    NBT_ASSERT_OK(ctx);
    nb_graph_zero_grad(g);
    nb_graph_forward(g);
    nb_graph_backward(g);
    const float expect[8] = {0, 1, 0, 0, 0, 0, 1, 0};
    for (int i = 0; i < 8; i++) assert_true(x->grad[i] == expect[i]);
    nb_ctx_free(ctx);
}

static void test_global_avg_pool2d(void **state) {
    (void)state;
    uint64_t seed = 60;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nbt_param(ctx, &seed, -1.0f, 1.0f, 4, (int64_t[]){2, 3, 5, 4});
    nb_tensor *y = nb_global_avg_pool2d(ctx, x);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(y->ndim, 4);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 3);
    assert_int_equal(y->shape[2], 1);
    assert_int_equal(y->shape[3], 1);
    for (int pl = 0; pl < 6; pl++) {
        double s = 0;
        for (int q = 0; q < 20; q++) s += x->data[pl * 20 + q];
        assert_true(fabs(y->data[pl] - s / 20) <= 1e-6);
    }
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), &x, 1, "global_avg_pool2d");
    nb_ctx_free(ctx);
}

static void test_flatten(void **state) {
    (void)state;
    uint64_t seed = 70;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nbt_param(ctx, &seed, -1.0f, 1.0f, 4, (int64_t[]){3, 2, 2, 3});
    nb_tensor *y = nb_flatten(ctx, x);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 3);
    assert_int_equal(y->shape[1], 12);
    for (int64_t i = 0; i < x->size; i++) assert_true(y->data[i] == x->data[i]);
    /* squared, so the gradient depends on where each element went */
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, nb_mul(ctx, y, y), &seed), &x, 1, "flatten");
    nb_tensor *v = nb_flatten(ctx, nb_tensor_1d(ctx, 5));
    NBT_ASSERT_OK(ctx);
    assert_int_equal(v->shape[0], 5);
    assert_int_equal(v->shape[1], 1);
    nb_ctx_free(ctx);
}

/* Pooling + flatten in a small chain: conv features into a classifier. */
static void test_pool_chain(void **state) {
    (void)state;
    uint64_t seed = 80;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_param_new(ctx, "x", 4, (int64_t[]){2, 2, 6, 6});
    fill_distinct(x, &seed);
    nb_tensor *y = nb_flatten(ctx, nb_avg_pool2d(ctx, nb_max_pool2d(ctx, x, 2, 2, 2, 2, 0, 0), 3, 3, 1, 1, 1, 1));
    NBT_ASSERT_OK(ctx);
    assert_int_equal(y->shape[1], 18);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), &x, 1, "pool chain");
    nb_ctx_free(ctx);
}

/* The CNN builder applies relu after a max-pool instead of before it: the
 * outputs and the input gradient must be bitwise the same, including windows
 * with ties, zeros and all-negative values, and with padding. */
static void test_max_pool_relu_commute(void **state) {
    (void)state;
    const int pads[2] = {0, 1};
    for (int pi = 0; pi < 2; pi++) {
        nb_ctx *ctx = nb_ctx_new();
        uint64_t seed = 81;
        /* 7x7: the last row and column are read by no 2x2 window; the pool
         * after relu overwrites its input's gradient, the one on x adds */
        nb_tensor *x = nb_param_new(ctx, "x", 4, (int64_t[]){2, 3, 7, 7});
        for (int64_t i = 0; i < x->size; i++) {
            /* coarse values: many ties, exact zeros, whole negative windows */
            x->data[i] = (float)((int)nbt_uniform(&seed, 0.0f, 7.0f) - 4);
        }
        const int p = pads[pi], k = 2 + p;
        nb_tensor *r = nb_relu(ctx, x);
        nb_tensor *a = nb_max_pool2d(ctx, r, k, k, 2, 2, p, p);
        nb_tensor *b = nb_relu(ctx, nb_max_pool2d(ctx, x, k, k, 2, 2, p, p));
        NBT_ASSERT_OK(ctx);
        assert_int_equal(a->size, b->size);
        assert_memory_equal(a->data, b->data, (size_t)a->size * sizeof(float));
        uint64_t ws = 5, ws2 = 5;
        nb_graph *ga = nb_graph_new(ctx, nbt_weighted_sum(ctx, a, &ws));
        nb_graph *gb = nb_graph_new(ctx, nbt_weighted_sum(ctx, b, &ws2));
        NBT_ASSERT_OK(ctx);
        float *grad_a = malloc((size_t)x->size * sizeof(float));
        assert_non_null(grad_a);
        /* twice, the second time over a poisoned gradient buffer of r: the
         * pool must store every element of it, not leave any stale */
        for (int rep = 0; rep < 2; rep++) {
            for (int64_t i = 0; rep && i < r->size; i++) r->grad[i] = NAN;
            nb_graph_zero_grad(ga);
            assert_int_equal(nb_graph_forward(ga), NB_OK);
            assert_int_equal(nb_graph_backward(ga), NB_OK);
        }
        memcpy(grad_a, x->grad, (size_t)x->size * sizeof(float));
        nb_graph_zero_grad(gb);
        assert_int_equal(nb_graph_forward(gb), NB_OK);
        assert_int_equal(nb_graph_backward(gb), NB_OK);
        assert_memory_equal(grad_a, x->grad, (size_t)x->size * sizeof(float));
        int nonzero = 0;
        for (int64_t i = 0; i < x->size; i++) nonzero += grad_a[i] != 0.0f;
        assert_true(nonzero > 0); /* the comparison is not between two zero arrays */
        free(grad_a);
        nb_ctx_free(ctx);
    }
}

/* The 2×2 stride-2 max pool's AVX2 planes (full vectors, overlapping and
 * masked tails: ow = 1, 2, 3, 6, 7, 14, 17) against the portable loop,
 * bitwise: values, argmax indices and the stored gradient, on values with
 * ties, NaNs and -0. The gradient buffers start poisoned, so an input left
 * unwritten shows; guard cells after a single plane show a store past it. */
static void test_max_pool_2x2_paths(void **state) {
    (void)state;
    if (nb__set_cpu_path(NB_CPU_AVX2) != NB_OK) {
        skip();
        return;
    }
    nb__set_cpu_path(NB_CPU_AUTO);
    const int hw[][2] = {{28, 28}, {14, 14}, {2, 2}, {3, 5}, {5, 3}, {13, 15}, {6, 34}, {4, 35}, {4, 4}, {9, 7}, {4, 12}};
    uint64_t seed = 91;
    for (size_t t = 0; t < sizeof hw / sizeof hw[0]; t++) {
        const int h = hw[t][0], w = hw[t][1], planes = 3;
        const nb_k_pool_geom g = {h, w, 2, 2, 2, 2, 0, 0, h / 2, w / 2};
        const int64_t n = (int64_t)planes * h * w, m = (int64_t)planes * g.oh * g.ow;
        float *x = malloc((size_t)n * sizeof *x), *dy = malloc((size_t)m * sizeof *dy);
        float *y[2], *dx[2];
        int32_t *arg[2];
        for (int64_t i = 0; i < n; i++) {
            const uint32_t r = nbt_rand_u32(&seed) % 16;
            x[i] = r == 0 ? NAN : r == 1 ? -0.0f : (float)(r % 5) - 2.0f; /* many ties */
        }
        for (int64_t i = 0; i < m; i++) dy[i] = (i % 3 == 0) ? -0.0f : nbt_uniform(&seed, -1, 1);
        const int paths[2] = {NB_CPU_SCALAR, NB_CPU_AVX2};
        for (int p = 0; p < 2; p++) {
            assert_int_equal(nb__set_cpu_path(paths[p]), NB_OK);
            y[p] = malloc((size_t)m * sizeof(float)), arg[p] = malloc((size_t)m * sizeof(int32_t));
            dx[p] = malloc((size_t)n * sizeof(float));
            for (int64_t i = 0; i < n; i++) dx[p][i] = 12345.0f;
            nb_k_max_pool(&g, planes, x, y[p], arg[p]);
            nb_k_max_pool_backward(&g, planes, dy, arg[p], dx[p], 1);
        }
        /* one plane at a time into buffers with guard cells after it: the
         * AVX2 rows may store past a row, but never past their plane */
        {
            const int64_t ph = (int64_t)h * w, po = g.oh * g.ow, G = 32;
            float *gy = malloc((size_t)(po + G) * sizeof(float)), *gdx = malloc((size_t)(ph + G) * sizeof(float));
            int32_t *garg = malloc((size_t)(po + G) * sizeof(int32_t));
            for (int pl = 0; pl < planes; pl++) {
                for (int64_t i = 0; i < G; i++) gy[po + i] = gdx[ph + i] = -7.0f, garg[po + i] = -7;
                nb_k_max_pool(&g, 1, x + pl * ph, gy, garg);
                nb_k_max_pool_backward(&g, 1, dy + pl * po, garg, gdx, 1);
                assert_memory_equal(gy, y[1] + pl * po, (size_t)po * sizeof(float));
                assert_memory_equal(gdx, dx[1] + pl * ph, (size_t)ph * sizeof(float));
                for (int64_t i = 0; i < G; i++)
                    assert_true(gy[po + i] == -7.0f && gdx[ph + i] == -7.0f && garg[po + i] == -7);
            }
            free(gy), free(gdx), free(garg);
        }
        nb__set_cpu_path(NB_CPU_AUTO);
        assert_memory_equal(y[0], y[1], (size_t)m * sizeof(float));
        assert_memory_equal(arg[0], arg[1], (size_t)m * sizeof(int32_t));
        assert_memory_equal(dx[0], dx[1], (size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) assert_true(dx[0][i] != 12345.0f);
        /* and the scalar path is right: against the reference in double */
        pspec s = {1, planes, h, w, 2, 2, 2, 2, 0, 0};
        double *ry = calloc((size_t)m, sizeof *ry), *rdx = calloc((size_t)n, sizeof *rdx);
        for (int64_t i = 0; i < n; i++)
            if (isnan(x[i])) x[i] = 7.0f; /* the reference has no NaN rule */
        nb_k_max_pool(&g, planes, x, y[0], arg[0]);
        nb_k_max_pool_backward(&g, planes, dy, arg[0], dx[0], 1);
        ref_pool(&s, 1, x, dy, ry, rdx);
        for (int64_t i = 0; i < m; i++) assert_true(y[0][i] == (float)ry[i]);
        for (int64_t i = 0; i < n; i++) assert_true(dx[0][i] == (float)rdx[i]);
        free(ry), free(rdx);
        for (int p = 0; p < 2; p++) free(y[p]), free(arg[p]), free(dx[p]);
        free(x), free(dy);
    }
}

static void test_pool_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_4d(ctx, 2, 3, 5, 5);
    assert_null(nb_max_pool2d(ctx, nb_tensor_3d(ctx, 3, 5, 5), 2, 2, 2, 2, 0, 0));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "max_pool2d: x must be 4-D [N,C,H,W], got [3,5,5]");
    assert_null(nb_avg_pool2d(ctx, x, 0, 2, 2, 2, 0, 0));
    ASSERT_ERR(ctx, NB_ERR_ARG, "avg_pool2d: kernel must be positive, got 0x2");
    assert_null(nb_max_pool2d(ctx, x, 2, 2, -1, 2, 0, 0));
    ASSERT_ERR(ctx, NB_ERR_ARG, "max_pool2d: stride must be positive (0 = kernel size), got -1,2");
    assert_null(nb_max_pool2d(ctx, x, 2, 2, 2, 2, 2, 0));
    ASSERT_ERR(ctx, NB_ERR_ARG, "max_pool2d: padding 2,0 must be >= 0 and at most half the kernel 2x2");
    assert_null(nb_avg_pool2d(ctx, x, 3, 3, 1, 1, 0, -1));
    ASSERT_ERR(ctx, NB_ERR_ARG, "padding 0,-1 must be >= 0");
    assert_null(nb_max_pool2d(ctx, x, 6, 2, 1, 1, 0, 0));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "max_pool2d: kernel 6x2 is larger than the padded input 5x5 of x [2,3,5,5]");
    assert_null(nb_global_avg_pool2d(ctx, nb_tensor_2d(ctx, 2, 3)));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "global_avg_pool2d: x must be 4-D [N,C,H,W] with H,W > 0, got [2,3]");
    assert_null(nb_flatten(ctx, nb_scalar(ctx, 1.0f)));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "flatten: x must have a batch axis, got []");
    assert_null(nb_flatten(ctx, NULL));
    assert_int_not_equal(nb_error(ctx), NB_OK);
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_max_pool2d),
    cmocka_unit_test(test_avg_pool2d),
    cmocka_unit_test(test_pool_reference),
    cmocka_unit_test(test_max_pool2d_ties_nan),
    cmocka_unit_test(test_global_avg_pool2d),
    cmocka_unit_test(test_flatten),
    cmocka_unit_test(test_pool_chain),
    cmocka_unit_test(test_max_pool_relu_commute),
    cmocka_unit_test(test_max_pool_2x2_paths),
    cmocka_unit_test(test_pool_errors),
};
NB_TEST_MAIN(tests)
