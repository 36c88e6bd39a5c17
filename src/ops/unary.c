/* ops/unary.c — elementwise unary arithmetic: neg, scale, add_scalar, exp,
 * log, sqrt, square, pow, abs, clamp, plus the constructor, forward and
 * backward shared with the activations. The maths is kernels/unary.c. */
#include <math.h>

#include "ops/unary.h"

int nb__unary_forward(nb_tensor *out) {
    const nb_tensor *x = out->src[0];
    nb_k_unary((nb_unop)out->iarg[0], out->size, x->data, out->data, out->farg[0], out->farg[1]);
    return NB_OK;
}

/* Uses x's current data and out's forward result, both left in place by the
 * replay, so nothing needs saving at construction. */
void nb__unary_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    (nb__grad_overwrite(out, 0) ? nb_k_unary_backward_store : nb_k_unary_backward)(
        (nb_unop)out->iarg[0], out->size, x->data, out->data, out->grad, x->grad, out->farg[0],
        out->farg[1]);
}

nb_tensor *nb__unary(nb_ctx *ctx, const nb_op_def *op, nb_unop kind, nb_tensor *x, float p0,
                     float p1) {
    if (!nb__inputs_ok(ctx, op->name, 1, &x)) return NULL;
    nb_tensor *out = nb__op_new(ctx, op, 1, &x, x->ndim, x->shape);
    if (!out) return NULL;
    out->iarg[0] = kind;
    out->farg[0] = p0;
    out->farg[1] = p1;
    return nb__op_run(out);
}

NB__UNARY_OP(op_neg, "neg");
NB__UNARY_OP(op_scale, "scale");
NB__UNARY_OP(op_add_scalar, "add_scalar");
NB__UNARY_OP(op_exp, "exp");
NB__UNARY_OP(op_log, "log");
NB__UNARY_OP(op_sqrt, "sqrt");
NB__UNARY_OP(op_square, "square");
NB__UNARY_OP(op_pow, "pow");
NB__UNARY_OP(op_abs, "abs");
NB__UNARY_OP(op_clamp, "clamp");

nb_tensor *nb_neg(nb_ctx *ctx, nb_tensor *x) { return nb__unary(ctx, &op_neg, NB_UN_NEG, x, 0, 0); }
nb_tensor *nb_scale(nb_ctx *ctx, nb_tensor *x, float s) {
    return nb__unary(ctx, &op_scale, NB_UN_SCALE, x, s, 0);
}
nb_tensor *nb_add_scalar(nb_ctx *ctx, nb_tensor *x, float s) {
    return nb__unary(ctx, &op_add_scalar, NB_UN_ADD_SCALAR, x, s, 0);
}
nb_tensor *nb_exp(nb_ctx *ctx, nb_tensor *x) { return nb__unary(ctx, &op_exp, NB_UN_EXP, x, 0, 0); }
nb_tensor *nb_log(nb_ctx *ctx, nb_tensor *x) { return nb__unary(ctx, &op_log, NB_UN_LOG, x, 0, 0); }
nb_tensor *nb_sqrt(nb_ctx *ctx, nb_tensor *x) { return nb__unary(ctx, &op_sqrt, NB_UN_SQRT, x, 0, 0); }
nb_tensor *nb_square(nb_ctx *ctx, nb_tensor *x) {
    return nb__unary(ctx, &op_square, NB_UN_SQUARE, x, 0, 0);
}
nb_tensor *nb_pow(nb_ctx *ctx, nb_tensor *x, float p) {
    return nb__unary(ctx, &op_pow, NB_UN_POW, x, p, 0);
}
nb_tensor *nb_abs(nb_ctx *ctx, nb_tensor *x) { return nb__unary(ctx, &op_abs, NB_UN_ABS, x, 0, 0); }

/* NaN bounds are rejected too: they would make every comparison false and the
 * result silently equal to x. */
nb_tensor *nb_clamp(nb_ctx *ctx, nb_tensor *x, float lo, float hi) {
    if (!nb__inputs_ok(ctx, "clamp", 1, &x)) return NULL;
    if (isnan(lo) || isnan(hi) || lo > hi) {
        nb__error(ctx, NB_ERR_ARG, "clamp: bounds must satisfy lo <= hi, got lo=%g hi=%g",
                  (double)lo, (double)hi);
        return NULL;
    }
    return nb__unary(ctx, &op_clamp, NB_UN_CLAMP, x, lo, hi);
}
