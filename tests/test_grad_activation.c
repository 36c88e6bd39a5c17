/* Activations (sigmoid, tanh, relu, leaky_relu, elu, gelu erf/tanh, softplus):
 * values and derivatives against double references at extremes (no overflow
 * at |x| = 1000) and kinks (PyTorch's conventions), gradchecks over ranks 0-4
 * and reused inputs, inference mode and argument errors. One test per op. */
#include "unary_check.h"

static nb_tensor *ap_sigmoid(nb_ctx *c, nb_tensor *x, const float *p) { (void)p; return nb_sigmoid(c, x); }
static nb_tensor *ap_tanh(nb_ctx *c, nb_tensor *x, const float *p) { (void)p; return nb_tanh(c, x); }
static nb_tensor *ap_relu(nb_ctx *c, nb_tensor *x, const float *p) { (void)p; return nb_relu(c, x); }
static nb_tensor *ap_leaky(nb_ctx *c, nb_tensor *x, const float *p) { return nb_leaky_relu(c, x, p[0]); }
static nb_tensor *ap_elu(nb_ctx *c, nb_tensor *x, const float *p) { return nb_elu(c, x, p[0]); }
static nb_tensor *ap_gelu_erf(nb_ctx *c, nb_tensor *x, const float *p) {
    (void)p;
    return nb_gelu(c, x, NB_GELU_ERF);
}
static nb_tensor *ap_gelu_tanh(nb_ctx *c, nb_tensor *x, const float *p) {
    (void)p;
    return nb_gelu(c, x, NB_GELU_TANH);
}
static nb_tensor *ap_softplus(nb_ctx *c, nb_tensor *x, const float *p) { (void)p; return nb_softplus(c, x); }

/* The references are the textbook definitions in double; where a textbook
 * form would itself overflow or cancel in double, the equivalent stable one. */
static double r_sigmoid(double x, const float *p) { (void)p; return 1 / (1 + exp(-x)); }
static double d_sigmoid(double x, const float *p) {
    double s = r_sigmoid(x, p);
    return s * (1 - s);
}
static double r_tanh(double x, const float *p) { (void)p; return tanh(x); }
static double d_tanh(double x, const float *p) { (void)p; return 1 - tanh(x) * tanh(x); }
static double r_relu(double x, const float *p) { (void)p; return x > 0 ? x : 0; }
static double d_relu(double x, const float *p) { (void)p; return x > 0 ? 1 : 0; }   /* relu'(0) = 0 */
static double r_leaky(double x, const float *p) { return x > 0 ? x : p[0] * x; }
static double d_leaky(double x, const float *p) { return x > 0 ? 1 : p[0]; }       /* (0) = slope */
static double r_elu(double x, const float *p) { return x > 0 ? x : p[0] * expm1(x); }
static double d_elu(double x, const float *p) { return x > 0 ? 1 : p[0] * exp(x); } /* (0) = alpha */
/* x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)) = ½erfc(-x/√2). */
static double r_gelu_erf(double x, const float *p) { (void)p; return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double d_gelu_erf(double x, const float *p) {
    (void)p;
    return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
}
static double gelu_u(double x) { return sqrt(2 / M_PI) * (x + 0.044715 * x * x * x); }
static double r_gelu_tanh(double x, const float *p) { (void)p; return 0.5 * x * (1 + tanh(gelu_u(x))); }
static double d_gelu_tanh(double x, const float *p) {
    (void)p;
    double t = tanh(gelu_u(x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * sqrt(2 / M_PI) * (1 + 3 * 0.044715 * x * x);
}
static double r_softplus(double x, const float *p) {
    (void)p;
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static const float sp_sigmoid[] = {-1000.0f, -100.0f, -80.0f, -20.0f, 0.0f, 20.0f, 80.0f, 100.0f, 1000.0f};
static const float sp_tanh[] = {-50.0f, -10.0f, 0.0f, 1e-6f, 10.0f, 50.0f};
static const float sp_kink[] = {0.0f, -0.0f, -1.0f, 1.0f, -1000.0f, 1000.0f};
static const float sp_elu[] = {0.0f, -1e-4f, -20.0f, -100.0f, 5.0f};
static const float sp_gelu[] = {-10.0f, -5.0f, -1e-3f, 0.0f, 5.0f, 10.0f, 100.0f};
static const float sp_softplus[] = {-100.0f, -30.0f, -20.0f, 0.0f, 20.0f, 20.5f, 30.0f, 100.0f, 1000.0f};

#define SP(a) a, (int)(sizeof a / sizeof a[0])

static const unary_case c_sigmoid = {"sigmoid", ap_sigmoid, r_sigmoid, d_sigmoid, {0}, -4, 4, {0}, 0,
                                     SP(sp_sigmoid)};
static const unary_case c_tanh = {"tanh", ap_tanh, r_tanh, d_tanh, {0}, -3, 3, {0}, 0, SP(sp_tanh)};
static const unary_case c_relu = {"relu", ap_relu, r_relu, d_relu, {0}, -3, 3, {0}, 1, SP(sp_kink)};
static const unary_case c_leaky = {"leaky_relu", ap_leaky, r_leaky, d_leaky, {0.1f}, -3, 3, {0}, 1,
                                   SP(sp_kink)};
static const unary_case c_elu = {"elu", ap_elu, r_elu, d_elu, {1.5f}, -3, 3, {0}, 1, SP(sp_elu)};
static const unary_case c_gelu_erf = {"gelu", ap_gelu_erf, r_gelu_erf, d_gelu_erf, {0}, -4, 4, {0}, 0,
                                      SP(sp_gelu)};
static const unary_case c_gelu_tanh = {"gelu", ap_gelu_tanh, r_gelu_tanh, d_gelu_tanh, {0}, -4, 4, {0},
                                       0, SP(sp_gelu)};
static const unary_case c_softplus = {"softplus", ap_softplus, r_softplus, r_sigmoid, {0}, -5, 5, {0},
                                      0, SP(sp_softplus)};

static const unary_case *const all_cases[] = {&c_sigmoid, &c_tanh, &c_relu, &c_leaky, &c_elu,
                                              &c_gelu_erf, &c_gelu_tanh, &c_softplus};

static void test_sigmoid(void **s) { (void)s; unary_check(&c_sigmoid); }
static void test_tanh(void **s) { (void)s; unary_check(&c_tanh); }
static void test_relu(void **s) { (void)s; unary_check(&c_relu); }
static void test_gelu_erf(void **s) { (void)s; unary_check(&c_gelu_erf); }
static void test_gelu_tanh(void **s) { (void)s; unary_check(&c_gelu_tanh); }
static void test_softplus(void **s) { (void)s; unary_check(&c_softplus); }

/* A second parameter value each, negative slope included (still PyTorch's
 * formula: x for x > 0, slope·x otherwise). */
static void test_leaky_relu(void **s) {
    (void)s;
    unary_check(&c_leaky);
    unary_case c = c_leaky;
    c.p[0] = -0.3f;
    unary_check(&c);
}
static void test_elu(void **s) {
    (void)s;
    unary_check(&c_elu);
    unary_case c = c_elu;
    c.p[0] = 0.5f;
    unary_check(&c);
}

/* Spot values from PyTorch 1.13 (torch.nn.functional.gelu / softplus in
 * float32), independent of the double references above: the two gelu forms
 * must be told apart, and softplus must agree with PyTorch's threshold. */
static void test_pytorch_values(void **s) {
    (void)s;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_1d(ctx, 4);
    const float v[4] = {-3.0f, -0.5f, 1.0f, 2.5f};
    nb_tensor_copy_in(x, v, 4);
    nb_tensor *ge = nb_gelu(ctx, x, NB_GELU_ERF);
    nb_tensor *gt = nb_gelu(ctx, x, NB_GELU_TANH);
    NBT_ASSERT_OK(ctx);
    const float want_erf[4] = {-0.00404986739f, -0.154268786f, 0.841344714f, 2.48447585f};
    const float want_tanh[4] = {-0.00363743305f, -0.154285997f, 0.841192007f, 2.48491573f};
    for (int i = 0; i < 4; i++) {
        assert_true(unary_err(ge->data[i], want_erf[i]) <= UNARY_VALUE_TOL);
        assert_true(unary_err(gt->data[i], want_tanh[i]) <= UNARY_VALUE_TOL);
    }
    /* Around PyTorch's threshold 20 (it returns x above): the exact form agrees. */
    const float sv[4] = {-25.0f, -3.0f, 19.5f, 20.5f};
    const float want_sp[4] = {1.38879437e-11f, 0.048587352f, 19.5f, 20.5f};
    nb_tensor_copy_in(x, sv, 4);
    nb_tensor *sp = nb_softplus(ctx, x);
    NBT_ASSERT_OK(ctx);
    for (int i = 0; i < 4; i++) assert_true(fabsf(sp->data[i] - want_sp[i]) <= 1e-6f * fmaxf(1.0f, want_sp[i]));
    assert_true(fabsf(sp->data[0] - want_sp[0]) <= 1e-6f * want_sp[0]);
    nb_ctx_free(ctx);
}

static void test_inference_mode(void **s) {
    (void)s;
    for (size_t i = 0; i < sizeof all_cases / sizeof all_cases[0]; i++)
        unary_check_inference(all_cases[i]);
}

static void test_errors(void **s) {
    (void)s;
    for (size_t i = 0; i < sizeof all_cases / sizeof all_cases[0]; i++)
        unary_check_errors(all_cases[i]);
}

/* An out-of-range gelu kind is an argument error naming gelu and the value. */
static void test_gelu_bad_kind(void **s) {
    (void)s;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_1d(ctx, 3);
    assert_null(nb_gelu(ctx, x, (nb_gelu_kind)7));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    assert_true(strncmp(nb_error_message(ctx), "gelu:", 5) == 0);
    assert_non_null(strstr(nb_error_message(ctx), "7"));
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sigmoid),   cmocka_unit_test(test_tanh),
    cmocka_unit_test(test_relu),      cmocka_unit_test(test_leaky_relu),
    cmocka_unit_test(test_elu),       cmocka_unit_test(test_gelu_erf),
    cmocka_unit_test(test_gelu_tanh), cmocka_unit_test(test_softplus),
    cmocka_unit_test(test_pytorch_values), cmocka_unit_test(test_inference_mode),
    cmocka_unit_test(test_errors),    cmocka_unit_test(test_gelu_bad_kind),
};

NB_TEST_MAIN(tests)
