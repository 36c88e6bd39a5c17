/* ops/layernorm.c — layer normalisation and RMS normalisation over the last
 * axis: shape rules, fused forward (saving per-row statistics for backward)
 * and fused backward; the arithmetic is kernels/layernorm.c. */
#include <math.h>

#include "core/engine.h"
#include "kernels/layernorm.h"
#include "nabla/seq.h"

/* iarg[0], iarg[1]: index in out->src of gamma and beta, or -1.
 * saved: mean[rows] then rstd[rows] (layer norm), rstd[rows] (RMS norm). */

static int64_t ln_rows(const nb_tensor *x) { return x->size / x->shape[x->ndim - 1]; }

static const float *opt_data(const nb_tensor *out, int64_t i) {
    return i >= 0 ? out->src[i]->data : NULL;
}
static float *opt_grad(const nb_tensor *out, int64_t i) {
    return i >= 0 ? out->src[i]->grad : NULL;
}

static int layer_norm_forward(nb_tensor *out) {
    const nb_tensor *x = out->src[0];
    const int64_t rows = ln_rows(x), d = x->shape[x->ndim - 1];
    float *mean = out->saved, *rstd = mean + rows;
    nb_k_layer_norm_forward(rows, d, x->data, opt_data(out, out->iarg[0]),
                            opt_data(out, out->iarg[1]), out->farg[0], out->data, mean, rstd);
    return NB_OK;
}

static void layer_norm_backward(nb_tensor *out) {
    const nb_tensor *x = out->src[0];
    const int64_t rows = ln_rows(x), d = x->shape[x->ndim - 1];
    const float *mean = out->saved, *rstd = mean + rows;
    nb_k_layer_norm_backward(rows, d, x->data, out->grad, mean, rstd, opt_data(out, out->iarg[0]),
                             x->grad, nb__grad_overwrite(out, 0), opt_grad(out, out->iarg[0]),
                             opt_grad(out, out->iarg[1]));
}

static int rms_norm_forward(nb_tensor *out) {
    const nb_tensor *x = out->src[0];
    nb_k_rms_norm_forward(ln_rows(x), x->shape[x->ndim - 1], x->data, opt_data(out, out->iarg[0]),
                          out->farg[0], out->data, out->saved);
    return NB_OK;
}

static void rms_norm_backward(nb_tensor *out) {
    const nb_tensor *x = out->src[0];
    nb_k_rms_norm_backward(ln_rows(x), x->shape[x->ndim - 1], x->data, out->grad, out->saved,
                           opt_data(out, out->iarg[0]), x->grad, nb__grad_overwrite(out, 0),
                           opt_grad(out, out->iarg[0]));
}

static const nb_op_def op_layer_norm = {"layer_norm", layer_norm_forward, layer_norm_backward, 1u};
static const nb_op_def op_rms_norm = {"rms_norm", rms_norm_forward, rms_norm_backward, 1u};

/* gamma/beta must be [D] where D is x's last dimension. */
static int check_affine(nb_ctx *ctx, const char *opname, const char *what, const nb_tensor *p,
                        const nb_tensor *x) {
    if (!p) return NB_OK;
    if (p->ctx != ctx) return nb__error(ctx, NB_ERR_ARG, "%s: %s belongs to another context", opname, what);
    if (p->ndim != 1 || p->shape[0] != x->shape[x->ndim - 1]) {
        char sp[NB_SHAPE_BUF], sx[NB_SHAPE_BUF];
        return nb__error(ctx, NB_ERR_SHAPE, "%s: %s must be [%lld] (the last dimension of x %s), got %s",
                         opname, what, (long long)x->shape[x->ndim - 1], nb__shape_str(x, sx),
                         nb__shape_str(p, sp));
    }
    return NB_OK;
}

static nb_tensor *norm_new(nb_ctx *ctx, const nb_op_def *op, nb_tensor *x, nb_tensor *gamma,
                           nb_tensor *beta, float eps, int nstats) {
    if (!nb__inputs_ok(ctx, op->name, 1, &x)) return NULL;
    char sx[NB_SHAPE_BUF];
    if (x->ndim < 1 || x->shape[x->ndim - 1] == 0) {
        nb__error(ctx, NB_ERR_SHAPE, "%s: x must have a non-empty last axis, got %s", op->name,
                  nb__shape_str(x, sx));
        return NULL;
    }
    if (!(eps >= 0.0f) || !isfinite(eps)) {
        nb__error(ctx, NB_ERR_ARG, "%s: eps must be finite and >= 0, got %g", op->name, (double)eps);
        return NULL;
    }
    if (check_affine(ctx, op->name, "gamma", gamma, x) != NB_OK ||
        check_affine(ctx, op->name, "beta", beta, x) != NB_OK)
        return NULL;
    nb_tensor *src[3] = {x, NULL, NULL};
    int n = 1;
    int64_t gi = -1, bi = -1;
    if (gamma) { gi = n; src[n++] = gamma; }
    if (beta) { bi = n; src[n++] = beta; }
    nb_tensor *out = nb__op_new(ctx, op, n, src, x->ndim, x->shape);
    if (!out) return NULL;
    out->iarg[0] = gi;
    out->iarg[1] = bi;
    out->farg[0] = eps;
    out->saved = nb__alloc(ctx, (size_t)nstats * (size_t)ln_rows(x) * sizeof(float) + 1);
    if (!out->saved) return NULL;
    return nb__op_run(out);
}

nb_tensor *nb_layer_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *gamma, nb_tensor *beta, float eps) {
    return norm_new(ctx, &op_layer_norm, x, gamma, beta, eps, 2);
}

nb_tensor *nb_rms_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *gamma, float eps) {
    return norm_new(ctx, &op_rms_norm, x, gamma, NULL, eps, 1);
}
