/* nabla/seq.h — operations of sequence models: layer and RMS normalisation
 * over the last axis, scaled dot-product attention (flash-style, never holding
 * the T×T score matrix), and the head split/merge permutations of multi-head
 * attention (src/ops/layernorm.c, src/ops/attention.c). Included by nabla.h. */
#ifndef NABLA_SEQ_H
#define NABLA_SEQ_H

#include "nabla/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- normalisation over the last axis (src/ops/layernorm.c) ----------------
 * nb_layer_norm: y = (x − mean)/sqrt(var + eps)·gamma + beta per row of the
 * last axis, var biased, as torch.nn.LayerNorm(D). x is [..., D] (rank >= 1);
 * gamma and beta are [D] or NULL (1 and 0). Forward saves each row's mean and
 * reciprocal standard deviation; backward is the fused closed form.
 * nb_rms_norm: y = x/sqrt(mean(x²) + eps)·gamma (gamma [D] or NULL). */
nb_tensor *nb_layer_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *gamma, nb_tensor *beta,
                         float eps);
nb_tensor *nb_rms_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *gamma, float eps);

/* ---- attention (src/ops/attention.c) -------------------------------------------
 * nb_attention: softmax(q·kᵀ/√Dh + mask)·v for q [B,H,Tq,Dh] and k, v
 * [B,H,Tk,Dh]; returns [B,H,Tq,Dh]. With causal nonzero, query t attends to
 * keys 0..t only (then Tq must equal Tk). Computed with the online softmax over
 * key blocks: memory beyond the output is one log-sum-exp per query row plus
 * fixed per-thread blocks; backward recomputes the scores block by block.
 * Parallel over B·H, bitwise identical for any thread count. */
nb_tensor *nb_attention(nb_ctx *ctx, nb_tensor *q, nb_tensor *k, nb_tensor *v, int causal);
/* Multi-head attention straight from a fused QKV projection: qkv [B,T,3·C]
 * -> [B,T,C], bitwise merge_heads(attention(q, k, v, causal)) of
 * nb_qkv_split(qkv, heads), without the split copies or the head-layout
 * output (less memory, less time). C must be a multiple of heads. */
nb_tensor *nb_attention_qkv(nb_ctx *ctx, nb_tensor *qkv, int heads, int causal);

/* Head permutations as fused copies:
 *   nb_split_heads  x [B,T,H·Dh] -> [B,H,T,Dh]   (x.view(B,T,H,Dh).transpose(1,2))
 *   nb_merge_heads  x [B,H,T,Dh] -> [B,T,H·Dh]   (the inverse)
 *   nb_qkv_split    qkv [B,T,3·C] -> q, k, v [B,H,T,C/H], the three thirds of
 *                   the last axis each split into heads, as PyTorch's
 *                   qkv.split(C, 2) followed by split_heads. On error all
 *                   three outputs are NULL and the status is returned. */
nb_tensor *nb_split_heads(nb_ctx *ctx, nb_tensor *x, int heads);
nb_tensor *nb_merge_heads(nb_ctx *ctx, nb_tensor *x);
int nb_qkv_split(nb_ctx *ctx, nb_tensor *qkv, int heads, nb_tensor **q, nb_tensor **k,
                 nb_tensor **v);

#ifdef __cplusplus
}
#endif
#endif
