/* ops/matmul.c — matmul (2-D and batched 3-D with broadcast batch) and linear
 * (x·wᵀ + b): shape rules, forward and backward side by side. Every product
 * goes through nb_sgemm with transpose flags, and gradients accumulate into
 * place with beta = 1, so no transposed copy or scratch buffer is ever made. */
#include <limits.h>
#include <string.h>

#include "core/engine.h"
#include "kernels/copy.h"

/* nb_sgemm can only fail on arguments validated at construction, or when its
 * packing buffer cannot be allocated; record that rather than drop it. */
static int gemm(nb_ctx *ctx, const char *opname, int ta, int tb, int64_t m, int64_t n, int64_t k,
                const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                int64_t ldc) {
    int rc = nb_sgemm(ta, tb, (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c,
                      (int)ldc);
    if (rc != 0)
        return nb__error(ctx, rc, "%s: nb_sgemm failed (%s) for m=%lld n=%lld k=%lld", opname,
                         nb_status_string(rc), (long long)m, (long long)n, (long long)k);
    return NB_OK;
}

/* ---- matmul -------------------------------------------------------------------
 * Geometry is recomputed from the inputs' shapes on each call (cheap, and the
 * shapes of a recorded graph never change). A side's batch stride is 0 when it
 * is 2-D or has batch 1: that operand is shared by every batch. */

typedef struct mm_geom {
    int64_t batch, m, k, n;
    int64_t sa, sb; /* batch strides of a and b in elements, 0 if broadcast */
} mm_geom;

static mm_geom mm_geometry(const nb_tensor *out) {
    const nb_tensor *a = out->src[0], *b = out->src[1];
    mm_geom g;
    g.batch = out->ndim == 3 ? out->shape[0] : 1;
    g.m = a->shape[a->ndim - 2];
    g.k = a->shape[a->ndim - 1];
    g.n = b->shape[b->ndim - 1];
    g.sa = (a->ndim == 3 && a->shape[0] > 1) ? g.m * g.k : 0;
    g.sb = (b->ndim == 3 && b->shape[0] > 1) ? g.k * g.n : 0;
    return g;
}

static int matmul_forward(nb_tensor *out) {
    const nb_tensor *a = out->src[0], *b = out->src[1];
    mm_geom g = mm_geometry(out);
    /* b shared by every batch and a's batches contiguous: one product with
     * batch·m rows does the work of the whole loop. */
    if (g.sb == 0)
        return gemm(out->ctx, "matmul", 0, 0, g.batch * g.m, g.n, g.k, a->data, g.k, b->data, g.n,
                    0.0f, out->data, g.n) == NB_OK
                   ? NB_OK
                   : nb_error(out->ctx);
    for (int64_t i = 0; i < g.batch; i++) {
        if (gemm(out->ctx, "matmul", 0, 0, g.m, g.n, g.k, a->data + i * g.sa, g.k,
                 b->data + i * g.sb, g.n, 0.0f, out->data + i * g.m * g.n, g.n) != NB_OK)
            return nb_error(out->ctx);
    }
    return NB_OK;
}

/* dA += dC·Bᵀ and dB += Aᵀ·dC per batch; a broadcast side sums over batches. */
static void matmul_backward(nb_tensor *out) {
    nb_tensor *a = out->src[0], *b = out->src[1];
    mm_geom g = mm_geometry(out);
    const float *dc = out->grad;
    /* beta 0 where the engine handed over an unwritten gradient (the first
     * batch only, for a side shared by every batch) */
    const int fa = nb__grad_overwrite(out, 0), fb = nb__grad_overwrite(out, 1);
    if (g.sb == 0) {
        /* B is shared, so a is either batched (contiguous, sa == m·k) or the
         * batch is 1: both gradients are single products over batch·m rows. */
        const int64_t rows = g.batch * g.m;
        if (a->grad)
            gemm(out->ctx, "matmul", 0, 1, rows, g.k, g.n, dc, g.n, b->data, g.n, fa ? 0.0f : 1.0f,
                 a->grad, g.k);
        if (b->grad)
            gemm(out->ctx, "matmul", 1, 0, g.k, g.n, rows, a->data, g.k, dc, g.n, fb ? 0.0f : 1.0f,
                 b->grad, g.n);
        return;
    }
    for (int64_t i = 0; i < g.batch; i++) {
        const float *dci = dc + i * g.m * g.n;
        const float beta_a = fa && (g.sa != 0 || i == 0) ? 0.0f : 1.0f;
        const float beta_b = fb && (g.sb != 0 || i == 0) ? 0.0f : 1.0f;
        if (a->grad)
            gemm(out->ctx, "matmul", 0, 1, g.m, g.k, g.n, dci, g.n, b->data + i * g.sb, g.n, beta_a,
                 a->grad + i * g.sa, g.k);
        if (b->grad)
            gemm(out->ctx, "matmul", 1, 0, g.k, g.n, g.m, a->data + i * g.sa, g.k, dci, g.n, beta_b,
                 b->grad + i * g.sb, g.n);
    }
}

static const nb_op_def op_matmul = {"matmul", matmul_forward, matmul_backward, 3u};

nb_tensor *nb_matmul(nb_ctx *ctx, nb_tensor *a, nb_tensor *b) {
    nb_tensor *src[2] = {a, b};
    if (!nb__inputs_ok(ctx, "matmul", 2, src)) return NULL;
    char sa[NB_SHAPE_BUF], sb[NB_SHAPE_BUF];
    if (a->ndim < 2 || a->ndim > 3 || b->ndim < 2 || b->ndim > 3)
        return nb__error(ctx, NB_ERR_SHAPE,
                         "matmul: operands must be 2-D [m,k] or 3-D [batch,m,k], got %s @ %s",
                         nb__shape_str(a, sa), nb__shape_str(b, sb)),
               NULL;
    const int64_t m = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1];
    const int64_t kb = b->shape[b->ndim - 2], n = b->shape[b->ndim - 1];
    if (k != kb)
        return nb__error(ctx, NB_ERR_SHAPE, "matmul: inner dimensions differ: %s @ %s",
                         nb__shape_str(a, sa), nb__shape_str(b, sb)),
               NULL;
    const int64_t ba = a->ndim == 3 ? a->shape[0] : 1, bb = b->ndim == 3 ? b->shape[0] : 1;
    if (ba != bb && ba != 1 && bb != 1)
        return nb__error(ctx, NB_ERR_SHAPE, "matmul: batch sizes differ: %s @ %s",
                         nb__shape_str(a, sa), nb__shape_str(b, sb)),
               NULL;
    const int64_t batch = ba > bb ? ba : bb;
    /* nb_sgemm takes int sizes; the largest is batch·m rows when b is shared. */
    if (m > INT_MAX || k > INT_MAX || n > INT_MAX || (m > 0 && batch > INT_MAX / m))
        return nb__error(ctx, NB_ERR_SHAPE,
                         "matmul: %s @ %s is too large for nb_sgemm (sizes must fit in int)",
                         nb__shape_str(a, sa), nb__shape_str(b, sb)),
               NULL;
    int64_t shape[3];
    int ndim;
    if (a->ndim == 2 && b->ndim == 2) {
        ndim = 2;
        shape[0] = m;
        shape[1] = n;
    } else {
        ndim = 3;
        shape[0] = batch;
        shape[1] = m;
        shape[2] = n;
    }
    nb_tensor *out = nb__op_new(ctx, &op_matmul, 2, src, ndim, shape);
    return out ? nb__op_run(out) : NULL;
}

/* ---- linear ---------------------------------------------------------------------
 * x[..., in] is treated as rows × in with rows the product of the leading
 * dims; y = x·wᵀ (+ b on every row). */

static void linear_dims(const nb_tensor *out, int64_t *rows, int64_t *in, int64_t *nout) {
    const nb_tensor *w = out->src[1];
    *in = w->shape[1];
    *nout = w->shape[0];
    *rows = out->iarg[0];
}

static int linear_forward(nb_tensor *out) {
    const nb_tensor *x = out->src[0], *w = out->src[1];
    int64_t rows, in, nout;
    linear_dims(out, &rows, &in, &nout);
    if (gemm(out->ctx, "linear", 0, 1, rows, nout, in, x->data, in, w->data, in, 0.0f, out->data,
             nout) != NB_OK)
        return nb_error(out->ctx);
    if (out->nsrc == 3) nb_k_add_rows(rows, nout, out->data, nout, out->src[2]->data, 0);
    return NB_OK;
}

/* dX += dY·W, dW += dYᵀ·X, db += column sums of dY; each stored instead
 * when the engine says nothing is there yet (for dW: the GEMM's beta = 0). */
static void linear_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0], *w = out->src[1];
    int64_t rows, in, nout;
    linear_dims(out, &rows, &in, &nout);
    const float *dy = out->grad;
    if (x->grad)
        gemm(out->ctx, "linear", 0, 0, rows, in, nout, dy, nout, w->data, in,
             nb__grad_overwrite(out, 0) ? 0.0f : 1.0f, x->grad, in);
    if (w->grad)
        gemm(out->ctx, "linear", 1, 0, nout, in, rows, dy, nout, x->data, in,
             nb__grad_overwrite(out, 1) ? 0.0f : 1.0f, w->grad, in);
    if (out->nsrc == 3 && out->src[2]->grad) {
        if (nb__grad_overwrite(out, 2)) memset(out->src[2]->grad, 0, (size_t)nout * sizeof(float));
        nb_k_add_rows(rows, nout, out->src[2]->grad, 0, dy, nout);
    }
}

static const nb_op_def op_linear = {"linear", linear_forward, linear_backward, 7u};

nb_tensor *nb_linear(nb_ctx *ctx, nb_tensor *x, nb_tensor *w, nb_tensor *b) {
    nb_tensor *src[3] = {x, w, b};
    const int nsrc = b ? 3 : 2;
    if (!nb__inputs_ok(ctx, "linear", 2, src)) return NULL;
    if (b && !nb__inputs_ok(ctx, "linear", 3, src)) return NULL;
    char sx[NB_SHAPE_BUF], sw[NB_SHAPE_BUF], sb[NB_SHAPE_BUF];
    if (w->ndim != 2)
        return nb__error(ctx, NB_ERR_SHAPE, "linear: weight must be 2-D [out,in], got %s",
                         nb__shape_str(w, sw)),
               NULL;
    if (x->ndim < 1)
        return nb__error(ctx, NB_ERR_SHAPE, "linear: x must have rank >= 1 [..., in], got %s",
                         nb__shape_str(x, sx)),
               NULL;
    const int64_t nout = w->shape[0], in = w->shape[1];
    if (x->shape[x->ndim - 1] != in)
        return nb__error(ctx, NB_ERR_SHAPE, "linear: x %s has %lld features but weight is %s",
                         nb__shape_str(x, sx), (long long)x->shape[x->ndim - 1],
                         nb__shape_str(w, sw)),
               NULL;
    if (b && (b->ndim != 1 || b->shape[0] != nout))
        return nb__error(ctx, NB_ERR_SHAPE, "linear: bias must be [%lld] to match weight %s, got %s",
                         (long long)nout, nb__shape_str(w, sw), nb__shape_str(b, sb)),
               NULL;
    int64_t rows = 1;
    for (int i = 0; i < x->ndim - 1; i++) rows *= x->shape[i];
    if (rows > INT_MAX || in > INT_MAX || nout > INT_MAX)
        return nb__error(ctx, NB_ERR_SHAPE,
                         "linear: x %s with weight %s is too large for nb_sgemm (sizes must fit "
                         "in int)",
                         nb__shape_str(x, sx), nb__shape_str(w, sw)),
               NULL;
    int64_t shape[NB_MAX_DIMS];
    for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = nout;
    nb_tensor *out = nb__op_new(ctx, &op_linear, nsrc, src, x->ndim, shape);
    if (!out) return NULL;
    out->iarg[0] = rows;
    return nb__op_run(out);
}
