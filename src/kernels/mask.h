/* kernels/mask.h — elementwise products with a precomputed mask on plain
 * float arrays: dropout's forward and backward. */
#ifndef NB_KERNELS_MASK_H
#define NB_KERNELS_MASK_H

#include <stdint.h>

/* y[i] = x[i] * mask[i] for i < n. */
void nb_k_mask_apply(int64_t n, const float *x, const float *mask, float *y);
/* dx[i] += dy[i] * mask[i] for i < n. */
void nb_k_mask_apply_acc(int64_t n, const float *dy, const float *mask, float *dx);

#endif
