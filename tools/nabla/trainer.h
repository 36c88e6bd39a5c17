/* trainer.h — the pieces of a `nabla train` loop that the classifier loop
 * (train.c) and the text loop (text.c) share: optimizer, schedule and resumable
 * checkpoint state, the output paths, and one parameter update. */
#ifndef NABLA_CLI_TRAINER_H
#define NABLA_CLI_TRAINER_H

#include <stdint.h>

#include "nabla.h"
#include "spec.h"

/* Builds a learning-rate schedule from the parsed --schedule (train.c's). */
struct sched_spec;
typedef nb_schedule *(*nbc_sched_builder)(nb_ctx *ctx, const struct sched_spec *sp, double lr,
                                          int64_t steps_per_epoch, int64_t total_steps, int64_t warmup);

/* The optimizer over net's parameters, its schedule, and `ck` naming all the
 * state a checkpoint saves (params, buffers, optimizer, schedule, the context's
 * rng); loads `resume` into it when not NULL (ck->step is 0 otherwise).
 * NBC_EXIT_OK, or NBC_EXIT_USAGE after one "nabla train: ..." line on stderr. */
int nbc_train_state_init(nb_ctx *ctx, const nbc_net *net, const nb_optim_config *ocfg, nbc_sched_builder build,
                         const struct sched_spec *sp, int64_t steps_per_epoch, int64_t total_steps, int64_t warmup,
                         const char *resume, nb_optim **opt, nb_schedule **sched, nb_checkpoint *ck);

/* Size of each buffer nbc_out_paths fills. */
#define NBC_OUT_PATH 4200

/* out_dir's model.safetensors, metrics.csv and curves.svg into buffers of
 * NBC_OUT_PATH bytes; NBC_EXIT_USAGE after a message when out_dir is too long. */
int nbc_out_paths(const char *out_dir, char *model, char *metrics, char *svg);

/* Clips the gradients to `clip` (when > 0), steps the optimizer and the
 * schedule, adding the seconds it took to *seconds unless that is NULL; -1
 * after "nabla train: optimizer step N: ..." (N = step + 1). */
int nbc_train_update(nb_ctx *ctx, nb_optim *opt, nb_schedule *sched, nb_tensor *const *params, int nparams,
                     double clip, int64_t step, double *seconds);

/* --profile: the training graph's per-op table and the optimizer's time per
 * step (opt_s seconds over `steps` updates, including clipping), on stderr. */
void nbc_print_profile(const nb_graph *g, double opt_s, int64_t steps);

/* The name of the first parameter holding a NaN or an infinity, or NULL. */
const char *nbc_nonfinite_param(nb_tensor *const *params, int nparams);

#endif
