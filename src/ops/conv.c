/* ops/conv.c — 2-D convolution (stride, padding, dilation, groups, optional
 * bias): shape rules, forward and backward side by side. The work is im2col +
 * nb_sgemm one sample at a time: a sample's columns (k × OH·OW) stay in L2,
 * its GEMM writes straight into the NCHW output, and samples run in parallel
 * (each GEMM then on one thread) in fixed groups whose weight-gradient
 * partials are summed in group order, so results do not depend on the thread
 * count. A 1×1, stride-1, unpadded convolution multiplies the input planes
 * directly and needs no columns at all. With a fused 2×2 max-pool
 * (opts.max_pool), a sample's convolution output goes to a per-group scratch
 * still in L2, is pooled from there, and in backward the pool's gradient is
 * routed back into that scratch: the full-size output and its gradient never
 * reach memory. */
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include "core/engine.h"
#include "kernels/conv.h"
#include "kernels/elementwise.h" /* NB__EW_PARALLEL_FOR */
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "nabla/conv.h"

/* At most this many sample groups (each with its own column buffer and
 * weight-gradient partial): enough to keep every core busy on a batch, few
 * enough that the partials cost little memory and summing them little time. */
#define MAX_SAMPLE_GROUPS 16
/* ... and their weight-gradient partials together hold at most this many
 * floats (16 MiB); a layer whose weights are larger runs fewer groups. */
#define PARTIALS_BUDGET ((int64_t)1 << 22)

typedef struct conv_state {
    nb_k_conv_geom g; /* one group's geometry */
    int64_t n, cin, o, groups, og, k, p; /* k = (C/groups)·KH·KW, p = OH·OW */
    int direct;                          /* 1×1 stride 1 no padding: x is its own col */
    int64_t nsg, per;                    /* sample groups, samples per group */
    int dw_t;                            /* partials hold dWᵀ (k × og per group): see below */
    float *col;                          /* per sample group: k × p columns */
    float *dw;                           /* per sample group: o × k gradient partial */
    float *db;                           /* per sample group: o bias-gradient partial */
    float *ybuf;                         /* fused 2×2 max-pool only (else NULL): per sample
                                            group, o × p unpooled output / gradient */
    nb_k_pool_geom pg;                   /* the pool's geometry on one OH × OW plane */
    int32_t *arg;                        /* the pool's argmax, one per output element */
} conv_state;

static int gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    return nb_sgemm(ta, tb, (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c,
                    (int)ldc);
}

static int gemm_failed(nb_ctx *ctx, int rc) {
    return nb__error(ctx, rc, "conv2d: nb_sgemm failed (%s)", nb_status_string(rc));
}

/* Threads for the sample groups: the whole step's flops decide, as in sgemm. */
static int group_threads(const conv_state *st) {
    const double flops = 2.0 * (double)st->n * (double)st->o * (double)st->k * (double)st->p;
    const int nt = nb__threads_for(flops, 1.0e6);
    return nt < st->nsg ? nt : (int)st->nsg;
}

/* Sample s's output: per group, columns then W_g · col (+ bias). */
static int forward_sample(const conv_state *st, const float *x, const float *w,
                          const float *bias, float *y, float *col) {
    const int64_t cg = st->g.c, hw = st->g.h * st->g.w;
    for (int64_t gi = 0; gi < st->groups; gi++) {
        float *yg = y + gi * st->og * st->p;
        nb_k_im2col(&st->g, 1, x + gi * cg * hw, 0, col, st->p);
        const int rc = gemm(0, 0, st->og, st->p, st->k, w + gi * st->og * st->k, st->k, col,
                            st->p, 0.0f, yg, st->p);
        if (rc) return rc;
        if (bias) nb_k_add_channel_bias(1, st->og, st->p, bias + gi * st->og, yg); /* still in L2 */
    }
    return 0;
}

static int conv_forward(nb_tensor *out) {
    const conv_state *st = out->saved;
    const nb_tensor *x = out->src[0], *w = out->src[1];
    const float *bias = out->nsrc == 3 ? out->src[2]->data : NULL;
    const int64_t xs = st->cin * st->g.h * st->g.w, ys = st->o * st->p, cg = st->g.c;
    nb_ctx *ctx = out->ctx;
    if (st->direct) {
        for (int64_t s = 0; s < st->n; s++)
            for (int64_t gi = 0; gi < st->groups; gi++) {
                const int rc = gemm(0, 0, st->og, st->p, cg, w->data + gi * st->og * st->k, st->k,
                                    x->data + s * xs + gi * cg * st->p, st->p, 0.0f,
                                    out->data + s * ys + gi * st->og * st->p, st->p);
                if (rc) return gemm_failed(ctx, rc);
            }
        if (bias) nb_k_add_channel_bias(st->n, st->o, st->p, bias, out->data);
        return NB_OK;
    }
    atomic_int failed = 0;
    const int nt = group_threads(st);
    const int64_t os = st->n ? out->size / st->n : 0; /* output per sample: ys, or pooled */
    NB__EW_PARALLEL_FOR(j, st->nsg, {
        float *col = st->col + j * st->k * st->p;
        float *yb = st->ybuf ? st->ybuf + j * ys : NULL;
        const int64_t s1 = (j + 1) * st->per < st->n ? (j + 1) * st->per : st->n;
        for (int64_t s = j * st->per; s < s1; s++) {
            const int rc = forward_sample(st, x->data + s * xs, w->data, bias,
                                          yb ? yb : out->data + s * ys, col);
            if (rc) atomic_store(&failed, rc);
            if (yb) nb_k_max_pool(&st->pg, st->o, yb, out->data + s * os, st->arg + s * os);
        }
    });
    return failed ? gemm_failed(ctx, failed) : NB_OK;
}

/* Sample s's share of the gradients: dW_g += dY_g · colᵀ into this sample
 * group's partial, dcol = W_gᵀ · dY_g then col2im into dx. */
static int backward_sample(const conv_state *st, const float *x, const float *w, const float *dy,
                           float *dx, int dx_fresh, float *dw, float *col) {
    const int64_t cg = st->g.c, hw = st->g.h * st->g.w;
    if (dx && dx_fresh) memset(dx, 0, (size_t)(st->cin * hw) * sizeof(float)); /* this sample's, in cache */
    for (int64_t gi = 0; gi < st->groups; gi++) {
        const float *dyg = dy + gi * st->og * st->p;
        int rc = 0;
        if (dw) {
            nb_k_im2col(&st->g, 1, x + gi * cg * hw, 0, col, st->p);
            if (st->dw_t) /* dW_gᵀ += col · dY_gᵀ */
                rc = gemm(0, 1, st->k, st->og, st->p, col, st->p, dyg, st->p, 1.0f,
                          dw + gi * st->og * st->k, st->og);
            else
                rc = gemm(0, 1, st->og, st->k, st->p, dyg, st->p, col, st->p, 1.0f,
                          dw + gi * st->og * st->k, st->k);
        }
        if (!rc && dx) {
            rc = gemm(1, 0, st->k, st->p, st->og, w + gi * st->og * st->k, st->k, dyg, st->p, 0.0f,
                      col, st->p);
            if (!rc) nb_k_col2im_acc(&st->g, 1, col, st->p, dx + gi * cg * hw, 0);
        }
        if (rc) return rc;
    }
    return 0;
}

static void conv_backward(nb_tensor *out) {
    const conv_state *st = out->saved;
    nb_tensor *x = out->src[0], *w = out->src[1];
    nb_tensor *b = out->nsrc == 3 ? out->src[2] : NULL;
    const int64_t xs = st->cin * st->g.h * st->g.w, ys = st->o * st->p, cg = st->g.c;
    nb_ctx *ctx = out->ctx;
    const float *dy = out->grad;
    if (st->direct) {
        if (b && b->grad) nb_k_channel_sum_acc(st->n, st->o, st->p, dy, b->grad);
        for (int64_t s = 0; s < st->n; s++) {
            for (int64_t gi = 0; gi < st->groups; gi++) {
                const float *dyg = dy + s * ys + gi * st->og * st->p;
                const size_t xo = (size_t)(s * xs + gi * cg * st->p);
                int rc = 0;
                if (w->grad)
                    rc = gemm(0, 1, st->og, cg, st->p, dyg, st->p, x->data + xo, st->p, 1.0f,
                              w->grad + gi * st->og * st->k, st->k);
                if (!rc && x->grad)
                    rc = gemm(1, 0, cg, st->p, st->og, w->data + gi * st->og * st->k, st->k, dyg,
                              st->p, nb__grad_overwrite(out, 0) ? 0.0f : 1.0f, x->grad + xo, st->p);
                if (rc) {
                    gemm_failed(ctx, rc);
                    return;
                }
            }
        }
        return;
    }
    const int want_db = b && b->grad, want_dw = w->grad != NULL, dx_fresh = nb__grad_overwrite(out, 0);
    if (!want_db && !want_dw && !x->grad) return;
    atomic_int failed = 0;
    const int nt = group_threads(st);
    const int64_t os = st->n ? out->size / st->n : 0; /* output per sample: ys, or pooled */
    NB__EW_PARALLEL_FOR(j, st->nsg, {
        float *col = st->col + j * st->k * st->p;
        float *dw = want_dw ? st->dw + j * st->o * st->k : NULL;
        float *db = st->db + j * st->o;
        float *yb = st->ybuf ? st->ybuf + j * ys : NULL;
        if (dw) memset(dw, 0, (size_t)(st->o * st->k) * sizeof(float));
        if (want_db) memset(db, 0, (size_t)st->o * sizeof(float));
        const int64_t s1 = (j + 1) * st->per < st->n ? (j + 1) * st->per : st->n;
        for (int64_t s = j * st->per; s < s1; s++) {
            const float *dys = yb;
            if (yb) /* the convolution output's gradient, as max_pool2d's backward stores it */
                nb_k_max_pool_backward(&st->pg, st->o, dy + s * os, st->arg + s * os, yb, 1);
            else
                dys = dy + s * ys;
            if (want_db) nb_k_channel_sum_acc(1, st->o, st->p, dys, db);
            const int rc = backward_sample(st, x->data + s * xs, w->data, dys,
                                           x->grad ? x->grad + s * xs : NULL, dx_fresh, dw, col);
            if (rc) atomic_store(&failed, rc);
        }
    });
    if (failed) {
        gemm_failed(ctx, failed);
        return;
    }
    /* partials in group order: the same sums whatever thread ran which group
     * (dWᵀ partials are summed into the first, then transposed once) */
    for (int64_t j = 0; j < st->nsg; j++) {
        if (want_dw) {
            const float *dw = st->dw + j * st->o * st->k;
            if (!st->dw_t)
                for (int64_t i = 0; i < st->o * st->k; i++) w->grad[i] += dw[i];
            else if (j > 0)
                for (int64_t i = 0; i < st->o * st->k; i++) st->dw[i] += dw[i];
        }
        if (want_db)
            for (int64_t i = 0; i < st->o; i++) b->grad[i] += st->db[j * st->o + i];
    }
    if (want_dw && st->dw_t)
        for (int64_t gi = 0; gi < st->groups; gi++) {
            const float *pt = st->dw + gi * st->og * st->k;
            float *wg = w->grad + gi * st->og * st->k;
            for (int64_t c = 0; c < st->k; c++)
                for (int64_t o = 0; o < st->og; o++) wg[o * st->k + c] += pt[c * st->og + o];
        }
}

static const nb_op_def op_conv2d = {"conv2d", conv_forward, conv_backward, 1u};
static const nb_op_def op_conv2d_pool = {"conv2d+maxpool2", conv_forward, conv_backward, 1u};

/* Option value v, where 0 means `dflt`; -1 with an error for negatives. */
static int opt_or(nb_ctx *ctx, int v, int dflt, const char *what) {
    if (v < 0) return nb__error(ctx, NB_ERR_ARG, "conv2d: %s must be positive, got %d", what, v), -1;
    return v == 0 ? dflt : v;
}

nb_tensor *nb_conv2d(nb_ctx *ctx, nb_tensor *x, nb_tensor *w, nb_tensor *b,
                     const nb_conv2d_opts *opts) {
    nb_tensor *src[3] = {x, w, b};
    const int nsrc = b ? 3 : 2;
    if (!nb__inputs_ok(ctx, "conv2d", nsrc, src)) return NULL;
    const nb_conv2d_opts o = opts ? *opts : (nb_conv2d_opts){0};
    const int sh = opt_or(ctx, o.stride_h, 1, "stride_h"), sw = opt_or(ctx, o.stride_w, 1, "stride_w");
    const int dh = opt_or(ctx, o.dil_h, 1, "dil_h"), dw = opt_or(ctx, o.dil_w, 1, "dil_w");
    const int groups = opt_or(ctx, o.groups, 1, "groups");
    if (sh < 0 || sw < 0 || dh < 0 || dw < 0 || groups < 0) return NULL;
    if (o.max_pool != 0 && o.max_pool != 2)
        return nb__error(ctx, NB_ERR_ARG, "conv2d: max_pool must be 0 (none) or 2 (2x2 stride 2), got %d",
                         o.max_pool),
               NULL;
    if (o.pad_h < 0 || o.pad_w < 0)
        return nb__error(ctx, NB_ERR_ARG, "conv2d: padding must be >= 0, got pad_h=%d pad_w=%d",
                         o.pad_h, o.pad_w),
               NULL;
    char sx[NB_SHAPE_BUF], swt[NB_SHAPE_BUF], sb[NB_SHAPE_BUF];
    if (x->ndim != 4)
        return nb__error(ctx, NB_ERR_SHAPE, "conv2d: x must be 4-D [N,C,H,W], got %s",
                         nb__shape_str(x, sx)),
               NULL;
    if (w->ndim != 4)
        return nb__error(ctx, NB_ERR_SHAPE, "conv2d: weight must be 4-D [O,C/groups,KH,KW], got %s",
                         nb__shape_str(w, swt)),
               NULL;
    const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], wd = x->shape[3];
    const int64_t oc = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    if (c % groups != 0 || oc % groups != 0)
        return nb__error(ctx, NB_ERR_SHAPE,
                         "conv2d: groups=%d must divide input channels and output channels: x %s, "
                         "weight %s",
                         groups, nb__shape_str(x, sx), nb__shape_str(w, swt)),
               NULL;
    if (w->shape[1] != c / groups)
        return nb__error(ctx, NB_ERR_SHAPE,
                         "conv2d: weight %s needs C/groups = %lld input channels for x %s with "
                         "groups=%d",
                         nb__shape_str(w, swt), (long long)(c / groups), nb__shape_str(x, sx), groups),
               NULL;
    if (kh < 1 || kw < 1 || oc < 1)
        return nb__error(ctx, NB_ERR_SHAPE, "conv2d: weight %s has an empty dimension",
                         nb__shape_str(w, swt)),
               NULL;
    if (b && (b->ndim != 1 || b->shape[0] != oc))
        return nb__error(ctx, NB_ERR_SHAPE, "conv2d: bias must be [%lld] to match weight %s, got %s",
                         (long long)oc, nb__shape_str(w, swt), nb__shape_str(b, sb)),
               NULL;
    const int64_t ekh = (int64_t)dh * (kh - 1) + 1, ekw = (int64_t)dw * (kw - 1) + 1;
    if (h + 2 * (int64_t)o.pad_h < ekh || wd + 2 * (int64_t)o.pad_w < ekw)
        return nb__error(ctx, NB_ERR_SHAPE,
                         "conv2d: kernel %lldx%lld (dilated %lldx%lld) is larger than the padded "
                         "input %lldx%lld: x %s, weight %s, padding %d,%d",
                         (long long)kh, (long long)kw, (long long)ekh, (long long)ekw,
                         (long long)(h + 2 * o.pad_h), (long long)(wd + 2 * o.pad_w),
                         nb__shape_str(x, sx), nb__shape_str(w, swt), o.pad_h, o.pad_w),
               NULL;
    const int64_t oh = (h + 2 * o.pad_h - ekh) / sh + 1, ow = (wd + 2 * o.pad_w - ekw) / sw + 1;
    const int64_t cg = c / groups, og = oc / groups, k = cg * kh * kw, p = oh * ow;
    if (k > INT_MAX || p > INT_MAX || og > INT_MAX || h * wd > INT_MAX)
        return nb__error(ctx, NB_ERR_SHAPE, "conv2d: x %s with weight %s is too large for nb_sgemm",
                         nb__shape_str(x, sx), nb__shape_str(w, swt)),
               NULL;

    const int pool = o.max_pool == 2;
    if (pool && (oh < 2 || ow < 2))
        return nb__error(ctx, NB_ERR_SHAPE,
                         "conv2d: the fused 2x2 max-pool needs an output of at least 2x2, got %lldx%lld "
                         "(x %s, weight %s)",
                         (long long)oh, (long long)ow, nb__shape_str(x, sx), nb__shape_str(w, swt)),
               NULL;
    int64_t shape[4] = {n, oc, pool ? oh / 2 : oh, pool ? ow / 2 : ow};
    nb_tensor *out = nb__op_new(ctx, pool ? &op_conv2d_pool : &op_conv2d, nsrc, src, 4, shape);
    if (!out) return NULL;
    conv_state *st = nb__alloc(ctx, sizeof *st);
    if (!st) return NULL;
    st->g = (nb_k_conv_geom){.c = cg, .h = h, .w = wd, .kh = kh, .kw = kw, .sh = sh, .sw = sw,
                             .ph = o.pad_h, .pw = o.pad_w, .dh = dh, .dw = dw, .oh = oh, .ow = ow};
    st->n = n;
    st->cin = c;
    st->o = oc;
    st->groups = groups;
    st->og = og;
    st->k = k;
    st->p = p;
    /* the fused pool works sample by sample: the direct path's batch-wide loops would not */
    st->direct = !pool && kh == 1 && kw == 1 && sh == 1 && sw == 1 && o.pad_h == 0 && o.pad_w == 0;
    st->pg = (nb_k_pool_geom){.h = oh, .w = ow, .kh = 2, .kw = 2, .sh = 2, .sw = 2, .oh = oh / 2,
                              .ow = ow / 2};
    if (!st->direct && n > 0 && p > 0) {
        /* sample groups: as many as allowed, fewer when the partials of a
         * large layer would outgrow their budget; never more than samples */
        int64_t nsg = PARTIALS_BUDGET / (oc * k + oc);
        if (nsg > MAX_SAMPLE_GROUPS) nsg = MAX_SAMPLE_GROUPS;
        if (nsg < 1) nsg = 1;
        if (nsg > n) nsg = n;
        st->per = (n + nsg - 1) / nsg;
        /* dWᵀ = col·dYᵀ reads the columns in place and packs only dY (og
         * rows), where dW = dY·colᵀ packs all k rows of the columns
         * transposed: dWᵀ wins when og < k (32→64 3x3, k = 288: 2% of the
         * backward). And a patch shorter than a register tile (the 3x3 first
         * layer's k = 9) wastes most of each tile as dW's width: dWᵀ puts the
         * output channels there instead (1.6x on 32x9x784). */
        st->dw_t = og < k || k < 16;
        st->nsg = (n + st->per - 1) / st->per;
        st->col = nb__alloc(ctx, (size_t)(st->nsg * k * p) * sizeof(float));
        st->dw = nb__alloc(ctx, (size_t)(st->nsg * oc * k) * sizeof(float));
        st->db = nb__alloc(ctx, (size_t)(st->nsg * oc) * sizeof(float));
        if (!st->col || !st->dw || !st->db) return NULL;
        if (pool) {
            st->ybuf = nb__alloc(ctx, (size_t)(st->nsg * oc * p) * sizeof(float));
            st->arg = nb__alloc(ctx, (size_t)out->size * sizeof(int32_t));
            if (!st->ybuf || !st->arg) return NULL;
        }
    }
    out->saved = st;
    out->iarg[0] = sh;
    out->iarg[1] = sw;
    out->iarg[2] = o.pad_h;
    out->iarg[3] = o.pad_w;
    out->iarg[4] = groups;
    out->iarg[5] = o.max_pool;
    return nb__op_run(out);
}
