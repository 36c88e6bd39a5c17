/* ops/activation.c — elementwise activations: sigmoid, tanh, relu,
 * leaky_relu, elu, gelu (erf and tanh forms), softplus. They share the unary
 * machinery of ops/unary.c; the maths and its stable forms are in
 * kernels/unary.c. (softmax and log_softmax live elsewhere.) */
#include "ops/unary.h"

static const nb_op_def op_sigmoid = {"sigmoid", nb__unary_forward, nb__unary_backward, 1u};
static const nb_op_def op_tanh = {"tanh", nb__unary_forward, nb__unary_backward, 1u};
static const nb_op_def op_relu = {"relu", nb__unary_forward, nb__unary_backward, 1u};
static const nb_op_def op_leaky_relu = {"leaky_relu", nb__unary_forward, nb__unary_backward, 1u};
static const nb_op_def op_elu = {"elu", nb__unary_forward, nb__unary_backward, 1u};
static const nb_op_def op_gelu = {"gelu", nb__unary_forward, nb__unary_backward, 1u};
static const nb_op_def op_softplus = {"softplus", nb__unary_forward, nb__unary_backward, 1u};

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
