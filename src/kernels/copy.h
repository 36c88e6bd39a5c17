/* kernels/copy.h — strided copies on plain float arrays: the data movement
 * behind transpose, concat, slice and reshape (forward copies, backward
 * accumulating copies), and row-broadcast adds used for bias terms. */
#ifndef NB_KERNELS_COPY_H
#define NB_KERNELS_COPY_H

#include <stdint.h>

/* For rows r < nrows: dst[r*dst_stride + j] = src[r*src_stride + j], j < len.
 * Strides are in elements; the rows must not overlap. */
void nb_k_copy_rows(int64_t nrows, int64_t len, float *dst, int64_t dst_stride,
                    const float *src, int64_t src_stride);

/* Same walk, accumulating: dst[r*dst_stride + j] += src[r*src_stride + j].
 * src_stride 0 adds one row to every row (bias); dst_stride 0 sums all rows
 * into one (column sums, in row order so the result is deterministic). */
void nb_k_add_rows(int64_t nrows, int64_t len, float *dst, int64_t dst_stride,
                   const float *src, int64_t src_stride);

/* dst[i] = 0 + src[i] (or 0 − src[i] with negate): what clearing dst and then
 * adding (subtracting) src leaves, bit for bit (0 + −0 is +0), in one pass —
 * for ops storing a gradient the graph handed over unwritten. */
void nb_k_store_grad(float *dst, const float *src, int64_t n, int negate);

/* For every index i of `shape` (ndim <= 8 dims, row-major order):
 * dst[Σ i_d·dst_strides[d]] = src[Σ i_d·src_strides[d]]. With permuted strides
 * on one side this is a transpose. Destinations must be distinct elements. */
void nb_k_strided_copy(int ndim, const int64_t *shape, float *dst, const int64_t *dst_strides,
                       const float *src, const int64_t *src_strides);

/* As nb_k_strided_copy but dst[...] += src[...]. */
void nb_k_strided_add(int ndim, const int64_t *shape, float *dst, const int64_t *dst_strides,
                      const float *src, const int64_t *src_strides);

#endif
