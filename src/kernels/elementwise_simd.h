/* kernels/elementwise_simd.h — the elementwise kernels written once over a
 * small vector vocabulary (VF, VLOAD, VFMA, VSEL, ...) that elementwise_avx2.c
 * and elementwise_avx512.c define before including this file; ISA_SUFFIX names
 * the generated functions. Not a normal header: include it from those two only.
 *
 * Bitwise contract: every op that has no transcendental part (arithmetic,
 * relu/leaky/clamp/abs/sqrt, their derivatives, the sums' leaves) performs the
 * same IEEE operations in the same order as the scalar loops in unary.c /
 * broadcast.c / reduce.c (no FMA contraction), so it matches them exactly.
 *
 * Vector math: maximum errors against double-precision libm, in units of
 * u = 2^-24 (half a float ulp at 1), measured by 1e6-point sweeps (largest
 * seen in brackets) that tests/test_kernels_elementwise.c repeats and asserts:
 *   v_exp      2 u   [1.4 u] relative for x in [-87.3, 88.72]; subnormal
 *                    results within one subnormal step; x > 88.73 -> +inf,
 *                    x < -103.98 -> 0.
 *   v_log      3 u   [2.4 u] relative for every x > 0, subnormals included;
 *                    0 -> -inf, x < 0 -> NaN, +inf -> +inf.
 *   v_tanh     3 u   [2.3 u] relative; exactly ±1 for |x| > 9.1, sign of ±0 kept.
 *   v_sigmoid  4 u   [2.9 u] relative; σ(+1000) = 1, σ(−1000) = 0 exactly.
 *   v_gelu_erf GELU(x) = x·Φ(x) with Φ a rational in x² (no exp): absolute
 *              error <= 4.5 u·|x| [3.6 u] for every x with a normal result,
 *              relative <= 5.5 u [4.7 u] for x >= −1 (below, GELU is small
 *              against u·|x| and only the absolute bound holds, as for
 *              PyTorch's ½x(1 + erf)); x for x >= 5.5 and +inf, −0 for
 *              x <= −5.75 and −inf.
 *   v_gelu_erf_grad  GELU'(x) = Φ(x) + x·φ(x): absolute error <= 6.5 u
 *              [5.5 u]; exactly 1 for x >= 5.92, 0 (no update) below −5.92.
 *   The GELU bounds were also checked over every float 2^-125 <= |x| <= 20
 *   (worst 4.11 u·|x|, 5.14 u, 6.27 u), exp's and sigmoid's over every float
 *   of their ranges (1.43 u, 2.99 u).
 * Every one maps NaN to NaN. GELU-tanh inherits v_tanh's bound on 1 + tanh
 * (absolute in the negative tail, where 1 + tanh cancels — as in libm).
 * docs/kernels.md ("Elementwise kernels") repeats these. */

#define EW_CAT2(a, b) a##_##b
#define EW_CAT(a, b) EW_CAT2(a, b)
#define EW_FN(name) EW_CAT(name, ISA_SUFFIX)

/* Runs the statement (the variadic part, so commas need no protection) over
 * [0, n) W lanes at a time. In it, LD(p) loads W floats from
 * p + i_ and ST(p, v) stores them; the last partial vector is masked (never
 * reading or writing past n). rem_ is constant W in the main loop, so the
 * masked variants fold away there. */
#define EW_FOR(n, ...)                                                                 \
    do {                                                                                \
        int64_t i_ = 0;                                                                 \
        for (; i_ + W <= (n); i_ += W) {                                                \
            const int64_t rem_ = W;                                                     \
            (void)rem_;                                                                 \
            __VA_ARGS__;                                                                \
        }                                                                               \
        if (i_ < (n)) {                                                                 \
            const int64_t rem_ = (n) - i_;                                              \
            __VA_ARGS__;                                                                \
        }                                                                               \
    } while (0)
#define LD(p) (rem_ == W ? VLOAD((p) + i_) : VLOADN((p) + i_, rem_))
#define ST(p, v) (rem_ == W ? VSTORE((p) + i_, (v)) : VSTOREN((p) + i_, (v), rem_))
/* A broadcast-or-contiguous operand: stride 0 repeats p[0]. */
#define LDS(p, s, bc) ((s) ? LD(p) : (bc))

static inline VF v_abs(VF x) { return VAND(x, VCAST_F(VSET1_I(0x7fffffff))); }
static inline VF v_sign(VF x) { return VAND(x, VCAST_F(VSET1_I((int)0x80000000u))); }

/* exp x in general (the slow path of v_exp): x clamped to [-104, 89] (NaN
 * passes), Cody–Waite reduction x = n·ln2 + r with ln2 split so n·ln2_hi is
 * exact, then 2^n applied as two factors 2^(n/2)·2^(n − n/2) so results
 * between FLT_MAX overflow and the subnormals come out right (one rounding in
 * the last step). */
static inline VF v_exp_wide(VF x) {
    x = VMAX(VSET1(-104.0f), VMIN(VSET1(89.0f), x));
    const VF n = VROUND(VMUL(x, VSET1(1.44269504088896341f)));
    VF r = VFNMA(n, VSET1(0.693359375f), x); /* ln2_hi: 9 significant bits */
    r = VFNMA(n, VSET1(-2.12194440e-4f), r); /* ln2 − ln2_hi */
    VF p = VSET1(NB_EXP_P4);
    p = VFMA(p, r, VSET1(NB_EXP_P3));
    p = VFMA(p, r, VSET1(NB_EXP_P2));
    p = VFMA(p, r, VSET1(NB_EXP_P1));
    p = VFMA(p, r, VSET1(NB_EXP_P0));
    p = VFMA(p, VMUL(r, r), r);
    p = VADD(p, VSET1(1.0f));
    const VI ni = VCVT_I(n); /* exact: n is integral, |n| <= 150 */
    const VI n1 = VSRAI(ni, 1);
    const VI n2 = VSUB_I(ni, n1);
    const VF s1 = VCAST_F(VSLLI(VADD_I(n1, VSET1_I(127)), 23));
    const VF s2 = VCAST_F(VSLLI(VADD_I(n2, VSET1_I(127)), 23));
    return VMUL(VMUL(p, s1), s2);
}

/* exp x for |x| <= 87.5 (or NaN), where 2^n is one normal float. Adding the
 * shifter 1.5·2^23 + 127 in the FMA rounds x·log2e to the integer n and leaves
 * n + 127 in the low mantissa bits, so shifting them into the exponent field
 * gives s = 2^n with no round/convert; e^x = s + s·(r + r²P(r)) is one FMA,
 * one rounding. P goes in Estrin's order: its shorter dependency chain lets
 * more vectors overlap, which here counts for more than the one extra mul. */
#define EXP_SHIFTER 12583039.0f /* 0x1.8000fep23 = 1.5·2^23 + 127 */
static inline VF v_exp_fast(VF x) {
    const VF k = VFMA(x, VSET1(1.44269504088896341f), VSET1(EXP_SHIFTER));
    const VF n = VSUB(k, VSET1(EXP_SHIFTER));
    VF r = VFNMA(n, VSET1(0.693359375f), x);
    r = VFNMA(n, VSET1(-2.12194440e-4f), r);
    const VF r2 = VMUL(r, r);
    const VF p01 = VFMA(VSET1(NB_EXP_P1), r, VSET1(NB_EXP_P0));
    const VF p23 = VFMA(VSET1(NB_EXP_P3), r, VSET1(NB_EXP_P2));
    const VF p24 = VFMA(VSET1(NB_EXP_P4), r2, p23);
    const VF q = VFMA(VFMA(p24, r2, p01), r2, r);
    const VF s = VCAST_F(VSLLI(VCAST_I(k), 23));
    return VFMA(q, s, s);
}

/* Lanes whose result is subnormal, zero or near overflow are redone by the
 * general form; that branch is rare in practice and each lane's value depends
 * on that lane alone, never on its neighbours or the vector width. NaN takes
 * the fast form, which propagates it. The test itself (compare, movemask,
 * branch) costs about a quarter of the time: the hot loops below test a block
 * or a row at once instead (EW_BLOCKS, exp_sum_next_body). */
static inline VF v_exp(VF x) {
    VF y = v_exp_fast(x);
    const VM far = VCMP_GT(v_abs(x), VSET1(87.5f));
    if (VMANY(far)) y = VSEL(far, y, v_exp_wide(x));
    return y;
}

/* exp x for x <= 0 or NaN (softmax's x − max, sigmoid's −|x|): one compare. */
static inline VF v_exp_neg(VF x) {
    VF y = v_exp_fast(x);
    const VM far = VCMP_LT(x, VSET1(-87.5f));
    if (VMANY(far)) y = VSEL(far, y, v_exp_wide(x));
    return y;
}

/* log x = e·ln2 + log(m), m = x·2^-e in [√½, √2); subnormal x are scaled by
 * 2^24 first. Special cases are patched in with selects at the end. */
static inline VF v_log(VF x) {
    const VM tiny = VCMP_LT(x, VSET1(1.17549435e-38f));
    const VF xs = VSEL(tiny, x, VMUL(x, VSET1(16777216.0f)));
    VI bits = VCAST_I(xs);
    /* exponent relative to √½: m = mantissa scaled into [√½, √2) */
    const VI off = VSUB_I(bits, VSET1_I(0x3f3504f3));
    const VI e = VSRAI(off, 23);
    const VF m = VCAST_F(VSUB_I(bits, VSLLI(e, 23)));
    VF ef = VCVT_F(e);
    ef = VSEL(tiny, ef, VSUB(ef, VSET1(24.0f)));
    const VF f = VSUB(m, VSET1(1.0f));
    VF p = VSET1(NB_LOG_R6);
    p = VFMA(p, f, VSET1(NB_LOG_R5));
    p = VFMA(p, f, VSET1(NB_LOG_R4));
    p = VFMA(p, f, VSET1(NB_LOG_R3));
    p = VFMA(p, f, VSET1(NB_LOG_R2));
    p = VFMA(p, f, VSET1(NB_LOG_R1));
    p = VFMA(p, f, VSET1(NB_LOG_R0));
    const VF f2 = VMUL(f, f);
    VF y = VFMA(VMUL(p, f2), f, VFNMA(VSET1(0.5f), f2, f)); /* f − f²/2 + f³p */
    y = VFMA(ef, VSET1(-2.12194440e-4f), y);
    y = VFMA(ef, VSET1(0.693359375f), y);
    /* x == 0 -> -inf; x < 0 or NaN -> NaN; +inf -> +inf */
    y = VSEL(VCMP_EQ(x, VSET1(0.0f)), y, VSET1(-INFINITY));
    y = VSEL(VCMP_EQ(x, VSET1(INFINITY)), y, VSET1(INFINITY));
    y = VSEL(VCMP_NGE(x, VSET1(0.0f)), y, VSET1(NAN));
    return y;
}

/* Odd polynomial near 0 (where 1 − 2/(e^2x + 1) would cancel), the exp form
 * elsewhere; e^2x overflowing to inf gives exactly 1. Sign restored last. */
static inline VF v_tanh(VF x) {
    const VF ax = v_abs(x);
    /* tanh is exactly ±1 in float beyond 9.1, so clamping |x| to 9.5 keeps
     * e^2|x| <= e^19 in the fast exp's range (VMIN passes NaN on) */
    const VF e = v_exp_fast(VMIN(VSET1(19.0f), VADD(ax, ax)));
    const VF big = VSUB(VSET1(1.0f), VDIV(VSET1(2.0f), VADD(e, VSET1(1.0f))));
    const VF x2 = VMUL(ax, ax);
    VF q = VSET1(NB_TANH_Q4);
    q = VFMA(q, x2, VSET1(NB_TANH_Q3));
    q = VFMA(q, x2, VSET1(NB_TANH_Q2));
    q = VFMA(q, x2, VSET1(NB_TANH_Q1));
    q = VFMA(q, x2, VSET1(NB_TANH_Q0));
    const VF small = VFMA(VMUL(ax, x2), q, ax);
    const VF r = VSEL(VCMP_LT(ax, VSET1(0.625f)), big, small);
    return VOR(r, v_sign(x));
}

/* σ(x) from e = exp(−|x|) in (0, 1]: 1/(1+e) for x >= 0, e/(1+e) below, so
 * nothing overflows and σ(−100) keeps its tiny value instead of 0. −|x| is
 * one OR of the sign bit; the numerator is chosen before the one division.
 * At x = ±0 both numerators give ½, so VSEL_NEG's choice there is moot. */
static inline VF v_sigmoid(VF x) {
    const VF e = v_exp_neg(VOR(x, VSET1(-0.0f)));
    return VDIV(VSEL_NEG(x, VSET1(1.0f), e), VADD(VSET1(1.0f), e));
}

/* c0 + c1·u + ... + c5·u⁵ by Horner: the two polynomials of a rational are
 * independent chains, which already overlap (Estrin's extra u² cost more). */
#define EW_HORNER5(u, C)                                                               \
    VFMA(VFMA(VFMA(VFMA(VFMA(VSET1(C##5), u, VSET1(C##4)), u, VSET1(C##3)), u,           \
                   VSET1(C##2)),                                                       \
              u, VSET1(C##1)),                                                         \
         u, VSET1(C##0))

/* F(x) = ½ + x·P(x²)/(2·Q(x²)) for a function F with F − ½ odd (Φ, and
 * GELU's derivative Φ + x·φ since x·φ(x) is odd), at an argument the caller
 * has clamped to where the fit holds. The numerator Q + x·P is one FMA, the
 * denominator 2Q exact. */
static inline VF v_half_rational(VF xc, VF p, VF q) {
    return VDIV(VFMA(xc, p, q), VADD(q, q));
}
#define EW_HALF_RATIONAL(xc, PC, QC)                                                   \
    v_half_rational((xc), EW_HORNER5(VMUL((xc), (xc)), PC), EW_HORNER5(VMUL((xc), (xc)), QC))

/* Maps whose fast form holds only inside a range, over [0, n) in blocks of
 * EW_BLOCK: each block is computed in the fast form while VMIN/VMAX track its
 * inputs (operand order makes them skip NaN lanes), and a block with an input
 * out of range is recomputed in the tested form. Both forms give the same bits
 * on in-range lanes, so the result never depends on the blocking; testing a
 * block once instead of every vector keeps a movemask and a branch off the
 * hot loop. In place (y == x) the inputs would be gone, so it is tested
 * throughout. */
#define EW_BLOCK 512
#define EW_BLOCKS(n, x, y, track, fast, tested, out_of_range)                          \
    do {                                                                               \
        if ((y) == (x)) {                                                              \
            EW_FOR(n, ST(y, tested(LD(x))));                                           \
            break;                                                                     \
        }                                                                              \
        for (int64_t b_ = 0; b_ < (n); b_ += EW_BLOCK) {                               \
            const int64_t len_ = (n) - b_ < EW_BLOCK ? (n) - b_ : EW_BLOCK;            \
            const float *xb_ = (x) + b_;                                               \
            float *yb_ = (y) + b_;                                                     \
            VF lo_ = VSET1(0.0f), hi_ = lo_; /* the tracked extremes */               \
            (void)lo_, (void)hi_;                                                      \
            EW_FOR(len_, {                                                             \
                const VF v_ = LD(xb_);                                                 \
                track;                                                                 \
                ST(yb_, fast(v_));                                                     \
            });                                                                        \
            if (out_of_range) EW_FOR(len_, ST(yb_, tested(LD(xb_))));                  \
        }                                                                              \
    } while (0)

/* σ with the unchecked exp (only for −|x| >= −87.5, i.e. |x| <= 87.5) */
static inline VF v_sigmoid_fast(VF x) {
    const VF e = v_exp_fast(VOR(x, VSET1(-0.0f)));
    return VDIV(VSEL_NEG(x, VSET1(1.0f), e), VADD(VSET1(1.0f), e));
}

/* GELU(x) = x·Φ(x) with Φ from the rational (no exp, no erfc). x is clamped
 * to [−t_lo, t_hi] for it: above t_hi the evaluated Φ is exactly 1, so
 * GELU(x) = x there; at −t_lo it is below 0, so with Φ kept >= 0 the product
 * max(x, −t_lo)·Φ is −0 for every x <= −t_lo, −inf included (where the true
 * GELU is above −u·|x|/3). Clamps and max run on the add pipes, leaving the
 * FMA pipes to the rational. */
static inline VF v_gelu_erf(VF x) {
    const VF a = VMAX(VSET1(-NB_GELU_T_LO), x); /* NaN passes on */
    const VF xc = VMIN(VSET1(NB_GELU_T_HI), a);
    const VF phi = VMAX(VSET1(0.0f), EW_HALF_RATIONAL(xc, NB_GELU_P, NB_GELU_Q));
    return VMUL(a, phi);
}

/* GELU'(x) = Φ(x) + x·φ(x) from its own rational, x clamped to ±t (the caller
 * skips x < −t, where it is below u in magnitude). */
static inline VF v_gelu_erf_grad(VF x) {
    const VF xc = VMAX(VSET1(-NB_GELU_D_T), VMIN(VSET1(NB_GELU_D_T), x));
    return EW_HALF_RATIONAL(xc, NB_GELU_DP, NB_GELU_DQ);
}

#define GELU_SQRT_2_PI 0.79788456080286535588f
#define GELU_CUBIC 0.044715f

/* u = √(2/π)(x + c·x·x·x), in the scalar loop's exact order */
static inline VF gelu_u(VF v) {
    const VF c3 = VMUL(VMUL(VMUL(VSET1(GELU_CUBIC), v), v), v);
    return VMUL(VSET1(GELU_SQRT_2_PI), VADD(v, c3));
}

/* ---- unary forward ---------------------------------------------------------- */
void EW_FN(nb__ew_unary)(nb_unop op, int64_t n, const float *x, float *y, float p0, float p1) {
    const VF vp0 = VSET1(p0), vp1 = VSET1(p1), zero = VSET1(0.0f);
    switch (op) {
    case NB_UN_NEG: EW_FOR(n, ST(y, VXOR(LD(x), VSET1(-0.0f)))); break;
    case NB_UN_SCALE: EW_FOR(n, ST(y, VMUL(vp0, LD(x)))); break;
    case NB_UN_ADD_SCALAR: EW_FOR(n, ST(y, VADD(LD(x), vp0))); break;
    case NB_UN_EXP:
        EW_BLOCKS(n, x, y, (lo_ = VMIN(v_, lo_), hi_ = VMAX(v_, hi_)), v_exp_fast, v_exp,
                  VMANY(VMOR(VCMP_LT(lo_, VSET1(-87.5f)), VCMP_GT(hi_, VSET1(87.5f)))));
        break;
    case NB_UN_LOG: EW_FOR(n, ST(y, v_log(LD(x)))); break;
    case NB_UN_SQRT: EW_FOR(n, ST(y, VSQRT(LD(x)))); break;
    case NB_UN_SQUARE: EW_FOR(n, { VF v = LD(x); ST(y, VMUL(v, v)); }); break;
    case NB_UN_ABS: EW_FOR(n, ST(y, v_abs(LD(x)))); break;
    case NB_UN_CLAMP:
        EW_FOR(n, {
            VF v = LD(x);
            ST(y, VSEL(VCMP_LT(v, vp0), VSEL(VCMP_GT(v, vp1), v, vp1), vp0));
        });
        break;
    case NB_UN_SIGMOID:
        /* tracks −|x|, the exp argument, which the compiler shares with it */
        EW_BLOCKS(n, x, y, lo_ = VMIN(VOR(v_, VSET1(-0.0f)), lo_), v_sigmoid_fast, v_sigmoid,
                  VMANY(VCMP_LT(lo_, VSET1(-87.5f))));
        break;
    case NB_UN_TANH: EW_FOR(n, ST(y, v_tanh(LD(x)))); break;
    /* max(0, v) returns v when v is NaN and -0 for -0, like x < 0 ? 0 : x */
    case NB_UN_RELU: EW_FOR(n, ST(y, VMAX(zero, LD(x)))); break;
    case NB_UN_LEAKY_RELU:
        EW_FOR(n, {
            VF v = LD(x);
            ST(y, VSEL(VCMP_GT(v, zero), VMUL(vp0, v), v));
        });
        break;
    case NB_UN_GELU_ERF:
        EW_FOR(n, {
            ST(y, v_gelu_erf(LD(x)));
        });
        break;
    case NB_UN_GELU_TANH:
        EW_FOR(n, {
            VF v = LD(x);
            VF t = v_tanh(gelu_u(v));
            ST(y, VMUL(VMUL(VSET1(0.5f), v), VADD(VSET1(1.0f), t)));
        });
        break;
    default: break; /* not vectorised: nb__ew_unary_vectorised() says so */
    }
}

/* ---- unary backward: dx += f'(x)·dy ------------------------------------------- */
void EW_FN(nb__ew_unary_backward)(nb_unop op, int64_t n, const float *x, const float *y,
                                  const float *dy, float *dx, float p0, float p1) {
    const VF vp0 = VSET1(p0), vp1 = VSET1(p1), zero = VSET1(0.0f), one = VSET1(1.0f);
    switch (op) {
    case NB_UN_NEG: EW_FOR(n, ST(dx, VSUB(LD(dx), LD(dy)))); break;
    case NB_UN_SCALE: EW_FOR(n, ST(dx, VADD(LD(dx), VMUL(vp0, LD(dy))))); break;
    case NB_UN_ADD_SCALAR: EW_FOR(n, ST(dx, VADD(LD(dx), LD(dy)))); break;
    case NB_UN_EXP: EW_FOR(n, ST(dx, VADD(LD(dx), VMUL(LD(dy), LD(y))))); break;
    case NB_UN_LOG: EW_FOR(n, ST(dx, VADD(LD(dx), VDIV(LD(dy), LD(x))))); break;
    case NB_UN_SQRT:
        EW_FOR(n, ST(dx, VADD(LD(dx), VDIV(VMUL(VSET1(0.5f), LD(dy)), LD(y)))));
        break;
    case NB_UN_SQUARE:
        EW_FOR(n, ST(dx, VADD(LD(dx), VMUL(VMUL(VSET1(2.0f), LD(x)), LD(dy)))));
        break;
    case NB_UN_ABS:
        EW_FOR(n, {
            VF v = LD(x), g = LD(dy);
            VF d = VSEL(VCMP_GT(v, zero), VSEL(VCMP_LT(v, zero), zero, VXOR(g, VSET1(-0.0f))), g);
            ST(dx, VADD(LD(dx), d));
        });
        break;
    /* select rather than adding 0 where the gradient is cut: -0 + 0 would be +0 */
    case NB_UN_CLAMP:
        EW_FOR(n, {
            VF v = LD(x), d = LD(dx);
            VM in = VMAND(VCMP_GE(v, vp0), VCMP_LE(v, vp1));
            ST(dx, VSEL(in, d, VADD(d, LD(dy))));
        });
        break;
    case NB_UN_SIGMOID:
        EW_FOR(n, {
            VF s = LD(y);
            ST(dx, VADD(LD(dx), VMUL(VMUL(LD(dy), s), VSUB(one, s))));
        });
        break;
    case NB_UN_TANH:
        EW_FOR(n, {
            VF t = LD(y);
            ST(dx, VADD(LD(dx), VMUL(LD(dy), VSUB(one, VMUL(t, t)))));
        });
        break;
    case NB_UN_RELU:
        EW_FOR(n, {
            VF d = LD(dx);
            ST(dx, VSEL(VCMP_GT(LD(x), zero), d, VADD(d, LD(dy))));
        });
        break;
    case NB_UN_LEAKY_RELU:
        EW_FOR(n, {
            VF g = LD(dy);
            ST(dx, VADD(LD(dx), VSEL(VCMP_GT(LD(x), zero), VMUL(vp0, g), g)));
        });
        break;
    case NB_UN_GELU_ERF:
        EW_FOR(n, {
            VF v = LD(x), d = LD(dx);
            VF g = VFMA(LD(dy), v_gelu_erf_grad(v), d);
            ST(dx, VSEL(VCMP_LT(v, VSET1(-NB_GELU_D_T)), g, d));
        });
        break;
    case NB_UN_GELU_TANH:
        EW_FOR(n, {
            VF v = LD(x);
            VF t = v_tanh(gelu_u(v));
            VF du = VMUL(VSET1(GELU_SQRT_2_PI),
                         VADD(one, VMUL(VMUL(VSET1(3.0f * GELU_CUBIC), v), v)));
            VF a = VMUL(VSET1(0.5f), VADD(one, t));
            VF b = VMUL(VMUL(VMUL(VSET1(0.5f), v), VSUB(one, VMUL(t, t))), du);
            ST(dx, VADD(LD(dx), VMUL(LD(dy), VADD(a, b))));
        });
        break;
    default: break;
    }
    (void)vp1;
}

/* The backward passes above with dx a cleared buffer, without reading it:
 * what the graph uses when it hands an op an unwritten gradient (relu and
 * GELU, the activations between the big layers, are the ones worth a loop). */
void EW_FN(nb__ew_unary_backward_store)(nb_unop op, int64_t n, const float *x, const float *y,
                                        const float *dy, float *dx, float p0, float p1) {
    (void)y, (void)p0, (void)p1; /* the backward kernels' signature; relu and GELU need x only */
    const VF zero = VSET1(0.0f);
    switch (op) {
    case NB_UN_RELU: EW_FOR(n, ST(dx, VSEL(VCMP_GT(LD(x), zero), zero, VADD(zero, LD(dy))))); break;
    case NB_UN_GELU_ERF:
        EW_FOR(n, {
            VF v = LD(x);
            VF g = VFMA(LD(dy), v_gelu_erf_grad(v), zero);
            ST(dx, VSEL(VCMP_LT(v, VSET1(-NB_GELU_D_T)), g, zero));
        });
        break;
    default: break; /* nb_k_unary_backward_store clears and accumulates instead */
    }
}

/* ---- binary ------------------------------------------------------------------- */
void EW_FN(nb__ew_binary)(nb_binop op, int64_t n, float *o, const float *a, int64_t sa,
                          const float *b, int64_t sb) {
    if (n <= 0) return; /* a[0] / b[0] below would be out of bounds */
    const VF ba = VSET1(a[0]), bb = VSET1(b[0]);
    switch (op) {
    case NB_BIN_ADD: EW_FOR(n, ST(o, VADD(LDS(a, sa, ba), LDS(b, sb, bb)))); break;
    case NB_BIN_SUB: EW_FOR(n, ST(o, VSUB(LDS(a, sa, ba), LDS(b, sb, bb)))); break;
    case NB_BIN_MUL: EW_FOR(n, ST(o, VMUL(LDS(a, sa, ba), LDS(b, sb, bb)))); break;
    case NB_BIN_DIV: EW_FOR(n, ST(o, VDIV(LDS(a, sa, ba), LDS(b, sb, bb)))); break;
    }
}

void EW_FN(nb__ew_binary_grad_a)(nb_binop op, int64_t n, const float *g, const float *b,
                                 int64_t sb, float *da) {
    if (n <= 0) return; /* a[0] / b[0] below would be out of bounds */
    const VF bb = VSET1(b[0]);
    switch (op) {
    case NB_BIN_ADD:
    case NB_BIN_SUB: EW_FOR(n, ST(da, VADD(LD(da), LD(g)))); break;
    case NB_BIN_MUL: EW_FOR(n, ST(da, VADD(LD(da), VMUL(LD(g), LDS(b, sb, bb))))); break;
    case NB_BIN_DIV: EW_FOR(n, ST(da, VADD(LD(da), VDIV(LD(g), LDS(b, sb, bb))))); break;
    }
}

void EW_FN(nb__ew_binary_grad_b)(nb_binop op, int64_t n, const float *g, const float *o,
                                 const float *a, int64_t sa, const float *b, float *db) {
    if (n <= 0) return; /* a[0] / b[0] below would be out of bounds */
    const VF ba = VSET1(a[0]);
    switch (op) {
    case NB_BIN_ADD: EW_FOR(n, ST(db, VADD(LD(db), LD(g)))); break;
    case NB_BIN_SUB: EW_FOR(n, ST(db, VSUB(LD(db), LD(g)))); break;
    case NB_BIN_MUL: EW_FOR(n, ST(db, VADD(LD(db), VMUL(LD(g), LDS(a, sa, ba))))); break;
    case NB_BIN_DIV:
        EW_FOR(n, ST(db, VSUB(LD(db), VDIV(VMUL(LD(g), LD(o)), LD(b)))));
        break;
    }
}

/* ---- reductions and softmax rows ---------------------------------------------- */
float EW_FN(nb__ew_max)(const float *x, int64_t n) {
    VF m = VSET1(x[0]);
    VM nan = VCMP_NE(m, m);
    EW_FOR(n, {
        VF v = rem_ == W ? VLOAD(x + i_) : VSEL(VTAILMASK(rem_), VSET1(x[0]), VLOADN(x + i_, rem_));
        nan = VMOR(nan, VCMP_NE(v, v));
        m = VMAX(m, v);
    });
    if (VMANY(nan)) return NAN;
    return VHMAX(m);
}

/* lanes then a fixed fold: the order depends on n only, not on threads */
float EW_FN(nb__ew_exp_sum)(const float *x, int64_t n, float m, float *y) {
    const VF vm = VSET1(m);
    VF s = VSET1(0.0f);
    if (y)
        EW_FOR(n, {
            VF e = v_exp_neg(VSUB(LD(x), vm));
            ST(y, e);
            s = VADD(s, rem_ == W ? e : VSEL(VTAILMASK(rem_), VSET1(0.0f), e));
        });
    else
        EW_FOR(n, {
            VF e = v_exp_neg(VSUB(LD(x), vm));
            s = VADD(s, rem_ == W ? e : VSEL(VTAILMASK(rem_), VSET1(0.0f), e));
        });
    return VHSUM(s);
}

/* nb__ew_exp_sum (same lanes, same fold: bitwise the same sum and terms)
 * that in the same sweep also takes the max and min of the next row
 * next[0..n) into next_mm[0], next_mm[1], prefetches the lines of pf[0..n)
 * and stores prev[i] = prev_src[i]·prev_scale as nb__ew_scale would
 * (y, next, pf and prev may each be NULL). Row after row, memory then streams
 * without pause: the next row's loads and the caller's next pass overlap this
 * row's arithmetic rather than waiting in passes of their own.
 *
 * x_min, this row's min (NaN when unknown), lets a row skip v_exp_neg's
 * per-vector range test: when x_min − m >= −87.5 no lane needs the general
 * form (rounding is monotone, so x − m >= x_min − m in every lane), and each
 * term is bitwise what the tested form gives. The max/min skip nb__ew_max's
 * NaN bookkeeping: a NaN makes its row's sum NaN whatever they say (and so
 * every output), while for NaN-free rows they are exact. The flags are
 * constants after inlining, so each variant is a plain loop. */
#define EW_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
static inline float exp_sum_next_body(const float *x, int64_t n, float m, float *y,
                                      const float *next, float *next_mm, const float *pf,
                                      float *prev, const float *prev_src, float prev_scale,
                                      const int has_y,
                                      const int has_next, const int has_pf, const int has_prev,
                                      const int tested) {
    const VF vm = VSET1(m), zero = VSET1(0.0f), vp = VSET1(prev_scale);
    VF s = zero, mx = has_next ? VSET1(next[0]) : zero, mn = mx;
    EW_FOR(n, {
        if (has_pf && (i_ & 15) == 0) EW_PREFETCH(pf + i_);
        if (has_next) {
            const VF v = rem_ == W ? VLOAD(next + i_)
                                   : VSEL(VTAILMASK(rem_), VSET1(next[0]), VLOADN(next + i_, rem_));
            mx = VMAX(mx, v);
            mn = VMIN(mn, v);
        }
        if (has_prev) ST(prev, VMUL(LD(prev_src), vp));
        const VF d = VSUB(LD(x), vm);
        VF e = tested ? v_exp_neg(d) : v_exp_fast(d);
        if (has_y) ST(y, e);
        s = VADD(s, rem_ == W ? e : VSEL(VTAILMASK(rem_), zero, e));
    });
    if (has_next) {
        next_mm[0] = VHMAX(mx);
        next_mm[1] = -VHMAX(VXOR(mn, VSET1(-0.0f)));
    }
    return VHSUM(s);
}

float EW_FN(nb__ew_exp_sum_next)(const float *x, int64_t n, float m, float x_min, float *y,
                                 const float *next, float *next_mm, const float *pf,
                                 float *prev, const float *prev_src, float prev_scale) {
    const int fast = isfinite(m) && x_min - m >= -87.5f;
#define EW_ESN(Y, N, P, Q)                                                                 \
    return fast ? exp_sum_next_body(x, n, m, y, next, next_mm, pf, prev, prev_src, prev_scale, Y, \
                                    N, P, Q, 0)                                            \
                : exp_sum_next_body(x, n, m, y, next, next_mm, pf, prev, prev_src, prev_scale, Y, \
                                    N, P, Q, 1)
    /* the combinations softmax.c uses get their own loops */
    switch ((y != NULL) | (next != NULL) << 1 | (pf != NULL) << 2 | (prev != NULL) << 3) {
    case 2: EW_ESN(0, 1, 0, 0);  /* log-sum-exp rows */
    case 3: EW_ESN(1, 1, 0, 0);  /* softmax: a block's first row */
    case 11: EW_ESN(1, 1, 0, 1); /* softmax */
    case 15: EW_ESN(1, 1, 1, 1); /* softmax, prefetching the row after next */
    case 9: EW_ESN(1, 0, 0, 1);  /* softmax: a block's last row */
    case 7: EW_ESN(1, 1, 1, 0);  /* fused cross-entropy */
    case 5: EW_ESN(1, 0, 1, 0);  /* fused cross-entropy: a block's last row */
    default: break;
    }
#undef EW_ESN
    return exp_sum_next_body(x, n, m, y, next, next_mm, pf, prev, prev_src, prev_scale, y != NULL,
                             next != NULL, pf != NULL, prev != NULL, 1);
}

/* cross-entropy gradient row from stored terms e[i] = exp(z[i] − max) and
 * inv = 1/Σe: dz[i] += scale·(e[i]·inv − off) */
void EW_FN(nb__ew_xent_grad_e)(const float *e, int64_t n, float inv, float scale, float off,
                               float *dz) {
    const VF vi = VSET1(inv), vs = VSET1(scale), vo = VSET1(off);
    EW_FOR(n, ST(dz, VADD(LD(dz), VMUL(vs, VSUB(VMUL(LD(e), vi), vo)))));
}

void EW_FN(nb__ew_scale)(const float *x, int64_t n, float s, float *y) {
    const VF vs = VSET1(s);
    EW_FOR(n, ST(y, VMUL(LD(x), vs)));
}

void EW_FN(nb__ew_sub)(const float *x, int64_t n, float c, float *y) {
    const VF vc = VSET1(c);
    EW_FOR(n, ST(y, VSUB(LD(x), vc)));
}

/* masked loads give 0 past n, so the tail adds nothing */
float EW_FN(nb__ew_dot)(const float *a, const float *b, int64_t n) {
    VF s = VSET1(0.0f);
    EW_FOR(n, s = VFMA(LD(a), LD(b), s));
    return VHSUM(s);
}

float EW_FN(nb__ew_sum)(const float *a, int64_t n) {
    VF s = VSET1(0.0f);
    EW_FOR(n, s = VADD(s, LD(a)));
    return VHSUM(s);
}

void EW_FN(nb__ew_softmax_bwd)(const float *y, const float *dy, int64_t n, float d, float *dx) {
    const VF vd = VSET1(d);
    EW_FOR(n, ST(dx, VADD(LD(dx), VMUL(LD(y), VSUB(LD(dy), vd)))));
}

void EW_FN(nb__ew_log_softmax_bwd)(const float *y, const float *dy, int64_t n, float s,
                                   float *dx) {
    const VF vs = VSET1(s);
    EW_FOR(n, ST(dx, VADD(LD(dx), VSUB(LD(dy), VMUL(v_exp(LD(y)), vs)))));
}

void EW_FN(nb__ew_xent_grad)(const float *z, int64_t n, float lse, float scale, float off,
                             float *dz) {
    const VF vl = VSET1(lse), vs = VSET1(scale), vo = VSET1(off);
    EW_FOR(n, ST(dz, VADD(LD(dz), VMUL(vs, VSUB(v_exp(VSUB(LD(z), vl)), vo)))));
}
