/* kernels/conv.h — convolution lowering on plain float arrays: im2col (image
 * patches to GEMM columns) and its adjoint col2im, for a chunk of samples and
 * one group's channels, plus the per-channel bias and its gradient. */
#ifndef NB_KERNELS_CONV_H
#define NB_KERNELS_CONV_H

#include <stdint.h>

/* Geometry of one group: c input channels of h×w, kernel kh×kw, stride,
 * zero padding, dilation, output oh×ow. */
typedef struct nb_k_conv_geom {
    int64_t c, h, w;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t oh, ow;
} nb_k_conv_geom;

/* For samples s < ns (sample s's channels start at x + s·x_stride):
 *   col[((ci·kh + i)·kw + j)·ldcol + s·oh·ow + y·ow + x] = x_s[ci][y·sh − ph + i·dh][x·sw − pw + j·dw]
 * (0 outside the image). ldcol >= ns·oh·ow. */
void nb_k_im2col(const nb_k_conv_geom *g, int64_t ns, const float *x, int64_t x_stride,
                 float *col, int64_t ldcol);

/* The adjoint: dx_s[...] += every column entry that im2col read from it.
 * col is scratch: entries standing for padding may be set to zero. */
void nb_k_col2im_acc(const nb_k_conv_geom *g, int64_t ns, float *col, int64_t ldcol,
                     float *dx, int64_t dx_stride);

/* Internal: one kernel tap of a stride-1 "same width" geometry (ow == w),
 * where output position q reads input q + shift: valid rows [y0, y1),
 * columns [x0, x1), and the contiguous range [lo, hi) of q the valid block
 * spans (columns outside [x0, x1) inside it read the neighbouring row and
 * are zeroed separately). The AVX2 loops of conv_avx2.c do one plane's taps;
 * ow >= 8. */
typedef struct nb__conv_tap {
    int64_t y0, y1, x0, x1, shift, lo, hi;
} nb__conv_tap;
void nb__im2col_same_avx2(const float *plane, const nb__conv_tap *taps, int64_t ntaps, int64_t p,
                          int64_t ow, float *col, int64_t ldcol);
void nb__col2im_same_avx2(float *col, int64_t ldcol, const nb__conv_tap *taps, int64_t ntaps,
                          int64_t p, int64_t ow, float *plane);

/* y[s][o][q] += bias[o] for s < ns, o < no, q < p (contiguous NCHW). */
void nb_k_add_channel_bias(int64_t ns, int64_t no, int64_t p, const float *bias, float *y);
/* db[o] += Σ_{s,q} dy[s][o][q]. */
void nb_k_channel_sum_acc(int64_t ns, int64_t no, int64_t p, const float *dy, float *db);

#endif
