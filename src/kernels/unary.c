/* kernels/unary.c — the elementwise unary maps and their derivatives: scalar
 * reference loops (the portable path), dispatch to the AVX2 / AVX-512 bodies in
 * elementwise_*.c, and OpenMP over contiguous chunks for large arrays. */
#include <math.h>
#include <string.h>

#include "kernels/elementwise.h"
#include "kernels/kernels.h"
#include "kernels/unary.h"

#define NB_SQRT1_2 0.70710678118654752440f      /* 1/√2 */
#define NB_INV_SQRT_2PI 0.39894228040143267794f /* 1/√(2π) */
#define NB_SQRT_2_PI 0.79788456080286535588f    /* √(2/π) */
#define NB_GELU_CUBIC 0.044715f

/* Two branches so that neither ever evaluates exp of a large positive number:
 * exp(-|x|) lies in (0, 1], so there is no overflow at any x. */
static inline float sigmoid1(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static void unary_scalar(nb_unop op, int64_t n, const float *x, float *y, float p0, float p1) {
    switch (op) {
    case NB_UN_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;
    case NB_UN_SCALE: for (int64_t i = 0; i < n; i++) y[i] = p0 * x[i]; break;
    case NB_UN_ADD_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i] + p0; break;
    case NB_UN_EXP: for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]); break;
    case NB_UN_LOG: for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]); break;
    case NB_UN_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
    case NB_UN_SQUARE: for (int64_t i = 0; i < n; i++) y[i] = x[i] * x[i]; break;
    case NB_UN_POW: for (int64_t i = 0; i < n; i++) y[i] = powf(x[i], p0); break;
    case NB_UN_ABS: for (int64_t i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
    /* Comparisons rather than fminf/fmaxf so a NaN input stays NaN, as in PyTorch. */
    case NB_UN_CLAMP:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] < p0 ? p0 : (x[i] > p1 ? p1 : x[i]);
        break;
    case NB_UN_SIGMOID: for (int64_t i = 0; i < n; i++) y[i] = sigmoid1(x[i]); break;
    case NB_UN_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
    case NB_UN_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i]; break;
    case NB_UN_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : p0 * x[i];
        break;
    /* expm1 keeps full precision for small negative x, where exp(x) - 1 cancels. */
    case NB_UN_ELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : p0 * expm1f(x[i]);
        break;
    /* 1 + erf(z) == erfc(-z), which keeps its precision in the negative tail
     * where 1 + erf(z) would cancel to zero long before the true value does.
     * Once erfc underflows (x < −14) the result is −0, also at x = −inf
     * (where the product would be −inf·0 = NaN), as on the SIMD paths. */
    case NB_UN_GELU_ERF:
        for (int64_t i = 0; i < n; i++) {
            const float c = erfcf(-x[i] * NB_SQRT1_2);
            y[i] = c == 0.0f ? -0.0f : 0.5f * x[i] * c;
        }
        break;
    case NB_UN_GELU_TANH:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float u = NB_SQRT_2_PI * (v + NB_GELU_CUBIC * v * v * v);
            y[i] = 0.5f * v * (1.0f + tanhf(u));
        }
        break;
    /* Exact softplus log(1 + e^x) written as max(x, 0) + log1p(e^-|x|): no
     * overflow for any x, and no threshold switch (PyTorch returns x for x > 20,
     * which differs from this by less than e^-20 — below float32 resolution). */
    case NB_UN_SOFTPLUS:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = (v > 0.0f ? v : 0.0f) + log1pf(expf(-fabsf(v)));
        }
        break;
    case NB_UN_COUNT: break;
    }
}

static void unary_backward_scalar(nb_unop op, int64_t n, const float *x, const float *y,
                                  const float *dy, float *dx, float p0, float p1) {
    switch (op) {
    case NB_UN_NEG: for (int64_t i = 0; i < n; i++) dx[i] -= dy[i]; break;
    case NB_UN_SCALE: for (int64_t i = 0; i < n; i++) dx[i] += p0 * dy[i]; break;
    case NB_UN_ADD_SCALAR: for (int64_t i = 0; i < n; i++) dx[i] += dy[i]; break;
    case NB_UN_EXP: for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i]; break;
    case NB_UN_LOG: for (int64_t i = 0; i < n; i++) dx[i] += dy[i] / x[i]; break;
    case NB_UN_SQRT: for (int64_t i = 0; i < n; i++) dx[i] += 0.5f * dy[i] / y[i]; break;
    case NB_UN_SQUARE: for (int64_t i = 0; i < n; i++) dx[i] += 2.0f * x[i] * dy[i]; break;
    /* p·x^(p-1) would give 0·x^-1 = NaN at x = 0 for p = 0; PyTorch defines
     * the derivative of x^0 as 0 everywhere. */
    case NB_UN_POW:
        if (p0 == 0.0f) break;
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * p0 * powf(x[i], p0 - 1.0f);
        break;
    case NB_UN_ABS:
        for (int64_t i = 0; i < n; i++)
            dx[i] += x[i] > 0.0f ? dy[i] : (x[i] < 0.0f ? -dy[i] : 0.0f);
        break;
    case NB_UN_CLAMP:
        for (int64_t i = 0; i < n; i++)
            if (x[i] >= p0 && x[i] <= p1) dx[i] += dy[i];
        break;
    case NB_UN_SIGMOID:
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    case NB_UN_TANH:
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        break;
    case NB_UN_RELU:
        for (int64_t i = 0; i < n; i++)
            if (x[i] > 0.0f) dx[i] += dy[i];
        break;
    case NB_UN_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : p0 * dy[i];
        break;
    /* From x, not from y + alpha: near x = 0⁻ the latter loses the low bits of
     * alpha·e^x to cancellation in y. */
    case NB_UN_ELU:
        for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : dy[i] * p0 * expf(x[i]);
        break;
    /* d/dx x·Φ(x) = Φ(x) + x·φ(x); 0 once φ underflows (x·φ would be
     * −inf·0 = NaN at x = −inf) */
    case NB_UN_GELU_ERF:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float cdf = 0.5f * erfcf(-v * NB_SQRT1_2);
            float pdf = NB_INV_SQRT_2PI * expf(-0.5f * v * v);
            dx[i] += dy[i] * (cdf + (pdf == 0.0f ? 0.0f : v * pdf));
        }
        break;
    /* d/dx ½x(1 + tanh u) = ½(1 + t) + ½x(1 - t²)·u', u' = √(2/π)(1 + 3c·x²) */
    case NB_UN_GELU_TANH:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float t = tanhf(NB_SQRT_2_PI * (v + NB_GELU_CUBIC * v * v * v));
            float du = NB_SQRT_2_PI * (1.0f + 3.0f * NB_GELU_CUBIC * v * v);
            dx[i] += dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
        }
        break;
    case NB_UN_SOFTPLUS:
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * sigmoid1(x[i]);
        break;
    case NB_UN_COUNT: break;
    }
}

/* ---- dispatch and threads ------------------------------------------------------ */

int nb__ew_unary_vectorised(nb_unop op) {
    switch (op) {
    case NB_UN_NEG: case NB_UN_SCALE: case NB_UN_ADD_SCALAR: case NB_UN_EXP: case NB_UN_LOG:
    case NB_UN_SQRT: case NB_UN_SQUARE: case NB_UN_ABS: case NB_UN_CLAMP: case NB_UN_SIGMOID:
    case NB_UN_TANH: case NB_UN_RELU: case NB_UN_LEAKY_RELU: case NB_UN_GELU_ERF:
    case NB_UN_GELU_TANH:
        return 1;
    default: return 0;
    }
}

typedef void (*unary_fn)(nb_unop, int64_t, const float *, float *, float, float);
typedef void (*unary_bwd_fn)(nb_unop, int64_t, const float *, const float *, const float *,
                             float *, float, float);

/* Rough cost in element-operations, so transcendental maps thread earlier. */
static double op_cost(nb_unop op) {
    switch (op) {
    case NB_UN_EXP: case NB_UN_LOG: case NB_UN_SIGMOID: case NB_UN_TANH: case NB_UN_POW:
    case NB_UN_ELU: case NB_UN_SOFTPLUS: return 8.0;
    case NB_UN_GELU_ERF: case NB_UN_GELU_TANH: return 16.0;
    default: return 1.0;
    }
}

/* Chunk t of nt over [0, n): boundaries on multiples of 16 floats (64 bytes)
 * so threads do not share cache lines of the output. Results do not depend
 * on the split: every element is computed by the same code either way. */
static void chunk(int64_t n, int nt, int t, int64_t *lo, int64_t *len) {
    int64_t per = (n + nt - 1) / nt;
    per = (per + 15) / 16 * 16;
    int64_t a = per * t, b = a + per;
    if (a > n) a = n;
    if (b > n) b = n;
    *lo = a;
    *len = b - a;
}

void nb_k_unary(nb_unop op, int64_t n, const float *x, float *y, float p0, float p1) {
    if (n <= 0) return;
    unary_fn f = unary_scalar;
#ifdef NB__EW_HAVE_SIMD
    if (nb__ew_unary_vectorised(op)) {
        const int path = nb__cpu_path();
        if (path == NB_CPU_AVX512) f = nb__ew_unary_avx512;
        else if (path == NB_CPU_AVX2) f = nb__ew_unary_avx2;
    }
#endif
    const int nt = nb__threads_for((double)n * op_cost(op), NB_EW_MIN_PER_THREAD);
    if (nt <= 1) {
        f(op, n, x, y, p0, p1);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t lo, len;
        chunk(n, nt, t, &lo, &len);
        if (len > 0) f(op, len, x + lo, y + lo, p0, p1);
    }
}

/* f over [0, n), split in 64-byte-aligned chunks over threads above the
 * threshold (accumulating and storing backward kernels alike). */
static void run_backward(unary_bwd_fn f, nb_unop op, int64_t n, const float *x, const float *y,
                         const float *dy, float *dx, float p0, float p1) {
    const int nt = nb__threads_for((double)n * op_cost(op), NB_EW_MIN_PER_THREAD);
    if (nt <= 1) {
        f(op, n, x, y, dy, dx, p0, p1);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t lo, len;
        chunk(n, nt, t, &lo, &len);
        if (len > 0) f(op, len, x + lo, y + lo, dy + lo, dx + lo, p0, p1);
    }
}

void nb_k_unary_backward(nb_unop op, int64_t n, const float *x, const float *y,
                         const float *dy, float *dx, float p0, float p1) {
    if (n <= 0) return;
    unary_bwd_fn f = unary_backward_scalar;
#ifdef NB__EW_HAVE_SIMD
    if (nb__ew_unary_vectorised(op)) {
        const int path = nb__cpu_path();
        if (path == NB_CPU_AVX512) f = nb__ew_unary_backward_avx512;
        else if (path == NB_CPU_AVX2) f = nb__ew_unary_backward_avx2;
    }
#endif
    run_backward(f, op, n, x, y, dy, dx, p0, p1);
}

void nb_k_unary_backward_store(nb_unop op, int64_t n, const float *x, const float *y,
                               const float *dy, float *dx, float p0, float p1) {
    if (n <= 0) return;
    unary_bwd_fn f = NULL;
#ifdef NB__EW_HAVE_SIMD
    if (op == NB_UN_RELU || op == NB_UN_GELU_ERF) {
        const int path = nb__cpu_path();
        if (path == NB_CPU_AVX512) f = nb__ew_unary_backward_store_avx512;
        else if (path == NB_CPU_AVX2) f = nb__ew_unary_backward_store_avx2;
    }
#endif
    if (!f) { /* the scalar path and the other ops: clear, then accumulate */
        memset(dx, 0, (size_t)n * sizeof(float));
        nb_k_unary_backward(op, n, x, y, dy, dx, p0, p1);
        return;
    }
    run_backward(f, op, n, x, y, dy, dx, p0, p1);
}
