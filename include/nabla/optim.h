/* nabla/optim.h — optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) with
 * PyTorch's update rules, learning-rate schedules, gradient clipping and
 * non-finite detection. Included by nabla.h. */
#ifndef NABLA_OPTIM_H
#define NABLA_OPTIM_H

#include "nabla/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- optimizers -------------------------------------------------------------
 * An optimizer updates the parameters it was created over, each step, from
 * their ->grad, following torch.optim's single-tensor update rules in the
 * same order of float32 operations (per-step scalars such as bias
 * corrections are computed in double, as Python does, then rounded to float):
 *
 *   SGD      g += wd·p;  if momentum: buf = (first step) ? g : momentum·buf + (1-dampening)·g;
 *            g = nesterov ? g + momentum·buf : buf;  p -= lr·g
 *   Adam     g += wd·p (L2);  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
 *            v̂ = amsgrad ? (vmax = max(vmax, v)) : v;
 *            p -= lr/(1-β1^t) · m / (sqrt(v̂)/sqrt(1-β2^t) + eps)
 *   AdamW    p *= 1 - lr·wd (decoupled), then Adam without the L2 term
 *   RMSprop  g += wd·p;  s = α·s + (1-α)·g²;  centered: a = α·a + (1-α)·g, s̃ = s - a²;
 *            d = sqrt(s̃) + eps;  momentum: buf = momentum·buf + g/d, p -= lr·buf;
 *            else p -= lr·g/d
 *   Adagrad  g += wd·p;  clr = lr / (1 + (t-1)·lr_decay);  sum += g²;
 *            p -= clr · g / (sqrt(sum) + eps)   (sum starts at initial_accumulator_value)
 *
 * Memory: the optimizer and all its state live in the context of the first
 * parameter (arena memory, freed with nb_ctx_free; there is no separate free).
 * State buffers are allocated once at creation, as named tensors
 * ("optim.exp_avg.fc1.weight", ...) so checkpoints can save them; nb_optim_step
 * allocates nothing. Parameters whose grad is NULL are skipped. */
typedef enum nb_optim_kind {
    NB_OPTIM_SGD = 0,
    NB_OPTIM_ADAM = 1,
    NB_OPTIM_ADAMW = 2,
    NB_OPTIM_RMSPROP = 3,
    NB_OPTIM_ADAGRAD = 4,
} nb_optim_kind;

/* Hyper-parameters, named as in torch.optim. Fields an optimizer does not use
 * are ignored. Start from nb_optim_defaults(kind) (torch's defaults). */
typedef struct nb_optim_config {
    nb_optim_kind kind;
    double lr;
    double weight_decay;     /* all; decoupled for AdamW (default 1e-2 there) */
    double momentum;         /* SGD, RMSprop */
    double dampening;        /* SGD */
    int nesterov;            /* SGD: needs momentum > 0 and dampening == 0 */
    double beta1, beta2;     /* Adam, AdamW (0.9, 0.999) */
    double eps;              /* Adam/AdamW/RMSprop 1e-8, Adagrad 1e-10 */
    int amsgrad;             /* Adam, AdamW */
    double alpha;            /* RMSprop smoothing (0.99) */
    int centered;            /* RMSprop */
    double lr_decay;         /* Adagrad */
    double initial_accumulator_value; /* Adagrad */
} nb_optim_config;

typedef struct nb_optim nb_optim;

/* torch.optim's defaults for kind (lr 1e-3 for Adam/AdamW, 1e-2 otherwise). */
nb_optim_config nb_optim_defaults(nb_optim_kind kind);
/* An optimizer over params[0..n), which must be distinct tensors with grads
 * (NB_PARAM or requires-grad) and, for checkpoints, unique names. Validates
 * the config like torch (negative lr, betas outside [0,1), nesterov without
 * momentum, ...); NULL with the error recorded on params[0]->ctx. */
nb_optim *nb_optim_new(nb_tensor *const *params, int n, const nb_optim_config *cfg);
/* One update from the current gradients; NB_OK or an error status. */
int nb_optim_step(nb_optim *opt);
/* Zero every parameter's gradient, lazily as nb_graph_zero_grad does: each is
 * marked, and the next backward stores into it or clears it right before its
 * first writer (the step, clipping and checks see zeros for a marked one). */
void nb_optim_zero_grad(nb_optim *opt);
/* Learning rate for the following steps (e.g. from a schedule). */
void nb_optim_set_lr(nb_optim *opt, double lr);
double nb_optim_get_lr(const nb_optim *opt);
/* Steps taken so far (torch's state["step"]). */
int64_t nb_optim_num_steps(const nb_optim *opt);
const nb_optim_config *nb_optim_get_config(const nb_optim *opt);
const char *nb_optim_kind_name(nb_optim_kind kind); /* "sgd", "adam", ... */
/* The optimizer's state tensors, named "optim.<buffer>.<param name>"
 * (buffers: momentum_buffer, exp_avg, exp_avg_sq, max_exp_avg_sq,
 * square_avg, grad_avg, sum); what checkpoints save. */
int nb_optim_num_state(const nb_optim *opt);
nb_tensor *const *nb_optim_state(const nb_optim *opt);
/* Restore the step count (checkpoint loading); state tensors are written
 * directly through nb_optim_state. */
int nb_optim_set_num_steps(nb_optim *opt, int64_t steps);

/* ---- learning-rate schedules -------------------------------------------------
 * A schedule maps the number of scheduler steps taken so far, t, to a learning
 * rate, with torch.optim.lr_scheduler's closed forms:
 *   constant      base
 *   step          base · gamma^floor(t / step_size)
 *   multistep     base · gamma^(number of milestones <= t)
 *   exponential   base · gamma^t
 *   cosine        eta_min + (base - eta_min)·(1 + cos(pi·t/T_max))/2
 *   plateau       ReduceLROnPlateau: stateful, driven by a metric (below)
 * Linear warmup composes with any of them like torch's
 *   SequentialLR([LinearLR(start_factor, end_factor=1, total_iters=W), inner], milestones=[W]):
 * for t < W the rate is base·(start_factor + (1 - start_factor)·t/W); from t = W
 * on it is the inner schedule at t - W (the inner schedule starts counting when
 * warmup ends; for plateau, metrics passed during warmup are ignored).
 *
 * Typical loop (torch's order: the rate for step t is used, then the
 * scheduler advances):
 *     nb_optim_set_lr(opt, nb_schedule_get_lr(s));  nb_optim_step(opt);
 *     nb_schedule_step(s, val_loss);
 * Schedules live in the context's arena. */
typedef enum nb_schedule_kind {
    NB_SCHED_CONSTANT = 0,
    NB_SCHED_STEP = 1,
    NB_SCHED_MULTISTEP = 2,
    NB_SCHED_EXPONENTIAL = 3,
    NB_SCHED_COSINE = 4,
    NB_SCHED_PLATEAU = 5,
} nb_schedule_kind;

typedef struct nb_schedule nb_schedule;

/* ReduceLROnPlateau options (torch's names and defaults via
 * nb_plateau_defaults: mode min, factor 0.1, patience 10, threshold 1e-4
 * relative, cooldown 0, min_lr 0, eps 1e-8). A metric counts as better than
 * the best so far when (min, rel) m < best·(1-threshold); (min, abs)
 * m < best - threshold; (max, rel) m > best·(1+threshold); (max, abs)
 * m > best + threshold. After more than `patience` steps without
 * improvement (steps in cooldown do not count), lr = max(lr·factor, min_lr)
 * unless that changes it by less than eps, and `cooldown` steps follow. */
typedef struct nb_plateau_config {
    int mode_max;        /* 0: minimise the metric, 1: maximise */
    double factor;
    int64_t patience;
    double threshold;
    int threshold_abs;   /* 0: relative threshold (torch 'rel'), 1: 'abs' */
    int64_t cooldown;
    double min_lr;
    double eps;
} nb_plateau_config;
nb_plateau_config nb_plateau_defaults(void);

nb_schedule *nb_schedule_constant(nb_ctx *ctx, double base_lr);
nb_schedule *nb_schedule_steplr(nb_ctx *ctx, double base_lr, int64_t step_size, double gamma);
nb_schedule *nb_schedule_multistep(nb_ctx *ctx, double base_lr, const int64_t *milestones,
                                   int n, double gamma);   /* milestones increasing */
nb_schedule *nb_schedule_exponential(nb_ctx *ctx, double base_lr, double gamma);
nb_schedule *nb_schedule_cosine(nb_ctx *ctx, double base_lr, int64_t t_max, double eta_min);
nb_schedule *nb_schedule_plateau(nb_ctx *ctx, double base_lr, const nb_plateau_config *cfg);
/* Prepend linear warmup over `steps` scheduler steps from base·start_factor
 * (0 < start_factor <= 1). Call before the first nb_schedule_step. */
int nb_schedule_set_warmup(nb_schedule *s, int64_t steps, double start_factor);

/* The rate after t steps, for schedules whose rate depends on t only; for
 * plateau it is the warmup rate for t < W and the current rate otherwise. */
double nb_schedule_lr(const nb_schedule *s, int64_t t);
/* The rate for the current step. */
double nb_schedule_get_lr(const nb_schedule *s);
/* Advance one step; metric is used by plateau only. Returns the new rate. */
double nb_schedule_step(nb_schedule *s, double metric);
int64_t nb_schedule_num_steps(const nb_schedule *s);
nb_schedule_kind nb_schedule_get_kind(const nb_schedule *s);

/* Everything that changes while a schedule runs, for checkpoints. */
typedef struct nb_schedule_state {
    int64_t steps;            /* scheduler steps taken */
    double lr;                /* plateau: current rate */
    double best;              /* plateau */
    int64_t num_bad_epochs;   /* plateau */
    int64_t cooldown_counter; /* plateau */
} nb_schedule_state;
void nb_schedule_get_state(const nb_schedule *s, nb_schedule_state *st);
int nb_schedule_set_state(nb_schedule *s, const nb_schedule_state *st);

/* ---- gradient clipping --------------------------------------------------------
 * nb_clip_grad_norm: like torch.nn.utils.clip_grad_norm_ (L2): the global norm
 * of all gradients together is computed (in double), and if
 * clip = max_norm / (norm + 1e-6) is below 1 every gradient is multiplied by
 * it. Returns the norm before clipping, or -1 on an invalid argument (error
 * recorded on the first parameter's context). A non-finite norm is returned
 * as is and the gradients are left untouched (check it with isfinite, or use
 * nb_check_finite first). Parameters without grad are skipped. */
float nb_clip_grad_norm(nb_tensor *const *params, int n, float max_norm);
/* Clamp every gradient element into [-clip_value, clip_value]. */
int nb_clip_grad_value(nb_tensor *const *params, int n, float clip_value);

/* ---- non-finite detection -------------------------------------------------------
 * Scan loss (may be NULL) and then every parameter's gradient for NaN or Inf.
 * On the first one found, records NB_ERR_NONFINITE on ctx with the step, the
 * tensor's name and the index, e.g.
 *   "non-finite gradient at step 12: fc1.weight[3] = nan"
 * and returns NB_ERR_NONFINITE; otherwise NB_OK. The caller decides: stop,
 * or skip the update (nb_clear_error(ctx), nb_optim_zero_grad) and go on. */
int nb_check_finite(nb_ctx *ctx, int64_t step, const nb_tensor *loss,
                    nb_tensor *const *params, int n);

#ifdef __cplusplus
}
#endif
#endif
