/* ops/norm.c — batch normalisation over the channel axis with running
 * statistics, training and evaluation behaviour as in PyTorch: shape rules,
 * forward (which also moves the running statistics) and backward. */
#include <math.h>

#include "core/engine.h"
#include "kernels/norm.h"
#include "nabla/conv.h"

typedef struct bn_state {
    nb_tensor *running_mean, *running_var; /* NULL: batch statistics always */
    float *mean, *invstd, *var;            /* [C] each, of the latest forward */
    int gamma_src, beta_src;               /* index in out->src, or -1 */
} bn_state;

/* x viewed as [n][c][inner] */
static void bn_dims(const nb_tensor *x, int64_t *n, int64_t *c, int64_t *inner) {
    *n = x->shape[0];
    *c = x->shape[1];
    *inner = 1;
    for (int i = 2; i < x->ndim; i++) *inner *= x->shape[i];
}

/* iarg[0] records whether the latest forward used the batch's statistics,
 * so backward follows what forward did even if the mode changed since. */
static int bn_forward(nb_tensor *out) {
    const bn_state *st = out->saved;
    const nb_tensor *x = out->src[0];
    const float eps = out->farg[0], momentum = out->farg[1];
    int64_t n, c, inner;
    bn_dims(x, &n, &c, &inner);
    const int64_t m = n * inner;
    const int batch = out->ctx->training || !st->running_mean;
    if (batch) {
        if (m < 2) {
            char sx[NB_SHAPE_BUF];
            return nb__error(out->ctx, NB_ERR_SHAPE,
                             "batch_norm: training needs more than one value per channel, x is %s",
                             nb__shape_str(x, sx));
        }
        nb_k_bn_stats(n, c, inner, x->data, st->mean, st->var);
        for (int64_t ch = 0; ch < c; ch++)
            st->invstd[ch] = (float)(1.0 / sqrt((double)st->var[ch] + (double)eps));
        if (st->running_mean && out->ctx->training) {
            float *rm = st->running_mean->data, *rv = st->running_var->data;
            const float unbias = (float)((double)m / (double)(m - 1));
            for (int64_t ch = 0; ch < c; ch++) {
                rm[ch] = (1.0f - momentum) * rm[ch] + momentum * st->mean[ch];
                rv[ch] = (1.0f - momentum) * rv[ch] + momentum * st->var[ch] * unbias;
            }
        }
    } else {
        const float *rm = st->running_mean->data, *rv = st->running_var->data;
        for (int64_t ch = 0; ch < c; ch++) {
            st->mean[ch] = rm[ch];
            st->invstd[ch] = (float)(1.0 / sqrt((double)rv[ch] + (double)eps));
        }
    }
    out->iarg[0] = batch;
    const float *gamma = st->gamma_src >= 0 ? out->src[st->gamma_src]->data : NULL;
    const float *beta = st->beta_src >= 0 ? out->src[st->beta_src]->data : NULL;
    nb_k_bn_apply(n, c, inner, x->data, st->mean, st->invstd, gamma, beta, out->data);
    return NB_OK;
}

static void bn_backward(nb_tensor *out) {
    const bn_state *st = out->saved;
    nb_tensor *x = out->src[0];
    nb_tensor *gamma = st->gamma_src >= 0 ? out->src[st->gamma_src] : NULL;
    nb_tensor *beta = st->beta_src >= 0 ? out->src[st->beta_src] : NULL;
    int64_t n, c, inner;
    bn_dims(x, &n, &c, &inner);
    nb_k_bn_backward(n, c, inner, x->data, out->grad, st->mean, st->invstd,
                     gamma ? gamma->data : NULL, (int)out->iarg[0], x->grad,
                     gamma ? gamma->grad : NULL, beta ? beta->grad : NULL);
}

static const nb_op_def op_batch_norm = {"batch_norm", bn_forward, bn_backward};

/* A per-channel vector argument: [C] or an error naming it. */
static bool channel_vec(nb_ctx *ctx, const nb_tensor *t, const char *what, const nb_tensor *x) {
    char st[NB_SHAPE_BUF], sx[NB_SHAPE_BUF];
    if (t->ctx != ctx)
        return nb__error(ctx, NB_ERR_ARG, "batch_norm: %s belongs to another context", what), false;
    if (t->ndim != 1 || t->shape[0] != x->shape[1])
        return nb__error(ctx, NB_ERR_SHAPE, "batch_norm: %s must be [%lld] for x %s, got %s", what,
                         (long long)x->shape[1], nb__shape_str(x, sx), nb__shape_str(t, st)),
               false;
    return true;
}

nb_tensor *nb_batch_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *gamma, nb_tensor *beta,
                         nb_tensor *running_mean, nb_tensor *running_var, float momentum,
                         float eps) {
    nb_tensor *src[3] = {x, NULL, NULL};
    int nsrc = 1, gi = -1, bi = -1;
    if (gamma) gi = nsrc, src[nsrc++] = gamma;
    if (beta) bi = nsrc, src[nsrc++] = beta;
    if (!nb__inputs_ok(ctx, "batch_norm", nsrc, src)) return NULL;
    char sx[NB_SHAPE_BUF];
    if (x->ndim < 2)
        return nb__error(ctx, NB_ERR_SHAPE,
                         "batch_norm: x must be [N,C], [N,C,L] or [N,C,H,W], got %s",
                         nb__shape_str(x, sx)),
               NULL;
    if ((running_mean == NULL) != (running_var == NULL))
        return nb__error(ctx, NB_ERR_NULL,
                         "batch_norm: running_mean and running_var must both be given or both NULL"),
               NULL;
    if (gamma && !channel_vec(ctx, gamma, "gamma", x)) return NULL;
    if (beta && !channel_vec(ctx, beta, "beta", x)) return NULL;
    if (running_mean && (!channel_vec(ctx, running_mean, "running_mean", x) ||
                         !channel_vec(ctx, running_var, "running_var", x)))
        return NULL;
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return nb__error(ctx, NB_ERR_ARG, "batch_norm: momentum %g is outside [0, 1]",
                         (double)momentum),
               NULL;
    if (!(eps > 0.0f) || isinf(eps))
        return nb__error(ctx, NB_ERR_ARG, "batch_norm: eps must be positive, got %g", (double)eps),
               NULL;
    nb_tensor *out = nb__op_new(ctx, &op_batch_norm, nsrc, src, x->ndim, x->shape);
    if (!out) return NULL;
    bn_state *st = nb__alloc(ctx, sizeof *st);
    const size_t cbytes = (size_t)(x->shape[1] > 0 ? x->shape[1] : 1) * sizeof(float);
    if (!st || !(st->mean = nb__alloc(ctx, cbytes)) || !(st->invstd = nb__alloc(ctx, cbytes)) ||
        !(st->var = nb__alloc(ctx, cbytes)))
        return NULL;
    st->running_mean = running_mean;
    st->running_var = running_var;
    st->gamma_src = gi;
    st->beta_src = bi;
    out->saved = st;
    out->farg[0] = eps;
    out->farg[1] = momentum;
    return nb__op_run(out);
}
