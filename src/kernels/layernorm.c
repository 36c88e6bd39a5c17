/* kernels/layernorm.c — layer and RMS normalisation over rows: the driver
 * (CPU dispatch between the portable and AVX2 builds of layernorm_body.inc,
 * rows split over threads, the gamma/beta gradients split by columns) and the
 * portable build. Every row and every column sum is computed the same way
 * whichever thread takes it, so results do not depend on the thread count. */
#include <math.h>
#include <omp.h>

#include "kernels/kernels.h"
#include "kernels/layernorm.h"

#define LN_NAME(x) x##portable
#include "kernels/layernorm_body.inc"

/* Rows per thread worth a fork: about 32k element operations. */
#define LN_MIN_WORK 32768.0

typedef struct {
    void (*fwd)(int64_t, int64_t, int64_t, const float *, const float *, const float *, float,
                float *, float *, float *);
    void (*bwd)(int64_t, int64_t, int64_t, const float *, const float *, const float *,
                const float *, const float *, float *, int);
    void (*cols)(int64_t, int64_t, int64_t, int64_t, const float *, const float *,
                 const float *, const float *, float *, float *);
} norm_fns;

static norm_fns pick(void) {
#if defined(__x86_64__)
    if (nb__cpu_avx2())
        return (norm_fns){nb__norm_fwd_rows_avx2, nb__norm_bwd_rows_avx2, nb__norm_param_cols_avx2};
#endif
    return (norm_fns){nb__norm_fwd_rows_portable, nb__norm_bwd_rows_portable,
                      nb__norm_param_cols_portable};
}

/* [lo, hi) of part t of T of n items, an even contiguous split */
static void part(int64_t n, int t, int T, int64_t *lo, int64_t *hi) {
    *lo = n * t / T;
    *hi = n * (t + 1) / T;
}

static void norm_forward(int64_t rows, int64_t d, const float *x, const float *gamma,
                         const float *beta, float eps, float *y, float *mean, float *rstd) {
    const norm_fns f = pick();
    const int T = nb__threads_for((double)rows * (double)d * 4.0, LN_MIN_WORK);
    if (T <= 1) {
        f.fwd(0, rows, d, x, gamma, beta, eps, y, mean, rstd);
        return;
    }
#pragma omp parallel num_threads(T)
    {
        int64_t lo, hi;
        part(rows, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        f.fwd(lo, hi, d, x, gamma, beta, eps, y, mean, rstd);
    }
}

static void norm_backward(int64_t rows, int64_t d, const float *x, const float *dy,
                          const float *mean, const float *rstd, const float *gamma, float *dx,
                          int overwrite, float *dgamma, float *dbeta) {
    const norm_fns f = pick();
    const int T = nb__threads_for((double)rows * (double)d * 8.0, LN_MIN_WORK);
    const int has_cols = dgamma || dbeta;
    if (T <= 1) {
        if (dx) f.bwd(0, rows, d, x, dy, mean, rstd, gamma, dx, overwrite);
        if (has_cols) f.cols(rows, 0, d, d, x, dy, mean, rstd, dgamma, dbeta);
        return;
    }
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t lo, hi;
        if (dx) {
            part(rows, t, nt, &lo, &hi);
            f.bwd(lo, hi, d, x, dy, mean, rstd, gamma, dx, overwrite);
        }
        if (has_cols) {
            /* column blocks of whole 16-float lines, so threads share no line */
            const int64_t lines = (d + 15) / 16;
            part(lines, t, nt, &lo, &hi);
            lo *= 16;
            hi = hi * 16 < d ? hi * 16 : d;
            if (lo < hi) f.cols(rows, lo, hi, d, x, dy, mean, rstd, dgamma, dbeta);
        }
    }
}

void nb_k_layer_norm_forward(int64_t rows, int64_t d, const float *x, const float *gamma,
                             const float *beta, float eps, float *y, float *mean, float *rstd) {
    norm_forward(rows, d, x, gamma, beta, eps, y, mean, rstd);
}

void nb_k_layer_norm_backward(int64_t rows, int64_t d, const float *x, const float *dy,
                              const float *mean, const float *rstd, const float *gamma,
                              float *dx, int overwrite, float *dgamma, float *dbeta) {
    norm_backward(rows, d, x, dy, mean, rstd, gamma, dx, overwrite, dgamma, dbeta);
}

void nb_k_rms_norm_forward(int64_t rows, int64_t d, const float *x, const float *gamma,
                           float eps, float *y, float *rstd) {
    norm_forward(rows, d, x, gamma, NULL, eps, y, NULL, rstd);
}

void nb_k_rms_norm_backward(int64_t rows, int64_t d, const float *x, const float *dy,
                            const float *rstd, const float *gamma, float *dx, int overwrite,
                            float *dgamma) {
    norm_backward(rows, d, x, dy, NULL, rstd, gamma, dx, overwrite, dgamma, NULL);
}
