/* Tests of matmul and linear: forward values against naive triple loops,
 * gradient checks (2-D, batched with every broadcast form, reused inputs,
 * linear with and without bias), and the error messages. */
#include "test_util.h"

/* Forward of out = a @ b against a naive loop, with a broadcast batch read
 * from batch 0 of a side whose batch is absent or 1. */
static void check_matmul_values(const nb_tensor *a, const nb_tensor *b, const nb_tensor *out) {
    const int64_t m = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1];
    const int64_t n = b->shape[b->ndim - 1];
    const int64_t ba = a->ndim == 3 ? a->shape[0] : 1, bb = b->ndim == 3 ? b->shape[0] : 1;
    const int64_t batch = ba > bb ? ba : bb;
    assert_int_equal(out->size, batch * m * n);
    for (int64_t t = 0; t < batch; t++) {
        const float *pa = a->data + (ba > 1 ? t : 0) * m * k;
        const float *pb = b->data + (bb > 1 ? t : 0) * k * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0.0;
                for (int64_t p = 0; p < k; p++) s += (double)pa[i * k + p] * pb[p * n + j];
                double got = out->data[(t * m + i) * n + j];
                if (fabs(got - s) > 1e-5 * (1.0 + fabs(s)))
                    fail_msg("matmul[%lld,%lld,%lld] = %g, expected %g", (long long)t,
                             (long long)i, (long long)j, got, s);
            }
    }
}

/* Build a (shape sa) @ b (shape sb), check the forward values and the
 * gradients of both inputs. */
static void matmul_case(int nda, const int64_t *sa, int ndb, const int64_t *sb, uint64_t seed) {
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *a = nbt_param(ctx, &seed, -1.0f, 1.0f, nda, sa);
    nb_tensor *b = nbt_param(ctx, &seed, -1.0f, 1.0f, ndb, sb);
    nb_tensor *c = nb_matmul(ctx, a, b);
    NBT_ASSERT_OK(ctx);
    int expect_ndim = (nda == 3 || ndb == 3) ? 3 : 2;
    assert_int_equal(c->ndim, expect_ndim);
    check_matmul_values(a, b, c);
    nb_tensor *wrt[2] = {a, b};
    char what[64];
    snprintf(what, sizeof what, "matmul %dD@%dD", nda, ndb);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, c, &seed), wrt, 2, what);
    /* Replay on new data: the forward must follow the inputs. */
    nbt_fill_uniform(a, &seed, -2.0f, 2.0f);
    nbt_fill_uniform(b, &seed, -2.0f, 2.0f);
    nb_graph *g = nb_graph_new(ctx, c);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    check_matmul_values(a, b, c);
    nb_ctx_free(ctx);
}

static void test_matmul(void **state) {
    (void)state;
    matmul_case(2, (int64_t[]){3, 5}, 2, (int64_t[]){5, 4}, 1);
    matmul_case(2, (int64_t[]){1, 7}, 2, (int64_t[]){7, 1}, 2);
    matmul_case(2, (int64_t[]){4, 1}, 2, (int64_t[]){1, 3}, 3);
    matmul_case(2, (int64_t[]){9, 17}, 2, (int64_t[]){17, 6}, 4);
}

static void test_matmul_batched(void **state) {
    (void)state;
    matmul_case(3, (int64_t[]){2, 3, 4}, 3, (int64_t[]){2, 4, 5}, 11);
    matmul_case(3, (int64_t[]){1, 3, 4}, 3, (int64_t[]){2, 4, 5}, 12);
    matmul_case(3, (int64_t[]){2, 3, 4}, 3, (int64_t[]){1, 4, 5}, 13);
    matmul_case(3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){4, 5}, 14);
    matmul_case(2, (int64_t[]){3, 4}, 3, (int64_t[]){2, 4, 5}, 15);
    matmul_case(3, (int64_t[]){1, 3, 4}, 3, (int64_t[]){1, 4, 5}, 16);
    matmul_case(3, (int64_t[]){3, 1, 2}, 2, (int64_t[]){2, 1}, 17);
}

/* Forward of linear against a naive loop: y[r,o] = Σ x[r,i] w[o,i] + b[o]. */
static void check_linear_values(const nb_tensor *x, const nb_tensor *w, const nb_tensor *b,
                                const nb_tensor *y) {
    const int64_t out = w->shape[0], in = w->shape[1], rows = x->size / in;
    assert_int_equal(y->ndim, x->ndim);
    for (int d = 0; d < x->ndim - 1; d++) assert_int_equal(y->shape[d], x->shape[d]);
    assert_int_equal(y->shape[y->ndim - 1], out);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? b->data[o] : 0.0;
            for (int64_t i = 0; i < in; i++) s += (double)x->data[r * in + i] * w->data[o * in + i];
            double got = y->data[r * out + o];
            if (fabs(got - s) > 1e-5 * (1.0 + fabs(s)))
                fail_msg("linear[%lld,%lld] = %g, expected %g", (long long)r, (long long)o, got, s);
        }
}

static void linear_case(int ndx, const int64_t *sx, int64_t out, int bias, uint64_t seed) {
    nb_ctx *ctx = nb_ctx_new();
    const int64_t in = sx[ndx - 1];
    nb_tensor *x = nbt_param(ctx, &seed, -1.0f, 1.0f, ndx, sx);
    nb_tensor *w = nbt_param(ctx, &seed, -1.0f, 1.0f, 2, (int64_t[]){out, in});
    nb_tensor *b = bias ? nbt_param(ctx, &seed, -1.0f, 1.0f, 1, (int64_t[]){out}) : NULL;
    nb_tensor *y = nb_linear(ctx, x, w, b);
    NBT_ASSERT_OK(ctx);
    check_linear_values(x, w, b, y);
    nb_tensor *wrt[3] = {x, w, b};
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), wrt, bias ? 3 : 2,
                    bias ? "linear with bias" : "linear without bias");
    nbt_fill_uniform(x, &seed, -2.0f, 2.0f);
    nb_graph *g = nb_graph_new(ctx, y);
    assert_int_equal(nb_graph_forward(g), NB_OK);
    check_linear_values(x, w, b, y);
    nb_ctx_free(ctx);
}

static void test_linear(void **state) {
    (void)state;
    for (int bias = 0; bias <= 1; bias++) {
        linear_case(2, (int64_t[]){4, 5}, 3, bias, 21);
        linear_case(3, (int64_t[]){2, 3, 5}, 4, bias, 22);
        linear_case(1, (int64_t[]){6}, 2, bias, 23);
        linear_case(2, (int64_t[]){1, 1}, 1, bias, 24);
        linear_case(2, (int64_t[]){7, 13}, 9, bias, 25);
    }
}

/* The same tensor on both sides: its gradient is the sum of both paths. */
static void test_matmul_reused(void **state) {
    (void)state;
    uint64_t seed = 31;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nbt_param(ctx, &seed, -1.0f, 1.0f, 2, (int64_t[]){4, 4});
    nb_tensor *xx = nb_matmul(ctx, x, x);
    NBT_ASSERT_OK(ctx);
    check_matmul_values(x, x, xx);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, xx, &seed), &x, 1, "x@x");
    nb_ctx_free(ctx);

    ctx = nb_ctx_new();
    nb_tensor *y = nbt_param(ctx, &seed, -1.0f, 1.0f, 3, (int64_t[]){2, 3, 3});
    nb_tensor *yy = nb_matmul(ctx, y, y);
    NBT_ASSERT_OK(ctx);
    check_matmul_values(y, y, yy);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, yy, &seed), &y, 1, "batched y@y");
    nb_ctx_free(ctx);

    /* linear(x, x, NULL) = x·xᵀ; and a chain reusing x twice more. */
    ctx = nb_ctx_new();
    nb_tensor *z = nbt_param(ctx, &seed, -1.0f, 1.0f, 2, (int64_t[]){3, 3});
    nb_tensor *zz = nb_linear(ctx, z, z, NULL);
    nb_tensor *chain = nb_matmul(ctx, zz, z);
    NBT_ASSERT_OK(ctx);
    check_linear_values(z, z, NULL, zz);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, chain, &seed), &z, 1, "(z·zᵀ)@z");
    nb_ctx_free(ctx);
}

#define ASSERT_ERR(ctx, code, text)                                                        \
    do {                                                                                   \
        assert_int_equal(nb_error(ctx), (code));                                           \
        if (!strstr(nb_error_message(ctx), (text)))                                        \
            fail_msg("message \"%s\" lacks \"%s\"", nb_error_message(ctx), (text));       \
        nb_clear_error(ctx);                                                               \
    } while (0)

static void test_matmul_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *a = nb_tensor_2d(ctx, 64, 784), *b = nb_tensor_2d(ctx, 256, 10);
    assert_null(nb_matmul(ctx, a, b));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "matmul: inner dimensions differ: [64,784] @ [256,10]");

    nb_tensor *v = nb_tensor_1d(ctx, 4), *m = nb_tensor_2d(ctx, 4, 3);
    assert_null(nb_matmul(ctx, v, m));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "matmul: operands must be 2-D [m,k] or 3-D [batch,m,k], got [4] @ [4,3]");
    assert_null(nb_matmul(ctx, m, nb_tensor_1d(ctx, 3)));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "[4,3] @ [3]");
    assert_null(nb_matmul(ctx, nb_tensor_4d(ctx, 1, 2, 3, 4), nb_tensor_2d(ctx, 4, 3)));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "got [1,2,3,4] @ [4,3]");
    assert_null(nb_matmul(ctx, nb_scalar(ctx, 1.0f), m));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "got [] @ [4,3]");

    assert_null(nb_matmul(ctx, nb_tensor_3d(ctx, 2, 3, 4), nb_tensor_3d(ctx, 3, 4, 5)));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "matmul: batch sizes differ: [2,3,4] @ [3,4,5]");
    assert_null(nb_matmul(ctx, nb_tensor_3d(ctx, 2, 3, 4), nb_tensor_3d(ctx, 2, 5, 5)));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "matmul: inner dimensions differ: [2,3,4] @ [2,5,5]");

    assert_null(nb_matmul(ctx, NULL, m));
    ASSERT_ERR(ctx, NB_ERR_NULL, "matmul: input 0 is NULL");
    assert_null(nb_matmul(ctx, m, NULL));
    ASSERT_ERR(ctx, NB_ERR_NULL, "matmul: input 1 is NULL");
    assert_null(nb_matmul(NULL, m, m));

    /* Sizes beyond nb_sgemm's int: rejected before any data is touched. The
     * shapes are only validated, so a fake tensor header suffices. */
    nb_tensor big = *m;
    big.shape[0] = (int64_t)1 << 32;
    big.shape[1] = 4;
    assert_null(nb_matmul(ctx, &big, m));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "too large for nb_sgemm");
    nb_tensor big3 = *nb_tensor_3d(ctx, 2, 3, 4);
    big3.shape[0] = (int64_t)1 << 30;
    big3.shape[1] = 4;
    big3.shape[2] = 4;
    assert_null(nb_matmul(ctx, &big3, m));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "too large for nb_sgemm");

    /* A failed context stays failed: later calls return NULL and keep the first message. */
    assert_null(nb_matmul(ctx, a, b));
    assert_null(nb_matmul(ctx, m, nb_tensor_2d(ctx, 3, 2)));
    assert_non_null(strstr(nb_error_message(ctx), "[64,784] @ [256,10]"));
    nb_ctx_free(ctx);
}

static void test_linear_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_2d(ctx, 64, 784), *w = nb_tensor_2d(ctx, 256, 780);
    assert_null(nb_linear(ctx, x, w, NULL));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "linear: x [64,784] has 784 features but weight is [256,780]");

    nb_tensor *w2 = nb_tensor_2d(ctx, 256, 784);
    assert_null(nb_linear(ctx, x, w2, nb_tensor_1d(ctx, 255)));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "linear: bias must be [256] to match weight [256,784], got [255]");
    assert_null(nb_linear(ctx, x, w2, nb_tensor_2d(ctx, 1, 256)));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "got [1,256]");
    assert_null(nb_linear(ctx, x, nb_tensor_1d(ctx, 784), NULL));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "linear: weight must be 2-D [out,in], got [784]");
    assert_null(nb_linear(ctx, nb_scalar(ctx, 2.0f), w2, NULL));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "linear: x must have rank >= 1");

    assert_null(nb_linear(ctx, NULL, w2, NULL));
    ASSERT_ERR(ctx, NB_ERR_NULL, "linear: input 0 is NULL");
    assert_null(nb_linear(ctx, x, NULL, NULL));
    ASSERT_ERR(ctx, NB_ERR_NULL, "linear: input 1 is NULL");

    nb_tensor big = *x;
    big.shape[0] = (int64_t)1 << 31;
    assert_null(nb_linear(ctx, &big, w2, NULL));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "too large for nb_sgemm");

    /* The good call still works after clearing. */
    assert_non_null(nb_linear(ctx, x, w2, nb_tensor_1d(ctx, 256)));
    NBT_ASSERT_OK(ctx);
    nb_ctx_free(ctx);
}

/* Sizes where nb_sgemm packs panels and may thread: backward against the
 * closed forms for loss = Σ C⊙R, i.e. dA = R·Bᵀ and dB = Aᵀ·R per batch
 * (summed over batches on a broadcast side), computed by naive loops. */
static void large_case(int nda, const int64_t *sa, int ndb, const int64_t *sb, uint64_t seed) {
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *a = nbt_param(ctx, &seed, -1.0f, 1.0f, nda, sa);
    nb_tensor *b = nbt_param(ctx, &seed, -1.0f, 1.0f, ndb, sb);
    nb_tensor *c = nb_matmul(ctx, a, b);
    NBT_ASSERT_OK(ctx);
    check_matmul_values(a, b, c);
    nb_tensor *r = nb_tensor_new(ctx, c->ndim, c->shape);
    nbt_fill_uniform(r, &seed, -1.0f, 1.0f);
    nb_graph *g = nb_graph_new(ctx, nb_sum(ctx, nb_mul(ctx, c, r)));
    NBT_ASSERT_OK(ctx);
    nb_graph_zero_grad(g);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    const int64_t m = sa[nda - 2], k = sa[nda - 1], n = sb[ndb - 1];
    const int64_t ba = nda == 3 ? sa[0] : 1, bb = ndb == 3 ? sb[0] : 1;
    const int64_t batch = ba > bb ? ba : bb;
    double *da = calloc((size_t)a->size, sizeof *da), *db = calloc((size_t)b->size, sizeof *db);
    assert_non_null(da);
    assert_non_null(db);
    for (int64_t t = 0; t < batch; t++) {
        const int64_t oa = (ba > 1 ? t : 0) * m * k, ob = (bb > 1 ? t : 0) * k * n;
        const float *rt = r->data + t * m * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                for (int64_t p = 0; p < k; p++) {
                    da[oa + i * k + p] += (double)rt[i * n + j] * b->data[ob + p * n + j];
                    db[ob + p * n + j] += (double)a->data[oa + i * k + p] * rt[i * n + j];
                }
    }
    for (int64_t i = 0; i < a->size; i++)
        if (fabs(a->grad[i] - da[i]) > 1e-4 * (1.0 + fabs(da[i])))
            fail_msg("dA[%lld] = %g, expected %g", (long long)i, (double)a->grad[i], da[i]);
    for (int64_t i = 0; i < b->size; i++)
        if (fabs(b->grad[i] - db[i]) > 1e-4 * (1.0 + fabs(db[i])))
            fail_msg("dB[%lld] = %g, expected %g", (long long)i, (double)b->grad[i], db[i]);
    free(da);
    free(db);
    nb_ctx_free(ctx);
}

static void test_matmul_large(void **state) {
    (void)state;
    large_case(2, (int64_t[]){67, 130}, 2, (int64_t[]){130, 45}, 41);
    large_case(3, (int64_t[]){3, 33, 70}, 2, (int64_t[]){70, 65}, 42);
    large_case(2, (int64_t[]){33, 70}, 3, (int64_t[]){3, 70, 65}, 43);
    large_case(3, (int64_t[]){2, 40, 57}, 3, (int64_t[]){2, 57, 71}, 44);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_matmul),
    cmocka_unit_test(test_matmul_batched),
    cmocka_unit_test(test_linear),
    cmocka_unit_test(test_matmul_reused),
    cmocka_unit_test(test_matmul_large),
    cmocka_unit_test(test_matmul_errors),
    cmocka_unit_test(test_linear_errors),
};
NB_TEST_MAIN(tests)
