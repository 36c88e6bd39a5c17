/* Portable C SGEMM micro-kernel (4x8 tile): the scalar dispatch path on x86-64
 * and the only path elsewhere. Plain loops the compiler may vectorise with the
 * baseline instruction set; same interface as the intrinsics kernels. */
#include "kernels/kernels.h"

#define MR 4
#define NR 8

/* 4x8 keeps 32 accumulators, which fit the 16 SSE registers as 8 vectors and
 * the 32 NEON registers of AArch64 with room for the operands. */
static void kernel_4x8(size_t k, float alpha, const float *a, ptrdiff_t rs_a,
                       ptrdiff_t cs_a, const float *b, ptrdiff_t rs_b, float beta,
                       float *c, ptrdiff_t ldc, int mr, int nr) {
    float acc[MR][NR] = {{0}};
    const float *ap[MR];
    for (int i = 0; i < MR; i++) ap[i] = a + (i < mr ? i : mr - 1) * rs_a;
    for (size_t p = 0; p < k; p++) {
        const float *bp = b + (ptrdiff_t)p * rs_b;
        const ptrdiff_t o = (ptrdiff_t)p * cs_a;
        for (int i = 0; i < MR; i++) {
            const float x = ap[i][o];
            for (int j = 0; j < NR; j++) acc[i][j] += x * bp[j];
        }
    }
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        for (int j = 0; j < nr; j++) {
            const float t = alpha * acc[i][j];
            if (beta == 0.0f)
                ci[j] = t;
            else if (beta == 1.0f)
                ci[j] = t + ci[j];
            else
                ci[j] = t + beta * ci[j];
        }
    }
}

/* Portable nb__sgemm_pack_a (the AVX2 one vectorises the same layout). */
void nb__sgemm_pack_a_portable(float *dst, const float *a, size_t lda, int trans, size_t i0,
                               int mc, size_t p0, int kc, int mr) {
    for (int is = 0; is < mc; is += mr) {
        const int rows = mc - is < mr ? mc - is : mr;
        float *d = dst + (size_t)is * kc;
        for (int p = 0; p < kc; p++) {
            float *dp = d + (size_t)p * mr;
            int i = 0;
            if (trans)
                for (const float *s = a + (p0 + p) * lda + i0 + is; i < rows; i++) dp[i] = s[i];
            else
                for (const float *s = a + (i0 + is) * lda + p0 + p; i < rows; i++)
                    dp[i] = s[i * lda];
            for (; i < mr; i++) dp[i] = 0.0f;
        }
    }
}

/* Portable nb__sgemm_pack_b (the scalar path's; AVX2 has a vectorised one). */
void nb__sgemm_pack_b_portable(float *dst, const float *b, size_t ldb, int trans, size_t p0,
                               int kc, size_t j0, int nc, int nr) {
    for (int s = 0; s * nr < nc; s++) {
        const int cols = nc - s * nr < nr ? nc - s * nr : nr;
        float *d = dst + (size_t)s * nr * kc;
        const size_t js = j0 + (size_t)s * nr;
        if (!trans) {
            for (int p = 0; p < kc; p++) {
                const float *sp = b + (p0 + p) * ldb + js;
                int j = 0;
                for (; j < cols; j++) d[(size_t)p * nr + j] = sp[j];
                for (; j < nr; j++) d[(size_t)p * nr + j] = 0.0f;
            }
        } else {
            for (int j = 0; j < nr; j++) {
                const float *sj = b + (js + j) * ldb + p0;
                for (int p = 0; p < kc; p++) d[(size_t)p * nr + j] = j < cols ? sj[p] : 0.0f;
            }
        }
    }
}

/* Same cache reasoning as the AVX2 kernel (KC×NR sliver in L1, MC×KC in L2). */
const nb__sgemm_arch nb__sgemm_portable = {
    .mr = MR, .nr = NR, .kc = 256, .mc = 128, .nc = 4096,
    .kernel = kernel_4x8, .pack_a = nb__sgemm_pack_a_portable,
    .pack_b = nb__sgemm_pack_b_portable, .name = "portable 4x8",
};
