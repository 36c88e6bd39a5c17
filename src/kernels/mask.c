/* kernels/mask.c — masked elementwise products (see mask.h); plain loops the
 * compiler vectorises. */
#include "kernels/mask.h"

void nb_k_mask_apply(int64_t n, const float *x, const float *mask, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * mask[i];
}

void nb_k_mask_apply_acc(int64_t n, const float *dy, const float *mask, float *dx) {
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * mask[i];
}
