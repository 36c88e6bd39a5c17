/* kernels/broadcast.c — binary elementwise arithmetic with broadcasting. The
 * index space is coalesced (adjacent dims that walk memory the same way merge)
 * and walked as rows of the last dimension; contiguous or broadcast rows go to
 * the AVX2 / AVX-512 bodies, the rest to the scalar loops, which stay the
 * reference. Rows are split across threads where no output is shared. */
#include <stddef.h>

#include "kernels/broadcast.h"
#include "kernels/elementwise.h"
#include "kernels/kernels.h"

#define MAXD 16

static void row_forward(nb_binop op, int64_t n, float *restrict o, const float *restrict a,
                        int64_t sa, const float *restrict b, int64_t sb) {
    switch (op) {
    case NB_BIN_ADD: for (int64_t i = 0; i < n; i++) o[i] = a[i * sa] + b[i * sb]; break;
    case NB_BIN_SUB: for (int64_t i = 0; i < n; i++) o[i] = a[i * sa] - b[i * sb]; break;
    case NB_BIN_MUL: for (int64_t i = 0; i < n; i++) o[i] = a[i * sa] * b[i * sb]; break;
    case NB_BIN_DIV: for (int64_t i = 0; i < n; i++) o[i] = a[i * sa] / b[i * sb]; break;
    }
}

/* One row of the backward pass. When an input is broadcast along the row
 * (stride 0) its single element receives the row's sum, in index order. */
static void row_grad_a(nb_binop op, int64_t n, const float *restrict g, const float *b,
                       int64_t sa, int64_t sb, float *da) {
    switch (op) {
    case NB_BIN_ADD:
    case NB_BIN_SUB: for (int64_t i = 0; i < n; i++) da[i * sa] += g[i]; break;
    case NB_BIN_MUL: for (int64_t i = 0; i < n; i++) da[i * sa] += g[i] * b[i * sb]; break;
    case NB_BIN_DIV: for (int64_t i = 0; i < n; i++) da[i * sa] += g[i] / b[i * sb]; break;
    }
}

static void row_grad_b(nb_binop op, int64_t n, const float *restrict g, const float *restrict o,
                       const float *a, int64_t sa, const float *b, int64_t sb, float *db) {
    switch (op) {
    case NB_BIN_ADD: for (int64_t i = 0; i < n; i++) db[i * sb] += g[i]; break;
    case NB_BIN_SUB: for (int64_t i = 0; i < n; i++) db[i * sb] -= g[i]; break;
    case NB_BIN_MUL: for (int64_t i = 0; i < n; i++) db[i * sb] += g[i] * a[i * sa]; break;
    /* d(a/b)/db = -a/b² = -out/b */
    case NB_BIN_DIV: for (int64_t i = 0; i < n; i++) db[i * sb] -= g[i] * o[i] / b[i * sb]; break;
    }
}

/* The kernels for one call, picked once from the dispatch path. */
typedef struct {
    void (*fwd)(nb_binop, int64_t, float *, const float *, int64_t, const float *, int64_t);
    void (*ga)(nb_binop, int64_t, const float *, const float *, int64_t, float *);
    void (*gb)(nb_binop, int64_t, const float *, const float *, const float *, int64_t,
               const float *, float *);
} simd_fns;

static simd_fns pick(void) {
    simd_fns f = {NULL, NULL, NULL};
#ifdef NB__EW_HAVE_SIMD
    switch (nb__cpu_path()) {
    case NB_CPU_AVX512:
        f.fwd = nb__ew_binary_avx512, f.ga = nb__ew_binary_grad_a_avx512;
        f.gb = nb__ew_binary_grad_b_avx512;
        break;
    case NB_CPU_AVX2:
        f.fwd = nb__ew_binary_avx2, f.ga = nb__ew_binary_grad_a_avx2;
        f.gb = nb__ew_binary_grad_b_avx2;
        break;
    default: break;
    }
#endif
    return f;
}

/* A coalesced index space: dims merged where out, a and b all step through
 * memory uniformly across the boundary (row-major visiting order is kept, so
 * sums into broadcast gradients happen in the same order as before). */
typedef struct {
    int nd;
    int64_t shape[MAXD], sa[MAXD], sb[MAXD];
    int64_t inner, outer;
} space;

static void coalesce(int ndim, const int64_t *shape, const int64_t *sa, const int64_t *sb,
                     space *s) {
    s->nd = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue; /* a size-1 dim never moves an offset */
        const int k = s->nd - 1;
        if (k >= 0 && s->sa[k] == sa[d] * shape[d] && s->sb[k] == sb[d] * shape[d]) {
            s->shape[k] *= shape[d];
            s->sa[k] = sa[d];
            s->sb[k] = sb[d];
            continue;
        }
        s->shape[s->nd] = shape[d];
        s->sa[s->nd] = sa[d];
        s->sb[s->nd] = sb[d];
        s->nd++;
    }
    if (s->nd == 0) { /* a scalar, or all dims 1 */
        s->nd = 1;
        s->shape[0] = 1;
        s->sa[0] = s->sb[0] = 0;
    }
    s->inner = s->shape[s->nd - 1];
    s->outer = 1;
    for (int d = 0; d < s->nd - 1; d++) s->outer *= s->shape[d];
}

/* Offsets of row r (an index over the outer dims) in a and b. */
static void row_offsets(const space *s, int64_t r, int64_t *oa, int64_t *ob, int64_t *idx) {
    *oa = *ob = 0;
    for (int d = s->nd - 2; d >= 0; d--) {
        idx[d] = r % s->shape[d];
        r /= s->shape[d];
        *oa += idx[d] * s->sa[d];
        *ob += idx[d] * s->sb[d];
    }
}

static void next_row(const space *s, int64_t *oa, int64_t *ob, int64_t *idx) {
    for (int d = s->nd - 2; d >= 0; d--) {
        *oa += s->sa[d];
        *ob += s->sb[d];
        if (++idx[d] < s->shape[d]) return;
        *oa -= s->sa[d] * s->shape[d];
        *ob -= s->sb[d] * s->shape[d];
        idx[d] = 0;
    }
}

static inline int unit(int64_t s) { return s == 0 || s == 1; }

/* Forward over elements [e0, e0 + len) of the row starting at row r, or over
 * whole rows [r0, r1). Both reduce to: for each row piece, one kernel call. */
static void forward_rows(nb_binop op, const space *s, const simd_fns *f, float *out,
                         const float *a, const float *b, int64_t r0, int64_t r1, int64_t c0,
                         int64_t c1) {
    int64_t idx[MAXD], oa, ob;
    const int64_t ia = s->sa[s->nd - 1], ib = s->sb[s->nd - 1], n = s->inner;
    const int vec = f->fwd && unit(ia) && unit(ib);
    row_offsets(s, r0, &oa, &ob, idx);
    for (int64_t r = r0; r < r1; r++) {
        float *o = out + r * n + c0;
        const float *pa = a + oa + c0 * ia, *pb = b + ob + c0 * ib;
        if (vec) f->fwd(op, c1 - c0, o, pa, ia, pb, ib);
        else row_forward(op, c1 - c0, o, pa, ia, pb, ib);
        next_row(s, &oa, &ob, idx);
    }
}

static void backward_rows(nb_binop op, const space *s, const simd_fns *f, const float *dout,
                          const float *out, const float *a, float *da, const float *b, float *db,
                          int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    int64_t idx[MAXD], oa, ob;
    const int64_t ia = s->sa[s->nd - 1], ib = s->sb[s->nd - 1], n = s->inner;
    /* a gradient with stride 0 along the row is a reduction: scalar, in order */
    const int va = f->ga && ia == 1 && unit(ib), vb = f->gb && ib == 1 && unit(ia);
    row_offsets(s, r0, &oa, &ob, idx);
    for (int64_t r = r0; r < r1; r++) {
        const float *g = dout + r * n + c0, *o = out + r * n + c0;
        const float *pa = a + oa + c0 * ia, *pb = b + ob + c0 * ib;
        if (da) {
            if (va) f->ga(op, c1 - c0, g, pb, ib, da + oa + c0);
            else row_grad_a(op, c1 - c0, g, pb, ia, ib, da + oa + c0 * ia);
        }
        if (db) {
            if (vb) f->gb(op, c1 - c0, g, o, pa, ia, pb, db + ob + c0);
            else row_grad_b(op, c1 - c0, g, o, pa, ia, pb, ib, db + ob + c0 * ib);
        }
        next_row(s, &oa, &ob, idx);
    }
}

/* Runs rows (or, for a single row, column chunks) on nt threads: chunk t of
 * [0, total) with boundaries on multiples of `align`. */
#define SPLIT(total, align, nt, t, lo, hi)                                                \
    do {                                                                                  \
        int64_t per_ = ((total) + (nt) - 1) / (nt);                                       \
        per_ = (per_ + (align) - 1) / (align) * (align);                                  \
        lo = per_ * (t);                                                                  \
        hi = lo + per_;                                                                   \
        if (lo > (total)) lo = (total);                                                   \
        if (hi > (total)) hi = (total);                                                   \
    } while (0)

void nb_k_binary(nb_binop op, int ndim, const int64_t *shape, float *out,
                 const float *a, const int64_t *sa, const float *b, const int64_t *sb) {
    space s;
    coalesce(ndim, shape, sa, sb, &s);
    const int64_t total = s.outer * s.inner;
    if (total <= 0) return;
    const simd_fns f = pick();
    const int nt = nb__threads_for((double)total, NB_EW_MIN_PER_THREAD);
    if (nt <= 1) {
        forward_rows(op, &s, &f, out, a, b, 0, s.outer, 0, s.inner);
        return;
    }
    const int by_rows = s.outer >= nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t lo, hi;
        if (by_rows) {
            SPLIT(s.outer, 1, nt, t, lo, hi);
            if (lo < hi) forward_rows(op, &s, &f, out, a, b, lo, hi, 0, s.inner);
        } else {
            for (int64_t r = 0; r < s.outer; r++) {
                SPLIT(s.inner, 16, nt, t, lo, hi);
                if (lo < hi) forward_rows(op, &s, &f, out, a, b, r, r + 1, lo, hi);
            }
        }
    }
}

/* Whether every element of a gradient is reached from exactly one output
 * index (no broadcast dim of size > 1), so rows can be split across threads. */
static int no_reduction(const space *s, const int64_t *st) {
    for (int d = 0; d < s->nd; d++)
        if (st[d] == 0 && s->shape[d] > 1) return 0;
    return 1;
}

void nb_k_binary_backward(nb_binop op, int ndim, const int64_t *shape, const float *dout,
                          const float *out, const float *a, const int64_t *sa, float *da,
                          const float *b, const int64_t *sb, float *db) {
    space s;
    coalesce(ndim, shape, sa, sb, &s);
    const int64_t total = s.outer * s.inner;
    if (total <= 0 || (!da && !db)) return;
    const simd_fns f = pick();
    int nt = nb__threads_for((double)total, NB_EW_MIN_PER_THREAD);
    if ((da && !no_reduction(&s, s.sa)) || (db && !no_reduction(&s, s.sb))) nt = 1;
    if (nt <= 1) {
        backward_rows(op, &s, &f, dout, out, a, da, b, db, 0, s.outer, 0, s.inner);
        return;
    }
    const int by_rows = s.outer >= nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t lo, hi;
        if (by_rows) {
            SPLIT(s.outer, 1, nt, t, lo, hi);
            if (lo < hi) backward_rows(op, &s, &f, dout, out, a, da, b, db, lo, hi, 0, s.inner);
        } else {
            for (int64_t r = 0; r < s.outer; r++) {
                SPLIT(s.inner, 16, nt, t, lo, hi);
                if (lo < hi)
                    backward_rows(op, &s, &f, dout, out, a, da, b, db, r, r + 1, lo, hi);
            }
        }
    }
}
