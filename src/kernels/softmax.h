/* kernels/softmax.h — softmax and log-softmax along the middle axis of an
 * array viewed as [outer, n, inner] (inner == 1: contiguous rows), their
 * backward passes, and the fused softmax + cross-entropy over [rows, C].
 * All subtract the maximum first (log-sum-exp), so ±1e3 logits are fine. */
#ifndef NB_KERNELS_SOFTMAX_H
#define NB_KERNELS_SOFTMAX_H

#include <stdint.h>

/* y[o, :, i] = softmax(x[o, :, i]) (or log_softmax); y may alias x. */
void nb_k_softmax(const float *x, int64_t outer, int64_t n, int64_t inner, float *y);
void nb_k_log_softmax(const float *x, int64_t outer, int64_t n, int64_t inner, float *y);

/* Given y = softmax(x) and dy: dx += y ⊙ (dy − Σ_k dy ⊙ y), per slice. */
void nb_k_softmax_backward(const float *y, const float *dy, int64_t outer, int64_t n,
                           int64_t inner, float *dx);
/* Given y = log_softmax(x) and dy: dx += dy − exp(y) ⊙ Σ_k dy, per slice. */
void nb_k_log_softmax_backward(const float *y, const float *dy, int64_t outer, int64_t n,
                               int64_t inner, float *dx);

/* Cross-entropy of logits z [rows, C] against class ids labels[r] (integral
 * values in [0, C), checked by the caller) with label smoothing eps: the
 * target is q = (1 − eps)·onehot + eps/C. Writes each row's log-sum-exp to
 * lse[r] (what backward needs) and returns Σ_r −Σ_c q_c log_softmax(z_r)_c,
 * accumulated in double. */
double nb_k_cross_entropy(const float *z, const float *labels, int64_t rows, int64_t C,
                          float eps, float *lse);
/* dz[r, c] += scale · (softmax(z_r)_c − q_c), from the saved lse, in one
 * pass over the logits. */
void nb_k_cross_entropy_backward(const float *z, const float *labels, const float *lse,
                                 int64_t rows, int64_t C, float eps, float scale, float *dz);
/* Both in one sweep, for callers that know the gradient's scale up front
 * (training loops, benchmarks): returns what nb_k_cross_entropy returns,
 * writes lse like it, and adds what nb_k_cross_entropy_backward adds, reading
 * each row of logits while it is still in cache. */
double nb_k_cross_entropy_fused(const float *z, const float *labels, int64_t rows, int64_t C,
                                float eps, float scale, float *lse, float *dz);

#endif
