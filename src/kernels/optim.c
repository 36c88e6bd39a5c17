/* kernels/optim.c — dispatch of the optimizer update loops (portable here,
 * AVX2+FMA in optim_avx2.c; both from optim_loops.h, bit-identical) and the
 * gradient reductions used by clipping and non-finite checks. */
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/optim.h"

#define NB_OPTIM_SUFFIX _portable
#include "kernels/optim_loops.h"

/* from optim_avx2.c, only built on x86-64 */
#if defined(__x86_64__) || defined(_M_X64)
#define NB_OPT_HAVE_AVX2 1
void nb__k_sgd_avx2(float *restrict, const float *restrict, float *restrict, int64_t, float,
                    float, float, float, int, int);
void nb__k_adam_avx2(float *restrict, const float *restrict, float *restrict, float *restrict,
                     float *restrict, int64_t, float, float, float, float, float, float, float,
                     float);
void nb__k_rmsprop_avx2(float *restrict, const float *restrict, float *restrict,
                        float *restrict, float *restrict, int64_t, float, float, float, float,
                        float, float);
void nb__k_adagrad_avx2(float *restrict, const float *restrict, float *restrict, int64_t, float,
                        float, float);
#define NB_OPT_WIDE() nb__cpu_avx2()
#else
#define NB_OPT_WIDE() 0
#endif

void nb_k_sgd(float *restrict p, const float *restrict g, float *restrict buf, int64_t n,
              float neg_lr, float wd, float momentum, float damp1, int nesterov, int first) {
#ifdef NB_OPT_HAVE_AVX2
    if (NB_OPT_WIDE()) {
        nb__k_sgd_avx2(p, g, buf, n, neg_lr, wd, momentum, damp1, nesterov, first);
        return;
    }
#endif
    nb__k_sgd_portable(p, g, buf, n, neg_lr, wd, momentum, damp1, nesterov, first);
}

void nb_k_adam(float *restrict p, const float *restrict g, float *restrict m,
               float *restrict v, float *restrict vmax, int64_t n, float wd, float decay,
               float beta1, float one_m_beta1, float beta2, float one_m_beta2,
               float eps_b, float neg_step_b) {
#ifdef NB_OPT_HAVE_AVX2
    if (NB_OPT_WIDE()) {
        nb__k_adam_avx2(p, g, m, v, vmax, n, wd, decay, beta1, one_m_beta1, beta2, one_m_beta2,
                        eps_b, neg_step_b);
        return;
    }
#endif
    nb__k_adam_portable(p, g, m, v, vmax, n, wd, decay, beta1, one_m_beta1, beta2, one_m_beta2,
                        eps_b, neg_step_b);
}

void nb_k_rmsprop(float *restrict p, const float *restrict g, float *restrict sq,
                  float *restrict gavg, float *restrict buf, int64_t n, float wd, float alpha,
                  float one_m_alpha, float eps, float momentum, float neg_lr) {
#ifdef NB_OPT_HAVE_AVX2
    if (NB_OPT_WIDE()) {
        nb__k_rmsprop_avx2(p, g, sq, gavg, buf, n, wd, alpha, one_m_alpha, eps, momentum, neg_lr);
        return;
    }
#endif
    nb__k_rmsprop_portable(p, g, sq, gavg, buf, n, wd, alpha, one_m_alpha, eps, momentum, neg_lr);
}

void nb_k_adagrad(float *restrict p, const float *restrict g, float *restrict sum, int64_t n,
                  float wd, float eps, float neg_clr) {
#ifdef NB_OPT_HAVE_AVX2
    if (NB_OPT_WIDE()) {
        nb__k_adagrad_avx2(p, g, sum, n, wd, eps, neg_clr);
        return;
    }
#endif
    nb__k_adagrad_portable(p, g, sum, n, wd, eps, neg_clr);
}

double nb_k_sumsq(const float *x, int64_t n) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

void nb_k_scale(float *x, int64_t n, float s) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

void nb_k_clamp(float *x, int64_t n, float lo, float hi) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        v = v < lo ? lo : v;
        x[i] = v > hi ? hi : v;
    }
}

int64_t nb_k_first_nonfinite(const float *x, int64_t n) {
    /* a cheap vectorisable screen first: x·0 is 0 for finite x and NaN otherwise */
    const int64_t block = 1024;
    for (int64_t b = 0; b < n; b += block) {
        int64_t e = b + block < n ? b + block : n;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = b; i < e; i++) acc += x[i] * 0.0f;
        if (acc != 0.0f || acc != acc) {
            for (int64_t i = b; i < e; i++)
                if (!isfinite(x[i])) return i;
        }
    }
    return -1;
}
