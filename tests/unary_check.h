/* Shared checks for the elementwise unary ops and activations
 * (test_grad_unary.c, test_grad_activation.c): forward values and derivatives
 * against double-precision scalar references, gradchecks over ranks 0-4 and
 * reused inputs, inference mode and argument errors. */
#ifndef NB_TEST_UNARY_CHECK_H
#define NB_TEST_UNARY_CHECK_H

#include "test_util.h"

/* One op under test. p[] are its float parameters (scale factor, exponent,
 * bounds, slope ...); apply builds the op, ref/dref are f and f' in double. */
typedef struct unary_case {
    const char *name;                   /* the op's name as its messages use it */
    nb_tensor *(*apply)(nb_ctx *ctx, nb_tensor *x, const float *p);
    double (*ref)(double x, const float *p);
    double (*dref)(double x, const float *p);
    float p[2];
    float lo, hi;                       /* input range for random data */
    float kinks[2];                     /* points gradchecks keep away from */
    int nkinks;
    const float *special;               /* extra inputs: extremes, kinks, bounds */
    int nspecial;
} unary_case;

/* Forward and derivative must match the double reference to this mixed
 * relative/absolute error: float32 libm is good to a few ulp, so anything
 * above ~1e-6 is a wrong formula, not rounding. */
#define UNARY_VALUE_TOL 1e-5

static inline double unary_err(double got, double want) {
    return fabs(got - want) / fmax(1.0, fabs(want));
}

/* Nudge values closer than `margin` to a kink out to the margin, so central
 * differences of step NBT_GRAD_EPS never straddle it. */
static inline void unary_avoid_kinks(nb_tensor *t, const unary_case *c) {
    const float margin = 5 * NBT_GRAD_EPS;
    for (int64_t i = 0; i < t->size; i++)
        for (int k = 0; k < c->nkinks; k++) {
            float d = t->data[i] - c->kinks[k];
            if (fabsf(d) < margin) t->data[i] = c->kinks[k] + (d >= 0 ? margin : -margin);
        }
}

/* Values and derivatives on an odd-sized vector: random points from the
 * range followed by the special points, derivative from backward of sum(f(x)). */
static inline void unary_check_values(const unary_case *c) {
    nb_ctx *ctx = nb_ctx_new();
    assert_non_null(ctx);
    uint64_t seed = 0x5eedu + (uint64_t)c->nspecial;
    const int64_t nrand = 37;
    int64_t shape[1] = {nrand + c->nspecial};
    nb_tensor *x = nb_param_new(ctx, "x", 1, shape);
    assert_non_null(x);
    nbt_fill_uniform(x, &seed, c->lo, c->hi);
    for (int i = 0; i < c->nspecial; i++) x->data[nrand + i] = c->special[i];
    nb_tensor *y = c->apply(ctx, x, c->p);
    nb_tensor *loss = nb_sum(ctx, y);
    NBT_ASSERT_OK(ctx);
    for (int64_t i = 0; i < x->size; i++) {
        double want = c->ref(x->data[i], c->p);
        if (!(unary_err(y->data[i], want) <= UNARY_VALUE_TOL))
            fail_msg("%s(%.9g) = %.9g, reference %.9g", c->name, (double)x->data[i],
                     (double)y->data[i], want);
    }
    nb_graph *g = nb_graph_new(ctx, loss);
    assert_non_null(g);
    nb_graph_zero_grad(g);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    for (int64_t i = 0; i < x->size; i++) {
        double want = c->dref(x->data[i], c->p);
        if (!(unary_err(x->grad[i], want) <= UNARY_VALUE_TOL))
            fail_msg("%s'(%.9g) = %.9g, reference %.9g", c->name, (double)x->data[i],
                     (double)x->grad[i], want);
    }
    nb_ctx_free(ctx);
}

/* Gradchecks of Σ r⊙f(x) over ranks 0 to 4, then with x reused: Σ r⊙(f(x)·x)
 * and Σ r⊙(f(x) + x), where x's gradient sums two contributions. */
static inline void unary_check_grads(const unary_case *c) {
    static const int64_t shapes[5][4] = {{0}, {7}, {3, 5}, {2, 3, 4}, {2, 1, 3, 2}};
    uint64_t seed = 0xab5eedu;
    char what[96];
    for (int rank = 0; rank <= 4; rank++) {
        nb_ctx *ctx = nb_ctx_new();
        assert_non_null(ctx);
        nb_tensor *x = nbt_param(ctx, &seed, c->lo, c->hi, rank, shapes[rank]);
        assert_non_null(x);
        unary_avoid_kinks(x, c);
        nb_tensor *loss = nbt_weighted_sum(ctx, c->apply(ctx, x, c->p), &seed);
        snprintf(what, sizeof what, "%s rank %d", c->name, rank);
        nbt_check_grads(ctx, loss, &x, 1, what);
        nb_ctx_free(ctx);
    }
    for (int reuse = 0; reuse < 2; reuse++) {
        nb_ctx *ctx = nb_ctx_new();
        assert_non_null(ctx);
        nb_tensor *x = nbt_param(ctx, &seed, c->lo, c->hi, 2, shapes[2]);
        assert_non_null(x);
        unary_avoid_kinks(x, c);
        nb_tensor *y = c->apply(ctx, x, c->p);
        y = reuse == 0 ? nb_mul(ctx, y, x) : nb_add(ctx, y, x);
        snprintf(what, sizeof what, "%s(x) %s x", c->name, reuse == 0 ? "*" : "+");
        nbt_check_grads(ctx, nbt_weighted_sum(ctx, y, &seed), &x, 1, what);
        nb_ctx_free(ctx);
    }
}

static inline void unary_check(const unary_case *c) {
    unary_check_values(c);
    unary_check_grads(c);
}

/* With gradients disabled the result carries no NB_REQUIRES_GRAD (though its
 * input does) and still holds the right values; enabled, it does require grad. */
static inline void unary_check_inference(const unary_case *c) {
    nb_ctx *ctx = nb_ctx_new();
    assert_non_null(ctx);
    uint64_t seed = 7;
    int64_t shape[2] = {2, 3};
    nb_tensor *x = nbt_param(ctx, &seed, c->lo, c->hi, 2, shape);
    nb_tensor *y = c->apply(ctx, x, c->p);
    NBT_ASSERT_OK(ctx);
    assert_true(y->flags & NB_REQUIRES_GRAD);
    nb_set_grad_enabled(ctx, 0);
    y = c->apply(ctx, x, c->p);
    NBT_ASSERT_OK(ctx);
    assert_non_null(y);
    if (y->flags & NB_REQUIRES_GRAD) fail_msg("%s: result requires grad in inference mode", c->name);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 3);
    for (int64_t i = 0; i < y->size; i++)
        assert_true(unary_err(y->data[i], c->ref(x->data[i], c->p)) <= UNARY_VALUE_TOL);
    nb_ctx_free(ctx);
}

/* A NULL input is NB_ERR_NULL with a message starting "<op>:"; a context
 * already in error makes the op a no-op returning NULL, keeping the first error. */
static inline void unary_check_errors(const unary_case *c) {
    nb_ctx *ctx = nb_ctx_new();
    assert_non_null(ctx);
    assert_null(c->apply(ctx, NULL, c->p));
    assert_int_equal(nb_error(ctx), NB_ERR_NULL);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", nb_error_message(ctx));
    size_t len = strlen(c->name);
    if (strncmp(msg, c->name, len) != 0 || msg[len] != ':')
        fail_msg("%s: NULL-input message does not name the op: \"%s\"", c->name, msg);

    nb_clear_error(ctx);
    nb_tensor *x = nb_tensor_1d(ctx, 3);
    assert_null(nb_add(ctx, x, nb_tensor_1d(ctx, 4)));   /* a shape error first */
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    snprintf(msg, sizeof msg, "%s", nb_error_message(ctx));
    assert_null(c->apply(ctx, x, c->p));                  /* valid input, failed context */
    assert_int_equal(nb_error(ctx), NB_ERR_SHAPE);
    assert_string_equal(nb_error_message(ctx), msg);
    nb_ctx_free(ctx);
}

#endif
