/* kernels/reduce.c — scalar reference implementations of the reductions:
 * pairwise summation (deterministic, error O(log n)), first-index maxima, and
 * the scatters used by their gradients. */
#include <math.h>

#include "kernels/reduce.h"

/* Below this many elements a block is summed directly, with eight interleaved
 * partial sums (a shape a vectoriser keeps; the order is still fixed). */
#define NB_SUM_BLOCK 128

static float sum_block(const float *x, int64_t n, int64_t stride) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[(i + j) * stride];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) s += x[i * stride];
    return s;
}

static float sum_pairwise(const float *x, int64_t n, int64_t stride) {
    if (n <= NB_SUM_BLOCK) return sum_block(x, n, stride);
    /* split at a multiple of the block so the tree does not depend on alignment */
    int64_t half = (n / 2 + NB_SUM_BLOCK - 1) / NB_SUM_BLOCK * NB_SUM_BLOCK;
    return sum_pairwise(x, half, stride) + sum_pairwise(x + half * stride, n - half, stride);
}

float nb_k_sum(const float *x, int64_t n) {
    return n > 0 ? sum_pairwise(x, n, 1) : 0.0f;
}

void nb_k_sum_axis(const float *x, int64_t outer, int64_t n, int64_t inner, float *out) {
    for (int64_t o = 0; o < outer; o++) {
        const float *xo = x + o * n * inner;
        for (int64_t i = 0; i < inner; i++)
            out[o * inner + i] = n > 0 ? sum_pairwise(xo + i, n, inner) : 0.0f;
    }
}

/* Whether v should replace the current maximum m: strictly larger (so ties
 * keep the first), or a NaN arriving while m is not NaN. */
static inline int max_takes(float v, float m) {
    return v > m || (isnan(v) && !isnan(m));
}

float nb_k_max(const float *x, int64_t n, int64_t *arg) {
    float m = x[0];
    int64_t a = 0;
    for (int64_t i = 1; i < n; i++)
        if (max_takes(x[i], m)) {
            m = x[i];
            a = i;
        }
    *arg = a;
    return m;
}

void nb_k_max_axis(const float *x, int64_t outer, int64_t n, int64_t inner, float *out,
                   int64_t *arg) {
    for (int64_t o = 0; o < outer; o++) {
        const float *xo = x + o * n * inner;
        float *mo = out + o * inner;
        int64_t *ao = arg + o * inner;
        for (int64_t i = 0; i < inner; i++) {
            mo[i] = xo[i];
            ao[i] = 0;
        }
        for (int64_t k = 1; k < n; k++) {
            const float *row = xo + k * inner;
            for (int64_t i = 0; i < inner; i++)
                if (max_takes(row[i], mo[i])) {
                    mo[i] = row[i];
                    ao[i] = k;
                }
        }
    }
}

void nb_k_spread_axis_add(const float *dout, int64_t outer, int64_t n, int64_t inner,
                          float scale, float *dx) {
    for (int64_t o = 0; o < outer; o++) {
        const float *g = dout + o * inner;
        for (int64_t k = 0; k < n; k++) {
            float *d = dx + (o * n + k) * inner;
            for (int64_t i = 0; i < inner; i++) d[i] += scale * g[i];
        }
    }
}

void nb_k_max_axis_backward(const float *dout, const int64_t *arg, int64_t outer, int64_t n,
                            int64_t inner, float *dx) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t j = o * inner + i;
            dx[(o * n + arg[j]) * inner + i] += dout[j];
        }
}
