/* core/tensor.c — creating tensors (leaves and op outputs), shapes and
 * broadcasting rules, and moving data in and out. */
#include <stdio.h>
#include <string.h>

#include "core/engine.h"

void nb__set_contiguous(nb_tensor *t, int ndim, const int64_t *shape) {
    t->ndim = ndim;
    int64_t size = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->strides[i] = size;
        size *= shape[i];
    }
    for (int i = ndim; i < NB_MAX_DIMS; i++) {
        t->shape[i] = 1;
        t->strides[i] = 0;
    }
    t->size = size;
}

const char *nb__shape_str(const nb_tensor *t, char *buf) {
    return nb_shape_string(t, buf, NB_SHAPE_BUF);
}

char *nb_shape_string(const nb_tensor *t, char *buf, size_t len) {
    if (!buf || len == 0) return buf;
    if (!t) {
        snprintf(buf, len, "(null)");
        return buf;
    }
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
    return buf;
}

/* Validate a shape and make a tensor header plus zeroed data. */
static nb_tensor *tensor_alloc(nb_ctx *ctx, const char *what, int ndim, const int64_t *shape) {
    if (!ctx || ctx->error) return NULL;
    if (ndim < 0 || ndim > NB_MAX_DIMS)
        return nb__error(ctx, NB_ERR_ARG, "%s: rank %d is outside 0..%d", what, ndim, NB_MAX_DIMS),
               NULL;
    if (ndim > 0 && !shape)
        return nb__error(ctx, NB_ERR_NULL, "%s: shape is NULL", what), NULL;
    int64_t size = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return nb__error(ctx, NB_ERR_ARG, "%s: dimension %d is negative (%lld)", what, i,
                             (long long)shape[i]),
                   NULL;
        if (shape[i] > 0 && size > INT64_MAX / 4 / shape[i])
            return nb__error(ctx, NB_ERR_ALLOC, "%s: tensor too large", what), NULL;
        size *= shape[i];
    }
    nb_tensor *t = nb__alloc(ctx, sizeof *t);
    if (!t) return NULL;
    nb__set_contiguous(t, ndim, shape);
    t->ctx = ctx;
    t->data = nb__alloc(ctx, (size_t)size * sizeof(float));
    if (!t->data) return NULL;
    t->id = ctx->ntensors++;
    if (ctx->last) ctx->last->next = t;
    else ctx->first = t;
    ctx->last = t;
    return t;
}

nb_tensor *nb_tensor_new(nb_ctx *ctx, int ndim, const int64_t *shape) {
    return tensor_alloc(ctx, "tensor_new", ndim, shape);
}
nb_tensor *nb_tensor_1d(nb_ctx *ctx, int64_t n0) {
    return nb_tensor_new(ctx, 1, (int64_t[]){n0});
}
nb_tensor *nb_tensor_2d(nb_ctx *ctx, int64_t n0, int64_t n1) {
    return nb_tensor_new(ctx, 2, (int64_t[]){n0, n1});
}
nb_tensor *nb_tensor_3d(nb_ctx *ctx, int64_t n0, int64_t n1, int64_t n2) {
    return nb_tensor_new(ctx, 3, (int64_t[]){n0, n1, n2});
}
nb_tensor *nb_tensor_4d(nb_ctx *ctx, int64_t n0, int64_t n1, int64_t n2, int64_t n3) {
    return nb_tensor_new(ctx, 4, (int64_t[]){n0, n1, n2, n3});
}
nb_tensor *nb_scalar(nb_ctx *ctx, float value) {
    nb_tensor *t = nb_tensor_new(ctx, 0, NULL);
    if (t) t->data[0] = value;
    return t;
}

nb_tensor *nb_param_new(nb_ctx *ctx, const char *name, int ndim, const int64_t *shape) {
    nb_tensor *t = tensor_alloc(ctx, "param_new", ndim, shape);
    if (!t) return NULL;
    t->flags |= NB_PARAM;
    if (nb_tensor_set_requires_grad(t) != NB_OK) return NULL;
    if (name && nb_tensor_set_name(t, name) != NB_OK) return NULL;
    return t;
}

int nb_tensor_set_requires_grad(nb_tensor *t) {
    if (!t) return NB_ERR_NULL;
    if (t->ctx->error) return t->ctx->error;
    if (t->op)
        return nb__error(t->ctx, NB_ERR_STATE,
                         "set_requires_grad: only leaves can be made to require a gradient "
                         "(this tensor is the output of %s)", t->op->name);
    if (!t->grad) {
        t->grad = nb__alloc(t->ctx, (size_t)t->size * sizeof(float));
        if (!t->grad) return t->ctx->error;
    }
    t->flags |= NB_REQUIRES_GRAD;
    return NB_OK;
}

int nb_tensor_set_name(nb_tensor *t, const char *name) {
    if (!t || !name) return NB_ERR_NULL;
    char *copy = nb__strdup(t->ctx, name);
    if (!copy) return t->ctx->error;
    t->name = copy;
    return NB_OK;
}

int nb_tensor_copy_in(nb_tensor *t, const float *src, int64_t n) {
    if (!t || (!src && n > 0)) return NB_ERR_NULL;
    char buf[NB_SHAPE_BUF];
    if (n != t->size)
        return nb__error(t->ctx, NB_ERR_SHAPE, "copy_in: %lld values given for a tensor of shape %s (%lld values)",
                         (long long)n, nb__shape_str(t, buf), (long long)t->size);
    if (n) memcpy(t->data, src, (size_t)n * sizeof(float));
    return NB_OK;
}

int nb_tensor_copy_out(const nb_tensor *t, float *dst, int64_t n) {
    if (!t || (!dst && n > 0)) return NB_ERR_NULL;
    char buf[NB_SHAPE_BUF];
    if (n != t->size)
        return nb__error(t->ctx, NB_ERR_SHAPE, "copy_out: room for %lld values given for a tensor of shape %s (%lld values)",
                         (long long)n, nb__shape_str(t, buf), (long long)t->size);
    if (n) memcpy(dst, t->data, (size_t)n * sizeof(float));
    return NB_OK;
}

void nb_tensor_fill(nb_tensor *t, float value) {
    if (!t) return;
    for (int64_t i = 0; i < t->size; i++) t->data[i] = value;
}

bool nb__inputs_ok(nb_ctx *ctx, const char *opname, int n, nb_tensor *const *src) {
    if (!ctx || ctx->error) return false;
    for (int i = 0; i < n; i++) {
        if (!src || !src[i]) {
            nb__error(ctx, NB_ERR_NULL, "%s: input %d is NULL", opname, i);
            return false;
        }
        if (src[i]->ctx != ctx) {
            nb__error(ctx, NB_ERR_ARG, "%s: input %d belongs to another context", opname, i);
            return false;
        }
    }
    return true;
}

nb_tensor *nb__op_new(nb_ctx *ctx, const nb_op_def *op, int nsrc, nb_tensor *const *src,
                      int ndim, const int64_t *shape) {
    if (!nb__inputs_ok(ctx, op->name, nsrc, src)) return NULL;
    nb_tensor *out = tensor_alloc(ctx, op->name, ndim, shape);
    if (!out) return NULL;
    out->op = op;
    out->nsrc = nsrc;
    out->src = nb__alloc(ctx, (size_t)(nsrc > 0 ? nsrc : 1) * sizeof *out->src);
    if (!out->src) return NULL;
    bool grad = false;
    for (int i = 0; i < nsrc; i++) {
        out->src[i] = src[i];
        grad = grad || (src[i]->flags & NB_REQUIRES_GRAD);
    }
    if (grad && ctx->grad_enabled) out->flags |= NB_REQUIRES_GRAD;
    return out;
}

nb_tensor *nb__op_run(nb_tensor *out) {
    if (!out || out->ctx->error) return NULL;
    return out->op->forward(out) == NB_OK ? out : NULL;
}

int nb__axis(nb_ctx *ctx, const char *opname, int axis, int ndim) {
    int a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim) {
        nb__error(ctx, NB_ERR_ARG, "%s: axis %d is out of range for rank %d", opname, axis, ndim);
        return -1;
    }
    return a;
}

bool nb__same_shape(const nb_tensor *a, const nb_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

int nb__broadcast_shape(nb_ctx *ctx, const char *opname, const nb_tensor *a,
                        const nb_tensor *b, int64_t *shape, int *ndim) {
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        /* align from the right, as NumPy does */
        int ia = a->ndim - n + i, ib = b->ndim - n + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[NB_SHAPE_BUF], sb[NB_SHAPE_BUF];
            return nb__error(ctx, NB_ERR_SHAPE, "%s: shapes %s and %s cannot be broadcast",
                             opname, nb__shape_str(a, sa), nb__shape_str(b, sb));
        }
        shape[i] = da == 1 ? db : da;
    }
    *ndim = n;
    return NB_OK;
}
