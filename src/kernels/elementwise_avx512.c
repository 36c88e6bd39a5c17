/* kernels/elementwise_avx512.c — AVX-512 (F/BW/DQ/VL) instantiation of the
 * elementwise kernels (elementwise_simd.h) on 16-lane __m512 vectors with
 * mask registers for tails; only called when nb__cpu_path() is NB_CPU_AVX512. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "kernels/elementwise.h"

#define ISA_SUFFIX avx512
#define W 16
typedef __m512 VF;
typedef __m512i VI;
typedef __mmask16 VM;

#define VTAILMASK(n) ((__mmask16)((1u << (n)) - 1u))
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VLOADN(p, n) _mm512_maskz_loadu_ps(VTAILMASK(n), (p))
#define VSTOREN(p, v, n) _mm512_mask_storeu_ps((p), VTAILMASK(n), (v))
#define VSET1(x) _mm512_set1_ps(x)
#define VSET1_I(x) _mm512_set1_epi32(x)
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL _mm512_mul_ps
#define VDIV _mm512_div_ps
#define VSQRT _mm512_sqrt_ps
#define VFMA _mm512_fmadd_ps
#define VFNMA _mm512_fnmadd_ps
#define VFMS _mm512_fmsub_ps
#define VMAX _mm512_max_ps /* second operand if either is NaN, as with AVX2 */
#define VMIN _mm512_min_ps
#define VAND _mm512_and_ps
#define VOR _mm512_or_ps
#define VXOR _mm512_xor_ps
#define VROUND(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VCVT_I _mm512_cvtps_epi32
#define VCVT_F _mm512_cvtepi32_ps
#define VCAST_F _mm512_castsi512_ps
#define VCAST_I _mm512_castps_si512
#define VADD_I _mm512_add_epi32
#define VSUB_I _mm512_sub_epi32
#define VSLLI _mm512_slli_epi32
#define VSRAI _mm512_srai_epi32
#define VCMP_LT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ)
#define VCMP_LE(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LE_OQ)
#define VCMP_GT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#define VCMP_GE(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GE_OQ)
#define VCMP_EQ(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_EQ_OQ)
#define VCMP_NE(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_NEQ_UQ)
#define VCMP_NGE(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_NGE_UQ)
#define VSEL(m, f, t) _mm512_mask_blend_ps((m), (f), (t)) /* m ? t : f */
/* s < 0 ? t : f (AVX2 reads the sign bit: callers accept either at ±0, NaN) */
#define VSEL_NEG(s, f, t) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((s), _mm512_setzero_ps(), _CMP_LT_OQ), (f), (t))
#define VMAND(a, b) ((__mmask16)((a) & (b)))
#define VMOR(a, b) ((__mmask16)((a) | (b)))
#define VMANY(m) ((m) != 0)

static inline float hsum128(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}
static inline __m256 fold512(__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}
static inline float vhsum(__m512 v) {
    __m256 h = fold512(v);
    return hsum128(_mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}
static inline float vhmax(__m512 v) {
    __m256 h = _mm256_max_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
#define VHSUM vhsum
#define VHMAX vhmax

#include "kernels/elementwise_simd.h"

/* Two 16-lane accumulators hold the reference's 32 lanes: acc0 + acc1 is the
 * j += j+16 step, fold512 the +8 step, hsum128 the rest (see reduce.c). */
float nb__ew_sum_leaf_avx512(const float *x, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int64_t i = 0;
    for (; i + NB_SUM_LANES <= n; i += NB_SUM_LANES) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
    }
    __m256 h = fold512(_mm512_add_ps(a0, a1));
    float s = hsum128(_mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
    for (; i < n; i++) s += x[i];
    return s;
}
#endif
