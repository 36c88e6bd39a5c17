/* ops/attention.c — scaled dot-product attention (flash-style: per-row
 * log-sum-exp saved, scores recomputed in backward) and the head
 * split/merge permutations of multi-head attention, including the fused
 * split of a QKV projection, and attention read straight from a QKV
 * projection's rows; the arithmetic is kernels/attention.c. */
#include <math.h>

#include "core/engine.h"
#include "kernels/attention.h"
#include "nabla/seq.h"

/* ---- attention ---------------------------------------------------------------- */

typedef struct attn_state {
    float *lse;     /* [B·H·Tq], of the latest forward */
    float *scratch; /* nscratch per-thread blocks */
    int nscratch;
} attn_state;

/* iarg[0]: causal; farg[0]: 1/√Dh. */
static int attention_forward(nb_tensor *out) {
    const attn_state *st = out->saved;
    const nb_tensor *q = out->src[0], *k = out->src[1], *v = out->src[2];
    nb_k_attention_forward(q->shape[0] * q->shape[1], q->shape[2], k->shape[2], q->shape[3],
                           (int)out->iarg[0], out->farg[0], q->data, k->data, v->data, out->data,
                           st->lse, st->scratch, st->nscratch);
    return NB_OK;
}

static void attention_backward(nb_tensor *out) {
    const attn_state *st = out->saved;
    nb_tensor *q = out->src[0], *k = out->src[1], *v = out->src[2];
    nb_k_attention_backward(q->shape[0] * q->shape[1], q->shape[2], k->shape[2], q->shape[3],
                            (int)out->iarg[0], out->farg[0], q->data, k->data, v->data, out->data,
                            st->lse, out->grad, q->grad, k->grad, v->grad,
                            (unsigned)out->grad_fresh & 7u, st->scratch, st->nscratch);
}

static const nb_op_def op_attention = {"attention", attention_forward, attention_backward, 7u};

nb_tensor *nb_attention(nb_ctx *ctx, nb_tensor *q, nb_tensor *k, nb_tensor *v, int causal) {
    nb_tensor *src[3] = {q, k, v};
    if (!nb__inputs_ok(ctx, "attention", 3, src)) return NULL;
    char sq[NB_SHAPE_BUF], sk[NB_SHAPE_BUF], sv[NB_SHAPE_BUF];
    nb__shape_str(q, sq);
    nb__shape_str(k, sk);
    nb__shape_str(v, sv);
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4) {
        nb__error(ctx, NB_ERR_SHAPE, "attention: q, k, v must be rank 4 [B,H,T,Dh], got q %s, k %s, v %s",
                  sq, sk, sv);
        return NULL;
    }
    if (!nb__same_shape(k, v) || q->shape[0] != k->shape[0] || q->shape[1] != k->shape[1] ||
        q->shape[3] != k->shape[3]) {
        nb__error(ctx, NB_ERR_SHAPE,
                  "attention: q [B,H,Tq,Dh] and k, v [B,H,Tk,Dh] disagree: q %s, k %s, v %s", sq, sk, sv);
        return NULL;
    }
    if (k->shape[2] < 1 || q->shape[3] < 1) {
        nb__error(ctx, NB_ERR_SHAPE, "attention: needs at least one key and Dh >= 1: q %s, k %s", sq, sk);
        return NULL;
    }
    if (causal && q->shape[2] != k->shape[2]) {
        nb__error(ctx, NB_ERR_SHAPE, "attention: causal mask needs as many queries as keys: q %s, k %s",
                  sq, sk);
        return NULL;
    }
    nb_tensor *out = nb__op_new(ctx, &op_attention, 3, src, 4, q->shape);
    if (!out) return NULL;
    out->iarg[0] = causal != 0;
    out->farg[0] = (float)(1.0 / sqrt((double)q->shape[3]));
    attn_state *st = nb__alloc(ctx, sizeof *st);
    if (!st) return NULL;
    st->nscratch = nb_get_threads();
    st->lse = nb__alloc(ctx, (size_t)(q->size / q->shape[3] + 1) * sizeof(float));
    st->scratch = nb__alloc(ctx, (size_t)st->nscratch * nb_k_attention_scratch(q->shape[3]) * sizeof(float));
    if (!st->lse || !st->scratch) return NULL;
    out->saved = st;
    return nb__op_run(out);
}

/* ---- attention over the rows of a fused QKV projection ------------------------------
 * qkv [B,T,3·C] -> [B,T,C]: the same values and gradients, bitwise, as
 * merge_heads(attention(qkv_split(qkv))), with the heads read in place and
 * the output written in merged layout, so neither the three split tensors
 * nor the head-layout output and their gradients exist: 8 floats per row of
 * C less memory (a slice's heads are copied only into per-thread scratch).
 * iarg[0]: causal, iarg[1]: heads; farg[0]: 1/√Dh. */

static int attention_rows_forward(nb_tensor *out) {
    const attn_state *st = out->saved;
    const nb_tensor *x = out->src[0];
    const int64_t heads = out->iarg[1];
    nb_k_attention_rows_forward(x->shape[0], heads, x->shape[1], out->shape[2] / heads,
                                (int)out->iarg[0], out->farg[0], x->data, out->data, st->lse,
                                st->scratch, st->nscratch);
    return NB_OK;
}

static void attention_rows_backward(nb_tensor *out) {
    const attn_state *st = out->saved;
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    const int64_t heads = out->iarg[1];
    nb_k_attention_rows_backward(x->shape[0], heads, x->shape[1], out->shape[2] / heads,
                                 (int)out->iarg[0], out->farg[0], x->data, out->data, st->lse,
                                 out->grad, x->grad, nb__grad_overwrite(out, 0), st->scratch,
                                 st->nscratch);
}

static const nb_op_def op_attention_qkv = {"attention_qkv", attention_rows_forward,
                                           attention_rows_backward, 1u};

static int check_rows(nb_ctx *ctx, const char *opname, const nb_tensor *x, int heads, int parts);

nb_tensor *nb_attention_qkv(nb_ctx *ctx, nb_tensor *qkv, int heads, int causal) {
    if (!nb__inputs_ok(ctx, "attention_qkv", 1, &qkv)) return NULL;
    if (check_rows(ctx, "attention_qkv", qkv, heads, 3) != NB_OK) return NULL;
    const int64_t c = qkv->shape[2] / 3, shape[3] = {qkv->shape[0], qkv->shape[1], c};
    if (qkv->shape[1] < 1) {
        char sx[NB_SHAPE_BUF];
        nb__error(ctx, NB_ERR_SHAPE, "attention_qkv: needs at least one position, got qkv %s",
                  nb__shape_str(qkv, sx));
        return NULL;
    }
    nb_tensor *out = nb__op_new(ctx, &op_attention_qkv, 1, &qkv, 3, shape);
    if (!out) return NULL;
    out->iarg[0] = causal != 0;
    out->iarg[1] = heads;
    out->farg[0] = (float)(1.0 / sqrt((double)(c / heads)));
    attn_state *st = nb__alloc(ctx, sizeof *st);
    if (!st) return NULL;
    st->nscratch = nb_get_threads();
    st->lse = nb__alloc(ctx, (size_t)(qkv->shape[0] * heads * qkv->shape[1] + 1) * sizeof(float));
    st->scratch = nb__alloc(ctx, (size_t)st->nscratch * nb_k_attention_rows_scratch(qkv->shape[1], c / heads) *
                                     sizeof(float));
    if (!st->lse || !st->scratch) return NULL;
    out->saved = st;
    return nb__op_run(out);
}

/* ---- head permutations -----------------------------------------------------------
 * One op for split and one for merge. iarg: [0] heads, [1] row width ld of
 * the [B,T,ld] side, [2] column offset into it (a third of a QKV row). */

static int split_forward(nb_tensor *out) {
    const nb_tensor *x = out->src[0];
    nb_k_heads_split(out->shape[0], out->shape[2], out->shape[1], out->shape[3], x->data,
                     out->iarg[1], out->iarg[2], out->data, 0);
    return NB_OK;
}

static void split_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (x->grad) /* split_heads covers all of x: overwrite when allowed */
        nb_k_heads_merge(out->shape[0], out->shape[2], out->shape[1], out->shape[3], out->grad,
                         x->grad, out->iarg[1], out->iarg[2], !nb__grad_overwrite(out, 0));
}

static int merge_forward(nb_tensor *out) {
    const nb_tensor *x = out->src[0];
    nb_k_heads_merge(x->shape[0], x->shape[2], x->shape[1], x->shape[3], x->data, out->data,
                     out->iarg[1], 0, 0);
    return NB_OK;
}

static void merge_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (x->grad)
        nb_k_heads_split(x->shape[0], x->shape[2], x->shape[1], x->shape[3], out->grad,
                         out->iarg[1], 0, x->grad, !nb__grad_overwrite(out, 0));
}

static const nb_op_def op_split_heads = {"split_heads", split_forward, split_backward, 1u};
static const nb_op_def op_qkv_split = {"qkv_split", split_forward, split_backward, 0};
static const nb_op_def op_merge_heads = {"merge_heads", merge_forward, merge_backward, 1u};

/* [B,T,ld] -> [B,H,T,width/H] taking columns off .. off + width. */
static nb_tensor *split_new(nb_ctx *ctx, const nb_op_def *op, nb_tensor *x, int64_t heads,
                            int64_t width, int64_t off) {
    const int64_t shape[4] = {x->shape[0], heads, x->shape[1], width / heads};
    nb_tensor *out = nb__op_new(ctx, op, 1, &x, 4, shape);
    if (!out) return NULL;
    out->iarg[0] = heads;
    out->iarg[1] = x->shape[2];
    out->iarg[2] = off;
    return nb__op_run(out);
}

/* x must be [B,T,W] with W a positive multiple of parts·heads. */
static int check_rows(nb_ctx *ctx, const char *opname, const nb_tensor *x, int heads, int parts) {
    char sx[NB_SHAPE_BUF];
    if (x->ndim != 3)
        return nb__error(ctx, NB_ERR_SHAPE, "%s: x must be rank 3 [B,T,%sC], got %s", opname,
                         parts == 3 ? "3·" : "", nb__shape_str(x, sx));
    if (heads < 1)
        return nb__error(ctx, NB_ERR_ARG, "%s: heads must be >= 1, got %d", opname, heads);
    if (x->shape[2] < 1 || x->shape[2] % ((int64_t)parts * heads) != 0)
        return nb__error(ctx, NB_ERR_SHAPE, "%s: width %lld of x %s is not a positive multiple of %s%d heads",
                         opname, (long long)x->shape[2], nb__shape_str(x, sx),
                         parts == 3 ? "3 × " : "", heads);
    return NB_OK;
}

nb_tensor *nb_split_heads(nb_ctx *ctx, nb_tensor *x, int heads) {
    if (!nb__inputs_ok(ctx, "split_heads", 1, &x)) return NULL;
    if (check_rows(ctx, "split_heads", x, heads, 1) != NB_OK) return NULL;
    return split_new(ctx, &op_split_heads, x, heads, x->shape[2], 0);
}

nb_tensor *nb_merge_heads(nb_ctx *ctx, nb_tensor *x) {
    if (!nb__inputs_ok(ctx, "merge_heads", 1, &x)) return NULL;
    if (x->ndim != 4) {
        char sx[NB_SHAPE_BUF];
        nb__error(ctx, NB_ERR_SHAPE, "merge_heads: x must be rank 4 [B,H,T,Dh], got %s",
                  nb__shape_str(x, sx));
        return NULL;
    }
    const int64_t shape[3] = {x->shape[0], x->shape[2], x->shape[1] * x->shape[3]};
    nb_tensor *out = nb__op_new(ctx, &op_merge_heads, 1, &x, 3, shape);
    if (!out) return NULL;
    out->iarg[0] = x->shape[1];
    out->iarg[1] = shape[2];
    return nb__op_run(out);
}

int nb_qkv_split(nb_ctx *ctx, nb_tensor *qkv, int heads, nb_tensor **q, nb_tensor **k,
                 nb_tensor **v) {
    if (q) *q = NULL;
    if (k) *k = NULL;
    if (v) *v = NULL;
    if (!ctx) return NB_ERR_NULL;
    if (ctx->error) return ctx->error;
    if (!q || !k || !v) return nb__error(ctx, NB_ERR_NULL, "qkv_split: an output pointer is NULL");
    if (!nb__inputs_ok(ctx, "qkv_split", 1, &qkv)) return ctx->error;
    if (check_rows(ctx, "qkv_split", qkv, heads, 3) != NB_OK) return ctx->error;
    const int64_t c = qkv->shape[2] / 3;
    nb_tensor *parts[3];
    for (int p = 0; p < 3; p++) {
        parts[p] = split_new(ctx, &op_qkv_split, qkv, heads, c, p * c);
        if (!parts[p]) return ctx->error ? ctx->error : NB_ERR_ALLOC;
    }
    *q = parts[0];
    *k = parts[1];
    *v = parts[2];
    return NB_OK;
}
