/* Synchronised batch norm across MPI ranks (nb_dist_install_allsum +
 * nb_batchnorm_layer_set_sync), run under mpirun with 1, 2 and 3 ranks
 * (tests/dist.cmake): a BN + linear net trained on R ranks with an uneven
 * split equals one process on the whole global batch; without sync it does not. */
#include "test_util.h"

enum { S = 120, F = 5, C = 3, B = 10, STEPS = 8 };

static float g_x[S * F], g_y[S];

static void make_data(void) {
    uint64_t s = 91;
    for (int i = 0; i < S; i++) {
        float sum = 0.0f;
        for (int j = 0; j < F; j++) {
            /* per-feature offsets and scales, so normalisation matters */
            g_x[i * F + j] = (float)j * 0.7f - 1.0f + (1.0f + (float)j) * nbt_uniform(&s, -1.0f, 1.0f);
            sum += g_x[i * F + j] * (float)(j % 3 - 1);
        }
        g_y[i] = sum > 0.5f ? 2.0f : sum > -0.5f ? 1.0f : 0.0f;
    }
}

static int all_ok(int ok) {
    double v = ok ? 0.0 : 1.0;
    assert_int_equal(nb_dist_sum(&v, 1), NB_OK);
    return v == 0.0;
}

typedef struct net {
    nb_ctx *ctx;
    nb_model *m;
    nb_tensor *x, *y, *loss;
    nb_graph *g;
    nb_optim *opt;
    nb_dist *d;
    int64_t rows, offset;
} net;

/* distributed: this rank's share with a dist object; otherwise all B rows */
static void net_init(net *t, int distributed, int sync) {
    memset(t, 0, sizeof *t);
    t->ctx = nb_ctx_new();
    assert_non_null(t->ctx);
    nb_rng_seed(nb_ctx_rng(t->ctx), 4321);
    t->m = nb_model_new(t->ctx);
    nb_batchnorm_layer *bn = nb_batchnorm1d_layer_new(t->m, "bn", F, 0.1f, 1e-5f, 1);
    nb_linear_layer *fc = nb_linear_layer_new(t->m, "fc", F, C, 1);
    assert_non_null(bn);
    assert_non_null(fc);
    nb_batchnorm_layer_set_sync(bn, sync);
    t->offset = 0, t->rows = B;
    if (distributed) {
        assert_int_equal(nb_dist_split(B, nb_dist_rank(), nb_dist_size(), &t->offset, &t->rows), NB_OK);
        assert_int_equal(nb_dist_install_allsum(t->ctx), NB_OK);
    }
    t->x = nb_tensor_2d(t->ctx, t->rows, F);
    t->y = nb_tensor_1d(t->ctx, t->rows);
    nb_tensor *h = nb_batchnorm_layer_forward(bn, t->x);
    t->loss = nb_cross_entropy(t->ctx, nb_linear_layer_forward(fc, h), t->y, 0.0f);
    t->g = nb_graph_new(t->ctx, t->loss);
    nb_optim_config cfg = nb_optim_defaults(NB_OPTIM_SGD);
    cfg.lr = 0.2, cfg.momentum = 0.9;
    t->opt = nb_optim_new(nb_model_params(t->m), nb_model_num_params(t->m), &cfg);
    NBT_ASSERT_OK(t->ctx);
    if (distributed) {
        t->d = nb_dist_new(nb_model_params(t->m), nb_model_num_params(t->m), 0);
        NBT_ASSERT_OK(t->ctx);
        assert_int_equal(nb_dist_set_weight(t->d, t->rows, B), NB_OK);
    }
}

static void net_free(net *t) {
    nb_dist_free(t->d);
    nb_ctx_free(t->ctx);
}

static void net_train(net *t) {
    for (int s = 0; s < STEPS; s++) {
        const int64_t start = ((int64_t)s * B) % S + t->offset;
        memcpy(t->x->data, g_x + start * F, (size_t)(t->rows * F) * sizeof(float));
        memcpy(t->y->data, g_y + start, (size_t)t->rows * sizeof(float));
        nb_optim_zero_grad(t->opt);
        assert_int_equal(nb_graph_forward(t->g), NB_OK);
        assert_int_equal(nb_graph_backward(t->g), NB_OK);
        if (t->d) assert_int_equal(nb_dist_sync_grads(t->d), NB_OK);
        assert_int_equal(nb_optim_step(t->opt), NB_OK);
    }
}

/* worst per-tensor max|a-b| / max|b| over parameters and buffers */
static double tensors_rel(nb_tensor *const *a, nb_tensor *const *b, int n) {
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        double diff = 0.0, scale = 0.0;
        for (int64_t k = 0; k < a[i]->size; k++) {
            diff = fmax(diff, fabs((double)a[i]->data[k] - b[i]->data[k]));
            scale = fmax(scale, fabs((double)b[i]->data[k]));
        }
        if (diff / scale > worst) worst = diff / scale;
    }
    return worst;
}

static double net_rel(const net *a, const net *b) {
    double p = tensors_rel(nb_model_params(a->m), nb_model_params(b->m), nb_model_num_params(a->m));
    double q = tensors_rel(nb_model_buffers(a->m), nb_model_buffers(b->m), nb_model_num_buffers(a->m));
    return fmax(p, q);
}

/* R ranks (rank 0's copy) against one process on the whole batch; the
 * running statistics are compared on every rank (all see the global ones). */
static double dist_vs_single(int sync) {
    net t, ref;
    net_init(&t, 1, sync);
    net_train(&t);
    net_init(&ref, 0, sync);
    net_train(&ref);
    double rel = net_rel(&t, &ref), worst = rel;
    assert_int_equal(nb_dist_sum(&worst, 1), NB_OK); /* any rank's difference shows */
    net_free(&ref);
    net_free(&t);
    if (nb_dist_rank() == 0)
        printf("[ info ] %s batch norm on %d rank(s): relative difference %.3g\n", sync ? "synchronised" : "per-rank",
               nb_dist_size(), worst);
    return worst;
}

static void test_sync_matches_single_process(void **state) {
    (void)state;
    double d = dist_vs_single(1);
    if (!all_ok(d <= 1e-5)) fail_msg("synchronised BN on %d ranks differs from one process by %g", nb_dist_size(), d);
}

/* Per-rank statistics are not the global batch's: the comparison above can fail. */
static void test_per_rank_differs(void **state) {
    (void)state;
    double d = dist_vs_single(0);
    if (nb_dist_size() == 1) assert_true(d <= 1e-5);
    else if (!all_ok(d > 1e-3)) fail_msg("per-rank BN on %d ranks unexpectedly equals one process (%g)", nb_dist_size(), d);
}

int main(int argc, char **argv) {
    char err[256];
    if (nb_dist_init(&argc, &argv, err, sizeof err) != NB_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    make_data();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_matches_single_process),
        cmocka_unit_test(test_per_rank_differs),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nb_dist_finalize();
    return rc;
}
