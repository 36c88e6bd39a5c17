/* nabla/gpt.h — transformer modules built from the sequence ops: a layer-norm
 * layer, causal multi-head self-attention, the pre-LayerNorm block and the GPT
 * language model with tied embeddings (src/nn/transformer.c). Included by
 * nabla.h.
 *
 * Parameter names and initialisation mirror the PyTorch reference
 * ../shared/bench/torch/gpt_model.py, so a state_dict maps 1:1 by name:
 *
 *     wte.weight [V,C]          token embedding (also the output projection)
 *     wpe.weight [ctx,C]        learned positions
 *     blocks.<i>.ln1.weight/bias [C]
 *     blocks.<i>.qkv.weight [3C,C]  .bias [3C]   fused q|k|v projection
 *     blocks.<i>.proj.weight [C,C]  .bias [C]    attention output projection
 *     blocks.<i>.ln2.weight/bias [C]
 *     blocks.<i>.fc1.weight [4C,C]  .bias [4C]   MLP in (GELU, erf form)
 *     blocks.<i>.fc2.weight [C,4C]  .bias [C]    MLP out
 *     ln_f.weight/bias [C]
 *
 * PyTorch's state_dict also lists "lm_head.weight", the same tensor as
 * "wte.weight" (tied); nabla has only wte.weight, and parameters are counted
 * once, as gpt_model.py's n_params() does. */
#ifndef NABLA_GPT_H
#define NABLA_GPT_H

#include "nabla/core.h"
#include "nabla/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Layer normalisation over the last axis as torch.nn.LayerNorm(dim, eps):
 * "<name>.weight" (ones) and "<name>.bias" (zeros), both [dim]. */
typedef struct nb_layer_norm_layer {
    nb_module base;
    nb_tensor *weight, *bias;
    int64_t dim;
    float eps;
} nb_layer_norm_layer;
nb_layer_norm_layer *nb_layer_norm_layer_new(nb_model *m, const char *name, int64_t dim, float eps);
nb_tensor *nb_layer_norm_layer_forward(nb_layer_norm_layer *l, nb_tensor *x);

/* Multi-head self-attention over x [B,T,C]:
 *     q, k, v = split(x·Wqkvᵀ + bqkv)        heads of C/heads each
 *     y = merge(attention(q, k, v, causal)) · Wprojᵀ + bproj
 * with the linear layers "<name>.qkv" [3C,C] and "<name>.proj" [C,C] (bias
 * on both, torch.nn.Linear's default initialisation; the GPT builder re-draws
 * them). The fused attention op never forms the T×T probabilities, so there
 * is no dropout on them; `dropout` (when > 0) is applied to the projected
 * output in training mode (nanoGPT's resid_dropout). heads must divide C. */
typedef struct nb_self_attention {
    nb_module base;
    nb_linear_layer *qkv, *proj;
    int64_t width;
    int heads, causal;
    float dropout;
} nb_self_attention;
nb_self_attention *nb_self_attention_new(nb_model *m, const char *name, int64_t width, int heads,
                                         int causal, float dropout);
nb_tensor *nb_self_attention_forward(nb_self_attention *a, nb_tensor *x);

/* Pre-LayerNorm transformer block over x [B,T,C]:
 *     x = x + drop(attn(ln1(x)))
 *     x = x + drop(fc2(gelu(fc1(ln2(x)))))       fc1: C -> 4C, GELU erf form
 * Its tensors are named "<name>.ln1", "<name>.qkv", "<name>.proj",
 * "<name>.ln2", "<name>.fc1", "<name>.fc2" (.weight/.bias), as the Block of
 * gpt_model.py. LayerNorm eps 1e-5; attention causal. */
typedef struct nb_transformer_block {
    nb_module base;
    nb_layer_norm_layer *ln1, *ln2;
    nb_self_attention *attn;
    nb_linear_layer *fc1, *fc2;
    float dropout;
} nb_transformer_block;
nb_transformer_block *nb_transformer_block_new(nb_model *m, const char *name, int64_t width,
                                               int heads, float dropout);
nb_tensor *nb_transformer_block_forward(nb_transformer_block *b, nb_tensor *x);

/* GPT language model. */
typedef struct nb_gpt_config {
    int64_t vocab;      /* token ids 0..vocab-1 */
    int64_t context;    /* longest sequence (rows of wpe) */
    int layers, heads;
    int64_t width;      /* C, a multiple of heads */
    float dropout;      /* embedding and residual dropout, training mode only */
} nb_gpt_config;

typedef struct nb_gpt {
    nb_module base;     /* forward: ids [B,T] -> logits [B,T,vocab] */
    nb_gpt_config cfg;
    nb_embedding_layer *wte, *wpe;
    nb_transformer_block **blocks;  /* cfg.layers of them, "blocks.<i>" */
    nb_layer_norm_layer *ln_f;
} nb_gpt;

/* Validates cfg (every size >= 1, heads divides width, dropout in [0, 1));
 * NB_OK or NB_ERR_ARG with a message on ctx (ctx may be NULL: no message). */
int nb_gpt_config_check(nb_ctx *ctx, const nb_gpt_config *cfg);

/* Trainable scalars of the model cfg describes, without building it (tied
 * weight counted once): V·C + ctx·C + L·(12C² + 13C) + 2C. For GPT-2 small
 * (50257, 1024, 12, 12, 768) that is 124,439,808. -1 for an invalid cfg. */
int64_t nb_gpt_param_count(const nb_gpt_config *cfg);

/* Builds the model on m under `name` (NULL or "" for the names above) and
 * initialises it like gpt_model.py from nb_ctx_rng: every linear and
 * embedding weight N(0, 0.02²), biases 0, LayerNorms 1/0, then the residual
 * projections (proj, fc2 weights) N(0, (0.02/√(2·layers))²). The draws come
 * from nabla's generator, so the values differ from PyTorch's. */
nb_gpt *nb_gpt_new(nb_model *m, const char *name, const nb_gpt_config *cfg);

/* Logits [B,T,vocab] for ids [B,T] (float tensor of integral ids, 1 <= T <=
 * context): h = wte[ids] + wpe[0..T-1]; blocks; ln_f; logits = h·wteᵀ (the
 * tied projection: wte's gradient sums both uses). The position ids are a
 * constant [T] tensor made here, once per graph. Ids are checked on every
 * forward (embedding op). */
nb_tensor *nb_gpt_forward(nb_gpt *g, nb_tensor *ids);

/* Mean cross-entropy of logits [B,T,V] against targets [B,T] (float ids),
 * computed over the [B·T, V] reshape as F.cross_entropy(logits.view(-1, V),
 * targets.view(-1)). */
nb_tensor *nb_gpt_loss(nb_ctx *ctx, nb_tensor *logits, nb_tensor *targets);

#ifdef __cplusplus
}
#endif
#endif
