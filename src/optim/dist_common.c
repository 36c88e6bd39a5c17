/* optim/dist_common.c — the parts of nabla/dist.h that need no MPI and are
 * built in every configuration: splitting a global batch over ranks and the
 * hashes the start-up consistency check compares. */
#include <string.h>

#include "core/engine.h"

int nb_dist_split(int64_t global, int rank, int size, int64_t *offset, int64_t *count) {
    if (!offset || !count) return NB_ERR_NULL;
    if (global < 0 || size < 1 || rank < 0 || rank >= size) return NB_ERR_ARG;
    int64_t base = global / size, extra = global % size;
    /* The first `extra` ranks take base + 1 rows. */
    *count = base + (rank < extra ? 1 : 0);
    *offset = (int64_t)rank * base + (rank < extra ? rank : extra);
    return NB_OK;
}

uint64_t nb_dist_hash(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Names and shapes, not values: ranks initialised from different seeds are a
 * separate question (broadcast the parameters instead). */
uint64_t nb_dist_hash_params(nb_tensor *const *params, int n) {
    uint64_t h = nb_dist_hash(NB_DIST_HASH_INIT, &n, sizeof n);
    for (int i = 0; params && i < n; i++) {
        const nb_tensor *t = params[i];
        if (!t) {
            h = nb_dist_hash(h, "(null)", 6);
            continue;
        }
        const char *name = t->name ? t->name : "";
        h = nb_dist_hash(h, name, strlen(name) + 1);
        int64_t dims[NB_MAX_DIMS + 1] = {t->ndim};
        for (int k = 0; k < t->ndim; k++) dims[k + 1] = t->shape[k];
        h = nb_dist_hash(h, dims, sizeof dims);
    }
    return h;
}
