/* nabla/nn.h — models with named parameters and buffers, the layer modules
 * built from ops (linear, activation, dropout, embedding, sequential, MLP),
 * the ops they need beyond ops.h (dropout, embedding) and weight
 * initialisation matching torch.nn.init. Included by nabla.h. */
#ifndef NABLA_NN_H
#define NABLA_NN_H

#include <stdio.h>

#include "nabla/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ops (src/ops/dropout.c, src/ops/embedding.c) ----------------------------
 * nb_dropout: inverted dropout. In training mode (nb_training(ctx), read at
 * every forward, so nb_set_training also switches a built graph) each forward
 * — the first run and every replay — draws a fresh mask from nb_ctx_rng(ctx):
 * element i is kept with probability 1-p (uniform u_i < 1-p, one nb_rng_uniform
 * per element in row-major order) and scaled by 1/(1-p); backward multiplies
 * the gradient by the same mask and scale. In evaluation mode, or when p = 0,
 * it is the identity and draws nothing. p must lie in [0, 1]; p = 1 zeroes
 * everything (as PyTorch does).
 *
 * nb_embedding: rows of weight [V, D] selected by indices (any shape, float
 * tensor holding integral ids) -> [..., D]. An id that is not an integer in
 * [0, V) is an NB_ERR_ARG naming its position and value, at construction and
 * on every replay. Backward scatter-adds the output gradient rows into
 * weight's gradient in index order (deterministic); indices get no gradient. */
nb_tensor *nb_dropout(nb_ctx *ctx, nb_tensor *x, float p);
nb_tensor *nb_embedding(nb_ctx *ctx, nb_tensor *weight, nb_tensor *indices);

/* ---- initialisation (src/nn/init.c) -------------------------------------------
 * Every sampler fills t->data in row-major order from the given generator
 * (usually nb_ctx_rng(ctx): PCG32 XSH-RR with 64-bit state, uniform = top 24
 * bits of one 32-bit draw / 2^24 in [0, 1), normal = Box–Muller on two such
 * draws, the second value kept for the next call; see core.h). Same seed, same
 * call order => same weights. The formulas are torch.nn.init's:
 *
 *   fans of a weight of rank >= 2, shape [out, in, k1, k2, ...]:
 *       receptive = k1·k2·…,  fan_in = in·receptive,  fan_out = out·receptive
 *   gain:  linear, conv, sigmoid: 1;  tanh: 5/3;  relu: √2;
 *          leaky_relu(a): √(2 / (1 + a²));  selu: 3/4
 *   xavier_uniform:  U(-b, b),  b = gain·√(6 / (fan_in + fan_out))
 *   xavier_normal:   N(0, σ²),  σ = gain·√(2 / (fan_in + fan_out))
 *   kaiming_uniform: U(-b, b),  b = gain·√(3 / fan)    (fan = fan_in or fan_out)
 *   kaiming_normal:  N(0, σ²),  σ = gain / √fan
 *
 * They return NB_OK or an error (also recorded on t's context): a NULL
 * argument, a rank below 2 where fans are needed, a zero fan, lo > hi, std < 0. */
typedef enum nb_nonlinearity {
    NB_NL_LINEAR = 0, /* also the gain for conv and identity */
    NB_NL_SIGMOID,
    NB_NL_TANH,
    NB_NL_RELU,
    NB_NL_LEAKY_RELU, /* uses the negative slope `a` */
    NB_NL_SELU,
} nb_nonlinearity;

typedef enum nb_fan_mode { NB_FAN_IN = 0, NB_FAN_OUT = 1 } nb_fan_mode;

double nb_init_gain(nb_nonlinearity nl, double a);
int nb_init_fans(const nb_tensor *t, int64_t *fan_in, int64_t *fan_out);

int nb_init_uniform(nb_tensor *t, nb_rng *rng, float lo, float hi);   /* U(lo, hi) */
int nb_init_normal(nb_tensor *t, nb_rng *rng, float mean, float std); /* N(mean, std²) */
int nb_init_constant(nb_tensor *t, float value);
int nb_init_zeros(nb_tensor *t);
int nb_init_ones(nb_tensor *t);
int nb_init_xavier_uniform(nb_tensor *t, nb_rng *rng, float gain);
int nb_init_xavier_normal(nb_tensor *t, nb_rng *rng, float gain);
/* `a` is the leaky_relu slope (ignored by the other nonlinearities); PyTorch's
 * defaults are a = 0, NB_FAN_IN, NB_NL_LEAKY_RELU. */
int nb_init_kaiming_uniform(nb_tensor *t, nb_rng *rng, double a, nb_fan_mode mode,
                            nb_nonlinearity nl);
int nb_init_kaiming_normal(nb_tensor *t, nb_rng *rng, double a, nb_fan_mode mode,
                           nb_nonlinearity nl);

/* ---- models: named parameters and buffers (src/nn/model.c) ---------------------
 * A model is the list of everything a network owns, by name, in creation
 * order: trainable parameters (NB_PARAM leaves with gradients, "fc1.weight")
 * and buffers (state that is saved but not trained, e.g. running statistics;
 * no NB_PARAM, no gradient). Names are unique across both lists. Optimizers
 * and checkpoints take nb_model_params(m) / nb_model_num_params(m).
 *
 * A model lives in its context (freed with it). Layers are made on a model and
 * append their tensors to it; the arrays returned by nb_model_params and
 * nb_model_buffers stay valid until the next tensor is added.
 *
 *     nb_model *m = nb_model_new(ctx);
 *     nb_linear_layer *fc1 = nb_linear_layer_new(m, "fc1", 784, 256, 1);
 *     nb_linear_layer *fc2 = nb_linear_layer_new(m, "fc2", 256, 10, 1);
 *     nb_tensor *logits = nb_linear_layer_forward(fc2,
 *                             nb_relu(ctx, nb_linear_layer_forward(fc1, x)));
 *     nb_graph *g = nb_graph_new(ctx, nb_cross_entropy(ctx, logits, y, 0));
 *     ... replay g every step; optimise nb_model_params(m) ... */
typedef struct nb_model nb_model;
typedef struct nb_module nb_module;

nb_model *nb_model_new(nb_ctx *ctx);
nb_ctx *nb_model_ctx(const nb_model *m);

/* A new zeroed parameter (or buffer) named "<prefix>.<name>" ("<name>" when
 * prefix is NULL or ""); NULL with NB_ERR_ARG if the name is taken. */
nb_tensor *nb_model_param_new(nb_model *m, const char *prefix, const char *name, int ndim,
                              const int64_t *shape);
nb_tensor *nb_model_buffer_new(nb_model *m, const char *prefix, const char *name, int ndim,
                               const int64_t *shape);
/* Register a tensor made elsewhere: a named NB_PARAM leaf, or a named
 * non-parameter leaf as a buffer. */
int nb_model_add_param(nb_model *m, nb_tensor *param);
int nb_model_add_buffer(nb_model *m, nb_tensor *buffer);

int nb_model_num_params(const nb_model *m);
nb_tensor *nb_model_param(const nb_model *m, int i);
nb_tensor *const *nb_model_params(const nb_model *m);   /* contiguous, num_params long */
int nb_model_num_buffers(const nb_model *m);
nb_tensor *nb_model_buffer(const nb_model *m, int i);
nb_tensor *const *nb_model_buffers(const nb_model *m);
/* A parameter or buffer by full name, or NULL. */
nb_tensor *nb_model_find(const nb_model *m, const char *name);
/* Number of trainable scalars (the sum of the parameters' sizes). */
int64_t nb_model_param_elements(const nb_model *m);

/* One row per layer module in creation order — name, kind, output shape of
 * its latest forward ("-" if never run), parameter count — and the totals.
 * Returns NB_OK or NB_ERR_IO. */
int nb_model_summary(const nb_model *m, FILE *out);

/* ---- modules (src/nn/module.c, linear.c, ...) -------------------------------
 * Every layer type starts with an nb_module, so `&layer->base` is the generic
 * handle used by sequential containers and nb_module_forward. A module's
 * forward builds ops on the model's context (run once to build the graph,
 * which is then replayed). A custom layer fills in an nb_module (kind, name,
 * forward) and registers it with nb_module_register. */
struct nb_module {
    const char *kind;                    /* "linear", "relu", "dropout", ... */
    const char *name;                    /* prefix of its tensors, e.g. "fc1" */
    nb_model *model;
    nb_tensor *(*forward)(nb_module *self, nb_tensor *x);
    int64_t num_params;                  /* trainable scalars it created itself */
    int is_container;                    /* sequential: listed through its children */
    nb_tensor *output;                   /* result of the latest forward, for summaries */
    nb_module *next;                     /* creation order within the model */
};

int nb_module_register(nb_model *m, nb_module *mod);
/* Run mod's forward on x (NULL on error, recorded on the context). */
nb_tensor *nb_module_forward(nb_module *mod, nb_tensor *x);

/* Linear: y = x·Wᵀ + b, W [out, in] ("<name>.weight"), b [out] ("<name>.bias",
 * when bias != 0), x [..., in]. Initialised like torch.nn.Linear from
 * nb_ctx_rng: W by kaiming_uniform(a = √5) = U(-1/√in, 1/√in), then b by
 * U(-1/√in, 1/√in). */
typedef struct nb_linear_layer {
    nb_module base;
    nb_tensor *weight, *bias;   /* bias NULL without bias */
    int64_t in, out;
} nb_linear_layer;
nb_linear_layer *nb_linear_layer_new(nb_model *m, const char *name, int64_t in, int64_t out,
                                     int bias);
nb_tensor *nb_linear_layer_forward(nb_linear_layer *l, nb_tensor *x);

/* Parameter-free elementwise activation as a module (for sequentials). */
typedef enum nb_activation {
    NB_ACT_NONE = 0, /* identity */
    NB_ACT_RELU,
    NB_ACT_TANH,
    NB_ACT_SIGMOID,
    NB_ACT_GELU,     /* erf form, torch.nn.GELU() */
} nb_activation;
typedef struct nb_activation_layer {
    nb_module base;
    nb_activation act;
} nb_activation_layer;
nb_activation_layer *nb_activation_layer_new(nb_model *m, const char *name, nb_activation act);
const char *nb_activation_name(nb_activation act);   /* "relu", ... */

/* Dropout module: nb_dropout with probability p (see above). */
typedef struct nb_dropout_layer {
    nb_module base;
    float p;
} nb_dropout_layer;
nb_dropout_layer *nb_dropout_layer_new(nb_model *m, const char *name, float p);
nb_tensor *nb_dropout_layer_forward(nb_dropout_layer *d, nb_tensor *x);

/* Embedding: weight [num, dim] ("<name>.weight"), N(0, 1) from nb_ctx_rng as
 * torch.nn.Embedding; forward maps ids [...] to [..., dim]. */
typedef struct nb_embedding_layer {
    nb_module base;
    nb_tensor *weight;
    int64_t num, dim;
} nb_embedding_layer;
nb_embedding_layer *nb_embedding_layer_new(nb_model *m, const char *name, int64_t num,
                                           int64_t dim);
nb_tensor *nb_embedding_layer_forward(nb_embedding_layer *e, nb_tensor *ids);

/* Sequential container: forward applies its modules in order. The modules
 * are made by the caller (with their own names) and appended. */
typedef struct nb_sequential {
    nb_module base;
    nb_module **items;
    int count, capacity;
} nb_sequential;
nb_sequential *nb_sequential_new(nb_model *m, const char *name);
int nb_sequential_add(nb_sequential *s, nb_module *mod);
nb_tensor *nb_sequential_forward(nb_sequential *s, nb_tensor *x);

/* MLP builder: widths[0] inputs, widths[n-1] outputs, n-1 linear layers with
 * bias. Between two linear layers: the activation ("act1", ...), then, when
 * dropout > 0, a dropout layer ("drop1", ...). The linear layers are named
 * fc1, fc2, … (under "<name>." when name is not NULL or ""), so parameter
 * names equal the state_dict keys of the PyTorch module
 *
 *     class MLP(nn.Module):            # widths = [6, 5, 4, 3]
 *         fc1 = nn.Linear(6, 5); fc2 = nn.Linear(5, 4); fc3 = nn.Linear(4, 3)
 *         forward: fc3(drop(act(fc2(drop(act(fc1(x)))))))
 *
 * and the layers are created, hence initialised, in that order. n >= 2. */
nb_sequential *nb_mlp_new(nb_model *m, const char *name, const int64_t *widths, int n,
                          nb_activation act, float dropout);

/* ==== convolutional layer modules (src/nn/conv_layers.c) =======================
 * Modules over the ops of nabla/conv.h (NCHW float32), named and initialised
 * like their torch.nn counterparts so that a model built with the same
 * attribute names has the same state_dict keys:
 *
 *     class Net(nn.Module):           nabla, names under the same prefixes
 *         conv1 = nn.Conv2d(...)      nb_conv2d_layer_new(m, "conv1", ...)
 *         bn1 = nn.BatchNorm2d(32)    nb_batchnorm2d_layer_new(m, "bn1", 32, 0.1f, 1e-5f, 1)
 *
 *   conv1.weight [O, C/groups, KH, KW], conv1.bias [O]          (parameters)
 *   bn1.weight [C], bn1.bias [C]                               (parameters)
 *   bn1.running_mean [C], bn1.running_var [C]                  (buffers)
 *
 * Parameters and buffers are registered on the model in that (state_dict)
 * order, so nb_model_params / nb_model_buffers go straight into an optimizer
 * and an nb_checkpoint (running statistics included). Pooling and flatten
 * layers own no tensors. All of them work in nb_sequential. */
#include "nabla/conv.h"

/* Conv2d: x [N, in_ch, H, W] -> [N, out_ch, OH, OW] by nb_conv2d with the
 * given options (opts may be NULL; zero stride/dilation/groups mean 1 — the
 * stored opts hold the effective values). in_ch and out_ch must be divisible
 * by groups. Initialised like torch.nn.Conv2d from nb_ctx_rng: the weight by
 * kaiming_uniform(a = √5) = U(±1/√fan_in), then the bias by U(±1/√fan_in),
 * fan_in = in_ch/groups·kh·kw. */
typedef struct nb_conv2d_layer {
    nb_module base;
    nb_tensor *weight, *bias;   /* bias NULL without bias */
    int64_t in_ch, out_ch;
    int kh, kw;
    nb_conv2d_opts opts;
} nb_conv2d_layer;
nb_conv2d_layer *nb_conv2d_layer_new(nb_model *m, const char *name, int64_t in_ch, int64_t out_ch,
                                     int kh, int kw, const nb_conv2d_opts *opts, int bias);
nb_tensor *nb_conv2d_layer_forward(nb_conv2d_layer *l, nb_tensor *x);

/* Batch normalisation over channel axis 1 by nb_batch_norm (see conv.h):
 * BatchNorm2d takes [N,C,H,W], BatchNorm1d [N,C] or [N,C,L]. With affine,
 * parameters "weight" (ones) and "bias" (zeros); always the buffers
 * "running_mean" (zeros) and "running_var" (ones). PyTorch's defaults are
 * momentum 0.1, eps 1e-5, affine 1. Training mode (nb_training(ctx)) uses
 * the batch's statistics and moves the running ones; evaluation mode
 * (nb_set_training(ctx, 0)) uses the running ones. The mode is read at every
 * forward, so one built graph serves both.
 *
 * Running statistics and eager construction: building the op runs its
 * forward once on whatever the input holds at that moment (often zeros), which
 * in training mode would move the running statistics. The layer's forward
 * therefore copies running_mean/running_var before calling nb_batch_norm and
 * copies them back right after the op is built. Result: the statistics change
 * exactly once per EXECUTED graph forward (nb_graph_forward) in training mode,
 * as PyTorch's change once per module call — and not at construction. (Code
 * that builds a fresh graph per batch and never replays it therefore never
 * updates them: replay the graph, as training loops here do.)
 *
 * num_batches_tracked is not kept: it only matters for momentum=None
 * (cumulative averaging), which is not offered (momentum is a number in
 * [0, 1]). A checkpoint saved from such a model loads into the PyTorch module
 * with strict=True all the same (BatchNorm fills a missing counter with 0 for
 * a state_dict without version metadata, as from safetensors' load_file); a
 * PyTorch file loads here with allow_extra (the int64 counters are skipped). */
typedef struct nb_batchnorm_layer {
    nb_module base;
    nb_tensor *weight, *bias;               /* NULL without affine */
    nb_tensor *running_mean, *running_var;  /* buffers [C] */
    int64_t num_features;
    float momentum, eps;
    int dims;                               /* 1 or 2 */
    float *saved_stats;                     /* [2C] scratch for the restore above */
    int sync;                               /* nb_batchnorm_layer_set_sync */
} nb_batchnorm_layer;
nb_batchnorm_layer *nb_batchnorm2d_layer_new(nb_model *m, const char *name, int64_t num_features,
                                             float momentum, float eps, int affine);
nb_batchnorm_layer *nb_batchnorm1d_layer_new(nb_model *m, const char *name, int64_t num_features,
                                             float momentum, float eps, int affine);
nb_tensor *nb_batchnorm_layer_forward(nb_batchnorm_layer *l, nb_tensor *x);
/* Synchronised statistics across processes (nb_batch_norm_sync) for the ops
 * built by later forwards: off by default (per-process statistics, as
 * PyTorch's DistributedDataParallel); takes effect only on a context with a
 * cross-process sum (nb_dist_install_allsum). */
void nb_batchnorm_layer_set_sync(nb_batchnorm_layer *l, int sync);

/* Max / average pooling (nb_max_pool2d / nb_avg_pool2d): kernel kh×kw,
 * stride sh,sw (0 = the kernel size, PyTorch's default; stored resolved),
 * padding ph,pw (at most half the kernel). Average pooling counts padding in
 * the divisor, like torch.nn.AvgPool2d's default. */
typedef struct nb_pool2d_layer {
    nb_module base;
    int kh, kw, sh, sw, ph, pw;
} nb_pool2d_layer;
nb_pool2d_layer *nb_max_pool2d_layer_new(nb_model *m, const char *name, int kh, int kw, int sh,
                                         int sw, int ph, int pw);
nb_pool2d_layer *nb_avg_pool2d_layer_new(nb_model *m, const char *name, int kh, int kw, int sh,
                                         int sw, int ph, int pw);
nb_tensor *nb_pool2d_layer_forward(nb_pool2d_layer *p, nb_tensor *x);

/* Global average pooling [N,C,H,W] -> [N,C,1,1] (nn.AdaptiveAvgPool2d(1))
 * and flatten [N, ...] -> [N, rest] (nn.Flatten()): parameter-free modules
 * with no fields beyond nb_module; run them with nb_module_forward. */
nb_module *nb_global_avg_pool2d_layer_new(nb_model *m, const char *name);
nb_module *nb_flatten_layer_new(nb_model *m, const char *name);

#ifdef __cplusplus
}
#endif
#endif
