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
    int sync;                              /* nb_batch_norm_sync */
    double *sums;                          /* [1 + 3C] exchanged through ctx->allsum */
    int64_t global_m;                      /* values per channel over all processes */
} bn_state;

/* Synchronised statistics are used in training mode when the op asked for
 * them and the context can sum across processes; otherwise the op is the
 * plain one (one process: nothing is called and nothing changes). */
static int bn_synced(const nb_tensor *out, const bn_state *st) {
    return st->sync && out->ctx->training && out->ctx->allsum;
}

/* Mean and biased variance per channel from the global sums (see
 * nb_k_bn_sums); returns the global count, or -1 after recording an error. */
static int64_t bn_global_stats(nb_tensor *out, bn_state *st, int64_t n, int64_t c, int64_t inner) {
    nb_ctx *ctx = out->ctx;
    double *buf = st->sums;
    buf[0] = (double)(n * inner);
    nb_k_bn_sums(n, c, inner, out->src[0]->data, buf + 1);
    int rc = ctx->allsum(buf, (int)(1 + 3 * c), ctx->allsum_user);
    if (rc)
        return nb__error(ctx, NB_ERR_STATE, "batch_norm: the cross-process sum of the statistics failed "
                                            "(status %d)", rc), -1;
    const double N = buf[0];
    if (!(N >= 2.0)) {
        char sx[NB_SHAPE_BUF];
        return nb__error(ctx, NB_ERR_SHAPE,
                         "batch_norm: training needs more than one value per channel over all "
                         "processes, got %.0f (x is %s here)", N, nb__shape_str(out->src[0], sx)), -1;
    }
    for (int64_t ch = 0; ch < c; ch++) {
        const double *v = buf + 1 + 3 * ch;
        const double mu = v[0] / N;
        /* the spread of the processes' means: exactly 0 on one process */
        const double between = v[2] - N * mu * mu;
        double var = (v[1] + between) / N;
        if (var < 0.0) var = 0.0;
        st->mean[ch] = (float)mu;
        st->var[ch] = (float)var;
    }
    return (int64_t)llround(N);
}

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
    bn_state *st = out->saved;
    const nb_tensor *x = out->src[0];
    const float eps = out->farg[0], momentum = out->farg[1];
    int64_t n, c, inner;
    bn_dims(x, &n, &c, &inner);
    const int64_t m = n * inner;
    const int batch = out->ctx->training || !st->running_mean;
    const int synced = batch && bn_synced(out, st);
    int64_t mc = m; /* values per channel the statistics are over */
    if (synced) {
        if ((mc = bn_global_stats(out, st, n, c, inner)) < 0) return out->ctx->error;
        st->global_m = mc;
    } else if (batch) {
        if (m < 2) {
            char sx[NB_SHAPE_BUF];
            return nb__error(out->ctx, NB_ERR_SHAPE,
                             "batch_norm: training needs more than one value per channel, x is %s",
                             nb__shape_str(x, sx));
        }
        nb_k_bn_stats(n, c, inner, x->data, st->mean, st->var);
    }
    if (batch) {
        for (int64_t ch = 0; ch < c; ch++)
            st->invstd[ch] = (float)(1.0 / sqrt((double)st->var[ch] + (double)eps));
        if (st->running_mean && out->ctx->training) {
            float *rm = st->running_mean->data, *rv = st->running_var->data;
            const float unbias = (float)((double)mc / (double)(mc - 1));
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
    out->iarg[1] = synced;
    const float *gamma = st->gamma_src >= 0 ? out->src[st->gamma_src]->data : NULL;
    const float *beta = st->beta_src >= 0 ? out->src[st->beta_src]->data : NULL;
    nb_k_bn_apply(n, c, inner, x->data, st->mean, st->invstd, gamma, beta, out->data);
    return NB_OK;
}

/* Backward of a synchronised forward. Each process's loss is taken to be the
 * mean over its own rows, the processes' gradients then added with weights
 * w = m/N (nb_dist's convention): the global dL/dy is w·dy here, so the sums
 * exchanged are w·Σdy and w·Σdy·x̂, and this process's dx — divided by w like
 * every other gradient it computes — uses the denominator w·N = m. dgamma and
 * dbeta stay local sums: nb_dist weights and adds them. */
static void bn_backward_synced(nb_tensor *out, bn_state *st, nb_tensor *gamma, nb_tensor *beta,
                               int64_t n, int64_t c, int64_t inner) {
    nb_ctx *ctx = out->ctx;
    nb_tensor *x = out->src[0];
    const float *g = gamma ? gamma->data : NULL;
    double *buf = st->sums;
    nb_k_bn_backward_sums(n, c, inner, x->data, out->grad, st->mean, st->invstd, buf);
    for (int64_t ch = 0; ch < c; ch++) {
        if (gamma && gamma->grad) gamma->grad[ch] += (float)buf[2 * ch + 1];
        if (beta && beta->grad) beta->grad[ch] += (float)buf[2 * ch];
    }
    if (!x->grad) return; /* the same on every process: all build the same graph */
    const int64_t m = n * inner;
    const double w = m > 0 ? (double)m / (double)st->global_m : 0.0;
    for (int64_t i = 0; i < 2 * c; i++) buf[i] *= w;
    int rc = ctx->allsum(buf, (int)(2 * c), ctx->allsum_user);
    if (rc) {
        nb__error(ctx, NB_ERR_STATE, "batch_norm: the cross-process sum of the gradients failed (status %d)",
                  rc);
        return;
    }
    nb_k_bn_backward_dx(n, c, inner, x->data, out->grad, st->mean, st->invstd, g, buf, w * (double)st->global_m,
                        x->grad);
}

static void bn_backward(nb_tensor *out) {
    bn_state *st = out->saved;
    nb_tensor *x = out->src[0];
    nb_tensor *gamma = st->gamma_src >= 0 ? out->src[st->gamma_src] : NULL;
    nb_tensor *beta = st->beta_src >= 0 ? out->src[st->beta_src] : NULL;
    int64_t n, c, inner;
    bn_dims(x, &n, &c, &inner);
    if (out->iarg[1] && out->ctx->allsum) {
        bn_backward_synced(out, st, gamma, beta, n, c, inner);
        return;
    }
    nb_k_bn_backward(n, c, inner, x->data, out->grad, st->mean, st->invstd,
                     gamma ? gamma->data : NULL, (int)out->iarg[0], x->grad,
                     gamma ? gamma->grad : NULL, beta ? beta->grad : NULL);
}

static const nb_op_def op_batch_norm = {"batch_norm", bn_forward, bn_backward, 0};

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

static nb_tensor *batch_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *gamma, nb_tensor *beta,
                             nb_tensor *running_mean, nb_tensor *running_var, float momentum,
                             float eps, int sync) {
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
    if (sync && !(st->sums = nb__alloc(ctx, (size_t)(1 + 3 * (x->shape[1] > 0 ? x->shape[1] : 1)) *
                                                sizeof(double))))
        return NULL;
    st->sync = sync != 0;
    st->running_mean = running_mean;
    st->running_var = running_var;
    st->gamma_src = gi;
    st->beta_src = bi;
    out->saved = st;
    out->farg[0] = eps;
    out->farg[1] = momentum;
    return nb__op_run(out);
}

nb_tensor *nb_batch_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *gamma, nb_tensor *beta,
                         nb_tensor *running_mean, nb_tensor *running_var, float momentum,
                         float eps) {
    return batch_norm(ctx, x, gamma, beta, running_mean, running_var, momentum, eps, 0);
}

nb_tensor *nb_batch_norm_sync(nb_ctx *ctx, nb_tensor *x, nb_tensor *gamma, nb_tensor *beta,
                              nb_tensor *running_mean, nb_tensor *running_var, float momentum,
                              float eps, int sync) {
    return batch_norm(ctx, x, gamma, beta, running_mean, running_var, momentum, eps, sync);
}
