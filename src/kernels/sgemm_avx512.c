/* SGEMM micro-kernel for AVX-512: a 12x32 tile of C in 24 zmm accumulators
 * (+2 for B, broadcasts folded into the FMAs' memory operand). Compiled with
 * -mavx512f/bw/dq/vl; only called when cpu.c says the CPU and OS support it. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"

#define MR 12
#define NR 32

/* Why 12x32: 24 FMAs per k step against 2 B loads and 12 broadcast loads hides
 * the 4-cycle FMA latency on two 512-bit ports with room to spare, and leaves
 * 6 of 32 registers free. 14x32 would add only ~2% arithmetic intensity. */
#define ROW(i, ptr)                                                        \
    do {                                                                   \
        const __m512 x_ = _mm512_set1_ps(*(ptr));                          \
        acc[2 * (i)] = _mm512_fmadd_ps(x_, b0, acc[2 * (i)]);              \
        acc[2 * (i) + 1] = _mm512_fmadd_ps(x_, b1, acc[2 * (i) + 1]);      \
    } while (0)

static inline __attribute__((always_inline)) void
tile_12x32(size_t k, const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
           const float *b, ptrdiff_t rs_b, int mr, int packed, __m512 acc[2 * MR]) {
    for (int i = 0; i < 2 * MR; i++) acc[i] = _mm512_setzero_ps();
    if (packed) {
#pragma GCC unroll 2
        for (size_t p = 0; p < k; p++) {
            const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
            ROW(0, a + 0); ROW(1, a + 1); ROW(2, a + 2); ROW(3, a + 3);
            ROW(4, a + 4); ROW(5, a + 5); ROW(6, a + 6); ROW(7, a + 7);
            ROW(8, a + 8); ROW(9, a + 9); ROW(10, a + 10); ROW(11, a + 11);
            a += MR;
            b += NR;
        }
    } else {
        /* Rows past mr alias the last valid row (never out of bounds; their
         * results are not written back). */
        const float *ap[MR];
        for (int i = 0; i < MR; i++) ap[i] = a + (i < mr ? i : mr - 1) * rs_a;
        for (size_t p = 0; p < k; p++) {
            const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
            const ptrdiff_t o = (ptrdiff_t)p * cs_a;
            ROW(0, ap[0] + o); ROW(1, ap[1] + o); ROW(2, ap[2] + o); ROW(3, ap[3] + o);
            ROW(4, ap[4] + o); ROW(5, ap[5] + o); ROW(6, ap[6] + o); ROW(7, ap[7] + o);
            ROW(8, ap[8] + o); ROW(9, ap[9] + o); ROW(10, ap[10] + o); ROW(11, ap[11] + o);
            b += rs_b;
        }
    }
}
#undef ROW

static void kernel_12x32(size_t k, float alpha, const float *a, ptrdiff_t rs_a,
                         ptrdiff_t cs_a, const float *b, ptrdiff_t rs_b, float beta,
                         float *c, ptrdiff_t ldc, int mr, int nr) {
    __m512 acc[2 * MR];
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
    }
    /* The fixed-stride loop reads all MR rows of A: only safe for a full
     * tile (a caller's unpacked Aᵀ can have these strides with m < MR). */
    if (rs_a == 1 && cs_a == MR && rs_b == NR && mr == MR)
        tile_12x32(k, a, 1, MR, b, NR, mr, 1, acc);
    else
        tile_12x32(k, a, rs_a, cs_a, b, rs_b, mr, 0, acc);

    const __m512 va = _mm512_set1_ps(alpha);
    if (nr == NR) {
        const __m512 vb = _mm512_set1_ps(beta);
        for (int i = 0; i < mr; i++) {
            float *ci = c + i * ldc;
            __m512 x0 = _mm512_mul_ps(va, acc[2 * i]), x1 = _mm512_mul_ps(va, acc[2 * i + 1]);
            if (beta == 1.0f) {
                x0 = _mm512_add_ps(x0, _mm512_loadu_ps(ci));
                x1 = _mm512_add_ps(x1, _mm512_loadu_ps(ci + 16));
            } else if (beta != 0.0f) {
                x0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), x0);
                x1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16), x1);
            }
            _mm512_storeu_ps(ci, x0);
            _mm512_storeu_ps(ci + 16, x1);
        }
        return;
    }
    /* Partial width: masked loads/stores touch only the nr valid columns, with
     * the same arithmetic as the full-width path. */
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFFu : ((1u << nr) - 1u));
    const __mmask16 m1 = (__mmask16)(nr <= 16 ? 0u : ((1u << (nr - 16)) - 1u));
    const __m512 vb = _mm512_set1_ps(beta);
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        __m512 x0 = _mm512_mul_ps(va, acc[2 * i]), x1 = _mm512_mul_ps(va, acc[2 * i + 1]);
        if (beta == 1.0f) {
            x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, ci));
            x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, ci + 16));
        } else if (beta != 0.0f) {
            x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), x0);
            x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), x1);
        }
        _mm512_mask_storeu_ps(ci, m0, x0);
        _mm512_mask_storeu_ps(ci + 16, m1, x1);
    }
}

/* KC = 192: the 32x192 B sliver (24 KiB) stays in a 32-48 KiB L1 while A
 * streams; MC = 240: the 240x192 A block (180 KiB) sits well inside a 1 MiB+
 * L2; NC = 4096: the 192x4096 B panel (3 MiB) fits in L3. */
const nb__sgemm_arch nb__sgemm_avx512 = {
    .mr = MR, .nr = NR, .kc = 192, .mc = 240, .nc = 4096,
    .kernel = kernel_12x32, .pack_a = nb__sgemm_pack_a_avx2, .pack_b = nb__sgemm_pack_b_avx2,
    .name = "avx512 12x32",
};
#else
typedef int nb__sgemm_avx512_unused; /* ISO C forbids an empty file */
#endif
