/* kernels/attention.c — the portable build of the attention slice kernels and
 * the driver: CPU dispatch and the parallel loop over (batch, head) slices,
 * each thread owning whole slices and its own scratch, so results are the
 * same bitwise for every thread count. */
#include <omp.h>
#include <string.h>

#include "kernels/attention.h"
#include "kernels/kernels.h"

#define ATTN_NAME(x) x##portable
#include "kernels/attention_body.inc"

/* Below about this many flops per thread a fork costs more than it saves. */
#define ATTN_MIN_WORK 1.0e6

size_t nb_k_attention_scratch(int64_t dh) {
    const size_t n = (size_t)(2 * NB_K_ATTN_BQ * dh + 2 * dh * NB_K_ATTN_BK +
                              2 * NB_K_ATTN_BQ * NB_K_ATTN_BK + 2 * NB_K_ATTN_BQ);
    return (n + 15) / 16 * 16; /* whole cache lines: no false sharing between threads */
}

typedef void (*fwd_fn)(const nb__sgemm_arch *, int64_t, int64_t, int64_t, int, float, const float *, const float *,
                       const float *, float *, float *, float *);
typedef void (*bwd_fn)(const nb__sgemm_arch *, int64_t, int64_t, int64_t, int, float, const float *, const float *,
                       const float *, const float *, const float *, const float *, float *,
                       float *, float *, float *);

static int use_avx2(void) {
#if defined(__x86_64__)
    return nb__cpu_path() >= NB_CPU_AVX2;
#else
    return 0;
#endif
}

/* The SGEMM micro-kernel for block products of this CPU path, or NULL when
 * dh is not a multiple of its width (it reads rows of V, K, Q and dO nr wide;
 * the key/value blocks are BK wide, a multiple of every kernel's nr). */
static const nb__sgemm_arch *block_kernel(int64_t dh) {
    const nb__sgemm_arch *ar = &nb__sgemm_portable;
#if defined(__x86_64__)
    const int path = nb__cpu_path();
    if (path >= NB_CPU_AVX512)
        ar = &nb__sgemm_avx512;
    else if (path >= NB_CPU_AVX2)
        ar = &nb__sgemm_avx2;
#endif
    return dh % ar->nr == 0 && NB_K_ATTN_BK % ar->nr == 0 ? ar : NULL;
}

static int slice_threads(int64_t bh, int64_t tq, int64_t tk, int64_t dh, double passes, int nscratch) {
    int T = nb__threads_for(passes * 2.0 * (double)bh * (double)tq * (double)tk * (double)dh,
                            ATTN_MIN_WORK);
    if (T > nscratch) T = nscratch;
    if (T > bh) T = (int)bh;
    return T < 1 ? 1 : T;
}

void nb_k_attention_forward(int64_t bh, int64_t tq, int64_t tk, int64_t dh, int causal,
                            float scale, const float *q, const float *k, const float *v,
                            float *o, float *lse, float *scratch, int nscratch) {
    fwd_fn f = nb__attn_fwd_slice_portable;
#if defined(__x86_64__)
    if (use_avx2()) f = nb__attn_fwd_slice_avx2;
#endif
    const nb__sgemm_arch *ar = block_kernel(dh);
    const size_t ws = nb_k_attention_scratch(dh);
    const int T = slice_threads(bh, tq, tk, dh, 2.0, nscratch);
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
    for (int64_t s = 0; s < bh; s++)
        f(ar, tq, tk, dh, causal, scale, q + s * tq * dh, k + s * tk * dh, v + s * tk * dh,
          o + s * tq * dh, lse + s * tq, scratch + (size_t)omp_get_thread_num() * ws);
}

void nb_k_attention_backward(int64_t bh, int64_t tq, int64_t tk, int64_t dh, int causal,
                             float scale, const float *q, const float *k, const float *v,
                             const float *o, const float *lse, const float *do_, float *dq,
                             float *dk, float *dv, unsigned overwrite, float *scratch,
                             int nscratch) {
    if (!dq && !dk && !dv) return;
    bwd_fn f = nb__attn_bwd_slice_portable;
#if defined(__x86_64__)
    if (use_avx2()) f = nb__attn_bwd_slice_avx2;
#endif
    const nb__sgemm_arch *ar = block_kernel(dh);
    const size_t ws = nb_k_attention_scratch(dh);
    const int T = slice_threads(bh, tq, tk, dh, 5.0, nscratch);
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
    for (int64_t s = 0; s < bh; s++) {
        float *dqs = dq ? dq + s * tq * dh : NULL, *dks = dk ? dk + s * tk * dh : NULL;
        float *dvs = dv ? dv + s * tk * dh : NULL;
        /* cleared slice by slice, right before the slice adds into them */
        if (dqs && (overwrite & 1u)) memset(dqs, 0, (size_t)(tq * dh) * sizeof(float));
        if (dks && (overwrite & 2u)) memset(dks, 0, (size_t)(tk * dh) * sizeof(float));
        if (dvs && (overwrite & 4u)) memset(dvs, 0, (size_t)(tk * dh) * sizeof(float));
        f(ar, tq, tk, dh, causal, scale, q + s * tq * dh, k + s * tk * dh, v + s * tk * dh,
          o + s * tq * dh, lse + s * tq, do_ + s * tq * dh, dqs, dks, dvs,
          scratch + (size_t)omp_get_thread_num() * ws);
    }
}

void nb_k_heads_split(int64_t b, int64_t t, int64_t h, int64_t dh, const float *rows, int64_t ld,
                      int64_t off, float *heads, int accumulate) {
    for (int64_t bi = 0; bi < b; bi++)
        for (int64_t hh = 0; hh < h; hh++)
            for (int64_t ti = 0; ti < t; ti++) {
                const float *src = rows + (bi * t + ti) * ld + off + hh * dh;
                float *dst = heads + ((bi * h + hh) * t + ti) * dh;
                if (accumulate)
                    for (int64_t d = 0; d < dh; d++) dst[d] += src[d];
                else
                    for (int64_t d = 0; d < dh; d++) dst[d] = src[d];
            }
}

void nb_k_heads_merge(int64_t b, int64_t t, int64_t h, int64_t dh, const float *heads,
                      float *rows, int64_t ld, int64_t off, int accumulate) {
    for (int64_t bi = 0; bi < b; bi++)
        for (int64_t hh = 0; hh < h; hh++)
            for (int64_t ti = 0; ti < t; ti++) {
                const float *src = heads + ((bi * h + hh) * t + ti) * dh;
                float *dst = rows + (bi * t + ti) * ld + off + hh * dh;
                if (accumulate)
                    for (int64_t d = 0; d < dh; d++) dst[d] += src[d];
                else
                    for (int64_t d = 0; d < dh; d++) dst[d] = src[d];
            }
}
