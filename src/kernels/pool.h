/* kernels/pool.h — max, average and global-average pooling over planes of
 * NCHW tensors, forward and backward, on plain float arrays. */
#ifndef NB_KERNELS_POOL_H
#define NB_KERNELS_POOL_H

#include <stdint.h>

/* One plane's geometry: input h×w, window kh×kw, stride, padding, output oh×ow. */
typedef struct nb_k_pool_geom {
    int64_t h, w, kh, kw, sh, sw, ph, pw, oh, ow;
} nb_k_pool_geom;

/* y = max over each window of each of `planes` planes (padding is −∞; the
 * first maximum in row-major window order wins; NaN propagates, the last NaN
 * of a window being the one chosen, as in PyTorch). When arg is
 * non-NULL it receives each maximum's index within its input plane. Every
 * window must hold at least one input element (padding <= half the kernel). */
void nb_k_max_pool(const nb_k_pool_geom *g, int64_t planes, const float *x, float *y,
                   int32_t *arg);
/* dx[plane][arg] += dy for every output; with overwrite, dx's planes are
 * cleared first (dx = that sum alone). */
void nb_k_max_pool_backward(const nb_k_pool_geom *g, int64_t planes, const float *dy,
                            const int32_t *arg, float *dx, int overwrite);

/* y = sum over each window's input elements / (kh·kw) (padding counts as 0). */
void nb_k_avg_pool(const nb_k_pool_geom *g, int64_t planes, const float *x, float *y);
void nb_k_avg_pool_backward(const nb_k_pool_geom *g, int64_t planes, const float *dy, float *dx);

/* y[i] = mean of plane i's hw values; backward dx[i][·] += dy[i] / hw. */
void nb_k_plane_mean(int64_t planes, int64_t hw, const float *x, float *y);
void nb_k_plane_mean_backward(int64_t planes, int64_t hw, const float *dy, float *dx);

/* The 2×2 stride-2 max-pool of one plane with AVX2 (pool_avx2.c): the
 * oh × ow windows of an input plane w wide; backward stores the 2·oh × 2·ow
 * inputs the windows cover (pool.c zeroes an odd last row and column). */
void nb__max_pool_2x2_plane_avx2(const float *x, int64_t w, int64_t oh, int64_t ow, float *y,
                                 int32_t *arg);
void nb__max_pool_2x2_backward_plane_avx2(float *dx, int64_t h, int64_t w, int64_t oh, int64_t ow,
                                          const float *dy, const int32_t *arg);

#endif
