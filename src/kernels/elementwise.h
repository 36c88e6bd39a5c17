/* kernels/elementwise.h — private interface between the baseline elementwise
 * kernels (unary.c, broadcast.c, reduce.c, softmax.c: scalar reference, dispatch,
 * threads) and their AVX2 / AVX-512 bodies (elementwise_avx2.c, _avx512.c). */
#ifndef NB_KERNELS_ELEMENTWISE_H
#define NB_KERNELS_ELEMENTWISE_H

#include <stdint.h>

#include "kernels/broadcast.h"
#include "kernels/unary.h"

/* Pairwise summation (reduce.c and the SIMD files agree on this exactly, so a
 * sum is bitwise the same on every path): leaves of at most NB_SUM_BLOCK
 * elements are summed into NB_SUM_LANES interleaved partial sums (lane j takes
 * elements j, j+32, ...), folded by halving (lane j += lane j+16, then +8, +4,
 * +2, +1), then the leftover n % 32 elements are added in order. */
#define NB_SUM_BLOCK 512
#define NB_SUM_LANES 32

/* Softmax rows up to NB_SOFTMAX_STACK_ROW long keep their exponentials in two
 * stack buffers, fused cross-entropy rows up to NB_XENT_STACK_ROW in one
 * (softmax.c); wider rows take the paths that need none. */
#define NB_SOFTMAX_STACK_ROW 2048
#define NB_XENT_STACK_ROW 4096

/* Elementwise jobs below this many element-operations stay on one thread. */
#define NB_EW_MIN_PER_THREAD 65536.0

/* for (int64_t VAR = 0; VAR < COUNT; VAR++) { BODY } on `nt` threads (a
 * variable of that name at the call site). With nt <= 1 no OpenMP construct
 * is entered at all: a serialised parallel region still allocates in some
 * runtimes (LLVM's libomp), and a training step must not allocate. */
#define NB__EW_PARALLEL_FOR(var, count, ...)                                                \
    do {                                                                                    \
        if (nt <= 1) {                                                                      \
            for (int64_t var = 0; var < (count); var++) { __VA_ARGS__; }                    \
        } else {                                                                            \
            _Pragma("omp parallel for num_threads(nt) schedule(static)")                    \
            for (int64_t var = 0; var < (count); var++) { __VA_ARGS__; }                    \
        }                                                                                   \
    } while (0)

/* Whether the SIMD files implement op (forward and backward); the rest always
 * run the scalar loop. */
int nb__ew_unary_vectorised(nb_unop op);

/* Every path implements the same set, so one declaration list serves both. */
#define NB__EW_DECLARE(isa)                                                                  \
    void nb__ew_unary_##isa(nb_unop op, int64_t n, const float *x, float *y, float p0,       \
                            float p1);                                                       \
    void nb__ew_unary_backward_##isa(nb_unop op, int64_t n, const float *x, const float *y,  \
                                     const float *dy, float *dx, float p0, float p1);        \
    /* relu and GELU (erf) only: dx = f'(x)·dy, the bits of adding to a cleared dx */        \
    void nb__ew_unary_backward_store_##isa(nb_unop op, int64_t n, const float *x,             \
                                           const float *y, const float *dy, float *dx,       \
                                           float p0, float p1);                              \
    /* o[i] = a[i*sa] op b[i*sb], sa and sb in {0, 1} */                                     \
    void nb__ew_binary_##isa(nb_binop op, int64_t n, float *o, const float *a, int64_t sa,   \
                             const float *b, int64_t sb);                                    \
    /* da[i] += ∂/∂a · g[i] (da contiguous; b[i*sb], sb in {0, 1}) */                        \
    void nb__ew_binary_grad_a_##isa(nb_binop op, int64_t n, const float *g, const float *b,  \
                                    int64_t sb, float *da);                                  \
    /* db[i] += ∂/∂b · g[i] (db, b contiguous; a[i*sa], sa in {0, 1}) */                     \
    void nb__ew_binary_grad_b_##isa(nb_binop op, int64_t n, const float *g, const float *o,  \
                                    const float *a, int64_t sa, const float *b, float *db);  \
    /* one pairwise leaf, n <= NB_SUM_BLOCK, contiguous */                                   \
    float nb__ew_sum_leaf_##isa(const float *x, int64_t n);                                  \
    /* max of x[0..n), n >= 1; NaN if any element is NaN */                                  \
    float nb__ew_max_##isa(const float *x, int64_t n);                                       \
    /* Σ exp(x[i] − m), storing the terms in y unless y is NULL */                           \
    float nb__ew_exp_sum_##isa(const float *x, int64_t n, float m, float *y);                \
    /* as exp_sum (bitwise; x_min: min of x, or NaN), also giving the max and min of     \
     * next[0..n) in next_mm[0..1], prefetching pf[0..n) and storing                        \
     * prev[i] = prev_src[i]·prev_scale in the same sweep (each pointer may be NULL) */      \
    float nb__ew_exp_sum_next_##isa(const float *x, int64_t n, float m, float x_min,         \
                                    float *y, const float *next, float *next_mm,             \
                                    const float *pf, float *prev, const float *prev_src,     \
                                    float prev_scale);                                       \
    /* cross-entropy gradient row from stored e = exp(z − max): dz += scale·(e·inv − off) */ \
    void nb__ew_xent_grad_e_##isa(const float *e, int64_t n, float inv, float scale,         \
                                  float off, float *dz);                                     \
    /* y[i] = x[i] * s;  y[i] = x[i] − c */                                                  \
    void nb__ew_scale_##isa(const float *x, int64_t n, float s, float *y);                   \
    void nb__ew_sub_##isa(const float *x, int64_t n, float c, float *y);                     \
    /* Σ a[i]·b[i] and Σ a[i] in float lanes */                                              \
    float nb__ew_dot_##isa(const float *a, const float *b, int64_t n);                       \
    float nb__ew_sum_##isa(const float *a, int64_t n);                                       \
    /* softmax backward row: dx += y·(dy − d); log-softmax: dx += dy − exp(y)·s */           \
    void nb__ew_softmax_bwd_##isa(const float *y, const float *dy, int64_t n, float d,       \
                                  float *dx);                                                \
    void nb__ew_log_softmax_bwd_##isa(const float *y, const float *dy, int64_t n, float s,   \
                                      float *dx);                                            \
    /* cross-entropy gradient row: dz[i] += scale·(exp(z[i] − lse) − off) */                 \
    void nb__ew_xent_grad_##isa(const float *z, int64_t n, float lse, float scale,           \
                                float off, float *dz);

#if defined(__x86_64__)
#define NB__EW_HAVE_SIMD 1
NB__EW_DECLARE(avx2)
NB__EW_DECLARE(avx512)
#endif

/* Polynomial and rational coefficients of the vector math (elementwise_simd.h),
 * fitted by tests/gen/fit_vecmath.py (weighted least squares on Chebyshev
 * nodes; Lawson's minimax iteration for the GELU rationals). */
/* exp: e^r = 1 + r + r² Σ_k NB_EXP_Pk r^k, |r| <= ln2/2 */
#define NB_EXP_P0 4.999998808e-01f
#define NB_EXP_P1 1.666651815e-01f
#define NB_EXP_P2 4.166953266e-02f
#define NB_EXP_P3 8.368915878e-03f
#define NB_EXP_P4 1.375140739e-03f
/* tanh: x + x³ Σ_k NB_TANH_Qk x^2k for |x| < 0.625 */
#define NB_TANH_Q0 -3.333328068e-01f
#define NB_TANH_Q1 1.333138198e-01f
#define NB_TANH_Q2 -5.373531953e-02f
#define NB_TANH_Q3 2.062629163e-02f
#define NB_TANH_Q4 -5.691985600e-03f
/* GELU (erf form): Φ(x) = ½ + x·P(x²)/(2·Q(x²)), fitted on |x| <= 5.5, used
 * on [−NB_GELU_T_LO, NB_GELU_T_HI]; GELU'(x) = Φ(x) + x·φ(x) =
 * ½ + x·DP(x²)/(2·DQ(x²)), fitted on |x| <= 6, used on |x| <= NB_GELU_D_T
 * (P, DP hold twice the fitted numerators; Q0 = DQ0 = 1). The clamps are where
 * the evaluated rationals give exactly 1 (Φ at 5.5, GELU' at 5.92) and below
 * 0 (Φ at −5.75). */
#define NB_GELU_T_HI 5.5f
#define NB_GELU_T_LO 5.75f
#define NB_GELU_P0 7.978844643e-01f
#define NB_GELU_P1 6.770469248e-02f
#define NB_GELU_P2 9.354484268e-03f
#define NB_GELU_P3 3.376453242e-04f
#define NB_GELU_P4 1.270420580e-05f
#define NB_GELU_P5 4.549932697e-08f
#define NB_GELU_Q0 1.0f
#define NB_GELU_Q1 2.515211701e-01f
#define NB_GELU_Q2 2.864569798e-02f
#define NB_GELU_Q3 1.884427504e-03f
#define NB_GELU_Q4 7.364658086e-05f
#define NB_GELU_Q5 1.197511665e-06f
#define NB_GELU_D_T 5.92f
#define NB_GELU_DP0 1.595769048e+00f
#define NB_GELU_DP1 -6.148676202e-02f
#define NB_GELU_DP2 2.841833979e-02f
#define NB_GELU_DP3 4.837034066e-05f
#define NB_GELU_DP4 7.170121535e-05f
#define NB_GELU_DP5 3.817700929e-07f
#define NB_GELU_DQ0 1.0f
#define NB_GELU_DQ1 2.948057652e-01f
#define NB_GELU_DQ2 4.106472805e-02f
#define NB_GELU_DQ3 3.528762143e-03f
#define NB_GELU_DQ4 1.935204782e-04f
#define NB_GELU_DQ5 8.887479453e-06f
/* log(1 + f) = f − f²/2 + f³ Σ_k NB_LOG_Rk f^k, √½ − 1 <= f < √2 − 1 */
#define NB_LOG_R0 3.333397210e-01f
#define NB_LOG_R1 -2.500096858e-01f
#define NB_LOG_R2 1.996059716e-01f
#define NB_LOG_R3 -1.658794880e-01f
#define NB_LOG_R4 1.495098025e-01f
#define NB_LOG_R5 -1.419747174e-01f
#define NB_LOG_R6 8.506952971e-02f

#endif
