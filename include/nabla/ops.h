/* nabla/ops.h — the differentiable operations. Each runs its forward at once,
 * records itself for replay and backward, and returns NULL (with the error on
 * the context) on a bad argument or a failed earlier call. Included by nabla.h.
 *
 * Conventions: `axis` may be negative (counted from the end, as in NumPy);
 * binary elementwise ops broadcast like NumPy; class labels and indices are
 * passed as float tensors holding integral values (nabla is float32-only). */
#ifndef NABLA_OPS_H
#define NABLA_OPS_H

#include "nabla/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- elementwise, binary with broadcasting (src/ops/binary.c) ---- */
nb_tensor *nb_add(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_sub(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_mul(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_div(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);

/* ---- elementwise, unary (src/ops/unary.c) ---- */
nb_tensor *nb_neg(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_scale(nb_ctx *ctx, nb_tensor *x, float s);        /* s·x */
nb_tensor *nb_add_scalar(nb_ctx *ctx, nb_tensor *x, float s);   /* x + s */
nb_tensor *nb_exp(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_log(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_sqrt(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_square(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_pow(nb_ctx *ctx, nb_tensor *x, float p);         /* x^p */
nb_tensor *nb_abs(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_clamp(nb_ctx *ctx, nb_tensor *x, float lo, float hi);

/* ---- activations (src/ops/activation.c) ---- */
typedef enum nb_gelu_kind { NB_GELU_ERF = 0, NB_GELU_TANH = 1 } nb_gelu_kind;
nb_tensor *nb_sigmoid(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_tanh(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_relu(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_leaky_relu(nb_ctx *ctx, nb_tensor *x, float negative_slope);
nb_tensor *nb_elu(nb_ctx *ctx, nb_tensor *x, float alpha);
nb_tensor *nb_gelu(nb_ctx *ctx, nb_tensor *x, nb_gelu_kind kind);
nb_tensor *nb_softplus(nb_ctx *ctx, nb_tensor *x);             /* log(1 + e^x) */
nb_tensor *nb_softmax(nb_ctx *ctx, nb_tensor *x, int axis);
nb_tensor *nb_log_softmax(nb_ctx *ctx, nb_tensor *x, int axis);

/* ---- matrix products (src/ops/matmul.c) ----
 * nb_matmul: [m,k]@[k,n] -> [m,n]; [B,m,k]@[B,k,n] -> [B,m,n] where either
 * batch may be 1 or absent (broadcast). nb_linear: x[..., in] · w[out, in]ᵀ
 * + b[out] (b may be NULL), without a transposed copy of w. */
nb_tensor *nb_matmul(nb_ctx *ctx, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_linear(nb_ctx *ctx, nb_tensor *x, nb_tensor *w, nb_tensor *b);

/* ---- shape (src/ops/shape.c) ---- */
nb_tensor *nb_reshape(nb_ctx *ctx, nb_tensor *x, int ndim, const int64_t *shape); /* one -1 allowed */
nb_tensor *nb_transpose(nb_ctx *ctx, nb_tensor *x, int axis0, int axis1);
nb_tensor *nb_concat(nb_ctx *ctx, int n, nb_tensor *const *xs, int axis);
nb_tensor *nb_slice(nb_ctx *ctx, nb_tensor *x, int axis, int64_t start, int64_t end); /* [start,end) */

/* ---- reductions (src/ops/reduce.c) ----
 * The plain forms reduce everything to a scalar (rank 0); the _axis forms
 * reduce one axis, keeping it with size 1 when keepdim is nonzero. Max sends
 * the gradient to the first maximal element. */
nb_tensor *nb_sum(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_mean(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_max(nb_ctx *ctx, nb_tensor *x);
nb_tensor *nb_sum_axis(nb_ctx *ctx, nb_tensor *x, int axis, int keepdim);
nb_tensor *nb_mean_axis(nb_ctx *ctx, nb_tensor *x, int axis, int keepdim);
nb_tensor *nb_max_axis(nb_ctx *ctx, nb_tensor *x, int axis, int keepdim);

/* ---- losses (src/ops/loss.c); all return a scalar, mean over elements/rows ----
 * nb_cross_entropy: logits [N,C], labels [N] holding class ids 0..C-1; with
 * label_smoothing ε the target is (1-ε)·onehot + ε/C, as in PyTorch. */
nb_tensor *nb_mse_loss(nb_ctx *ctx, nb_tensor *pred, nb_tensor *target);
nb_tensor *nb_l1_loss(nb_ctx *ctx, nb_tensor *pred, nb_tensor *target);
nb_tensor *nb_cross_entropy(nb_ctx *ctx, nb_tensor *logits, nb_tensor *labels,
                            float label_smoothing);
nb_tensor *nb_bce_with_logits(nb_ctx *ctx, nb_tensor *logits, nb_tensor *targets);

#ifdef __cplusplus
}
#endif
#endif
