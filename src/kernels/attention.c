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
                       const float *, float *, float *, int64_t, float *);
typedef void (*bwd_fn)(const nb__sgemm_arch *, int64_t, int64_t, int64_t, int, float, const float *, const float *,
                       const float *, const float *, const float *, const float *, float *,
                       float *, float *, float *);

/* The slice kernels of this CPU path. */
static fwd_fn fwd_slice(void) {
#if defined(__x86_64__)
    if (nb__cpu_avx2()) return nb__attn_fwd_slice_avx2;
#endif
    return nb__attn_fwd_slice_portable;
}

static bwd_fn bwd_slice(void) {
#if defined(__x86_64__)
    if (nb__cpu_avx2()) return nb__attn_bwd_slice_avx2;
#endif
    return nb__attn_bwd_slice_portable;
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
    const fwd_fn f = fwd_slice();
    const nb__sgemm_arch *ar = block_kernel(dh);
    const size_t ws = nb_k_attention_scratch(dh);
    const int T = slice_threads(bh, tq, tk, dh, 2.0, nscratch);
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
    for (int64_t s = 0; s < bh; s++)
        f(ar, tq, tk, dh, causal, scale, q + s * tq * dh, k + s * tk * dh, v + s * tk * dh,
          o + s * tq * dh, lse + s * tq, dh, scratch + (size_t)omp_get_thread_num() * ws);
}

void nb_k_attention_backward(int64_t bh, int64_t tq, int64_t tk, int64_t dh, int causal,
                             float scale, const float *q, const float *k, const float *v,
                             const float *o, const float *lse, const float *do_, float *dq,
                             float *dk, float *dv, unsigned overwrite, float *scratch,
                             int nscratch) {
    if (!dq && !dk && !dv) return;
    const bwd_fn f = bwd_slice();
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

/* The rows layout's heads are gathered per slice into contiguous [t][dh]
 * blocks in the thread's scratch (and dq, dk, dv summed there, then stored or
 * added into dqkv): read in place at a row stride of 3·c, 64 rows of a head
 * fall into a handful of L1 sets and the slice kernels ran 30% slower than on
 * the copies qkv_split made. Per slice the copies stay in cache. */
size_t nb_k_attention_rows_scratch(int64_t t, int64_t dh) {
    return nb_k_attention_scratch(dh) + (size_t)(8 * t * dh + 15) / 16 * 16;
}

/* Where head s % heads of batch row s / heads starts in [b][t][width] rows. */
static int64_t head_at(int64_t s, int64_t heads, int64_t t, int64_t width, int64_t dh) {
    return s / heads * t * width + s % heads * dh;
}

/* n floats: whole 32-byte pieces by constant-size memcpy, which compilers
 * inline as vector moves (a call per 128-byte head row cost 3% of a char-GPT
 * step), then the rest. */
static inline void copy_floats(float *dst, const float *src, int64_t n) {
    int64_t d = 0;
    for (; d + 8 <= n; d += 8) memcpy(dst + d, src + d, 32);
    for (; d < n; d++) dst[d] = src[d];
}

static void gather(const float *src, int64_t ld, int64_t t, int64_t dh, float *dst) {
    for (int64_t i = 0; i < t; i++) copy_floats(dst + i * dh, src + i * ld, dh);
}

static void scatter(const float *src, int64_t t, int64_t dh, float *dst, int64_t ld, int add) {
    for (int64_t i = 0; i < t; i++) {
        if (add)
            for (int64_t d = 0; d < dh; d++) dst[i * ld + d] += src[i * dh + d];
        else
            copy_floats(dst + i * ld, src + i * dh, dh);
    }
}

/* What both row-layout loops share: the block kernel, each thread's scratch
 * (ws floats: the slice kernel's blk, then the gathered heads), the sizes
 * (c = heads·dh, bh slices of n = t·dh floats per head) and the thread count
 * for `passes` slice-sized products. */
typedef struct rows_plan {
    const nb__sgemm_arch *ar;
    size_t ws, blk;
    int64_t c, bh, n;
    int threads;
} rows_plan;

static rows_plan plan_rows(int64_t b, int64_t heads, int64_t t, int64_t dh, double passes,
                           int nscratch) {
    rows_plan P = {.ar = block_kernel(dh), .ws = nb_k_attention_rows_scratch(t, dh),
                   .blk = nb_k_attention_scratch(dh), .c = heads * dh, .bh = b * heads, .n = t * dh};
    P.threads = slice_threads(P.bh, t, t, dh, passes, nscratch);
    return P;
}

/* Slice s's q, k and v from the [b][t][3c] rows into qs (3n floats); returns
 * where the slice starts in those rows. */
static int64_t gather_qkv(const rows_plan *P, const float *qkv, int64_t s, int64_t heads,
                          int64_t t, int64_t dh, float *qs) {
    const int64_t xo = head_at(s, heads, t, 3 * P->c, dh);
    for (int p = 0; p < 3; p++) gather(qkv + xo + p * P->c, 3 * P->c, t, dh, qs + p * P->n);
    return xo;
}

void nb_k_attention_rows_forward(int64_t b, int64_t heads, int64_t t, int64_t dh, int causal,
                                 float scale, const float *qkv, float *o, float *lse,
                                 float *scratch, int nscratch) {
    const fwd_fn f = fwd_slice();
    const rows_plan P = plan_rows(b, heads, t, dh, 2.0, nscratch);
    const int64_t n = P.n;
#pragma omp parallel for schedule(static) num_threads(P.threads) if (P.threads > 1)
    for (int64_t s = 0; s < P.bh; s++) {
        float *w = scratch + (size_t)omp_get_thread_num() * P.ws, *qs = w + P.blk;
        gather_qkv(&P, qkv, s, heads, t, dh, qs);
        f(P.ar, t, t, dh, causal, scale, qs, qs + n, qs + 2 * n,
          o + head_at(s, heads, t, P.c, dh), lse + s * t, P.c, w);
    }
}

void nb_k_attention_rows_backward(int64_t b, int64_t heads, int64_t t, int64_t dh, int causal,
                                  float scale, const float *qkv, const float *o, const float *lse,
                                  const float *do_, float *dqkv, int overwrite, float *scratch,
                                  int nscratch) {
    const bwd_fn f = bwd_slice();
    const rows_plan P = plan_rows(b, heads, t, dh, 5.0, nscratch);
    const int64_t c = P.c, n = P.n;
#pragma omp parallel for schedule(static) num_threads(P.threads) if (P.threads > 1)
    for (int64_t s = 0; s < P.bh; s++) {
        float *w = scratch + (size_t)omp_get_thread_num() * P.ws, *qs = w + P.blk;
        float *os = qs + 3 * n, *dos = os + n, *dqs = dos + n; /* then dk, dv */
        const int64_t xo = gather_qkv(&P, qkv, s, heads, t, dh, qs), oo = head_at(s, heads, t, c, dh);
        gather(o + oo, c, t, dh, os);
        gather(do_ + oo, c, t, dh, dos);
        memset(dqs, 0, (size_t)(3 * n) * sizeof(float));
        f(P.ar, t, t, dh, causal, scale, qs, qs + n, qs + 2 * n, os, lse + s * t, dos, dqs, dqs + n,
          dqs + 2 * n, w);
        for (int p = 0; p < 3; p++) scatter(dqs + p * n, t, dh, dqkv + xo + p * c, 3 * c, !overwrite);
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
