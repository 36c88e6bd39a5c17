/* ops/binary.c — add, sub, mul, div with NumPy broadcasting: shape rule,
 * forward and backward side by side; the arithmetic is kernels/broadcast.c. */
#include <string.h>

#include "core/engine.h"
#include "kernels/broadcast.h"
#include "kernels/copy.h"

/* Per-output-dim strides of an input aligned right against out, 0 where the
 * input is broadcast (absent or size 1). */
static void broadcast_strides(const nb_tensor *x, const nb_tensor *out, int64_t *s) {
    for (int i = 0; i < out->ndim; i++) {
        int ix = x->ndim - out->ndim + i;
        s[i] = (ix < 0 || x->shape[ix] == 1) ? 0 : x->strides[ix];
    }
}

static int binary_forward(nb_tensor *out) {
    nb_tensor *a = out->src[0], *b = out->src[1];
    int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS];
    broadcast_strides(a, out, sa);
    broadcast_strides(b, out, sb);
    nb_k_binary((nb_binop)out->iarg[0], out->ndim, out->shape, out->data, a->data, sa, b->data, sb);
    return NB_OK;
}

static void binary_backward(nb_tensor *out) {
    nb_tensor *a = out->src[0], *b = out->src[1];
    int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS];
    broadcast_strides(a, out, sa);
    broadcast_strides(b, out, sb);
    float *da = a->grad, *db = b->grad;
    /* add/sub (the only kinds declaring overwrites): an unbroadcast side whose
     * gradient is unwritten gets ±dy stored; a broadcast one (a sum over the
     * broadcast dims) is cleared and then accumulated as usual */
    if (da && nb__grad_overwrite(out, 0)) {
        if (a->size == out->size) {
            nb_k_store_grad(da, out->grad, out->size, 0);
            da = NULL;
        } else {
            memset(da, 0, (size_t)a->size * sizeof(float));
        }
    }
    if (db && nb__grad_overwrite(out, 1)) {
        if (b->size == out->size) {
            nb_k_store_grad(db, out->grad, out->size, out->iarg[0] == NB_BIN_SUB);
            db = NULL;
        } else {
            memset(db, 0, (size_t)b->size * sizeof(float));
        }
    }
    if (!da && !db) return;
    nb_k_binary_backward((nb_binop)out->iarg[0], out->ndim, out->shape, out->grad, out->data,
                         a->data, sa, da, b->data, sb, db);
}

static const nb_op_def op_add = {"add", binary_forward, binary_backward, 3u};
static const nb_op_def op_sub = {"sub", binary_forward, binary_backward, 3u};
static const nb_op_def op_mul = {"mul", binary_forward, binary_backward, 0};
static const nb_op_def op_div = {"div", binary_forward, binary_backward, 0};

static nb_tensor *binary(nb_ctx *ctx, const nb_op_def *op, nb_binop kind, nb_tensor *a, nb_tensor *b) {
    nb_tensor *src[2] = {a, b};
    if (!nb__inputs_ok(ctx, op->name, 2, src)) return NULL;
    int64_t shape[NB_MAX_DIMS];
    int ndim;
    if (nb__broadcast_shape(ctx, op->name, a, b, shape, &ndim) != NB_OK) return NULL;
    nb_tensor *out = nb__op_new(ctx, op, 2, src, ndim, shape);
    if (!out) return NULL;
    out->iarg[0] = kind;
    return nb__op_run(out);
}

nb_tensor *nb_add(nb_ctx *ctx, nb_tensor *a, nb_tensor *b) { return binary(ctx, &op_add, NB_BIN_ADD, a, b); }
nb_tensor *nb_sub(nb_ctx *ctx, nb_tensor *a, nb_tensor *b) { return binary(ctx, &op_sub, NB_BIN_SUB, a, b); }
nb_tensor *nb_mul(nb_ctx *ctx, nb_tensor *a, nb_tensor *b) { return binary(ctx, &op_mul, NB_BIN_MUL, a, b); }
nb_tensor *nb_div(nb_ctx *ctx, nb_tensor *a, nb_tensor *b) { return binary(ctx, &op_div, NB_BIN_DIV, a, b); }
