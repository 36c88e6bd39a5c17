/* ops/loss.c — the losses, each a scalar mean: squared error, absolute error,
 * cross-entropy from logits with class-id labels (optionally label-smoothed,
 * fused with the softmax) and binary cross-entropy with logits. The arithmetic
 * is kernels/loss.c and kernels/softmax.c. */
#include <math.h>

#include "core/engine.h"
#include "kernels/loss.h"
#include "kernels/softmax.h"

/* farg[0]: 1/n, the mean's scale (NaN for no elements, as in PyTorch). */
static float mean_scale(int64_t n) { return n > 0 ? (float)(1.0 / (double)n) : NAN; }

/* ---- elementwise losses: pred/logits and target of exactly the same shape ---- */

static int mse_forward(nb_tensor *out) {
    nb_tensor *p = out->src[0], *t = out->src[1];
    out->data[0] = (float)(nb_k_sq_err_sum(p->data, t->data, p->size) * out->farg[0]);
    return NB_OK;
}
static void mse_backward(nb_tensor *out) {
    nb_tensor *p = out->src[0], *t = out->src[1];
    nb_k_sq_err_backward(p->data, t->data, p->size, out->grad[0] * out->farg[0], p->grad, t->grad);
}

static int l1_forward(nb_tensor *out) {
    nb_tensor *p = out->src[0], *t = out->src[1];
    out->data[0] = (float)(nb_k_abs_err_sum(p->data, t->data, p->size) * out->farg[0]);
    return NB_OK;
}
static void l1_backward(nb_tensor *out) {
    nb_tensor *p = out->src[0], *t = out->src[1];
    nb_k_abs_err_backward(p->data, t->data, p->size, out->grad[0] * out->farg[0], p->grad,
                          t->grad);
}

static int bce_forward(nb_tensor *out) {
    nb_tensor *z = out->src[0], *t = out->src[1];
    out->data[0] = (float)(nb_k_bce_logits_sum(z->data, t->data, z->size) * out->farg[0]);
    return NB_OK;
}
static void bce_backward(nb_tensor *out) {
    nb_tensor *z = out->src[0], *t = out->src[1];
    nb_k_bce_logits_backward(z->data, t->data, z->size, out->grad[0] * out->farg[0], z->grad,
                             t->grad);
}

static const nb_op_def op_mse = {"mse_loss", mse_forward, mse_backward, 0};
static const nb_op_def op_l1 = {"l1_loss", l1_forward, l1_backward, 0};
static const nb_op_def op_bce = {"bce_with_logits", bce_forward, bce_backward, 0};

static nb_tensor *elementwise_loss(nb_ctx *ctx, const nb_op_def *op, nb_tensor *a, nb_tensor *b) {
    nb_tensor *src[2] = {a, b};
    if (!nb__inputs_ok(ctx, op->name, 2, src)) return NULL;
    if (!nb__same_shape(a, b)) {
        char sa[NB_SHAPE_BUF], sb[NB_SHAPE_BUF];
        nb__error(ctx, NB_ERR_SHAPE, "%s: input and target shapes differ: %s vs %s", op->name,
                  nb__shape_str(a, sa), nb__shape_str(b, sb));
        return NULL;
    }
    nb_tensor *out = nb__op_new(ctx, op, 2, src, 0, NULL);
    if (!out) return NULL;
    out->farg[0] = mean_scale(a->size);
    return nb__op_run(out);
}

nb_tensor *nb_mse_loss(nb_ctx *ctx, nb_tensor *pred, nb_tensor *target) {
    return elementwise_loss(ctx, &op_mse, pred, target);
}
nb_tensor *nb_l1_loss(nb_ctx *ctx, nb_tensor *pred, nb_tensor *target) {
    return elementwise_loss(ctx, &op_l1, pred, target);
}
nb_tensor *nb_bce_with_logits(nb_ctx *ctx, nb_tensor *logits, nb_tensor *targets) {
    return elementwise_loss(ctx, &op_bce, logits, targets);
}

/* ---- cross-entropy: logits [N, C], labels [N] ----
 * farg[0] 1/N, farg[1] label smoothing; saved: each row's log-sum-exp. Labels
 * are data, so they are checked on every forward, replays included. */

static int cross_entropy_forward(nb_tensor *out) {
    nb_tensor *z = out->src[0], *lab = out->src[1];
    int64_t N = z->shape[0], C = z->shape[1];
    for (int64_t r = 0; r < N; r++) {
        float v = lab->data[r];
        /* the range test also rejects NaN and ±inf */
        if (!(v >= 0.0f && v < (float)C) || v != floorf(v))
            return nb__error(out->ctx, NB_ERR_ARG,
                             "cross_entropy: label %g in row %lld is not a class id in 0..%lld",
                             (double)v, (long long)r, (long long)(C - 1));
    }
    double total = nb_k_cross_entropy(z->data, lab->data, N, C, out->farg[1], (float *)out->saved);
    out->data[0] = (float)(total * out->farg[0]);
    return NB_OK;
}

static void cross_entropy_backward(nb_tensor *out) {
    nb_tensor *z = out->src[0], *lab = out->src[1];
    if (!z->grad) return;
    nb_k_cross_entropy_backward(z->data, lab->data, (const float *)out->saved, z->shape[0],
                                z->shape[1], out->farg[1], out->grad[0] * out->farg[0], z->grad);
}

static const nb_op_def op_cross_entropy = {"cross_entropy", cross_entropy_forward,
                                           cross_entropy_backward, 0};

nb_tensor *nb_cross_entropy(nb_ctx *ctx, nb_tensor *logits, nb_tensor *labels,
                            float label_smoothing) {
    nb_tensor *src[2] = {logits, labels};
    if (!nb__inputs_ok(ctx, "cross_entropy", 2, src)) return NULL;
    char sa[NB_SHAPE_BUF], sb[NB_SHAPE_BUF];
    if (logits->ndim != 2 || logits->shape[1] < 1 || labels->ndim != 1 ||
        labels->shape[0] != logits->shape[0]) {
        nb__error(ctx, NB_ERR_SHAPE,
                  "cross_entropy: needs logits [N,C] with C >= 1 and labels [N], got %s and %s",
                  nb__shape_str(logits, sa), nb__shape_str(labels, sb));
        return NULL;
    }
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f)) {
        nb__error(ctx, NB_ERR_ARG, "cross_entropy: label_smoothing %g is outside [0, 1]",
                  (double)label_smoothing);
        return NULL;
    }
    nb_tensor *out = nb__op_new(ctx, &op_cross_entropy, 2, src, 0, NULL);
    if (!out) return NULL;
    int64_t N = logits->shape[0];
    out->farg[0] = mean_scale(N);
    out->farg[1] = label_smoothing;
    out->saved = nb__alloc(ctx, (size_t)(N > 0 ? N : 1) * sizeof(float));
    if (!out->saved) return NULL;
    return nb__op_run(out);
}
