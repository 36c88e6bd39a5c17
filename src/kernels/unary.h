/* kernels/unary.h — elementwise unary maps (arithmetic and activations) and
 * their derivatives over plain float arrays, selected by an enum so that one
 * loop per kind can later be swapped for a vectorised version. */
#ifndef NB_KERNELS_UNARY_H
#define NB_KERNELS_UNARY_H

#include <stdint.h>

/* p0/p1 are the kind's float parameters, ignored where unused:
 *   SCALE: s = p0           ADD_SCALAR: s = p0     POW: exponent p0
 *   CLAMP: lo = p0, hi = p1 LEAKY_RELU: slope p0   ELU: alpha p0 */
typedef enum nb_unop {
    NB_UN_NEG,
    NB_UN_SCALE,
    NB_UN_ADD_SCALAR,
    NB_UN_EXP,
    NB_UN_LOG,
    NB_UN_SQRT,
    NB_UN_SQUARE,
    NB_UN_POW,
    NB_UN_ABS,
    NB_UN_CLAMP,
    NB_UN_SIGMOID,
    NB_UN_TANH,
    NB_UN_RELU,
    NB_UN_LEAKY_RELU,
    NB_UN_ELU,
    NB_UN_GELU_ERF,
    NB_UN_GELU_TANH,
    NB_UN_SOFTPLUS,
    NB_UN_COUNT
} nb_unop;

/* y[i] = f(x[i]) for i < n. x and y may be the same array (in place). */
void nb_k_unary(nb_unop op, int64_t n, const float *x, float *y, float p0, float p1);

/* dx[i] += f'(x[i]) · dy[i]. y is the forward result f(x), used where the
 * derivative is cheaper from it (exp, sqrt, sigmoid, tanh). dx must not
 * alias x, y or dy.
 *
 * At kinks the derivative follows PyTorch: relu'(0) = 0, abs'(0) = 0,
 * leaky_relu'(0) = slope, elu'(0) = alpha, clamp passes the gradient where
 * lo <= x <= hi (bounds included), and pow with exponent 0 has derivative 0
 * everywhere (also at x = 0). */
void nb_k_unary_backward(nb_unop op, int64_t n, const float *x, const float *y,
                         const float *dy, float *dx, float p0, float p1);

/* The same gradient stored rather than added: bitwise what nb_k_unary_backward
 * leaves in a dx of zeros, without reading dx first. */
void nb_k_unary_backward_store(nb_unop op, int64_t n, const float *x, const float *y,
                               const float *dy, float *dx, float p0, float p1);

#endif
