/* kernels/softmax.c — scalar reference implementations of softmax,
 * log-softmax and fused cross-entropy. The exponential sums are accumulated in
 * double so long rows lose nothing; a vectorised pass may replace these. */
#include <math.h>

#include "kernels/softmax.h"

/* max and log Σ exp(x − max) of one strided slice: log-sum-exp = m + log s. */
static float slice_lse(const float *x, int64_t n, int64_t stride) {
    float m = x[0];
    for (int64_t k = 1; k < n; k++)
        if (x[k * stride] > m) m = x[k * stride];
    /* all −inf (or an empty row): leave it to produce NaN like PyTorch, but
     * avoid −inf − −inf turning a finite row into NaN */
    if (isinf(m) && m < 0) return m;
    double s = 0.0;
    for (int64_t k = 0; k < n; k++) s += exp((double)(x[k * stride] - m));
    return m + (float)log(s);
}

void nb_k_softmax(const float *x, int64_t outer, int64_t n, int64_t inner, float *y) {
    if (n <= 0) return;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xs = x + o * n * inner + i;
            float *ys = y + o * n * inner + i;
            float m = xs[0];
            for (int64_t k = 1; k < n; k++)
                if (xs[k * inner] > m) m = xs[k * inner];
            double s = 0.0;
            for (int64_t k = 0; k < n; k++) {
                float e = expf(xs[k * inner] - m);
                ys[k * inner] = e;
                s += e;
            }
            float inv = (float)(1.0 / s);
            for (int64_t k = 0; k < n; k++) ys[k * inner] *= inv;
        }
}

void nb_k_log_softmax(const float *x, int64_t outer, int64_t n, int64_t inner, float *y) {
    if (n <= 0) return;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xs = x + o * n * inner + i;
            float *ys = y + o * n * inner + i;
            float lse = slice_lse(xs, n, inner);
            for (int64_t k = 0; k < n; k++) ys[k * inner] = xs[k * inner] - lse;
        }
}

void nb_k_softmax_backward(const float *y, const float *dy, int64_t outer, int64_t n,
                           int64_t inner, float *dx) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            double dot = 0.0;
            for (int64_t k = 0; k < n; k++)
                dot += (double)dy[base + k * inner] * y[base + k * inner];
            float d = (float)dot;
            for (int64_t k = 0; k < n; k++) {
                int64_t j = base + k * inner;
                dx[j] += y[j] * (dy[j] - d);
            }
        }
}

void nb_k_log_softmax_backward(const float *y, const float *dy, int64_t outer, int64_t n,
                               int64_t inner, float *dx) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            double s = 0.0;
            for (int64_t k = 0; k < n; k++) s += dy[base + k * inner];
            float sf = (float)s;
            for (int64_t k = 0; k < n; k++) {
                int64_t j = base + k * inner;
                dx[j] += dy[j] - expf(y[j]) * sf;
            }
        }
}

/* −Σ_c q_c (z_c − lse) = lse − (1 − eps)·z_y − (eps/C)·Σ_c z_c, since Σ q = 1. */
double nb_k_cross_entropy(const float *z, const float *labels, int64_t rows, int64_t C,
                          float eps, float *lse) {
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *zr = z + r * C;
        float l = slice_lse(zr, C, 1);
        lse[r] = l;
        int64_t y = (int64_t)labels[r];
        double loss = (double)l - (1.0 - (double)eps) * zr[y];
        if (eps != 0.0f) {
            double sz = 0.0;
            for (int64_t c = 0; c < C; c++) sz += zr[c];
            loss -= (double)eps / (double)C * sz;
        }
        total += loss;
    }
    return total;
}

void nb_k_cross_entropy_backward(const float *z, const float *labels, const float *lse,
                                 int64_t rows, int64_t C, float eps, float scale, float *dz) {
    float off = eps / (float)C;
    for (int64_t r = 0; r < rows; r++) {
        const float *zr = z + r * C;
        float *dr = dz + r * C;
        for (int64_t c = 0; c < C; c++) dr[c] += scale * (expf(zr[c] - lse[r]) - off);
        dr[(int64_t)labels[r]] -= scale * (1.0f - eps);
    }
}
