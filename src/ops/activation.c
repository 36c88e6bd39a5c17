/* ops/activation.c — elementwise activations: sigmoid, tanh, relu,
 * leaky_relu, elu, gelu (erf and tanh forms), softplus. They share the unary
 * machinery of ops/unary.c; the maths and its stable forms are in
 * kernels/unary.c. (softmax and log_softmax live elsewhere.) */
#include "ops/unary.h"

NB__UNARY_OP(op_sigmoid, "sigmoid");
NB__UNARY_OP(op_tanh, "tanh");
NB__UNARY_OP(op_relu, "relu");
NB__UNARY_OP(op_leaky_relu, "leaky_relu");
NB__UNARY_OP(op_elu, "elu");
NB__UNARY_OP(op_gelu, "gelu");
NB__UNARY_OP(op_softplus, "softplus");

nb_tensor *nb_sigmoid(nb_ctx *ctx, nb_tensor *x) {
    return nb__unary(ctx, &op_sigmoid, NB_UN_SIGMOID, x, 0, 0);
}
nb_tensor *nb_tanh(nb_ctx *ctx, nb_tensor *x) { return nb__unary(ctx, &op_tanh, NB_UN_TANH, x, 0, 0); }
nb_tensor *nb_relu(nb_ctx *ctx, nb_tensor *x) { return nb__unary(ctx, &op_relu, NB_UN_RELU, x, 0, 0); }
nb_tensor *nb_leaky_relu(nb_ctx *ctx, nb_tensor *x, float negative_slope) {
    return nb__unary(ctx, &op_leaky_relu, NB_UN_LEAKY_RELU, x, negative_slope, 0);
}
nb_tensor *nb_elu(nb_ctx *ctx, nb_tensor *x, float alpha) {
    return nb__unary(ctx, &op_elu, NB_UN_ELU, x, alpha, 0);
}

/* erf: x·Φ(x) exactly, as PyTorch's gelu(approximate='none');
 * tanh: ½x(1 + tanh(√(2/π)(x + 0.044715x³))), as gelu(approximate='tanh'). */
nb_tensor *nb_gelu(nb_ctx *ctx, nb_tensor *x, nb_gelu_kind kind) {
    if (!nb__inputs_ok(ctx, "gelu", 1, &x)) return NULL;
    if (kind != NB_GELU_ERF && kind != NB_GELU_TANH) {
        nb__error(ctx, NB_ERR_ARG, "gelu: kind must be NB_GELU_ERF or NB_GELU_TANH, got %d",
                  (int)kind);
        return NULL;
    }
    return nb__unary(ctx, &op_gelu, kind == NB_GELU_ERF ? NB_UN_GELU_ERF : NB_UN_GELU_TANH, x, 0, 0);
}

/* softplus with beta 1, computed exactly as max(x,0) + log1p(e^-|x|) for every
 * x; PyTorch's threshold-20 shortcut (returning x) agrees to float32 precision. */
nb_tensor *nb_softplus(nb_ctx *ctx, nb_tensor *x) {
    return nb__unary(ctx, &op_softplus, NB_UN_SOFTPLUS, x, 0, 0);
}
