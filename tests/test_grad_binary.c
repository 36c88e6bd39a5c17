/* add, sub, mul, div: forward values against a scalar broadcasting reference
 * and gradient checks, for equal shapes, NumPy broadcasting (trailing vector,
 * outer product, middle dims, rank-0 scalars) and reused inputs. */
#include "test_util.h"

typedef nb_tensor *(*binop_fn)(nb_ctx *, nb_tensor *, nb_tensor *);
enum { ADD, SUB, MUL, DIV };

struct bcase {
    int na, nb;
    int64_t a[4], b[4];
};
static const struct bcase cases[] = {
    {2, 2, {3, 4}, {3, 4}},       /* same shape */
    {2, 1, {3, 4}, {4}},          /* trailing vector */
    {2, 2, {3, 1}, {1, 4}},       /* outer: both broadcast */
    {3, 2, {2, 3, 4}, {3, 1}},    /* middle dims */
    {0, 2, {0}, {2, 3}},          /* rank-0 scalar on the left */
    {2, 0, {2, 3}, {0}},          /* ... and on the right */
    {1, 3, {4}, {2, 1, 4}},       /* lower rank first, broadcast up */
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static double apply_ref(int op, double a, double b) {
    switch (op) {
    case ADD: return a + b;
    case SUB: return a - b;
    case MUL: return a * b;
    default: return a / b;
    }
}

/* Element of t at output index idx (out rank nd), NumPy broadcasting rules. */
static float bcast_at(const nb_tensor *t, int nd, const int64_t *idx) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        int od = nd - t->ndim + d;
        off += (t->shape[d] == 1 ? 0 : idx[od]) * t->strides[d];
    }
    return t->data[off];
}

static void check_forward(int op, const nb_tensor *a, const nb_tensor *b, const nb_tensor *y) {
    int64_t idx[NB_MAX_DIMS] = {0};
    for (int64_t i = 0; i < y->size; i++) {
        int64_t r = i;
        for (int d = y->ndim - 1; d >= 0; d--) {
            idx[d] = r % y->shape[d];
            r /= y->shape[d];
        }
        double want = apply_ref(op, bcast_at(a, y->ndim, idx), bcast_at(b, y->ndim, idx));
        assert_float_equal(y->data[i], want, 1e-6 * (1 + fabs(want)));
    }
}

static void check(int op, binop_fn fn, const char *name) {
    uint64_t seed = 1000 + (uint64_t)op;
    /* div's denominator stays in [0.5, 2] (sign flipped at random), far from 0 */
    for (int c = 0; c < NCASES; c++) {
        nb_ctx *ctx = nb_ctx_new();
        nb_tensor *a = nbt_param(ctx, &seed, -2.0f, 2.0f, cases[c].na, cases[c].a);
        nb_tensor *b = nbt_param(ctx, &seed, 0.5f, 2.0f, cases[c].nb, cases[c].b);
        for (int64_t i = 0; i < b->size; i++)
            if (nbt_rand_u32(&seed) & 1) b->data[i] = -b->data[i];
        nb_tensor *y = fn(ctx, a, b);
        NBT_ASSERT_OK(ctx);
        check_forward(op, a, b, y);
        nb_tensor *wrt[2] = {a, b};
        char what[64];
        snprintf(what, sizeof what, "%s case %d", name, c);
        nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), wrt, 2, what);
        nb_ctx_free(ctx);
    }
    /* reused inputs: x op x, and x op (broadcast view of x's row sums) */
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nbt_param(ctx, &seed, 0.5f, 2.0f, 2, (int64_t[]){3, 4});
    nb_tensor *y = fn(ctx, x, x);
    NBT_ASSERT_OK(ctx);
    check_forward(op, x, x, y);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), &x, 1, name);
    nb_tensor *z = fn(ctx, fn(ctx, x, nb_sum_axis(ctx, x, 1, 1)), x);
    nbt_check_grads(ctx, nbt_weighted_sum(ctx, z, &seed), &x, 1, name);
    nb_ctx_free(ctx);
}

static void test_add(void **state) { (void)state; check(ADD, nb_add, "add"); }
static void test_sub(void **state) { (void)state; check(SUB, nb_sub, "sub"); }
static void test_mul(void **state) { (void)state; check(MUL, nb_mul, "mul"); }
static void test_div(void **state) { (void)state; check(DIV, nb_div, "div"); }

static void test_binary_errors(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *a = nb_tensor_2d(ctx, 3, 4), *b = nb_tensor_1d(ctx, 3);
    assert_null(nb_mul(ctx, a, b));
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    assert_non_null(strstr(nb_error_message(ctx), "mul"));
    assert_non_null(strstr(nb_error_message(ctx), "[3,4]"));
    assert_non_null(strstr(nb_error_message(ctx), "[3]"));
    nb_clear_error(ctx);
    assert_null(nb_add(ctx, a, NULL));
    assert_int_equal(nb_error(ctx), NB_ERR_NULL);
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_add), cmocka_unit_test(test_sub), cmocka_unit_test(test_mul),
    cmocka_unit_test(test_div), cmocka_unit_test(test_binary_errors),
};
NB_TEST_MAIN(tests)
