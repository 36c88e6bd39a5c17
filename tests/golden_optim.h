/* tests/golden_optim.h — reading the option strings of the optimizer and
 * schedule fixtures (tests/data/golden/optim.txt, schedules.txt, written by
 * tests/gen/gen_golden_optim.py: "key=value key=value ...") and building the
 * schedule a fixture line describes. Shared by test_optim.c and
 * test_schedule.c. */
#ifndef NBT_GOLDEN_OPTIM_H
#define NBT_GOLDEN_OPTIM_H

#include "test_util.h"

/* Value of key in a "k=v k=v" option string (copied into buf), or NULL. */
static inline const char *opt_get(const char *opts, const char *key, char *buf, size_t len) {
    size_t k = strlen(key);
    const char *p = opts;
    while ((p = strstr(p, key)) != NULL) {
        if ((p == opts || p[-1] == ' ') && p[k] == '=') {
            const char *v = p + k + 1;
            size_t n = strcspn(v, " \n");
            if (n >= len) n = len - 1;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return buf;
        }
        p += k;
    }
    return NULL;
}
static inline double opt_num(const char *opts, const char *key, double dflt) {
    char buf[128];
    return opt_get(opts, key, buf, sizeof buf) ? strtod(buf, NULL) : dflt;
}

/* The schedule named by opts' "sched" key (with its options, and warmup when
 * "warmup" is given) at base rate base; NULL when opts name no schedule. */
static inline nb_schedule *schedule_from(nb_ctx *ctx, const char *opts, double base) {
    char kind[64];
    if (!opt_get(opts, "sched", kind, sizeof kind)) return NULL;
    nb_schedule *s = NULL;
    if (!strcmp(kind, "constant")) s = nb_schedule_constant(ctx, base);
    else if (!strcmp(kind, "step"))
        s = nb_schedule_steplr(ctx, base, (int64_t)opt_num(opts, "step_size", 1),
                               opt_num(opts, "gamma", 0.1));
    else if (!strcmp(kind, "exponential"))
        s = nb_schedule_exponential(ctx, base, opt_num(opts, "gamma", 0.1));
    else if (!strcmp(kind, "cosine"))
        s = nb_schedule_cosine(ctx, base, (int64_t)opt_num(opts, "t_max", 1),
                               opt_num(opts, "eta_min", 0));
    else if (!strcmp(kind, "multistep")) {
        char buf[256];
        int64_t ms[16];
        int n = 0;
        assert_non_null(opt_get(opts, "milestones", buf, sizeof buf));
        for (char *p = buf; *p && n < 16;) {
            ms[n++] = strtoll(p, &p, 10);
            if (*p == ',') p++;
        }
        s = nb_schedule_multistep(ctx, base, ms, n, opt_num(opts, "gamma", 0.1));
    } else if (!strcmp(kind, "plateau")) {
        nb_plateau_config c = nb_plateau_defaults();
        c.mode_max = (int)opt_num(opts, "mode_max", 0);
        c.threshold_abs = (int)opt_num(opts, "threshold_abs", 0);
        c.factor = opt_num(opts, "factor", c.factor);
        c.patience = (int64_t)opt_num(opts, "patience", (double)c.patience);
        c.threshold = opt_num(opts, "threshold", c.threshold);
        c.cooldown = (int64_t)opt_num(opts, "cooldown", 0);
        c.min_lr = opt_num(opts, "min_lr", 0);
        s = nb_schedule_plateau(ctx, base, &c);
    } else {
        fail_msg("unknown schedule '%s'", kind);
    }
    assert_non_null(s);
    NBT_ASSERT_OK(ctx);
    int64_t w = (int64_t)opt_num(opts, "warmup", 0);
    if (w) assert_int_equal(nb_schedule_set_warmup(s, w, opt_num(opts, "start_factor", 1)), NB_OK);
    return s;
}

#endif
