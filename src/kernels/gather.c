/* kernels/gather.c — row gather and ordered scatter-add (see gather.h). Kept
 * sequential: rows are short and the scatter must stay in index order. */
#include <string.h>

#include "kernels/gather.h"

void nb_k_gather_rows(int64_t n, const int64_t *idx, int64_t dim, const float *table, float *out) {
    for (int64_t i = 0; i < n; i++)
        memcpy(out + i * dim, table + idx[i] * dim, (size_t)dim * sizeof(float));
}

void nb_k_scatter_add_rows(int64_t n, const int64_t *idx, int64_t dim, const float *src,
                           float *table_grad) {
    for (int64_t i = 0; i < n; i++) {
        float *dst = table_grad + idx[i] * dim;
        const float *s = src + i * dim;
        for (int64_t j = 0; j < dim; j++) dst[j] += s[j];
    }
}
