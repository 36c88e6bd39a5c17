/* core/engine.h — the private interface between the engine and the ops: the
 * op definition record, node creation, arena allocation and error reporting.
 * Only files under src/ include this. */
#ifndef NB_ENGINE_H
#define NB_ENGINE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nabla.h"

/* An operation: what it is called, how to compute its output from its inputs,
 * and how to push the output's gradient back. Each op family file defines its
 * records as `const nb_op_def` next to the two functions, so adding an op is
 * one section in one file — there is no central enum to keep in step.
 *
 * forward(out) reads out->src[i]->data and writes out->data; it returns NB_OK
 * or an error it has recorded with nb__error (e.g. a label out of range).
 * backward(out) reads out->grad and ACCUMULATES (+=) into the grad of every
 * input whose grad is non-NULL; inputs with NULL grad need no gradient. */
struct nb_op_def {
    const char *name;
    int (*forward)(nb_tensor *out);
    void (*backward)(nb_tensor *out);
    /* Bit k set: when nb__grad_overwrite(out, k) says so, backward stores
     * every element of src[k]'s gradient instead of adding to it (the engine
     * then skips clearing that buffer). Ops without the bit just add. */
    unsigned overwrites;
};

/* In backward: whether src[k]'s gradient has not been written yet this step
 * (so the op must overwrite all of it rather than add). Only ever true for
 * slots the op's nb_op_def declares in `overwrites`. */
static inline int nb__grad_overwrite(const nb_tensor *out, int k) {
    return (out->grad_fresh >> k) & 1;
}

struct nb_arena_chunk;

struct nb_ctx {
    struct nb_arena_chunk *chunks;   /* newest first */
    size_t reserved;                  /* bytes malloc'ed for chunks */
    int error;                        /* sticky nb_status */
    char message[512];
    bool grad_enabled;
    bool training;
    nb_rng rng;                       /* dropout, initialisation */
    nb_allsum_fn allsum;              /* cross-process sum, or NULL */
    void *allsum_user;
    int64_t ntensors;
    nb_tensor *first, *last;          /* creation order == a topological order */
};

struct nb_graph {
    nb_ctx *ctx;
    nb_tensor *output;
    nb_tensor **nodes;   /* every tensor the output depends on, topologically */
    int nnodes;
    nb_tensor **params;  /* NB_PARAM leaves among them */
    int nparams;
    nb_backward_hook hook;   /* called after each node's backward, or NULL */
    void *hook_user;
    double *prof;            /* per node: forward, backward seconds; NULL = off */
    double prof_zero;        /* backward's clearing of intermediate gradients */
    int64_t prof_steps;      /* forward passes timed */
    int profiling;
};

/* ---- memory ---- */
/* Zeroed, 64-byte aligned memory owned by ctx; NULL (and NB_ERR_ALLOC
 * recorded) on failure. */
void *nb__alloc(nb_ctx *ctx, size_t bytes);
char *nb__strdup(nb_ctx *ctx, const char *s);

/* ---- errors ---- */
/* Record an error unless one is already recorded (the first cause is the one
 * worth reporting). Returns code, so callers can `return nb__error(...)`. */
int nb__error(nb_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Shape as "[2,3]" in a caller buffer of NB_SHAPE_BUF bytes. */
#define NB_SHAPE_BUF (8 + 21 * NB_MAX_DIMS)
const char *nb__shape_str(const nb_tensor *t, char *buf);

/* ---- nodes ---- */
/* Check the inputs (non-NULL, same context, no pending error) and make the
 * output tensor of op with the given shape, its data allocated. The op's
 * constructor then sets attributes and saved state and calls nb__op_run.
 * Returns NULL on any error. `opname` is used in messages. */
nb_tensor *nb__op_new(nb_ctx *ctx, const nb_op_def *op, int nsrc, nb_tensor *const *src,
                      int ndim, const int64_t *shape);
/* Run the op's forward once (the value is available immediately); returns
 * out, or NULL if the forward failed. */
nb_tensor *nb__op_run(nb_tensor *out);
/* Check inputs exist before looking at their shapes: NULL on failure with
 * the error recorded. */
bool nb__inputs_ok(nb_ctx *ctx, const char *opname, int n, nb_tensor *const *src);
/* Whether backward state should be saved for out (it requires grad). */
static inline bool nb__needs_grad(const nb_tensor *t) {
    return (t->flags & NB_REQUIRES_GRAD) != 0;
}

/* ---- shapes ---- */
void nb__set_contiguous(nb_tensor *t, int ndim, const int64_t *shape);
/* Normalise a possibly negative axis for rank ndim; -1 and an error if out of range. */
int nb__axis(nb_ctx *ctx, const char *opname, int axis, int ndim);
/* NumPy broadcast of a and b's shapes into shape/ndim; NB_ERR_SHAPE recorded on mismatch. */
int nb__broadcast_shape(nb_ctx *ctx, const char *opname, const nb_tensor *a,
                        const nb_tensor *b, int64_t *shape, int *ndim);
bool nb__same_shape(const nb_tensor *a, const nb_tensor *b);

#endif
