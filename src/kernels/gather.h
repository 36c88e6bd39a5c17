/* kernels/gather.h — row gather and scatter-add on plain float arrays: the
 * compute behind embedding lookups and their gradient. */
#ifndef NB_KERNELS_GATHER_H
#define NB_KERNELS_GATHER_H

#include <stdint.h>

/* out[i*dim + j] = table[idx[i]*dim + j] for i < n, j < dim. */
void nb_k_gather_rows(int64_t n, const int64_t *idx, int64_t dim, const float *table, float *out);

/* table_grad[idx[i]*dim + j] += src[i*dim + j], for i = 0, 1, ... in order, so
 * repeated indices sum in a fixed order and the result is deterministic. */
void nb_k_scatter_add_rows(int64_t n, const int64_t *idx, int64_t dim, const float *src,
                           float *table_grad);

#endif
