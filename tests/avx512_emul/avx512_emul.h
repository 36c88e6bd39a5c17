/* tests/avx512_emul/avx512_emul.h — plain-C stand-ins for exactly the AVX-512
 * intrinsics that the src/kernels/ AVX-512 files use, written from Intel's documented
 * semantics (Intrinsics Guide / SDM), so those files can run on AVX2-only CPUs.
 * Include first, then the *_avx512.c file; the 128/256-bit parts stay real. */
#ifndef NB_AVX512_EMUL_H
#define NB_AVX512_EMUL_H

/* The real header first: its include guard then turns the kernel file's own
 * #include <immintrin.h> into a no-op, and the names below can shadow it. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct { float f[16]; } emu_m512;
typedef struct { uint32_t u[16]; } emu_m512i; /* 32-bit lanes, two's complement */
typedef uint16_t emu_mmask16;

/* Counts of masked memory accesses with a partial mask, so the test can check
 * that the tail paths really ran. */
extern long emu_avx512_partial_loads, emu_avx512_partial_stores;

#define EMU_LANES(body)                                                                    \
    do {                                                                                   \
        for (int l_ = 0; l_ < 16; l_++) { body; }                                          \
    } while (0)

static inline emu_m512 emu_setzero_ps(void) {
    emu_m512 r;
    EMU_LANES(r.f[l_] = 0.0f);
    return r;
}
static inline emu_m512 emu_set1_ps(float x) {
    emu_m512 r;
    EMU_LANES(r.f[l_] = x);
    return r;
}
static inline emu_m512i emu_set1_epi32(int x) {
    emu_m512i r;
    EMU_LANES(r.u[l_] = (uint32_t)x);
    return r;
}
static inline emu_m512 emu_loadu_ps(const void *p) {
    emu_m512 r;
    memcpy(r.f, p, sizeof r.f);
    return r;
}
static inline void emu_storeu_ps(void *p, emu_m512 v) { memcpy(p, v.f, sizeof v.f); }

/* Masked-off lanes are neither read nor written (the instructions suppress
 * faults there), and maskz zeroes them. */
static inline emu_m512 emu_maskz_loadu_ps(emu_mmask16 k, const void *p) {
    const float *f = p;
    emu_m512 r;
    if (k != 0xFFFF) emu_avx512_partial_loads++;
    EMU_LANES(r.f[l_] = (k >> l_) & 1 ? f[l_] : 0.0f);
    return r;
}
static inline void emu_mask_storeu_ps(void *p, emu_mmask16 k, emu_m512 v) {
    float *f = p;
    if (k != 0xFFFF) emu_avx512_partial_stores++;
    EMU_LANES(if ((k >> l_) & 1) f[l_] = v.f[l_]);
}

#define EMU_BINOP(name, expr)                                                              \
    static inline emu_m512 name(emu_m512 a, emu_m512 b) {                                   \
        emu_m512 r;                                                                         \
        EMU_LANES(const float x = a.f[l_]; const float y = b.f[l_]; r.f[l_] = (expr));      \
        return r;                                                                           \
    }
EMU_BINOP(emu_add_ps, x + y)
EMU_BINOP(emu_sub_ps, x - y)
EMU_BINOP(emu_mul_ps, x * y)
EMU_BINOP(emu_div_ps, x / y)
/* VMAXPS/VMINPS: the second operand when either is NaN or both are zeros. */
EMU_BINOP(emu_max_ps, x > y ? x : y)
EMU_BINOP(emu_min_ps, x < y ? x : y)
#undef EMU_BINOP

static inline emu_m512 emu_sqrt_ps(emu_m512 a) {
    emu_m512 r;
    EMU_LANES(r.f[l_] = sqrtf(a.f[l_]));
    return r;
}
/* One rounding each: fmadd a·b + c, fnmadd −(a·b) + c, fmsub a·b − c. */
static inline emu_m512 emu_fmadd_ps(emu_m512 a, emu_m512 b, emu_m512 c) {
    emu_m512 r;
    EMU_LANES(r.f[l_] = fmaf(a.f[l_], b.f[l_], c.f[l_]));
    return r;
}
static inline emu_m512 emu_fnmadd_ps(emu_m512 a, emu_m512 b, emu_m512 c) {
    emu_m512 r;
    EMU_LANES(r.f[l_] = fmaf(-a.f[l_], b.f[l_], c.f[l_]));
    return r;
}
static inline emu_m512 emu_fmsub_ps(emu_m512 a, emu_m512 b, emu_m512 c) {
    emu_m512 r;
    EMU_LANES(r.f[l_] = fmaf(a.f[l_], b.f[l_], -c.f[l_]));
    return r;
}

static inline emu_m512i emu_castps_si512(emu_m512 a) {
    emu_m512i r;
    memcpy(r.u, a.f, sizeof r.u);
    return r;
}
static inline emu_m512 emu_castsi512_ps(emu_m512i a) {
    emu_m512 r;
    memcpy(r.f, a.u, sizeof r.f);
    return r;
}
#define EMU_BITOP(name, op)                                                                \
    static inline emu_m512 name(emu_m512 a, emu_m512 b) {                                   \
        emu_m512i x = emu_castps_si512(a), y = emu_castps_si512(b);                         \
        EMU_LANES(x.u[l_] = x.u[l_] op y.u[l_]);                                            \
        return emu_castsi512_ps(x);                                                         \
    }
EMU_BITOP(emu_and_ps, &)
EMU_BITOP(emu_or_ps, |)
EMU_BITOP(emu_xor_ps, ^)
#undef EMU_BITOP

static inline emu_m512i emu_add_epi32(emu_m512i a, emu_m512i b) {
    EMU_LANES(a.u[l_] += b.u[l_]);
    return a;
}
static inline emu_m512i emu_sub_epi32(emu_m512i a, emu_m512i b) {
    EMU_LANES(a.u[l_] -= b.u[l_]);
    return a;
}
/* Shift counts above 31 give 0 (logical) or the sign fill (arithmetic). */
static inline emu_m512i emu_slli_epi32(emu_m512i a, unsigned int imm) {
    EMU_LANES(a.u[l_] = imm > 31 ? 0u : a.u[l_] << imm);
    return a;
}
static inline emu_m512i emu_srai_epi32(emu_m512i a, unsigned int imm) {
    const unsigned s = imm > 31 ? 31 : imm;
    EMU_LANES(a.u[l_] = (a.u[l_] & 0x80000000u) ? ~(~a.u[l_] >> s) : a.u[l_] >> s);
    return a;
}

/* VCVTPS2DQ rounds by MXCSR (round-to-nearest-even by default; nearbyintf
 * follows the same C rounding mode); NaN and out-of-range values give the
 * "integer indefinite" 0x80000000. */
static inline emu_m512i emu_cvtps_epi32(emu_m512 a) {
    emu_m512i r;
    EMU_LANES(const float t = nearbyintf(a.f[l_]);
              r.u[l_] = (t >= -2147483648.0f && t < 2147483648.0f) ? (uint32_t)(int32_t)t
                                                                    : 0x80000000u);
    return r;
}
static inline emu_m512 emu_cvtepi32_ps(emu_m512i a) {
    emu_m512 r;
    EMU_LANES(r.f[l_] = (float)(int32_t)a.u[l_]);
    return r;
}

/* VRNDSCALEPS: imm[7:4] = M fraction bits kept, imm[2] = use MXCSR rounding,
 * imm[1:0] = nearest-even / down / up / truncate; result 2^-M·round(2^M·x). */
static inline float emu_round_mode(float x, int imm) {
    if (imm & 4) return nearbyintf(x);
    switch (imm & 3) {
    case 0: return nearbyintf(x); /* the tests run in the default nearest-even mode */
    case 1: return floorf(x);
    case 2: return ceilf(x);
    default: return truncf(x);
    }
}
static inline emu_m512 emu_roundscale_ps(emu_m512 a, int imm) {
    const int m = (imm >> 4) & 15;
    emu_m512 r;
    EMU_LANES(const float x = a.f[l_];
              r.f[l_] = isnan(x) || isinf(x) ? x + 0.0f
                                             : ldexpf(emu_round_mode(ldexpf(x, m), imm), -m));
    return r;
}

/* VCMPPS predicate imm[3:0] (imm[4] only toggles signalling, which changes no
 * result): O = ordered and, U = unordered or, N = not. */
static inline int emu_cmp1(float x, float y, int imm) {
    const int un = isnan(x) || isnan(y);
    switch (imm & 15) {
    case 0: return !un && x == y;  /* EQ_O */
    case 1: return !un && x < y;   /* LT_O */
    case 2: return !un && x <= y;  /* LE_O */
    case 3: return un;             /* UNORD */
    case 4: return un || x != y;   /* NEQ_U */
    case 5: return un || !(x < y); /* NLT_U */
    case 6: return un || !(x <= y);/* NLE_U */
    case 7: return !un;            /* ORD */
    case 8: return un || x == y;   /* EQ_U */
    case 9: return un || !(x >= y);/* NGE_U */
    case 10: return un || !(x > y);/* NGT_U */
    case 11: return 0;             /* FALSE_O */
    case 12: return !un && x != y; /* NEQ_O */
    case 13: return !un && x >= y; /* GE_O */
    case 14: return !un && x > y;  /* GT_O */
    default: return 1;             /* TRUE_U */
    }
}
static inline emu_mmask16 emu_cmp_ps_mask(emu_m512 a, emu_m512 b, int imm) {
    unsigned k = 0;
    EMU_LANES(k |= (unsigned)emu_cmp1(a.f[l_], b.f[l_], imm) << l_);
    return (emu_mmask16)k;
}
/* VBLENDMPS: lanes whose mask bit is set come from b, the others from a. */
static inline emu_m512 emu_mask_blend_ps(emu_mmask16 k, emu_m512 a, emu_m512 b) {
    emu_m512 r;
    EMU_LANES(r.f[l_] = (k >> l_) & 1 ? b.f[l_] : a.f[l_]);
    return r;
}

/* Lanes 0-7, and imm[0] selecting lanes 0-7 or 8-15, as real 256-bit vectors. */
static inline __m256 emu_castps512_ps256(emu_m512 a) { return _mm256_loadu_ps(a.f); }
static inline __m256 emu_extractf32x8_ps(emu_m512 a, int imm) {
    return _mm256_loadu_ps(a.f + ((imm & 1) ? 8 : 0));
}

/* Shadow the real names (some are macros in the compilers' headers). */
#undef _mm512_setzero_ps
#undef _mm512_set1_ps
#undef _mm512_set1_epi32
#undef _mm512_loadu_ps
#undef _mm512_storeu_ps
#undef _mm512_maskz_loadu_ps
#undef _mm512_mask_storeu_ps
#undef _mm512_add_ps
#undef _mm512_sub_ps
#undef _mm512_mul_ps
#undef _mm512_div_ps
#undef _mm512_max_ps
#undef _mm512_min_ps
#undef _mm512_sqrt_ps
#undef _mm512_fmadd_ps
#undef _mm512_fnmadd_ps
#undef _mm512_fmsub_ps
#undef _mm512_castps_si512
#undef _mm512_castsi512_ps
#undef _mm512_and_ps
#undef _mm512_or_ps
#undef _mm512_xor_ps
#undef _mm512_add_epi32
#undef _mm512_sub_epi32
#undef _mm512_slli_epi32
#undef _mm512_srai_epi32
#undef _mm512_cvtps_epi32
#undef _mm512_cvtepi32_ps
#undef _mm512_roundscale_ps
#undef _mm512_cmp_ps_mask
#undef _mm512_mask_blend_ps
#undef _mm512_castps512_ps256
#undef _mm512_extractf32x8_ps
#define _mm512_setzero_ps emu_setzero_ps
#define _mm512_set1_ps emu_set1_ps
#define _mm512_set1_epi32 emu_set1_epi32
#define _mm512_loadu_ps emu_loadu_ps
#define _mm512_storeu_ps emu_storeu_ps
#define _mm512_maskz_loadu_ps emu_maskz_loadu_ps
#define _mm512_mask_storeu_ps emu_mask_storeu_ps
#define _mm512_add_ps emu_add_ps
#define _mm512_sub_ps emu_sub_ps
#define _mm512_mul_ps emu_mul_ps
#define _mm512_div_ps emu_div_ps
#define _mm512_max_ps emu_max_ps
#define _mm512_min_ps emu_min_ps
#define _mm512_sqrt_ps emu_sqrt_ps
#define _mm512_fmadd_ps emu_fmadd_ps
#define _mm512_fnmadd_ps emu_fnmadd_ps
#define _mm512_fmsub_ps emu_fmsub_ps
#define _mm512_castps_si512 emu_castps_si512
#define _mm512_castsi512_ps emu_castsi512_ps
#define _mm512_and_ps emu_and_ps
#define _mm512_or_ps emu_or_ps
#define _mm512_xor_ps emu_xor_ps
#define _mm512_add_epi32 emu_add_epi32
#define _mm512_sub_epi32 emu_sub_epi32
#define _mm512_slli_epi32 emu_slli_epi32
#define _mm512_srai_epi32 emu_srai_epi32
#define _mm512_cvtps_epi32 emu_cvtps_epi32
#define _mm512_cvtepi32_ps emu_cvtepi32_ps
#define _mm512_roundscale_ps emu_roundscale_ps
#define _mm512_cmp_ps_mask emu_cmp_ps_mask
#define _mm512_mask_blend_ps emu_mask_blend_ps
#define _mm512_castps512_ps256 emu_castps512_ps256
#define _mm512_extractf32x8_ps emu_extractf32x8_ps
#define __m512 emu_m512
#define __m512i emu_m512i

/* Any intrinsic the kernel files start using that is not emulated above then
 * fails to compile here (AVX-512 is not enabled for this file) instead of
 * silently running real AVX-512 code. */

#endif
