/* nn/init.c — weight initialisation with torch.nn.init's formulas: plain
 * uniform/normal/constant fills and the Xavier and Kaiming schemes, all
 * drawing from a caller-given nb_rng in row-major order. */
#include <math.h>

#include "nn/internal.h"

/* In double throughout, as torch.nn.init computes it in Python: the bound of
 * a 784- or 3136-input layer rounds to another float when the gain or the
 * slope (√5 for the default Linear and Conv2d) is rounded to float first. */
double nb_init_gain(nb_nonlinearity nl, double a) {
    switch (nl) {
    case NB_NL_TANH: return 5.0 / 3.0;
    case NB_NL_RELU: return sqrt(2.0);
    case NB_NL_LEAKY_RELU: return sqrt(2.0 / (1.0 + a * a));
    case NB_NL_SELU: return 0.75;
    case NB_NL_LINEAR:
    case NB_NL_SIGMOID:
    default: return 1.0;
    }
}

int nb_init_fans(const nb_tensor *t, int64_t *fan_in, int64_t *fan_out) {
    if (!t) return NB_ERR_NULL;
    if (t->ndim < 2) {
        char buf[NB_SHAPE_BUF];
        return nb__error(t->ctx, NB_ERR_SHAPE,
                         "init: fan_in and fan_out need a weight of rank >= 2 ([out, in, ...]), not %s",
                         nb__shape_str(t, buf));
    }
    int64_t receptive = 1;
    for (int i = 2; i < t->ndim; i++) receptive *= t->shape[i];
    if (fan_in) *fan_in = t->shape[1] * receptive;
    if (fan_out) *fan_out = t->shape[0] * receptive;
    return NB_OK;
}

static int check(nb_tensor *t, nb_rng *rng, const char *what) {
    if (!t) return NB_ERR_NULL;
    if (nb_error(t->ctx)) return nb_error(t->ctx);
    if (!rng) return nb__error(t->ctx, NB_ERR_NULL, "%s: rng is NULL", what);
    return NB_OK;
}

int nb_init_uniform(nb_tensor *t, nb_rng *rng, float lo, float hi) {
    int rc = check(t, rng, "init_uniform");
    if (rc != NB_OK) return rc;
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
        return nb__error(t->ctx, NB_ERR_ARG, "init_uniform: bounds [%g, %g) are not finite with lo <= hi",
                         (double)lo, (double)hi);
    float span = hi - lo;
    if (rng->kind == NB_RNG_TORCH) /* uniform_(lo, hi) as PyTorch's AVX2 build computes it */
        for (int64_t i = 0; i < t->size; i++) t->data[i] = fmaf(nb_rng_uniform(rng), span, lo);
    else
        for (int64_t i = 0; i < t->size; i++) t->data[i] = lo + span * nb_rng_uniform(rng);
    return NB_OK;
}

int nb_init_normal(nb_tensor *t, nb_rng *rng, float mean, float std) {
    int rc = check(t, rng, "init_normal");
    if (rc != NB_OK) return rc;
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
        return nb__error(t->ctx, NB_ERR_ARG, "init_normal: mean %g and std %g must be finite, std >= 0",
                         (double)mean, (double)std);
    for (int64_t i = 0; i < t->size; i++) t->data[i] = mean + std * nb_rng_normal(rng);
    return NB_OK;
}

int nb_init_constant(nb_tensor *t, float value) {
    if (!t) return NB_ERR_NULL;
    if (nb_error(t->ctx)) return nb_error(t->ctx);
    nb_tensor_fill(t, value);
    return NB_OK;
}
int nb_init_zeros(nb_tensor *t) { return nb_init_constant(t, 0.0f); }
int nb_init_ones(nb_tensor *t) { return nb_init_constant(t, 1.0f); }

/* Zero-element tensors are left alone, as PyTorch does (their fans may be 0). */
static int fans(nb_tensor *t, nb_rng *rng, const char *what, double *fin, double *fout) {
    int rc = check(t, rng, what);
    if (rc != NB_OK) return rc;
    int64_t in, out;
    rc = nb_init_fans(t, &in, &out);
    if (rc != NB_OK) return rc;
    *fin = (double)in;
    *fout = (double)out;
    return NB_OK;
}

int nb_init_xavier_uniform(nb_tensor *t, nb_rng *rng, float gain) {
    double in = 0.0, out = 0.0;
    int rc = fans(t, rng, "init_xavier_uniform", &in, &out);
    if (rc != NB_OK || t->size == 0) return rc;
    float b = (float)(gain * sqrt(6.0 / (in + out)));
    return nb_init_uniform(t, rng, -b, b);
}

int nb_init_xavier_normal(nb_tensor *t, nb_rng *rng, float gain) {
    double in = 0.0, out = 0.0;
    int rc = fans(t, rng, "init_xavier_normal", &in, &out);
    if (rc != NB_OK || t->size == 0) return rc;
    return nb_init_normal(t, rng, 0.0f, (float)(gain * sqrt(2.0 / (in + out))));
}

static int kaiming_std(nb_tensor *t, nb_rng *rng, const char *what, double a, nb_fan_mode mode,
                       nb_nonlinearity nl, double *std) {
    double in = 0.0, out = 0.0;
    int rc = fans(t, rng, what, &in, &out);
    if (rc != NB_OK) return rc;
    if (mode != NB_FAN_IN && mode != NB_FAN_OUT)
        return nb__error(t->ctx, NB_ERR_ARG, "%s: fan mode %d is neither NB_FAN_IN nor NB_FAN_OUT", what,
                         (int)mode);
    double fan = mode == NB_FAN_IN ? in : out;
    *std = fan > 0 ? nb_init_gain(nl, a) / sqrt(fan) : 0.0;
    return NB_OK;
}

int nb_init_kaiming_uniform(nb_tensor *t, nb_rng *rng, double a, nb_fan_mode mode,
                            nb_nonlinearity nl) {
    double std = 0.0;
    int rc = kaiming_std(t, rng, "init_kaiming_uniform", a, mode, nl, &std);
    if (rc != NB_OK || t->size == 0) return rc;
    float b = (float)(sqrt(3.0) * std);
    return nb_init_uniform(t, rng, -b, b);
}

int nb_init_kaiming_normal(nb_tensor *t, nb_rng *rng, double a, nb_fan_mode mode,
                           nb_nonlinearity nl) {
    double std = 0.0;
    int rc = kaiming_std(t, rng, "init_kaiming_normal", a, mode, nl, &std);
    if (rc != NB_OK || t->size == 0) return rc;
    return nb_init_normal(t, rng, 0.0f, (float)std);
}
