/* ops/conv.c — 2-D convolution (stride, padding, dilation, groups, optional
 * bias): shape rules, forward and backward side by side. The work is im2col +
 * nb_sgemm per chunk of samples and per group, with the column buffer sized
 * once at construction; a 1×1, stride-1, unpadded convolution multiplies the
 * input planes directly and needs no buffer at all. */
#include <limits.h>

#include "core/engine.h"
#include "kernels/conv.h"
#include "nabla/conv.h"

/* The column buffer holds at most this many floats (4 MiB) unless one
 * sample needs more: big enough that each product is a large GEMM (the
 * Fashion-MNIST CNN's conv2 runs 18 samples, 3528 columns, per product),
 * small enough to stay in cache and that peak memory does not grow with
 * the batch size. Measured: 1, 4, 16 or 64 samples per chunk run within
 * noise of each other on that network. */
#define COL_BUDGET ((int64_t)1 << 20)

typedef struct conv_state {
    nb_k_conv_geom g; /* one group's geometry */
    int64_t n, cin, o, groups, og, k, p; /* k = (C/groups)·KH·KW, p = OH·OW */
    int64_t chunk;                       /* samples per im2col chunk */
    int direct;                          /* 1×1 stride 1 no padding: x is its own col */
    float *col;                          /* k × chunk·p */
    float *stage;                        /* og × chunk·p, only when chunk > 1 */
} conv_state;

static int gemm(nb_ctx *ctx, int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a,
                int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    int rc = nb_sgemm(ta, tb, (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c,
                      (int)ldc);
    if (rc != 0)
        return nb__error(ctx, rc, "conv2d: nb_sgemm failed (%s) for m=%lld n=%lld k=%lld",
                         nb_status_string(rc), (long long)m, (long long)n, (long long)k);
    return NB_OK;
}

static int conv_forward(nb_tensor *out) {
    const conv_state *st = out->saved;
    const nb_tensor *x = out->src[0], *w = out->src[1];
    const float *bias = out->nsrc == 3 ? out->src[2]->data : NULL;
    const int64_t xs = st->cin * st->g.h * st->g.w, ys = st->o * st->p, cg = st->g.c;
    nb_ctx *ctx = out->ctx;
    if (st->direct) {
        for (int64_t s = 0; s < st->n; s++)
            for (int64_t gi = 0; gi < st->groups; gi++)
                if (gemm(ctx, 0, 0, st->og, st->p, cg, w->data + gi * st->og * st->k, st->k,
                         x->data + s * xs + gi * cg * st->p, st->p, 0.0f,
                         out->data + s * ys + gi * st->og * st->p, st->p) != NB_OK)
                    return nb_error(ctx);
        if (bias) nb_k_add_channel_bias(st->n, st->o, st->p, bias, out->data);
        return NB_OK;
    }
    for (int64_t s0 = 0; s0 < st->n; s0 += st->chunk) {
        const int64_t ns = st->n - s0 < st->chunk ? st->n - s0 : st->chunk, cols = ns * st->p;
        for (int64_t gi = 0; gi < st->groups; gi++) {
            const float *wg = w->data + gi * st->og * st->k;
            float *yg = out->data + s0 * ys + gi * st->og * st->p;
            nb_k_im2col(&st->g, ns, x->data + s0 * xs + gi * cg * st->g.h * st->g.w, xs, st->col,
                        cols);
            if (ns == 1) {
                if (gemm(ctx, 0, 0, st->og, st->p, st->k, wg, st->k, st->col, st->p, 0.0f, yg,
                         st->p) != NB_OK)
                    return nb_error(ctx);
                if (bias) nb_k_add_channel_bias(1, st->og, st->p, bias + gi * st->og, yg);
            } else {
                if (gemm(ctx, 0, 0, st->og, cols, st->k, wg, st->k, st->col, cols, 0.0f,
                         st->stage, cols) != NB_OK)
                    return nb_error(ctx);
                nb_k_conv_scatter(ns, st->og, st->p, st->stage, bias ? bias + gi * st->og : NULL,
                                  yg, ys);
            }
        }
    }
    return NB_OK;
}

/* dW_g += dY_g · colᵀ, dcol = W_gᵀ · dY_g then col2im into dx, db += Σ dY. */
static void conv_backward(nb_tensor *out) {
    const conv_state *st = out->saved;
    nb_tensor *x = out->src[0], *w = out->src[1];
    nb_tensor *b = out->nsrc == 3 ? out->src[2] : NULL;
    const int64_t xs = st->cin * st->g.h * st->g.w, ys = st->o * st->p, cg = st->g.c;
    const int64_t hw = st->g.h * st->g.w;
    nb_ctx *ctx = out->ctx;
    const float *dy = out->grad;
    if (b && b->grad) nb_k_channel_sum_acc(st->n, st->o, st->p, dy, b->grad);
    if (!x->grad && !w->grad) return;
    if (st->direct) {
        for (int64_t s = 0; s < st->n; s++) {
            for (int64_t gi = 0; gi < st->groups; gi++) {
                const float *dyg = dy + s * ys + gi * st->og * st->p;
                const size_t xo = (size_t)(s * xs + gi * cg * st->p);
                if (w->grad &&
                    gemm(ctx, 0, 1, st->og, cg, st->p, dyg, st->p, x->data + xo, st->p, 1.0f,
                         w->grad + gi * st->og * st->k, st->k) != NB_OK)
                    return;
                if (x->grad &&
                    gemm(ctx, 1, 0, cg, st->p, st->og, w->data + gi * st->og * st->k, st->k, dyg,
                         st->p, 1.0f, x->grad + xo, st->p) != NB_OK)
                    return;
            }
        }
        return;
    }
    /* With one chunk and one group the buffer still holds forward's columns. */
    const int cached = st->chunk >= st->n && st->groups == 1;
    for (int64_t s0 = 0; s0 < st->n; s0 += st->chunk) {
        const int64_t ns = st->n - s0 < st->chunk ? st->n - s0 : st->chunk, cols = ns * st->p;
        for (int64_t gi = 0; gi < st->groups; gi++) {
            const float *wg = w->data + gi * st->og * st->k;
            const float *dyg;
            if (ns == 1) {
                dyg = dy + s0 * ys + gi * st->og * st->p;
            } else {
                nb_k_conv_gather(ns, st->og, st->p, dy + s0 * ys + gi * st->og * st->p, ys,
                                 st->stage);
                dyg = st->stage;
            }
            if (w->grad) {
                if (!cached)
                    nb_k_im2col(&st->g, ns, x->data + s0 * xs + gi * cg * hw, xs, st->col, cols);
                if (gemm(ctx, 0, 1, st->og, st->k, cols, dyg, cols, st->col, cols, 1.0f,
                         w->grad + gi * st->og * st->k, st->k) != NB_OK)
                    return;
            }
            if (x->grad) {
                if (gemm(ctx, 1, 0, st->k, cols, st->og, wg, st->k, dyg, cols, 0.0f, st->col,
                         cols) != NB_OK)
                    return;
                nb_k_col2im_acc(&st->g, ns, st->col, cols, x->grad + s0 * xs + gi * cg * hw, xs);
            }
        }
    }
}

static const nb_op_def op_conv2d = {"conv2d", conv_forward, conv_backward};

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

    int64_t shape[4] = {n, oc, oh, ow};
    nb_tensor *out = nb__op_new(ctx, &op_conv2d, nsrc, src, 4, shape);
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
    st->direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && o.pad_h == 0 && o.pad_w == 0;
    if (!st->direct && n > 0 && p > 0) {
        /* Samples per chunk: as many as fit the budget, at least one, and
         * the GEMM's column count must fit an int. */
        int64_t chunk = COL_BUDGET / (k * p);
        if (chunk < 1) chunk = 1;
        if (chunk > INT_MAX / p) chunk = INT_MAX / p;
        if (chunk > n) chunk = n;
        st->chunk = chunk;
        st->col = nb__alloc(ctx, (size_t)(k * chunk * p) * sizeof(float));
        if (!st->col) return NULL;
        if (chunk > 1) {
            st->stage = nb__alloc(ctx, (size_t)(og * chunk * p) * sizeof(float));
            if (!st->stage) return NULL;
        }
    } else {
        st->chunk = n > 0 ? n : 1;
    }
    out->saved = st;
    out->iarg[0] = sh;
    out->iarg[1] = sw;
    out->iarg[2] = o.pad_h;
    out->iarg[3] = o.pad_w;
    out->iarg[4] = groups;
    return nb__op_run(out);
}
