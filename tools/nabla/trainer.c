/* trainer.c — training-loop pieces shared by `nabla train` for classifiers
 * (train.c) and text models (text.c); see trainer.h. Both loops print the same
 * messages and exit codes through these, so they stay alike by construction. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "report.h" /* nbc_now */
#include "trainer.h"

int nbc_train_state_init(nb_ctx *ctx, const nbc_net *net, const nb_optim_config *ocfg, nbc_sched_builder build,
                         const struct sched_spec *sp, int64_t steps_per_epoch, int64_t total_steps, int64_t warmup,
                         const char *resume, nb_optim **opt, nb_schedule **sched, nb_checkpoint *ck) {
    nb_tensor *const *params = nb_model_params(net->model);
    const int nparams = nb_model_num_params(net->model);
    *opt = nb_optim_new(params, nparams, ocfg);
    *sched = *opt ? build(ctx, sp, ocfg->lr, steps_per_epoch, total_steps, warmup) : NULL;
    if (!*opt || !*sched) {
        fprintf(stderr, "nabla train: %s\n", nb_error_message(ctx));
        return NBC_EXIT_USAGE;
    }
    memset(ck, 0, sizeof *ck);
    ck->params = params;
    ck->nparams = nparams;
    ck->buffers = nb_model_buffers(net->model);
    ck->nbuffers = nb_model_num_buffers(net->model);
    ck->optim = *opt;
    ck->schedule = *sched;
    ck->rng = nb_ctx_rng(ctx);
    if (resume && nb_checkpoint_load(ctx, resume, ck)) {
        fprintf(stderr, "nabla train: --resume: %s\n", nb_error_message(ctx));
        return NBC_EXIT_USAGE;
    }
    return NBC_EXIT_OK;
}

int nbc_out_paths(const char *out_dir, char *model, char *metrics, char *svg) {
    /* leaves room for the longest file name, so snprintf never truncates */
    if (strlen(out_dir) > 4000) {
        fprintf(stderr, "nabla train: --out: path too long\n");
        return NBC_EXIT_USAGE;
    }
    snprintf(model, NBC_OUT_PATH, "%s/model.safetensors", out_dir);
    snprintf(metrics, NBC_OUT_PATH, "%s/metrics.csv", out_dir);
    snprintf(svg, NBC_OUT_PATH, "%s/curves.svg", out_dir);
    return NBC_EXIT_OK;
}

int nbc_train_update(nb_ctx *ctx, nb_optim *opt, nb_schedule *sched, nb_tensor *const *params, int nparams,
                     double clip, int64_t step, double *seconds) {
    const double t0 = seconds ? nbc_now() : 0.0;
    if (clip > 0.0) nb_clip_grad_norm(params, nparams, (float)clip);
    if (nb_optim_step(opt)) {
        fprintf(stderr, "nabla train: optimizer step %lld: %s\n", (long long)step + 1, nb_error_message(ctx));
        return -1;
    }
    nb_schedule_step(sched, 0.0);
    if (seconds) *seconds += nbc_now() - t0;
    return 0;
}

const char *nbc_nonfinite_param(nb_tensor *const *params, int nparams) {
    for (int i = 0; i < nparams; i++)
        for (int64_t j = 0; j < params[i]->size; j++)
            if (!isfinite(params[i]->data[j])) return params[i]->name;
    return NULL;
}

void nbc_print_profile(const nb_graph *g, double opt_s, int64_t steps) {
    if (nb_graph_profile_report(g, stderr) == NB_OK && steps > 0)
        fprintf(stderr, "optimizer (outside the graph): %.3f ms per step over %lld steps\n",
                1e3 * opt_s / (double)steps, (long long)steps);
}
