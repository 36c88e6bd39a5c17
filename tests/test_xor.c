/* test_xor.c — the textbook 2-H-1 sigmoid network on XOR: autodiff against
 * the chain rule written out by hand, training that converges, and a run that
 * ends where the NumPy reference (xor_numpy.py) ends. */
#include "test_util.h"

/* The network and its training loop are the CLI's own (tools/nabla/xor_net.c,
 * linked in through nabla_cli_lib), so `nabla xor` and these tests run the
 * same code. */
#include "xor_net.h"

static double sigmoid_ref(double z) { return 1.0 / (1.0 + exp(-z)); }

/* Forward and backward of the 2-H-1 network by hand, in double, from the
 * network's current parameters. Shapes: X [4,2], W1 [H,2], b1 [H], W2 [1,H],
 * b2 [1]; per-sample arrays are indexed [n*H + j]. */
#define HMAX 8
typedef struct {
    double a1[4 * HMAX], y[4], loss;
    double d2[4], d1[4 * HMAX];                 /* δ2 = ∂L/∂z2, δ1 = ∂L/∂z1 */
    double dw1[HMAX * 2], db1[HMAX], dw2[HMAX], db2;
} hand_grads;

static void hand_derive(const nbc_xor_net *net, hand_grads *h) {
    const int H = net->hidden;
    const float *X = net->x->data, *T = net->t->data;
    const float *W1 = net->w1->data, *B1 = net->b1->data, *W2 = net->w2->data, *B2 = net->b2->data;
    memset(h, 0, sizeof *h);
    for (int n = 0; n < 4; n++) {
        double z2 = B2[0];
        for (int j = 0; j < H; j++) {
            double z1 = B1[j] + X[2 * n] * W1[2 * j] + X[2 * n + 1] * W1[2 * j + 1];
            h->a1[n * H + j] = sigmoid_ref(z1);
            z2 += h->a1[n * H + j] * W2[j];
        }
        h->y[n] = sigmoid_ref(z2);
        h->loss += (h->y[n] - T[n]) * (h->y[n] - T[n]) / 4.0;
        /* δ2 = (y − t) ⊙ σ'(z2) · 2/4: the 2 from the square, the 1/4 from the mean */
        h->d2[n] = (h->y[n] - T[n]) * h->y[n] * (1.0 - h->y[n]) * (2.0 / 4.0);
    }
    for (int n = 0; n < 4; n++) {
        h->db2 += h->d2[n];                                   /* ∂L/∂b2 = Σ_rows δ2 */
        for (int j = 0; j < H; j++) {
            double a = h->a1[n * H + j];
            h->dw2[j] += h->d2[n] * a;                        /* ∂L/∂W2 = δ2ᵀ·a1 */
            h->d1[n * H + j] = h->d2[n] * W2[j] * a * (1.0 - a); /* δ1 = (δ2·W2) ⊙ σ'(z1) */
        }
    }
    for (int n = 0; n < 4; n++)
        for (int j = 0; j < H; j++) {
            h->db1[j] += h->d1[n * H + j];                    /* ∂L/∂b1 = Σ_rows δ1 */
            for (int k = 0; k < 2; k++) h->dw1[2 * j + k] += h->d1[n * H + j] * X[2 * n + k]; /* δ1ᵀ·X */
        }
}

static void expect_close(const char *what, const float *got, const double *want, int n, double tol) {
    for (int i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= tol))
            fail_msg("%s[%d]: got %.9g, expected %.9g (tolerance %g)", what, i,
                     (double)got[i], want[i], tol);
}

/* Every gradient of the network against the formulas above, to 1e-6. Three
 * starting points: the reference's fixed weights (small gradients, near the
 * plateau) and two seeded ones, one of them wider than 2 so an index mix-up
 * between the hidden and input axes cannot cancel out. */
static void test_hand_derived_chain_rule(void **state) {
    (void)state;
    const struct { int hidden; int fixed; uint64_t seed; } cases[] = {{2, 1, 0}, {2, 0, 7}, {3, 0, 11}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nb_ctx *ctx = nb_ctx_new();
        assert_non_null(ctx);
        nbc_xor_net net;
        assert_int_equal(nbc_xor_build(&net, ctx, cases[c].hidden), NB_OK);
        if (cases[c].fixed)
            assert_int_equal(nbc_xor_init_fixed(&net), NB_OK);
        else
            nbc_xor_init_uniform(&net, cases[c].seed);
        /* Run the training step's forward/backward twice: the second pass must
         * not see the first one's gradients once they are zeroed. */
        for (int pass = 0; pass < 2; pass++) {
            nb_graph_zero_grad(net.graph);
            assert_int_equal(nb_graph_forward(net.graph), NB_OK);
            assert_int_equal(nb_graph_backward(net.graph), NB_OK);
        }
        NBT_ASSERT_OK(ctx);

        hand_grads h;
        hand_derive(&net, &h);
        const int H = cases[c].hidden;
        const double tol = 1e-6;
        expect_close("y", net.y->data, h.y, 4, tol);
        expect_close("loss", net.loss->data, &h.loss, 1, tol);
        assert_non_null(net.z2->grad);
        assert_non_null(net.z1->grad);
        expect_close("dL/dz2 (delta2)", net.z2->grad, h.d2, 4, tol);
        expect_close("dL/dz1 (delta1)", net.z1->grad, h.d1, 4 * H, tol);
        expect_close("dL/dW2", net.w2->grad, h.dw2, H, tol);
        expect_close("dL/db2", net.b2->grad, &h.db2, 1, tol);
        expect_close("dL/dW1", net.w1->grad, h.dw1, 2 * H, tol);
        expect_close("dL/db1", net.b1->grad, h.db1, H, tol);
        /* The gradients must not be trivially zero, or the comparison proves nothing. */
        double mag = fabs(h.db2);
        for (int j = 0; j < 2 * H; j++) mag += fabs(h.dw1[j]);
        assert_true(mag > 1e-4);
        nb_ctx_free(ctx);
    }
}

static void record_loss(long long epoch, float loss, void *arg) {
    float *losses = arg;
    losses[epoch / 500] = loss;
}

static void expect_solved(const nbc_xor_net *net, const char *what) {
    for (int i = 0; i < 4; i++) {
        float y = net->y->data[i], t = net->t->data[i];
        if ((y > 0.5f) != (t > 0.5f))
            fail_msg("%s: sample %d output %.4f is on the wrong side of 0.5 (target %g)", what, i,
                     (double)y, (double)t);
    }
}

/* Gradient descent from the reference's start: the loss falls at every
 * 500-epoch mark and after 7000 epochs all four outputs are on the right side
 * of 0.5 (the plateau near 0.25 lasts ~5000 epochs at lr 0.1). Wider seeded
 * networks (hidden 8) get there in 6000: seeds 1-7 all do, seed 8 needs more. */
static void test_training_converges(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nbc_xor_net net;
    assert_int_equal(nbc_xor_build(&net, ctx, 2), NB_OK);
    assert_int_equal(nbc_xor_init_fixed(&net), NB_OK);
    float losses[7000 / 500 + 1];
    assert_int_equal(nbc_xor_train(&net, 7000, 0.1f, 500, record_loss, losses), NB_OK);
    for (int i = 1; i <= 7000 / 500; i++)
        if (!(losses[i] < losses[i - 1]))
            fail_msg("loss rose from %g to %g at epoch %d", (double)losses[i - 1], (double)losses[i], 500 * i);
    assert_true(losses[0] > 0.25f && losses[14] < 0.2f);
    expect_solved(&net, "fixed start, 7000 epochs");
    nb_ctx_free(ctx);

    for (uint64_t seed = 1; seed <= 3; seed++) {
        ctx = nb_ctx_new();
        assert_int_equal(nbc_xor_build(&net, ctx, 8), NB_OK);
        nbc_xor_init_uniform(&net, seed);
        float first, last;
        assert_int_equal(nbc_xor_step(&net, 0.1f, &first), NB_OK);
        assert_int_equal(nbc_xor_train(&net, 5999, 0.1f, 0, NULL, NULL), NB_OK);
        last = net.loss->data[0];
        if (!(last < first - 0.02f))
            fail_msg("hidden 8, seed %d: loss only went from %g to %g", (int)seed, (double)first, (double)last);
        expect_solved(&net, "hidden 8, 6000 epochs");
        nb_ctx_free(ctx);
    }
}

/* The 10000-epoch run of `nabla xor` against xor_numpy.py's printout
 * (float32, `--reps 1`): final outputs [0.13566835, 0.86643624, 0.86082864,
 * 0.11715104], loss 0.01733. Why 2e-5: the same script in float64 ends within
 * 6e-7 of its float32 run, so rounding differences (summation order, exp)
 * do not grow over these 10000 steps; 2e-5 leaves 30x room for them, while a
 * learning rate off by 0.1% or ten epochs missing already moves the outputs
 * by 3e-4. (Measured: within 3e-7.) */
static void test_matches_numpy(void **state) {
    (void)state;
    const double numpy_y[4] = {0.13566835224628448, 0.866436243057251, 0.8608286380767822,
                               0.11715104430913925};
    const double numpy_w1[4] = {-3.8539490699768066, 3.6873209476470947, -4.616806507110596,
                                4.841293811798096};
    nb_ctx *ctx = nb_ctx_new();
    nbc_xor_net net;
    assert_int_equal(nbc_xor_build(&net, ctx, 2), NB_OK);
    assert_int_equal(nbc_xor_init_fixed(&net), NB_OK);
    assert_int_equal(nbc_xor_train(&net, 10000, 0.1f, 0, NULL, NULL), NB_OK);
    expect_close("final outputs", net.y->data, numpy_y, 4, 2e-5);
    /* The weights too (|W1| ~ 5, so float32 steps are ~5e-7): the same path,
     * not just a similar destination. */
    expect_close("final W1", net.w1->data, numpy_w1, 4, 1e-4);
    expect_solved(&net, "default run");
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hand_derived_chain_rule),
    cmocka_unit_test(test_training_converges),
    cmocka_unit_test(test_matches_numpy),
};
NB_TEST_MAIN(tests)
