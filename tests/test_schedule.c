/* tests/test_schedule.c — learning-rate schedules against PyTorch's
 * lr_scheduler over 130 steps (fixture from tests/gen/gen_golden_optim.py:
 * every schedule, warmup composed with each, ReduceLROnPlateau in min/max,
 * rel/abs, cooldown and min_lr), plus warmup before plateau, state
 * save/restore and argument errors. */
#include "test_util.h"
#include "golden_optim.h"

#define MAXLINE 1024

/* 1e-5 relative, with a floor far below any rate used (cosine reaches 0). */
static int close_rel(double got, double want) {
    return fabs(got - want) <= 1e-5 * fabs(want) + 1e-12;
}

/* Replay every fixture schedule whose name starts with prefix; how many. */
static int run_sched(const char *prefix) {
    const char *dir = getenv("NABLA_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/schedules.txt", dir ? dir : "tests/data");
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open fixture %s", path);
    char line[MAXLINE];
    int count = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "sched ", 6) != 0) continue;
        char name[128];
        assert_int_equal(sscanf(line + 6, "%127s", name), 1);
        char opts[MAXLINE];
        snprintf(opts, sizeof opts, "%s", line + 6 + strlen(name) + 1);
        int mine = strncmp(name, prefix, strlen(prefix)) == 0;
        nb_ctx *ctx = mine ? nb_ctx_new() : NULL;
        nb_schedule *s = mine ? schedule_from(ctx, opts, opt_num(opts, "lr", 0)) : NULL;
        if (mine) assert_non_null(s);
        int plateau = strstr(opts, "sched=plateau") != NULL;
        int steps = 0;
        while (fgets(line, sizeof line, f) && strncmp(line, "end", 3) != 0) {
            if (!mine) continue;
            char *q = line;
            long t = strtol(q, &q, 10);
            double lr = strtod(q, &q), metric = strtod(q, &q);
            assert_int_equal(t, steps);
            double got = nb_schedule_get_lr(s);
            if (!close_rel(got, lr))
                fail_msg("%s step %d: lr %.12g, torch %.12g", name, steps, got, lr);
            if (!plateau && nb_schedule_lr(s, steps) != got)
                fail_msg("%s step %d: stateless %.17g != stateful %.17g", name, steps,
                         nb_schedule_lr(s, steps), got);
            nb_schedule_step(s, metric);
            steps++;
        }
        if (mine) {
            count++;
            assert_true(steps >= 100);
            assert_int_equal(nb_schedule_num_steps(s), steps);
            nb_ctx_free(ctx);
        }
    }
    fclose(f);
    return count;
}

static void test_golden_constant(void **state) { (void)state; assert_int_equal(run_sched("constant"), 1); }
static void test_golden_step(void **state) { (void)state; assert_int_equal(run_sched("step"), 1); }
static void test_golden_multistep(void **state) { (void)state; assert_int_equal(run_sched("multistep"), 1); }
static void test_golden_exponential(void **state) { (void)state; assert_int_equal(run_sched("exponential"), 1); }
static void test_golden_cosine(void **state) { (void)state; assert_int_equal(run_sched("cosine"), 2); }
static void test_golden_warmup(void **state) { (void)state; assert_int_equal(run_sched("warmup_"), 5); }
static void test_golden_plateau(void **state) { (void)state; assert_int_equal(run_sched("plateau_"), 3); }

/* Warmup in front of plateau: linear rates first, metrics ignored meanwhile,
 * then torch's plateau rule counted from the end of warmup. */
static void test_warmup_then_plateau(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_plateau_config c = nb_plateau_defaults();
    c.patience = 1;
    c.factor = 0.5;
    nb_schedule *s = nb_schedule_plateau(ctx, 0.2, &c);
    assert_int_equal(nb_schedule_set_warmup(s, 4, 0.25), NB_OK);
    const double warm[4] = {0.05, 0.0875, 0.125, 0.1625};
    for (int t = 0; t < 4; t++) {
        assert_true(fabs(nb_schedule_get_lr(s) - warm[t]) < 1e-15);
        nb_schedule_step(s, 100.0 + t); /* worsening, but ignored */
    }
    assert_true(nb_schedule_get_lr(s) == 0.2);
    nb_schedule_step(s, 1.0);  /* best = 1 */
    nb_schedule_step(s, 1.0);  /* bad 1 */
    assert_true(nb_schedule_get_lr(s) == 0.2);
    nb_schedule_step(s, 1.0);  /* bad 2 > patience: halve */
    assert_true(nb_schedule_get_lr(s) == 0.1);
    /* setting warmup after stepping is refused */
    assert_int_equal(nb_schedule_set_warmup(s, 2, 0.5), NB_ERR_STATE);
    nb_ctx_free(ctx);
}

/* get_state/set_state carry a schedule into a fresh one exactly. */
static void test_state_roundtrip(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    nb_plateau_config c = nb_plateau_defaults();
    c.patience = 2;
    c.cooldown = 3;
    nb_schedule *a = nb_schedule_plateau(ctx, 0.1, &c);
    nb_schedule *b = nb_schedule_plateau(ctx, 0.1, &c);
    double ms[40];
    for (int i = 0; i < 40; i++) ms[i] = 1.0 / (1 + (i % 7)) + (i < 20 ? 0.0 : 0.5);
    for (int i = 0; i < 25; i++) nb_schedule_step(a, ms[i]);
    nb_schedule_state st;
    nb_schedule_get_state(a, &st);
    assert_int_equal(st.steps, 25);
    assert_int_equal(nb_schedule_set_state(b, &st), NB_OK);
    for (int i = 25; i < 40; i++) {
        double la = nb_schedule_step(a, ms[i]), lb = nb_schedule_step(b, ms[i]);
        assert_true(la == lb);
    }
    st.steps = -1;
    assert_int_equal(nb_schedule_set_state(b, &st), NB_ERR_ARG);
    nb_ctx_free(ctx);
}

static void test_invalid_arguments(void **state) {
    (void)state;
    nb_ctx *ctx = nb_ctx_new();
    assert_null(nb_schedule_steplr(ctx, 0.1, 0, 0.5));
    assert_non_null(strstr(nb_error_message(ctx), "step_size"));
    nb_clear_error(ctx);
    assert_null(nb_schedule_cosine(ctx, 0.1, 0, 0.0));
    assert_non_null(strstr(nb_error_message(ctx), "T_max"));
    nb_clear_error(ctx);
    assert_null(nb_schedule_multistep(ctx, 0.1, (int64_t[]){5, 5}, 2, 0.1));
    assert_non_null(strstr(nb_error_message(ctx), "increasing"));
    nb_clear_error(ctx);
    assert_null(nb_schedule_constant(ctx, -1.0));
    assert_int_equal(nb_error(ctx), NB_ERR_ARG);
    nb_clear_error(ctx);
    nb_plateau_config c = nb_plateau_defaults();
    c.factor = 1.0;
    assert_null(nb_schedule_plateau(ctx, 0.1, &c));
    assert_non_null(strstr(nb_error_message(ctx), "factor"));
    nb_clear_error(ctx);
    nb_schedule *s = nb_schedule_constant(ctx, 0.1);
    assert_int_equal(nb_schedule_set_warmup(s, 5, 0.0), NB_ERR_ARG);
    assert_int_equal(nb_schedule_set_warmup(s, 5, 1.5), NB_ERR_ARG);
    nb_ctx_free(ctx);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_constant),
        cmocka_unit_test(test_golden_step),
        cmocka_unit_test(test_golden_multistep),
        cmocka_unit_test(test_golden_exponential),
        cmocka_unit_test(test_golden_cosine),
        cmocka_unit_test(test_golden_warmup),
        cmocka_unit_test(test_golden_plateau),
        cmocka_unit_test(test_warmup_then_plateau),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_invalid_arguments),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
