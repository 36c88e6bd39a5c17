/* Data-parallel training (nabla/dist.h), run under mpirun with 1, 2 and 3
 * ranks (tests/dist.cmake): equivalence with a single-process run of the same
 * global batch, overlap vs no overlap, both reduction modes, sharded metrics,
 * broadcasts, and the fault paths (run by name; they end the job on purpose). */
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

enum { S = 240, F = 8, C = 3, B = 10, STEPS = 100 };
static const int64_t WIDTHS[] = {F, 16, 12, C};

static float g_x[S * F], g_y[S];
static int64_t g_perm[S];

/* Same data and the same global order on every rank. */
static void make_data(void) {
    uint64_t s = 77;
    for (int i = 0; i < S; i++) {
        float sum = 0.0f;
        for (int j = 0; j < F; j++) {
            g_x[i * F + j] = nbt_uniform(&s, -1.0f, 1.0f);
            sum += g_x[i * F + j] * (float)(j % 3 - 1);
        }
        g_y[i] = sum > 0.3f ? 2.0f : sum > -0.3f ? 1.0f : 0.0f;
    }
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    for (int i = 0; i < S; i++) g_perm[i] = i;
    for (int i = S - 1; i > 0; i--) {
        int j = (int)(nb_rng_u32(&rng) % (uint32_t)(i + 1));
        int64_t t = g_perm[i];
        g_perm[i] = g_perm[j];
        g_perm[j] = t;
    }
}

/* True on every rank iff ok on every rank, so all ranks take the same branch
 * (a failure on one rank alone would leave the others in a collective). */
static int all_ok(int ok) {
    double v = ok ? 0.0 : 1.0;
    assert_int_equal(nb_dist_sum(&v, 1), NB_OK);
    return v == 0.0;
}

typedef struct trainer {
    nb_ctx *ctx;
    nb_model *m;
    nb_tensor *x, *y, *loss;
    nb_graph *g;
    nb_optim *opt;
    nb_dist *d;
    int64_t rows, offset;
} trainer;

static void trainer_init(trainer *t, int64_t offset, int64_t rows, nb_optim_kind kind, int hidden) {
    memset(t, 0, sizeof *t);
    t->ctx = nb_ctx_new();
    assert_non_null(t->ctx);
    nb_rng_seed(nb_ctx_rng(t->ctx), 1234);
    t->m = nb_model_new(t->ctx);
    int64_t w[4] = {WIDTHS[0], hidden, WIDTHS[2], WIDTHS[3]};
    nb_sequential *net = nb_mlp_new(t->m, NULL, w, 4, NB_ACT_RELU, 0.0f);
    t->rows = rows;
    t->offset = offset;
    t->x = nb_tensor_2d(t->ctx, rows, F);
    t->y = nb_tensor_1d(t->ctx, rows);
    t->loss = nb_cross_entropy(t->ctx, nb_module_forward(net ? &net->base : NULL, t->x), t->y, 0.0f);
    t->g = nb_graph_new(t->ctx, t->loss);
    nb_optim_config cfg = nb_optim_defaults(kind);
    if (kind == NB_OPTIM_SGD) cfg.lr = 0.1, cfg.momentum = 0.9;
    else cfg.lr = 1e-2;
    t->opt = nb_optim_new(nb_model_params(t->m), nb_model_num_params(t->m), &cfg);
    NBT_ASSERT_OK(t->ctx);
}

/* A trainer on this rank's share of the global batch, with a dist object. */
static void trainer_dist(trainer *t, nb_optim_kind kind, int overlap, nb_dist_reduction mode,
                         size_t bucket_bytes) {
    int64_t off, cnt;
    assert_int_equal(nb_dist_split(B, nb_dist_rank(), nb_dist_size(), &off, &cnt), NB_OK);
    trainer_init(t, off, cnt, kind, (int)WIDTHS[1]);
    t->d = nb_dist_new(nb_model_params(t->m), nb_model_num_params(t->m), bucket_bytes);
    NBT_ASSERT_OK(t->ctx);
    assert_int_equal(nb_dist_set_weight(t->d, cnt, B), NB_OK);
    assert_int_equal(nb_dist_set_reduction(t->d, mode), NB_OK);
    if (overlap) assert_int_equal(nb_dist_attach(t->d, t->g), NB_OK);
}

static void trainer_free(trainer *t) {
    nb_dist_free(t->d);
    nb_ctx_free(t->ctx);
}

static void load_batch(trainer *t, int step) {
    int64_t start = ((int64_t)step * B) % S;
    for (int64_t j = 0; j < t->rows; j++) {
        int64_t i = g_perm[start + t->offset + j];
        memcpy(t->x->data + j * F, g_x + i * F, F * sizeof(float));
        t->y->data[j] = g_y[i];
    }
}

static void train(trainer *t, int steps) {
    for (int s = 0; s < steps; s++) {
        load_batch(t, s);
        nb_optim_zero_grad(t->opt);
        assert_int_equal(nb_graph_forward(t->g), NB_OK);
        assert_int_equal(nb_graph_backward(t->g), NB_OK);
        if (t->d) assert_int_equal(nb_dist_sync_grads(t->d), NB_OK);
        assert_int_equal(nb_optim_step(t->opt), NB_OK);
    }
}

/* Relative difference of two parameter sets: the worst over tensors of
 * max_k |a_k - b_k| / max_k |b_k| (the infinity norm, so every element counts
 * against the tensor's scale rather than against itself near zero). */
static double worst_rel(const trainer *a, const trainer *b) {
    double worst = 0.0;
    int n = nb_model_num_params(a->m);
    assert_int_equal(n, nb_model_num_params(b->m));
    for (int i = 0; i < n; i++) {
        const nb_tensor *p = nb_model_param(a->m, i), *q = nb_model_param(b->m, i);
        assert_int_equal(p->size, q->size);
        double diff = 0.0, scale = 0.0;
        for (int64_t k = 0; k < p->size; k++) {
            diff = fmax(diff, fabs((double)p->data[k] - q->data[k]));
            scale = fmax(scale, fabs((double)q->data[k]));
        }
        if (diff / scale > worst) worst = diff / scale;
    }
    return worst;
}

/* Worst per-tensor ||a - b|| / ||b|| (L2). */
static double worst_norm_rel(const trainer *a, const trainer *b) {
    double worst = 0.0;
    for (int i = 0; i < nb_model_num_params(a->m); i++) {
        const nb_tensor *p = nb_model_param(a->m, i), *q = nb_model_param(b->m, i);
        double d2 = 0.0, r2 = 0.0;
        for (int64_t k = 0; k < p->size; k++) {
            double e = (double)p->data[k] - q->data[k];
            d2 += e * e;
            r2 += (double)q->data[k] * q->data[k];
        }
        if (r2 > 0 && sqrt(d2 / r2) > worst) worst = sqrt(d2 / r2);
    }
    return worst;
}

static uint64_t params_hash(const trainer *t) {
    uint64_t h = NB_DIST_HASH_INIT;
    for (int i = 0; i < nb_model_num_params(t->m); i++) {
        const nb_tensor *p = nb_model_param(t->m, i);
        h = nb_dist_hash(h, p->data, (size_t)p->size * sizeof(float));
    }
    return h;
}

/* Every rank holds the same bits. */
static int ranks_identical(const trainer *t) {
    uint64_t h = params_hash(t), h0 = h;
    assert_int_equal(nb_dist_broadcast(&h0, sizeof h0, 0), NB_OK);
    return all_ok(h == h0);
}

/* 100 steps on R ranks against one process with the whole global batch. */
static void check_equivalence(nb_optim_kind kind, int overlap, nb_dist_reduction mode) {
    trainer t;
    trainer_dist(&t, kind, overlap, mode, 256);
    train(&t, STEPS);
    assert_true(ranks_identical(&t));
    double worst = 0.0;
    int ok = 1;
    if (nb_dist_rank() == 0) {
        trainer ref;
        trainer_init(&ref, 0, B, kind, (int)WIDTHS[1]);
        train(&ref, STEPS);
        worst = worst_rel(&t, &ref);
        /* the model must have moved, or the comparison proves nothing */
        double moved = 0.0;
        trainer init;
        trainer_init(&init, 0, B, kind, (int)WIDTHS[1]);
        moved = worst_rel(&init, &ref);
        printf("[ info ] %s on %d rank(s), %s, %s: relative difference %.3g (max-norm), %.3g (L2); "
               "training moved the weights by %.3g\n",
               nb_optim_kind_name(kind), nb_dist_size(), overlap ? "overlap" : "no overlap",
               mode == NB_DIST_ORDERED ? "ordered" : "allreduce", worst, worst_norm_rel(&t, &ref), moved);
        ok = worst <= 1e-5 && moved > 0.1;
        trainer_free(&init);
        trainer_free(&ref);
    }
    int all = all_ok(ok);
    trainer_free(&t);
    if (!all) fail_msg("rank 0: distributed run differs from the single process by %g (or did not train)", worst);
}

static void test_equivalence_adam(void **state) {
    (void)state;
    check_equivalence(NB_OPTIM_ADAM, 1, NB_DIST_ORDERED);
}

static void test_equivalence_sgd(void **state) {
    (void)state;
    check_equivalence(NB_OPTIM_SGD, 1, NB_DIST_ORDERED);
}

static void test_equivalence_allreduce(void **state) {
    (void)state;
    check_equivalence(NB_OPTIM_ADAM, 1, NB_DIST_ALLREDUCE);
}

/* Buckets started during backward or all at sync: the same bits, for one
 * bucket, several, and one per tensor. */
static void test_overlap_matches_blocking(void **state) {
    (void)state;
    const size_t sizes[] = {64, 600, (size_t)1 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        trainer a, b;
        trainer_dist(&a, NB_OPTIM_ADAM, 1, NB_DIST_ORDERED, sizes[k]);
        trainer_dist(&b, NB_OPTIM_ADAM, 0, NB_DIST_ORDERED, sizes[k]);
        if (sizes[k] == 64) assert_int_equal(nb_dist_num_buckets(a.d), nb_model_num_params(a.m));
        if (sizes[k] == (size_t)1 << 20) assert_int_equal(nb_dist_num_buckets(a.d), 1);
        train(&a, 30);
        train(&b, 30);
        /* The overlap path starts every bucket inside backward (the first
         * layer's after its op's backward, before backward returns); the
         * blocking path none. */
        load_batch(&a, 0);
        load_batch(&b, 0);
        nb_graph_forward(a.g), nb_graph_forward(b.g);
        nb_graph_backward(a.g), nb_graph_backward(b.g);
        int nb = nb_dist_num_buckets(a.d);
        assert_int_equal(nb_dist_num_started(a.d), nb);
        assert_int_equal(nb_dist_num_started(b.d), 0);
        nb_dist_sync_grads(a.d), nb_dist_sync_grads(b.d);
        assert_true(nb_dist_comm_seconds(a.d) >= 0.0);
        int same = params_hash(&a) == params_hash(&b);
        int all = all_ok(same);
        trainer_free(&a);
        trainer_free(&b);
        if (!all) fail_msg("overlap and blocking paths differ (bucket_bytes %zu)", sizes[k]);
    }
}

/* The engine's hook: once per node, indices walking down, after the node's
 * backward (its inputs' gradients already hold its contribution). */
typedef struct hook_log {
    int calls, last, ordered, grads_ready;
    nb_graph *g;
    nb_tensor *w;      /* the last layer's weight: final after its consumer */
    int w_consumer;
} hook_log;

static void record_hook(nb_graph *g, int i, nb_tensor *node, void *user) {
    hook_log *log = user;
    log->ordered &= i == log->last - 1 && node == nb_graph_node(g, i);
    if (i == log->w_consumer) {
        double s = 0.0;
        for (int64_t k = 0; k < log->w->size; k++) s += fabs(log->w->grad[k]);
        log->grads_ready = s > 0.0;
    }
    log->last = i;
    log->calls++;
}

static void test_backward_hook(void **state) {
    (void)state;
    trainer t;
    trainer_init(&t, 0, B, NB_OPTIM_SGD, (int)WIDTHS[1]);
    hook_log log = {0, nb_graph_num_nodes(t.g), 1, 0, t.g, NULL, -1};
    log.w = nb_model_param(t.m, nb_model_num_params(t.m) - 2); /* fc3.weight */
    for (int i = 0; i < nb_graph_num_nodes(t.g); i++) {
        nb_tensor *n = nb_graph_node(t.g, i);
        for (int s = 0; s < n->nsrc; s++)
            if (n->src[s] == log.w && log.w_consumer < 0) log.w_consumer = i;
    }
    assert_true(log.w_consumer > 0);
    load_batch(&t, 0);
    nb_graph_set_backward_hook(t.g, record_hook, &log);
    nb_optim_zero_grad(t.opt);
    assert_int_equal(nb_graph_forward(t.g), NB_OK);
    assert_int_equal(nb_graph_backward(t.g), NB_OK);
    assert_int_equal(log.calls, nb_graph_num_nodes(t.g));
    assert_true(log.ordered);
    assert_true(log.grads_ready);
    assert_null(nb_graph_node(t.g, -1));
    assert_null(nb_graph_node(t.g, nb_graph_num_nodes(t.g)));
    /* removed: no more calls */
    nb_graph_set_backward_hook(t.g, NULL, &log);
    assert_int_equal(nb_graph_backward(t.g), NB_OK);
    assert_int_equal(log.calls, nb_graph_num_nodes(t.g));
    trainer_free(&t);
}

/* The hook must refuse a second backward before the reduction is collected
 * (that would start every bucket twice). */
static void test_backward_twice_is_an_error(void **state) {
    (void)state;
    trainer t;
    trainer_dist(&t, NB_OPTIM_SGD, 1, NB_DIST_ORDERED, 256);
    load_batch(&t, 0);
    assert_int_equal(nb_graph_forward(t.g), NB_OK);
    assert_int_equal(nb_graph_backward(t.g), NB_OK);
    assert_int_equal(nb_graph_backward(t.g), NB_ERR_STATE);
    assert_non_null(strstr(nb_error_message(t.ctx), "nb_dist_sync_grads"));
    nb_dist_sync_grads(t.d);
    trainer_free(&t);
}

/* Sharded evaluation: per-rank sums of loss·count and correct predictions,
 * reduced, equal the whole set evaluated at once. */
static void test_sharded_metrics(void **state) {
    (void)state;
    int64_t off, cnt;
    assert_int_equal(nb_dist_split(S, nb_dist_rank(), nb_dist_size(), &off, &cnt), NB_OK);
    trainer shard, whole;
    trainer_init(&shard, off, cnt, NB_OPTIM_SGD, (int)WIDTHS[1]);
    trainer_init(&whole, 0, S, NB_OPTIM_SGD, (int)WIDTHS[1]);
    double m[3] = {0, 0, 0}, ref[3] = {0, 0, 0};
    trainer *ts[2] = {&shard, &whole};
    double *out[2] = {m, ref};
    for (int w = 0; w < 2; w++) {
        trainer *t = ts[w];
        memcpy(t->x->data, g_x + t->offset * F, (size_t)(t->rows * F) * sizeof(float));
        memcpy(t->y->data, g_y + t->offset, (size_t)t->rows * sizeof(float));
        assert_int_equal(nb_graph_forward(t->g), NB_OK);
        const nb_tensor *logits = t->loss->src[0];
        for (int64_t i = 0; i < t->rows; i++) {
            int best = 0;
            for (int c = 1; c < C; c++)
                if (logits->data[i * C + c] > logits->data[i * C + best]) best = c;
            out[w][1] += best == (int)t->y->data[i];
        }
        out[w][0] = (double)t->loss->data[0] * (double)t->rows;
        out[w][2] = (double)t->rows;
    }
    assert_int_equal(nb_dist_sum(m, 3), NB_OK);
    assert_true(m[2] == S);
    assert_true(m[1] == ref[1]);
    assert_true(fabs(m[0] / S - ref[0] / S) <= 1e-5 * fabs(ref[0] / S));
    assert_true(m[1] > 0 && m[1] < S); /* a real prediction, not a constant */
    trainer_free(&shard);
    trainer_free(&whole);
}

/* Rank order is fixed: the sum of distinct per-rank values is the same exact
 * double everywhere and matches a serial sum. */
static void test_sum_is_ordered(void **state) {
    (void)state;
    int R = nb_dist_size(), r = nb_dist_rank();
    double v[2] = {0.1 * (r + 1), 1e16 * (r % 2 ? -1 : 1) + r};
    double serial[2] = {0, 0};
    for (int k = 0; k < R; k++) {
        serial[0] += 0.1 * (k + 1);
        serial[1] += 1e16 * (k % 2 ? -1 : 1) + k;
    }
    assert_int_equal(nb_dist_sum(v, 2), NB_OK);
    assert_true(v[0] == serial[0]);
    assert_true(v[1] == serial[1]);
}

static void test_broadcast(void **state) {
    (void)state;
    trainer t;
    trainer_init(&t, 0, 2, NB_OPTIM_SGD, (int)WIDTHS[1]);
    nb_tensor *w = nb_model_param(t.m, 0);
    /* Different on every rank before, rank 0's after. */
    uint64_t s = 100 + (uint64_t)nb_dist_rank();
    nbt_fill_uniform(w, &s, -1.0f, 1.0f);
    uint64_t s0 = 100;
    float expect0 = nbt_uniform(&s0, -1.0f, 1.0f);
    assert_int_equal(nb_dist_broadcast_tensors(nb_model_params(t.m), nb_model_num_params(t.m), 0), NB_OK);
    assert_true(w->data[0] == expect0);
    assert_true(ranks_identical(&t));
    assert_int_equal(nb_dist_broadcast(NULL, 4, 0), NB_ERR_NULL);
    assert_int_equal(nb_dist_broadcast(&s, sizeof s, nb_dist_size()), NB_ERR_ARG);
    trainer_free(&t);
}

/* Shares that do not add up are refused on every rank. */
static void test_set_weight_checks(void **state) {
    (void)state;
    trainer t;
    trainer_dist(&t, NB_OPTIM_SGD, 0, NB_DIST_ORDERED, 0);
    assert_int_equal(nb_dist_set_weight(t.d, 1, B), nb_dist_size() * 1 == B ? NB_OK : NB_ERR_ARG);
    nb_clear_error(t.ctx);
    assert_int_equal(nb_dist_set_weight(t.d, 3, 2), NB_ERR_ARG);
    nb_clear_error(t.ctx);
    /* A short last batch: 7 samples over R ranks. */
    int64_t off, cnt;
    nb_dist_split(7, nb_dist_rank(), nb_dist_size(), &off, &cnt);
    assert_int_equal(nb_dist_set_weight(t.d, cnt, 7), NB_OK);
    trainer_free(&t);
}

static void test_split(void **state) {
    (void)state;
    for (int64_t g = 0; g <= 40; g++)
        for (int R = 1; R <= 7; R++) {
            int64_t next = 0;
            for (int r = 0; r < R; r++) {
                int64_t off, cnt;
                assert_int_equal(nb_dist_split(g, r, R, &off, &cnt), NB_OK);
                assert_int_equal(off, next);
                assert_int_equal(cnt, g / R + (r < g % R ? 1 : 0));
                next += cnt;
            }
            assert_int_equal(next, g);
        }
    int64_t o, c;
    assert_int_equal(nb_dist_split(10, 3, 3, &o, &c), NB_ERR_ARG);
    assert_int_equal(nb_dist_split(-1, 0, 3, &o, &c), NB_ERR_ARG);
    assert_int_equal(nb_dist_split(10, 0, 0, &o, &c), NB_ERR_ARG);
    assert_int_equal(nb_dist_split(10, 0, 1, NULL, &c), NB_ERR_NULL);
}

/* Same spec everywhere: the check passes; hashes tell specs apart. */
static void test_check_agrees(void **state) {
    (void)state;
    trainer a, b;
    trainer_init(&a, 0, 2, NB_OPTIM_SGD, 16);
    trainer_init(&b, 0, 2, NB_OPTIM_SGD, 17);
    uint64_t ha = nb_dist_hash_params(nb_model_params(a.m), nb_model_num_params(a.m));
    uint64_t hb = nb_dist_hash_params(nb_model_params(b.m), nb_model_num_params(b.m));
    assert_true(ha != hb);
    char err[256] = "";
    assert_int_equal(nb_dist_check("model spec", ha, 30.0, err, sizeof err), NB_OK);
    assert_int_equal(nb_dist_check("data", nb_dist_hash(NB_DIST_HASH_INIT, g_x, sizeof g_x), 30.0, err,
                                   sizeof err),
                     NB_OK);
    trainer_free(&a);
    trainer_free(&b);
}

/* ---- fault paths: each ends the job (tests/dist.cmake expects the message) ---- */

/* The last rank builds a different model: the check names it and the job stops. */
static int fault_spec_mismatch(void) {
    int last = nb_dist_size() - 1;
    trainer t;
    trainer_init(&t, 0, 2, NB_OPTIM_SGD, nb_dist_rank() == last && last > 0 ? 17 : 16);
    char err[256];
    uint64_t h = nb_dist_hash_params(nb_model_params(t.m), nb_model_num_params(t.m));
    if (nb_dist_check("model spec", h, 30.0, err, sizeof err) != NB_OK) nb_dist_abort(3, "%s", err);
    trainer_free(&t);
    return 0;
}

/* The last rank never reaches the check: the others give up after 1 s. */
static int fault_check_timeout(void) {
    char err[256];
    if (nb_dist_rank() == nb_dist_size() - 1 && nb_dist_size() > 1) {
        sleep(60); /* killed by the abort long before */
        return 0;
    }
    if (nb_dist_check("data", 42, 1.0, err, sizeof err) != NB_OK) nb_dist_abort(3, "%s", err);
    return 0;
}

/* The last rank dies in the middle of training, the others are blocked in
 * the gradient reduction: Open MPI's runtime must stop them. */
static int fault_rank_dies(void) {
    trainer t;
    trainer_dist(&t, NB_OPTIM_ADAM, 1, NB_DIST_ORDERED, 256);
    train(&t, 5);
    if (nb_dist_rank() == nb_dist_size() - 1 && nb_dist_size() > 1) raise(SIGKILL);
    train(&t, 1000000);
    trainer_free(&t);
    return 0;
}

/* A build without MPI: the API exists, says why it cannot work, and the pure
 * helpers still do. Returns the number of failed checks. */
static int check_without_mpi(void) {
    int bad = 0;
    char err[256] = "";
#define EXPECT(c) (bad += !(c) ? (fprintf(stderr, "failed: %s\n", #c), 1) : 0)
    EXPECT(!nb_dist_available());
    EXPECT(nb_dist_init(NULL, NULL, err, sizeof err) == NB_ERR_STATE);
    EXPECT(strstr(err, "built without MPI") != NULL);
    EXPECT(nb_dist_rank() == 0 && nb_dist_size() == 1);
    nb_ctx *ctx = nb_ctx_new();
    int64_t shape[1] = {4};
    nb_tensor *p = nb_param_new(ctx, "w", 1, shape);
    EXPECT(nb_dist_new(&p, 1, 0) == NULL);
    EXPECT(nb_error(ctx) == NB_ERR_STATE && strstr(nb_error_message(ctx), "built without MPI"));
    double v = 1.0;
    EXPECT(nb_dist_sum(&v, 1) == NB_ERR_STATE);
    EXPECT(nb_dist_check("x", 1, 1.0, err, sizeof err) == NB_ERR_STATE);
    int64_t off, cnt;
    EXPECT(nb_dist_split(10, 2, 3, &off, &cnt) == NB_OK && off == 7 && cnt == 3);
    EXPECT(nb_dist_hash_params(&p, 1) != nb_dist_hash_params(&p, 0));
    nb_ctx_free(ctx);
#undef EXPECT
    printf("without MPI: %d failed check(s)\n", bad);
    return bad;
}

int main(int argc, char **argv) {
    char err[256];
    if ((argc > 1 && strcmp(argv[1], "without_mpi") == 0) || !nb_dist_available())
        return check_without_mpi() != 0;
    if (nb_dist_init(&argc, &argv, err, sizeof err) != NB_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    make_data();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_sum_is_ordered),
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_check_agrees),
        cmocka_unit_test(test_set_weight_checks),
        cmocka_unit_test(test_sharded_metrics),
        cmocka_unit_test(test_backward_hook),
        cmocka_unit_test(test_backward_twice_is_an_error),
        cmocka_unit_test(test_overlap_matches_blocking),
        cmocka_unit_test(test_equivalence_adam),
        cmocka_unit_test(test_equivalence_sgd),
        cmocka_unit_test(test_equivalence_allreduce),
    };
    static const struct {
        const char *name;
        int (*fn)(void);
    } faults[] = {
        {"fault_spec_mismatch", fault_spec_mismatch},
        {"fault_check_timeout", fault_check_timeout},
        {"fault_rank_dies", fault_rank_dies},
    };
    int rc = -1;
    if (argc > 1) {
        for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
            if (strcmp(argv[1], faults[i].name) == 0) rc = faults[i].fn();
        if (rc < 0) {
            int found = 0;
            for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
                found |= strcmp(tests[i].name, argv[1]) == 0;
            if (!found) {
                fprintf(stderr, "no test named %s in this binary\n", argv[1]);
                nb_dist_abort(1, "unknown test %s", argv[1]);
            }
            cmocka_set_test_filter(argv[1]);
        }
    }
    if (rc < 0) rc = cmocka_run_group_tests(tests, NULL, NULL);
    nb_dist_finalize();
    return rc;
}
