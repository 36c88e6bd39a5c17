/* kernels/copy.c — strided copies and accumulating copies over float arrays.
 * N-d walks run the last dimension as the inner loop and step the outer
 * dimensions like an odometer, so no per-element index arithmetic is needed. */
#include <string.h>

#include "kernels/copy.h"

void nb_k_copy_rows(int64_t nrows, int64_t len, float *dst, int64_t dst_stride,
                    const float *src, int64_t src_stride) {
    if (len <= 0) return;
    if (dst_stride == len && src_stride == len) {
        memcpy(dst, src, (size_t)(nrows * len) * sizeof(float));
        return;
    }
    for (int64_t r = 0; r < nrows; r++)
        memcpy(dst + r * dst_stride, src + r * src_stride, (size_t)len * sizeof(float));
}

void nb_k_add_rows(int64_t nrows, int64_t len, float *dst, int64_t dst_stride,
                   const float *src, int64_t src_stride) {
    for (int64_t r = 0; r < nrows; r++) {
        float *d = dst + r * dst_stride;
        const float *s = src + r * src_stride;
        for (int64_t j = 0; j < len; j++) d[j] += s[j];
    }
}

void nb_k_store_grad(float *dst, const float *src, int64_t n, int negate) {
    if (negate)
        for (int64_t i = 0; i < n; i++) dst[i] = 0.0f - src[i];
    else
        for (int64_t i = 0; i < n; i++) dst[i] = 0.0f + src[i];
}

#define MAX_WALK_DIMS 8

/* Shared odometer walk; `add` selects += over =. */
static void strided_walk(int ndim, const int64_t *shape, float *dst, const int64_t *ds,
                         const float *src, const int64_t *ss, int add) {
    if (ndim <= 0) {
        dst[0] = add ? dst[0] + src[0] : src[0];
        return;
    }
    if (ndim > MAX_WALK_DIMS) return;
    for (int d = 0; d < ndim; d++)
        if (shape[d] <= 0) return;
    const int64_t n = shape[ndim - 1], dsi = ds[ndim - 1], ssi = ss[ndim - 1];
    int64_t outer = 1;
    for (int d = 0; d < ndim - 1; d++) outer *= shape[d];
    int64_t idx[MAX_WALK_DIMS] = {0}, od = 0, os = 0;
    for (int64_t r = 0; r < outer; r++) {
        float *d = dst + od;
        const float *s = src + os;
        if (add) {
            for (int64_t j = 0; j < n; j++) d[j * dsi] += s[j * ssi];
        } else if (dsi == 1 && ssi == 1) {
            memcpy(d, s, (size_t)n * sizeof(float));
        } else {
            for (int64_t j = 0; j < n; j++) d[j * dsi] = s[j * ssi];
        }
        for (int k = ndim - 2; k >= 0; k--) {
            od += ds[k];
            os += ss[k];
            if (++idx[k] < shape[k]) break;
            od -= ds[k] * shape[k];
            os -= ss[k] * shape[k];
            idx[k] = 0;
        }
    }
}

void nb_k_strided_copy(int ndim, const int64_t *shape, float *dst, const int64_t *dst_strides,
                       const float *src, const int64_t *src_strides) {
    strided_walk(ndim, shape, dst, dst_strides, src, src_strides, 0);
}

void nb_k_strided_add(int ndim, const int64_t *shape, float *dst, const int64_t *dst_strides,
                      const float *src, const int64_t *src_strides) {
    strided_walk(ndim, shape, dst, dst_strides, src, src_strides, 1);
}
