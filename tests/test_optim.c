/* tests/test_optim.c — optimizers against PyTorch: parameter trajectories of
 * every optimizer and option combination (fixtures from
 * tests/gen/gen_golden_optim.py), plus argument validation, state naming, a
 * scalar reference on odd sizes, and zero allocations per step. */
#include "test_util.h"
#include "golden_optim.h"
#include "alloc_count.h" /* nbt_allocs: an optimizer step allocates nothing */

#define NP 11
#define MAXLINE 4096

/* The fixed problem: a[5] and b[2,3], grad = (2c)·(p - t) exactly as the generator. */
typedef struct golden_problem {
    float init[NP], target[NP], twoc[NP];
} golden_problem;

static FILE *open_fixture(const char *name) {
    const char *dir = getenv("NABLA_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/%s", dir ? dir : "tests/data", name);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open fixture %s", path);
    return f;
}

static void read_floats(const char *line, const char *tag, float *out, int n) {
    size_t k = strlen(tag);
    assert_int_equal(strncmp(line, tag, k), 0);
    const char *p = line + k;
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtof(p, &end);
        assert_true(end != p);
        p = end;
    }
}

static nb_optim_kind kind_of(const char *s) {
    if (!strcmp(s, "sgd")) return NB_OPTIM_SGD;
    if (!strcmp(s, "adam")) return NB_OPTIM_ADAM;
    if (!strcmp(s, "adamw")) return NB_OPTIM_ADAMW;
    if (!strcmp(s, "rmsprop")) return NB_OPTIM_RMSPROP;
    if (!strcmp(s, "adagrad")) return NB_OPTIM_ADAGRAD;
    fail_msg("unknown optimizer '%s' in fixture", s);
    return NB_OPTIM_SGD;
}

static nb_optim_config config_from(const char *opts) {
    char buf[128];
    assert_non_null(opt_get(opts, "kind", buf, sizeof buf));
    nb_optim_config c = nb_optim_defaults(kind_of(buf));
    c.lr = opt_num(opts, "lr", c.lr);
    c.weight_decay = opt_num(opts, "weight_decay", c.weight_decay);
    c.momentum = opt_num(opts, "momentum", c.momentum);
    c.dampening = opt_num(opts, "dampening", c.dampening);
    c.nesterov = (int)opt_num(opts, "nesterov", 0);
    c.beta1 = opt_num(opts, "beta1", c.beta1);
    c.beta2 = opt_num(opts, "beta2", c.beta2);
    c.eps = opt_num(opts, "eps", c.eps);
    c.amsgrad = (int)opt_num(opts, "amsgrad", 0);
    c.alpha = opt_num(opts, "alpha", c.alpha);
    c.centered = (int)opt_num(opts, "centered", 0);
    c.lr_decay = opt_num(opts, "lr_decay", 0);
    c.initial_accumulator_value = opt_num(opts, "initial_accumulator_value", 0);
    return c;
}

/* 1e-5 relative; the absolute floor (1e-6, against O(1) parameters) only
 * matters where a trajectory passes through zero. */
static int close_rel(double got, double want) {
    return fabs(got - want) <= 1e-5 * fabs(want) + 1e-6;
}

/* Run every fixture case of optimizer `kind`; returns how many. */
static int run_golden(const char *kind) {
    FILE *f = open_fixture("optim.txt");
    static char line[MAXLINE];
    golden_problem pb;
    float coef[NP];
    int ncases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        if (!strncmp(line, "init ", 5)) read_floats(line, "init", pb.init, NP);
        else if (!strncmp(line, "target ", 7)) read_floats(line, "target", pb.target, NP);
        else if (!strncmp(line, "coef ", 5)) {
            read_floats(line, "coef", coef, NP);
            for (int i = 0; i < NP; i++) pb.twoc[i] = coef[i] * 2.0f;
        } else if (!strncmp(line, "case ", 5)) {
            char name[128];
            assert_int_equal(sscanf(line + 5, "%127s", name), 1);
            const char *opts = line + 5 + strlen(name);
            char optsbuf[MAXLINE], kbuf[32];
            snprintf(optsbuf, sizeof optsbuf, "%s", opts + 1);
            int mine = opt_get(optsbuf, "kind", kbuf, sizeof kbuf) && !strcmp(kbuf, kind);
            nb_ctx *ctx = NULL;
            nb_tensor *p[2] = {NULL, NULL};
            nb_optim *opt = NULL;
            nb_schedule *sched = NULL;
            double clip_norm = opt_num(optsbuf, "clip_norm", -1);
            double clip_value = opt_num(optsbuf, "clip_value", -1);
            if (mine) {
                ncases++;
                ctx = nb_ctx_new();
                p[0] = nb_param_new(ctx, "a", 1, (int64_t[]){5});
                p[1] = nb_param_new(ctx, "b", 2, (int64_t[]){2, 3});
                NBT_ASSERT_OK(ctx);
                memcpy(p[0]->data, pb.init, 5 * sizeof(float));
                memcpy(p[1]->data, pb.init + 5, 6 * sizeof(float));
                nb_optim_config cfg = config_from(optsbuf);
                opt = nb_optim_new(p, 2, &cfg);
                NBT_ASSERT_OK(ctx);
                assert_non_null(opt);
                sched = schedule_from(ctx, optsbuf, cfg.lr);
            }
            int steps = 0;
            while (fgets(line, sizeof line, f) && strncmp(line, "end", 3) != 0) {
                if (!mine) continue;
                char *q = line;
                long t = strtol(q, &q, 10);
                assert_int_equal(t, steps);
                double lr = strtod(q, &q);
                if (sched) nb_optim_set_lr(opt, nb_schedule_get_lr(sched));
                if (!close_rel(nb_optim_get_lr(opt), lr))
                    fail_msg("%s step %d: lr %.10g, torch %.10g", name, steps,
                             nb_optim_get_lr(opt), lr);
                float *w[2] = {p[0]->data, p[1]->data};
                float *g[2] = {p[0]->grad, p[1]->grad};
                for (int i = 0; i < NP; i++) {
                    int k = i < 5 ? 0 : 1, j = i < 5 ? i : i - 5;
                    g[k][j] = pb.twoc[i] * (w[k][j] - pb.target[i]);
                }
                if (clip_norm > 0) assert_true(nb_clip_grad_norm(p, 2, (float)clip_norm) >= 0.0f);
                if (clip_value > 0) assert_int_equal(nb_clip_grad_value(p, 2, (float)clip_value), 0);
                assert_int_equal(nb_optim_step(opt), NB_OK);
                for (int i = 0; i < NP; i++) {
                    double want = strtod(q, &q);
                    int k = i < 5 ? 0 : 1, j = i < 5 ? i : i - 5;
                    if (!close_rel(w[k][j], want))
                        fail_msg("%s step %d param %d: nabla %.9g, torch %.9g", name, steps, i,
                                 (double)w[k][j], want);
                }
                if (sched) nb_schedule_step(sched, 0.0);
                steps++;
            }
            if (mine) {
                assert_true(steps >= 100);
                assert_int_equal(nb_optim_num_steps(opt), steps);
                nb_ctx_free(ctx);
            }
        }
    }
    fclose(f);
    return ncases;
}

static void test_golden_sgd(void **state) {
    (void)state;
    assert_int_equal(run_golden("sgd"), 9);
}
static void test_golden_adam(void **state) {
    (void)state;
    assert_int_equal(run_golden("adam"), 7);
}
static void test_golden_adamw(void **state) {
    (void)state;
    assert_int_equal(run_golden("adamw"), 3);
}
static void test_golden_rmsprop(void **state) {
    (void)state;
    assert_int_equal(run_golden("rmsprop"), 4);
}
static void test_golden_adagrad(void **state) {
    (void)state;
    assert_int_equal(run_golden("adagrad"), 2);
}

/* Scalar reference of Adam(amsgrad, L2) on an odd size, so vectorised loops
 * and their remainders are checked element by element. */
static void test_adam_odd_size_reference(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    const int64_t n = 1037;
    nb_tensor *p = nb_param_new(ctx, "w", 1, &n);
    NBT_ASSERT_OK(ctx);
    uint64_t seed = 99;
    nbt_fill_uniform(p, &seed, -1, 1);
    float *ref = calloc((size_t)n, sizeof(float)), *m = calloc((size_t)n, sizeof(float)),
          *v = calloc((size_t)n, sizeof(float)), *vm = calloc((size_t)n, sizeof(float));
    memcpy(ref, p->data, (size_t)n * sizeof(float));
    nb_optim_config c = nb_optim_defaults(NB_OPTIM_ADAM);
    c.lr = 0.01;
    c.amsgrad = 1;
    c.weight_decay = 0.01;
    nb_optim *o = nb_optim_new(&p, 1, &c);
    assert_non_null(o);
    for (int t = 1; t <= 20; t++) {
        for (int64_t i = 0; i < n; i++) p->grad[i] = nbt_uniform(&seed, -1, 1);
        double bc1 = 1 - pow(0.9, t), bc2 = 1 - pow(0.999, t);
        for (int64_t i = 0; i < n; i++) {
            /* torch's add(alpha)/addcmul round once (fused multiply-add) */
            float g = fmaf(0.01f, ref[i], p->grad[i]);
            m[i] = fmaf((float)(1 - 0.9), g, m[i] * 0.9f);
            v[i] = fmaf((float)(1 - 0.999) * g, g, v[i] * 0.999f);
            vm[i] = vm[i] > v[i] ? vm[i] : v[i];
            /* torch's step·m / (sqrt(v)/b + eps), with both sides scaled by b */
            float den = sqrtf(vm[i]) + (float)(1e-8 * sqrt(bc2));
            ref[i] = ref[i] + ((float)(-0.01 * sqrt(bc2) / bc1) * m[i]) / den;
        }
        assert_int_equal(nb_optim_step(o), NB_OK);
        for (int64_t i = 0; i < n; i++)
            if (ref[i] != p->data[i])
                fail_msg("step %d elem %lld: %.9g vs reference %.9g", t, (long long)i,
                         (double)p->data[i], (double)ref[i]);
    }
    free(ref), free(m), free(v), free(vm);
    nb_ctx_free(ctx);
}

static void test_state_names_and_defaults(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *p[2] = {nb_param_new(ctx, "fc1.weight", 2, (int64_t[]){3, 4}),
                       nb_param_new(ctx, "fc1.bias", 1, (int64_t[]){3})};
    nb_optim_config c = nb_optim_defaults(NB_OPTIM_ADAM);
    assert_true(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-8);
    assert_true(nb_optim_defaults(NB_OPTIM_ADAMW).weight_decay == 1e-2);
    assert_true(nb_optim_defaults(NB_OPTIM_ADAGRAD).eps == 1e-10);
    c.amsgrad = 1;
    nb_optim *o = nb_optim_new(p, 2, &c);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(nb_optim_num_state(o), 6);
    nb_tensor *const *st = nb_optim_state(o);
    assert_string_equal(st[0]->name, "optim.exp_avg.fc1.weight");
    assert_string_equal(st[3]->name, "optim.exp_avg_sq.fc1.bias");
    assert_string_equal(st[5]->name, "optim.max_exp_avg_sq.fc1.bias");
    assert_int_equal(st[0]->size, 12);
    nb_optim_config s = nb_optim_defaults(NB_OPTIM_SGD);
    nb_optim *plain = nb_optim_new(p, 2, &s);
    assert_int_equal(nb_optim_num_state(plain), 0);
    nb_optim_config a = nb_optim_defaults(NB_OPTIM_ADAGRAD);
    a.initial_accumulator_value = 0.25;
    nb_optim *ada = nb_optim_new(p, 2, &a);
    assert_string_equal(nb_optim_state(ada)[1]->name, "optim.sum.fc1.bias");
    assert_true(nb_optim_state(ada)[1]->data[2] == 0.25f);
    /* zero_grad, set_lr */
    p[0]->grad[5] = 3.0f;
    nb_optim_zero_grad(o); /* lazy: marked, cleared when settled */
    assert_true(p[0]->grad_stale);
    nb_tensor_grad_settle(p[0]);
    assert_true(p[0]->grad[5] == 0.0f);
    nb_optim_set_lr(o, 0.5);
    assert_true(nb_optim_get_lr(o) == 0.5);
    nb_ctx_free(ctx);
}

static void test_invalid_config(void **state) {
    (void)state;
    struct { nb_optim_kind k; double lr, mom, damp, b1, b2, wd; int nest; const char *msg; } bad[] = {
        {NB_OPTIM_SGD, -0.1, 0, 0, 0.9, 0.999, 0, 0, "learning rate"},
        {NB_OPTIM_SGD, 0.1, 0, 0, 0.9, 0.999, 0, 1, "nesterov"},
        {NB_OPTIM_SGD, 0.1, 0.9, 0.1, 0.9, 0.999, 0, 1, "nesterov"},
        {NB_OPTIM_ADAM, 0.1, 0, 0, 1.0, 0.999, 0, 0, "beta1"},
        {NB_OPTIM_ADAMW, 0.1, 0, 0, 0.9, -0.1, 0, 0, "beta2"},
        {NB_OPTIM_RMSPROP, 0.1, -1, 0, 0.9, 0.999, 0, 0, "momentum"},
        {NB_OPTIM_ADAGRAD, 0.1, 0, 0, 0.9, 0.999, -1, 0, "weight_decay"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nb_ctx *ctx = nb_ctx_new();
        nb_tensor *p = nb_param_new(ctx, "w", 1, (int64_t[]){4});
        nb_optim_config c = nb_optim_defaults(bad[i].k);
        c.lr = bad[i].lr, c.momentum = bad[i].mom, c.dampening = bad[i].damp;
        c.beta1 = bad[i].b1, c.beta2 = bad[i].b2, c.weight_decay = bad[i].wd;
        c.nesterov = bad[i].nest;
        assert_null(nb_optim_new(&p, 1, &c));
        assert_int_equal(nb_error(ctx), NB_ERR_ARG);
        if (!strstr(nb_error_message(ctx), bad[i].msg))
            fail_msg("case %zu: message '%s' lacks '%s'", i, nb_error_message(ctx), bad[i].msg);
        nb_ctx_free(ctx);
    }
    /* a tensor without gradient, a repeated parameter */
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *x = nb_tensor_1d(ctx, 3);
    nb_tensor_set_name(x, "x");
    nb_optim_config c = nb_optim_defaults(NB_OPTIM_SGD);
    assert_null(nb_optim_new(&x, 1, &c));
    assert_non_null(strstr(nb_error_message(ctx), "('x') has no gradient"));
    nb_clear_error(ctx);
    nb_tensor *w = nb_param_new(ctx, "w", 1, (int64_t[]){3});
    nb_tensor *ww[2] = {w, w};
    assert_null(nb_optim_new(ww, 2, &c));
    assert_non_null(strstr(nb_error_message(ctx), "twice"));
    nb_ctx_free(ctx);
}

/* Large tensors are split across threads (each takes a share of every
 * tensor); the parameters and every state tensor must come out bitwise the
 * same at 1 and 2 threads, for every rule, on sizes with ragged shares. */
static void test_step_thread_independent(void **state) {
    (void)state;
    nb_optim_kind kinds[] = {NB_OPTIM_SGD, NB_OPTIM_ADAM, NB_OPTIM_ADAMW, NB_OPTIM_RMSPROP,
                             NB_OPTIM_ADAGRAD};
    enum { MAXT = 8 };
    for (int k = 0; k < 5; k++) {
        float *out[2][MAXT] = {{0}};
        int64_t size[MAXT] = {0};
        int nout = 0;
        for (int run = 0; run < 2; run++) {
            nb_set_threads(run + 1);
            nb_ctx *ctx = nb_ctx_new();
            nb_tensor *p[2] = {nb_param_new(ctx, "a", 1, (int64_t[]){300001}),
                               nb_param_new(ctx, "b", 1, (int64_t[]){37})};
            NBT_ASSERT_OK(ctx);
            uint64_t seed = 5;
            for (int i = 0; i < 2; i++) nbt_fill_uniform(p[i], &seed, -1, 1);
            nb_optim_config c = nb_optim_defaults(kinds[k]);
            c.lr = 0.01, c.weight_decay = 0.01, c.centered = 1, c.amsgrad = 1;
            if (kinds[k] == NB_OPTIM_SGD || kinds[k] == NB_OPTIM_RMSPROP) c.momentum = 0.9;
            c.nesterov = kinds[k] == NB_OPTIM_SGD;
            nb_optim *o = nb_optim_new(p, 2, &c);
            assert_non_null(o);
            for (int t = 0; t < 3; t++) {
                for (int i = 0; i < 2; i++)
                    for (int64_t j = 0; j < p[i]->size; j++) p[i]->grad[j] = nbt_uniform(&seed, -1, 1);
                assert_int_equal(nb_optim_step(o), NB_OK);
            }
            /* the parameters, then every state tensor */
            nb_tensor *const *st = nb_optim_state(o);
            nout = 2 + nb_optim_num_state(o);
            assert_true(nout <= MAXT);
            for (int i = 0; i < nout; i++) {
                const nb_tensor *x = i < 2 ? p[i] : st[i - 2];
                size[i] = x->size;
                out[run][i] = malloc((size_t)x->size * sizeof(float));
                memcpy(out[run][i], x->data, (size_t)x->size * sizeof(float));
            }
            nb_ctx_free(ctx);
        }
        for (int i = 0; i < nout; i++) {
            if (memcmp(out[0][i], out[1][i], (size_t)size[i] * sizeof(float)))
                fail_msg("optimizer kind %d: tensor %d differs between 1 and 2 threads", k, i);
            free(out[0][i]), free(out[1][i]);
        }
    }
    nb_set_threads(0);
}

/* The step itself allocates nothing: no arena growth, and (outside ASan) no
 * heap allocation at all. */
static void test_step_allocates_nothing(void **state) {
    (void)state;
    nb_optim_kind kinds[] = {NB_OPTIM_SGD, NB_OPTIM_ADAM, NB_OPTIM_ADAMW, NB_OPTIM_RMSPROP,
                             NB_OPTIM_ADAGRAD};
    for (int k = 0; k < 5; k++) {
        nb_ctx *ctx = nb_ctx_new();
        nb_tensor *p[2] = {nb_param_new(ctx, "a", 2, (int64_t[]){33, 17}),
                           nb_param_new(ctx, "b", 1, (int64_t[]){17})};
        nb_optim_config c = nb_optim_defaults(kinds[k]);
        c.momentum = kinds[k] == NB_OPTIM_ADAM || kinds[k] == NB_OPTIM_ADAMW ? 0 : 0.9;
        c.centered = 1;
        c.amsgrad = 1;
        nb_optim *o = nb_optim_new(p, 2, &c);
        NBT_ASSERT_OK(ctx);
        nb_schedule *s = nb_schedule_cosine(ctx, 0.1, 50, 0.0);
        nb_schedule_set_warmup(s, 5, 0.1);
        size_t mem = nb_ctx_memory(ctx);
#ifdef NBT_COUNT_MALLOC
        long before = nbt_allocs;
#endif
        for (int t = 0; t < 50; t++) {
            p[0]->grad[t] = 1.0f;
            nb_optim_set_lr(o, nb_schedule_get_lr(s));
            nb_clip_grad_norm(p, 2, 1.0f);
            assert_int_equal(nb_check_finite(ctx, t, NULL, p, 2), NB_OK);
            assert_int_equal(nb_optim_step(o), NB_OK);
            nb_schedule_step(s, 0.0);
        }
#ifdef NBT_COUNT_MALLOC
        assert_int_equal(nbt_allocs - before, 0);
#endif
        assert_int_equal(nb_ctx_memory(ctx), mem);
        nb_ctx_free(ctx);
    }
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_sgd),
        cmocka_unit_test(test_golden_adam),
        cmocka_unit_test(test_golden_adamw),
        cmocka_unit_test(test_golden_rmsprop),
        cmocka_unit_test(test_golden_adagrad),
        cmocka_unit_test(test_adam_odd_size_reference),
        cmocka_unit_test(test_state_names_and_defaults),
        cmocka_unit_test(test_invalid_config),
        cmocka_unit_test(test_step_allocates_nothing),
        cmocka_unit_test(test_step_thread_independent),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
