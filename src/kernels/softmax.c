/* kernels/softmax.c — softmax, log-softmax and fused cross-entropy. The
 * scalar loops are the reference (exponential sums in double); contiguous rows
 * (inner == 1) go to the AVX2 / AVX-512 row kernels when the dispatch path has
 * them, and rows are split across threads in contiguous blocks above a size
 * threshold — each row is computed the same way whichever thread takes it, so
 * results do not depend on the thread count. Within a block the exponential
 * sweep of one row also takes the max of the next, so that row's loads from
 * memory overlap this row's arithmetic. */
#include <math.h>

#include "kernels/elementwise.h"
#include "kernels/kernels.h"
#include "kernels/softmax.h"

/* The row kernels of one dispatch path (all NULL on the scalar path). */
typedef struct {
    float (*max)(const float *, int64_t);
    float (*exp_sum)(const float *, int64_t, float, float *);
    float (*exp_sum_next)(const float *, int64_t, float, float, float *, const float *,
                          float *, const float *, float *, const float *, float);
    void (*xent_grad_e)(const float *, int64_t, float, float, float, float *);
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
    f = (row_fns){nb__ew_max_##isa,           nb__ew_exp_sum_##isa,                             \
                  nb__ew_exp_sum_next_##isa,  nb__ew_xent_grad_e_##isa,                         \
                  nb__ew_scale_##isa,         nb__ew_sub_##isa,                                 \
                  nb__ew_dot_##isa,           nb__ew_sum_##isa,                                 \
                  nb__ew_softmax_bwd_##isa,   nb__ew_log_softmax_bwd_##isa,                     \
                  nb__ew_xent_grad_##isa}
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

/* Rows [lo, hi) of block t when `rows` rows are cut into nt contiguous blocks. */
static void row_block(int64_t rows, int nt, int t, int64_t *lo, int64_t *hi) {
    const int64_t per = (rows + nt - 1) / nt;
    *lo = per * t < rows ? per * t : rows;
    *hi = *lo + per < rows ? *lo + per : rows;
}

/* log-sum-exp from a row's max m and s = Σ exp(x − m); an all −inf row (or a
 * +inf / NaN maximum) gives inf/NaN like the scalar path */
static float lse_of(float m, float s) {
    if (isnan(m)) return m;
    if (isinf(m)) return m < 0 ? m : NAN; /* the scalar path's inf − inf */
    return m + logf(s);
}

/* log-sum-exp of one contiguous row with the vector kernels */
static float row_lse(const row_fns *f, const float *x, int64_t n) {
    const float m = f->max(x, n);
    return lse_of(m, f->exp_sum(x, n, m, NULL));
}

/* Row after row of a block: m and x_min hold the current row's max and min
 * on entry to the body (x_min NaN on the block's first row, whose max comes
 * from a pass of its own), exp_sum_next gives the next row's in next_mm
 * (`next` is NULL on the block's last row). */
#define NB__ROWS_PIPELINED(base, rows, n, ...)                                              \
    do {                                                                                    \
        int64_t lo_, hi_;                                                                   \
        row_block((rows), nt, t_, &lo_, &hi_);                                              \
        float m = lo_ < hi_ ? f.max((base) + lo_ * (n), (n)) : 0.0f, x_min = NAN;           \
        for (int64_t r = lo_; r < hi_; r++) {                                               \
            const float *next = r + 1 < hi_ ? (base) + (r + 1) * (n) : NULL;                \
            float next_mm[2] = {0.0f, 0.0f};                                                \
            __VA_ARGS__;                                                                    \
            m = next_mm[0];                                                                 \
            x_min = next_mm[1];                                                             \
        }                                                                                   \
    } while (0)

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
        if (n <= NB_SOFTMAX_STACK_ROW) {
            /* the terms go to a stack buffer (two, alternating), and each row's
             * normalised output is written from it during the next row's sweep:
             * y is written once, streaming, and memory never waits on a pass */
            NB__EW_PARALLEL_FOR(t_, nt, {
                float buf[2][NB_SOFTMAX_STACK_ROW];
                float *prev = NULL, *prev_e = NULL, inv = 0.0f;
                NB__ROWS_PIPELINED(x, outer, n, {
                    float *e = buf[r & 1];
                    const float s = f.exp_sum_next(x + r * n, n, m, x_min, e, next, next_mm,
                                                   r + 2 < hi_ ? x + (r + 2) * n : NULL, prev,
                                                   prev_e, inv);
                    prev = y + r * n;
                    prev_e = e;
                    inv = 1.0f / s;
                });
                if (prev) f.scale(prev_e, n, inv, prev);
            });
        } else {
            /* wider rows: terms in y, scaled in place during the next row's sweep */
            NB__EW_PARALLEL_FOR(t_, nt, {
                float *prev = NULL, inv = 0.0f;
                NB__ROWS_PIPELINED(x, outer, n, {
                    float *yr = y + r * n;
                    const float s = f.exp_sum_next(x + r * n, n, m, x_min, yr, next, next_mm,
                                                   NULL, prev, prev, inv);
                    prev = yr;
                    inv = 1.0f / s;
                });
                if (prev) f.scale(prev, n, inv, prev);
            });
        }
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
        NB__EW_PARALLEL_FOR(t_, nt, NB__ROWS_PIPELINED(x, outer, n, {
            const float s =
                f.exp_sum_next(x + r * n, n, m, x_min, NULL, next, next_mm, NULL, NULL, NULL, 0.0f);
            f.sub(x + r * n, n, lse_of(m, s), y + r * n);
        }));
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
    if (f.max && C > 0)
        NB__EW_PARALLEL_FOR(t_, nt, NB__ROWS_PIPELINED(z, rows, C, {
            lse[r] = lse_of(m, f.exp_sum_next(z + r * C, C, m, x_min, NULL, next, next_mm,
                                              NULL, NULL, NULL, 0.0f));
        }));
    else
        NB__EW_PARALLEL_FOR(r, rows, lse[r] = slice_lse(z + r * C, C, 1));
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

/* Rows up to NB_XENT_STACK_ROW classes keep their exponentials in a stack
 * buffer, so the fused pass evaluates exp once per logit: the gradient is then
 * scale·(e·(1/Σe) − eps/C), within a few u of the backward pass's
 * exp(z − lse) (closer to exact, in fact: lse's own rounding, up to
 * u·|lse|, no longer enters). Wider rows run forward then backward per row. */
double nb_k_cross_entropy_fused(const float *z, const float *labels, int64_t rows, int64_t C,
                                float eps, float scale, float *lse, float *dz) {
    const row_fns f = pick();
    const int nt = row_threads(rows, C, 8.0);
    if (f.max && C > 0 && C <= NB_XENT_STACK_ROW) {
        NB__EW_PARALLEL_FOR(t_, nt, {
            float e[NB_XENT_STACK_ROW];
            NB__ROWS_PIPELINED(z, rows, C, {
                const float *zr = z + r * C;
                float *dr = dz + r * C;
                /* prefetching this row's gradient readies the pass below */
                const float s = f.exp_sum_next(zr, C, m, x_min, e, next, next_mm, dr, NULL, NULL,
                                               0.0f);
                lse[r] = lse_of(m, s);
                if (isfinite(m))
                    f.xent_grad_e(e, C, 1.0f / s, scale, eps / (float)C, dr);
                else /* NaN / inf rows: exp(z − lse) gives the scalar path's NaN */
                    f.xent_grad(zr, C, lse[r], scale, eps / (float)C, dr);
                dr[(int64_t)labels[r]] -= scale * (1.0f - eps);
            });
        });
    } else {
        NB__EW_PARALLEL_FOR(r, rows, {
            const float *zr = z + r * C;
            lse[r] = f.max && C > 0 ? row_lse(&f, zr, C) : slice_lse(zr, C, 1);
            xent_grad_row(&f, zr, labels[r], C, lse[r], eps, scale, dz + r * C);
        });
    }
    return xent_total(z, labels, rows, C, eps, lse);
}
