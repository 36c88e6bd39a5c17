/* fuzz/fuzz_safetensors.c — libFuzzer target for the safetensors reader and
 * checkpoint loader: every input is written to a file and loaded into a small
 * model with an optimizer, schedule and RNG; loading must fail cleanly or
 * succeed, never crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nabla.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/nabla_fuzz_st_%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (size) fwrite(data, 1, size, f);
    fclose(f);

    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *p[2] = {nb_param_new(ctx, "w", 2, (int64_t[]){2, 3}),
                       nb_param_new(ctx, "b", 1, (int64_t[]){3})};
    nb_optim_config c = nb_optim_defaults(NB_OPTIM_ADAM);
    nb_optim *opt = nb_optim_new(p, 2, &c);
    nb_schedule *s = nb_schedule_cosine(ctx, 1e-3, 10, 0.0);
    nb_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.params = p;
    ck.nparams = 2;
    ck.optim = opt;
    ck.schedule = s;
    ck.rng = nb_ctx_rng(ctx);
    nb_checkpoint_load(ctx, path, &ck);
    nb_clear_error(ctx);
    nb_safetensors_load(ctx, path, p, 2, 1);
    nb_ctx_free(ctx);
    return 0;
}
