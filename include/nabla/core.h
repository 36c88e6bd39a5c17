/* nabla/core.h — contexts, tensors, graphs, errors and gradient checking: the
 * engine every other part of the public API is built on. Included by nabla.h. */
#ifndef NABLA_CORE_H
#define NABLA_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_VERSION_MAJOR 0
#define NB_VERSION_MINOR 1
#define NB_VERSION_PATCH 0
#define NB_VERSION_STRING "0.1.0"

/* Highest tensor rank. */
#define NB_MAX_DIMS 6

/* ---- errors -------------------------------------------------------------
 * One mechanism everywhere: functions that can fail return a negative
 * nb_status (or NULL for constructors) and record a message on the context.
 * The error is sticky: once a context has failed, every later call on it is a
 * no-op returning NULL / the same code, so a whole graph can be built and
 * checked once at the end:
 *
 *     nb_tensor *y = nb_relu(ctx, nb_matmul(ctx, x, w));
 *     if (nb_error(ctx)) fprintf(stderr, "%s\n", nb_error_message(ctx));
 *
 * nb_clear_error() makes the context usable again (tensors made before the
 * error stay valid). The library never aborts or exits on a caller's mistake. */
typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_NULL = -1,      /* a required argument was NULL */
    NB_ERR_SHAPE = -2,     /* shapes or ranks do not fit the operation */
    NB_ERR_ALLOC = -3,     /* out of memory */
    NB_ERR_ARG = -4,       /* an argument's value is invalid (axis, size, ...) */
    NB_ERR_IO = -5,        /* reading or writing a file failed */
    NB_ERR_FORMAT = -6,    /* a file's contents are malformed */
    NB_ERR_STATE = -7,     /* call out of order (e.g. backward of a non-scalar) */
    NB_ERR_NONFINITE = -8, /* NaN or Inf found where a finite value is needed */
} nb_status;

typedef struct nb_ctx nb_ctx;
typedef struct nb_graph nb_graph;
typedef struct nb_op_def nb_op_def;
typedef struct nb_tensor nb_tensor;

/* Tensor flags. */
enum {
    NB_REQUIRES_GRAD = 1u << 0, /* a gradient is computed for this tensor */
    NB_PARAM = 1u << 1,         /* a trainable leaf: its grad persists across steps */
};

/* A float32 row-major tensor. Users read shape/size and read or write the
 * contents of data (and grad); everything else belongs to the engine. */
struct nb_tensor {
    float *data;                    /* size floats, 64-byte aligned */
    float *grad;                    /* same layout as data, or NULL */
    int ndim;                       /* 0 (scalar) .. NB_MAX_DIMS */
    int64_t shape[NB_MAX_DIMS];
    int64_t strides[NB_MAX_DIMS];   /* in elements; contiguous row-major */
    int64_t size;                   /* number of elements (1 for a scalar) */
    unsigned flags;                 /* NB_REQUIRES_GRAD, NB_PARAM */
    const char *name;               /* optional, owned by the context */

    /* ---- engine-private: how this tensor was computed ---- */
    const nb_op_def *op;            /* NULL for leaves (inputs, constants, params) */
    nb_tensor **src;                /* op inputs */
    int nsrc;
    int64_t iarg[6];                /* op attributes (axis, flags, ...) */
    float farg[4];                  /* op attributes (slope, bounds, ...) */
    void *saved;                    /* op state kept for backward, or NULL */
    nb_ctx *ctx;
    int64_t id;                     /* creation index within the context */
    nb_tensor *next;                /* creation-order list */
    unsigned char grad_written;     /* backward: grad holds this step's partial sum */
    unsigned char grad_fresh;       /* backward: bit k = write, not add, src[k]'s grad */
    unsigned char grad_stale;       /* leaf: zeroed by nb_*_zero_grad, not yet cleared */
};

/* ---- contexts -------------------------------------------------------------
 * A context owns every tensor, graph and buffer created in it and frees them
 * all in one call. Its memory grows by itself; there is no size to guess. */
nb_ctx *nb_ctx_new(void);
void nb_ctx_free(nb_ctx *ctx);
size_t nb_ctx_memory(const nb_ctx *ctx);      /* bytes reserved so far */

int nb_error(const nb_ctx *ctx);               /* NB_OK or the sticky nb_status */
const char *nb_error_message(const nb_ctx *ctx);
void nb_clear_error(nb_ctx *ctx);
const char *nb_status_string(int status);     /* "shape mismatch", ... */

/* Inference mode: while disabled, operations record no backward state and
 * their results never require gradients. Enabled by default. */
void nb_set_grad_enabled(nb_ctx *ctx, int enabled);
int nb_grad_enabled(const nb_ctx *ctx);

/* Training/evaluation mode for ops that behave differently (dropout,
 * batch normalisation). Training by default. */
void nb_set_training(nb_ctx *ctx, int training);
int nb_training(const nb_ctx *ctx);

/* Cross-process sum, for ops whose training statistics span several
 * processes (synchronised batch norm, nb_batch_norm_sync in conv.h): fn must
 * replace values[0..n) by their sum over all processes — the same bits on
 * every process — and return 0, or nonzero on failure. Every process calls it
 * the same number of times with the same n, in graph order. NULL (the
 * default): one process, ops use their local values and fn is never called.
 * The engine knows nothing of MPI; nb_dist_install_allsum (dist.h) installs
 * the MPI implementation. */
typedef int (*nb_allsum_fn)(double *values, int n, void *user);
void nb_ctx_set_allsum(nb_ctx *ctx, nb_allsum_fn fn, void *user);

/* ---- random numbers -------------------------------------------------------
 * PCG32 (O'Neill's permuted congruential generator, XSH-RR output) with a
 * documented normal sampler (Box–Muller; the spare value is kept in the state
 * so a saved state resumes exactly). Every context owns one generator (for
 * dropout and initialisation), so its state can be checkpointed; there is no
 * global RNG. Implemented in src/core/rng.c.
 *
 * nb_rng_seed_torch makes instead the generator torch.manual_seed(seed) makes
 * on the CPU (MT19937), with PyTorch's uniform draws: nb_rng_uniform and
 * nb_init_uniform (so the default Linear and Conv2d initialisations) then give
 * bit for bit what PyTorch's uniform_ gives, module after module. Normal draws
 * stay nabla's Box–Muller (not torch's normal_). Its state is not saved by
 * checkpoints: use it to initialise, then seed the context's generator again. */
enum { NB_RNG_PCG = 0, NB_RNG_TORCH = 1 };
typedef struct nb_rng {
    uint64_t state, inc;
    float spare;        /* second Box–Muller value, valid when has_spare */
    int has_spare;
    int kind;           /* NB_RNG_PCG or NB_RNG_TORCH */
    int mti;            /* NB_RNG_TORCH: next word of mt[], 624 = regenerate */
    uint32_t mt[624];   /* NB_RNG_TORCH: MT19937 state */
} nb_rng;
void nb_rng_seed(nb_rng *rng, uint64_t seed);
void nb_rng_seed_torch(nb_rng *rng, uint64_t seed);
uint32_t nb_rng_u32(nb_rng *rng);
float nb_rng_uniform(nb_rng *rng);              /* [0, 1), 24 random bits */
float nb_rng_normal(nb_rng *rng);               /* N(0, 1) */
nb_rng *nb_ctx_rng(nb_ctx *ctx);                /* the context's generator (seed 0 by default) */

/* ---- tensors --------------------------------------------------------------
 * nb_tensor_new makes a zero-filled leaf that requires no gradient: an input
 * to copy data into each step, or a constant. nb_param_new makes a trainable
 * leaf with a persistent, zeroed gradient buffer. */
nb_tensor *nb_tensor_new(nb_ctx *ctx, int ndim, const int64_t *shape);
nb_tensor *nb_tensor_1d(nb_ctx *ctx, int64_t n0);
nb_tensor *nb_tensor_2d(nb_ctx *ctx, int64_t n0, int64_t n1);
nb_tensor *nb_tensor_3d(nb_ctx *ctx, int64_t n0, int64_t n1, int64_t n2);
nb_tensor *nb_tensor_4d(nb_ctx *ctx, int64_t n0, int64_t n1, int64_t n2, int64_t n3);
nb_tensor *nb_scalar(nb_ctx *ctx, float value);
nb_tensor *nb_param_new(nb_ctx *ctx, const char *name, int ndim, const int64_t *shape);

/* Make a leaf require a gradient (allocates its grad buffer once). */
int nb_tensor_set_requires_grad(nb_tensor *t);
int nb_tensor_set_name(nb_tensor *t, const char *name);
/* Copy n floats in or out; n must equal t->size. */
int nb_tensor_copy_in(nb_tensor *t, const float *src, int64_t n);
int nb_tensor_copy_out(const nb_tensor *t, float *dst, int64_t n);
void nb_tensor_fill(nb_tensor *t, float value);
/* "[64,784]" into buf (at least 8 + 21*NB_MAX_DIMS bytes); returns buf. */
char *nb_shape_string(const nb_tensor *t, char *buf, size_t len);

/* ---- graphs -----------------------------------------------------------------
 * Operations run as soon as they are created (so values can be inspected at
 * once) and record how they were computed. nb_graph_new collects everything
 * `output` depends on in topological order and plans the gradient memory once;
 * after that, each training step is:
 *
 *     copy new inputs into the input tensors' data
 *     nb_graph_zero_grad(g);        parameters' gradients accumulate otherwise
 *     nb_graph_forward(g);          recompute every node, in order
 *     nb_graph_backward(g);         d(output)/d(every tensor requiring grad)
 *
 * and none of these allocate memory. A tensor used several times receives the
 * sum of its gradient contributions. Backward needs a scalar (size 1) output. */
nb_graph *nb_graph_new(nb_ctx *ctx, nb_tensor *output);
int nb_graph_forward(nb_graph *g);
int nb_graph_backward(nb_graph *g);
/* Zeroes the leaves' gradients, lazily (like PyTorch's set_to_none): each is
 * marked, and the next backward has its first writer store rather than add
 * (no memset, and the writer reads no old values) or clears it right before.
 * The optimizer, clipping, the finite check and data-parallel averaging see
 * zeros for a marked gradient even without a backward; reading t->grad
 * directly in between shows stale values (call nb_tensor_grad_settle first). */
void nb_graph_zero_grad(nb_graph *g);
/* Clears t's gradient now if nb_graph_zero_grad left it marked. */
void nb_tensor_grad_settle(nb_tensor *t);
nb_tensor *nb_graph_output(const nb_graph *g);
int nb_graph_num_nodes(const nb_graph *g);
/* Trainable parameters (NB_PARAM leaves) the output depends on, in creation order. */
int nb_graph_num_params(const nb_graph *g);
nb_tensor *nb_graph_param(const nb_graph *g, int i);
/* The graph's i-th node in topological (creation) order, or NULL. */
nb_tensor *nb_graph_node(const nb_graph *g, int i);

/* Backward hook: when set, nb_graph_backward calls fn(g, i, node, user) right
 * after node i (walking i downwards) has pushed its gradient to its inputs.
 * At that point the gradient of every tensor whose consumers all have index
 * >= i is complete — how data-parallel training (nabla/dist.h) starts
 * reducing a layer's gradients while earlier layers still run backward. The
 * hook may record an error on the context (backward then returns it). One
 * hook per graph; fn = NULL removes it. Unset, it costs one test per node. */
typedef void (*nb_backward_hook)(nb_graph *g, int i, nb_tensor *node, void *user);
void nb_graph_set_backward_hook(nb_graph *g, nb_backward_hook fn, void *user);

/* Profiling: nb_graph_profile(g, 1) starts timing every node's forward and
 * backward (and backward's clearing of intermediate gradients), from zero;
 * 0 stops. nb_graph_profile_report writes the totals per op kind, largest
 * first, as an aligned table to f. Enabling allocates once; a
 * profiled step adds two clock reads per node. Returns NB_OK or an error. */
int nb_graph_profile(nb_graph *g, int on);
int nb_graph_profile_report(const nb_graph *g, FILE *f);

/* ---- gradient checking ------------------------------------------------------
 * Compares backward's gradient of the graph's scalar output with respect to
 * each tensor in wrt[] (leaves requiring grad) against central finite
 * differences (f(x+eps) - f(x-eps)) / 2eps, element by element. worst[i]
 * receives the largest error for wrt[i], measured as
 *     |analytic - numeric| / max(1, |analytic|, |numeric|)
 * (relative for large gradients, absolute for small ones, where float32
 * differences are dominated by rounding). The tensors' data are restored and
 * parameters' gradients are left holding the analytic gradient. Returns NB_OK
 * or an error status. */
int nb_gradcheck(nb_graph *g, nb_tensor *const *wrt, int nwrt, float eps, float *worst);

#ifdef __cplusplus
}
#endif
#endif
