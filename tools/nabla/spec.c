/* spec.c — parsing and printing model spec strings ("mlp:256,128,act=tanh,
 * dropout=0.2") and building the model they describe. Strict: an unknown key,
 * a bad number or a stray character is an error naming the item. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"
#include "text.h"

static int fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
    if (err && errlen) snprintf(err, errlen, fmt, a, b);
    return -1;
}

static int is_word(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

int nbc_kvlist_parse(const char *s, nbc_kvlist *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!s || !*s) return fail(err, errlen, "empty spec%s%s", "", "");
    const char *colon = strchr(s, ':');
    size_t klen = colon ? (size_t)(colon - s) : strlen(s);
    if (!is_word(s, klen) || klen >= NBC_KV_LEN)
        return fail(err, errlen, "'%s': the kind before ':' must be a lowercase name%s", s, "");
    memcpy(out->kind, s, klen);
    if (!colon) return 0;
    const char *p = colon + 1;
    if (!*p) return fail(err, errlen, "'%s': nothing after ':'%s", s, "");
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[2 * NBC_KV_LEN];
        if (len == 0) return fail(err, errlen, "'%s': empty item%s", s, "");
        if (len >= sizeof item) return fail(err, errlen, "'%s': item too long%s", s, "");
        if (out->n == NBC_KV_MAX) return fail(err, errlen, "'%s': too many items%s", s, "");
        memcpy(item, p, len);
        item[len] = '\0';
        nbc_kv *kv = &out->item[out->n++];
        char *eq = strchr(item, '=');
        if (eq) {
            *eq = '\0';
            if (!is_word(item, strlen(item)) || strlen(item) >= NBC_KV_LEN)
                return fail(err, errlen, "'%s': bad key in '%s'", s, item);
            if (!eq[1] || strchr(eq + 1, '=') || strlen(eq + 1) >= NBC_KV_LEN) {
                *eq = '=';
                return fail(err, errlen, "'%s': bad value in '%s'", s, item);
            }
            memcpy(kv->key, item, strlen(item) + 1);
            memcpy(kv->value, eq + 1, strlen(eq + 1) + 1);
        } else {
            if (len >= NBC_KV_LEN) return fail(err, errlen, "'%s': item too long%s", s, "");
            memcpy(kv->value, item, len + 1);
        }
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    if (!*s || *s == ' ' || *s == '+') return -1;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_f(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    if (!*s || *s == ' ') return -1;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static const struct {
    const char *name;
    nb_activation act;
} acts[] = {{"relu", NB_ACT_RELU}, {"tanh", NB_ACT_TANH}, {"sigmoid", NB_ACT_SIGMOID},
            {"gelu", NB_ACT_GELU}, {"none", NB_ACT_NONE}};

static const char *act_name(nb_activation a) {
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (acts[i].act == a) return acts[i].name;
    return "?";
}

static int parse_mlp(const char *s, const nbc_kvlist *kv, nbc_model_spec *spec, char *err,
                     size_t errlen) {
    int positional = 0;
    for (int i = 0; i < kv->n; i++) {
        const nbc_kv *it = &kv->item[i];
        if (!it->key[0]) {
            if (positional && spec->nhidden == 0)
                return fail(err, errlen, "'%s': 'none' cannot be combined with widths%s", s, "");
            positional++;
            if (strcmp(it->value, "none") == 0) {
                if (spec->nhidden) return fail(err, errlen, "'%s': 'none' cannot be combined with widths%s", s, "");
                continue;
            }
            int64_t w;
            if (parse_i64(it->value, 1, 1 << 20, &w))
                return fail(err, errlen, "'%s': hidden width '%s' is not an integer in [1, 1048576]",
                            s, it->value);
            if (spec->nhidden == NBC_MLP_MAX_HIDDEN)
                return fail(err, errlen, "'%s': more than 16 hidden layers%s", s, "");
            spec->hidden[spec->nhidden++] = w;
        } else if (strcmp(it->key, "act") == 0) {
            size_t k = 0, na = sizeof acts / sizeof acts[0];
            while (k < na && strcmp(acts[k].name, it->value) != 0) k++;
            if (k == na)
                return fail(err, errlen, "'%s': unknown activation '%s' (relu, tanh, sigmoid, gelu, none)",
                            s, it->value);
            spec->act = acts[k].act;
        } else if (strcmp(it->key, "dropout") == 0) {
            double p;
            if (parse_f(it->value, 0.0, 0.999999, &p))
                return fail(err, errlen, "'%s': dropout '%s' is not a number in [0, 1)", s, it->value);
            spec->dropout = (float)p;
        } else {
            return fail(err, errlen, "'%s': unknown option '%s' for mlp (act=, dropout=)", s, it->key);
        }
    }
    if (!positional) {
        spec->nhidden = 2;
        spec->hidden[0] = 256;
        spec->hidden[1] = 128;
    }
    return 0;
}

int nbc_model_spec_parse(const char *s, nbc_model_spec *spec, char *err, size_t errlen) {
    memset(spec, 0, sizeof *spec);
    nbc_kvlist kv;
    if (nbc_kvlist_parse(s, &kv, err, errlen)) return -1;
    if (strcmp(kv.kind, "mlp") == 0) {
        spec->kind = NBC_MODEL_MLP;
        spec->act = NB_ACT_RELU;
        return parse_mlp(s, &kv, spec, err, errlen);
    }
    if (strcmp(kv.kind, "linear") == 0) {
        /* softmax regression: an MLP without hidden layers */
        if (kv.n) return fail(err, errlen, "'%s': linear takes no options%s", s, "");
        spec->kind = NBC_MODEL_MLP;
        spec->act = NB_ACT_RELU;
        return 0;
    }
    if (strcmp(kv.kind, "gpt") == 0) return nbc_gpt_spec_parse(s, &kv, spec, err, errlen);
    if (strcmp(kv.kind, "cnn") == 0) {
        spec->kind = NBC_MODEL_CNN;
        return nbc_cnn_parse(s, &kv, &spec->cnn, err, errlen);
    }
    return fail(err, errlen, "'%s': unknown model kind '%s' (mlp, linear, cnn, gpt)", s, kv.kind);
}

void nbc_model_spec_format(const nbc_model_spec *spec, char *buf, size_t len) {
    size_t o = 0;
#define OUT(...) (o += (size_t)snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__))
    if (spec->kind == NBC_MODEL_MLP) {
        OUT("mlp:");
        if (spec->nhidden == 0) OUT("none");
        for (int i = 0; i < spec->nhidden; i++) OUT("%s%lld", i ? "," : "", (long long)spec->hidden[i]);
        /* the shortest decimal that reads back as the same float */
        char d[32];
        for (int prec = 6; prec <= 9; prec++) {
            snprintf(d, sizeof d, "%.*g", prec, (double)spec->dropout);
            if (strtof(d, NULL) == spec->dropout) break;
        }
        OUT(",act=%s,dropout=%s", act_name(spec->act), d);
    } else if (spec->kind == NBC_MODEL_GPT) {
        nbc_gpt_spec_format(spec, buf, len);
    } else if (spec->kind == NBC_MODEL_CNN) {
        OUT("cnn:");
        nbc_cnn_format(&spec->cnn, buf + o, o < len ? len - o : 0);
    } else {
        OUT("?");
    }
#undef OUT
}

int nbc_net_build(nb_ctx *ctx, const nbc_model_spec *spec, int64_t inputs, int classes,
                  nbc_net *net) {
    memset(net, 0, sizeof *net);
    net->spec = *spec;
    net->inputs = inputs;
    net->classes = classes;
    net->model = nb_model_new(ctx);
    if (!net->model) return nb_error(ctx) ? nb_error(ctx) : NB_ERR_ALLOC;
    if (spec->kind == NBC_MODEL_MLP) {
        int64_t widths[NBC_MLP_MAX_HIDDEN + 2];
        int n = 0;
        widths[n++] = inputs;
        for (int i = 0; i < spec->nhidden; i++) widths[n++] = spec->hidden[i];
        widths[n++] = classes;
        nb_sequential *s = nb_mlp_new(net->model, NULL, widths, n, spec->act, spec->dropout);
        if (!s) return nb_error(ctx);
        net->body = &s->base;
        return NB_OK;
    }
    if (spec->kind == NBC_MODEL_GPT) return nbc_gpt_net_build(ctx, net, classes);
    if (spec->kind == NBC_MODEL_CNN) {
        int st;
        nb_sequential *s = nbc_cnn_build(net->model, &spec->cnn, inputs, classes, &st);
        if (s) net->body = &s->base;
        return st;
    }
    return NB_ERR_ARG;
}

int nbc_model_spec_set_input(nbc_model_spec *spec, int feat_ndim, const int64_t *feat_shape, int64_t features,
                             char *err, size_t errlen) {
    if (spec->kind != NBC_MODEL_CNN) return 0;
    return nbc_cnn_set_input(&spec->cnn, feat_ndim, feat_shape, features, err, errlen);
}

nb_tensor *nbc_net_forward(nbc_net *net, nb_tensor *x) {
    if (net->spec.kind == NBC_MODEL_CNN && x) { /* rows of C·H·W features -> NCHW images */
        const int64_t *c = net->spec.cnn.shape;
        x = nb_reshape(nb_model_ctx(net->model), x, 4, (const int64_t[4]){x->shape[0], c[0], c[1], c[2]});
    }
    return nb_module_forward(net->body, x);
}

void nbc_net_describe(const nbc_net *net, FILE *out) {
    if (net->spec.kind == NBC_MODEL_GPT) nbc_gpt_net_describe(net, out);
    if (net->spec.kind == NBC_MODEL_CNN) nbc_cnn_describe(&net->spec.cnn, net->classes, out);
    if (net->spec.kind != NBC_MODEL_MLP) return;
    const nbc_model_spec *s = &net->spec;
    int64_t in = net->inputs;
    for (int i = 0; i <= s->nhidden; i++) {
        int64_t o = i < s->nhidden ? s->hidden[i] : net->classes;
        fprintf(out, "  fc%-3d linear %lld -> %lld\n", i + 1, (long long)in, (long long)o);
        if (i < s->nhidden) {
            if (s->act != NB_ACT_NONE) fprintf(out, "  act%-2d %s\n", i + 1, act_name(s->act));
            if (s->dropout > 0.0f) fprintf(out, "  drop%-1d dropout p=%g\n", i + 1, (double)s->dropout);
        }
        in = o;
    }
}
