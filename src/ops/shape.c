/* ops/shape.c — reshape, transpose, concat and slice: shape rules, forward
 * copies and backward accumulating copies side by side. Every output is a
 * materialised contiguous tensor; the data movement is kernels/copy.c.
 * Slice bounds may be negative, counted from the end of the axis as in Python
 * (-1 is the last index), but are never clamped: out of range is an error. */
#include <stdio.h>
#include <string.h>

#include "core/engine.h"
#include "kernels/copy.h"

/* ---- reshape --------------------------------------------------------------- */

static int reshape_forward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (x->size) memcpy(out->data, x->data, (size_t)x->size * sizeof(float));
    return NB_OK;
}

static void reshape_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    if (nb__grad_overwrite(out, 0))
        nb_k_store_grad(x->grad, out->grad, x->size, 0);
    else
        nb_k_add_rows(1, x->size, x->grad, 0, out->grad, 0);
}

static const nb_op_def op_reshape = {"reshape", reshape_forward, reshape_backward, 1u};

/* "[2,-1,4]" for a requested shape, for messages. */
static const char *dims_str(int ndim, const int64_t *shape, char *buf) {
    size_t n = 0;
    buf[n++] = '[';
    for (int i = 0; i < ndim; i++)
        n += (size_t)snprintf(buf + n, NB_SHAPE_BUF - n, i ? ",%lld" : "%lld", (long long)shape[i]);
    snprintf(buf + n, NB_SHAPE_BUF - n, "]");
    return buf;
}

nb_tensor *nb_reshape(nb_ctx *ctx, nb_tensor *x, int ndim, const int64_t *shape) {
    if (!nb__inputs_ok(ctx, "reshape", 1, &x)) return NULL;
    if (ndim < 0 || ndim > NB_MAX_DIMS)
        return nb__error(ctx, NB_ERR_ARG, "reshape: rank %d is out of range 0..%d", ndim, NB_MAX_DIMS),
               NULL;
    if (ndim > 0 && !shape) return nb__error(ctx, NB_ERR_NULL, "reshape: shape is NULL"), NULL;
    char sx[NB_SHAPE_BUF], ss[NB_SHAPE_BUF];
    int64_t dims[NB_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0)
                return nb__error(ctx, NB_ERR_ARG, "reshape: more than one -1 in %s",
                                 dims_str(ndim, shape, ss)),
                       NULL;
            infer = i;
        } else if (shape[i] < 0) {
            return nb__error(ctx, NB_ERR_ARG, "reshape: negative size %lld in %s",
                             (long long)shape[i], dims_str(ndim, shape, ss)),
                   NULL;
        } else {
            /* a product beyond the input's size can never match it */
            if (shape[i] > 0 && known > x->size / shape[i]) known = x->size + 1;
            else known *= shape[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || x->size % known != 0)
            return nb__error(ctx, NB_ERR_SHAPE, "reshape: cannot reshape %s (%lld values) into %s",
                             nb__shape_str(x, sx), (long long)x->size, dims_str(ndim, shape, ss)),
                   NULL;
        dims[infer] = x->size / known;
    } else if (known != x->size) {
        return nb__error(ctx, NB_ERR_SHAPE, "reshape: cannot reshape %s (%lld values) into %s",
                         nb__shape_str(x, sx), (long long)x->size, dims_str(ndim, shape, ss)),
               NULL;
    }
    nb_tensor *out = nb__op_new(ctx, &op_reshape, 1, &x, ndim, dims);
    return out ? nb__op_run(out) : NULL;
}

/* ---- transpose ------------------------------------------------------------- */

/* x's strides in the output's index order (axes iarg[0], iarg[1] swapped). */
static void transpose_src_strides(const nb_tensor *out, int64_t *s) {
    const nb_tensor *x = out->src[0];
    for (int i = 0; i < x->ndim; i++) s[i] = x->strides[i];
    s[out->iarg[0]] = x->strides[out->iarg[1]];
    s[out->iarg[1]] = x->strides[out->iarg[0]];
}

static int transpose_forward(nb_tensor *out) {
    int64_t s[NB_MAX_DIMS];
    transpose_src_strides(out, s);
    nb_k_strided_copy(out->ndim, out->shape, out->data, out->strides, out->src[0]->data, s);
    return NB_OK;
}

static void transpose_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    int64_t s[NB_MAX_DIMS];
    transpose_src_strides(out, s);
    nb_k_strided_add(out->ndim, out->shape, x->grad, s, out->grad, out->strides);
}

static const nb_op_def op_transpose = {"transpose", transpose_forward, transpose_backward, 0};

nb_tensor *nb_transpose(nb_ctx *ctx, nb_tensor *x, int axis0, int axis1) {
    if (!nb__inputs_ok(ctx, "transpose", 1, &x)) return NULL;
    int a0 = nb__axis(ctx, "transpose", axis0, x->ndim);
    if (a0 < 0) return NULL;
    int a1 = nb__axis(ctx, "transpose", axis1, x->ndim);
    if (a1 < 0) return NULL;
    int64_t shape[NB_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[a0] = x->shape[a1];
    shape[a1] = x->shape[a0];
    nb_tensor *out = nb__op_new(ctx, &op_transpose, 1, &x, x->ndim, shape);
    if (!out) return NULL;
    out->iarg[0] = a0;
    out->iarg[1] = a1;
    return nb__op_run(out);
}

/* ---- concat ------------------------------------------------------------------
 * Viewed as [outer, dim, inner] around the axis, input i is a block of rows of
 * d_i·inner floats placed at column offset (Σ_{j<i} d_j)·inner of each output
 * row of D·inner floats. */

static void axis_split(const nb_tensor *t, int axis, int64_t *outer, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= t->shape[i];
    for (int i = axis + 1; i < t->ndim; i++) *inner *= t->shape[i];
}

static int concat_forward(nb_tensor *out) {
    int axis = (int)out->iarg[0];
    int64_t outer, inner, off = 0;
    axis_split(out, axis, &outer, &inner);
    const int64_t row = out->shape[axis] * inner;
    for (int i = 0; i < out->nsrc; i++) {
        const nb_tensor *x = out->src[i];
        const int64_t len = x->shape[axis] * inner;
        nb_k_copy_rows(outer, len, out->data + off, row, x->data, len);
        off += len;
    }
    return NB_OK;
}

static void concat_backward(nb_tensor *out) {
    int axis = (int)out->iarg[0];
    int64_t outer, inner, off = 0;
    axis_split(out, axis, &outer, &inner);
    const int64_t row = out->shape[axis] * inner;
    for (int i = 0; i < out->nsrc; i++) {
        nb_tensor *x = out->src[i];
        const int64_t len = x->shape[axis] * inner;
        if (x->grad) nb_k_add_rows(outer, len, x->grad, len, out->grad + off, row);
        off += len;
    }
}

static const nb_op_def op_concat = {"concat", concat_forward, concat_backward, 0};

nb_tensor *nb_concat(nb_ctx *ctx, int n, nb_tensor *const *xs, int axis) {
    if (!ctx || nb_error(ctx)) return NULL;
    if (n < 1) return nb__error(ctx, NB_ERR_ARG, "concat: needs at least 1 input, got %d", n), NULL;
    if (!xs) return nb__error(ctx, NB_ERR_NULL, "concat: input list is NULL"), NULL;
    if (!nb__inputs_ok(ctx, "concat", n, xs)) return NULL;
    const nb_tensor *x0 = xs[0];
    int a = nb__axis(ctx, "concat", axis, x0->ndim);
    if (a < 0) return NULL;
    int64_t shape[NB_MAX_DIMS];
    for (int d = 0; d < x0->ndim; d++) shape[d] = x0->shape[d];
    for (int i = 1; i < n; i++) {
        const nb_tensor *x = xs[i];
        bool ok = x->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++)
            if (d != a && x->shape[d] != x0->shape[d]) ok = false;
        if (!ok) {
            char s0[NB_SHAPE_BUF], si[NB_SHAPE_BUF];
            return nb__error(ctx, NB_ERR_SHAPE,
                             "concat: input %d has shape %s but input 0 has %s; all dims must "
                             "match except axis %d",
                             i, nb__shape_str(x, si), nb__shape_str(x0, s0), a),
                   NULL;
        }
        shape[a] += x->shape[a];
    }
    nb_tensor *out = nb__op_new(ctx, &op_concat, n, xs, x0->ndim, shape);
    if (!out) return NULL;
    out->iarg[0] = a;
    return nb__op_run(out);
}

/* ---- slice ------------------------------------------------------------------- */

static int slice_forward(nb_tensor *out) {
    const nb_tensor *x = out->src[0];
    int axis = (int)out->iarg[0];
    int64_t outer, inner;
    axis_split(x, axis, &outer, &inner);
    const int64_t len = out->shape[axis] * inner;
    nb_k_copy_rows(outer, len, out->data, len, x->data + out->iarg[1] * inner,
                   x->shape[axis] * inner);
    return NB_OK;
}

static void slice_backward(nb_tensor *out) {
    nb_tensor *x = out->src[0];
    if (!x->grad) return;
    int axis = (int)out->iarg[0];
    int64_t outer, inner;
    axis_split(x, axis, &outer, &inner);
    const int64_t len = out->shape[axis] * inner;
    nb_k_add_rows(outer, len, x->grad + out->iarg[1] * inner, x->shape[axis] * inner, out->grad,
                  len);
}

static const nb_op_def op_slice = {"slice", slice_forward, slice_backward, 0};

nb_tensor *nb_slice(nb_ctx *ctx, nb_tensor *x, int axis, int64_t start, int64_t end) {
    if (!nb__inputs_ok(ctx, "slice", 1, &x)) return NULL;
    int a = nb__axis(ctx, "slice", axis, x->ndim);
    if (a < 0) return NULL;
    const int64_t dim = x->shape[a];
    int64_t s = start < 0 ? start + dim : start, e = end < 0 ? end + dim : end;
    if (s < 0 || e < s || e > dim) {
        char sx[NB_SHAPE_BUF];
        return nb__error(ctx, NB_ERR_ARG,
                         "slice: range [%lld,%lld) is out of bounds for axis %d of size %lld "
                         "(shape %s)",
                         (long long)start, (long long)end, a, (long long)dim,
                         nb__shape_str(x, sx)),
               NULL;
    }
    int64_t shape[NB_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[a] = e - s;
    nb_tensor *out = nb__op_new(ctx, &op_slice, 1, &x, x->ndim, shape);
    if (!out) return NULL;
    out->iarg[0] = a;
    out->iarg[1] = s;
    return nb__op_run(out);
}
