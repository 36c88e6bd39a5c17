/* nn/conv_layers.c — the layer modules of convolutional networks: conv2d
 * (torch.nn.Conv2d's default initialisation), batch normalisation 1-D/2-D with
 * running statistics as model buffers, max/average/global pooling, flatten. */
#include <math.h>
#include <string.h>

#include "nn/internal.h"

static const char *nm(const char *name) { return name ? name : ""; }

/* ---- conv2d ---- */

static nb_tensor *conv2d_fwd(nb_module *self, nb_tensor *x) {
    return nb_conv2d_layer_forward((nb_conv2d_layer *)self, x);
}

nb_conv2d_layer *nb_conv2d_layer_new(nb_model *m, const char *name, int64_t in_ch, int64_t out_ch,
                                     int kh, int kw, const nb_conv2d_opts *opts, int bias) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    nb_conv2d_opts o = opts ? *opts : (nb_conv2d_opts){0};
    if (o.stride_h < 0 || o.stride_w < 0 || o.pad_h < 0 || o.pad_w < 0 || o.dil_h < 0 ||
        o.dil_w < 0 || o.groups < 0)
        return nb__error(ctx, NB_ERR_ARG,
                         "conv2d_layer '%s': negative option (stride %d,%d pad %d,%d dilation %d,%d "
                         "groups %d)", nm(name), o.stride_h, o.stride_w, o.pad_h, o.pad_w, o.dil_h,
                         o.dil_w, o.groups), NULL;
    /* 0 means 1 in nb_conv2d_opts; store the effective values for readers */
    if (!o.stride_h) o.stride_h = 1;
    if (!o.stride_w) o.stride_w = 1;
    if (!o.dil_h) o.dil_h = 1;
    if (!o.dil_w) o.dil_w = 1;
    if (!o.groups) o.groups = 1;
    if (in_ch < 1 || out_ch < 1 || kh < 1 || kw < 1)
        return nb__error(ctx, NB_ERR_ARG,
                         "conv2d_layer '%s': channels %lld -> %lld and kernel %dx%d must be >= 1",
                         nm(name), (long long)in_ch, (long long)out_ch, kh, kw), NULL;
    if (in_ch % o.groups || out_ch % o.groups)
        return nb__error(ctx, NB_ERR_ARG,
                         "conv2d_layer '%s': channels %lld -> %lld are not divisible by groups %d",
                         nm(name), (long long)in_ch, (long long)out_ch, o.groups), NULL;
    nb_conv2d_layer *l = nb__module_new(m, sizeof *l, "conv2d", name, conv2d_fwd);
    if (!l) return NULL;
    l->in_ch = in_ch;
    l->out_ch = out_ch;
    l->kh = kh;
    l->kw = kw;
    l->opts = o;
    const int64_t cin = in_ch / o.groups;
    l->weight = nb_model_param_new(m, name, "weight", 4, (int64_t[]){out_ch, cin, kh, kw});
    if (!l->weight) return NULL;
    if (bias && !(l->bias = nb_model_param_new(m, name, "bias", 1, (int64_t[]){out_ch}))) return NULL;
    /* torch.nn.Conv2d.reset_parameters: kaiming_uniform(a = √5) on the weight,
     * i.e. U(±1/√fan_in) with fan_in = C/groups·KH·KW, then the bias from the
     * same bound, in that order. */
    nb_rng *rng = nb_ctx_rng(ctx);
    if (nb_init_kaiming_uniform(l->weight, rng, sqrt(5.0), NB_FAN_IN, NB_NL_LEAKY_RELU) != NB_OK)
        return NULL;
    const float bound = (float)(1.0 / sqrt((double)(cin * kh * kw)));
    if (l->bias && nb_init_uniform(l->bias, rng, -bound, bound) != NB_OK) return NULL;
    l->base.num_params = l->weight->size + (l->bias ? l->bias->size : 0);
    return l;
}

nb_tensor *nb_conv2d_layer_forward(nb_conv2d_layer *l, nb_tensor *x) {
    if (!l) return NULL;
    nb_tensor *y = nb_conv2d(nb_model_ctx(l->base.model), x, l->weight, l->bias, &l->opts);
    if (y) l->base.output = y;
    return y;
}

/* ---- batch normalisation ---- */

static nb_tensor *batchnorm_fwd(nb_module *self, nb_tensor *x) {
    return nb_batchnorm_layer_forward((nb_batchnorm_layer *)self, x);
}

static nb_batchnorm_layer *batchnorm_new(nb_model *m, const char *name, const char *kind, int dims,
                                         int64_t features, float momentum, float eps, int affine) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    if (features < 1)
        return nb__error(ctx, NB_ERR_ARG, "%s_layer '%s': num_features = %lld must be >= 1", kind,
                         nm(name), (long long)features), NULL;
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return nb__error(ctx, NB_ERR_ARG, "%s_layer '%s': momentum %g is outside [0, 1]", kind,
                         nm(name), (double)momentum), NULL;
    if (!(eps > 0.0f) || isinf(eps))
        return nb__error(ctx, NB_ERR_ARG, "%s_layer '%s': eps must be positive, got %g", kind,
                         nm(name), (double)eps), NULL;
    nb_batchnorm_layer *l = nb__module_new(m, sizeof *l, kind, name, batchnorm_fwd);
    if (!l) return NULL;
    l->num_features = features;
    l->momentum = momentum;
    l->eps = eps;
    l->dims = dims;
    const int64_t shape[1] = {features};
    /* state_dict order of torch.nn.BatchNorm*: weight, bias, running_mean,
     * running_var (num_batches_tracked is not kept, see nn.h) */
    if (affine) {
        if (!(l->weight = nb_model_param_new(m, name, "weight", 1, shape)) ||
            !(l->bias = nb_model_param_new(m, name, "bias", 1, shape)))
            return NULL;
        nb_init_ones(l->weight);
    }
    if (!(l->running_mean = nb_model_buffer_new(m, name, "running_mean", 1, shape)) ||
        !(l->running_var = nb_model_buffer_new(m, name, "running_var", 1, shape)))
        return NULL;
    nb_init_ones(l->running_var);
    /* the scratch copy of the running statistics used while building */
    if (!(l->saved_stats = nb__alloc(ctx, 2 * (size_t)features * sizeof(float)))) return NULL;
    l->base.num_params = affine ? 2 * features : 0;
    return l;
}

nb_batchnorm_layer *nb_batchnorm2d_layer_new(nb_model *m, const char *name, int64_t num_features,
                                             float momentum, float eps, int affine) {
    return batchnorm_new(m, name, "bnorm2d", 2, num_features, momentum, eps, affine);
}

nb_batchnorm_layer *nb_batchnorm1d_layer_new(nb_model *m, const char *name, int64_t num_features,
                                             float momentum, float eps, int affine) {
    return batchnorm_new(m, name, "bnorm1d", 1, num_features, momentum, eps, affine);
}

nb_tensor *nb_batchnorm_layer_forward(nb_batchnorm_layer *l, nb_tensor *x) {
    if (!l) return NULL;
    nb_ctx *ctx = nb_model_ctx(l->base.model);
    if (nb_error(ctx)) return NULL;
    if (!x) return nb__error(ctx, NB_ERR_NULL, "%s '%s': input is NULL", l->base.kind, l->base.name), NULL;
    /* torch.nn.BatchNorm2d takes [N,C,H,W] only; BatchNorm1d [N,C] or [N,C,L] */
    const int rank_ok = l->dims == 2 ? x->ndim == 4 : (x->ndim == 2 || x->ndim == 3);
    if (!rank_ok || x->shape[1] != l->num_features) {
        char sx[NB_SHAPE_BUF];
        return nb__error(ctx, NB_ERR_SHAPE, "%s '%s': expected %s with C = %lld, got %s",
                         l->base.kind, l->base.name, l->dims == 2 ? "[N,C,H,W]" : "[N,C] or [N,C,L]",
                         (long long)l->num_features, nb__shape_str(x, sx)), NULL;
    }
    /* Building the op runs its forward once, on whatever x holds now, and in
     * training mode that moves the running statistics. Only executed graph
     * forwards may count (one update per step, as one module call does in
     * PyTorch), so the statistics are put back as they were. */
    const size_t bytes = (size_t)l->num_features * sizeof(float);
    float *mean0 = l->saved_stats, *var0 = l->saved_stats + l->num_features;
    memcpy(mean0, l->running_mean->data, bytes);
    memcpy(var0, l->running_var->data, bytes);
    nb_tensor *y = nb_batch_norm_sync(ctx, x, l->weight, l->bias, l->running_mean, l->running_var,
                                      l->momentum, l->eps, l->sync);
    memcpy(l->running_mean->data, mean0, bytes);
    memcpy(l->running_var->data, var0, bytes);
    if (y) l->base.output = y;
    return y;
}

void nb_batchnorm_layer_set_sync(nb_batchnorm_layer *l, int sync) {
    if (l) l->sync = sync != 0;
}

/* ---- pooling and flatten ---- */

static nb_tensor *pool_fwd(nb_module *self, nb_tensor *x) {
    return nb_pool2d_layer_forward((nb_pool2d_layer *)self, x);
}

static nb_pool2d_layer *pool_new(nb_model *m, const char *name, const char *kind, int kh, int kw,
                                 int sh, int sw, int ph, int pw) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    if (kh < 1 || kw < 1 || sh < 0 || sw < 0 || ph < 0 || pw < 0 || 2 * ph > kh || 2 * pw > kw)
        return nb__error(ctx, NB_ERR_ARG,
                         "%s_layer '%s': kernel %dx%d, stride %d,%d, padding %d,%d (kernel >= 1, "
                         "stride >= 0, 0 <= padding <= kernel/2)", kind, nm(name), kh, kw, sh, sw,
                         ph, pw), NULL;
    nb_pool2d_layer *p = nb__module_new(m, sizeof *p, kind, name, pool_fwd);
    if (!p) return NULL;
    p->kh = kh;
    p->kw = kw;
    p->sh = sh ? sh : kh;   /* PyTorch's default stride is the kernel size */
    p->sw = sw ? sw : kw;
    p->ph = ph;
    p->pw = pw;
    return p;
}

nb_pool2d_layer *nb_max_pool2d_layer_new(nb_model *m, const char *name, int kh, int kw, int sh,
                                         int sw, int ph, int pw) {
    return pool_new(m, name, "maxpool2d", kh, kw, sh, sw, ph, pw);
}

nb_pool2d_layer *nb_avg_pool2d_layer_new(nb_model *m, const char *name, int kh, int kw, int sh,
                                         int sw, int ph, int pw) {
    return pool_new(m, name, "avgpool2d", kh, kw, sh, sw, ph, pw);
}

nb_tensor *nb_pool2d_layer_forward(nb_pool2d_layer *p, nb_tensor *x) {
    if (!p) return NULL;
    nb_ctx *ctx = nb_model_ctx(p->base.model);
    nb_tensor *y = p->base.kind[0] == 'm'
                       ? nb_max_pool2d(ctx, x, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw)
                       : nb_avg_pool2d(ctx, x, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw);
    if (y) p->base.output = y;
    return y;
}

static nb_tensor *global_pool_fwd(nb_module *self, nb_tensor *x) {
    nb_tensor *y = nb_global_avg_pool2d(nb_model_ctx(self->model), x);
    if (y) self->output = y;
    return y;
}

nb_module *nb_global_avg_pool2d_layer_new(nb_model *m, const char *name) {
    return nb__module_new(m, sizeof(nb_module), "globalpool", name, global_pool_fwd);
}

static nb_tensor *flatten_fwd(nb_module *self, nb_tensor *x) {
    nb_tensor *y = nb_flatten(nb_model_ctx(self->model), x);
    if (y) self->output = y;
    return y;
}

nb_module *nb_flatten_layer_new(nb_model *m, const char *name) {
    return nb__module_new(m, sizeof(nb_module), "flatten", name, flatten_fwd);
}
