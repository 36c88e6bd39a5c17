/* kernels/layernorm.c — layer and RMS normalisation over rows: two-pass
 * statistics, the normalising map, and the fused backward. Rows run in
 * parallel; the gamma/beta gradients are column sums taken in row order, so
 * results do not depend on the thread count. */
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/layernorm.h"

/* Rows per thread worth a fork: about 32k element operations. */
#define LN_MIN_WORK 32768.0

/* Sums in 8 interleaved lanes combined in a fixed order: vectorisable without
 * reassociation flags, and closer to exact than one running float sum. */
static float row_sum(const float *x, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += x[i + l];
    for (int l = 0; i < n; i++, l++) acc[l] += x[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Σ (x − c)² */
static float row_sqdev(const float *x, float c, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            const float t = x[i + l] - c;
            acc[l] += t * t;
        }
    for (int l = 0; i < n; i++, l++) {
        const float t = x[i] - c;
        acc[l] += t * t;
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Σ g·(x − c)·dy·gamma (gamma NULL: 1) and Σ dy·gamma, the two sums of the
 * layer-norm backward, in one pass. */
static void row_bwd_sums(const float *x, const float *dy, const float *gamma, float c, float r,
                         int64_t n, float *s_g, float *s_gx) {
    float a[8] = {0}, b[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            const float g = gamma ? dy[i + l] * gamma[i + l] : dy[i + l];
            a[l] += g;
            b[l] += g * ((x[i + l] - c) * r);
        }
    for (int l = 0; i < n; i++, l++) {
        const float g = gamma ? dy[i] * gamma[i] : dy[i];
        a[l] += g;
        b[l] += g * ((x[i] - c) * r);
    }
    *s_g = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    *s_gx = ((b[0] + b[4]) + (b[1] + b[5])) + ((b[2] + b[6]) + (b[3] + b[7]));
}

void nb_k_layer_norm_forward(int64_t rows, int64_t d, const float *x, const float *gamma,
                             const float *beta, float eps, float *y, float *mean, float *rstd) {
    const int T = nb__threads_for((double)rows * (double)d * 4.0, LN_MIN_WORK);
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        const float m = row_sum(xr, d) / (float)d;
        const float var = row_sqdev(xr, m, d) / (float)d;
        const float s = (float)(1.0 / sqrt((double)var + (double)eps));
        mean[r] = m;
        rstd[r] = s;
        if (gamma && beta)
            for (int64_t j = 0; j < d; j++) yr[j] = (xr[j] - m) * s * gamma[j] + beta[j];
        else if (gamma)
            for (int64_t j = 0; j < d; j++) yr[j] = (xr[j] - m) * s * gamma[j];
        else if (beta)
            for (int64_t j = 0; j < d; j++) yr[j] = (xr[j] - m) * s + beta[j];
        else
            for (int64_t j = 0; j < d; j++) yr[j] = (xr[j] - m) * s;
    }
}

void nb_k_layer_norm_backward(int64_t rows, int64_t d, const float *x, const float *dy,
                              const float *mean, const float *rstd, const float *gamma,
                              float *dx, float *dgamma, float *dbeta) {
    if (dx) {
        const int T = nb__threads_for((double)rows * (double)d * 6.0, LN_MIN_WORK);
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * d, *gr = dy + r * d;
            float *dxr = dx + r * d;
            const float m = mean[r], s = rstd[r];
            float s_g, s_gx;
            row_bwd_sums(xr, gr, gamma, m, s, d, &s_g, &s_gx);
            const float mg = s_g / (float)d, mgx = s_gx / (float)d;
            if (gamma)
                for (int64_t j = 0; j < d; j++)
                    dxr[j] += s * (gr[j] * gamma[j] - mg - (xr[j] - m) * s * mgx);
            else
                for (int64_t j = 0; j < d; j++) dxr[j] += s * (gr[j] - mg - (xr[j] - m) * s * mgx);
        }
    }
    /* Column sums in row order: vectorised over d, deterministic. */
    for (int64_t r = 0; r < rows && (dgamma || dbeta); r++) {
        const float *xr = x + r * d, *gr = dy + r * d;
        const float m = mean[r], s = rstd[r];
        if (dgamma)
            for (int64_t j = 0; j < d; j++) dgamma[j] += gr[j] * ((xr[j] - m) * s);
        if (dbeta)
            for (int64_t j = 0; j < d; j++) dbeta[j] += gr[j];
    }
}

void nb_k_rms_norm_forward(int64_t rows, int64_t d, const float *x, const float *gamma,
                           float eps, float *y, float *rstd) {
    const int T = nb__threads_for((double)rows * (double)d * 3.0, LN_MIN_WORK);
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        const float ms = row_sqdev(xr, 0.0f, d) / (float)d;
        const float s = (float)(1.0 / sqrt((double)ms + (double)eps));
        rstd[r] = s;
        if (gamma)
            for (int64_t j = 0; j < d; j++) yr[j] = xr[j] * s * gamma[j];
        else
            for (int64_t j = 0; j < d; j++) yr[j] = xr[j] * s;
    }
}

void nb_k_rms_norm_backward(int64_t rows, int64_t d, const float *x, const float *dy,
                            const float *rstd, const float *gamma, float *dx, float *dgamma) {
    if (dx) {
        const int T = nb__threads_for((double)rows * (double)d * 5.0, LN_MIN_WORK);
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * d, *gr = dy + r * d;
            float *dxr = dx + r * d;
            const float s = rstd[r];
            float s_g, s_gx;
            row_bwd_sums(xr, gr, gamma, 0.0f, s, d, &s_g, &s_gx);
            const float mgx = s_gx / (float)d;
            if (gamma)
                for (int64_t j = 0; j < d; j++) dxr[j] += s * (gr[j] * gamma[j] - xr[j] * s * mgx);
            else
                for (int64_t j = 0; j < d; j++) dxr[j] += s * (gr[j] - xr[j] * s * mgx);
        }
    }
    if (dgamma)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * d, *gr = dy + r * d;
            const float s = rstd[r];
            for (int64_t j = 0; j < d; j++) dgamma[j] += gr[j] * (xr[j] * s);
        }
}
