/* kernels/loss.h — the elementwise losses (squared error, absolute error,
 * binary cross-entropy with logits): their sums over n elements and their
 * gradients, on plain float arrays. Cross-entropy lives in kernels/softmax.h. */
#ifndef NB_KERNELS_LOSS_H
#define NB_KERNELS_LOSS_H

#include <stdint.h>

/* Σ (p − t)², Σ |p − t|, Σ max(z,0) − z·t + log(1 + e^−|z|); in double. */
double nb_k_sq_err_sum(const float *p, const float *t, int64_t n);
double nb_k_abs_err_sum(const float *p, const float *t, int64_t n);
double nb_k_bce_logits_sum(const float *z, const float *t, int64_t n);

/* Gradients of scale·Σ(…) accumulated into dp/dt (either may be NULL):
 * squared error 2(p − t), absolute error sign(p − t) (0 at 0),
 * BCE σ(z) − t for z and −z for t. */
void nb_k_sq_err_backward(const float *p, const float *t, int64_t n, float scale, float *dp,
                          float *dt);
void nb_k_abs_err_backward(const float *p, const float *t, int64_t n, float scale, float *dp,
                           float *dt);
void nb_k_bce_logits_backward(const float *z, const float *t, int64_t n, float scale, float *dz,
                              float *dt);

#endif
