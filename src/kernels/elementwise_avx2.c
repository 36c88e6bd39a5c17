/* kernels/elementwise_avx2.c — AVX2+FMA instantiation of the elementwise
 * kernels (elementwise_simd.h) on 8-lane __m256 vectors; built with -mavx2
 * -mfma and only called after nb__cpu_path() says this CPU has them. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "kernels/elementwise.h"

#define ISA_SUFFIX avx2
#define W 8
typedef __m256 VF;
typedef __m256i VI;
typedef __m256 VM; /* comparison results are all-ones / all-zeros lanes */

/* lanes < n set, for 0 < n < 8 */
static inline __m256i tail_mask_i(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VLOADN(p, n) _mm256_maskload_ps((p), tail_mask_i(n))
#define VSTOREN(p, v, n) _mm256_maskstore_ps((p), tail_mask_i(n), (v))
#define VTAILMASK(n) _mm256_castsi256_ps(tail_mask_i(n))
#define VSET1(x) _mm256_set1_ps(x)
#define VSET1_I(x) _mm256_set1_epi32(x)
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VMUL _mm256_mul_ps
#define VDIV _mm256_div_ps
#define VSQRT _mm256_sqrt_ps
#define VFMA _mm256_fmadd_ps   /* a·b + c */
#define VFNMA _mm256_fnmadd_ps /* c − a·b */
#define VFMS _mm256_fmsub_ps   /* a·b − c */
#define VMAX _mm256_max_ps     /* second operand if either is NaN */
#define VMIN _mm256_min_ps
#define VAND _mm256_and_ps
#define VOR _mm256_or_ps
#define VXOR _mm256_xor_ps
#define VROUND(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VCVT_I _mm256_cvtps_epi32
#define VCVT_F _mm256_cvtepi32_ps
#define VCAST_F _mm256_castsi256_ps
#define VCAST_I _mm256_castps_si256
#define VADD_I _mm256_add_epi32
#define VSUB_I _mm256_sub_epi32
#define VSLLI _mm256_slli_epi32
#define VSRAI _mm256_srai_epi32
#define VCMP_LT(a, b) _mm256_cmp_ps((a), (b), _CMP_LT_OQ)
#define VCMP_LE(a, b) _mm256_cmp_ps((a), (b), _CMP_LE_OQ)
#define VCMP_GT(a, b) _mm256_cmp_ps((a), (b), _CMP_GT_OQ)
#define VCMP_GE(a, b) _mm256_cmp_ps((a), (b), _CMP_GE_OQ)
#define VCMP_EQ(a, b) _mm256_cmp_ps((a), (b), _CMP_EQ_OQ)
#define VCMP_NE(a, b) _mm256_cmp_ps((a), (b), _CMP_NEQ_UQ)
#define VCMP_NGE(a, b) _mm256_cmp_ps((a), (b), _CMP_NGE_UQ)
#define VSEL(m, f, t) _mm256_blendv_ps((f), (t), (m)) /* m ? t : f */
#define VSEL_NEG(s, f, t) _mm256_blendv_ps((f), (t), (s)) /* sign bit of s set ? t : f */
#define VMAND _mm256_and_ps
#define VMOR _mm256_or_ps
#define VMANY(m) (_mm256_movemask_ps(m) != 0)

static inline float hsum128(__m128 v) {
    /* lanes j += j+2, then j += j+1: the tail of the halving fold */
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}
static inline float vhsum(__m256 v) {
    return hsum128(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}
static inline float vhmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
#define VHSUM vhsum
#define VHMAX vhmax

#include "kernels/elementwise_simd.h"

/* Four 8-lane accumulators hold lanes 0-7, 8-15, 16-23, 24-31 of the
 * reference's 32; the fold (j += j+16, +8, +4, +2, +1) maps to acc0+acc2,
 * acc1+acc3, then their sum, then hsum128 on its two halves. */
float nb__ew_sum_leaf_avx2(const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + NB_SUM_LANES <= n; i += NB_SUM_LANES) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
    }
    float s = vhsum(_mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3)));
    for (; i < n; i++) s += x[i];
    return s;
}
#endif
