/* Tests of reshape, transpose, concat and slice: forward values against index
 * arithmetic, gradient checks (several shapes and axes, a tensor concatenated
 * with itself), and the error messages. */
#include "test_util.h"

#define ASSERT_ERR(ctx, code, text)                                                        \
    do {                                                                                   \
        assert_int_equal(nb_error(ctx), (code));                                           \
        if (!strstr(nb_error_message(ctx), (text)))                                        \
            fail_msg("message \"%s\" lacks \"%s\"", nb_error_message(ctx), (text));       \
        nb_clear_error(ctx);                                                               \
    } while (0)

/* Row-major multi-index of flat index f in shape (ndim dims). */
static void unravel(int64_t f, int ndim, const int64_t *shape, int64_t *idx) {
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = f % shape[d];
        f /= shape[d];
    }
}
static int64_t ravel(int ndim, const int64_t *shape, const int64_t *idx) {
    int64_t f = 0;
    for (int d = 0; d < ndim; d++) f = f * shape[d] + idx[d];
    return f;
}

static void assert_shape(const nb_tensor *t, int ndim, const int64_t *shape) {
    assert_int_equal(t->ndim, ndim);
    int64_t size = 1;
    for (int d = 0; d < ndim; d++) {
        assert_int_equal(t->shape[d], shape[d]);
        size *= shape[d];
    }
    assert_int_equal(t->size, size);
}

/* ---- reshape ---- */

static void reshape_case(int ndx, const int64_t *sx, int ndy, const int64_t *req,
                         const int64_t *expect, uint64_t seed) {
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nbt_param(ctx, &seed, -1.0f, 1.0f, ndx, sx);
    nb_tensor *y = nb_reshape(ctx, x, ndy, req);
    NBT_ASSERT_OK(ctx);
    assert_shape(y, ndy, expect);
    for (int64_t i = 0; i < x->size; i++) assert_true(y->data[i] == x->data[i]);
    /* Square afterwards so the gradient depends on which element went where. */
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, nb_mul(ctx, y, y), &seed), &x, 1, "reshape");
    nb_ctx_free(ctx);
}

static void test_reshape(void **state) {
    (void)state;
    reshape_case(3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){4, 6}, (int64_t[]){4, 6}, 1);
    reshape_case(3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){-1, 6}, (int64_t[]){4, 6}, 2);
    reshape_case(3, (int64_t[]){2, 3, 4}, 4, (int64_t[]){2, -1, 2, 1}, (int64_t[]){2, 6, 2, 1}, 3);
    reshape_case(1, (int64_t[]){6}, 2, (int64_t[]){3, 2}, (int64_t[]){3, 2}, 4);
    reshape_case(2, (int64_t[]){5, 7}, 1, (int64_t[]){-1}, (int64_t[]){35}, 5);
    reshape_case(2, (int64_t[]){1, 1}, 0, NULL, NULL, 6);
    reshape_case(0, NULL, 3, (int64_t[]){1, -1, 1}, (int64_t[]){1, 1, 1}, 7);

    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_3d(ctx, 2, 3, 4);
    assert_null(nb_reshape(ctx, x, 3, (int64_t[]){-1, 4, -1}));
    ASSERT_ERR(ctx, NB_ERR_ARG, "reshape: more than one -1 in [-1,4,-1]");
    assert_null(nb_reshape(ctx, x, 2, (int64_t[]){5, 5}));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "reshape: cannot reshape [2,3,4] (24 values) into [5,5]");
    assert_null(nb_reshape(ctx, x, 2, (int64_t[]){5, -1}));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "cannot reshape [2,3,4] (24 values) into [5,-1]");
    assert_null(nb_reshape(ctx, x, 2, (int64_t[]){0, -1}));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "into [0,-1]");
    assert_null(nb_reshape(ctx, x, 2, (int64_t[]){-2, -12}));
    ASSERT_ERR(ctx, NB_ERR_ARG, "reshape: negative size -2");
    assert_null(nb_reshape(ctx, x, 7, (int64_t[]){1, 1, 1, 1, 2, 3, 4}));
    ASSERT_ERR(ctx, NB_ERR_ARG, "reshape: rank 7 is out of range");
    /* Huge sizes whose product would overflow int64 must not wrap to a match. */
    assert_null(nb_reshape(ctx, x, 3, (int64_t[]){(int64_t)1 << 40, (int64_t)1 << 40, 24}));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "cannot reshape [2,3,4]");
    assert_null(nb_reshape(ctx, x, 2, NULL));
    ASSERT_ERR(ctx, NB_ERR_NULL, "reshape: shape is NULL");
    assert_null(nb_reshape(ctx, NULL, 1, (int64_t[]){24}));
    ASSERT_ERR(ctx, NB_ERR_NULL, "reshape: input 0 is NULL");
    nb_ctx_free(ctx);
}

/* ---- transpose ---- */

static void transpose_case(int nd, const int64_t *sx, int a0, int a1, uint64_t seed) {
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nbt_param(ctx, &seed, -1.0f, 1.0f, nd, sx);
    nb_tensor *y = nb_transpose(ctx, x, a0, a1);
    NBT_ASSERT_OK(ctx);
    int p0 = a0 < 0 ? a0 + nd : a0, p1 = a1 < 0 ? a1 + nd : a1;
    int64_t ys[NB_MAX_DIMS];
    for (int d = 0; d < nd; d++) ys[d] = sx[d];
    ys[p0] = sx[p1];
    ys[p1] = sx[p0];
    assert_shape(y, nd, ys);
    int64_t idx[NB_MAX_DIMS];
    for (int64_t f = 0; f < y->size; f++) {
        unravel(f, nd, ys, idx);
        int64_t t = idx[p0];
        idx[p0] = idx[p1];
        idx[p1] = t;
        if (y->data[f] != x->data[ravel(nd, sx, idx)])
            fail_msg("transpose(%d,%d): element %lld misplaced", a0, a1, (long long)f);
    }
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, nb_mul(ctx, y, y), &seed), &x, 1, "transpose");
    nb_ctx_free(ctx);
}

static void test_transpose(void **state) {
    (void)state;
    transpose_case(2, (int64_t[]){3, 5}, 0, 1, 11);
    transpose_case(2, (int64_t[]){1, 4}, 1, 0, 12);
    transpose_case(3, (int64_t[]){2, 3, 4}, 0, 2, 13);
    transpose_case(3, (int64_t[]){2, 3, 4}, 1, 2, 14);
    transpose_case(3, (int64_t[]){2, 3, 4}, -1, 0, 15);
    transpose_case(4, (int64_t[]){2, 3, 1, 4}, 1, 3, 16);
    transpose_case(4, (int64_t[]){2, 3, 2, 4}, 0, 2, 17);
    transpose_case(4, (int64_t[]){2, 3, 2, 4}, 2, 2, 18);
    transpose_case(6, (int64_t[]){2, 1, 2, 3, 1, 2}, 0, 5, 19);

    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_3d(ctx, 2, 3, 4);
    assert_null(nb_transpose(ctx, x, 0, 3));
    ASSERT_ERR(ctx, NB_ERR_ARG, "transpose: axis 3 is out of range for rank 3");
    assert_null(nb_transpose(ctx, x, -4, 1));
    ASSERT_ERR(ctx, NB_ERR_ARG, "transpose: axis -4 is out of range for rank 3");
    assert_null(nb_transpose(ctx, NULL, 0, 1));
    ASSERT_ERR(ctx, NB_ERR_NULL, "transpose: input 0 is NULL");
    nb_ctx_free(ctx);
}

/* ---- concat ---- */

/* Check out = concat(xs, axis) element by element: the output index along
 * the axis selects the input and the offset within it. */
static void check_concat_values(int n, nb_tensor *const *xs, int axis, const nb_tensor *y) {
    const int nd = y->ndim;
    int64_t idx[NB_MAX_DIMS];
    for (int64_t f = 0; f < y->size; f++) {
        unravel(f, nd, y->shape, idx);
        int i = 0;
        while (i < n && idx[axis] >= xs[i]->shape[axis]) idx[axis] -= xs[i++]->shape[axis];
        assert_true(i < n);
        if (y->data[f] != xs[i]->data[ravel(nd, xs[i]->shape, idx)])
            fail_msg("concat axis %d: element %lld misplaced", axis, (long long)f);
    }
}

static void concat_case(int n, int nd, const int64_t *const *shapes, int axis, uint64_t seed) {
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *xs[4];
    for (int i = 0; i < n; i++) xs[i] = nbt_param(ctx, &seed, -1.0f, 1.0f, nd, shapes[i]);
    nb_tensor *y = nb_concat(ctx, n, xs, axis);
    NBT_ASSERT_OK(ctx);
    int a = axis < 0 ? axis + nd : axis;
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += shapes[i][a];
    assert_int_equal(y->shape[a], total);
    assert_int_equal(y->nsrc, n);
    check_concat_values(n, xs, a, y);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, nb_mul(ctx, y, y), &seed), xs, n, "concat");
    nb_ctx_free(ctx);
}

static void test_concat(void **state) {
    (void)state;
    concat_case(2, 2, (const int64_t *const[]){(int64_t[]){2, 3}, (int64_t[]){4, 3}}, 0, 21);
    concat_case(3, 3,
                (const int64_t *const[]){(int64_t[]){2, 1, 3}, (int64_t[]){2, 2, 3},
                                         (int64_t[]){2, 4, 3}},
                1, 22);
    concat_case(2, 2, (const int64_t *const[]){(int64_t[]){2, 3}, (int64_t[]){2, 5}}, -1, 23);
    concat_case(3, 3,
                (const int64_t *const[]){(int64_t[]){2, 3, 1}, (int64_t[]){2, 3, 2},
                                         (int64_t[]){2, 3, 1}},
                -1, 24);
    concat_case(1, 2, (const int64_t *const[]){(int64_t[]){3, 2}}, 1, 25);
    concat_case(2, 1, (const int64_t *const[]){(int64_t[]){3}, (int64_t[]){4}}, 0, 26);

    /* The same tensor twice: its gradient collects both copies. */
    for (int axis = 0; axis <= 1; axis++) {
        uint64_t seed = 27 + (uint64_t)axis;
        nb_ctx *ctx = nb_ctx_new();
        nb_tensor *x = nbt_param(ctx, &seed, -1.0f, 1.0f, 2, (int64_t[]){3, 2});
        nb_tensor *pair[2] = {x, x};
        nb_tensor *y = nb_concat(ctx, 2, pair, axis);
        NBT_ASSERT_OK(ctx);
        check_concat_values(2, pair, axis, y);
        nbt_check_grads(ctx, nbt_weighted_sum(ctx, nb_mul(ctx, y, y), &seed), &x, 1,
                        "concat(x, x)");
        nb_ctx_free(ctx);
    }

    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *a = nb_tensor_2d(ctx, 2, 3), *b = nb_tensor_2d(ctx, 3, 4);
    nb_tensor *ab[2] = {a, b};
    assert_null(nb_concat(ctx, 2, ab, 0));
    ASSERT_ERR(ctx, NB_ERR_SHAPE,
               "concat: input 1 has shape [3,4] but input 0 has [2,3]; all dims must match "
               "except axis 0");
    nb_tensor *c = nb_tensor_3d(ctx, 2, 3, 1);
    nb_tensor *ac[2] = {a, c};
    assert_null(nb_concat(ctx, 2, ac, 1));
    ASSERT_ERR(ctx, NB_ERR_SHAPE, "input 1 has shape [2,3,1] but input 0 has [2,3]");
    assert_null(nb_concat(ctx, 2, (nb_tensor *const[]){a, a}, 2));
    ASSERT_ERR(ctx, NB_ERR_ARG, "concat: axis 2 is out of range for rank 2");
    assert_null(nb_concat(ctx, 2, (nb_tensor *const[]){a, a}, -3));
    ASSERT_ERR(ctx, NB_ERR_ARG, "concat: axis -3 is out of range for rank 2");
    assert_null(nb_concat(ctx, 0, ab, 0));
    ASSERT_ERR(ctx, NB_ERR_ARG, "concat: needs at least 1 input, got 0");
    assert_null(nb_concat(ctx, 2, NULL, 0));
    ASSERT_ERR(ctx, NB_ERR_NULL, "concat: input list is NULL");
    assert_null(nb_concat(ctx, 2, (nb_tensor *const[]){a, NULL}, 0));
    ASSERT_ERR(ctx, NB_ERR_NULL, "concat: input 1 is NULL");
    assert_null(nb_concat(ctx, 1, (nb_tensor *const[]){nb_scalar(ctx, 1.0f)}, 0));
    ASSERT_ERR(ctx, NB_ERR_ARG, "concat: axis 0 is out of range for rank 0");
    nb_ctx_free(ctx);
}

/* ---- slice ---- */

static void slice_case(int nd, const int64_t *sx, int axis, int64_t start, int64_t end,
                       uint64_t seed) {
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nbt_param(ctx, &seed, -1.0f, 1.0f, nd, sx);
    nb_tensor *y = nb_slice(ctx, x, axis, start, end);
    NBT_ASSERT_OK(ctx);
    int a = axis < 0 ? axis + nd : axis;
    int64_t s = start < 0 ? start + sx[a] : start, e = end < 0 ? end + sx[a] : end;
    int64_t ys[NB_MAX_DIMS];
    for (int d = 0; d < nd; d++) ys[d] = sx[d];
    ys[a] = e - s;
    assert_shape(y, nd, ys);
    int64_t idx[NB_MAX_DIMS];
    for (int64_t f = 0; f < y->size; f++) {
        unravel(f, nd, ys, idx);
        idx[a] += s;
        if (y->data[f] != x->data[ravel(nd, sx, idx)])
            fail_msg("slice axis %d [%lld,%lld): element %lld wrong", axis, (long long)start,
                     (long long)end, (long long)f);
    }
    if (y->size > 0)
        nbt_check_grads(ctx, nbt_weighted_sum(ctx, nb_mul(ctx, y, y), &seed), &x, 1, "slice");
    nb_ctx_free(ctx);
}

static void test_slice(void **state) {
    (void)state;
    slice_case(2, (int64_t[]){5, 4}, 0, 1, 4, 31);
    slice_case(2, (int64_t[]){5, 4}, 1, 0, 2, 32);
    slice_case(2, (int64_t[]){5, 4}, -1, 3, 4, 33);
    slice_case(3, (int64_t[]){2, 5, 3}, 1, 2, 5, 34);
    slice_case(3, (int64_t[]){2, 5, 3}, 0, 0, 2, 35);
    slice_case(4, (int64_t[]){2, 3, 4, 2}, 2, 1, 3, 36);
    slice_case(2, (int64_t[]){5, 4}, 0, -3, -1, 37);
    slice_case(1, (int64_t[]){6}, 0, -2, 6, 38);
    slice_case(2, (int64_t[]){5, 4}, 0, 2, 2, 39);

    /* Two slices of one tensor that overlap: gradients add where they do. */
    uint64_t seed = 40;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nbt_param(ctx, &seed, -1.0f, 1.0f, 2, (int64_t[]){4, 3});
    nb_tensor *y = nb_mul(ctx, nb_slice(ctx, x, 0, 0, 3), nb_slice(ctx, x, 0, 1, 4));
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), &x, 1, "overlapping slices");
    nb_ctx_free(ctx);

    ctx = nb_ctx_new();
    x = nb_tensor_2d(ctx, 5, 4);
    assert_null(nb_slice(ctx, x, 0, 3, 2));
    ASSERT_ERR(ctx, NB_ERR_ARG, "slice: range [3,2) is out of bounds for axis 0 of size 5");
    assert_null(nb_slice(ctx, x, 1, 0, 5));
    ASSERT_ERR(ctx, NB_ERR_ARG, "slice: range [0,5) is out of bounds for axis 1 of size 4 (shape [5,4])");
    assert_null(nb_slice(ctx, x, 0, -6, 2));
    ASSERT_ERR(ctx, NB_ERR_ARG, "slice: range [-6,2) is out of bounds");
    assert_null(nb_slice(ctx, x, 2, 0, 1));
    ASSERT_ERR(ctx, NB_ERR_ARG, "slice: axis 2 is out of range for rank 2");
    assert_null(nb_slice(ctx, NULL, 0, 0, 1));
    ASSERT_ERR(ctx, NB_ERR_NULL, "slice: input 0 is NULL");
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_reshape),
    cmocka_unit_test(test_transpose),
    cmocka_unit_test(test_concat),
    cmocka_unit_test(test_slice),
};
NB_TEST_MAIN(tests)
