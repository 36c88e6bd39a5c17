/* kernels/conv.c — im2col/col2im and the chunk layout moves used by conv2d.
 * Each (sample, channel) pair is an independent task writing its own rows of
 * the column buffer (im2col) or its own plane of dx (col2im), so both split
 * over threads without atomics and give the same result for any thread count.
 * On one thread no OpenMP construct is entered (NB__EW_PARALLEL_FOR): some
 * runtimes allocate even for a serialised region. */
#include <string.h>

#include "kernels/conv.h"
#include "kernels/elementwise.h"
#include "kernels/kernels.h"

/* Elements moved per thread below which a fork costs more than it saves. */
#define MIN_ELEMS_PER_THREAD 32768.0

/* Output positions q in [*lo, *hi) whose input index q·s − p + off lies in
 * [0, n): the rest of the row reads padding. */
static void valid_range(int64_t n, int64_t nout, int64_t s, int64_t p, int64_t off, int64_t *lo,
                        int64_t *hi) {
    const int64_t first = p - off; /* q·s >= first */
    int64_t a = first <= 0 ? 0 : (first + s - 1) / s;
    const int64_t last = n - 1 + p - off; /* q·s <= last */
    int64_t b = last < 0 ? 0 : last / s + 1;
    if (b > nout) b = nout;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* Stride 1 with the output as wide as the input ("same" padding, e.g. 3×3
 * pad 1): output position y·ow + x reads input position y·w + x + a constant,
 * so a kernel tap's whole valid block of rows is one contiguous copy. The
 * copy also fills the positions whose input column lies in the padding with
 * values from the neighbouring row; those few columns (at most pw per side)
 * are set to zero after. */
static int same_width(const nb_k_conv_geom *g) {
    return g->sh == 1 && g->sw == 1 && g->ow == g->w;
}

/* One tap (i, j): the valid rows [y0, y1), columns [x0, x1), the offset
 * from an output position to the input position it reads, and the span
 * [lo, hi) of output positions the valid block covers (empty when the tap
 * reads only padding). */
typedef nb__conv_tap tap;

static tap tap_of(const nb_k_conv_geom *g, int64_t i, int64_t j) {
    tap t;
    valid_range(g->h, g->oh, 1, g->ph, i * g->dh, &t.y0, &t.y1);
    valid_range(g->w, g->ow, 1, g->pw, j * g->dw, &t.x0, &t.x1);
    t.shift = (i * g->dh - g->ph) * g->w + (j * g->dw - g->pw);
    t.lo = t.hi = 0;
    if (t.y0 < t.y1 && t.x0 < t.x1) t.lo = t.y0 * g->ow + t.x0, t.hi = (t.y1 - 1) * g->ow + t.x1;
    return t;
}

/* In a tap's valid rows, the columns whose input lies in the padding. */
static void zero_pad_columns(float *row, const tap *t, int64_t ow) {
    for (int64_t y = t->y0; y < t->y1; y++) {
        float *r = row + y * ow;
        for (int64_t q = 0; q < t->x0; q++) r[q] = 0.0f;
        for (int64_t q = t->x1; q < ow; q++) r[q] = 0.0f;
    }
}

/* The taps of a same-width geometry, computed once per call rather than per
 * channel (valid_range divides: at 32 channels of 14×14 that was half the
 * time of im2col). 0 when the geometry is not same-width or has more taps. */
#define MAX_TAPS 128
static int taps_of(const nb_k_conv_geom *g, tap *taps) {
    if (!same_width(g) || g->kh * g->kw > MAX_TAPS) return 0;
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) taps[i * g->kw + j] = tap_of(g, i, j);
    return 1;
}

static void im2col_plane_same(const nb_k_conv_geom *g, const tap *taps, const float *plane,
                              int64_t ci, float *col, int64_t ldcol) {
    const int64_t ow = g->ow, p = g->oh * ow, nk = g->kh * g->kw;
    for (int64_t tj = 0; tj < nk; tj++) {
        {
            float *row = col + (ci * nk + tj) * ldcol;
            const tap t = taps[tj];
            if (t.lo >= t.hi) {
                memset(row, 0, (size_t)p * sizeof(float));
                continue;
            }
            const int64_t lo = t.lo, hi = t.hi;
            memset(row, 0, (size_t)lo * sizeof(float));
            memcpy(row + lo, plane + lo + t.shift, (size_t)(hi - lo) * sizeof(float));
            memset(row + hi, 0, (size_t)(p - hi) * sizeof(float));
            zero_pad_columns(row, &t, ow);
        }
    }
}

/* One input channel ci of one sample (its plane) into its kh·kw rows of
 * the column buffer, starting at that sample's first column (taps: from
 * taps_of, or NULL). */
static void im2col_plane(const nb_k_conv_geom *g, const tap *taps, const float *plane, int64_t ci,
                         float *col, int64_t ldcol) {
    if (taps) {
#if defined(__x86_64__)
        const int64_t p = g->oh * g->ow, nk = g->kh * g->kw;
        if (g->ow >= 8 && p >= 8 && nb__cpu_avx2()) {
            nb__im2col_same_avx2(plane, taps, nk, p, g->ow, col + ci * nk * ldcol, ldcol);
            return;
        }
#endif
        im2col_plane_same(g, taps, plane, ci, col, ldcol);
        return;
    }
    for (int64_t i = 0; i < g->kh; i++) {
        int64_t y0, y1;
        valid_range(g->h, g->oh, g->sh, g->ph, i * g->dh, &y0, &y1);
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t x0, x1;
            valid_range(g->w, g->ow, g->sw, g->pw, j * g->dw, &x0, &x1);
            float *row = col + ((ci * g->kh + i) * g->kw + j) * ldcol;
            if (y0 > 0) memset(row, 0, (size_t)(y0 * g->ow) * sizeof(float));
            if (y1 < g->oh)
                memset(row + y1 * g->ow, 0, (size_t)((g->oh - y1) * g->ow) * sizeof(float));
            const int64_t xoff = x0 * g->sw - g->pw + j * g->dw;
            for (int64_t y = y0; y < y1; y++) {
                float *r = row + y * g->ow;
                const float *src = plane + (y * g->sh - g->ph + i * g->dh) * g->w + xoff;
                for (int64_t q = 0; q < x0; q++) r[q] = 0.0f;
                if (g->sw == 1) {
                    float *d = r + x0;
                    for (int64_t q = 0; q < x1 - x0; q++) d[q] = src[q];
                } else {
                    for (int64_t q = x0; q < x1; q++) r[q] = src[(q - x0) * g->sw];
                }
                for (int64_t q = x1; q < g->ow; q++) r[q] = 0.0f;
            }
        }
    }
}

/* The adjoint of im2col_plane_same: the entries that stand for padding are
 * zeroed in the (scratch) column row first, so one contiguous add per tap
 * adds nothing to the neighbouring row's pixels. */
static void col2im_plane_same(const nb_k_conv_geom *g, const tap *taps, float *col, int64_t ldcol,
                              int64_t ci, float *plane) {
    const int64_t ow = g->ow, nk = g->kh * g->kw;
    for (int64_t tj = 0; tj < nk; tj++) {
        {
            float *row = col + (ci * nk + tj) * ldcol;
            const tap t = taps[tj];
            if (t.lo >= t.hi) continue;
            zero_pad_columns(row, &t, ow);
            const int64_t lo = t.lo, hi = t.hi;
            float *dst = plane + lo + t.shift;
            const float *src = row + lo;
            for (int64_t q = 0; q < hi - lo; q++) dst[q] += src[q];
        }
    }
}

/* The adjoint of im2col_plane: accumulate the plane's rows into dx's plane. */
static void col2im_plane(const nb_k_conv_geom *g, const tap *taps, float *col, int64_t ldcol,
                         int64_t ci, float *plane) {
    if (taps) {
#if defined(__x86_64__)
        const int64_t p = g->oh * g->ow, nk = g->kh * g->kw;
        if (g->ow >= 8 && p >= 8 && nb__cpu_avx2()) {
            nb__col2im_same_avx2(col + ci * nk * ldcol, ldcol, taps, nk, p, g->ow, plane);
            return;
        }
#endif
        col2im_plane_same(g, taps, col, ldcol, ci, plane);
        return;
    }
    for (int64_t i = 0; i < g->kh; i++) {
        int64_t y0, y1;
        valid_range(g->h, g->oh, g->sh, g->ph, i * g->dh, &y0, &y1);
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t x0, x1;
            valid_range(g->w, g->ow, g->sw, g->pw, j * g->dw, &x0, &x1);
            const float *row = col + ((ci * g->kh + i) * g->kw + j) * ldcol;
            const int64_t xoff = x0 * g->sw - g->pw + j * g->dw;
            for (int64_t y = y0; y < y1; y++) {
                const float *r = row + y * g->ow;
                float *dst = plane + (y * g->sh - g->ph + i * g->dh) * g->w + xoff;
                if (g->sw == 1) {
                    const float *sr = r + x0;
                    for (int64_t q = 0; q < x1 - x0; q++) dst[q] += sr[q];
                } else {
                    for (int64_t q = x0; q < x1; q++) dst[(q - x0) * g->sw] += r[q];
                }
            }
        }
    }
}

/* Tasks t < ns·c are (sample t / c, channel t % c). */
void nb_k_im2col(const nb_k_conv_geom *g, int64_t ns, const float *x, int64_t x_stride,
                 float *col, int64_t ldcol) {
    const int64_t P = g->oh * g->ow, HW = g->h * g->w, c = g->c;
    const int nt = nb__threads_for((double)ns * c * g->kh * g->kw * P, MIN_ELEMS_PER_THREAD);
    tap taps[MAX_TAPS];
    const tap *tp = taps_of(g, taps) ? taps : NULL;
    NB__EW_PARALLEL_FOR(t, ns * c,
                        im2col_plane(g, tp, x + (t / c) * x_stride + (t % c) * HW, t % c,
                                     col + (t / c) * P, ldcol));
}

void nb_k_col2im_acc(const nb_k_conv_geom *g, int64_t ns, float *col, int64_t ldcol,
                     float *dx, int64_t dx_stride) {
    const int64_t P = g->oh * g->ow, HW = g->h * g->w, c = g->c;
    const int nt = nb__threads_for((double)ns * c * g->kh * g->kw * P, MIN_ELEMS_PER_THREAD);
    tap taps[MAX_TAPS];
    const tap *tp = taps_of(g, taps) ? taps : NULL;
    NB__EW_PARALLEL_FOR(t, ns * c,
                        col2im_plane(g, tp, col + (t / c) * P, ldcol, t % c,
                                     dx + (t / c) * dx_stride + (t % c) * HW));
}

void nb_k_add_channel_bias(int64_t ns, int64_t no, int64_t p, const float *bias, float *y) {
    const int nt = nb__threads_for((double)ns * no * p, MIN_ELEMS_PER_THREAD);
    NB__EW_PARALLEL_FOR(s, ns, {
        for (int64_t o = 0; o < no; o++) {
            float *d = y + (s * no + o) * p;
            const float bo = bias[o];
            for (int64_t q = 0; q < p; q++) d[q] += bo;
        }
    });
}

/* Each plane is summed in float over 8 interleaved lanes (vectorisable, and
 * the rounding error grows with p/8, not p), planes are added in double in
 * sample order: deterministic for any thread count. */
static float plane_sum(const float *r, int64_t p) {
    float lane[8] = {0};
    int64_t q = 0;
    for (; q + 8 <= p; q += 8)
        for (int l = 0; l < 8; l++) lane[l] += r[q + l];
    float tail = 0.0f;
    for (; q < p; q++) tail += r[q];
    return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7])) +
           tail;
}

void nb_k_channel_sum_acc(int64_t ns, int64_t no, int64_t p, const float *dy, float *db) {
    for (int64_t o = 0; o < no; o++) {
        double acc = 0.0;
        for (int64_t s = 0; s < ns; s++) acc += plane_sum(dy + (s * no + o) * p, p);
        db[o] += (float)acc;
    }
}
