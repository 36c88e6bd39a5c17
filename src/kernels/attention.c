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
                       const float *, float *, float *, int64_t, int64_t, float *);
typedef void (*bwd_fn)(const nb__sgemm_arch *, int64_t, int64_t, int64_t, int, float, const float *, const float *,
                       const float *, const float *, const float *, const float *, float *,
                       float *, float *, int64_t, int64_t, float *);

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

/* Where slice s = (b, h), b = s / heads, h = s % heads, lives: q, dq at
 * b·qb + h·qh, k, v, dk, dv at b·kb + h·kh, o, dO at b·ob + h·oh, rows of
 * the first six li floats apart, of o and dO lo apart. */
typedef struct layout {
    int64_t heads, qb, qh, kb, kh, ob, oh, li, lo;
} layout;

static int64_t at(int64_t s, int64_t heads, int64_t per_b, int64_t per_h) {
    return s / heads * per_b + s % heads * per_h;
}

/* rows [0, t) of dh floats, ld apart */
static void clear_rows(float *x, int64_t t, int64_t dh, int64_t ld) {
    if (ld == dh) {
        memset(x, 0, (size_t)(t * dh) * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < t; i++) memset(x + i * ld, 0, (size_t)dh * sizeof(float));
}

static void forward(const layout *L, int64_t bh, int64_t tq, int64_t tk, int64_t dh, int causal,
                    float scale, const float *q, const float *k, const float *v, float *o,
                    float *lse, float *scratch, int nscratch) {
    fwd_fn f = nb__attn_fwd_slice_portable;
#if defined(__x86_64__)
    if (use_avx2()) f = nb__attn_fwd_slice_avx2;
#endif
    const nb__sgemm_arch *ar = block_kernel(dh);
    const size_t ws = nb_k_attention_scratch(dh);
    const int T = slice_threads(bh, tq, tk, dh, 2.0, nscratch);
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
    for (int64_t s = 0; s < bh; s++) {
        const int64_t iq = at(s, L->heads, L->qb, L->qh), ik = at(s, L->heads, L->kb, L->kh);
        f(ar, tq, tk, dh, causal, scale, q + iq, k + ik, v + ik, o + at(s, L->heads, L->ob, L->oh),
          lse + s * tq, L->li, L->lo, scratch + (size_t)omp_get_thread_num() * ws);
    }
}

static void backward(const layout *L, int64_t bh, int64_t tq, int64_t tk, int64_t dh, int causal,
                     float scale, const float *q, const float *k, const float *v, const float *o,
                     const float *lse, const float *do_, float *dq, float *dk, float *dv,
                     unsigned overwrite, float *scratch, int nscratch) {
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
        const int64_t iq = at(s, L->heads, L->qb, L->qh), ik = at(s, L->heads, L->kb, L->kh);
        const int64_t io = at(s, L->heads, L->ob, L->oh);
        float *dqs = dq ? dq + iq : NULL, *dks = dk ? dk + ik : NULL, *dvs = dv ? dv + ik : NULL;
        /* cleared slice by slice, right before the slice adds into them */
        if (dqs && (overwrite & 1u)) clear_rows(dqs, tq, dh, L->li);
        if (dks && (overwrite & 2u)) clear_rows(dks, tk, dh, L->li);
        if (dvs && (overwrite & 4u)) clear_rows(dvs, tk, dh, L->li);
        f(ar, tq, tk, dh, causal, scale, q + iq, k + ik, v + ik, o + io, lse + s * tq, do_ + io,
          dqs, dks, dvs, L->li, L->lo, scratch + (size_t)omp_get_thread_num() * ws);
    }
}

/* [bh][t][dh] slices, one after another */
static layout packed(int64_t tq, int64_t tk, int64_t dh) {
    return (layout){1, tq * dh, 0, tk * dh, 0, tq * dh, 0, dh, dh};
}

/* heads read in place from [b][t][3·h·dh] rows (q, k, v at column offsets
 * 0, c, 2c, passed as three pointers), written to [b][t][h·dh] rows */
static layout rows(int64_t heads, int64_t t, int64_t dh) {
    const int64_t c = heads * dh;
    return (layout){heads, t * 3 * c, dh, t * 3 * c, dh, t * c, dh, 3 * c, c};
}

void nb_k_attention_forward(int64_t bh, int64_t tq, int64_t tk, int64_t dh, int causal,
                            float scale, const float *q, const float *k, const float *v,
                            float *o, float *lse, float *scratch, int nscratch) {
    const layout L = packed(tq, tk, dh);
    forward(&L, bh, tq, tk, dh, causal, scale, q, k, v, o, lse, scratch, nscratch);
}

void nb_k_attention_backward(int64_t bh, int64_t tq, int64_t tk, int64_t dh, int causal,
                             float scale, const float *q, const float *k, const float *v,
                             const float *o, const float *lse, const float *do_, float *dq,
                             float *dk, float *dv, unsigned overwrite, float *scratch,
                             int nscratch) {
    const layout L = packed(tq, tk, dh);
    backward(&L, bh, tq, tk, dh, causal, scale, q, k, v, o, lse, do_, dq, dk, dv, overwrite,
             scratch, nscratch);
}

void nb_k_attention_rows_forward(int64_t b, int64_t heads, int64_t t, int64_t dh, int causal,
                                 float scale, const float *qkv, float *o, float *lse,
                                 float *scratch, int nscratch) {
    const layout L = rows(heads, t, dh);
    const int64_t c = heads * dh;
    forward(&L, b * heads, t, t, dh, causal, scale, qkv, qkv + c, qkv + 2 * c, o, lse, scratch,
            nscratch);
}

void nb_k_attention_rows_backward(int64_t b, int64_t heads, int64_t t, int64_t dh, int causal,
                                  float scale, const float *qkv, const float *o, const float *lse,
                                  const float *do_, float *dqkv, int overwrite, float *scratch,
                                  int nscratch) {
    const layout L = rows(heads, t, dh);
    const int64_t c = heads * dh;
    backward(&L, b * heads, t, t, dh, causal, scale, qkv, qkv + c, qkv + 2 * c, o, lse, do_, dqkv,
             dqkv + c, dqkv + 2 * c, overwrite ? 7u : 0u, scratch, nscratch);
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
