/* kernels/broadcast.c — binary elementwise arithmetic with broadcasting: the
 * index space is walked as rows of the last dimension, so the inner loops are
 * plain strided loops (contiguous in the common cases) the compiler vectorises. */
#include <stddef.h>

#include "kernels/broadcast.h"

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
 * (stride 0) its single element receives the row's sum. */
static void row_backward(nb_binop op, int64_t n, const float *restrict g, const float *restrict o,
                         const float *a, int64_t sa, float *da, const float *b, int64_t sb,
                         float *db) {
    if (da) {
        switch (op) {
        case NB_BIN_ADD:
        case NB_BIN_SUB: for (int64_t i = 0; i < n; i++) da[i * sa] += g[i]; break;
        case NB_BIN_MUL: for (int64_t i = 0; i < n; i++) da[i * sa] += g[i] * b[i * sb]; break;
        case NB_BIN_DIV: for (int64_t i = 0; i < n; i++) da[i * sa] += g[i] / b[i * sb]; break;
        }
    }
    if (db) {
        switch (op) {
        case NB_BIN_ADD: for (int64_t i = 0; i < n; i++) db[i * sb] += g[i]; break;
        case NB_BIN_SUB: for (int64_t i = 0; i < n; i++) db[i * sb] -= g[i]; break;
        case NB_BIN_MUL: for (int64_t i = 0; i < n; i++) db[i * sb] += g[i] * a[i * sa]; break;
        /* d(a/b)/db = -a/b² = -out/b */
        case NB_BIN_DIV: for (int64_t i = 0; i < n; i++) db[i * sb] -= g[i] * o[i] / b[i * sb]; break;
        }
    }
}

/* Walk the outer dims like an odometer, keeping a's and b's offsets. */
#define FOR_EACH_ROW(ndim, shape, sa, sb, BODY)                                 \
    do {                                                                        \
        int64_t inner_ = (ndim) > 0 ? (shape)[(ndim) - 1] : 1, outer_ = 1;      \
        for (int d_ = 0; d_ < (ndim) - 1; d_++) outer_ *= (shape)[d_];          \
        int64_t idx_[8] = {0}, oa = 0, ob = 0;                                  \
        for (int64_t r = 0; r < outer_; r++) {                                  \
            int64_t row = r * inner_;                                           \
            (void)row;                                                          \
            BODY;                                                               \
            for (int d_ = (ndim) - 2; d_ >= 0; d_--) {                          \
                oa += (sa)[d_];                                                 \
                ob += (sb)[d_];                                                 \
                if (++idx_[d_] < (shape)[d_]) break;                            \
                oa -= (sa)[d_] * (shape)[d_];                                   \
                ob -= (sb)[d_] * (shape)[d_];                                   \
                idx_[d_] = 0;                                                   \
            }                                                                   \
        }                                                                       \
    } while (0)

void nb_k_binary(nb_binop op, int ndim, const int64_t *shape, float *out,
                 const float *a, const int64_t *sa, const float *b, const int64_t *sb) {
    int64_t zero = 0;
    int64_t ia = ndim > 0 ? sa[ndim - 1] : 0, ib = ndim > 0 ? sb[ndim - 1] : 0;
    if (ndim == 0) sa = sb = &zero;
    FOR_EACH_ROW(ndim, shape, sa, sb,
                 row_forward(op, inner_, out + row, a + oa, ia, b + ob, ib));
}

void nb_k_binary_backward(nb_binop op, int ndim, const int64_t *shape, const float *dout,
                          const float *out, const float *a, const int64_t *sa, float *da,
                          const float *b, const int64_t *sb, float *db) {
    int64_t zero = 0;
    int64_t ia = ndim > 0 ? sa[ndim - 1] : 0, ib = ndim > 0 ? sb[ndim - 1] : 0;
    if (ndim == 0) sa = sb = &zero;
    FOR_EACH_ROW(ndim, shape, sa, sb,
                 row_backward(op, inner_, dout + row, out + row, a + oa, ia, da ? da + oa : NULL,
                              b + ob, ib, db ? db + ob : NULL));
}
