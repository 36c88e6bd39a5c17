/* kernels/optim.c — optimizer update loops and the gradient reductions used
 * by clipping and non-finite checks. Each loop is branch-free per element
 * (options are hoisted into separate loops) so compilers vectorise it; the
 * float operations follow ATen's order (add with alpha: a + alpha·b, addcmul:
 * a + (s·b)·c, addcdiv: a + (s·b)/c) so results track PyTorch's. */
#include <math.h>

#include "kernels/optim.h"

void nb_k_sgd(float *restrict p, const float *restrict g, float *restrict buf, int64_t n,
              float neg_lr, float wd, float momentum, float damp1, int nesterov, int first) {
    if (!buf) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            p[i] = p[i] + neg_lr * d;
        }
        return;
    }
    if (first) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) buf[i] = g[i] + wd * p[i];
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            buf[i] = buf[i] * momentum + damp1 * d;
        }
    }
    if (nesterov) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            d = d + momentum * buf[i];
            p[i] = p[i] + neg_lr * d;
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) p[i] = p[i] + neg_lr * buf[i];
    }
}

void nb_k_adam(float *restrict p, const float *restrict g, float *restrict m,
               float *restrict v, float *restrict vmax, int64_t n, float wd, float decay,
               float beta1, float one_m_beta1, float beta2, float one_m_beta2,
               float bc2_sqrt, float eps, float neg_step) {
    if (decay != 1.0f) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) p[i] = p[i] * decay;
    }
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        m[i] = m[i] * beta1 + one_m_beta1 * d;
        v[i] = v[i] * beta2 + (one_m_beta2 * d) * d;
    }
    if (vmax) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            vmax[i] = vmax[i] > v[i] ? vmax[i] : v[i];
            float den = sqrtf(vmax[i]) / bc2_sqrt + eps;
            p[i] = p[i] + (neg_step * m[i]) / den;
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float den = sqrtf(v[i]) / bc2_sqrt + eps;
            p[i] = p[i] + (neg_step * m[i]) / den;
        }
    }
}

void nb_k_rmsprop(float *restrict p, const float *restrict g, float *restrict sq,
                  float *restrict gavg, float *restrict buf, int64_t n, float wd, float alpha,
                  float one_m_alpha, float eps, float momentum, float neg_lr) {
    /* the denominator is recomputed in the second pass instead of stored, so
     * the step needs no scratch memory */
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        sq[i] = sq[i] * alpha + (one_m_alpha * d) * d;
    }
    if (gavg) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            gavg[i] = gavg[i] * alpha + one_m_alpha * d;
        }
    }
    if (buf) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            float c = gavg ? sq[i] + (-1.0f * gavg[i]) * gavg[i] : sq[i];
            float avg = sqrtf(c) + eps;
            buf[i] = buf[i] * momentum + (1.0f * d) / avg;
            p[i] = p[i] + neg_lr * buf[i];
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            float c = gavg ? sq[i] + (-1.0f * gavg[i]) * gavg[i] : sq[i];
            float avg = sqrtf(c) + eps;
            p[i] = p[i] + (neg_lr * d) / avg;
        }
    }
}

void nb_k_adagrad(float *restrict p, const float *restrict g, float *restrict sum, int64_t n,
                  float wd, float eps, float neg_clr) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        sum[i] = sum[i] + (1.0f * d) * d;
        float std = sqrtf(sum[i]) + eps;
        p[i] = p[i] + (neg_clr * d) / std;
    }
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
