/* attention and the head permutations: forward and gradients against a naive
 * materialised softmax(q·kᵀ/√Dh)·v in double, gradient checks on shapes that
 * span several query/key blocks with partial last blocks, bitwise equality
 * across thread counts, large scores, attention read in place from QKV
 * rows (bitwise the split path), error cases, and a golden
 * qkv_split -> attention -> merge_heads -> layer_norm / rms_norm computation
 * against PyTorch (tests/data/golden/attention.txt, gen_golden_attention.py). */
#include "test_util.h"
#include "core/engine.h" /* nb_op_def: the op's name */
#include "nabla/seq.h"
#include "golden.h"

/* B, H, Tq, Tk, Dh. Tq/Tk = 70 spans three 32-row query blocks and two
 * 64-key blocks, both ending part-full. Head sizes that are a multiple of
 * the SGEMM micro-kernel's width (16: 8 wide on the portable path) take the
 * block-product path, the others the row loops. */
static const int64_t shapes[][5] = {
    {2, 2, 5, 5, 3}, {1, 1, 70, 70, 4}, {1, 2, 33, 33, 2}, {1, 2, 3, 7, 2}, {2, 1, 9, 65, 5},
    {1, 1, 70, 70, 16}, {1, 1, 20, 67, 16},
};
#define NSHAPES 7

/* ---- double-precision reference -------------------------------------------------
 * The textbook form: materialise S = q·kᵀ·scale (+ mask), P = softmax(S),
 * O = P·V; backward dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P⊙(dP − rowsum(P⊙dP)),
 * dQ = dS·K·scale, dK = dSᵀ·Q·scale. */
static void ref_attention(int64_t bh, int64_t tq, int64_t tk, int64_t dh, int causal,
                          const float *q, const float *k, const float *v, const float *dout,
                          double *o, double *dq, double *dk, double *dv) {
    const double scale = 1.0 / sqrt((double)dh);
    double *p = malloc((size_t)(tq * tk) * sizeof(double));
    double *dp = malloc((size_t)(tq * tk) * sizeof(double));
    assert_non_null(p);
    assert_non_null(dp);
    for (int64_t s = 0; s < bh; s++) {
        const float *qs = q + s * tq * dh, *ks = k + s * tk * dh, *vs = v + s * tk * dh;
        const float *gs = dout ? dout + s * tq * dh : NULL;
        for (int64_t i = 0; i < tq; i++) {
            double mx = -INFINITY;
            for (int64_t j = 0; j < tk; j++) {
                double acc = 0;
                for (int64_t d = 0; d < dh; d++) acc += (double)qs[i * dh + d] * ks[j * dh + d];
                p[i * tk + j] = (causal && j > i) ? -INFINITY : acc * scale;
                mx = fmax(mx, p[i * tk + j]);
            }
            double sum = 0;
            for (int64_t j = 0; j < tk; j++) sum += p[i * tk + j] = exp(p[i * tk + j] - mx);
            for (int64_t j = 0; j < tk; j++) p[i * tk + j] /= sum;
            for (int64_t d = 0; d < dh; d++) {
                double acc = 0;
                for (int64_t j = 0; j < tk; j++) acc += p[i * tk + j] * vs[j * dh + d];
                o[(s * tq + i) * dh + d] = acc;
            }
        }
        if (!gs) continue;
        for (int64_t x = 0; x < tk * dh; x++) dk[s * tk * dh + x] = dv[s * tk * dh + x] = 0;
        for (int64_t i = 0; i < tq; i++) {
            double rs = 0;
            for (int64_t j = 0; j < tk; j++) {
                double acc = 0;
                for (int64_t d = 0; d < dh; d++) acc += (double)gs[i * dh + d] * vs[j * dh + d];
                dp[i * tk + j] = acc;
                rs += acc * p[i * tk + j];
            }
            for (int64_t j = 0; j < tk; j++) dp[i * tk + j] = p[i * tk + j] * (dp[i * tk + j] - rs) * scale;
        }
        for (int64_t i = 0; i < tq; i++)
            for (int64_t d = 0; d < dh; d++) {
                double acc = 0;
                for (int64_t j = 0; j < tk; j++) acc += dp[i * tk + j] * ks[j * dh + d];
                dq[(s * tq + i) * dh + d] = acc;
            }
        for (int64_t j = 0; j < tk; j++)
            for (int64_t d = 0; d < dh; d++) {
                double a = 0, b = 0;
                for (int64_t i = 0; i < tq; i++) {
                    a += dp[i * tk + j] * qs[i * dh + d];
                    b += p[i * tk + j] * gs[i * dh + d];
                }
                dk[(s * tk + j) * dh + d] = a;
                dv[(s * tk + j) * dh + d] = b;
            }
    }
    free(p);
    free(dp);
}

static void assert_near(const char *what, const float *got, const double *want, int64_t n, double tol) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= tol * (1.0 + fabs(want[i]))))
            fail_msg("%s[%lld]: %.9g, reference %.9g", what, (long long)i, (double)got[i], want[i]);
}

/* Forward and analytic backward against the reference for one shape. */
static void check_against_reference(const int64_t *sh, int causal, float range, uint64_t *seed) {
    nb_ctx *ctx = nb_ctx_new();
    const int64_t qs[4] = {sh[0], sh[1], sh[2], sh[4]}, ks[4] = {sh[0], sh[1], sh[3], sh[4]};
    nb_tensor *q = nbt_param(ctx, seed, -range, range, 4, qs);
    nb_tensor *k = nbt_param(ctx, seed, -range, range, 4, ks);
    nb_tensor *v = nbt_param(ctx, seed, -1.0f, 1.0f, 4, ks);
    nb_tensor *o = nb_attention(ctx, q, k, v, causal);
    nb_tensor *r = nb_tensor_new(ctx, 4, qs);
    nbt_fill_uniform(r, seed, -1.0f, 1.0f);
    nb_graph *g = nb_graph_new(ctx, nb_sum(ctx, nb_mul(ctx, o, r)));
    NBT_ASSERT_OK(ctx);
    for (int i = 0; i < 4; i++) assert_int_equal(o->shape[i], qs[i]);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    const int64_t bh = sh[0] * sh[1];
    double *ro = malloc((size_t)q->size * sizeof(double)), *rdq = malloc((size_t)q->size * sizeof(double));
    double *rdk = malloc((size_t)k->size * sizeof(double)), *rdv = malloc((size_t)k->size * sizeof(double));
    ref_attention(bh, sh[2], sh[3], sh[4], causal, q->data, k->data, v->data, r->data, ro, rdq, rdk, rdv);
    assert_near("attention out", o->data, ro, o->size, 1e-5);
    assert_near("attention dq", q->grad, rdq, q->size, 1e-4);
    assert_near("attention dk", k->grad, rdk, k->size, 1e-4);
    assert_near("attention dv", v->grad, rdv, v->size, 1e-5);
    free(ro);
    free(rdq);
    free(rdk);
    free(rdv);
    nb_ctx_free(ctx);
}

static void check_attention(int causal) {
    uint64_t seed = 300 + (uint64_t)causal;
    for (int s = 0; s < NSHAPES; s++) {
        if (causal && shapes[s][2] != shapes[s][3]) continue;
        check_against_reference(shapes[s], causal, 1.5f, &seed);
        nb_ctx *ctx = nb_ctx_new();
        const int64_t *sh = shapes[s];
        const int64_t qs[4] = {sh[0], sh[1], sh[2], sh[4]}, ks[4] = {sh[0], sh[1], sh[3], sh[4]};
        nb_tensor *q = nbt_param(ctx, &seed, -1.5f, 1.5f, 4, qs);
        nb_tensor *k = nbt_param(ctx, &seed, -1.5f, 1.5f, 4, ks);
        nb_tensor *v = nbt_param(ctx, &seed, -1.0f, 1.0f, 4, ks);
        nb_tensor *wrt[3] = {q, k, v};
        char what[64];
        snprintf(what, sizeof what, "attention causal %d shape %d", causal, s);
        nbt_check_grads(ctx, nbt_weighted_sum(ctx, nb_attention(ctx, q, k, v, causal), &seed), wrt, 3,
                        what);
        nb_ctx_free(ctx);
    }
    /* one tensor as q, k and v at once: the three gradients add up */
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nbt_param(ctx, &seed, -1.5f, 1.5f, 4, (int64_t[]){2, 1, 6, 3});
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, nb_attention(ctx, x, x, x, causal), &seed), &x, 1,
                    "attention(x, x, x)");
    nb_ctx_free(ctx);
}

static void test_attention(void **state) {
    (void)state;
    check_attention(0);
    /* GPT-sized slices against the reference (no finite differences needed) */
    uint64_t seed = 41;
    check_against_reference((const int64_t[]){2, 3, 100, 100, 16}, 0, 1.0f, &seed);
    check_against_reference((const int64_t[]){1, 2, 64, 64, 32}, 0, 1.0f, &seed);
    /* scores of several hundred: only a max-subtracted softmax stays finite */
    check_against_reference((const int64_t[]){1, 2, 40, 70, 8}, 0, 12.0f, &seed);
}

static void test_attention_causal(void **state) {
    (void)state;
    check_attention(1);
    uint64_t seed = 43;
    check_against_reference((const int64_t[]){2, 3, 100, 100, 16}, 1, 1.0f, &seed);
    check_against_reference((const int64_t[]){1, 2, 64, 64, 32}, 1, 1.0f, &seed);
    check_against_reference((const int64_t[]){1, 2, 70, 70, 8}, 1, 12.0f, &seed);
    /* row 0 sees only key 0: its output is v[0] exactly */
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *q = nbt_param(ctx, &seed, -1, 1, 4, (int64_t[]){1, 1, 4, 3});
    nb_tensor *v = nbt_param(ctx, &seed, -1, 1, 4, (int64_t[]){1, 1, 4, 3});
    nb_tensor *o = nb_attention(ctx, q, q, v, 1);
    NBT_ASSERT_OK(ctx);
    for (int d = 0; d < 3; d++) assert_float_equal(o->data[d], v->data[d], 1e-6);
    nb_ctx_free(ctx);
}

/* Slices are split across threads, never a slice's sums: same bits for any count. */
static void test_attention_threads(void **state) {
    (void)state;
    for (int causal = 0; causal < 2; causal++) {
        float *ref[4] = {0};
        const int threads[3] = {1, 2, 5};
        for (int t = 0; t < 3; t++) {
            nb_set_threads(threads[t]);
            nb_ctx *ctx = nb_ctx_new();
            uint64_t seed = 99;
            const int64_t sh[4] = {3, 4, 80, 16};
            nb_tensor *q = nbt_param(ctx, &seed, -1, 1, 4, sh), *k = nbt_param(ctx, &seed, -1, 1, 4, sh);
            nb_tensor *v = nbt_param(ctx, &seed, -1, 1, 4, sh);
            nb_tensor *o = nb_attention(ctx, q, k, v, causal);
            nb_graph *g = nb_graph_new(ctx, nbt_weighted_sum(ctx, o, &seed));
            NBT_ASSERT_OK(ctx);
            assert_int_equal(nb_graph_backward(g), NB_OK);
            const float *res[4] = {o->data, q->grad, k->grad, v->grad};
            const size_t bytes = (size_t)o->size * sizeof(float);
            for (int i = 0; i < 4; i++) {
                if (t == 0) {
                    ref[i] = malloc(bytes);
                    memcpy(ref[i], res[i], bytes);
                } else if (memcmp(ref[i], res[i], bytes) != 0) {
                    fail_msg("attention (causal %d) result %d differs between 1 and %d threads", causal, i,
                             threads[t]);
                }
            }
            nb_ctx_free(ctx);
        }
        for (int i = 0; i < 4; i++) free(ref[i]);
    }
    nb_set_threads(0);
}

/* ---- head permutations -------------------------------------------------------------- */

static void test_split_heads(void **state) {
    (void)state;
    uint64_t seed = 51;
    nb_ctx *ctx = nb_ctx_new();
    const int64_t B = 2, T = 3, H = 4, Dh = 5;
    nb_tensor *x = nbt_param(ctx, &seed, -1, 1, 3, (int64_t[]){B, T, H * Dh});
    nb_tensor *y = nb_split_heads(ctx, x, (int)H);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(y->ndim, 4);
    assert_int_equal(y->shape[0], B);
    assert_int_equal(y->shape[1], H);
    assert_int_equal(y->shape[2], T);
    assert_int_equal(y->shape[3], Dh);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t d = 0; d < Dh; d++)
                    assert_true(y->data[((b * H + h) * T + t) * Dh + d] == x->data[(b * T + t) * H * Dh + h * Dh + d]);
    /* used twice, so the backward must add rather than assign */
    nb_tensor *z = nb_add(ctx, y, nb_split_heads(ctx, nb_square(ctx, x), (int)H));
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, z, &seed), &x, 1, "split_heads");
    nb_ctx_free(ctx);
}

static void test_merge_heads(void **state) {
    (void)state;
    uint64_t seed = 52;
    nb_ctx *ctx = nb_ctx_new();
    const int64_t B = 2, H = 3, T = 4, Dh = 2;
    nb_tensor *x = nbt_param(ctx, &seed, -1, 1, 4, (int64_t[]){B, H, T, Dh});
    nb_tensor *y = nb_merge_heads(ctx, x);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[0], B);
    assert_int_equal(y->shape[1], T);
    assert_int_equal(y->shape[2], H * Dh);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t d = 0; d < Dh; d++)
                    assert_true(y->data[(b * T + t) * H * Dh + h * Dh + d] == x->data[((b * H + h) * T + t) * Dh + d]);
    /* merge undoes split */
    nb_tensor *back = nb_split_heads(ctx, y, (int)H);
    NBT_ASSERT_OK(ctx);
    assert_memory_equal(back->data, x->data, (size_t)x->size * sizeof(float));
    nb_tensor *z = nb_mul(ctx, nb_merge_heads(ctx, x), y);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, z, &seed), &x, 1, "merge_heads");
    nb_ctx_free(ctx);
}

static void test_qkv_split(void **state) {
    (void)state;
    uint64_t seed = 53;
    nb_ctx *ctx = nb_ctx_new();
    const int64_t B = 2, T = 5, H = 2, Dh = 3, C = H * Dh;
    nb_tensor *x = nbt_param(ctx, &seed, -1, 1, 3, (int64_t[]){B, T, 3 * C});
    nb_tensor *part[3];
    assert_int_equal(nb_qkv_split(ctx, x, (int)H, &part[0], &part[1], &part[2]), NB_OK);
    NBT_ASSERT_OK(ctx);
    for (int p = 0; p < 3; p++) {
        assert_non_null(part[p]);
        assert_int_equal(part[p]->shape[0], B);
        assert_int_equal(part[p]->shape[1], H);
        assert_int_equal(part[p]->shape[2], T);
        assert_int_equal(part[p]->shape[3], Dh);
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t t = 0; t < T; t++)
                    for (int64_t d = 0; d < Dh; d++)
                        assert_true(part[p]->data[((b * H + h) * T + t) * Dh + d] ==
                                    x->data[(b * T + t) * 3 * C + p * C + h * Dh + d]);
    }
    /* the three parts feeding attention: gradients of all thirds meet in x */
    nb_tensor *o = nb_attention(ctx, part[0], part[1], part[2], 1);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, nb_merge_heads(ctx, o), &seed), &x, 1, "qkv_split");
    nb_ctx_free(ctx);
}

/* ---- attention straight from QKV rows ------------------------------------------------------
 * nb_attention_qkv against the three-op composition it replaces, bitwise:
 * output and the gradient of qkv, on head sizes of both kernel paths, lengths
 * spanning several blocks, causal or not, at 1 and 2 threads; and a gradient
 * check of its own. */
typedef struct qkv_run {
    nb_ctx *ctx;
    nb_tensor *qkv, *y;
} qkv_run;

static qkv_run qkv_attention(int64_t B, int64_t T, int64_t H, int64_t Dh, int causal, int fused) {
    qkv_run r = {nb_ctx_new(), NULL, NULL};
    uint64_t seed = 71;
    r.qkv = nbt_param(r.ctx, &seed, -1.5f, 1.5f, 3, (int64_t[]){B, T, 3 * H * Dh});
    /* through an intermediate, whose gradient the op stores rather than adds */
    nb_tensor *x = nb_tanh(r.ctx, r.qkv);
    if (fused) {
        r.y = nb_attention_qkv(r.ctx, x, (int)H, causal);
    } else {
        nb_tensor *q, *k, *v;
        assert_int_equal(nb_qkv_split(r.ctx, x, (int)H, &q, &k, &v), NB_OK);
        r.y = nb_merge_heads(r.ctx, nb_attention(r.ctx, q, k, v, causal));
    }
    nb_graph *g = nb_graph_new(r.ctx, nbt_weighted_sum(r.ctx, r.y, &seed));
    NBT_ASSERT_OK(r.ctx);
    for (int step = 0; step < 2; step++) { /* replayed: the overwrite path runs twice */
        nb_graph_zero_grad(g);
        assert_int_equal(nb_graph_forward(g), NB_OK);
        assert_int_equal(nb_graph_backward(g), NB_OK);
    }
    return r;
}

static void test_attention_qkv(void **state) {
    (void)state;
    const int64_t cases[][4] = {{2, 70, 3, 16}, {1, 33, 2, 5}, {2, 9, 4, 32}, {1, 1, 1, 3}, {3, 64, 4, 8}};
    for (int threads = 1; threads <= 2; threads++) {
        nb_set_threads(threads);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int causal = 0; causal < 2; causal++) {
                const int64_t *s = cases[c];
                qkv_run f = qkv_attention(s[0], s[1], s[2], s[3], causal, 1);
                qkv_run u = qkv_attention(s[0], s[1], s[2], s[3], causal, 0);
                assert_string_equal(f.y->op->name, "attention_qkv");
                assert_int_equal(f.y->ndim, 3);
                assert_int_equal(f.y->shape[2], s[2] * s[3]);
                if (memcmp(f.y->data, u.y->data, (size_t)f.y->size * sizeof(float)))
                    fail_msg("case %zu causal %d: output differs from the split path", c, causal);
                if (memcmp(f.qkv->grad, u.qkv->grad, (size_t)f.qkv->size * sizeof(float)))
                    fail_msg("case %zu causal %d: qkv gradient differs from the split path", c, causal);
                nb_ctx_free(f.ctx), nb_ctx_free(u.ctx);
            }
    }
    nb_set_threads(0);
    uint64_t seed = 73;
    for (int causal = 0; causal < 2; causal++) {
        nb_ctx *ctx = nb_ctx_new();
        nb_tensor *x = nbt_param(ctx, &seed, -1.5f, 1.5f, 3, (int64_t[]){2, 6, 3 * 2 * 3});
        nbt_check_grads(ctx, nbt_weighted_sum(ctx, nb_attention_qkv(ctx, x, 2, causal), &seed), &x, 1,
                        "attention_qkv");
        nb_ctx_free(ctx);
    }
}

/* ---- errors ---------------------------------------------------------------------------- */

static void expect_error(nb_ctx *ctx, const void *r, int code, const char *a, const char *b) {
    assert_null(r);
    assert_int_equal(nb_error(ctx), code);
    const char *msg = nb_error_message(ctx);
    if (!strstr(msg, a) || (b && !strstr(msg, b))) fail_msg("message '%s' lacks '%s'/'%s'", msg, a, b ? b : "");
    nb_clear_error(ctx);
}

static void test_attention_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *q = nb_tensor_4d(ctx, 2, 3, 5, 4), *k7 = nb_tensor_4d(ctx, 2, 3, 7, 4);
    nb_tensor *k = nb_tensor_4d(ctx, 2, 3, 5, 4);
    expect_error(ctx, nb_attention(ctx, nb_tensor_3d(ctx, 3, 5, 4), k, k, 0), NB_ERR_SHAPE,
                 "attention: q, k, v must be rank 4", "[3,5,4]");
    expect_error(ctx, nb_attention(ctx, q, k, nb_tensor_4d(ctx, 2, 3, 5, 2), 0), NB_ERR_SHAPE, "attention",
                 "v [2,3,5,2]");
    expect_error(ctx, nb_attention(ctx, q, nb_tensor_4d(ctx, 2, 3, 5, 3), k, 0), NB_ERR_SHAPE, "attention",
                 "k [2,3,5,3]");
    expect_error(ctx, nb_attention(ctx, q, nb_tensor_4d(ctx, 2, 2, 5, 4), nb_tensor_4d(ctx, 2, 2, 5, 4), 0),
                 NB_ERR_SHAPE, "attention", "q [2,3,5,4]");
    expect_error(ctx, nb_attention(ctx, q, k7, k7, 1), NB_ERR_SHAPE, "attention: causal", "[2,3,7,4]");
    assert_non_null(nb_attention(ctx, q, k7, k7, 0)); /* cross-attention lengths are fine unmasked */
    nb_tensor *k0 = nb_tensor_4d(ctx, 2, 3, 0, 4);
    expect_error(ctx, nb_attention(ctx, q, k0, k0, 0), NB_ERR_SHAPE, "attention", "[2,3,0,4]");
    expect_error(ctx, nb_attention(ctx, q, NULL, k, 0), NB_ERR_NULL, "attention", NULL);
    nb_ctx_free(ctx);
}

static void test_heads_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_3d(ctx, 2, 5, 12);
    expect_error(ctx, nb_split_heads(ctx, x, 5), NB_ERR_SHAPE, "split_heads: width 12", "5 heads");
    expect_error(ctx, nb_split_heads(ctx, x, 0), NB_ERR_ARG, "split_heads: heads", NULL);
    expect_error(ctx, nb_split_heads(ctx, nb_tensor_2d(ctx, 5, 12), 2), NB_ERR_SHAPE, "split_heads", "[5,12]");
    expect_error(ctx, nb_merge_heads(ctx, x), NB_ERR_SHAPE, "merge_heads", "[2,5,12]");
    nb_tensor *q = (nb_tensor *)ctx, *k = q, *v = q; /* must be reset to NULL on failure */
    assert_int_equal(nb_qkv_split(ctx, x, 3, &q, &k, &v), NB_ERR_SHAPE);
    assert_null(q);
    assert_null(k);
    assert_null(v);
    expect_error(ctx, NULL, NB_ERR_SHAPE, "qkv_split: width 12", "3 × 3 heads");
    assert_int_equal(nb_qkv_split(ctx, nb_tensor_3d(ctx, 2, 5, 13), 1, &q, &k, &v), NB_ERR_SHAPE);
    expect_error(ctx, NULL, NB_ERR_SHAPE, "qkv_split", "[2,5,13]");
    assert_int_equal(nb_qkv_split(ctx, x, 2, &q, NULL, &v), NB_ERR_NULL);
    expect_error(ctx, q, NB_ERR_NULL, "qkv_split", NULL);
    assert_int_equal(nb_qkv_split(ctx, x, 2, &q, &k, &v), NB_OK);
    assert_int_equal(q->shape[3], 2);
    expect_error(ctx, nb_attention_qkv(ctx, x, 3, 1), NB_ERR_SHAPE, "attention_qkv: width 12", "3 × 3 heads");
    expect_error(ctx, nb_attention_qkv(ctx, x, 0, 1), NB_ERR_ARG, "attention_qkv: heads", NULL);
    expect_error(ctx, nb_attention_qkv(ctx, nb_tensor_2d(ctx, 5, 12), 2, 0), NB_ERR_SHAPE, "attention_qkv",
                 "[5,12]");
    expect_error(ctx, nb_attention_qkv(ctx, nb_tensor_3d(ctx, 2, 0, 12), 2, 0), NB_ERR_SHAPE, "attention_qkv",
                 "[2,0,12]");
    expect_error(ctx, nb_attention_qkv(ctx, NULL, 2, 0), NB_ERR_NULL, "attention_qkv", NULL);
    nb_ctx_free(ctx);
}

/* ---- golden test against PyTorch -------------------------------------------------------- */

/* The reference is float64 from the same float32 inputs; float32 through
 * attention, layer norm and RMS norm is good to ~1e-6 relative. */
#define GOLDEN_REL 2e-5
#define GOLDEN_ABS 2e-6

static void assert_golden(const char *name, const nb_tensor *t, const float *got) {
    const golden_fixture *e = golden_get(name);
    if (t->size != e->size) fail_msg("%s: %lld values, fixture %lld", name, (long long)t->size, (long long)e->size);
    for (int d = 0; d < e->ndim && d < t->ndim; d++)
        if (t->shape[d] != e->shape[d]) fail_msg("%s: dim %d is %lld, fixture %lld", name, d,
                                                 (long long)t->shape[d], (long long)e->shape[d]);
    golden_assert_close(name, got, e, GOLDEN_REL, GOLDEN_ABS);
}

static nb_tensor *param_from(nb_ctx *ctx, const char *name) {
    const golden_fixture *e = golden_get(name);
    nb_tensor *p = nb_param_new(ctx, name, e->ndim, e->shape);
    assert_non_null(p);
    for (int64_t i = 0; i < e->size; i++) p->data[i] = (float)e->values[i];
    return p;
}

static void run_golden(int causal) {
    golden_load("attention.txt");
    const char *pre = causal ? "causal." : "full.";
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *qkv = param_from(ctx, "qkv"), *gamma = param_from(ctx, "gamma");
    nb_tensor *beta = param_from(ctx, "beta"), *g2 = param_from(ctx, "g2");
    nb_tensor *r1 = nb_tensor_new(ctx, golden_get("r1")->ndim, golden_get("r1")->shape);
    nb_tensor *r2 = nb_tensor_new(ctx, golden_get("r2")->ndim, golden_get("r2")->shape);
    for (int64_t i = 0; i < r1->size; i++) r1->data[i] = (float)golden_get("r1")->values[i];
    for (int64_t i = 0; i < r2->size; i++) r2->data[i] = (float)golden_get("r2")->values[i];
    const int heads = 2;
    nb_tensor *q, *k, *v;
    assert_int_equal(nb_qkv_split(ctx, qkv, heads, &q, &k, &v), NB_OK);
    nb_tensor *a = nb_attention(ctx, q, k, v, causal);
    nb_tensor *m = nb_merge_heads(ctx, a);
    nb_tensor *y = nb_layer_norm(ctx, m, gamma, beta, 1e-5f);
    nb_tensor *z = nb_rms_norm(ctx, m, g2, 1e-6f);
    nb_tensor *loss = nb_add(ctx, nb_sum(ctx, nb_mul(ctx, y, r1)), nb_sum(ctx, nb_mul(ctx, z, r2)));
    nb_graph *g = nb_graph_new(ctx, loss);
    NBT_ASSERT_OK(ctx);
    char name[64];
    for (int rep = 0; rep < 2; rep++) { /* the replayed graph must agree too */
        nb_graph_zero_grad(g);
        if (rep) assert_int_equal(nb_graph_forward(g), NB_OK);
        assert_int_equal(nb_graph_backward(g), NB_OK);
        const struct { const char *n; const nb_tensor *t; const float *v; } checks[] = {
            {"att", a, a->data},           {"y", y, y->data},
            {"z", z, z->data},             {"loss", loss, loss->data},
            {"grad.qkv", qkv, qkv->grad},  {"grad.gamma", gamma, gamma->grad},
            {"grad.beta", beta, beta->grad}, {"grad.g2", g2, g2->grad},
        };
        for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
            snprintf(name, sizeof name, "%s%s", pre, checks[i].n);
            assert_golden(name, checks[i].t, checks[i].v);
        }
    }
    nb_ctx_free(ctx);
    golden_free();
}

static void test_golden_attention(void **state) {
    (void)state;
    run_golden(0);
}

static void test_golden_attention_causal(void **state) {
    (void)state;
    run_golden(1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_attention),
    cmocka_unit_test(test_attention_causal),
    cmocka_unit_test(test_attention_threads),
    cmocka_unit_test(test_split_heads),
    cmocka_unit_test(test_merge_heads),
    cmocka_unit_test(test_qkv_split),
    cmocka_unit_test(test_attention_qkv),
    cmocka_unit_test(test_attention_errors),
    cmocka_unit_test(test_heads_errors),
    cmocka_unit_test(test_golden_attention),
    cmocka_unit_test(test_golden_attention_causal),
};
NB_TEST_MAIN(tests)
