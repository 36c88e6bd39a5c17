/* nn/transformer.c — the transformer modules of nabla/gpt.h: layer-norm layer,
 * causal multi-head self-attention, the pre-LayerNorm block, and the GPT
 * builder (tied embeddings, gpt_model.py's names and initialisation). */
#include <math.h>
#include <stdio.h>

#include "nabla/gpt.h"
#include "nabla/ops.h"
#include "nabla/seq.h"
#include "nn/internal.h"

#define GPT_LN_EPS 1e-5f
#define GPT_INIT_STD 0.02f

static const char *str_or_empty(const char *s) { return s ? s : ""; }

/* Dropout only when it can do something: with p = 0 no node is recorded, so
 * a model without dropout pays nothing for it. */
static nb_tensor *maybe_dropout(nb_ctx *ctx, nb_tensor *x, float p) {
    return p > 0.0f ? nb_dropout(ctx, x, p) : x;
}

/* ---- layer norm ---- */

static nb_tensor *layer_norm_fwd(nb_module *self, nb_tensor *x) {
    return nb_layer_norm_layer_forward((nb_layer_norm_layer *)self, x);
}

nb_layer_norm_layer *nb_layer_norm_layer_new(nb_model *m, const char *name, int64_t dim, float eps) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    if (dim < 1 || !(eps >= 0.0f))
        return nb__error(ctx, NB_ERR_ARG, "layer_norm_layer '%s': dim = %lld must be >= 1 and eps = %g >= 0",
                         str_or_empty(name), (long long)dim, (double)eps), NULL;
    nb_layer_norm_layer *l = nb__module_new(m, sizeof *l, "layernorm", name, layer_norm_fwd);
    if (!l) return NULL;
    l->dim = dim;
    l->eps = eps;
    l->weight = nb_model_param_new(m, name, "weight", 1, (int64_t[]){dim});
    l->bias = l->weight ? nb_model_param_new(m, name, "bias", 1, (int64_t[]){dim}) : NULL;
    if (!l->bias || nb_init_ones(l->weight) != NB_OK) return NULL;
    l->base.num_params = 2 * dim;
    return l;
}

nb_tensor *nb_layer_norm_layer_forward(nb_layer_norm_layer *l, nb_tensor *x) {
    if (!l) return NULL;
    nb_tensor *y = nb_layer_norm(nb_model_ctx(l->base.model), x, l->weight, l->bias, l->eps);
    if (y) l->base.output = y;
    return y;
}

/* ---- self-attention ---- */

static nb_tensor *self_attention_fwd(nb_module *self, nb_tensor *x) {
    return nb_self_attention_forward((nb_self_attention *)self, x);
}

nb_self_attention *nb_self_attention_new(nb_model *m, const char *name, int64_t width, int heads,
                                         int causal, float dropout) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    if (width < 1 || heads < 1 || width % heads != 0)
        return nb__error(ctx, NB_ERR_ARG,
                         "self_attention '%s': width %lld must be a positive multiple of heads %d",
                         str_or_empty(name), (long long)width, heads), NULL;
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return nb__error(ctx, NB_ERR_ARG, "self_attention '%s': dropout %g is outside [0, 1)",
                         str_or_empty(name), (double)dropout), NULL;
    nb_self_attention *a = nb__module_new(m, sizeof *a, "attention", name, self_attention_fwd);
    if (!a) return NULL;
    /* a container in summaries: its rows are the two linear layers */
    a->base.is_container = 1;
    a->width = width;
    a->heads = heads;
    a->causal = causal != 0;
    a->dropout = dropout;
    char *qn = nb__name_join(ctx, name, "qkv"), *pn = nb__name_join(ctx, name, "proj");
    if (!qn || !pn) return NULL;
    a->qkv = nb_linear_layer_new(m, qn, width, 3 * width, 1);
    a->proj = a->qkv ? nb_linear_layer_new(m, pn, width, width, 1) : NULL;
    if (!a->proj) return NULL;
    return a;
}

nb_tensor *nb_self_attention_forward(nb_self_attention *a, nb_tensor *x) {
    if (!a) return NULL;
    nb_ctx *ctx = nb_model_ctx(a->base.model);
    if (nb_error(ctx)) return NULL;
    if (!x) return nb__error(ctx, NB_ERR_NULL, "self_attention '%s': input is NULL", a->base.name), NULL;
    if (x->ndim != 3 || x->shape[2] != a->width) {
        char sb[NB_SHAPE_BUF];
        return nb__error(ctx, NB_ERR_SHAPE, "self_attention '%s': input must be [B,T,%lld], not %s",
                         a->base.name, (long long)a->width, nb__shape_str(x, sb)), NULL;
    }
    /* heads read in place from the projection's rows (nb_attention_qkv) */
    nb_tensor *y = nb_attention_qkv(ctx, nb_linear_layer_forward(a->qkv, x), a->heads, a->causal);
    y = maybe_dropout(ctx, nb_linear_layer_forward(a->proj, y), a->dropout);
    if (y) a->base.output = y;
    return y;
}

/* ---- transformer block ---- */

static nb_tensor *block_fwd(nb_module *self, nb_tensor *x) {
    return nb_transformer_block_forward((nb_transformer_block *)self, x);
}

nb_transformer_block *nb_transformer_block_new(nb_model *m, const char *name, int64_t width,
                                               int heads, float dropout) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    if (width < 1 || heads < 1 || width % heads != 0)
        return nb__error(ctx, NB_ERR_ARG,
                         "transformer_block '%s': width %lld must be a positive multiple of heads %d",
                         str_or_empty(name), (long long)width, heads), NULL;
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return nb__error(ctx, NB_ERR_ARG, "transformer_block '%s': dropout %g is outside [0, 1)",
                         str_or_empty(name), (double)dropout), NULL;
    nb_transformer_block *b = nb__module_new(m, sizeof *b, "block", name, block_fwd);
    if (!b) return NULL;
    b->base.is_container = 1;
    b->dropout = dropout;
    /* creation order = gpt_model.py's Block.__init__ order, hence the same
     * state_dict order: ln1, qkv, proj, ln2, fc1, fc2 */
    char *n1 = nb__name_join(ctx, name, "ln1"), *n2 = nb__name_join(ctx, name, "ln2");
    char *f1 = nb__name_join(ctx, name, "fc1"), *f2 = nb__name_join(ctx, name, "fc2");
    if (!n1 || !n2 || !f1 || !f2) return NULL;
    if (!(b->ln1 = nb_layer_norm_layer_new(m, n1, width, GPT_LN_EPS))) return NULL;
    /* the attention's linear layers sit directly under the block's name, as
     * in gpt_model.py (no "attn" submodule there) */
    if (!(b->attn = nb_self_attention_new(m, name, width, heads, 1, dropout))) return NULL;
    if (!(b->ln2 = nb_layer_norm_layer_new(m, n2, width, GPT_LN_EPS))) return NULL;
    if (!(b->fc1 = nb_linear_layer_new(m, f1, width, 4 * width, 1))) return NULL;
    if (!(b->fc2 = nb_linear_layer_new(m, f2, 4 * width, width, 1))) return NULL;
    return b;
}

nb_tensor *nb_transformer_block_forward(nb_transformer_block *b, nb_tensor *x) {
    if (!b) return NULL;
    nb_ctx *ctx = nb_model_ctx(b->base.model);
    nb_tensor *a = nb_self_attention_forward(b->attn, nb_layer_norm_layer_forward(b->ln1, x));
    x = nb_add(ctx, x, a);
    nb_tensor *h = nb_linear_layer_forward(b->fc1, nb_layer_norm_layer_forward(b->ln2, x));
    h = nb_linear_layer_forward(b->fc2, nb_gelu(ctx, h, NB_GELU_ERF));
    x = nb_add(ctx, x, maybe_dropout(ctx, h, b->dropout));
    if (x) b->base.output = x;
    return x;
}

/* ---- GPT ---- */

int nb_gpt_config_check(nb_ctx *ctx, const nb_gpt_config *cfg) {
    if (!cfg) return ctx ? nb__error(ctx, NB_ERR_NULL, "gpt: config is NULL") : NB_ERR_NULL;
    const char *why = NULL;
    if (cfg->vocab < 1 || cfg->context < 1 || cfg->layers < 1 || cfg->heads < 1 || cfg->width < 1)
        why = "every size must be >= 1";
    else if (cfg->width % cfg->heads != 0)
        why = "heads must divide width";
    else if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f))
        why = "dropout must lie in [0, 1)";
    if (!why) return NB_OK;
    if (!ctx) return NB_ERR_ARG;
    return nb__error(ctx, NB_ERR_ARG,
                     "gpt: %s (vocab %lld, context %lld, layers %d, heads %d, width %lld, dropout %g)", why,
                     (long long)cfg->vocab, (long long)cfg->context, cfg->layers, cfg->heads,
                     (long long)cfg->width, (double)cfg->dropout);
}

int64_t nb_gpt_param_count(const nb_gpt_config *cfg) {
    if (nb_gpt_config_check(NULL, cfg) != NB_OK) return -1;
    int64_t C = cfg->width;
    /* per block: 2 LayerNorms (4C), qkv (3C² + 3C), proj (C² + C),
     * fc1 (4C² + 4C), fc2 (4C² + C) */
    int64_t block = 12 * C * C + 13 * C;
    return cfg->vocab * C + cfg->context * C + (int64_t)cfg->layers * block + 2 * C;
}

static nb_tensor *gpt_fwd(nb_module *self, nb_tensor *ids) {
    return nb_gpt_forward((nb_gpt *)self, ids);
}

nb_gpt *nb_gpt_new(nb_model *m, const char *name, const nb_gpt_config *cfg) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    if (nb_gpt_config_check(ctx, cfg) != NB_OK) return NULL;
    nb_gpt *g = nb__module_new(m, sizeof *g, "gpt", name, gpt_fwd);
    if (!g) return NULL;
    g->base.is_container = 1;
    g->cfg = *cfg;
    g->blocks = nb__alloc(ctx, (size_t)cfg->layers * sizeof *g->blocks);
    char *en = nb__name_join(ctx, name, "wte"), *pn = nb__name_join(ctx, name, "wpe");
    char *fn = nb__name_join(ctx, name, "ln_f");
    if (!g->blocks || !en || !pn || !fn) return NULL;
    if (!(g->wte = nb_embedding_layer_new(m, en, cfg->vocab, cfg->width))) return NULL;
    if (!(g->wpe = nb_embedding_layer_new(m, pn, cfg->context, cfg->width))) return NULL;
    for (int i = 0; i < cfg->layers; i++) {
        char local[32];
        snprintf(local, sizeof local, "blocks.%d", i);
        char *bn = nb__name_join(ctx, name, local);
        if (!bn || !(g->blocks[i] = nb_transformer_block_new(m, bn, cfg->width, cfg->heads, cfg->dropout)))
            return NULL;
    }
    if (!(g->ln_f = nb_layer_norm_layer_new(m, fn, cfg->width, GPT_LN_EPS))) return NULL;

    /* gpt_model.py's init, in its order: every Linear and Embedding weight
     * N(0, 0.02), Linear biases 0 (in module order), then the residual
     * projections again with 0.02/√(2L). The layers' own default draws above
     * are overwritten. */
    nb_rng *rng = nb_ctx_rng(ctx);
    int rc = nb_init_normal(g->wte->weight, rng, 0.0f, GPT_INIT_STD);
    if (rc == NB_OK) rc = nb_init_normal(g->wpe->weight, rng, 0.0f, GPT_INIT_STD);
    for (int i = 0; i < cfg->layers && rc == NB_OK; i++) {
        nb_transformer_block *b = g->blocks[i];
        nb_linear_layer *lin[4] = {b->attn->qkv, b->attn->proj, b->fc1, b->fc2};
        for (int j = 0; j < 4 && rc == NB_OK; j++) {
            rc = nb_init_normal(lin[j]->weight, rng, 0.0f, GPT_INIT_STD);
            if (rc == NB_OK) rc = nb_init_zeros(lin[j]->bias);
        }
    }
    float resid_std = (float)(GPT_INIT_STD / sqrt(2.0 * cfg->layers));
    for (int i = 0; i < cfg->layers && rc == NB_OK; i++) {
        rc = nb_init_normal(g->blocks[i]->attn->proj->weight, rng, 0.0f, resid_std);
        if (rc == NB_OK) rc = nb_init_normal(g->blocks[i]->fc2->weight, rng, 0.0f, resid_std);
    }
    return rc == NB_OK ? g : NULL;
}

nb_tensor *nb_gpt_forward(nb_gpt *g, nb_tensor *ids) {
    if (!g) return NULL;
    nb_ctx *ctx = nb_model_ctx(g->base.model);
    if (nb_error(ctx)) return NULL;
    if (!ids) return nb__error(ctx, NB_ERR_NULL, "gpt '%s': ids are NULL", g->base.name), NULL;
    if (ids->ndim != 2 || ids->shape[1] < 1 || ids->shape[1] > g->cfg.context) {
        char sb[NB_SHAPE_BUF];
        return nb__error(ctx, NB_ERR_SHAPE, "gpt '%s': ids must be [B,T] with 1 <= T <= context %lld, not %s",
                         g->base.name, (long long)g->cfg.context, nb__shape_str(ids, sb)), NULL;
    }
    int64_t T = ids->shape[1];
    /* constant leaf: the graph replays with it unchanged */
    nb_tensor *pos = nb_tensor_1d(ctx, T);
    if (!pos) return NULL;
    for (int64_t t = 0; t < T; t++) pos->data[t] = (float)t;
    nb_tensor *x = nb_add(ctx, nb_embedding_layer_forward(g->wte, ids), nb_embedding_layer_forward(g->wpe, pos));
    x = maybe_dropout(ctx, x, g->cfg.dropout);
    for (int i = 0; i < g->cfg.layers; i++) x = nb_transformer_block_forward(g->blocks[i], x);
    nb_tensor *logits = nb_linear(ctx, nb_layer_norm_layer_forward(g->ln_f, x), g->wte->weight, NULL);
    if (logits) g->base.output = logits;
    return logits;
}

nb_tensor *nb_gpt_loss(nb_ctx *ctx, nb_tensor *logits, nb_tensor *targets) {
    if (!ctx || nb_error(ctx)) return NULL;
    if (!logits || !targets) return nb__error(ctx, NB_ERR_NULL, "gpt_loss: logits or targets are NULL"), NULL;
    if (logits->ndim != 3 || targets->ndim != 2 || targets->shape[0] != logits->shape[0] ||
        targets->shape[1] != logits->shape[1]) {
        char sl[NB_SHAPE_BUF], st[NB_SHAPE_BUF];
        return nb__error(ctx, NB_ERR_SHAPE, "gpt_loss: logits must be [B,T,V] and targets [B,T], not %s and %s",
                         nb__shape_str(logits, sl), nb__shape_str(targets, st)), NULL;
    }
    int64_t N = logits->shape[0] * logits->shape[1];
    nb_tensor *flat = nb_reshape(ctx, logits, 2, (int64_t[]){N, logits->shape[2]});
    nb_tensor *labels = nb_reshape(ctx, targets, 1, (int64_t[]){N});
    return nb_cross_entropy(ctx, flat, labels, 0.0f);
}
