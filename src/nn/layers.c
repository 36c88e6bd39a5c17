/* nn/layers.c — the basic layer modules: linear (torch.nn.Linear's default
 * initialisation), parameter-free activations, dropout and embedding. */
#include <math.h>

#include "nn/internal.h"

/* ---- linear ---- */

static nb_tensor *linear_fwd(nb_module *self, nb_tensor *x) {
    return nb_linear_layer_forward((nb_linear_layer *)self, x);
}

nb_linear_layer *nb_linear_layer_new(nb_model *m, const char *name, int64_t in, int64_t out,
                                     int bias) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    if (in < 1 || out < 1)
        return nb__error(ctx, NB_ERR_ARG, "linear_layer '%s': sizes in = %lld, out = %lld must be >= 1",
                         name ? name : "", (long long)in, (long long)out), NULL;
    nb_linear_layer *l = nb__module_new(m, sizeof *l, "linear", name, linear_fwd);
    if (!l) return NULL;
    l->in = in;
    l->out = out;
    l->weight = nb_model_param_new(m, name, "weight", 2, (int64_t[]){out, in});
    if (!l->weight) return NULL;
    if (bias && !(l->bias = nb_model_param_new(m, name, "bias", 1, (int64_t[]){out}))) return NULL;
    /* torch.nn.Linear.reset_parameters: kaiming_uniform(a = √5), i.e.
     * U(-1/√in, 1/√in), then the bias from the same bound, in that order. */
    nb_rng *rng = nb_ctx_rng(ctx);
    if (nb_init_kaiming_uniform(l->weight, rng, sqrt(5.0), NB_FAN_IN, NB_NL_LEAKY_RELU) != NB_OK)
        return NULL;
    float bound = (float)(1.0 / sqrt((double)in));
    if (l->bias && nb_init_uniform(l->bias, rng, -bound, bound) != NB_OK) return NULL;
    l->base.num_params = l->weight->size + (l->bias ? l->bias->size : 0);
    return l;
}

nb_tensor *nb_linear_layer_forward(nb_linear_layer *l, nb_tensor *x) {
    if (!l) return NULL;
    nb_tensor *y = nb_linear(nb_model_ctx(l->base.model), x, l->weight, l->bias);
    if (y) l->base.output = y;
    return y;
}

/* ---- activations ---- */

const char *nb_activation_name(nb_activation act) {
    switch (act) {
    case NB_ACT_NONE: return "identity";
    case NB_ACT_RELU: return "relu";
    case NB_ACT_TANH: return "tanh";
    case NB_ACT_SIGMOID: return "sigmoid";
    case NB_ACT_GELU: return "gelu";
    }
    return "unknown";
}

static nb_tensor *activation_fwd(nb_module *self, nb_tensor *x) {
    nb_activation_layer *a = (nb_activation_layer *)self;
    nb_ctx *ctx = nb_model_ctx(self->model);
    nb_tensor *y = NULL;
    switch (a->act) {
    case NB_ACT_NONE: y = x; break;
    case NB_ACT_RELU: y = nb_relu(ctx, x); break;
    case NB_ACT_TANH: y = nb_tanh(ctx, x); break;
    case NB_ACT_SIGMOID: y = nb_sigmoid(ctx, x); break;
    case NB_ACT_GELU: y = nb_gelu(ctx, x, NB_GELU_ERF); break;
    }
    if (y) self->output = y;
    return y;
}

nb_activation_layer *nb_activation_layer_new(nb_model *m, const char *name, nb_activation act) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    if (act < NB_ACT_NONE || act > NB_ACT_GELU)
        return nb__error(ctx, NB_ERR_ARG, "activation_layer '%s': unknown activation %d",
                         name ? name : "", (int)act), NULL;
    nb_activation_layer *a = nb__module_new(m, sizeof *a, nb_activation_name(act), name, activation_fwd);
    if (a) a->act = act;
    return a;
}

/* ---- dropout ---- */

static nb_tensor *dropout_fwd(nb_module *self, nb_tensor *x) {
    return nb_dropout_layer_forward((nb_dropout_layer *)self, x);
}

nb_dropout_layer *nb_dropout_layer_new(nb_model *m, const char *name, float p) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    if (!(p >= 0.0f && p <= 1.0f))
        return nb__error(ctx, NB_ERR_ARG, "dropout_layer '%s': probability p = %g is outside [0, 1]",
                         name ? name : "", (double)p), NULL;
    nb_dropout_layer *d = nb__module_new(m, sizeof *d, "dropout", name, dropout_fwd);
    if (d) d->p = p;
    return d;
}

nb_tensor *nb_dropout_layer_forward(nb_dropout_layer *d, nb_tensor *x) {
    if (!d) return NULL;
    nb_tensor *y = nb_dropout(nb_model_ctx(d->base.model), x, d->p);
    if (y) d->base.output = y;
    return y;
}

/* ---- embedding ---- */

static nb_tensor *embedding_fwd(nb_module *self, nb_tensor *ids) {
    return nb_embedding_layer_forward((nb_embedding_layer *)self, ids);
}

nb_embedding_layer *nb_embedding_layer_new(nb_model *m, const char *name, int64_t num, int64_t dim) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    if (num < 1 || dim < 1)
        return nb__error(ctx, NB_ERR_ARG, "embedding_layer '%s': sizes num = %lld, dim = %lld must be >= 1",
                         name ? name : "", (long long)num, (long long)dim), NULL;
    nb_embedding_layer *e = nb__module_new(m, sizeof *e, "embedding", name, embedding_fwd);
    if (!e) return NULL;
    e->num = num;
    e->dim = dim;
    e->weight = nb_model_param_new(m, name, "weight", 2, (int64_t[]){num, dim});
    if (!e->weight || nb_init_normal(e->weight, nb_ctx_rng(ctx), 0.0f, 1.0f) != NB_OK) return NULL;
    e->base.num_params = e->weight->size;
    return e;
}

nb_tensor *nb_embedding_layer_forward(nb_embedding_layer *e, nb_tensor *ids) {
    if (!e) return NULL;
    nb_tensor *y = nb_embedding(nb_model_ctx(e->base.model), e->weight, ids);
    if (y) e->base.output = y;
    return y;
}
