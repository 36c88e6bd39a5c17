/* kernels/layernorm.h — layer and RMS normalisation over the last axis of x
 * viewed as [rows][d]: fused forward (saving per-row statistics) and fused
 * backward, on plain float arrays. */
#ifndef NB_KERNELS_LAYERNORM_H
#define NB_KERNELS_LAYERNORM_H

#include <stdint.h>

/* y = (x − mean)·rstd·gamma + beta per row, rstd = 1/sqrt(var + eps), var
 * biased; gamma/beta NULL mean 1/0. Writes mean[rows] and rstd[rows]. */
void nb_k_layer_norm_forward(int64_t rows, int64_t d, const float *x, const float *gamma,
                             const float *beta, float eps, float *y, float *mean, float *rstd);

/* Accumulates (+=) the gradients of layer_norm_forward into dx, dgamma, dbeta
 * (each may be NULL; with overwrite, dx is stored, not added to), from the
 * saved mean and rstd:
 *   dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)),  ĝ = dy⊙gamma, x̂ = (x − mean)·rstd
 *   dgamma = Σ_rows dy⊙x̂,  dbeta = Σ_rows dy. */
void nb_k_layer_norm_backward(int64_t rows, int64_t d, const float *x, const float *dy,
                              const float *mean, const float *rstd, const float *gamma,
                              float *dx, int overwrite, float *dgamma, float *dbeta);

/* y = x·rstd·gamma, rstd = 1/sqrt(mean(x²) + eps); writes rstd[rows]. */
void nb_k_rms_norm_forward(int64_t rows, int64_t d, const float *x, const float *gamma,
                           float eps, float *y, float *rstd);

/* Accumulates the gradients of rms_norm_forward (dx, dgamma may be NULL; dx
 * stored with overwrite):
 *   dx = rstd·(ĝ − x̂·mean(ĝ⊙x̂)),  dgamma = Σ_rows dy⊙x̂,  x̂ = x·rstd. */
void nb_k_rms_norm_backward(int64_t rows, int64_t d, const float *x, const float *dy,
                            const float *rstd, const float *gamma, float *dx, int overwrite,
                            float *dgamma);

/* The row loops of both builds (layernorm_body.inc): mean NULL = RMS norm. */
#define NB__NORM_DECLARE(isa)                                                                   \
    void nb__norm_fwd_rows_##isa(int64_t r0, int64_t r1, int64_t d, const float *x,             \
                                 const float *gamma, const float *beta, float eps, float *y,    \
                                 float *mean, float *rstd);                                     \
    void nb__norm_bwd_rows_##isa(int64_t r0, int64_t r1, int64_t d, const float *x,             \
                                 const float *dy, const float *mean, const float *rstd,         \
                                 const float *gamma, float *dx, int overwrite);                 \
    void nb__norm_param_cols_##isa(int64_t rows, int64_t j0, int64_t j1, int64_t d,             \
                                   const float *x, const float *dy, const float *mean,          \
                                   const float *rstd, float *dgamma, float *dbeta);
NB__NORM_DECLARE(portable)
NB__NORM_DECLARE(avx2)
#undef NB__NORM_DECLARE

#endif
