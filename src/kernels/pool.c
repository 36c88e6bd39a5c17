/* kernels/pool.c — pooling loops. Planes are independent (each writes only
 * its own output and its own dx plane), so they split over threads without
 * atomics (on one thread no OpenMP construct is entered: NB__EW_PARALLEL_FOR).
 * 2×2 stride-2 max pooling, the common CNN case, has its own loop, with
 * AVX2 rows where the CPU has them (pool_avx2.c; bitwise the same). */
#include <math.h>
#include <string.h>

#include "kernels/elementwise.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"

#define MIN_ELEMS_PER_THREAD 32768.0

static int threads(const nb_k_pool_geom *g, int64_t planes) {
    return nb__threads_for((double)planes * (double)(g->h * g->w + g->oh * g->ow * g->kh * g->kw),
                           MIN_ELEMS_PER_THREAD);
}

/* Whether v replaces the running maximum m: strictly greater (so the first
 * of equal maxima stays), or NaN (so NaN propagates; the last NaN of a window
 * is the one kept, exactly PyTorch's rule). Written as a select on comparison
 * results, without branches, so the 2×2 loop vectorises: with random data
 * the branches would mispredict half the time. */
static inline int take(float v, float m) { return (v > m) | (v != v); }

/* The Fashion-MNIST CNN's pooling: 2×2 windows, stride 2, no padding. */
static int is_2x2(const nb_k_pool_geom *g) {
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0;
}

static void max_pool_2x2(const nb_k_pool_geom *g, const float *x, float *y, int32_t *arg,
                         int simd) {
    const int64_t w = g->w, ow = g->ow;
#if defined(__x86_64__)
    if (simd) {
        nb__max_pool_2x2_plane_avx2(x, w, g->oh, ow, y, arg);
        return;
    }
#endif
    (void)simd;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const float *r0 = x + 2 * oy * w, *r1 = r0 + w;
        float *yr = y + oy * ow;
        if (!arg) {
            for (int64_t ox = 0; ox < ow; ox++) {
                const float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
                float m = a;
                m = take(b, m) ? b : m;
                m = take(c, m) ? c : m;
                yr[ox] = take(d, m) ? d : m;
            }
            continue;
        }
        int32_t *ar = arg + oy * ow;
        const int32_t base = (int32_t)(2 * oy * w), wi = (int32_t)w;
        for (int64_t ox = 0; ox < ow; ox++) {
            const float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
            float m = a;
            int32_t k = 0;
            int t = take(b, m);
            m = t ? b : m;
            k = t ? 1 : k;
            t = take(c, m);
            m = t ? c : m;
            k = t ? wi : k;
            t = take(d, m);
            m = t ? d : m;
            k = t ? wi + 1 : k;
            yr[ox] = m;
            ar[ox] = base + 2 * (int32_t)ox + k;
        }
    }
}

static void max_pool_plane(const nb_k_pool_geom *g, const float *x, float *y, int32_t *arg) {
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const int64_t y0 = oy * g->sh - g->ph;
        const int64_t i0 = y0 < 0 ? 0 : y0, i1 = y0 + g->kh > g->h ? g->h : y0 + g->kh;
        for (int64_t ox = 0; ox < g->ow; ox++) {
            const int64_t x0 = ox * g->sw - g->pw;
            const int64_t j0 = x0 < 0 ? 0 : x0, j1 = x0 + g->kw > g->w ? g->w : x0 + g->kw;
            float m = -INFINITY;
            int64_t best = i0 * g->w + j0;
            for (int64_t i = i0; i < i1; i++) {
                for (int64_t j = j0; j < j1; j++) {
                    const float v = x[i * g->w + j];
                    if (take(v, m)) {
                        m = v;
                        best = i * g->w + j;
                    }
                }
            }
            y[oy * g->ow + ox] = m;
            if (arg) arg[oy * g->ow + ox] = (int32_t)best;
        }
    }
}

void nb_k_max_pool(const nb_k_pool_geom *g, int64_t planes, const float *x, float *y,
                   int32_t *arg) {
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
    const int fast = is_2x2(g), simd = nb__cpu_avx2();
    const int nt = threads(g, planes);
    NB__EW_PARALLEL_FOR(c, planes, {
        if (fast)
            max_pool_2x2(g, x + c * hw, y + c * ohw, arg ? arg + c * ohw : NULL, simd);
        else
            max_pool_plane(g, x + c * hw, y + c * ohw, arg ? arg + c * ohw : NULL);
    });
}

/* Overwriting backward of the 2×2 stride-2 pool: every input of a window is
 * stored (dy at the argmax, 0 elsewhere) in one pass, no clearing pass; an odd
 * last row or column, which no window reads, gets 0. */
static void backward_store_windows(const nb_k_pool_geom *g, const float *dy, const int32_t *arg,
                                   float *dx) {
    const int64_t w = g->w, ow = g->ow;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        float *r0 = dx + 2 * oy * w, *r1 = r0 + w;
        const float *gy = dy + oy * ow;
        const int32_t *a = arg + oy * ow;
        const int32_t base = (int32_t)(2 * oy * w);
        for (int64_t ox = 0; ox < ow; ox++) {
            const int32_t k = a[ox] - base - 2 * (int32_t)ox; /* 0, 1, w or w + 1 */
            const float v = 0.0f + gy[ox];                    /* as 0 + dy after clearing */
            r0[2 * ox] = k == 0 ? v : 0.0f;
            r0[2 * ox + 1] = k == 1 ? v : 0.0f;
            r1[2 * ox] = k == w ? v : 0.0f;
            r1[2 * ox + 1] = k == w + 1 ? v : 0.0f;
        }
    }
}

static void max_pool_2x2_backward_store(const nb_k_pool_geom *g, const float *dy,
                                        const int32_t *arg, float *dx, int simd) {
    const int64_t w = g->w;
#if defined(__x86_64__)
    if (simd)
        nb__max_pool_2x2_backward_plane_avx2(dx, g->h, w, g->oh, g->ow, dy, arg);
    else
#endif
        backward_store_windows(g, dy, arg, dx);
    (void)simd;
    if (w > 2 * g->ow)
        for (int64_t r = 0; r < 2 * g->oh; r++) dx[r * w + w - 1] = 0.0f;
    if (g->h > 2 * g->oh) memset(dx + (g->h - 1) * w, 0, (size_t)w * sizeof(float));
}

void nb_k_max_pool_backward(const nb_k_pool_geom *g, int64_t planes, const float *dy,
                            const int32_t *arg, float *dx, int overwrite) {
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
    const int nt = threads(g, planes);
    const int fast = is_2x2(g), simd = nb__cpu_avx2();
    if (overwrite && fast) {
        NB__EW_PARALLEL_FOR(c, planes, max_pool_2x2_backward_store(g, dy + c * ohw, arg + c * ohw,
                                                                   dx + c * hw, simd));
        return;
    }
    NB__EW_PARALLEL_FOR(c, planes, {
        float *d = dx + c * hw;
        if (overwrite) memset(d, 0, (size_t)hw * sizeof(float)); /* plane by plane: stays in cache */
        const float *gy = dy + c * ohw;
        const int32_t *a = arg + c * ohw;
        for (int64_t q = 0; q < ohw; q++) d[a[q]] += gy[q];
    });
}

void nb_k_avg_pool(const nb_k_pool_geom *g, int64_t planes, const float *x, float *y) {
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
    const float inv = 1.0f / (float)(g->kh * g->kw);
    const int nt = threads(g, planes);
    NB__EW_PARALLEL_FOR(c, planes, {
        const float *xp = x + c * hw;
        float *yp = y + c * ohw;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            const int64_t y0 = oy * g->sh - g->ph;
            const int64_t i0 = y0 < 0 ? 0 : y0, i1 = y0 + g->kh > g->h ? g->h : y0 + g->kh;
            for (int64_t ox = 0; ox < g->ow; ox++) {
                const int64_t x0 = ox * g->sw - g->pw;
                const int64_t j0 = x0 < 0 ? 0 : x0, j1 = x0 + g->kw > g->w ? g->w : x0 + g->kw;
                float s = 0.0f;
                for (int64_t i = i0; i < i1; i++)
                    for (int64_t j = j0; j < j1; j++) s += xp[i * g->w + j];
                yp[oy * g->ow + ox] = s * inv;
            }
        }
    });
}

void nb_k_avg_pool_backward(const nb_k_pool_geom *g, int64_t planes, const float *dy, float *dx) {
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
    const float inv = 1.0f / (float)(g->kh * g->kw);
    const int nt = threads(g, planes);
    NB__EW_PARALLEL_FOR(c, planes, {
        float *dp = dx + c * hw;
        const float *gy = dy + c * ohw;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            const int64_t y0 = oy * g->sh - g->ph;
            const int64_t i0 = y0 < 0 ? 0 : y0, i1 = y0 + g->kh > g->h ? g->h : y0 + g->kh;
            for (int64_t ox = 0; ox < g->ow; ox++) {
                const int64_t x0 = ox * g->sw - g->pw;
                const int64_t j0 = x0 < 0 ? 0 : x0, j1 = x0 + g->kw > g->w ? g->w : x0 + g->kw;
                const float v = gy[oy * g->ow + ox] * inv;
                for (int64_t i = i0; i < i1; i++)
                    for (int64_t j = j0; j < j1; j++) dp[i * g->w + j] += v;
            }
        }
    });
}

/* Sums in double: a plane may be large (global pooling of a big feature map). */
void nb_k_plane_mean(int64_t planes, int64_t hw, const float *x, float *y) {
    const int nt = nb__threads_for((double)planes * hw, MIN_ELEMS_PER_THREAD);
    NB__EW_PARALLEL_FOR(c, planes, {
        const float *p = x + c * hw;
        double s = 0.0;
        for (int64_t q = 0; q < hw; q++) s += p[q];
        y[c] = (float)(s / (double)hw);
    });
}

void nb_k_plane_mean_backward(int64_t planes, int64_t hw, const float *dy, float *dx) {
    const int nt = nb__threads_for((double)planes * hw, MIN_ELEMS_PER_THREAD);
    NB__EW_PARALLEL_FOR(c, planes, {
        float *p = dx + c * hw;
        const float v = dy[c] / (float)hw;
        for (int64_t q = 0; q < hw; q++) p[q] += v;
    });
}
