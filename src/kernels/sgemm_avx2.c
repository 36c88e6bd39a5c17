/* SGEMM for AVX2 + FMA: the 6x16 micro-kernel (a tile of C in 12 ymm
 * accumulators, +2 for B, +1 for the A broadcast = 15 of 16 registers) and
 * the vectorised packing of A and B. Compiled with -mavx2 -mfma; only called
 * when cpu.c says the CPU has them. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"

#define MR 6
#define NR 16

/* Why 6x16: each k step loads 2 B vectors and 6 broadcasts for 12 FMAs; two FMA
 * ports then stay busy (12 FMAs ≥ 2 ports × 4-5 cycles latency), and loads stay
 * under two per cycle. `packed` and `rows` are compile-time constants at every
 * call site: the packed case gets fixed addressing, and a tile of at most 4 rows
 * runs 8 FMAs per k step instead of 12 (still 8 chains, enough to fill both
 * ports), so the remainder tile of m = 64 or 10 costs 2/3 of a full one. */
#define FMA_ROW(i, x)                                                          \
    do {                                                                       \
        c##i##0 = _mm256_fmadd_ps(x, b0, c##i##0);                             \
        c##i##1 = _mm256_fmadd_ps(x, b1, c##i##1);                             \
    } while (0)

static inline __attribute__((always_inline)) void
tile_6x16(size_t k, float alpha, const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
          const float *b, ptrdiff_t rs_b, float beta, float *c, ptrdiff_t ldc, int mr,
          int nr, int packed, int rows) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    if (packed) {
#pragma GCC unroll 4
        for (size_t p = 0; p < k; p++) {
            const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
            __m256 x;
            x = _mm256_broadcast_ss(a + 0); FMA_ROW(0, x);
            x = _mm256_broadcast_ss(a + 1); FMA_ROW(1, x);
            x = _mm256_broadcast_ss(a + 2); FMA_ROW(2, x);
            x = _mm256_broadcast_ss(a + 3); FMA_ROW(3, x);
            x = _mm256_broadcast_ss(a + 4); FMA_ROW(4, x);
            x = _mm256_broadcast_ss(a + 5); FMA_ROW(5, x);
            a += MR;
            b += NR;
        }
    } else {
        /* Rows past mr alias the last valid row: never out of bounds, and their
         * results are simply not written back. One offset steps all rows. */
        const float *a0 = a;
        const float *a1 = a + (mr > 1 ? 1 : 0) * rs_a;
        const float *a2 = a + (mr > 2 ? 2 : mr - 1) * rs_a;
        const float *a3 = a + (mr > 3 ? 3 : mr - 1) * rs_a;
        const float *a4 = a + (mr > 4 ? 4 : mr - 1) * rs_a;
        const float *a5 = a + (mr > 5 ? 5 : mr - 1) * rs_a;
        ptrdiff_t o = 0;
#pragma GCC unroll 2
        for (size_t p = 0; p < k; p++) {
            const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
            __m256 x;
            x = _mm256_broadcast_ss(a0 + o); FMA_ROW(0, x);
            x = _mm256_broadcast_ss(a1 + o); FMA_ROW(1, x);
            x = _mm256_broadcast_ss(a2 + o); FMA_ROW(2, x);
            x = _mm256_broadcast_ss(a3 + o); FMA_ROW(3, x);
            if (rows > 4) {
                x = _mm256_broadcast_ss(a4 + o); FMA_ROW(4, x);
                x = _mm256_broadcast_ss(a5 + o); FMA_ROW(5, x);
            }
            o += cs_a;
            b += rs_b;
        }
    }

    /* alpha = 1 skips the multiply (x·1 is exact, so no bit changes). */
    if (alpha != 1.0f) {
        const __m256 va = _mm256_set1_ps(alpha);
        c00 = _mm256_mul_ps(va, c00); c01 = _mm256_mul_ps(va, c01);
        c10 = _mm256_mul_ps(va, c10); c11 = _mm256_mul_ps(va, c11);
        c20 = _mm256_mul_ps(va, c20); c21 = _mm256_mul_ps(va, c21);
        c30 = _mm256_mul_ps(va, c30); c31 = _mm256_mul_ps(va, c31);
        if (rows > 4) {
            c40 = _mm256_mul_ps(va, c40); c41 = _mm256_mul_ps(va, c41);
            c50 = _mm256_mul_ps(va, c50); c51 = _mm256_mul_ps(va, c51);
        }
    }
    if (nr == NR) {
        /* Named accumulators stay in registers: rows are written one by one
         * (beta == 0 never reads C). */
        const __m256 vb = _mm256_set1_ps(beta);
#define STORE_ROW(i)                                                            \
    do {                                                                        \
        float *ci = c + (i) * ldc;                                              \
        __m256 x0 = c##i##0, x1 = c##i##1;                                      \
        if (beta == 1.0f) {                                                     \
            x0 = _mm256_add_ps(x0, _mm256_loadu_ps(ci));                        \
            x1 = _mm256_add_ps(x1, _mm256_loadu_ps(ci + 8));                    \
        } else if (beta != 0.0f) {                                              \
            x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), x0);                  \
            x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), x1);              \
        }                                                                       \
        _mm256_storeu_ps(ci, x0);                                               \
        _mm256_storeu_ps(ci + 8, x1);                                           \
    } while (0)
        STORE_ROW(0);
        if (mr > 1) STORE_ROW(1);
        if (mr > 2) STORE_ROW(2);
        if (mr > 3) STORE_ROW(3);
        if (rows > 4 && mr > 4) STORE_ROW(4);
        if (rows > 4 && mr > 5) STORE_ROW(5);
#undef STORE_ROW
        return;
    }
    /* Partial width: stage the scaled tile and write the valid columns back
     * with the same arithmetic as the full-width path above. */
    float t[MR * NR];
    _mm256_storeu_ps(t + 0 * NR, c00); _mm256_storeu_ps(t + 0 * NR + 8, c01);
    _mm256_storeu_ps(t + 1 * NR, c10); _mm256_storeu_ps(t + 1 * NR + 8, c11);
    _mm256_storeu_ps(t + 2 * NR, c20); _mm256_storeu_ps(t + 2 * NR + 8, c21);
    _mm256_storeu_ps(t + 3 * NR, c30); _mm256_storeu_ps(t + 3 * NR + 8, c31);
    _mm256_storeu_ps(t + 4 * NR, c40); _mm256_storeu_ps(t + 4 * NR + 8, c41);
    _mm256_storeu_ps(t + 5 * NR, c50); _mm256_storeu_ps(t + 5 * NR + 8, c51);
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        const float *ti = t + i * NR;
        if (beta == 0.0f)
            for (int j = 0; j < nr; j++) ci[j] = ti[j];
        else if (beta == 1.0f)
            for (int j = 0; j < nr; j++) ci[j] = ti[j] + ci[j];
        else
            for (int j = 0; j < nr; j++) ci[j] = fmaf(beta, ci[j], ti[j]);
    }
}
#undef FMA_ROW

static void kernel_6x16(size_t k, float alpha, const float *a, ptrdiff_t rs_a,
                        ptrdiff_t cs_a, const float *b, ptrdiff_t rs_b, float beta,
                        float *c, ptrdiff_t ldc, int mr, int nr) {
    for (int i = 0; i < mr; i++) _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    /* The fixed-stride loop reads all MR rows of A: only safe for a full
     * tile (a caller's unpacked Aᵀ can have these strides with m < MR). */
    if (mr <= 4)
        tile_6x16(k, alpha, a, rs_a, cs_a, b, rs_b, beta, c, ldc, mr, nr, 0, 4);
    else if (rs_a == 1 && cs_a == MR && rs_b == NR && mr == MR)
        tile_6x16(k, alpha, a, 1, MR, b, NR, beta, c, ldc, MR, nr, 1, MR);
    else
        tile_6x16(k, alpha, a, rs_a, cs_a, b, rs_b, beta, c, ldc, mr, nr, 0, MR);
}


/* ---- packing op(B) into kc x nr slivers (nr a multiple of 8) ----------------
 * Vectorised because the transposed case (forward X·Wᵀ of every linear layer)
 * would otherwise be a scalar strided gather costing a sizeable part of the
 * product for batch-sized m. Shared with the AVX-512 kernel (its CPUs have
 * AVX2). */
static inline __attribute__((always_inline)) void
transpose8_store(const float *src, size_t ld, float *dst, size_t dst_ld) {
    const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ld);
    const __m256 r2 = _mm256_loadu_ps(src + 2 * ld), r3 = _mm256_loadu_ps(src + 3 * ld);
    const __m256 r4 = _mm256_loadu_ps(src + 4 * ld), r5 = _mm256_loadu_ps(src + 5 * ld);
    const __m256 r6 = _mm256_loadu_ps(src + 6 * ld), r7 = _mm256_loadu_ps(src + 7 * ld);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * dst_ld, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + 1 * dst_ld, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * dst_ld, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * dst_ld, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * dst_ld, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * dst_ld, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * dst_ld, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * dst_ld, _mm256_permute2f128_ps(s3, s7, 0x31));
}

/* One sliver of the transposed case: op(B)(p, j) = b[j*ldb + p], 8x8 blocks
 * transposed in registers. */
static void pack_b_sliver_t(float *dst, const float *src, size_t ldb, int kc, int cols,
                            int nr) {
    const int full = cols - cols % 8;
    int p = 0;
    for (; p + 8 <= kc; p += 8)
        for (int j = 0; j < full; j += 8)
            transpose8_store(src + j * ldb + p, ldb, dst + (size_t)p * nr + j, (size_t)nr);
    for (; p < kc; p++)
        for (int j = 0; j < full; j++) dst[(size_t)p * nr + j] = src[j * ldb + p];
    for (int j = full; j < nr; j++) {
        const float *sj = src + j * ldb;
        for (int q = 0; q < kc; q++) dst[(size_t)q * nr + j] = j < cols ? sj[q] : 0.0f;
    }
}

void nb__sgemm_pack_b_avx2(float *dst, const float *b, size_t ldb, int trans, size_t p0,
                           int kc, size_t j0, int nc, int nr) {
    const int full = nc / nr, tail = nc % nr;
    const size_t sliver = (size_t)nr * kc;
    if (trans) {
        for (int s = 0; s <= full; s++) {
            const int cols = s < full ? nr : tail;
            if (cols) pack_b_sliver_t(dst + s * sliver, b + (j0 + (size_t)s * nr) * ldb + p0, ldb, kc, cols, nr);
        }
        return;
    }
    /* Row by row across all slivers: B is read as whole contiguous rows, which
     * the hardware prefetcher follows; a sliver at a time would touch kc
     * different pages per 64 bytes. */
    for (int p = 0; p < kc; p++) {
        const float *sp = b + (p0 + p) * ldb + j0;
        float *d = dst + (size_t)p * nr;
        for (int s = 0; s < full; s++, sp += nr, d += sliver)
            for (int j = 0; j < nr; j += 8) _mm256_storeu_ps(d + j, _mm256_loadu_ps(sp + j));
        if (tail) {
            int j = 0;
            for (; j < tail; j++) d[j] = sp[j];
            for (; j < nr; j++) d[j] = 0.0f;
        }
    }
}

/* ---- packing op(A) into kc x mr slivers ------------------------------------
 * The scalar loop cost up to an eighth of a batch-64 product: the untransposed
 * case writes each float to a different k row. Here rows are transposed 4 and
 * 2 at a time, 8 k per step, with 128/64-bit stores (any even mr; the rest and
 * the k tail are scalar). */
static inline __attribute__((always_inline)) void
pack_a_rows4(float *d, const float *s, size_t lda, int mr) {
    const __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + lda);
    const __m256 r2 = _mm256_loadu_ps(s + 2 * lda), r3 = _mm256_loadu_ps(s + 3 * lda);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    /* u_q holds k = q in its low lane and k = q + 4 in its high lane */
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    _mm_storeu_ps(d + 0 * mr, _mm256_castps256_ps128(u0));
    _mm_storeu_ps(d + 1 * mr, _mm256_castps256_ps128(u1));
    _mm_storeu_ps(d + 2 * mr, _mm256_castps256_ps128(u2));
    _mm_storeu_ps(d + 3 * mr, _mm256_castps256_ps128(u3));
    _mm_storeu_ps(d + 4 * mr, _mm256_extractf128_ps(u0, 1));
    _mm_storeu_ps(d + 5 * mr, _mm256_extractf128_ps(u1, 1));
    _mm_storeu_ps(d + 6 * mr, _mm256_extractf128_ps(u2, 1));
    _mm_storeu_ps(d + 7 * mr, _mm256_extractf128_ps(u3, 1));
}

static inline __attribute__((always_inline)) void
pack_a_rows2(float *d, const float *s, size_t lda, int mr) {
    const __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + lda);
    /* pairs for k = 0,1 | 4,5 and k = 2,3 | 6,7 */
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m128 l0 = _mm256_castps256_ps128(t0), h0 = _mm256_extractf128_ps(t0, 1);
    const __m128 l1 = _mm256_castps256_ps128(t1), h1 = _mm256_extractf128_ps(t1, 1);
    _mm_storel_pi((__m64 *)(d + 0 * mr), l0);
    _mm_storeh_pi((__m64 *)(d + 1 * mr), l0);
    _mm_storel_pi((__m64 *)(d + 2 * mr), l1);
    _mm_storeh_pi((__m64 *)(d + 3 * mr), l1);
    _mm_storel_pi((__m64 *)(d + 4 * mr), h0);
    _mm_storeh_pi((__m64 *)(d + 5 * mr), h0);
    _mm_storel_pi((__m64 *)(d + 6 * mr), h1);
    _mm_storeh_pi((__m64 *)(d + 7 * mr), h1);
}

/* n contiguous floats (a row of a transposed A sliver). */
static inline __attribute__((always_inline)) void copy_floats(float *d, const float *s, int n) {
    int j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(d + j, _mm256_loadu_ps(s + j));
    if (j + 4 <= n) {
        _mm_storeu_ps(d + j, _mm_loadu_ps(s + j));
        j += 4;
    }
    if (j + 2 <= n) {
        _mm_storel_pi((__m64 *)(d + j), _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(s + j)));
        j += 2;
    }
    if (j < n) d[j] = s[j];
}

static inline __attribute__((always_inline)) void
pack_a_body(float *dst, const float *a, size_t lda, int trans, size_t i0, int mc, size_t p0,
            int kc, int mr) {
    const int full = mc / mr, tail = mc % mr;
    const size_t sliver = (size_t)mr * kc;
    if (trans) {
        /* Row p of the stored A holds k = p for all mc rows of op(A). Eight
         * rows at a time, sliver by sliver: each sliver then gets 8 mr floats
         * in a row (whole cache lines) while the 8 source rows stay in L1.
         * Row by row instead, the slivers' writes (kc*mr*4 bytes apart, often
         * a multiple of 4 KiB) fight over one L1 set and were 3x slower. */
        for (int p = 0; p < kc; p += 8) {
            const int np = kc - p < 8 ? kc - p : 8;
            const float *sp = a + (p0 + p) * lda + i0;
            float *d = dst + (size_t)p * mr;
            for (int s = 0; s < full; s++, sp += mr, d += sliver)
                for (int q = 0; q < np; q++) copy_floats(d + q * mr, sp + q * lda, mr);
            if (tail)
                for (int q = 0; q < np; q++) {
                    int i = 0;
                    for (; i < tail; i++) d[q * mr + i] = sp[q * lda + i];
                    for (; i < mr; i++) d[q * mr + i] = 0.0f;
                }
        }
        return;
    }
    for (int s = 0; s < full; s++) {
        const float *src = a + (i0 + (size_t)s * mr) * lda + p0;
        float *d = dst + s * sliver;
        int p = 0;
        if (mr % 2 == 0)
            for (; p + 8 <= kc; p += 8) {
                int g = 0;
                for (; g + 4 <= mr; g += 4)
                    pack_a_rows4(d + (size_t)p * mr + g, src + g * lda + p, lda, mr);
                if (g < mr) pack_a_rows2(d + (size_t)p * mr + g, src + g * lda + p, lda, mr);
            }
        for (; p < kc; p++)
            for (int i = 0; i < mr; i++) d[(size_t)p * mr + i] = src[i * lda + p];
    }
    if (tail) {
        const float *src = a + (i0 + (size_t)full * mr) * lda + p0;
        float *d = dst + full * sliver;
        for (int p = 0; p < kc; p++) {
            int i = 0;
            for (; i < tail; i++) d[(size_t)p * mr + i] = src[i * lda + p];
            for (; i < mr; i++) d[(size_t)p * mr + i] = 0.0f;
        }
    }
}

/* Specialised for the two tile heights in use, so the row groups and copies
 * unroll; any other mr still works. */
void nb__sgemm_pack_a_avx2(float *dst, const float *a, size_t lda, int trans, size_t i0,
                           int mc, size_t p0, int kc, int mr) {
    if (mr == 6)
        pack_a_body(dst, a, lda, trans, i0, mc, p0, kc, 6);
    else if (mr == 12)
        pack_a_body(dst, a, lda, trans, i0, mc, p0, kc, 12);
    else
        pack_a_body(dst, a, lda, trans, i0, mc, p0, kc, mr);
}

/* KC = 512: the 16x512 B sliver (32 KiB) streams through L1 while A stays;
 * MC = 96: the 96x512 A block (192 KiB) sits in a 512 KiB L2;
 * NC = 4080: the 512x4080 B panel (8 MiB) fits in the L3.
 * (Chosen by measurement on Zen 3; see docs/kernels.md.) */
const nb__sgemm_arch nb__sgemm_avx2 = {
    .mr = MR, .nr = NR, .kc = 512, .mc = 96, .nc = 4080,
    .kernel = kernel_6x16, .pack_a = nb__sgemm_pack_a_avx2, .pack_b = nb__sgemm_pack_b_avx2,
    .name = "avx2 6x16",
};
#else
typedef int nb__sgemm_avx2_unused; /* ISO C forbids an empty file */
#endif
