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

/* The even and odd elements of p[0..2·nw) for nw <= 8 windows (lanes past
 * them read as 0), in the lane order 0 1 4 5 | 2 3 6 7 of the window index
 * (put right once at the end). */
static inline void deinterleave(const float *p, int64_t nw, __m256 *even, __m256 *odd) {
    __m256 lo, hi;
    if (nw == 8) {
        lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8);
    } else {
        lo = _mm256_maskload_ps(p, lanes(2 * nw));
        hi = _mm256_maskload_ps(p + 8, lanes(2 * nw - 8));
    }
    *even = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    *odd = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
}

/* Stores 2·nw floats, the windows' columns interleaved back (window j covers
 * columns 2j and 2j + 1), from even and odd in window order. */
static inline void interleave_store(float *p, int64_t nw, __m256 even, __m256 odd) {
    const __m256 l = _mm256_unpacklo_ps(even, odd), h = _mm256_unpackhi_ps(even, odd);
    const __m256 v0 = _mm256_permute2f128_ps(l, h, 0x20), v1 = _mm256_permute2f128_ps(l, h, 0x31);
    if (nw == 8) {
        _mm256_storeu_ps(p, v0), _mm256_storeu_ps(p + 8, v1);
    } else {
        _mm256_maskstore_ps(p, lanes(2 * nw), v0);
        _mm256_maskstore_ps(p + 8, lanes(2 * nw - 8), v1);
    }
}

void nb__max_pool_2x2_row_avx2(const float *r0, const float *r1, int64_t ow, float *y,
                                  int32_t *arg, int32_t base, int32_t w) {
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    const __m256i k1 = _mm256_set1_epi32(1), kw = _mm256_set1_epi32(w),
                  kw1 = _mm256_set1_epi32(w + 1);
    const __m256i step = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    for (int64_t ox = 0; ox < ow; ox += 8) {
        const int64_t nw = ow - ox < 8 ? ow - ox : 8;
        __m256 a, b, c, d;
        deinterleave(r0 + 2 * ox, nw, &a, &b);
        deinterleave(r1 + 2 * ox, nw, &c, &d);
        __m256 m = a, t = take(b, m);
        m = _mm256_blendv_ps(m, b, t);
        __m256i k = _mm256_and_si256(_mm256_castps_si256(t), k1);
        t = take(c, m);
        m = _mm256_blendv_ps(m, c, t);
        k = _mm256_castps_si256(
            _mm256_blendv_ps(_mm256_castsi256_ps(k), _mm256_castsi256_ps(kw), t));
        t = take(d, m);
        m = _mm256_blendv_ps(m, d, t);
        const __m256i out = lanes(nw);
        m = _mm256_permutevar8x32_ps(m, order);
        if (nw == 8) _mm256_storeu_ps(y + ox, m);
        else _mm256_maskstore_ps(y + ox, out, m);
        if (arg) {
            k = _mm256_castps_si256(
                _mm256_blendv_ps(_mm256_castsi256_ps(k), _mm256_castsi256_ps(kw1), t));
            k = _mm256_permutevar8x32_epi32(k, order);
            const __m256i at = _mm256_set1_epi32(base + 2 * (int32_t)ox);
            k = _mm256_add_epi32(k, _mm256_add_epi32(at, step));
            if (nw == 8) _mm256_storeu_si256((__m256i *)(arg + ox), k);
            else _mm256_maskstore_epi32((int *)(arg + ox), out, k);
        }
    }
}

void nb__max_pool_2x2_backward_row_avx2(float *r0, float *r1, int64_t ow, const float *dy,
                                           const int32_t *arg, int32_t base, int32_t w) {
    const __m256i k1 = _mm256_set1_epi32(1), kw = _mm256_set1_epi32(w),
                  kw1 = _mm256_set1_epi32(w + 1);
    const __m256i step = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t ox = 0; ox < ow; ox += 8) {
        const int64_t nw = ow - ox < 8 ? ow - ox : 8;
        const __m256i at = _mm256_add_epi32(_mm256_set1_epi32(base + 2 * (int32_t)ox), step);
        __m256i a;
        __m256 g;
        if (nw == 8) {
            a = _mm256_loadu_si256((const __m256i *)(arg + ox)), g = _mm256_loadu_ps(dy + ox);
        } else {
            a = _mm256_maskload_epi32((const int *)(arg + ox), lanes(nw));
            g = _mm256_maskload_ps(dy + ox, lanes(nw));
        }
        const __m256i k = _mm256_sub_epi32(a, at);
        const __m256 v = _mm256_add_ps(zero, g); /* 0 + dy, as pool.c */
#define PICK(kk) _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(k, (kk))), v)
        const __m256 e0 = PICK(_mm256_setzero_si256()), o0 = PICK(k1), e1 = PICK(kw),
                     o1 = PICK(kw1);
#undef PICK
        interleave_store(r0 + 2 * ox, nw, e0, o0);
        interleave_store(r1 + 2 * ox, nw, e1, o1);
    }
}
#endif
