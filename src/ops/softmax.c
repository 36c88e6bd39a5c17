/* ops/softmax.c — softmax and log_softmax along any axis. Both are computed
 * over the input viewed as [outer, n, inner] by kernels/softmax.c, and both
 * backward passes need only the output, which the node already holds. */
#include "core/engine.h"
#include "kernels/softmax.h"

enum { S_OUTER, S_N, S_INNER };

static int softmax_forward(nb_tensor *out) {
    nb_k_softmax(out->src[0]->data, out->iarg[S_OUTER], out->iarg[S_N], out->iarg[S_INNER],
                 out->data);
    return NB_OK;
}

static void softmax_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    nb_k_softmax_backward(out->data, out->grad, out->iarg[S_OUTER], out->iarg[S_N],
                          out->iarg[S_INNER], x->grad);
}

static int log_softmax_forward(nb_tensor *out) {
    nb_k_log_softmax(out->src[0]->data, out->iarg[S_OUTER], out->iarg[S_N], out->iarg[S_INNER],
                     out->data);
    return NB_OK;
}

static void log_softmax_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    nb_k_log_softmax_backward(out->data, out->grad, out->iarg[S_OUTER], out->iarg[S_N],
                              out->iarg[S_INNER], x->grad);
}

static const nb_op_def op_softmax = {"softmax", softmax_forward, softmax_backward, 0};
static const nb_op_def op_log_softmax = {"log_softmax", log_softmax_forward, log_softmax_backward, 0};

static nb_tensor *softmax_like(nb_ctx *ctx, const nb_op_def *op, nb_tensor *x, int axis) {
    if (!nb__inputs_ok(ctx, op->name, 1, &x)) return NULL;
    if (x->ndim == 0) {
        nb__error(ctx, NB_ERR_SHAPE, "%s: needs at least one dimension, got a scalar []",
                  op->name);
        return NULL;
    }
    int a = nb__axis(ctx, op->name, axis, x->ndim);
    if (a < 0) return NULL;
    nb_tensor *out = nb__op_new(ctx, op, 1, &x, x->ndim, x->shape);
    if (!out) return NULL;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < a; i++) outer *= x->shape[i];
    for (int i = a + 1; i < x->ndim; i++) inner *= x->shape[i];
    out->iarg[S_OUTER] = outer;
    out->iarg[S_N] = x->shape[a];
    out->iarg[S_INNER] = inner;
    out->iarg[3] = a;
    return nb__op_run(out);
}

nb_tensor *nb_softmax(nb_ctx *ctx, nb_tensor *x, int axis) {
    return softmax_like(ctx, &op_softmax, x, axis);
}
nb_tensor *nb_log_softmax(nb_ctx *ctx, nb_tensor *x, int axis) {
    return softmax_like(ctx, &op_log_softmax, x, axis);
}
