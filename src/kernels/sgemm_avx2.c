/* SGEMM micro-kernel for AVX2 + FMA: a 6x16 tile of C held in 12 ymm
 * accumulators (+2 for B, +1 for the A broadcast = 15 of 16 registers).
 * Compiled with -mavx2 -mfma; only called when cpu.c says the CPU has them. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"

#define MR 6
#define NR 16

/* Why 6x16: each k step loads 2 B vectors and 6 broadcasts for 12 FMAs; two FMA
 * ports then stay busy (12 FMAs ≥ 2 ports × 4-5 cycles latency), and loads stay
 * under two per cycle. `packed` is a compile-time constant at both call sites so
 * the packed case gets constant strides and fixed addressing. */
static inline __attribute__((always_inline)) void
tile_6x16(size_t k, const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
          const float *b, ptrdiff_t rs_b, int mr, int packed, __m256 acc[2 * MR]) {
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
            x = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
            x = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
            x = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
            x = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
            x = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
            x = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
            a += MR;
            b += NR;
        }
    } else {
        /* Rows past mr alias the last valid row: never out of bounds, and their
         * results are simply not written back. */
        const float *a0 = a;
        const float *a1 = a + (mr > 1 ? 1 : 0) * rs_a;
        const float *a2 = a + (mr > 2 ? 2 : mr - 1) * rs_a;
        const float *a3 = a + (mr > 3 ? 3 : mr - 1) * rs_a;
        const float *a4 = a + (mr > 4 ? 4 : mr - 1) * rs_a;
        const float *a5 = a + (mr > 5 ? 5 : mr - 1) * rs_a;
#pragma GCC unroll 2
        for (size_t p = 0; p < k; p++) {
            const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
            __m256 x;
            x = _mm256_broadcast_ss(a0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
            x = _mm256_broadcast_ss(a1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
            x = _mm256_broadcast_ss(a2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
            x = _mm256_broadcast_ss(a3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
            x = _mm256_broadcast_ss(a4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
            x = _mm256_broadcast_ss(a5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
            a0 += cs_a; a1 += cs_a; a2 += cs_a; a3 += cs_a; a4 += cs_a; a5 += cs_a;
            b += rs_b;
        }
    }
    acc[0] = c00; acc[1] = c01; acc[2] = c10; acc[3] = c11;
    acc[4] = c20; acc[5] = c21; acc[6] = c30; acc[7] = c31;
    acc[8] = c40; acc[9] = c41; acc[10] = c50; acc[11] = c51;
}

static void kernel_6x16(size_t k, float alpha, const float *a, ptrdiff_t rs_a,
                        ptrdiff_t cs_a, const float *b, ptrdiff_t rs_b, float beta,
                        float *c, ptrdiff_t ldc, int mr, int nr) {
    __m256 acc[2 * MR];
    for (int i = 0; i < mr; i++) _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    /* The fixed-stride loop reads all MR rows of A: only safe for a full
     * tile (a caller's unpacked Aᵀ can have these strides with m < MR). */
    if (rs_a == 1 && cs_a == MR && rs_b == NR && mr == MR)
        tile_6x16(k, a, 1, MR, b, NR, mr, 1, acc);
    else
        tile_6x16(k, a, rs_a, cs_a, b, rs_b, mr, 0, acc);

    const __m256 va = _mm256_set1_ps(alpha);
    if (nr == NR) {
        const __m256 vb = _mm256_set1_ps(beta);
        for (int i = 0; i < mr; i++) {
            float *ci = c + i * ldc;
            __m256 x0 = _mm256_mul_ps(va, acc[2 * i]), x1 = _mm256_mul_ps(va, acc[2 * i + 1]);
            if (beta == 1.0f) {
                x0 = _mm256_add_ps(x0, _mm256_loadu_ps(ci));
                x1 = _mm256_add_ps(x1, _mm256_loadu_ps(ci + 8));
            } else if (beta != 0.0f) {
                x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), x0);
                x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), x1);
            }
            _mm256_storeu_ps(ci, x0);
            _mm256_storeu_ps(ci + 8, x1);
        }
        return;
    }
    /* Partial width: stage alpha*acc and write the valid columns back with the
     * same arithmetic (alpha*acc, then + beta*c) as the full-width path above. */
    float t[MR * NR];
    for (int i = 0; i < MR; i++) {
        _mm256_storeu_ps(t + i * NR, _mm256_mul_ps(va, acc[2 * i]));
        _mm256_storeu_ps(t + i * NR + 8, _mm256_mul_ps(va, acc[2 * i + 1]));
    }
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

/* KC = 512: the 16x512 B sliver (32 KiB) streams through L1 while A stays;
 * MC = 96: the 96x512 A block (192 KiB) sits in a 512 KiB L2;
 * NC = 4080: the 512x4080 B panel (8 MiB) fits in the L3.
 * (Chosen by measurement on Zen 3; see docs/kernels.md.) */
const nb__sgemm_arch nb__sgemm_avx2 = {
    .mr = MR, .nr = NR, .kc = 512, .mc = 96, .nc = 4080,
    .kernel = kernel_6x16, .pack_b = nb__sgemm_pack_b_avx2, .name = "avx2 6x16",
};
#else
typedef int nb__sgemm_avx2_unused; /* ISO C forbids an empty file */
#endif
