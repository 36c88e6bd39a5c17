/* dist_cli_compare.c — compares every tensor of two safetensors files (weights
 * and optimizer state of two `nabla train` checkpoints) for the data-parallel
 * CLI tests: the largest |a - b| per tensor relative to the tensor's largest
 * |a|. Usage: dist_cli_compare A B TOL; exit 0 when all are within TOL. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla.h"

static nb_tensor **load(nb_ctx *ctx, const char *path, const nb_safetensors_info *info) {
    nb_tensor **t = calloc((size_t)info->ntensors + 1, sizeof *t);
    if (!t) return NULL;
    for (int i = 0; i < info->ntensors; i++) {
        t[i] = nb_tensor_new(ctx, info->tensors[i].ndim, info->tensors[i].shape);
        if (!t[i] || nb_tensor_set_name(t[i], info->tensors[i].name)) return free(t), NULL;
    }
    if (nb_safetensors_load(ctx, path, t, info->ntensors, 0)) return free(t), NULL;
    return t;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: dist_cli_compare A B TOL\n");
        return 2;
    }
    double tol = atof(argv[3]);
    nb_ctx *ctx = nb_ctx_new();
    nb_safetensors_info info = {0};
    nb_tensor **a = NULL, **b = NULL;
    if (!ctx || nb_safetensors_read_info(ctx, argv[1], &info) || !(a = load(ctx, argv[1], &info)) ||
        !(b = load(ctx, argv[2], &info))) {
        fprintf(stderr, "dist_cli_compare: %s\n", ctx ? nb_error_message(ctx) : "out of memory");
        return 2;
    }
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < info.ntensors; i++) {
        double amax = 0.0, dmax = 0.0;
        for (int64_t j = 0; j < a[i]->size; j++) {
            double x = a[i]->data[j], y = b[i]->data[j];
            if (!isfinite(x) || !isfinite(y)) dmax = INFINITY;
            if (fabs(x) > amax) amax = fabs(x);
            if (fabs(x - y) > dmax) dmax = fabs(x - y);
        }
        double rel = dmax / (amax > 1e-30 ? amax : 1e-30);
        if (!(rel <= worst)) {
            worst = rel;
            worst_name = info.tensors[i].name;
        }
    }
    printf("%d tensors; largest relative difference %.3g (%s), tolerance %g\n", info.ntensors, worst, worst_name, tol);
    int rc = worst <= tol ? 0 : 1;
    free(a);
    free(b);
    nb_safetensors_info_free(&info);
    nb_ctx_free(ctx);
    return rc;
}
