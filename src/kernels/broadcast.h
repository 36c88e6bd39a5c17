/* kernels/broadcast.h — binary elementwise arithmetic over NumPy-broadcast
 * index spaces, forward and backward, on plain float arrays. */
#ifndef NB_KERNELS_BROADCAST_H
#define NB_KERNELS_BROADCAST_H

#include <stdint.h>

typedef enum nb_binop { NB_BIN_ADD, NB_BIN_SUB, NB_BIN_MUL, NB_BIN_DIV } nb_binop;

/* out[i] = a[·] op b[·] for every index i of `shape` (ndim dims, out
 * contiguous); sa/sb are a's and b's element strides per output dim, 0 where
 * that input is broadcast. */
void nb_k_binary(nb_binop op, int ndim, const int64_t *shape, float *out,
                 const float *a, const int64_t *sa, const float *b, const int64_t *sb);

/* Accumulate the gradients of out = a op b: da[·] += ∂out/∂a · dout and
 * likewise db (either may be NULL). Broadcast dims sum their contributions in
 * index order, so the result is deterministic. `out` is the forward result
 * (used by div). */
void nb_k_binary_backward(nb_binop op, int ndim, const int64_t *shape, const float *dout,
                          const float *out, const float *a, const int64_t *sa, float *da,
                          const float *b, const int64_t *sb, float *db);

#endif
