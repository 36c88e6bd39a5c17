/* kernels/norm.h — batch normalisation over x viewed as [n][c][inner]
 * (inner = 1 for [N,C], H·W for [N,C,H,W]): statistics, the normalising
 * affine map and its gradients, per channel on plain float arrays. */
#ifndef NB_KERNELS_NORM_H
#define NB_KERNELS_NORM_H

#include <stdint.h>

/* Per channel mean and biased variance (two passes, summed in double). */
void nb_k_bn_stats(int64_t n, int64_t c, int64_t inner, const float *x, float *mean, float *var);

/* y = (x − mean[ch])·invstd[ch]·gamma[ch] + beta[ch]; gamma/beta NULL mean 1/0. */
void nb_k_bn_apply(int64_t n, int64_t c, int64_t inner, const float *x, const float *mean,
                   const float *invstd, const float *gamma, const float *beta, float *y);

/* Gradients of bn_apply given dy, accumulated (+=) into dx, dgamma, dbeta
 * (each may be NULL). With batch_stats nonzero, mean and invstd are taken as
 * functions of x (training mode):
 *   dx = gamma·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)),
 * otherwise as constants (evaluation): dx = gamma·invstd·dy. */
void nb_k_bn_backward(int64_t n, int64_t c, int64_t inner, const float *x, const float *dy,
                      const float *mean, const float *invstd, const float *gamma,
                      int batch_stats, float *dx, float *dgamma, float *dbeta);

/* ---- synchronised batch norm: the local sums the processes add up ----
 * sums[3ch..3ch+2] = Σx, Σ(x − μ_l)² and m·μ_l² over this process's m values
 * of channel ch (μ_l their mean, 0 when m = 0): Σx² split into a centred part
 * and a mean part, so the global variance is (ΣM2 + (Σm·μ_l² − N·μ²))/N
 * without the cancellation of Σx²/N − μ², and is exactly the local two-pass
 * variance on one process. */
void nb_k_bn_sums(int64_t n, int64_t c, int64_t inner, const float *x, double *sums);
/* sums[2ch], sums[2ch+1] = Σ dy and Σ dy·x̂ of channel ch. */
void nb_k_bn_backward_sums(int64_t n, int64_t c, int64_t inner, const float *x, const float *dy,
                           const float *mean, const float *invstd, double *sums);
/* dx += gamma·invstd·(dy − sums[2ch]/denom − x̂·sums[2ch+1]/denom): the
 * training-mode dx with the means over all processes (nothing when there are
 * no values or denom <= 0). */
void nb_k_bn_backward_dx(int64_t n, int64_t c, int64_t inner, const float *x, const float *dy,
                         const float *mean, const float *invstd, const float *gamma,
                         const double *sums, double denom, float *dx);

#endif
