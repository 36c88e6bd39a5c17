/* optim/optim.c — SGD, Adam, AdamW, RMSprop and Adagrad over a set of named
 * parameters: validation, state allocation (once, as named tensors in the
 * context arena) and the per-step scalar arithmetic in torch's order; the
 * element loops are in kernels/optim.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/engine.h"
#include "kernels/elementwise.h" /* NB__EW_PARALLEL_FOR */
#include "kernels/kernels.h"     /* nb__threads_for */
#include "kernels/optim.h"
#include "nabla/optim.h"

/* Per-parameter state buffers, by kind; NULL where an option is off. */
enum { SLOT_A, SLOT_B, SLOT_C, NSLOTS };

struct nb_optim {
    nb_ctx *ctx;
    nb_optim_config cfg;
    nb_tensor **params;
    int nparams;
    nb_tensor **slots[NSLOTS]; /* slots[k][i]: state k of param i, or NULL */
    nb_tensor **state;         /* every non-NULL slot, for checkpoints */
    int nstate;
    int64_t steps;
};

nb_optim_config nb_optim_defaults(nb_optim_kind kind) {
    nb_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = 1e-2;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    c.alpha = 0.99;
    switch (kind) {
    case NB_OPTIM_ADAM: c.lr = 1e-3; break;
    case NB_OPTIM_ADAMW: c.lr = 1e-3; c.weight_decay = 1e-2; break;
    case NB_OPTIM_ADAGRAD: c.eps = 1e-10; break;
    default: break;
    }
    return c;
}

const char *nb_optim_kind_name(nb_optim_kind kind) {
    switch (kind) {
    case NB_OPTIM_SGD: return "sgd";
    case NB_OPTIM_ADAM: return "adam";
    case NB_OPTIM_ADAMW: return "adamw";
    case NB_OPTIM_RMSPROP: return "rmsprop";
    case NB_OPTIM_ADAGRAD: return "adagrad";
    }
    return "unknown";
}

static int check_config(nb_ctx *ctx, const nb_optim_config *c) {
    const char *k = nb_optim_kind_name(c->kind);
    if (c->kind < NB_OPTIM_SGD || c->kind > NB_OPTIM_ADAGRAD)
        return nb__error(ctx, NB_ERR_ARG, "optim: unknown optimizer kind %d", (int)c->kind);
    if (!(c->lr >= 0.0) || !isfinite(c->lr))
        return nb__error(ctx, NB_ERR_ARG, "%s: invalid learning rate %g", k, c->lr);
    if (!(c->weight_decay >= 0.0) || !isfinite(c->weight_decay))
        return nb__error(ctx, NB_ERR_ARG, "%s: invalid weight_decay %g", k, c->weight_decay);
    switch (c->kind) {
    case NB_OPTIM_SGD:
        if (!(c->momentum >= 0.0))
            return nb__error(ctx, NB_ERR_ARG, "sgd: invalid momentum %g", c->momentum);
        if (c->nesterov && (c->momentum <= 0.0 || c->dampening != 0.0))
            return nb__error(ctx, NB_ERR_ARG,
                             "sgd: nesterov needs momentum > 0 and dampening 0 "
                             "(got momentum %g, dampening %g)", c->momentum, c->dampening);
        break;
    case NB_OPTIM_ADAM:
    case NB_OPTIM_ADAMW:
        if (!(c->beta1 >= 0.0 && c->beta1 < 1.0))
            return nb__error(ctx, NB_ERR_ARG, "%s: invalid beta1 %g (need 0 <= beta1 < 1)", k,
                             c->beta1);
        if (!(c->beta2 >= 0.0 && c->beta2 < 1.0))
            return nb__error(ctx, NB_ERR_ARG, "%s: invalid beta2 %g (need 0 <= beta2 < 1)", k,
                             c->beta2);
        if (!(c->eps >= 0.0))
            return nb__error(ctx, NB_ERR_ARG, "%s: invalid eps %g", k, c->eps);
        break;
    case NB_OPTIM_RMSPROP:
        if (!(c->alpha >= 0.0))
            return nb__error(ctx, NB_ERR_ARG, "rmsprop: invalid alpha %g", c->alpha);
        if (!(c->eps >= 0.0))
            return nb__error(ctx, NB_ERR_ARG, "rmsprop: invalid eps %g", c->eps);
        if (!(c->momentum >= 0.0))
            return nb__error(ctx, NB_ERR_ARG, "rmsprop: invalid momentum %g", c->momentum);
        break;
    case NB_OPTIM_ADAGRAD:
        if (!(c->lr_decay >= 0.0))
            return nb__error(ctx, NB_ERR_ARG, "adagrad: invalid lr_decay %g", c->lr_decay);
        if (!(c->initial_accumulator_value >= 0.0))
            return nb__error(ctx, NB_ERR_ARG, "adagrad: invalid initial_accumulator_value %g",
                             c->initial_accumulator_value);
        if (!(c->eps >= 0.0))
            return nb__error(ctx, NB_ERR_ARG, "adagrad: invalid eps %g", c->eps);
        break;
    }
    return NB_OK;
}

/* The names of the state buffers each kind keeps, per slot (NULL: unused). */
static void slot_names(const nb_optim_config *c, const char *names[NSLOTS]) {
    names[SLOT_A] = names[SLOT_B] = names[SLOT_C] = NULL;
    switch (c->kind) {
    case NB_OPTIM_SGD:
        if (c->momentum != 0.0) names[SLOT_A] = "momentum_buffer";
        break;
    case NB_OPTIM_ADAM:
    case NB_OPTIM_ADAMW:
        names[SLOT_A] = "exp_avg";
        names[SLOT_B] = "exp_avg_sq";
        if (c->amsgrad) names[SLOT_C] = "max_exp_avg_sq";
        break;
    case NB_OPTIM_RMSPROP:
        names[SLOT_A] = "square_avg";
        if (c->centered) names[SLOT_B] = "grad_avg";
        if (c->momentum > 0.0) names[SLOT_C] = "momentum_buffer";
        break;
    case NB_OPTIM_ADAGRAD:
        names[SLOT_A] = "sum";
        break;
    }
}

nb_optim *nb_optim_new(nb_tensor *const *params, int n, const nb_optim_config *cfg) {
    if (!params || n <= 0 || !params[0]) return NULL;
    nb_ctx *ctx = params[0]->ctx;
    if (!ctx || nb_error(ctx)) return NULL;
    if (!cfg) {
        nb__error(ctx, NB_ERR_NULL, "optim: config is NULL");
        return NULL;
    }
    if (check_config(ctx, cfg)) return NULL;
    const char *kname = nb_optim_kind_name(cfg->kind);
    for (int i = 0; i < n; i++) {
        const nb_tensor *p = params[i];
        if (!p) {
            nb__error(ctx, NB_ERR_NULL, "%s: parameter %d is NULL", kname, i);
            return NULL;
        }
        if (p->ctx != ctx) {
            nb__error(ctx, NB_ERR_ARG, "%s: parameter %d ('%s') belongs to another context",
                      kname, i, p->name ? p->name : "?");
            return NULL;
        }
        if (!p->grad) {
            nb__error(ctx, NB_ERR_ARG, "%s: parameter %d ('%s') has no gradient buffer", kname,
                      i, p->name ? p->name : "?");
            return NULL;
        }
        for (int j = 0; j < i; j++) {
            if (params[j] == p) {
                nb__error(ctx, NB_ERR_ARG, "%s: parameter %d ('%s') is listed twice", kname, i,
                          p->name ? p->name : "?");
                return NULL;
            }
        }
    }
    nb_optim *o = nb__alloc(ctx, sizeof *o);
    if (!o) return NULL;
    o->ctx = ctx;
    o->cfg = *cfg;
    o->nparams = n;
    o->params = nb__alloc(ctx, (size_t)n * sizeof *o->params);
    o->state = nb__alloc(ctx, (size_t)n * NSLOTS * sizeof *o->state);
    if (!o->params || !o->state) return NULL;
    memcpy(o->params, params, (size_t)n * sizeof *o->params);
    const char *names[NSLOTS];
    slot_names(cfg, names);
    for (int k = 0; k < NSLOTS; k++) {
        if (!names[k]) continue;
        o->slots[k] = nb__alloc(ctx, (size_t)n * sizeof *o->slots[k]);
        if (!o->slots[k]) return NULL;
        for (int i = 0; i < n; i++) {
            const nb_tensor *p = params[i];
            nb_tensor *s = nb_tensor_new(ctx, p->ndim, p->shape);
            if (!s) return NULL;
            char buf[512];
            snprintf(buf, sizeof buf, "optim.%s.%s", names[k], p->name ? p->name : "?");
            if (p->name && strlen(p->name) + strlen(names[k]) + 8 >= sizeof buf) {
                nb__error(ctx, NB_ERR_ARG, "%s: parameter name too long: '%.40s...'", kname,
                          p->name);
                return NULL;
            }
            if (nb_tensor_set_name(s, buf)) return NULL;
            if (cfg->kind == NB_OPTIM_ADAGRAD)
                nb_tensor_fill(s, (float)cfg->initial_accumulator_value);
            o->slots[k][i] = s;
            o->state[o->nstate++] = s;
        }
    }
    return o;
}

/* Elements [lo, lo + n) of parameter i, step t. Every rule is elementwise,
 * and its loops give the same bits for any split of a tensor (optim_loops.h),
 * so the step does not depend on the thread count. */
static void update_range(const nb_optim *o, int i, int64_t lo, int64_t n, int64_t t) {
    const nb_optim_config *c = &o->cfg;
    nb_tensor *p = o->params[i];
    const float wd = (float)c->weight_decay;
    float *pd = p->data + lo;
    const float *g = p->grad + lo;
    float *sa = o->slots[SLOT_A] ? o->slots[SLOT_A][i]->data + lo : NULL;
    float *sb = o->slots[SLOT_B] ? o->slots[SLOT_B][i]->data + lo : NULL;
    float *sc = o->slots[SLOT_C] ? o->slots[SLOT_C][i]->data + lo : NULL;
    switch (c->kind) {
    case NB_OPTIM_SGD:
        nb_k_sgd(pd, g, sa, n, (float)(-c->lr), wd, (float)c->momentum,
                 (float)(1.0 - c->dampening), c->nesterov, t == 1);
        break;
    case NB_OPTIM_ADAM:
    case NB_OPTIM_ADAMW: {
        int decoupled = c->kind == NB_OPTIM_ADAMW;
        double bc1 = 1.0 - pow(c->beta1, (double)t);
        double bc2 = 1.0 - pow(c->beta2, (double)t);
        double b = sqrt(bc2); /* both scaled by b: see nb_k_adam */
        nb_k_adam(pd, g, sa, sb, sc, n, decoupled ? 0.0f : wd,
                  decoupled ? (float)(1.0 - c->lr * c->weight_decay) : 1.0f, (float)c->beta1,
                  (float)(1.0 - c->beta1), (float)c->beta2, (float)(1.0 - c->beta2),
                  (float)(c->eps * b), (float)(-c->lr * b / bc1));
        break;
    }
    case NB_OPTIM_RMSPROP:
        nb_k_rmsprop(pd, g, sa, sb, sc, n, wd, (float)c->alpha, (float)(1.0 - c->alpha),
                     (float)c->eps, (float)c->momentum, (float)(-c->lr));
        break;
    case NB_OPTIM_ADAGRAD: {
        double clr = c->lr / (1.0 + (double)(t - 1) * c->lr_decay);
        nb_k_adagrad(pd, g, sa, n, wd, (float)c->eps, (float)(-clr));
        break;
    }
    }
}

/* Each of nt threads updates its share of every tensor (16-float units, so
 * no two threads write one cache line). A function of its own, kept out of
 * line: with clang, a function holding an OpenMP construct enters the OpenMP
 * runtime on every call (its first call allocates), and the one-thread step
 * must not. */
static __attribute__((noinline)) void step_shares(const nb_optim *o, int64_t t, int nt) {
    NB__EW_PARALLEL_FOR(th, nt, {
        for (int i = 0; i < o->nparams; i++) {
            const nb_tensor *p = o->params[i];
            if (!p->grad) continue;
            const int64_t per = ((p->size + nt - 1) / nt + 15) / 16 * 16;
            const int64_t lo = per * th < p->size ? per * th : p->size;
            const int64_t hi = lo + per < p->size ? lo + per : p->size;
            if (hi > lo) update_range(o, i, lo, hi - lo, t);
        }
    });
}

int nb_optim_step(nb_optim *o) {
    if (!o) return NB_ERR_NULL;
    if (nb_error(o->ctx)) return nb_error(o->ctx);
    const int64_t t = ++o->steps;
    int64_t total = 0;
    for (int i = 0; i < o->nparams; i++) {
        nb_tensor_grad_settle(o->params[i]); /* zeroed but no backward since */
        if (o->params[i]->grad) total += o->params[i]->size;
    }
    /* A step is memory-bound (Adam moves 28 bytes per parameter): threads
     * only above a threshold. */
    const int nt = nb__threads_for((double)total * 4.0, NB_EW_MIN_PER_THREAD);
    if (nt > 1) {
        step_shares(o, t, nt);
        return NB_OK;
    }
    for (int i = 0; i < o->nparams; i++)
        if (o->params[i]->grad) update_range(o, i, 0, o->params[i]->size, t);
    return NB_OK;
}

void nb_optim_zero_grad(nb_optim *o) {
    if (!o) return;
    for (int i = 0; i < o->nparams; i++) {
        nb_tensor *p = o->params[i];
        if (p->grad) p->grad_stale = 1; /* see nb_graph_zero_grad */
    }
}

void nb_optim_set_lr(nb_optim *o, double lr) {
    if (o) o->cfg.lr = lr;
}
double nb_optim_get_lr(const nb_optim *o) { return o ? o->cfg.lr : 0.0; }
int64_t nb_optim_num_steps(const nb_optim *o) { return o ? o->steps : 0; }
const nb_optim_config *nb_optim_get_config(const nb_optim *o) { return o ? &o->cfg : NULL; }
int nb_optim_num_state(const nb_optim *o) { return o ? o->nstate : 0; }
nb_tensor *const *nb_optim_state(const nb_optim *o) { return o ? o->state : NULL; }

int nb_optim_set_num_steps(nb_optim *o, int64_t steps) {
    if (!o) return NB_ERR_NULL;
    if (steps < 0)
        return nb__error(o->ctx, NB_ERR_ARG, "%s: negative step count %lld",
                         nb_optim_kind_name(o->cfg.kind), (long long)steps);
    o->steps = steps;
    return NB_OK;
}
