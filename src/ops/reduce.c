/* ops/reduce.c — sum, mean and max, of everything (to a rank-0 scalar) or
 * along one axis (keepdim or not). Every form is one reduction of the input
 * viewed as [outer, n, inner]; the arithmetic is kernels/reduce.c. */
#include <math.h>

#include "core/engine.h"
#include "kernels/reduce.h"

/* iarg: [0] outer, [1] n (reduced length), [2] inner. farg[0]: the scale of
 * mean (1/n) or 1 for sum. saved: int64 argmax per output element (max). */
enum { R_OUTER, R_N, R_INNER };

static int sum_forward(nb_tensor *out) {
    const float *x = out->src[0]->data;
    int64_t outer = out->iarg[R_OUTER], n = out->iarg[R_N], inner = out->iarg[R_INNER];
    float scale = out->farg[0];
    if (outer == 1 && inner == 1) {
        out->data[0] = nb_k_sum(x, n) * scale;
        return NB_OK;
    }
    nb_k_sum_axis(x, outer, n, inner, out->data);
    if (scale != 1.0f)
        for (int64_t i = 0; i < out->size; i++) out->data[i] *= scale;
    return NB_OK;
}

static void sum_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    nb_k_spread_axis_add(out->grad, out->iarg[R_OUTER], out->iarg[R_N], out->iarg[R_INNER],
                         out->farg[0], x->grad);
}

static int max_forward(nb_tensor *out) {
    nb_k_max_axis(out->src[0]->data, out->iarg[R_OUTER], out->iarg[R_N], out->iarg[R_INNER],
                  out->data, (int64_t *)out->saved);
    return NB_OK;
}

static void max_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    nb_k_max_axis_backward(out->grad, (const int64_t *)out->saved, out->iarg[R_OUTER],
                           out->iarg[R_N], out->iarg[R_INNER], x->grad);
}

static const nb_op_def op_sum = {"sum", sum_forward, sum_backward, 0};
static const nb_op_def op_mean = {"mean", sum_forward, sum_backward, 0};
static const nb_op_def op_max = {"max", max_forward, max_backward, 0};
static const nb_op_def op_sum_axis = {"sum_axis", sum_forward, sum_backward, 0};
static const nb_op_def op_mean_axis = {"mean_axis", sum_forward, sum_backward, 0};
static const nb_op_def op_max_axis = {"max_axis", max_forward, max_backward, 0};

/* axis < 0 with all = 1 reduces everything to a scalar. */
static nb_tensor *reduce(nb_ctx *ctx, const nb_op_def *op, nb_tensor *x, int all, int axis,
                         int keepdim) {
    if (!nb__inputs_ok(ctx, op->name, 1, &x)) return NULL;
    int64_t shape[NB_MAX_DIMS];
    int ndim = 0;
    int64_t outer = 1, n = x->size, inner = 1;
    if (!all) {
        int a = nb__axis(ctx, op->name, axis, x->ndim);
        if (a < 0) return NULL;
        n = x->shape[a];
        for (int i = 0; i < a; i++) outer *= x->shape[i];
        for (int i = a + 1; i < x->ndim; i++) inner *= x->shape[i];
        for (int i = 0; i < x->ndim; i++) {
            if (i != a) shape[ndim++] = x->shape[i];
            else if (keepdim) shape[ndim++] = 1;
        }
    }
    int is_max = op->forward == max_forward;
    if (is_max && n == 0) {
        char buf[NB_SHAPE_BUF];
        if (all)
            nb__error(ctx, NB_ERR_ARG, "%s: input of shape %s is empty", op->name,
                      nb__shape_str(x, buf));
        else
            nb__error(ctx, NB_ERR_ARG, "%s: axis %d of shape %s is empty", op->name, axis,
                      nb__shape_str(x, buf));
        return NULL;
    }
    nb_tensor *out = nb__op_new(ctx, op, 1, &x, ndim, shape);
    if (!out) return NULL;
    out->iarg[R_OUTER] = outer;
    out->iarg[R_N] = n;
    out->iarg[R_INNER] = inner;
    int is_mean = op == &op_mean || op == &op_mean_axis;
    /* mean of nothing is NaN, as in NumPy/PyTorch */
    out->farg[0] = !is_mean ? 1.0f : n > 0 ? (float)(1.0 / (double)n) : NAN;
    if (is_max) {
        /* always needed: forward writes the argmax even when no grad is wanted */
        out->saved = nb__alloc(ctx, (size_t)(out->size > 0 ? out->size : 1) * sizeof(int64_t));
        if (!out->saved) return NULL;
    }
    return nb__op_run(out);
}

nb_tensor *nb_sum(nb_ctx *ctx, nb_tensor *x) { return reduce(ctx, &op_sum, x, 1, 0, 0); }
nb_tensor *nb_mean(nb_ctx *ctx, nb_tensor *x) { return reduce(ctx, &op_mean, x, 1, 0, 0); }
nb_tensor *nb_max(nb_ctx *ctx, nb_tensor *x) { return reduce(ctx, &op_max, x, 1, 0, 0); }
nb_tensor *nb_sum_axis(nb_ctx *ctx, nb_tensor *x, int axis, int keepdim) {
    return reduce(ctx, &op_sum_axis, x, 0, axis, keepdim);
}
nb_tensor *nb_mean_axis(nb_ctx *ctx, nb_tensor *x, int axis, int keepdim) {
    return reduce(ctx, &op_mean_axis, x, 0, axis, keepdim);
}
nb_tensor *nb_max_axis(nb_ctx *ctx, nb_tensor *x, int axis, int keepdim) {
    return reduce(ctx, &op_max_axis, x, 0, axis, keepdim);
}
