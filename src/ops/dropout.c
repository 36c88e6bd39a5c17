/* ops/dropout.c — inverted dropout: a fresh mask from the context's RNG on
 * every forward in training mode, the identity in evaluation mode; backward
 * reuses the mask of the latest forward. */
#include <math.h>
#include <string.h>

#include "core/engine.h"
#include "kernels/mask.h"

/* iarg[1] records whether the latest forward applied a mask, so backward
 * follows what forward did even if the mode changed in between. */
static int dropout_forward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    float p = out->farg[0];
    float *mask = out->saved;
    if (!out->ctx->training || p == 0.0f) {
        memcpy(out->data, x->data, (size_t)x->size * sizeof(float));
        out->iarg[1] = 0;
        return NB_OK;
    }
    nb_rng *rng = &out->ctx->rng;
    float keep = 1.0f - p;
    float scale = keep > 0.0f ? 1.0f / keep : 0.0f;
    for (int64_t i = 0; i < x->size; i++) mask[i] = nb_rng_uniform(rng) < keep ? scale : 0.0f;
    nb_k_mask_apply(x->size, x->data, mask, out->data);
    out->iarg[1] = 1;
    return NB_OK;
}

static void dropout_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    if (out->iarg[1]) {
        nb_k_mask_apply_acc(x->size, out->grad, out->saved, x->grad);
    } else {
        for (int64_t i = 0; i < x->size; i++) x->grad[i] += out->grad[i];
    }
}

static const nb_op_def op_dropout = {"dropout", dropout_forward, dropout_backward, 0};

nb_tensor *nb_dropout(nb_ctx *ctx, nb_tensor *x, float p) {
    if (!nb__inputs_ok(ctx, "dropout", 1, &x)) return NULL;
    if (!(p >= 0.0f && p <= 1.0f))
        return nb__error(ctx, NB_ERR_ARG, "dropout: probability p = %g is outside [0, 1]", (double)p), NULL;
    nb_tensor *out = nb__op_new(ctx, &op_dropout, 1, &x, x->ndim, x->shape);
    if (!out) return NULL;
    out->farg[0] = p;
    /* the mask is needed by forward itself, so it exists even without grad */
    out->saved = nb__alloc(ctx, (size_t)(x->size ? x->size : 1) * sizeof(float));
    if (!out->saved) return NULL;
    return nb__op_run(out);
}
