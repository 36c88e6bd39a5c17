/* ops/unary.h — the shared machinery of the elementwise unary ops
 * (ops/unary.c) and the activations (ops/activation.c): one forward, one
 * backward and one constructor, parameterised by the kernel's nb_unop. */
#ifndef NB_OPS_UNARY_H
#define NB_OPS_UNARY_H

#include "core/engine.h"
#include "kernels/unary.h"

/* Forward and backward for any op made by nb__unary: they read the kind from
 * out->iarg[0] and its parameters from out->farg[0..1]. */
int nb__unary_forward(nb_tensor *out);
void nb__unary_backward(nb_tensor *out);

/* The op record of a unary op named `name`: the shared forward and backward,
 * and the input's gradient stored by its first writer (slot 0 overwritable:
 * nb__unary_backward stores when the engine allows it). */
#define NB__UNARY_OP(var, name)                                                               \
    static const nb_op_def var = {name, nb__unary_forward, nb__unary_backward, 1u}

/* Make and run the node y = kind(x; p0, p1) of the same shape as x. The op
 * record must be an NB__UNARY_OP. NULL on error. */
nb_tensor *nb__unary(nb_ctx *ctx, const nb_op_def *op, nb_unop kind, nb_tensor *x, float p0,
                     float p1);

#endif
