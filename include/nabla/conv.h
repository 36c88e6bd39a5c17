/* nabla/conv.h — operations for convolutional networks on NCHW float32
 * tensors: 2-D convolution, max/average/global pooling, flatten and batch
 * normalisation (src/ops/conv.c, pool.c, norm.c). Included by nabla.h.
 * Shapes, output sizes and numerics follow PyTorch's torch.nn.functional. */
#ifndef NABLA_CONV_H
#define NABLA_CONV_H

#include "nabla/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- convolution (src/ops/conv.c) --------------------------------------------
 * Options of nb_conv2d. A zero-initialised struct is a plain convolution:
 * stride, dilation and groups of 0 mean 1, so a call reads like
 *     nb_conv2d(ctx, x, w, b, &(nb_conv2d_opts){.pad_h = 1, .pad_w = 1});
 * Negative values are errors. Padding is zeros on both sides. */
typedef struct nb_conv2d_opts {
    int stride_h, stride_w;
    int pad_h, pad_w;
    int dil_h, dil_w;
    int groups;   /* C and O divisible by it; groups == C is depthwise */
    int max_pool; /* 2: a 2×2 stride-2 max-pool fused after the convolution */
} nb_conv2d_opts;

/* y[N,O,OH,OW] = x[N,C,H,W] ⋆ w[O, C/groups, KH, KW] + b[O] (b may be NULL,
 * opts may be NULL for all defaults), with
 *     OH = floor((H + 2·pad_h − dil_h·(KH − 1) − 1) / stride_h) + 1
 * and likewise OW. Computed by im2col + nb_sgemm (a 1×1, stride-1, unpadded
 * convolution multiplies x directly); the column buffer is made once here and
 * reused by every forward and backward.
 * With opts->max_pool = 2 the result is nb_max_pool2d(y, 2, 2, 2, 2, 0, 0)
 * instead, [N,O,OH/2,OW/2], bitwise the same values and gradients, but each
 * sample's convolution output is pooled (and its gradient routed back) while
 * still in cache: y itself is never stored. */
nb_tensor *nb_conv2d(nb_ctx *ctx, nb_tensor *x, nb_tensor *w, nb_tensor *b,
                     const nb_conv2d_opts *opts);

/* ---- pooling (src/ops/pool.c) ---------------------------------------------------
 * x[N,C,H,W] -> [N,C,OH,OW] with OH = floor((H + 2·ph − kh) / sh) + 1 (no
 * ceil mode). A stride of 0 means the kernel size (PyTorch's default);
 * padding must be at most half the kernel, as in PyTorch.
 * Max pooling treats padding as −∞ and sends each output's gradient to the
 * first maximal element of its window (row-major order); NaN propagates
 * (the gradient goes to the window's last NaN, as in PyTorch).
 * Average pooling counts padding zeros in the divisor (kh·kw), like
 * PyTorch's default count_include_pad=True. */
nb_tensor *nb_max_pool2d(nb_ctx *ctx, nb_tensor *x, int kh, int kw, int sh, int sw, int ph,
                         int pw);
nb_tensor *nb_avg_pool2d(nb_ctx *ctx, nb_tensor *x, int kh, int kw, int sh, int sw, int ph,
                         int pw);
/* Mean over H and W: x[N,C,H,W] -> [N,C,1,1], like AdaptiveAvgPool2d(1)
 * (follow with nb_flatten for [N,C]). */
nb_tensor *nb_global_avg_pool2d(nb_ctx *ctx, nb_tensor *x);
/* x[N, d1, d2, ...] -> [N, d1·d2·…] (a reshape; rank >= 1, rank 1 gives [N,1]). */
nb_tensor *nb_flatten(nb_ctx *ctx, nb_tensor *x);

/* ---- batch normalisation (src/ops/norm.c) -------------------------------------
 * Normalises over every axis but the channel axis 1: x [N,C] (BatchNorm1d),
 * [N,C,L] or [N,C,H,W] (BatchNorm2d); gamma, beta, running_mean, running_var
 * are [C].
 *   training mode (nb_training(ctx)): y = (x − μ_B)/sqrt(σ²_B + eps)·gamma +
 *     beta with the batch's mean and biased variance; then, on every forward,
 *     running_mean = (1 − momentum)·running_mean + momentum·μ_B and
 *     running_var = (1 − momentum)·running_var + momentum·σ²_B·M/(M − 1)
 *     (unbiased, M = values per channel), updated in place exactly as
 *     PyTorch does. A graph replays its forward every step, so the running
 *     statistics move once per step. Needs M > 1.
 *   evaluation mode: the running statistics replace the batch's.
 * gamma and beta may be NULL (affine=False: 1 and 0). running_mean and
 * running_var are plain tensors (not parameters; they receive no gradient);
 * both may be NULL (track_running_stats=False: batch statistics in both
 * modes). Gradients flow to x, gamma and beta through the batch statistics in
 * training mode and through the fixed affine map in evaluation mode;
 * backward follows the mode of the latest forward. momentum in [0, 1],
 * eps > 0 (PyTorch's defaults: 0.1 and 1e-5). */
nb_tensor *nb_batch_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *gamma, nb_tensor *beta,
                         nb_tensor *running_mean, nb_tensor *running_var, float momentum,
                         float eps);

/* nb_batch_norm with synchronised statistics when sync is nonzero: in
 * training mode, when the context has a cross-process sum (nb_ctx_set_allsum,
 * installed for MPI by nb_dist_install_allsum), the batch statistics are over
 * the rows of ALL processes — forward sums per channel the count, Σx and Σx²
 * (in double; Σx² kept as a centred part plus a mean part, for precision), the
 * running statistics use the global count for the unbiased variance, and
 * backward sums Σdy and Σdy·x̂ for dx. Each process's loss is taken to be the
 * mean over its own rows, combined with weights rows/global rows (nb_dist's
 * convention), so N processes give one process's result on the whole batch.
 * A process with no values (count 0) still takes part. Every process must
 * build the same graph (the sums are collective and called in graph order).
 * Evaluation mode, or no sum installed, or sync = 0: exactly nb_batch_norm.
 * Cost: two small collectives (1 + 3C and 2C doubles) per layer per step. */
nb_tensor *nb_batch_norm_sync(nb_ctx *ctx, nb_tensor *x, nb_tensor *gamma, nb_tensor *beta,
                              nb_tensor *running_mean, nb_tensor *running_var, float momentum,
                              float eps, int sync);

#ifdef __cplusplus
}
#endif
#endif
