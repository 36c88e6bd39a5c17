/* kernels/softmax.c — softmax, log-softmax and fused cross-entropy. The
 * scalar loops are the reference (exponential sums in double); contiguous rows
 * (inner == 1) go to the AVX2 / AVX-512 row kernels when the dispatch path has
 * them, and rows are split across threads above a size threshold — each row
 * is computed the same way whichever thread takes it, so results do not
 * depend on the thread count. */
#include <math.h>

#include "kernels/elementwise.h"
#include "kernels/kernels.h"
#include "kernels/softmax.h"

/* The row kernels of one dispatch path (all NULL on the scalar path). */
typedef struct {
    float (*max)(const float *, int64_t);
    float (*exp_sum)(const float *, int64_t, float, float *);
    void (*scale)(const float *, int64_t, float, float *);
    void (*sub)(const float *, int64_t, float, float *);
    float (*dot)(const float *, const float *, int64_t);
    float (*sum)(const float *, int64_t);
    void (*softmax_bwd)(const float *, const float *, int64_t, float, float *);
    void (*log_softmax_bwd)(const float *, const float *, int64_t, float, float *);
    void (*xent_grad)(const float *, int64_t, float, float, float, float *);
} row_fns;

static row_fns pick(void) {
    row_fns f = {0};
#ifdef NB__EW_HAVE_SIMD
#define NB__ROW_FNS(isa)                                                                       \
    f = (row_fns){nb__ew_max_##isa,   nb__ew_exp_sum_##isa,         nb__ew_scale_##isa,        \
                  nb__ew_sub_##isa,   nb__ew_dot_##isa,             nb__ew_sum_##isa,          \
                  nb__ew_softmax_bwd_##isa, nb__ew_log_softmax_bwd_##isa, nb__ew_xent_grad_##isa}
    switch (nb__cpu_path()) {
    case NB_CPU_AVX512: NB__ROW_FNS(avx512); break;
    case NB_CPU_AVX2: NB__ROW_FNS(avx2); break;
    default: break;
    }
#undef NB__ROW_FNS
#endif
    return f;
}

/* Threads for `rows` rows of n elements each costing about `cost` operations. */
static int row_threads(int64_t rows, int64_t n, double cost) {
    if (rows < 2) return 1;
    return nb__threads_for((double)rows * (double)n * cost, NB_EW_MIN_PER_THREAD);
}

/* log-sum-exp of a contiguous row with the vector kernels; an all −inf row
 * (or a +inf / NaN maximum) is left to produce inf/NaN like the scalar path */
static float row_lse(const row_fns *f, const float *x, int64_t n) {
    const float m = f->max(x, n);
    if (isnan(m)) return m;
    if (isinf(m)) return m < 0 ? m : NAN; /* the scalar path's inf − inf */
    return m + logf(f->exp_sum(x, n, m, NULL));
}

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
    const row_fns f = pick();
    if (f.max && inner == 1) {
        const int nt = row_threads(outer, n, 8.0);
        NB__EW_PARALLEL_FOR(o, outer, {
            const float *xr = x + o * n;
            float *yr = y + o * n;
            const float m = f.max(xr, n);
            const float s = f.exp_sum(xr, n, m, yr);
            f.scale(yr, n, 1.0f / s, yr);
        });
        return;
    }
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
    const row_fns f = pick();
    if (f.max && inner == 1) {
        const int nt = row_threads(outer, n, 8.0);
        NB__EW_PARALLEL_FOR(o, outer,
                            f.sub(x + o * n, n, row_lse(&f, x + o * n, n), y + o * n));
        return;
    }
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
    const row_fns f = pick();
    if (f.max && inner == 1 && n > 0) {
        const int nt = row_threads(outer, n, 2.0);
        NB__EW_PARALLEL_FOR(o, outer, {
            const int64_t b = o * n;
            f.softmax_bwd(y + b, dy + b, n, f.dot(dy + b, y + b, n), dx + b);
        });
        return;
    }
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
    const row_fns f = pick();
    if (f.max && inner == 1 && n > 0) {
        const int nt = row_threads(outer, n, 8.0);
        NB__EW_PARALLEL_FOR(o, outer, {
            const int64_t b = o * n;
            f.log_softmax_bwd(y + b, dy + b, n, f.sum(dy + b, n), dx + b);
        });
        return;
    }
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

/* Σ_r of −Σ_c q_c (z_c − lse) = lse − (1 − eps)·z_y − (eps/C)·Σ_c z_c, since
 * Σ q = 1: summed serially in double in row order, after the row lse are
 * known, so the total does not depend on threads. */
static double xent_total(const float *z, const float *labels, int64_t rows, int64_t C, float eps,
                         const float *lse) {
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *zr = z + r * C;
        int64_t y = (int64_t)labels[r];
        double loss = (double)lse[r] - (1.0 - (double)eps) * zr[y];
        if (eps != 0.0f) {
            double sz = 0.0;
            for (int64_t c = 0; c < C; c++) sz += zr[c];
            loss -= (double)eps / (double)C * sz;
        }
        total += loss;
    }
    return total;
}

double nb_k_cross_entropy(const float *z, const float *labels, int64_t rows, int64_t C,
                          float eps, float *lse) {
    const row_fns f = pick();
    const int nt = row_threads(rows, C, 8.0);
    NB__EW_PARALLEL_FOR(r, rows, {
        const float *zr = z + r * C;
        lse[r] = f.max && C > 0 ? row_lse(&f, zr, C) : slice_lse(zr, C, 1);
    });
    return xent_total(z, labels, rows, C, eps, lse);
}

/* dz[r] += scale·(exp(z[r] − lse) − eps/C), then the label's −scale·(1 − eps) */
static void xent_grad_row(const row_fns *f, const float *zr, float label, int64_t C, float lse,
                          float eps, float scale, float *dr) {
    const float off = eps / (float)C;
    if (f->xent_grad) f->xent_grad(zr, C, lse, scale, off, dr);
    else
        for (int64_t c = 0; c < C; c++) dr[c] += scale * (expf(zr[c] - lse) - off);
    dr[(int64_t)label] -= scale * (1.0f - eps);
}

void nb_k_cross_entropy_backward(const float *z, const float *labels, const float *lse,
                                 int64_t rows, int64_t C, float eps, float scale, float *dz) {
    const row_fns f = pick();
    const int nt = row_threads(rows, C, 8.0);
    NB__EW_PARALLEL_FOR(r, rows,
                        xent_grad_row(&f, z + r * C, labels[r], C, lse[r], eps, scale, dz + r * C));
}

double nb_k_cross_entropy_fused(const float *z, const float *labels, int64_t rows, int64_t C,
                                float eps, float scale, float *lse, float *dz) {
    const row_fns f = pick();
    const int nt = row_threads(rows, C, 16.0);
    NB__EW_PARALLEL_FOR(r, rows, {
        const float *zr = z + r * C;
        lse[r] = f.max && C > 0 ? row_lse(&f, zr, C) : slice_lse(zr, C, 1);
        xent_grad_row(&f, zr, labels[r], C, lse[r], eps, scale, dz + r * C);
    });
    return xent_total(z, labels, rows, C, eps, lse);
}
