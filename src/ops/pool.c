/* ops/pool.c — max, average and global-average pooling over NCHW tensors, and
 * flatten: shape rules, forward and backward side by side; the loops are in
 * kernels/pool.c. Max pooling keeps the argmax of its latest forward. */
#include <string.h>

#include "core/engine.h"
#include "kernels/pool.h"
#include "nabla/conv.h"

static nb_k_pool_geom pool_geom(const nb_tensor *out) {
    const nb_tensor *x = out->src[0];
    return (nb_k_pool_geom){.h = x->shape[2], .w = x->shape[3], .kh = out->iarg[0],
                            .kw = out->iarg[1], .sh = out->iarg[2], .sw = out->iarg[3],
                            .ph = out->iarg[4], .pw = out->iarg[5], .oh = out->shape[2],
                            .ow = out->shape[3]};
}

static int64_t planes(const nb_tensor *x) { return x->shape[0] * x->shape[1]; }

static int max_pool_forward(nb_tensor *out) {
    nb_k_pool_geom g = pool_geom(out);
    nb_k_max_pool(&g, planes(out->src[0]), out->src[0]->data, out->data, out->saved);
    return NB_OK;
}

static void max_pool_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    if (!out->saved) { /* no argmax kept: nothing to route, but an unwritten gradient is 0 */
        if (nb__grad_overwrite(out, 0)) memset(x->grad, 0, (size_t)x->size * sizeof(float));
        return;
    }
    nb_k_pool_geom g = pool_geom(out);
    nb_k_max_pool_backward(&g, planes(x), out->grad, out->saved, x->grad, nb__grad_overwrite(out, 0));
}

static int avg_pool_forward(nb_tensor *out) {
    nb_k_pool_geom g = pool_geom(out);
    nb_k_avg_pool(&g, planes(out->src[0]), out->src[0]->data, out->data);
    return NB_OK;
}

static void avg_pool_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    nb_k_pool_geom g = pool_geom(out);
    nb_k_avg_pool_backward(&g, planes(x), out->grad, x->grad);
}

static const nb_op_def op_max_pool2d = {"max_pool2d", max_pool_forward, max_pool_backward, 1u};
static const nb_op_def op_avg_pool2d = {"avg_pool2d", avg_pool_forward, avg_pool_backward, 0};

/* Shared constructor: validate, size the output, record the geometry. */
static nb_tensor *pool_new(nb_ctx *ctx, const nb_op_def *op, nb_tensor *x, int kh, int kw, int sh,
                           int sw, int ph, int pw) {
    const char *name = op->name;
    if (!nb__inputs_ok(ctx, name, 1, &x)) return NULL;
    char sx[NB_SHAPE_BUF];
    if (x->ndim != 4)
        return nb__error(ctx, NB_ERR_SHAPE, "%s: x must be 4-D [N,C,H,W], got %s", name,
                         nb__shape_str(x, sx)),
               NULL;
    if (kh < 1 || kw < 1)
        return nb__error(ctx, NB_ERR_ARG, "%s: kernel must be positive, got %dx%d", name, kh, kw),
               NULL;
    if (sh < 0 || sw < 0)
        return nb__error(ctx, NB_ERR_ARG, "%s: stride must be positive (0 = kernel size), got %d,%d",
                         name, sh, sw),
               NULL;
    if (sh == 0) sh = kh;
    if (sw == 0) sw = kw;
    if (ph < 0 || pw < 0 || 2 * ph > kh || 2 * pw > kw)
        return nb__error(ctx, NB_ERR_ARG,
                         "%s: padding %d,%d must be >= 0 and at most half the kernel %dx%d", name,
                         ph, pw, kh, kw),
               NULL;
    const int64_t h = x->shape[2], w = x->shape[3];
    if (h + 2 * (int64_t)ph < kh || w + 2 * (int64_t)pw < kw)
        return nb__error(ctx, NB_ERR_SHAPE,
                         "%s: kernel %dx%d is larger than the padded input %lldx%lld of x %s", name,
                         kh, kw, (long long)(h + 2 * ph), (long long)(w + 2 * pw),
                         nb__shape_str(x, sx)),
               NULL;
    if (h * w > INT32_MAX)
        return nb__error(ctx, NB_ERR_SHAPE, "%s: planes of x %s are too large (over 2^31 values)",
                         name, nb__shape_str(x, sx)),
               NULL;
    const int64_t shape[4] = {x->shape[0], x->shape[1], (h + 2 * ph - kh) / sh + 1,
                              (w + 2 * pw - kw) / sw + 1};
    nb_tensor *out = nb__op_new(ctx, op, 1, &x, 4, shape);
    if (!out) return NULL;
    out->iarg[0] = kh;
    out->iarg[1] = kw;
    out->iarg[2] = sh;
    out->iarg[3] = sw;
    out->iarg[4] = ph;
    out->iarg[5] = pw;
    return out;
}

nb_tensor *nb_max_pool2d(nb_ctx *ctx, nb_tensor *x, int kh, int kw, int sh, int sw, int ph,
                         int pw) {
    nb_tensor *out = pool_new(ctx, &op_max_pool2d, x, kh, kw, sh, sw, ph, pw);
    if (!out) return NULL;
    /* argmax only when a gradient will be asked for */
    if (nb__needs_grad(out) && out->size > 0) {
        out->saved = nb__alloc(ctx, (size_t)out->size * sizeof(int32_t));
        if (!out->saved) return NULL;
    }
    return nb__op_run(out);
}

nb_tensor *nb_avg_pool2d(nb_ctx *ctx, nb_tensor *x, int kh, int kw, int sh, int sw, int ph,
                         int pw) {
    nb_tensor *out = pool_new(ctx, &op_avg_pool2d, x, kh, kw, sh, sw, ph, pw);
    return out ? nb__op_run(out) : NULL;
}

/* ---- global average pooling ------------------------------------------------ */

static int gap_forward(nb_tensor *out) {
    const nb_tensor *x = out->src[0];
    nb_k_plane_mean(planes(x), x->shape[2] * x->shape[3], x->data, out->data);
    return NB_OK;
}

static void gap_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (x->grad) nb_k_plane_mean_backward(planes(x), x->shape[2] * x->shape[3], out->grad, x->grad);
}

static const nb_op_def op_global_avg_pool2d = {"global_avg_pool2d", gap_forward, gap_backward, 0};

nb_tensor *nb_global_avg_pool2d(nb_ctx *ctx, nb_tensor *x) {
    if (!nb__inputs_ok(ctx, "global_avg_pool2d", 1, &x)) return NULL;
    char sx[NB_SHAPE_BUF];
    if (x->ndim != 4 || x->shape[2] * x->shape[3] == 0)
        return nb__error(ctx, NB_ERR_SHAPE,
                         "global_avg_pool2d: x must be 4-D [N,C,H,W] with H,W > 0, got %s",
                         nb__shape_str(x, sx)),
               NULL;
    const int64_t shape[4] = {x->shape[0], x->shape[1], 1, 1};
    nb_tensor *out = nb__op_new(ctx, &op_global_avg_pool2d, 1, &x, 4, shape);
    return out ? nb__op_run(out) : NULL;
}

/* ---- flatten ------------------------------------------------------------------ */

nb_tensor *nb_flatten(nb_ctx *ctx, nb_tensor *x) {
    if (!nb__inputs_ok(ctx, "flatten", 1, &x)) return NULL;
    char sx[NB_SHAPE_BUF];
    if (x->ndim < 1)
        return nb__error(ctx, NB_ERR_SHAPE, "flatten: x must have a batch axis, got %s",
                         nb__shape_str(x, sx)),
               NULL;
    int64_t rest = 1;
    for (int i = 1; i < x->ndim; i++) rest *= x->shape[i];
    const int64_t shape[2] = {x->shape[0], rest};
    return nb_reshape(ctx, x, 2, shape);
}
