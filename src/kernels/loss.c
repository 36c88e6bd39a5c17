/* kernels/loss.c — scalar reference implementations of the elementwise losses.
 * Sums run in double in index order, so they are deterministic and do not
 * drift with n. */
#include <math.h>

#include "kernels/loss.h"

double nb_k_sq_err_sum(const float *p, const float *t, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)p[i] - (double)t[i];
        s += d * d;
    }
    return s;
}

double nb_k_abs_err_sum(const float *p, const float *t, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)p[i] - (double)t[i]);
    return s;
}

/* max(z,0) − z·t + log1p(e^−|z|) never exponentiates a positive number, so it
 * is finite for any finite z. */
double nb_k_bce_logits_sum(const float *z, const float *t, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double zi = z[i];
        s += fmax(zi, 0.0) - zi * t[i] + log1p(exp(-fabs(zi)));
    }
    return s;
}

void nb_k_sq_err_backward(const float *p, const float *t, int64_t n, float scale, float *dp,
                          float *dt) {
    float k = 2.0f * scale;
    for (int64_t i = 0; i < n; i++) {
        float g = k * (p[i] - t[i]);
        if (dp) dp[i] += g;
        if (dt) dt[i] -= g;
    }
}

void nb_k_abs_err_backward(const float *p, const float *t, int64_t n, float scale, float *dp,
                           float *dt) {
    for (int64_t i = 0; i < n; i++) {
        float d = p[i] - t[i];
        float g = d > 0.0f ? scale : d < 0.0f ? -scale : 0.0f;
        if (dp) dp[i] += g;
        if (dt) dt[i] -= g;
    }
}

/* σ(z) in the form that does not overflow for large |z|. */
static inline float sigmoid(float z) {
    if (z >= 0.0f) return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

void nb_k_bce_logits_backward(const float *z, const float *t, int64_t n, float scale, float *dz,
                              float *dt) {
    for (int64_t i = 0; i < n; i++) {
        if (dz) dz[i] += scale * (sigmoid(z[i]) - t[i]);
        if (dt) dt[i] -= scale * z[i];
    }
}
