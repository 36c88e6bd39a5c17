/* optim/dist_stub.c — nabla/dist.h in a build without MPI: rank 0 of 1, and
 * every function that would communicate reports NB_ERR_STATE. (With MPI the
 * real implementation is src/dist/dist.c and this file compiles to nothing.) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/engine.h"

#ifndef NABLA_HAVE_MPI

#define NO_MPI "built without MPI (install Open MPI and reconfigure with -DNABLA_MPI=ON)"

static int no_mpi(char *err, size_t errlen) {
    if (err && errlen) snprintf(err, errlen, "dist: %s", NO_MPI);
    return NB_ERR_STATE;
}

int nb_dist_available(void) { return 0; }
int nb_dist_init(int *argc, char ***argv, char *err, size_t errlen) {
    (void)argc, (void)argv;
    return no_mpi(err, errlen);
}
int nb_dist_finalize(void) { return NB_ERR_STATE; }
int nb_dist_rank(void) { return 0; }
int nb_dist_size(void) { return 1; }

void nb_dist_abort(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nabla: rank 0: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(code ? code : 1);
}

nb_dist *nb_dist_new(nb_tensor *const *params, int n, size_t bucket_bytes) {
    (void)bucket_bytes;
    if (params && n > 0 && params[0]) nb__error(params[0]->ctx, NB_ERR_STATE, "dist_new: " NO_MPI);
    return NULL;
}
void nb_dist_free(nb_dist *d) { (void)d; }
int nb_dist_set_weight(nb_dist *d, int64_t local, int64_t global) {
    (void)d, (void)local, (void)global;
    return NB_ERR_STATE;
}
int nb_dist_set_reduction(nb_dist *d, nb_dist_reduction mode) {
    (void)d, (void)mode;
    return NB_ERR_STATE;
}
int nb_dist_attach(nb_dist *d, nb_graph *g) {
    (void)d, (void)g;
    return NB_ERR_STATE;
}
int nb_dist_sync_grads(nb_dist *d) {
    (void)d;
    return NB_ERR_STATE;
}
int nb_dist_num_buckets(const nb_dist *d) {
    (void)d;
    return 0;
}
int nb_dist_num_started(const nb_dist *d) {
    (void)d;
    return 0;
}
double nb_dist_comm_seconds(const nb_dist *d) {
    (void)d;
    return 0.0;
}
int nb_dist_broadcast(void *buf, size_t bytes, int root) {
    (void)buf, (void)bytes, (void)root;
    return NB_ERR_STATE;
}
int nb_dist_broadcast_tensors(nb_tensor *const *t, int n, int root) {
    (void)t, (void)n, (void)root;
    return NB_ERR_STATE;
}
int nb_dist_sum(double *buf, int n) {
    (void)buf, (void)n;
    return NB_ERR_STATE;
}
int nb_dist_install_allsum(nb_ctx *ctx) {
    return ctx ? NB_ERR_STATE : NB_ERR_NULL;
}
int nb_dist_check(const char *what, uint64_t hash, double timeout_s, char *err, size_t errlen) {
    (void)what, (void)hash, (void)timeout_s;
    return no_mpi(err, errlen);
}

#else
typedef int nb__dist_stub_unused; /* ISO C wants a non-empty translation unit */
#endif
