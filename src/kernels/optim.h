/* kernels/optim.h — the per-element update loops of the optimizers and the
 * reductions behind gradient clipping and non-finite checks, over plain float
 * arrays. Scalars arrive already rounded to float, in torch's operation order. */
#ifndef NB_KERNELS_OPTIM_H
#define NB_KERNELS_OPTIM_H

#include <stdint.h>

/* Update loops; "a + s·b" below is fmaf(s, b, a) (see optim_loops.h).
 * SGD. d = g + wd·p; with momentum: buf = first ? d : momentum·buf + damp1·d
 * (damp1 = 1 - dampening), d = nesterov ? d + momentum·buf : buf; p += neg_lr·d.
 * buf may be NULL when momentum == 0. */
void nb_k_sgd(float *restrict p, const float *restrict g, float *restrict buf, int64_t n,
              float neg_lr, float wd, float momentum, float damp1, int nesterov, int first);

/* Adam / AdamW moments and update. With wd != 0 (L2, Adam) g is replaced by
 * g + wd·p; with decay != 1 (AdamW) p is first multiplied by decay.
 * m = β1·m + (1-β1)·g; v = β2·v + ((1-β2)·g)·g; vmax = max(vmax, v) if vmax;
 * p += (neg_step_b·m) / (sqrt(v̂) + eps_b), where with b = sqrt(1 - β2^t) the
 * caller passes neg_step_b = -lr·b/(1 - β1^t) and eps_b = eps·b: PyTorch's
 * step·m / (sqrt(v̂)/b + eps) with one division fewer. */
void nb_k_adam(float *restrict p, const float *restrict g, float *restrict m,
               float *restrict v, float *restrict vmax, int64_t n, float wd, float decay,
               float beta1, float one_m_beta1, float beta2, float one_m_beta2,
               float eps_b, float neg_step_b);

/* RMSprop. gavg and buf may be NULL (not centered / no momentum). */
void nb_k_rmsprop(float *restrict p, const float *restrict g, float *restrict sq,
                  float *restrict gavg, float *restrict buf, int64_t n, float wd, float alpha,
                  float one_m_alpha, float eps, float momentum, float neg_lr);

/* Adagrad: d = g + wd·p; sum += d·d; p += (neg_clr·d) / (sqrt(sum) + eps). */
void nb_k_adagrad(float *restrict p, const float *restrict g, float *restrict sum, int64_t n,
                  float wd, float eps, float neg_clr);

/* Σ x², accumulated in double. */
double nb_k_sumsq(const float *x, int64_t n);
/* x *= s. */
void nb_k_scale(float *x, int64_t n, float s);
/* x = min(max(x, lo), hi) (NaN stays NaN). */
void nb_k_clamp(float *x, int64_t n, float lo, float hi);
/* Index of the first NaN/Inf in x, or -1. */
int64_t nb_k_first_nonfinite(const float *x, int64_t n);

#endif
