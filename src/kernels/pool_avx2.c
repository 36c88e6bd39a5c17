/* kernels/pool_avx2.c — the 2×2 stride-2 max-pool rows with AVX2 (this file
 * gets -mavx2): eight windows per step. The compiler does not vectorise the
 * portable loops in pool.c, whose stride-2 loads need a deinterleave, and
 * pooling was a sixth of the Fashion-MNIST CNN's step. Each lane runs the
 * scalar loop's comparisons in the same order (take: greater, or NaN), so
 * values, argmax indices and gradients are bitwise those of pool.c. A row's
 * last ow % 8 windows run masked (the CNN's second pool has ow = 7), never
 * touching memory past the row. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/pool.h"

/* v replaces m: v > m or v is NaN (the scalar take() of pool.c) */
static inline __m256 take(__m256 v, __m256 m) {
    return _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

/* Lanes [0, n) set (n may be <= 0 or >= 8) */
static inline __m256i lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n > 8 ? 8 : n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* A row's last ow % 8 windows: the masks of their 2·nw inputs (two vectors)
 * and of their nw outputs, made once per plane. */
typedef struct tail {
    int64_t nw;
    __m256i in_lo, in_hi, out;
} tail;

static inline tail tail_of(int64_t ow) {
    const int64_t nw = ow % 8;
    return (tail){nw, lanes(2 * nw), lanes(2 * nw - 8), lanes(nw)};
}

/* The even and odd elements of p[0..16) (masked: only the tail's inputs),
 * in the lane order 0 1 4 5 | 2 3 6 7 of the window index (put right once at
 * the end). */
static inline void deinterleave(const float *p, const tail *t, __m256 *even, __m256 *odd) {
    __m256 lo, hi;
    if (!t) {
        lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8);
    } else {
        lo = _mm256_maskload_ps(p, t->in_lo), hi = _mm256_maskload_ps(p + 8, t->in_hi);
    }
    *even = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    *odd = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
}

/* Stores the windows' inputs, even and odd columns interleaved back (window
 * j covers columns 2j and 2j + 1), from even and odd in window order. */
static inline void interleave_store(float *p, const tail *t, __m256 even, __m256 odd) {
    const __m256 l = _mm256_unpacklo_ps(even, odd), h = _mm256_unpackhi_ps(even, odd);
    const __m256 v0 = _mm256_permute2f128_ps(l, h, 0x20), v1 = _mm256_permute2f128_ps(l, h, 0x31);
    if (!t) {
        _mm256_storeu_ps(p, v0), _mm256_storeu_ps(p + 8, v1);
    } else {
        _mm256_maskstore_ps(p, t->in_lo, v0), _mm256_maskstore_ps(p + 8, t->in_hi, v1);
    }
}

/* Eight windows starting at input column 2·ox of rows r0, r1; with ld, the
 * tail's inputs are loaded masked; with st, only its outputs are stored
 * (else all eight lanes are, the caller knowing what the extra ones hit). */
static inline void windows(const float *r0, const float *r1, const tail *ld, const tail *st,
                           float *y, int32_t *arg, int32_t at, __m256i w_idx) {
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    const __m256i step = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    __m256 a, b, c, d;
    deinterleave(r0, ld, &a, &b);
    deinterleave(r1, ld, &c, &d);
    __m256 m = a, tk = take(b, m);
    m = _mm256_blendv_ps(m, b, tk);
    __m256i k = _mm256_and_si256(_mm256_castps_si256(tk), _mm256_set1_epi32(1));
    tk = take(c, m);
    m = _mm256_blendv_ps(m, c, tk);
    k = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(k), _mm256_castsi256_ps(w_idx), tk));
    tk = take(d, m);
    m = _mm256_blendv_ps(m, d, tk);
    m = _mm256_permutevar8x32_ps(m, order);
    if (!st) _mm256_storeu_ps(y, m);
    else _mm256_maskstore_ps(y, st->out, m);
    if (!arg) return;
    const __m256i w1 = _mm256_add_epi32(w_idx, _mm256_set1_epi32(1));
    k = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(k), _mm256_castsi256_ps(w1), tk));
    k = _mm256_permutevar8x32_epi32(k, order);
    k = _mm256_add_epi32(k, _mm256_add_epi32(_mm256_set1_epi32(at), step));
    if (!st) _mm256_storeu_si256((__m256i *)arg, k);
    else _mm256_maskstore_epi32((int *)arg, st->out, k);
}

/* How a row's last ow % 8 windows are done. Masked stores are slow (AMD
 * microcodes them), so they are the last resort:
 *   ow >= 8: the last eight windows again, overlapping ones already done
 *            (the same values rewritten);
 *   ow < 8:  inputs loaded masked, all eight lanes stored: the extra ones
 *            land on the next rows' outputs (forward) or on the second input
 *            row and the next row pairs (backward), all written later in this
 *            plane or zeroed by pool.c; only rows whose extra lanes would
 *            leave the plane (the last, or more for tiny planes) store masked. */
void nb__max_pool_2x2_plane_avx2(const float *x, int64_t w, int64_t oh, int64_t ow, float *y,
                                 int32_t *arg) {
    const tail t = tail_of(ow);
    const int64_t full = ow - t.nw;
    const __m256i w_idx = _mm256_set1_epi32((int32_t)w);
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *r0 = x + 2 * oy * w, *r1 = r0 + w;
        float *yr = y + oy * ow;
        int32_t *ar = arg ? arg + oy * ow : NULL;
        const int32_t base = (int32_t)(2 * oy * w);
#define WINDOWS(ox, ld, st)                                                                        \
    windows(r0 + 2 * (ox), r1 + 2 * (ox), (ld), (st), yr + (ox), ar ? ar + (ox) : NULL,             \
            base + 2 * (int32_t)(ox), w_idx)
        for (int64_t ox = 0; ox < full; ox += 8) WINDOWS(ox, NULL, NULL);
        if (!t.nw) continue;
        if (full) WINDOWS(ow - 8, NULL, NULL);
        else WINDOWS(0, &t, oy * ow + 8 <= oh * ow ? NULL : &t);
#undef WINDOWS
    }
}

/* Eight windows' inputs from dy and the argmax; ld and st as in windows(). */
static inline void windows_backward(float *r0, float *r1, const tail *ld, const tail *st,
                                    const float *dy, const int32_t *arg, int32_t at, __m256i w_idx) {
    const __m256i step = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    __m256i a;
    __m256 g;
    if (!ld) {
        a = _mm256_loadu_si256((const __m256i *)arg), g = _mm256_loadu_ps(dy);
    } else {
        a = _mm256_maskload_epi32((const int *)arg, ld->out), g = _mm256_maskload_ps(dy, ld->out);
    }
    const __m256i k = _mm256_sub_epi32(a, _mm256_add_epi32(_mm256_set1_epi32(at), step));
    const __m256 v = _mm256_add_ps(_mm256_setzero_ps(), g); /* 0 + dy, as pool.c */
#define PICK(kk) _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(k, (kk))), v)
    const __m256 e0 = PICK(_mm256_setzero_si256()), o0 = PICK(_mm256_set1_epi32(1));
    const __m256 e1 = PICK(w_idx), o1 = PICK(_mm256_add_epi32(w_idx, _mm256_set1_epi32(1)));
#undef PICK
    interleave_store(r0, st, e0, o0); /* r0 before r1: r0's extra lanes may reach into r1 */
    interleave_store(r1, st, e1, o1);
}

void nb__max_pool_2x2_backward_plane_avx2(float *dx, int64_t h, int64_t w, int64_t oh, int64_t ow,
                                          const float *dy, const int32_t *arg) {
    const tail t = tail_of(ow);
    const int64_t full = ow - t.nw;
    const __m256i w_idx = _mm256_set1_epi32((int32_t)w);
    for (int64_t oy = 0; oy < oh; oy++) {
        float *r0 = dx + 2 * oy * w, *r1 = r0 + w;
        const float *gy = dy + oy * ow;
        const int32_t *a = arg + oy * ow, base = (int32_t)(2 * oy * w);
#define WINDOWS(ox, ld, st)                                                                        \
    windows_backward(r0 + 2 * (ox), r1 + 2 * (ox), (ld), (st), gy + (ox), a + (ox),                 \
                     base + 2 * (int32_t)(ox), w_idx)
        for (int64_t ox = 0; ox < full; ox += 8) WINDOWS(ox, NULL, NULL);
        if (!t.nw) continue;
        if (full) WINDOWS(ow - 8, NULL, NULL);
        else WINDOWS(0, &t, (2 * oy + 1) * w + 16 <= h * w ? NULL : &t);
#undef WINDOWS
    }
}
#endif
