/* optim/schedule.c — learning-rate schedules with torch.optim.lr_scheduler's
 * closed forms, linear warmup in front of any of them (SequentialLR of
 * LinearLR and the inner schedule), and ReduceLROnPlateau's state machine. */
#include <math.h>
#include <string.h>

#include "core/engine.h"
#include "nabla/optim.h"

#define NB_SCHED_MAX_MILESTONES 64

struct nb_schedule {
    nb_ctx *ctx;
    nb_schedule_kind kind;
    double base_lr;
    int64_t step_size;   /* step */
    double gamma;        /* step, multistep, exponential */
    int64_t milestones[NB_SCHED_MAX_MILESTONES];
    int nmilestones;
    int64_t t_max;       /* cosine */
    double eta_min;
    nb_plateau_config plateau;
    int64_t warmup;      /* 0: none */
    double warmup_start;
    nb_schedule_state st;
};

nb_plateau_config nb_plateau_defaults(void) {
    nb_plateau_config c;
    memset(&c, 0, sizeof c);
    c.factor = 0.1;
    c.patience = 10;
    c.threshold = 1e-4;
    c.eps = 1e-8;
    return c;
}

static nb_schedule *sched_new(nb_ctx *ctx, nb_schedule_kind kind, double base_lr,
                              const char *name) {
    if (!ctx || nb_error(ctx)) return NULL;
    if (!(base_lr >= 0.0) || !isfinite(base_lr)) {
        nb__error(ctx, NB_ERR_ARG, "schedule %s: invalid base learning rate %g", name, base_lr);
        return NULL;
    }
    nb_schedule *s = nb__alloc(ctx, sizeof *s);
    if (!s) return NULL;
    s->ctx = ctx;
    s->kind = kind;
    s->base_lr = base_lr;
    s->gamma = 1.0;
    s->st.lr = base_lr;
    s->st.best = INFINITY;
    return s;
}

nb_schedule *nb_schedule_constant(nb_ctx *ctx, double base_lr) {
    return sched_new(ctx, NB_SCHED_CONSTANT, base_lr, "constant");
}

nb_schedule *nb_schedule_steplr(nb_ctx *ctx, double base_lr, int64_t step_size, double gamma) {
    if (ctx && !nb_error(ctx) && step_size <= 0) {
        nb__error(ctx, NB_ERR_ARG, "schedule step: step_size must be positive, got %lld",
                  (long long)step_size);
        return NULL;
    }
    nb_schedule *s = sched_new(ctx, NB_SCHED_STEP, base_lr, "step");
    if (s) {
        s->step_size = step_size;
        s->gamma = gamma;
    }
    return s;
}

nb_schedule *nb_schedule_multistep(nb_ctx *ctx, double base_lr, const int64_t *milestones,
                                   int n, double gamma) {
    if (!ctx || nb_error(ctx)) return NULL;
    if (n < 0 || n > NB_SCHED_MAX_MILESTONES || (n > 0 && !milestones)) {
        nb__error(ctx, NB_ERR_ARG, "schedule multistep: %d milestones (at most %d)", n,
                  NB_SCHED_MAX_MILESTONES);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (milestones[i] < 0 || (i > 0 && milestones[i] <= milestones[i - 1])) {
            nb__error(ctx, NB_ERR_ARG,
                      "schedule multistep: milestones must be non-negative and increasing "
                      "(milestone %d is %lld)", i, (long long)milestones[i]);
            return NULL;
        }
    }
    nb_schedule *s = sched_new(ctx, NB_SCHED_MULTISTEP, base_lr, "multistep");
    if (s) {
        if (n) memcpy(s->milestones, milestones, (size_t)n * sizeof *milestones);
        s->nmilestones = n;
        s->gamma = gamma;
    }
    return s;
}

nb_schedule *nb_schedule_exponential(nb_ctx *ctx, double base_lr, double gamma) {
    nb_schedule *s = sched_new(ctx, NB_SCHED_EXPONENTIAL, base_lr, "exponential");
    if (s) s->gamma = gamma;
    return s;
}

nb_schedule *nb_schedule_cosine(nb_ctx *ctx, double base_lr, int64_t t_max, double eta_min) {
    if (ctx && !nb_error(ctx) && t_max <= 0) {
        nb__error(ctx, NB_ERR_ARG, "schedule cosine: T_max must be positive, got %lld",
                  (long long)t_max);
        return NULL;
    }
    nb_schedule *s = sched_new(ctx, NB_SCHED_COSINE, base_lr, "cosine");
    if (s) {
        s->t_max = t_max;
        s->eta_min = eta_min;
    }
    return s;
}

nb_schedule *nb_schedule_plateau(nb_ctx *ctx, double base_lr, const nb_plateau_config *cfg) {
    if (!ctx || nb_error(ctx)) return NULL;
    nb_plateau_config c = cfg ? *cfg : nb_plateau_defaults();
    if (!(c.factor >= 0.0 && c.factor < 1.0)) {
        nb__error(ctx, NB_ERR_ARG, "schedule plateau: factor must be in [0, 1), got %g",
                  c.factor);
        return NULL;
    }
    if (c.patience < 0 || c.cooldown < 0 || !(c.min_lr >= 0.0) || !(c.threshold >= 0.0)) {
        nb__error(ctx, NB_ERR_ARG,
                  "schedule plateau: patience %lld, cooldown %lld, min_lr %g, threshold %g "
                  "must be non-negative", (long long)c.patience, (long long)c.cooldown,
                  c.min_lr, c.threshold);
        return NULL;
    }
    nb_schedule *s = sched_new(ctx, NB_SCHED_PLATEAU, base_lr, "plateau");
    if (s) {
        s->plateau = c;
        s->st.best = c.mode_max ? -INFINITY : INFINITY;
    }
    return s;
}

int nb_schedule_set_warmup(nb_schedule *s, int64_t steps, double start_factor) {
    if (!s) return NB_ERR_NULL;
    if (steps < 0 || (steps > 0 && !(start_factor > 0.0 && start_factor <= 1.0)))
        return nb__error(s->ctx, NB_ERR_ARG,
                         "schedule warmup: need steps >= 0 and 0 < start_factor <= 1, got "
                         "%lld and %g", (long long)steps, start_factor);
    if (s->st.steps != 0)
        return nb__error(s->ctx, NB_ERR_STATE,
                         "schedule warmup: must be set before the first step (at step %lld)",
                         (long long)s->st.steps);
    s->warmup = steps;
    s->warmup_start = start_factor;
    return NB_OK;
}

/* The inner schedule's rate after t of its own steps. */
static double inner_lr(const nb_schedule *s, int64_t t) {
    switch (s->kind) {
    case NB_SCHED_CONSTANT: return s->base_lr;
    case NB_SCHED_STEP: return s->base_lr * pow(s->gamma, (double)(t / s->step_size));
    case NB_SCHED_MULTISTEP: {
        int k = 0;
        while (k < s->nmilestones && s->milestones[k] <= t) k++;
        return s->base_lr * pow(s->gamma, (double)k);
    }
    case NB_SCHED_EXPONENTIAL: return s->base_lr * pow(s->gamma, (double)t);
    case NB_SCHED_COSINE: {
        const double pi = 3.14159265358979323846;
        return s->eta_min + (s->base_lr - s->eta_min) *
                                (1.0 + cos(pi * (double)t / (double)s->t_max)) / 2.0;
    }
    case NB_SCHED_PLATEAU: return s->st.lr;
    }
    return s->base_lr;
}

double nb_schedule_lr(const nb_schedule *s, int64_t t) {
    if (!s) return 0.0;
    if (t < 0) t = 0;
    if (t < s->warmup)
        return s->base_lr *
               (s->warmup_start + (1.0 - s->warmup_start) * (double)t / (double)s->warmup);
    return inner_lr(s, t - s->warmup);
}

double nb_schedule_get_lr(const nb_schedule *s) { return s ? nb_schedule_lr(s, s->st.steps) : 0.0; }

/* torch's ReduceLROnPlateau.step(metric) */
static void plateau_step(nb_schedule *s, double m) {
    const nb_plateau_config *c = &s->plateau;
    nb_schedule_state *st = &s->st;
    double best = st->best;
    int better;
    if (!c->mode_max)
        better = c->threshold_abs ? m < best - c->threshold : m < best * (1.0 - c->threshold);
    else
        better = c->threshold_abs ? m > best + c->threshold : m > best * (c->threshold + 1.0);
    if (better) {
        st->best = m;
        st->num_bad_epochs = 0;
    } else {
        st->num_bad_epochs++;
    }
    if (st->cooldown_counter > 0) {
        st->cooldown_counter--;
        st->num_bad_epochs = 0;
    }
    if (st->num_bad_epochs > c->patience) {
        double old = st->lr;
        double lr = old * c->factor;
        if (lr < c->min_lr) lr = c->min_lr;
        if (old - lr > c->eps) st->lr = lr;
        st->cooldown_counter = c->cooldown;
        st->num_bad_epochs = 0;
    }
}

double nb_schedule_step(nb_schedule *s, double metric) {
    if (!s) return 0.0;
    s->st.steps++;
    /* metrics seen during warmup are not the inner schedule's business */
    if (s->kind == NB_SCHED_PLATEAU && s->st.steps > s->warmup) plateau_step(s, metric);
    return nb_schedule_get_lr(s);
}

int64_t nb_schedule_num_steps(const nb_schedule *s) { return s ? s->st.steps : 0; }
nb_schedule_kind nb_schedule_get_kind(const nb_schedule *s) {
    return s ? s->kind : NB_SCHED_CONSTANT;
}

void nb_schedule_get_state(const nb_schedule *s, nb_schedule_state *st) {
    if (s && st) *st = s->st;
}

int nb_schedule_set_state(nb_schedule *s, const nb_schedule_state *st) {
    if (!s || !st) return NB_ERR_NULL;
    if (st->steps < 0 || st->num_bad_epochs < 0 || st->cooldown_counter < 0 ||
        !(st->lr >= 0.0) || isnan(st->best))
        return nb__error(s->ctx, NB_ERR_ARG,
                         "schedule: invalid state (steps %lld, lr %g, best %g, bad epochs %lld, "
                         "cooldown %lld)", (long long)st->steps, st->lr, st->best,
                         (long long)st->num_bad_epochs, (long long)st->cooldown_counter);
    s->st = *st;
    return NB_OK;
}
