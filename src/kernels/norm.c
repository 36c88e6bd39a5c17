/* kernels/norm.c — batch-normalisation loops. Channels are independent, so
 * they split over threads; per-channel sums are in double and in a fixed
 * order, so results do not depend on the thread count. On one thread no
 * OpenMP construct is entered (NB__EW_PARALLEL_FOR). */
#include <stddef.h>

#include "kernels/elementwise.h"
#include "kernels/kernels.h"
#include "kernels/norm.h"

#define MIN_ELEMS_PER_THREAD 32768.0

/* The loops every variant shares, one channel at a time; keeping them in one
 * place keeps the synchronised path bit-identical to the plain one. */

/* Σx and the centred Σ(x-μ)² of channel ch (two passes, in double). */
static inline void channel_moments(int64_t n, int64_t c, int64_t inner, const float *x, int64_t ch,
                                   double *sum, double *centred) {
    const int64_t m = n * inner;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *p = x + (i * c + ch) * inner;
        for (int64_t q = 0; q < inner; q++) s += p[q];
    }
    const double mu = m > 0 ? s / (double)m : 0.0;
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *p = x + (i * c + ch) * inner;
        for (int64_t q = 0; q < inner; q++) {
            const double d = p[q] - mu;
            ss += d * d;
        }
    }
    *sum = s;
    *centred = ss;
}

/* Σdy and Σdy·x̂ of channel ch. */
static inline void channel_dy_sums(int64_t n, int64_t c, int64_t inner, const float *x, const float *dy,
                                   int64_t ch, float mu, float is, double *sdy_out, double *sdyx_out) {
    double sdy = 0.0, sdyx = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *p = x + (i * c + ch) * inner, *g = dy + (i * c + ch) * inner;
        for (int64_t q = 0; q < inner; q++) {
            sdy += g[q];
            sdyx += (double)g[q] * ((p[q] - mu) * is);
        }
    }
    *sdy_out = sdy;
    *sdyx_out = sdyx;
}

/* dx += k·(dy − mdy − x̂·mdyx) over channel ch. */
static inline void channel_dx(int64_t n, int64_t c, int64_t inner, const float *x, const float *dy,
                              int64_t ch, float mu, float is, float k, float mdy, float mdyx, float *dx) {
    for (int64_t i = 0; i < n; i++) {
        const float *p = x + (i * c + ch) * inner, *g = dy + (i * c + ch) * inner;
        float *d = dx + (i * c + ch) * inner;
        for (int64_t q = 0; q < inner; q++) d[q] += k * (g[q] - mdy - (p[q] - mu) * is * mdyx);
    }
}

void nb_k_bn_stats(int64_t n, int64_t c, int64_t inner, const float *x, float *mean, float *var) {
    const int64_t m = n * inner;
    const int nt = nb__threads_for(2.0 * (double)(n * c * inner), MIN_ELEMS_PER_THREAD);
    NB__EW_PARALLEL_FOR(ch, c, {
        double s, ss;
        channel_moments(n, c, inner, x, ch, &s, &ss);
        mean[ch] = (float)(m > 0 ? s / (double)m : 0.0);
        var[ch] = m > 0 ? (float)(ss / (double)m) : 0.0f;
    });
}

void nb_k_bn_apply(int64_t n, int64_t c, int64_t inner, const float *x, const float *mean,
                   const float *invstd, const float *gamma, const float *beta, float *y) {
    const int nt = nb__threads_for((double)(n * c * inner), MIN_ELEMS_PER_THREAD);
    /* task t is sample t / c, channel t % c: one contiguous run of inner values */
    NB__EW_PARALLEL_FOR(t, n * c, {
        const int64_t ch = t % c;
        const float scale = invstd[ch] * (gamma ? gamma[ch] : 1.0f);
        const float shift = (beta ? beta[ch] : 0.0f) - mean[ch] * scale;
        const float *p = x + t * inner;
        float *q = y + t * inner;
        for (int64_t k = 0; k < inner; k++) q[k] = p[k] * scale + shift;
    });
}

void nb_k_bn_backward(int64_t n, int64_t c, int64_t inner, const float *x, const float *dy,
                      const float *mean, const float *invstd, const float *gamma,
                      int batch_stats, float *dx, float *dgamma, float *dbeta) {
    const int64_t m = n * inner;
    const int nt = nb__threads_for(3.0 * (double)(n * c * inner), MIN_ELEMS_PER_THREAD);
    NB__EW_PARALLEL_FOR(ch, c, {
        const float mu = mean[ch], is = invstd[ch];
        double sdy, sdyx;
        channel_dy_sums(n, c, inner, x, dy, ch, mu, is, &sdy, &sdyx);
        if (dgamma) dgamma[ch] += (float)sdyx;
        if (dbeta) dbeta[ch] += (float)sdy;
        if (dx) {
            const float k = is * (gamma ? gamma[ch] : 1.0f);
            const float mdy = batch_stats ? (float)(sdy / (double)m) : 0.0f;
            const float mdyx = batch_stats ? (float)(sdyx / (double)m) : 0.0f;
            channel_dx(n, c, inner, x, dy, ch, mu, is, k, mdy, mdyx, dx);
        }
    });
}

/* Synchronised batch norm (ops/norm.c): the per-process pieces. The loops
 * are those of nb_k_bn_stats and nb_k_bn_backward, in the same order, so one
 * process with an identity sum reproduces the unsynchronised bits. */
void nb_k_bn_sums(int64_t n, int64_t c, int64_t inner, const float *x, double *sums) {
    const int64_t m = n * inner;
    const int nt = nb__threads_for(2.0 * (double)(n * c * inner), MIN_ELEMS_PER_THREAD);
    NB__EW_PARALLEL_FOR(ch, c, {
        double s, ss;
        channel_moments(n, c, inner, x, ch, &s, &ss);
        const double mu = m > 0 ? s / (double)m : 0.0;
        sums[3 * ch] = s;
        sums[3 * ch + 1] = ss;
        sums[3 * ch + 2] = (double)m * mu * mu;
    });
}

void nb_k_bn_backward_sums(int64_t n, int64_t c, int64_t inner, const float *x, const float *dy,
                           const float *mean, const float *invstd, double *sums) {
    const int nt = nb__threads_for(2.0 * (double)(n * c * inner), MIN_ELEMS_PER_THREAD);
    NB__EW_PARALLEL_FOR(ch, c, {
        channel_dy_sums(n, c, inner, x, dy, ch, mean[ch], invstd[ch], &sums[2 * ch], &sums[2 * ch + 1]);
    });
}

void nb_k_bn_backward_dx(int64_t n, int64_t c, int64_t inner, const float *x, const float *dy,
                         const float *mean, const float *invstd, const float *gamma,
                         const double *sums, double denom, float *dx) {
    if (n * inner == 0 || !(denom > 0.0)) return;
    const int nt = nb__threads_for((double)(n * c * inner), MIN_ELEMS_PER_THREAD);
    NB__EW_PARALLEL_FOR(ch, c, {
        const float mu = mean[ch], is = invstd[ch];
        const float k = is * (gamma ? gamma[ch] : 1.0f);
        const float mdy = (float)(sums[2 * ch] / denom);
        const float mdyx = (float)(sums[2 * ch + 1] / denom);
        channel_dx(n, c, inner, x, dy, ch, mu, is, k, mdy, mdyx, dx);
    });
}
