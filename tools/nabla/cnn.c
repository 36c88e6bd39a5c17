/* cnn.c — the `cnn` model kind: layer words ("conv32k3", "max2", "bn",
 * "fc128") parsed and printed back, and one walk over them (plan) that checks
 * the shapes, names the layers and is shared by building and describing. An
 * activation right before a max-pool is applied after it (same values and
 * gradients, a quarter of the work). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "spec.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#define CONV_FORM "conv<N>[k<K>][s<S>][p<P>][d<D>][g<G>]"
#define POOL_FORM "max<K>[s<S>][p<P>] or avg<K>[s<S>][p<P>]"
#define WORDS "conv<N>..., max<K>..., avg<K>..., gap, bn, drop<P>, fc<N>"

/* Digits at *p as an integer in [lo, hi]; advances *p. */
static int digits(const char **p, int64_t lo, int64_t hi, int64_t *out) {
    const char *q = *p;
    int64_t v = 0;
    if (*q < '0' || *q > '9') return -1;
    while (*q >= '0' && *q <= '9') {
        if (v > (INT64_C(1) << 40)) return -1;
        v = v * 10 + (*q++ - '0');
    }
    if (v < lo || v > hi) return -1;
    *p = q;
    *out = v;
    return 0;
}

/* "k3s2p1": the option letters in `allowed`, each at most once. */
static int options(const char *p, const char *allowed, int64_t *val, int *seen) {
    while (*p) {
        const char *at = strchr(allowed, *p);
        if (!at || !*p) return -1;
        int i = (int)(at - allowed);
        if (seen[i]) return -1;
        seen[i] = 1;
        p++;
        if (digits(&p, 0, 1 << 16, &val[i])) return -1;
    }
    return 0;
}

static int parse_word(const char *s, const char *w, nbc_cnn_layer *l, char *err, size_t errlen) {
    memset(l, 0, sizeof *l);
    const char *p;
    int64_t v;
    if (strcmp(w, "gap") == 0) {
        l->op = NBC_CNN_GAP;
    } else if (strcmp(w, "bn") == 0) {
        l->op = NBC_CNN_BN;
    } else if (strncmp(w, "drop", 4) == 0) {
        char *end;
        errno = 0;
        double d = strtod(w + 4, &end);
        if (!w[4] || w[4] == ' ' || *end || errno || !(d >= 0.0 && d < 1.0))
            return fail(err, errlen, "'%s': '%s': dropout wants drop<P> with P in [0, 1), e.g. drop0.25", s, w);
        l->op = NBC_CNN_DROP;
        l->drop = (float)d;
    } else if (strncmp(w, "fc", 2) == 0) {
        p = w + 2;
        if (digits(&p, 1, 1 << 20, &v) || *p)
            return fail(err, errlen, "'%s': '%s': a linear layer is fc<N>, N in [1, 1048576]", s, w);
        l->op = NBC_CNN_FC;
        l->n = v;
    } else if (strncmp(w, "conv", 4) == 0) {
        p = w + 4;
        int64_t val[5] = {3, 1, 0, 1, 1};
        int seen[5] = {0};
        if (digits(&p, 1, 1 << 16, &v) || options(p, "kspdg", val, seen))
            return fail(err, errlen, "'%s': '%s': a convolution is " CONV_FORM ", e.g. conv32 or conv64k5s2", s, w);
        if (val[0] < 1 || val[0] > 64 || val[1] < 1 || val[1] > 64 || val[2] > 64 || val[3] < 1 || val[3] > 64 ||
            val[4] < 1)
            return fail(err, errlen, "'%s': '%s': kernel, stride and dilation must be in [1, 64], padding in [0, 64], groups >= 1",
                        s, w);
        if (v % val[4])
            return fail(err, errlen, "'%s': '%s': %lld output channels are not divisible by %lld groups", s, w,
                        (long long)v, (long long)val[4]);
        l->op = NBC_CNN_CONV;
        l->n = v;
        l->k = (int)val[0];
        l->s = (int)val[1];
        l->d = (int)val[3];
        l->p = seen[2] ? (int)val[2] : l->d * (l->k - 1) / 2;
        l->g = (int)val[4];
    } else if (strncmp(w, "max", 3) == 0 || strncmp(w, "avg", 3) == 0) {
        p = w + 3;
        int64_t val[2] = {0, 0};
        int seen[2] = {0};
        if (digits(&p, 1, 64, &v) || options(p, "sp", val, seen))
            return fail(err, errlen, "'%s': '%s': pooling is " POOL_FORM " with K in [1, 64], e.g. max2", s, w);
        if (seen[0] && (val[0] < 1 || val[0] > 64))
            return fail(err, errlen, "'%s': '%s': the stride must be in [1, 64]", s, w);
        if (val[1] > v / 2)
            return fail(err, errlen, "'%s': '%s': padding %lld is more than half the kernel %lld", s, w,
                        (long long)val[1], (long long)v);
        l->op = w[0] == 'm' ? NBC_CNN_MAXPOOL : NBC_CNN_AVGPOOL;
        l->k = (int)v;
        l->s = seen[0] ? (int)val[0] : (int)v;
        l->p = (int)val[1];
    } else {
        return fail(err, errlen, "'%s': unknown layer '%s' (" WORDS ")", s, w);
    }
    return 0;
}

/* as spelt in specs (mlp's act= too): "none", not the module kind "identity" */
static const char *act_name(nb_activation a) { return a == NB_ACT_NONE ? "none" : nb_activation_name(a); }

static int parse_shape(const char *v, int64_t shape[3]) {
    int64_t d[3];
    int n = 0;
    const char *p = v;
    for (;;) {
        if (n == 3 || digits(&p, 1, 1 << 16, &d[n])) return -1;
        n++;
        if (!*p) break;
        if (*p != 'x') return -1;
        p++;
    }
    if (n == 1) return -1;
    shape[0] = n == 3 ? d[0] : 1;
    shape[1] = d[n - 2];
    shape[2] = d[n - 1];
    return 0;
}

int nbc_cnn_parse(const char *s, const struct nbc_kvlist *kv, nbc_cnn_spec *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->act = NB_ACT_RELU;
    int flat = 0;
    const char *flat_word = NULL;
    for (int i = 0; i < kv->n; i++) {
        const nbc_kv *it = &kv->item[i];
        if (!it->key[0]) {
            if (c->nlayers == NBC_CNN_MAX_LAYERS)
                return fail(err, errlen, "'%s': more than %d layers", s, NBC_CNN_MAX_LAYERS);
            nbc_cnn_layer *l = &c->layer[c->nlayers];
            if (parse_word(s, it->value, l, err, errlen)) return -1;
            if (flat && (l->op == NBC_CNN_CONV || l->op == NBC_CNN_MAXPOOL || l->op == NBC_CNN_AVGPOOL ||
                         l->op == NBC_CNN_GAP))
                return fail(err, errlen, "'%s': '%s' after '%s': convolutions and pooling come before the linear layers",
                            s, it->value, flat_word);
            if (l->op == NBC_CNN_FC || l->op == NBC_CNN_GAP) {
                flat = 1;
                flat_word = it->value;
            }
            c->nlayers++;
        } else if (strcmp(it->key, "act") == 0) {
            static const nb_activation acts[] = {NB_ACT_RELU, NB_ACT_TANH, NB_ACT_SIGMOID, NB_ACT_GELU, NB_ACT_NONE};
            size_t k = 0, na = sizeof acts / sizeof acts[0];
            while (k < na && strcmp(act_name(acts[k]), it->value) != 0) k++;
            if (k == na)
                return fail(err, errlen, "'%s': unknown activation '%s' (relu, tanh, sigmoid, gelu, none)", s,
                            it->value);
            c->act = acts[k];
        } else if (strcmp(it->key, "shape") == 0) {
            if (parse_shape(it->value, c->shape))
                return fail(err, errlen, "'%s': shape '%s' is not CxHxW (or HxW), e.g. shape=1x28x28", s, it->value);
        } else {
            return fail(err, errlen, "'%s': unknown option '%s' for cnn (act=, shape=)", s, it->key);
        }
    }
    if (c->nlayers == 0) { /* the preset of issue 6 and fmnist_cnn.py */
        static const nbc_cnn_layer preset[] = {
            {NBC_CNN_CONV, 32, 3, 1, 1, 1, 1, 0.0f}, {NBC_CNN_MAXPOOL, 0, 2, 2, 0, 0, 0, 0.0f},
            {NBC_CNN_CONV, 64, 3, 1, 1, 1, 1, 0.0f}, {NBC_CNN_MAXPOOL, 0, 2, 2, 0, 0, 0, 0.0f},
            {NBC_CNN_FC, 128, 0, 0, 0, 0, 0, 0.0f}};
        c->nlayers = (int)(sizeof preset / sizeof preset[0]);
        memcpy(c->layer, preset, sizeof preset);
    }
    return 0;
}

#define OUT(...) (o += (size_t)snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__))

static void format_float(float v, char *d, size_t n) {
    for (int prec = 6; prec <= 9; prec++) { /* the shortest text that reads back as v */
        snprintf(d, n, "%.*g", prec, (double)v);
        if (strtof(d, NULL) == v) break;
    }
}

void nbc_cnn_format(const nbc_cnn_spec *c, char *buf, size_t len) {
    size_t o = 0;
    if (len) buf[0] = '\0';
    for (int i = 0; i < c->nlayers; i++) {
        const nbc_cnn_layer *l = &c->layer[i];
        if (i) OUT(",");
        switch (l->op) {
        case NBC_CNN_CONV:
            OUT("conv%lld", (long long)l->n);
            if (l->k != 3) OUT("k%d", l->k);
            if (l->s != 1) OUT("s%d", l->s);
            if (l->p != l->d * (l->k - 1) / 2) OUT("p%d", l->p);
            if (l->d != 1) OUT("d%d", l->d);
            if (l->g != 1) OUT("g%d", l->g);
            break;
        case NBC_CNN_MAXPOOL:
        case NBC_CNN_AVGPOOL:
            OUT("%s%d", l->op == NBC_CNN_MAXPOOL ? "max" : "avg", l->k);
            if (l->s != l->k) OUT("s%d", l->s);
            if (l->p) OUT("p%d", l->p);
            break;
        case NBC_CNN_GAP: OUT("gap"); break;
        case NBC_CNN_BN: OUT("bn"); break;
        case NBC_CNN_DROP: {
            char d[32];
            format_float(l->drop, d, sizeof d);
            OUT("drop%s", d);
            break;
        }
        case NBC_CNN_FC: OUT("fc%lld", (long long)l->n); break;
        }
    }
    OUT("%sact=%s", c->nlayers ? "," : "", act_name(c->act));
    if (c->shape[0]) OUT(",shape=%lldx%lldx%lld", (long long)c->shape[0], (long long)c->shape[1], (long long)c->shape[2]);
}

/* ---- the plan: every module in order, with its name and output shape ---- */

enum { ST_LAYER, ST_ACT, ST_FLATTEN, ST_CLASSIFIER };
typedef struct step {
    int kind;
    const nbc_cnn_layer *l; /* ST_LAYER */
    char name[24];
    int64_t in[3], out[3];  /* [C,H,W], or [F,0,0] once flat */
    int flat_in;            /* input is [N, F] */
} step;
#define MAX_STEPS (3 * NBC_CNN_MAX_LAYERS + 4)

static int64_t conv_out(int64_t h, int k, int s, int p, int d) {
    int64_t span = h + 2 * (int64_t)p - (int64_t)d * (k - 1) - 1;
    return span < 0 ? 0 : span / s + 1;
}

/* Walks c for inputs of shape c->shape; -1 with err when a size goes to zero
 * or the groups do not divide the input channels. */
static int plan(const nbc_cnn_spec *c, int classes, step *st, int *nst, char *err, size_t errlen) {
    int n = 0, flat = 0, nconv = 0, npool = 0, nbn = 0, ndrop = 0, nfc = 0, nact = 0;
    int64_t cur[3] = {c->shape[0], c->shape[1], c->shape[2]};
    const char *act = nb_activation_name(c->act);
    const int monotonic = c->act == NB_ACT_RELU || c->act == NB_ACT_TANH || c->act == NB_ACT_SIGMOID;
    int act_after = 0; /* push the activation after the current (max-pool) layer */
#define PUSH(k, lay, ...)                                                                       \
    do {                                                                                        \
        st[n].kind = (k);                                                                       \
        st[n].l = (lay);                                                                        \
        snprintf(st[n].name, sizeof st[n].name, __VA_ARGS__);                                   \
        memcpy(st[n].in, cur, sizeof cur);                                                      \
        st[n].flat_in = flat;                                                                   \
    } while (0)
#define DONE() (memcpy(st[n].out, cur, sizeof cur), n++)
    for (int i = 0; i < c->nlayers; i++) {
        const nbc_cnn_layer *l = &c->layer[i];
        switch (l->op) {
        case NBC_CNN_CONV:
            if (cur[0] % l->g)
                return fail(err, errlen, "conv%d: %lld input channels are not divisible by %d groups", nconv + 1,
                            (long long)cur[0], l->g);
            PUSH(ST_LAYER, l, "conv%d", ++nconv);
            cur[0] = l->n;
            cur[1] = conv_out(cur[1], l->k, l->s, l->p, l->d);
            cur[2] = conv_out(cur[2], l->k, l->s, l->p, l->d);
            break;
        case NBC_CNN_MAXPOOL:
        case NBC_CNN_AVGPOOL:
            PUSH(ST_LAYER, l, "pool%d", ++npool); /* one numbering for max and avg */
            cur[1] = conv_out(cur[1], l->k, l->s, l->p, 1);
            cur[2] = conv_out(cur[2], l->k, l->s, l->p, 1);
            break;
        case NBC_CNN_GAP:
            PUSH(ST_LAYER, l, "gap");
            cur[1] = cur[2] = 1;
            break;
        case NBC_CNN_BN: PUSH(ST_LAYER, l, "bn%d", ++nbn); break;
        case NBC_CNN_DROP: PUSH(ST_LAYER, l, "drop%d", ++ndrop); break;
        case NBC_CNN_FC:
            if (!flat) {
                PUSH(ST_FLATTEN, NULL, "flatten");
                cur[0] *= cur[1] * cur[2];
                cur[1] = cur[2] = 0;
                flat = 1;
                DONE();
            }
            PUSH(ST_LAYER, l, "fc%d", ++nfc);
            cur[0] = l->n;
            break;
        }
        if (!flat && (cur[1] < 1 || cur[2] < 1))
            return fail(err, errlen, "%s makes the %lldx%lld image empty", st[n].name, (long long)st[n].in[1],
                        (long long)st[n].in[2]);
        DONE();
        if (l->op == NBC_CNN_GAP) {
            PUSH(ST_FLATTEN, NULL, "flatten");
            cur[1] = cur[2] = 0;
            flat = 1;
            DONE();
        }
        if (act_after) { /* the activation moved behind this max-pool */
            PUSH(ST_ACT, NULL, "%s%d", act, ++nact);
            DONE();
            act_after = 0;
        }
        /* the activation follows conv/fc, after a bn that comes right next */
        if ((l->op == NBC_CNN_CONV || l->op == NBC_CNN_FC) && c->act != NB_ACT_NONE) {
            if (i + 1 < c->nlayers && c->layer[i + 1].op == NBC_CNN_BN) {
                i++;
                PUSH(ST_LAYER, &c->layer[i], "bn%d", ++nbn);
                DONE();
            }
            /* max(f(a), f(b)) = f(max(a, b)) for a non-decreasing f, and the
             * gradient reaches the same input either way (zero when f' is):
             * pooling first applies f to a quarter of the values (2x2). */
            if (monotonic && i + 1 < c->nlayers && c->layer[i + 1].op == NBC_CNN_MAXPOOL) {
                act_after = 1;
                continue;
            }
            PUSH(ST_ACT, NULL, "%s%d", act, ++nact);
            DONE();
        }
    }
    if (!flat) {
        PUSH(ST_FLATTEN, NULL, "flatten");
        cur[0] *= cur[1] * cur[2];
        cur[1] = cur[2] = 0;
        flat = 1;
        DONE();
    }
    PUSH(ST_CLASSIFIER, NULL, "fc%d", nfc + 1);
    cur[0] = classes;
    DONE();
#undef PUSH
#undef DONE
    *nst = n;
    return 0;
}

int nbc_cnn_set_input(nbc_cnn_spec *c, int feat_ndim, const int64_t *feat_shape, int64_t features, char *err,
                      size_t errlen) {
    if (c->shape[0]) {
        int64_t want = c->shape[0] * c->shape[1] * c->shape[2];
        if (want != features)
            return fail(err, errlen, "cnn: shape=%lldx%lldx%lld is %lld values per sample, but the data has %lld features",
                        (long long)c->shape[0], (long long)c->shape[1], (long long)c->shape[2], (long long)want,
                        (long long)features);
    } else if (feat_ndim == 2 || feat_ndim == 3) {
        c->shape[0] = feat_ndim == 3 ? feat_shape[0] : 1;
        c->shape[1] = feat_shape[feat_ndim - 2];
        c->shape[2] = feat_shape[feat_ndim - 1];
    } else {
        return fail(err, errlen, "cnn: the samples are flat (%lld features), not images; give their shape, e.g. "
                                 "--model cnn:...,shape=1x28x28",
                    (long long)features);
    }
    step st[MAX_STEPS];
    int n;
    char e2[200];
    if (plan(c, 2, st, &n, e2, sizeof e2))
        return fail(err, errlen, "cnn on %lldx%lldx%lld inputs: %s", (long long)c->shape[0], (long long)c->shape[1],
                    (long long)c->shape[2], e2);
    return 0;
}

nb_sequential *nbc_cnn_build(nb_model *m, const nbc_cnn_spec *c, int64_t inputs, int classes, int *status) {
    step st[MAX_STEPS];
    int n;
    *status = NB_OK;
    if (!c->shape[0] || c->shape[0] * c->shape[1] * c->shape[2] != inputs || plan(c, classes, st, &n, NULL, 0)) {
        *status = NB_ERR_ARG;
        return NULL;
    }
    nb_sequential *seq = nb_sequential_new(m, "");
    for (int i = 0; seq && i < n; i++) {
        const step *s = &st[i];
        const nbc_cnn_layer *l = s->l;
        nb_module *mod = NULL;
        if (s->kind == ST_ACT) {
            nb_activation_layer *a = nb_activation_layer_new(m, s->name, c->act);
            mod = a ? &a->base : NULL;
        } else if (s->kind == ST_FLATTEN) {
            mod = nb_flatten_layer_new(m, s->name);
        } else if (s->kind == ST_CLASSIFIER) {
            nb_linear_layer *f = nb_linear_layer_new(m, s->name, s->in[0], s->out[0], 1);
            mod = f ? &f->base : NULL;
        } else if (l->op == NBC_CNN_CONV) {
            nb_conv2d_opts o = {.stride_h = l->s, .stride_w = l->s, .pad_h = l->p, .pad_w = l->p,
                                .dil_h = l->d, .dil_w = l->d, .groups = l->g};
            /* A 2x2 stride-2 max-pool right after (the activation, if any,
             * moved behind it) runs inside the convolution: the same values
             * and gradients, without storing the full-size output. The pool
             * has no parameters, so checkpoints do not change. */
            const step *nx = i + 1 < n ? &st[i + 1] : NULL;
            if (nx && nx->kind == ST_LAYER && nx->l->op == NBC_CNN_MAXPOOL && nx->l->k == 2 &&
                nx->l->s == 2 && nx->l->p == 0) {
                o.max_pool = 2;
                i++;
            }
            nb_conv2d_layer *cv = nb_conv2d_layer_new(m, s->name, s->in[0], l->n, l->k, l->k, &o, 1);
            mod = cv ? &cv->base : NULL;
        } else if (l->op == NBC_CNN_MAXPOOL || l->op == NBC_CNN_AVGPOOL) {
            nb_pool2d_layer *p = (l->op == NBC_CNN_MAXPOOL ? nb_max_pool2d_layer_new : nb_avg_pool2d_layer_new)(
                m, s->name, l->k, l->k, l->s, l->s, l->p, l->p);
            mod = p ? &p->base : NULL;
        } else if (l->op == NBC_CNN_GAP) {
            mod = nb_global_avg_pool2d_layer_new(m, s->name);
        } else if (l->op == NBC_CNN_BN) {
            nb_batchnorm_layer *b = (s->flat_in ? nb_batchnorm1d_layer_new : nb_batchnorm2d_layer_new)(
                m, s->name, s->in[0], 0.1f, 1e-5f, 1);
            nb_batchnorm_layer_set_sync(b, c->sync_bn);
            mod = b ? &b->base : NULL;
        } else if (l->op == NBC_CNN_DROP) {
            nb_dropout_layer *d = nb_dropout_layer_new(m, s->name, l->drop);
            mod = d ? &d->base : NULL;
        } else {
            nb_linear_layer *f = nb_linear_layer_new(m, s->name, s->in[0], l->n, 1);
            mod = f ? &f->base : NULL;
        }
        if (!mod || nb_sequential_add(seq, mod) != NB_OK) seq = NULL;
    }
    if (!seq) *status = nb_error(nb_model_ctx(m)) ? nb_error(nb_model_ctx(m)) : NB_ERR_ALLOC;
    return seq;
}

static void shape_text(const int64_t *d, char *buf, size_t len) {
    if (d[1]) snprintf(buf, len, "[%lld,%lld,%lld]", (long long)d[0], (long long)d[1], (long long)d[2]);
    else snprintf(buf, len, "[%lld]", (long long)d[0]);
}

void nbc_cnn_describe(const nbc_cnn_spec *c, int classes, FILE *out) {
    step st[MAX_STEPS];
    int n;
    char e[200];
    if (plan(c, classes, st, &n, e, sizeof e)) {
        fprintf(out, "  (%s)\n", e);
        return;
    }
    char in[64], sh[64], what[96];
    shape_text(c->shape, in, sizeof in);
    fprintf(out, "  %-8s %-36s %s\n", "input", "", in);
    for (int i = 0; i < n; i++) {
        const step *s = &st[i];
        const nbc_cnn_layer *l = s->l;
        if (s->kind == ST_ACT) snprintf(what, sizeof what, "%s", nb_activation_name(c->act));
        else if (s->kind == ST_FLATTEN) snprintf(what, sizeof what, "flatten");
        else if (s->kind == ST_CLASSIFIER || l->op == NBC_CNN_FC)
            snprintf(what, sizeof what, "linear %lld -> %lld", (long long)s->in[0], (long long)s->out[0]);
        else if (l->op == NBC_CNN_CONV)
            snprintf(what, sizeof what, "conv2d %lld -> %lld, %dx%d, stride %d, pad %d%s", (long long)s->in[0],
                     (long long)l->n, l->k, l->k, l->s, l->p, l->d > 1 ? ", dilated" : l->g > 1 ? ", grouped" : "");
        else if (l->op == NBC_CNN_MAXPOOL || l->op == NBC_CNN_AVGPOOL)
            snprintf(what, sizeof what, "%s_pool2d %dx%d, stride %d, pad %d", l->op == NBC_CNN_MAXPOOL ? "max" : "avg",
                     l->k, l->k, l->s, l->p);
        else if (l->op == NBC_CNN_GAP) snprintf(what, sizeof what, "global_avg_pool2d");
        else if (l->op == NBC_CNN_BN)
            snprintf(what, sizeof what, "batchnorm%s %lld", s->flat_in ? "1d" : "2d", (long long)s->in[0]);
        else snprintf(what, sizeof what, "dropout p=%g", (double)l->drop);
        shape_text(s->out, sh, sizeof sh);
        fprintf(out, "  %-8s %-36s %s\n", s->name, what, sh);
    }
}
