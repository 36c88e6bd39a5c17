/* Losses: forward values against double-precision scalar references and
 * against PyTorch constants, gradient checks (targets too, where they require
 * a gradient), bad class labels, and shape mismatches. */
#include "test_util.h"

/* PyTorch 1.13 reference values, generated once with /usr/bin/python3:
 *
 *   import torch, torch.nn.functional as F
 *   z = torch.tensor([[2.0, -1.0, 0.5, 3.0], [-0.5, 0.25, 1.5, -2.0],
 *                     [1000.0, -1000.0, 0.0, 999.0]], dtype=torch.float64)
 *   y = torch.tensor([3, 0, 1])
 *   F.cross_entropy(z, y)                        # CE0
 *   F.cross_entropy(z, y, label_smoothing=0.1)   # CE1
 *   zg = z.clone().requires_grad_()
 *   F.cross_entropy(zg, y, label_smoothing=0.1).backward(); zg.grad[0]   # CE1_GRAD0
 *   p = torch.tensor([0.5, -1.25, 2.0, 3.5, -0.75, 0.0], dtype=torch.float64)
 *   t = torch.tensor([1.0, -1.0, 0.5, 3.5, 0.25, -2.0], dtype=torch.float64)
 *   F.mse_loss(p, t); F.l1_loss(p, t)            # MSE, L1
 *   zb = torch.tensor([0.5, -1.25, 2.0, 100.0, -100.0, 0.0], dtype=torch.float64)
 *   tb = torch.tensor([1.0, 0.0, 0.25, 0.0, 1.0, 0.5], dtype=torch.float64)
 *   F.binary_cross_entropy_with_logits(zb, tb)   # BCE
 */
static const float CE_Z[12] = {2.0f, -1.0f, 0.5f, 3.0f, -0.5f, 0.25f, 1.5f, -2.0f,
                               1000.0f, -1000.0f, 0.0f, 999.0f};
static const float CE_Y[3] = {3, 0, 1};
#define TORCH_CE0 667.6901070353995
#define TORCH_CE1 626.0838570353994
static const double TORCH_CE1_GRAD0[4] = {0.07518375728903826, -0.004175262232632229,
                                          0.010301848472367361, -0.08131034352877337};
static const float MSE_P[6] = {0.5f, -1.25f, 2.0f, 3.5f, -0.75f, 0.0f};
static const float MSE_T[6] = {1.0f, -1.0f, 0.5f, 3.5f, 0.25f, -2.0f};
#define TORCH_MSE 1.2604166666666667
#define TORCH_L1 0.875
static const float BCE_Z[6] = {0.5f, -1.25f, 2.0f, 100.0f, -100.0f, 0.0f};
static const float BCE_T[6] = {1.0f, 0.0f, 0.25f, 0.0f, 1.0f, 0.5f};
#define TORCH_BCE 33.84101354285473

static nb_tensor *from(nb_ctx *ctx, int ndim, const int64_t *shape, const float *v) {
    nb_tensor *t = nb_tensor_new(ctx, ndim, shape);
    if (t) nb_tensor_copy_in(t, v, t->size);
    return t;
}

static void assert_close(double got, double want, double rel) {
    if (!(fabs(got - want) <= rel * (1.0 + fabs(want))))
        fail_msg("got %.9g, want %.9g", got, want);
}

/* ---- double-precision references ---- */
static double ref_mse(const float *p, const float *t, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += ((double)p[i] - t[i]) * ((double)p[i] - t[i]);
    return s / (double)n;
}
static double ref_l1(const float *p, const float *t, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)p[i] - t[i]);
    return s / (double)n;
}
static double ref_bce(const float *z, const float *t, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double p = 1.0 / (1.0 + exp(-(double)z[i]));
        s += -(t[i] * log(p) + (1 - t[i]) * log(1 - p));
    }
    return s / (double)n;
}
/* −Σ q log softmax with q = (1−ε)·onehot + ε/C, straight from the definition */
static double ref_ce(const float *z, const float *y, int64_t N, int64_t C, double eps) {
    double total = 0;
    for (int64_t r = 0; r < N; r++) {
        double m = -INFINITY, s = 0;
        for (int64_t c = 0; c < C; c++) m = fmax(m, z[r * C + c]);
        for (int64_t c = 0; c < C; c++) s += exp(z[r * C + c] - m);
        for (int64_t c = 0; c < C; c++) {
            double q = (c == (int64_t)y[r] ? 1 - eps : 0) + eps / (double)C;
            total -= q * (z[r * C + c] - m - log(s));
        }
    }
    return total / (double)N;
}

static const int64_t shapes[][3] = {{7, 0, 0}, {3, 4, 0}, {2, 3, 2}};
static const int ranks[] = {1, 2, 3};

typedef nb_tensor *(*loss_fn)(nb_ctx *, nb_tensor *, nb_tensor *);

static void check_elementwise(loss_fn fn, double (*ref)(const float *, const float *, int64_t),
                              int kind, const char *name) {
    uint64_t seed = 3 + (uint64_t)kind;
    for (int s = 0; s < 3; s++) {
        nb_ctx *ctx = nb_ctx_new();
        nb_tensor *a = nbt_param(ctx, &seed, -3.0f, 3.0f, ranks[s], shapes[s]);
        nb_tensor *b = nbt_param(ctx, &seed, kind == 2 ? 0.0f : -1.0f, 1.0f, ranks[s], shapes[s]);
        if (kind == 1) /* l1: keep |p − t| well away from the kink at 0 */
            for (int64_t i = 0; i < a->size; i++)
                a->data[i] = b->data[i] + (i % 2 ? 1.0f : -1.0f) * nbt_uniform(&seed, 0.1f, 1.0f);
        nb_tensor *loss = fn(ctx, a, b);
        NBT_ASSERT_OK(ctx);
        assert_int_equal(loss->ndim, 0);
        assert_close(loss->data[0], ref(a->data, b->data, a->size), 1e-5);
        nb_tensor *wrt[2] = {a, b};
        nbt_check_grads(ctx, loss, wrt, 2, name);
        /* a target that requires no gradient is left alone */
        nb_tensor *c = nb_tensor_new(ctx, ranks[s], shapes[s]);
        nb_tensor_copy_in(c, b->data, b->size);
        nb_tensor *loss2 = nbt_weighted_sum(ctx, fn(ctx, a, c), &seed);
        nbt_check_grads(ctx, loss2, &a, 1, name);
        nb_ctx_free(ctx);
    }
}

static void check_shape_error(loss_fn fn, const char *name) {
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *a = nb_tensor_2d(ctx, 2, 3), *b = nb_tensor_2d(ctx, 3, 2);
    assert_null(fn(ctx, a, b));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    const char *msg = nb_error_message(ctx);
    assert_non_null(strstr(msg, name));
    assert_non_null(strstr(msg, "[2,3]"));
    assert_non_null(strstr(msg, "[3,2]"));
    nb_clear_error(ctx);
    /* no broadcasting either */
    assert_null(fn(ctx, a, nb_tensor_1d(ctx, 3)));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    nb_ctx_free(ctx);
}

static void test_mse_loss(void **state) {
    (void)state;
    check_elementwise(nb_mse_loss, ref_mse, 0, "mse_loss");
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *l = nb_mse_loss(ctx, from(ctx, 1, (int64_t[]){6}, MSE_P), from(ctx, 1, (int64_t[]){6}, MSE_T));
    NBT_ASSERT_OK(ctx);
    assert_close(l->data[0], TORCH_MSE, 1e-6);
    nb_ctx_free(ctx);
    check_shape_error(nb_mse_loss, "mse_loss");
}

static void test_l1_loss(void **state) {
    (void)state;
    check_elementwise(nb_l1_loss, ref_l1, 1, "l1_loss");
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *p = nb_param_new(ctx, "p", 1, (int64_t[]){6});
    nb_tensor_copy_in(p, MSE_P, 6);
    nb_tensor *l = nb_l1_loss(ctx, p, from(ctx, 1, (int64_t[]){6}, MSE_T));
    NBT_ASSERT_OK(ctx);
    assert_close(l->data[0], TORCH_L1, 1e-6);
    /* gradient is sign(p − t)/n, and 0 where p == t (element 3) */
    nb_graph *g = nb_graph_new(ctx, l);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    float want[6] = {-1, -1, 1, 0, -1, 1};
    for (int i = 0; i < 6; i++) assert_float_equal(p->grad[i], want[i] / 6.0f, 1e-7);
    nb_ctx_free(ctx);
    check_shape_error(nb_l1_loss, "l1_loss");
}

static void test_bce_with_logits(void **state) {
    (void)state;
    check_elementwise(nb_bce_with_logits, ref_bce, 2, "bce_with_logits");
    nb_ctx *ctx = nb_ctx_new();
    /* ±100 logits: naive log(σ(z)) would give log(0) */
    nb_tensor *l = nb_bce_with_logits(ctx, from(ctx, 1, (int64_t[]){6}, BCE_Z),
                                      from(ctx, 1, (int64_t[]){6}, BCE_T));
    NBT_ASSERT_OK(ctx);
    assert_true(isfinite(l->data[0]));
    assert_close(l->data[0], TORCH_BCE, 1e-6);
    nb_ctx_free(ctx);
    check_shape_error(nb_bce_with_logits, "bce_with_logits");
}

static void check_ce(float eps) {
    uint64_t seed = 41;
    const int64_t dims[][2] = {{1, 3}, {5, 4}, {8, 10}};
    for (int s = 0; s < 3; s++) {
        int64_t N = dims[s][0], C = dims[s][1];
        nb_ctx *ctx = nb_ctx_new();
        nb_tensor *z = nbt_param(ctx, &seed, -3.0f, 3.0f, 2, dims[s]);
        nb_tensor *y = nb_tensor_1d(ctx, N);
        for (int64_t r = 0; r < N; r++) y->data[r] = (float)(nbt_rand_u32(&seed) % (uint32_t)C);
        nb_tensor *loss = nb_cross_entropy(ctx, z, y, eps);
        NBT_ASSERT_OK(ctx);
        assert_int_equal(loss->ndim, 0);
        assert_close(loss->data[0], ref_ce(z->data, y->data, N, C, eps), 1e-5);
        nbt_check_grads(ctx, loss, &z, 1, eps > 0 ? "cross_entropy eps" : "cross_entropy");
        /* and through a weighted scalar, so the incoming gradient is not 1 */
        nbt_check_grads(ctx, nbt_weighted_sum(ctx, loss, &seed), &z, 1, "cross_entropy scaled");
        nb_ctx_free(ctx);
    }
}

static void test_cross_entropy(void **state) {
    (void)state;
    check_ce(0.0f);
    check_ce(0.1f);

    /* PyTorch values, with a ±1000 row that needs log-sum-exp */
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *z = nb_param_new(ctx, "z", 2, (int64_t[]){3, 4});
    nb_tensor_copy_in(z, CE_Z, 12);
    nb_tensor *y = from(ctx, 1, (int64_t[]){3}, CE_Y);
    nb_tensor *l0 = nb_cross_entropy(ctx, z, y, 0.0f);
    nb_tensor *l1 = nb_cross_entropy(ctx, z, y, 0.1f);
    NBT_ASSERT_OK(ctx);
    assert_close(l0->data[0], TORCH_CE0, 1e-6);
    assert_close(l1->data[0], TORCH_CE1, 1e-6);
    nb_graph *g = nb_graph_new(ctx, l1);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    for (int c = 0; c < 4; c++) assert_close(z->grad[c], TORCH_CE1_GRAD0[c], 1e-5);

    /* bad labels: at construction and on replay, message names row and value */
    const float bad[] = {-1.0f, 4.0f, 1.5f, NAN};
    const char *shown[] = {"-1", "4", "1.5", "nan"};
    for (int i = 0; i < 4; i++) {
        nb_tensor *yb = from(ctx, 1, (int64_t[]){3}, CE_Y);
        yb->data[2] = bad[i];
        assert_null(nb_cross_entropy(ctx, z, yb, 0.0f));
        assert_int_equal(nb_error(ctx), NB_ERR_ARG);
        assert_non_null(strstr(nb_error_message(ctx), "row 2"));
        assert_non_null(strstr(nb_error_message(ctx), shown[i]));
        nb_clear_error(ctx);
    }
    y->data[1] = 4.0f; /* C = 4: one past the last class */
    assert_int_equal(nb_graph_forward(g), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(ctx), "row 1"));
    assert_non_null(strstr(nb_error_message(ctx), "4"));
    nb_clear_error(ctx);
    y->data[1] = 0.0f;
    assert_int_equal(nb_graph_forward(g), NB_OK);
    assert_close(l1->data[0], TORCH_CE1, 1e-6);

    /* shapes and smoothing range */
    assert_null(nb_cross_entropy(ctx, z, nb_tensor_1d(ctx, 4), 0.0f));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    assert_non_null(strstr(nb_error_message(ctx), "[3,4]"));
    assert_non_null(strstr(nb_error_message(ctx), "[4]"));
    nb_clear_error(ctx);
    assert_null(nb_cross_entropy(ctx, nb_tensor_1d(ctx, 3), y, 0.0f));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    nb_clear_error(ctx);
    assert_null(nb_cross_entropy(ctx, z, y, 1.5f));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mse_loss),
    cmocka_unit_test(test_l1_loss),
    cmocka_unit_test(test_cross_entropy),
    cmocka_unit_test(test_bce_with_logits),
};
NB_TEST_MAIN(tests)
