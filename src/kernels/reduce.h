/* kernels/reduce.h — sums and maxima over float arrays: of everything, or
 * along the middle axis of an array viewed as [outer, n, inner], plus the
 * scatter steps their backward passes need. */
#ifndef NB_KERNELS_REDUCE_H
#define NB_KERNELS_REDUCE_H

#include <stdint.h>

/* Σ x[0..n), accumulated pairwise so the rounding error grows with log n,
 * not n; the order of additions is fixed, so the result is deterministic. */
float nb_k_sum(const float *x, int64_t n);

/* out[o, i] = Σ_k x[o, k, i] for x viewed as [outer, n, inner]. */
void nb_k_sum_axis(const float *x, int64_t outer, int64_t n, int64_t inner, float *out);

/* Largest element of x[0..n) (n >= 1) and, in *arg, the index of its first
 * occurrence. A NaN counts as larger than everything, so it propagates. */
float nb_k_max(const float *x, int64_t n, int64_t *arg);

/* out[o, i] = max_k x[o, k, i] (n >= 1), arg[o, i] = the first such k. */
void nb_k_max_axis(const float *x, int64_t outer, int64_t n, int64_t inner, float *out,
                   int64_t *arg);

/* dx[o, k, i] += scale · dout[o, i] for every k: the backward of sum/mean. */
void nb_k_spread_axis_add(const float *dout, int64_t outer, int64_t n, int64_t inner,
                          float scale, float *dx);

/* dx[o, arg[o, i], i] += dout[o, i]: the backward of max along an axis. */
void nb_k_max_axis_backward(const float *dout, const int64_t *arg, int64_t outer, int64_t n,
                            int64_t inner, float *dx);

#endif
