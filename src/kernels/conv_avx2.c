/* kernels/conv_avx2.c — im2col and col2im for stride-1 "same width"
 * convolutions (3×3 pad 1 and the like) with AVX2 (this file gets -mavx2),
 * one input plane's taps per call (ow >= 8, oh·ow >= 8). The portable loops
 * in conv.c spend most of their time in small memset/memcpy calls (the
 * compiler turns the padding-column loops into memsets too) and 4-wide adds:
 * at 32 channels of 14×14 they cost 11% of a CNN training step. Here a lane's
 * column (q mod ow, carried along) masks the padding columns in the same
 * pass. Copies and sums are exact, so the results are bitwise those of
 * conv.c (tested). */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/conv.h"

/* Lanes [0, n) set, n clamped to [0, 8] */
static inline __m256i lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n > 8 ? 8 : n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The column index q mod ow of each lane of the vector at q, advanced by 8
 * positions (ow >= 8: one wrap at most). */
static inline __m256i next_cols(__m256i c, __m256i vow) {
    c = _mm256_add_epi32(c, _mm256_set1_epi32(8));
    return _mm256_sub_epi32(c, _mm256_and_si256(_mm256_cmpgt_epi32(c, _mm256_sub_epi32(vow, _mm256_set1_epi32(1))), vow));
}

static inline __m256i cols_at(int64_t q, int64_t ow) {
    int c[8];
    for (int l = 0; l < 8; l++) c[l] = (int)((q + l) % ow);
    return _mm256_loadu_si256((const __m256i *)c);
}

/* Lanes whose column lies in [x0, x1): x0v = x0 − 1, x1v = x1 broadcast */
static inline __m256i in_cols(__m256i c, __m256i x0m1, __m256i x1) {
    return _mm256_and_si256(_mm256_cmpgt_epi32(c, x0m1), _mm256_cmpgt_epi32(x1, c));
}

/* Row entries q .. q + 7 of a tap: the plane's value where q lies in
 * [lo, hi) and its column in [x0, x1) (cm), else +0. Masked loads never touch
 * the masked-off addresses. */
static inline __m256 tap_vec(const float *plane, const nb__conv_tap *t, int64_t q, __m256i cm) {
    if (q >= t->lo && q + 8 <= t->hi)
        return _mm256_and_ps(_mm256_loadu_ps(plane + q + t->shift), _mm256_castsi256_ps(cm));
    if (q + 8 <= t->lo || q >= t->hi) return _mm256_setzero_ps();
    const __m256i in = _mm256_and_si256(_mm256_andnot_si256(lanes(t->lo - q), lanes(t->hi - q)), cm);
    return _mm256_maskload_ps(plane + q + t->shift, in);
}

void nb__im2col_same_avx2(const float *plane, const nb__conv_tap *taps, int64_t ntaps, int64_t p,
                          int64_t ow, float *col, int64_t ldcol) {
    const __m256i vow = _mm256_set1_epi32((int)ow), first = cols_at(0, ow), last = cols_at(p - 8, ow);
    for (int64_t k = 0; k < ntaps; k++) {
        const nb__conv_tap *t = &taps[k];
        const __m256i x0m1 = _mm256_set1_epi32((int)t->x0 - 1), x1 = _mm256_set1_epi32((int)t->x1);
        float *row = col + k * ldcol;
        __m256i c = first;
        int64_t q = 0;
        for (; q + 8 <= p; q += 8, c = next_cols(c, vow))
            _mm256_storeu_ps(row + q, tap_vec(plane, t, q, in_cols(c, x0m1, x1)));
        /* the last partial vector again from p − 8: the overlap is rewritten
         * with the same values, and no masked store (slow on AMD) is needed */
        if (q < p) _mm256_storeu_ps(row + p - 8, tap_vec(plane, t, p - 8, in_cols(last, x0m1, x1)));
    }
}

void nb__col2im_same_avx2(float *col, int64_t ldcol, const nb__conv_tap *taps, int64_t ntaps,
                          int64_t p, int64_t ow, float *plane) {
    (void)p;
    const __m256i vow = _mm256_set1_epi32((int)ow);
    for (int64_t k = 0; k < ntaps; k++) {
        const nb__conv_tap *t = &taps[k];
        if (t->lo >= t->hi) continue;
        const __m256i x0m1 = _mm256_set1_epi32((int)t->x0 - 1), x1 = _mm256_set1_epi32((int)t->x1);
        const float *row = col + k * ldcol;
        float *dst = plane + t->shift;
        /* lo is column x0 of row y0; entries in padding columns add +0, as
         * the portable loop's zeroed scratch entries do */
        __m256i c = _mm256_add_epi32(_mm256_set1_epi32((int)t->x0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        c = _mm256_sub_epi32(c, _mm256_and_si256(_mm256_cmpgt_epi32(c, _mm256_sub_epi32(vow, _mm256_set1_epi32(1))), vow));
        int64_t q = t->lo;
        for (; q + 8 <= t->hi; q += 8, c = next_cols(c, vow)) {
            const __m256 v = _mm256_and_ps(_mm256_loadu_ps(row + q), _mm256_castsi256_ps(in_cols(c, x0m1, x1)));
            _mm256_storeu_ps(dst + q, _mm256_add_ps(_mm256_loadu_ps(dst + q), v));
        }
        for (; q < t->hi; q++) {
            const int64_t cq = q % ow;
            dst[q] += cq >= t->x0 && cq < t->x1 ? row[q] : 0.0f;
        }
    }
}
#endif
