/* Elementwise unary ops (neg, scale, add_scalar, exp, log, sqrt, square, pow,
 * abs, clamp): values and derivatives against double references including
 * extremes and kinks, gradchecks over ranks 0-4 and reused inputs, inference
 * mode and argument errors. One test function per op. */
#include "unary_check.h"

static nb_tensor *ap_neg(nb_ctx *c, nb_tensor *x, const float *p) { (void)p; return nb_neg(c, x); }
static nb_tensor *ap_scale(nb_ctx *c, nb_tensor *x, const float *p) { return nb_scale(c, x, p[0]); }
static nb_tensor *ap_add_scalar(nb_ctx *c, nb_tensor *x, const float *p) {
    return nb_add_scalar(c, x, p[0]);
}
static nb_tensor *ap_exp(nb_ctx *c, nb_tensor *x, const float *p) { (void)p; return nb_exp(c, x); }
static nb_tensor *ap_log(nb_ctx *c, nb_tensor *x, const float *p) { (void)p; return nb_log(c, x); }
static nb_tensor *ap_sqrt(nb_ctx *c, nb_tensor *x, const float *p) { (void)p; return nb_sqrt(c, x); }
static nb_tensor *ap_square(nb_ctx *c, nb_tensor *x, const float *p) { (void)p; return nb_square(c, x); }
static nb_tensor *ap_pow(nb_ctx *c, nb_tensor *x, const float *p) { return nb_pow(c, x, p[0]); }
static nb_tensor *ap_abs(nb_ctx *c, nb_tensor *x, const float *p) { (void)p; return nb_abs(c, x); }
static nb_tensor *ap_clamp(nb_ctx *c, nb_tensor *x, const float *p) { return nb_clamp(c, x, p[0], p[1]); }

static double r_neg(double x, const float *p) { (void)p; return -x; }
static double d_neg(double x, const float *p) { (void)x, (void)p; return -1; }
static double r_scale(double x, const float *p) { return p[0] * x; }
static double d_scale(double x, const float *p) { (void)x; return p[0]; }
static double r_add_scalar(double x, const float *p) { return x + p[0]; }
static double d_one(double x, const float *p) { (void)x, (void)p; return 1; }
static double r_exp(double x, const float *p) { (void)p; return exp(x); }
static double r_log(double x, const float *p) { (void)p; return log(x); }
static double d_log(double x, const float *p) { (void)p; return 1 / x; }
static double r_sqrt(double x, const float *p) { (void)p; return sqrt(x); }
static double d_sqrt(double x, const float *p) { (void)p; return 0.5 / sqrt(x); }
static double r_square(double x, const float *p) { (void)p; return x * x; }
static double d_square(double x, const float *p) { (void)p; return 2 * x; }
static double r_pow(double x, const float *p) { return pow(x, p[0]); }
/* PyTorch: the derivative of x^0 is 0 everywhere, including x = 0. */
static double d_pow(double x, const float *p) { return p[0] == 0 ? 0 : p[0] * pow(x, p[0] - 1.0); }
static double r_abs(double x, const float *p) { (void)p; return fabs(x); }
static double d_abs(double x, const float *p) { (void)p; return x > 0 ? 1 : x < 0 ? -1 : 0; }
static double r_clamp(double x, const float *p) { return x < p[0] ? p[0] : x > p[1] ? p[1] : x; }
/* PyTorch passes the gradient on the bounds themselves. */
static double d_clamp(double x, const float *p) { return x >= p[0] && x <= p[1] ? 1 : 0; }

static const float sp_linear[] = {0.0f, -1e30f, 1e30f, 3.0f};
static const float sp_exp[] = {-100.0f, -80.0f, 0.0f, 20.0f, 80.0f};
static const float sp_pos[] = {1e-30f, 1.0f, 4.0f, 1e30f};
static const float sp_square[] = {0.0f, -3.0f, 1e15f};
static const float sp_pow_int[] = {0.0f, -1.5f, 2.0f};
static const float sp_pow_pos[] = {1e-20f, 1.0f, 4.0f};
static const float sp_pow_neg[] = {1e-3f, 1.0f, 4.0f, 1e6f};
static const float sp_abs[] = {0.0f, -0.0f, -5.0f, 5.0f};
static const float sp_clamp[] = {-0.5f, 0.7f, -10.0f, 10.0f, 0.0f};

#define SP(a) a, (int)(sizeof a / sizeof a[0])

static const unary_case c_neg = {"neg", ap_neg, r_neg, d_neg, {0}, -3, 3, {0}, 0, SP(sp_linear)};
static const unary_case c_scale = {"scale", ap_scale, r_scale, d_scale, {-1.7f}, -3, 3, {0}, 0, SP(sp_linear)};
static const unary_case c_add_scalar = {"add_scalar", ap_add_scalar, r_add_scalar, d_one, {2.5f},
                                        -3, 3, {0}, 0, SP(sp_linear)};
static const unary_case c_exp = {"exp", ap_exp, r_exp, r_exp, {0}, -2, 2, {0}, 0, SP(sp_exp)};
static const unary_case c_log = {"log", ap_log, r_log, d_log, {0}, 0.5f, 3, {0}, 0, SP(sp_pos)};
static const unary_case c_sqrt = {"sqrt", ap_sqrt, r_sqrt, d_sqrt, {0}, 0.5f, 3, {0}, 0, SP(sp_pos)};
static const unary_case c_square = {"square", ap_square, r_square, d_square, {0}, -3, 3, {0}, 0,
                                    SP(sp_square)};
static const unary_case c_abs = {"abs", ap_abs, r_abs, d_abs, {0}, -3, 3, {0}, 1, SP(sp_abs)};
static const unary_case c_clamp = {"clamp", ap_clamp, r_clamp, d_clamp, {-0.5f, 0.7f}, -2, 2,
                                   {-0.5f, 0.7f}, 2, SP(sp_clamp)};

static const unary_case *const all_cases[] = {&c_neg, &c_scale, &c_add_scalar, &c_exp, &c_log,
                                              &c_sqrt, &c_square, &c_abs, &c_clamp};

static void test_neg(void **s) { (void)s; unary_check(&c_neg); }
static void test_scale(void **s) { (void)s; unary_check(&c_scale); }
static void test_add_scalar(void **s) { (void)s; unary_check(&c_add_scalar); }
static void test_exp(void **s) { (void)s; unary_check(&c_exp); }
static void test_log(void **s) { (void)s; unary_check(&c_log); }
static void test_sqrt(void **s) { (void)s; unary_check(&c_sqrt); }
static void test_square(void **s) { (void)s; unary_check(&c_square); }
static void test_abs(void **s) { (void)s; unary_check(&c_abs); }
static void test_clamp(void **s) { (void)s; unary_check(&c_clamp); }

/* Integer exponents over negative inputs too; fractional and negative ones
 * on positive inputs; exponent 0 with x = 0 among the specials. */
static void test_pow(void **s) {
    (void)s;
    const unary_case cases[] = {
        {"pow", ap_pow, r_pow, d_pow, {3.0f}, -2, 2, {0}, 0, SP(sp_pow_int)},
        {"pow", ap_pow, r_pow, d_pow, {2.0f}, -2, 2, {0}, 0, SP(sp_pow_int)},
        {"pow", ap_pow, r_pow, d_pow, {0.0f}, -2, 2, {0}, 0, SP(sp_pow_int)},
        {"pow", ap_pow, r_pow, d_pow, {1.0f}, -2, 2, {0}, 0, SP(sp_pow_int)},
        {"pow", ap_pow, r_pow, d_pow, {0.5f}, 0.5f, 3, {0}, 0, SP(sp_pow_pos)},
        {"pow", ap_pow, r_pow, d_pow, {-1.5f}, 0.6f, 2, {0}, 0, SP(sp_pow_neg)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) unary_check(&cases[i]);
}

static void test_inference_mode(void **s) {
    (void)s;
    for (size_t i = 0; i < sizeof all_cases / sizeof all_cases[0]; i++)
        unary_check_inference(all_cases[i]);
    const unary_case p = {"pow", ap_pow, r_pow, d_pow, {2.5f}, 0.5f, 3, {0}, 0, NULL, 0};
    unary_check_inference(&p);
}

static void test_errors(void **s) {
    (void)s;
    for (size_t i = 0; i < sizeof all_cases / sizeof all_cases[0]; i++)
        unary_check_errors(all_cases[i]);
    const unary_case p = {"pow", ap_pow, r_pow, d_pow, {2.5f}, 0.5f, 3, {0}, 0, NULL, 0};
    unary_check_errors(&p);
}

/* lo > hi and NaN bounds are argument errors naming clamp and the values;
 * lo == hi is allowed and gives a constant with gradient only where x == lo. */
static void test_clamp_bounds(void **s) {
    (void)s;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_1d(ctx, 3);
    assert_null(nb_clamp(ctx, x, 1.0f, -1.0f));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    const char *msg = nb_error_message(ctx);
    assert_true(strncmp(msg, "clamp:", 6) == 0);
    assert_non_null(strstr(msg, "lo=1"));
    assert_non_null(strstr(msg, "hi=-1"));
    nb_clear_error(ctx);
    assert_null(nb_clamp(ctx, x, NAN, 1.0f));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    assert_null(nb_clamp(ctx, x, 0.0f, NAN));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);

    int64_t shape[1] = {3};
    nb_tensor *p = nb_param_new(ctx, "p", 1, shape);
    const float v[3] = {-1.0f, 0.25f, 2.0f};
    nb_tensor_copy_in(p, v, 3);
    nb_tensor *y = nb_clamp(ctx, p, 0.25f, 0.25f);
    nb_graph *g = nb_graph_new(ctx, nb_sum(ctx, y));
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_graph_backward(g), NB_OK);
    for (int i = 0; i < 3; i++) assert_true(y->data[i] == 0.25f);
    assert_true(p->grad[0] == 0.0f && p->grad[1] == 1.0f && p->grad[2] == 0.0f);
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_neg),     cmocka_unit_test(test_scale),
    cmocka_unit_test(test_add_scalar), cmocka_unit_test(test_exp),
    cmocka_unit_test(test_log),     cmocka_unit_test(test_sqrt),
    cmocka_unit_test(test_square),  cmocka_unit_test(test_pow),
    cmocka_unit_test(test_abs),     cmocka_unit_test(test_clamp),
    cmocka_unit_test(test_clamp_bounds), cmocka_unit_test(test_inference_mode),
    cmocka_unit_test(test_errors),
};

NB_TEST_MAIN(tests)
