/* kernels/attention.h — scaled dot-product attention over [BH][T][Dh] slices
 * with the online softmax (flash-attention style): forward keeps one
 * log-sum-exp per query row, backward recomputes the scores block by block.
 * Plain float arrays; portable and AVX2+FMA builds of one body. */
#ifndef NB_KERNELS_ATTENTION_H
#define NB_KERNELS_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

/* Query rows and keys per block. Scores never exist beyond one BQ×BK block. */
#define NB_K_ATTN_BQ 32
#define NB_K_ATTN_BK 64

/* Floats of scratch one thread needs for head size dh (a multiple of 16). */
size_t nb_k_attention_scratch(int64_t dh);

/* For each of bh slices: o = softmax(q·kᵀ·scale + mask)·v, q and o [tq][dh],
 * k and v [tk][dh]; lse[tq] receives each row's log Σ exp(score). With causal
 * nonzero (tq == tk) row t sees keys 0..t. scratch holds nscratch per-thread
 * blocks of nb_k_attention_scratch(dh) floats; at most nscratch threads run. */
void nb_k_attention_forward(int64_t bh, int64_t tq, int64_t tk, int64_t dh, int causal,
                            float scale, const float *q, const float *k, const float *v,
                            float *o, float *lse, float *scratch, int nscratch);

/* Accumulates (+=) dq, dk, dv (each may be NULL) of the forward above from do_
 * (the output's gradient), o and lse as forward left them; overwrite bits 0,
 * 1, 2 make dq, dk, dv hold this gradient alone (cleared first). */
void nb_k_attention_backward(int64_t bh, int64_t tq, int64_t tk, int64_t dh, int causal,
                             float scale, const float *q, const float *k, const float *v,
                             const float *o, const float *lse, const float *do_, float *dq,
                             float *dk, float *dv, unsigned overwrite, float *scratch,
                             int nscratch);

/* The same over heads read in place from the rows of a fused QKV projection,
 * qkv [b][t][3·c] (c = heads·dh; q, k, v at column offsets 0, c, 2c), with
 * o [b][t][c] written in merged-head layout: no split or merge tensors (a
 * slice's heads are copied into the thread's scratch, in cache). Backward
 * accumulates into dqkv (laid out as qkv), or overwrites it. scratch holds
 * nscratch blocks of nb_k_attention_rows_scratch(t, dh) floats. */
size_t nb_k_attention_rows_scratch(int64_t t, int64_t dh);
void nb_k_attention_rows_forward(int64_t b, int64_t heads, int64_t t, int64_t dh, int causal,
                                 float scale, const float *qkv, float *o, float *lse,
                                 float *scratch, int nscratch);
void nb_k_attention_rows_backward(int64_t b, int64_t heads, int64_t t, int64_t dh, int causal,
                                  float scale, const float *qkv, const float *o, const float *lse,
                                  const float *do_, float *dqkv, int overwrite, float *scratch,
                                  int nscratch);

/* Head permutations between rows of width ld (columns off .. off + h·dh of
 * each [b][t] row) and [b][h][t][dh]; accumulate nonzero adds instead of
 * assigning (the backward of the other direction).
 *   split:  heads[b][hh][t][:] (+)= rows[(b·t_ + t)·ld + off + hh·dh + :]
 *   merge:  rows[(b·t_ + t)·ld + off + hh·dh + :] (+)= heads[b][hh][t][:] */
void nb_k_heads_split(int64_t b, int64_t t, int64_t h, int64_t dh, const float *rows, int64_t ld,
                      int64_t off, float *heads, int accumulate);
void nb_k_heads_merge(int64_t b, int64_t t, int64_t h, int64_t dh, const float *heads,
                      float *rows, int64_t ld, int64_t off, int accumulate);

/* One slice each, per instruction set (attention_body.inc): [T][dh] slices,
 * except that forward writes o's rows lo floats apart; ws is one thread's
 * scratch; ar the SGEMM micro-kernel for block products, or NULL
 * for row loops. Used by the dispatcher in attention.c. */
struct nb__sgemm_arch;
#define NB__ATTN_DECL(suffix)                                                                  \
    void nb__attn_fwd_slice_##suffix(const struct nb__sgemm_arch *ar, int64_t tq, int64_t tk, \
                                     int64_t dh, int causal,                                  \
                                     float scale, const float *q, const float *k,             \
                                     const float *v, float *o, float *lse, int64_t lo,         \
                                     float *ws);                                               \
    void nb__attn_bwd_slice_##suffix(const struct nb__sgemm_arch *ar, int64_t tq, int64_t tk, \
                                     int64_t dh, int causal,                                  \
                                     float scale, const float *q, const float *k,             \
                                     const float *v, const float *o, const float *lse,         \
                                     const float *do_, float *dq, float *dk, float *dv,        \
                                     float *ws);
NB__ATTN_DECL(portable)
#if defined(__x86_64__)
NB__ATTN_DECL(avx2)
#endif

#endif
