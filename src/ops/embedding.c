/* ops/embedding.c — embedding lookup: rows of a [V, D] table picked by float
 * ids of any shape; the ids are validated on every forward and backward
 * scatter-adds the gradient rows in index order. */
#include <math.h>

#include "core/engine.h"
#include "kernels/gather.h"

/* Converts the float ids to row numbers in out->saved, rejecting any id that
 * is not an integer in [0, V) (checked again on each replay: ids are input). */
static int embedding_forward(nb_tensor *out) {
    nb_tensor *w = out->src[0], *ids = out->src[1];
    int64_t *rows = out->saved;
    int64_t V = w->shape[0], D = w->shape[1];
    for (int64_t i = 0; i < ids->size; i++) {
        float v = ids->data[i];
        if (!(v >= 0.0f && v < (float)V) || v != floorf(v)) {
            char sb[NB_SHAPE_BUF];
            return nb__error(out->ctx, NB_ERR_ARG,
                             "embedding: index %g at position %lld of indices %s is not an integer in [0, %lld)",
                             (double)v, (long long)i, nb__shape_str(ids, sb), (long long)V);
        }
        rows[i] = (int64_t)v;
    }
    nb_k_gather_rows(ids->size, rows, D, w->data, out->data);
    return NB_OK;
}

static void embedding_backward(nb_tensor *out) {
    nb_tensor *w = out->src[0], *ids = out->src[1];
    if (w->grad) nb_k_scatter_add_rows(ids->size, out->saved, w->shape[1], out->grad, w->grad);
}

static const nb_op_def op_embedding = {"embedding", embedding_forward, embedding_backward, 0};

nb_tensor *nb_embedding(nb_ctx *ctx, nb_tensor *weight, nb_tensor *indices) {
    nb_tensor *src[2] = {weight, indices};
    if (!nb__inputs_ok(ctx, "embedding", 2, src)) return NULL;
    char sw[NB_SHAPE_BUF], si[NB_SHAPE_BUF];
    if (weight->ndim != 2)
        return nb__error(ctx, NB_ERR_SHAPE, "embedding: weight must be [num, dim], not %s",
                         nb__shape_str(weight, sw)), NULL;
    if (indices->ndim + 1 > NB_MAX_DIMS)
        return nb__error(ctx, NB_ERR_SHAPE, "embedding: indices %s leave no room for the embedding axis (rank <= %d)",
                         nb__shape_str(indices, si), NB_MAX_DIMS - 1), NULL;
    int64_t shape[NB_MAX_DIMS];
    for (int i = 0; i < indices->ndim; i++) shape[i] = indices->shape[i];
    shape[indices->ndim] = weight->shape[1];
    nb_tensor *out = nb__op_new(ctx, &op_embedding, 2, src, indices->ndim + 1, shape);
    if (!out) return NULL;
    out->saved = nb__alloc(ctx, (size_t)(indices->size ? indices->size : 1) * sizeof(int64_t));
    if (!out->saved) return NULL;
    return nb__op_run(out);
}
