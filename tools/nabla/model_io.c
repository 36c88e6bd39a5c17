/* model_io.c — model metadata in checkpoints (spec, shape, classes,
 * normalisation, data source), loading a trained model for eval/predict/info,
 * and the shared evaluation pass. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_io.h"

static char *dupstr(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *r = malloc(n);
    if (r) memcpy(r, s, n);
    return r;
}

int nbc_meta_add(nbc_meta *m, const char *key, const char *value) {
    if (m->n * 2 + 2 > m->cap) {
        int cap = m->cap ? m->cap * 2 : 32;
        char **kv = realloc(m->kv, (size_t)cap * sizeof *kv);
        if (!kv) return -1;
        m->kv = kv;
        m->cap = cap;
    }
    char *k = dupstr(key), *v = dupstr(value);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    m->kv[2 * m->n] = k;
    m->kv[2 * m->n + 1] = v;
    m->n++;
    return 0;
}

int nbc_meta_addf(nbc_meta *m, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    char *v = malloc((size_t)n + 1);
    if (!v) return -1;
    va_start(ap, fmt);
    vsnprintf(v, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = nbc_meta_add(m, key, v);
    free(v);
    return rc;
}

void nbc_meta_free(nbc_meta *m) {
    for (int i = 0; i < 2 * m->n; i++) free(m->kv[i]);
    free(m->kv);
    memset(m, 0, sizeof *m);
}

static char *float_list(const float *v, int64_t n) {
    size_t cap = (size_t)n * 18 + 2, o = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = '\0';
    for (int64_t i = 0; i < n; i++) o += (size_t)snprintf(s + o, cap - o, "%s%.9g", i ? "," : "", (double)v[i]);
    return s;
}

int nbc_model_info_to_meta(const nbc_model_info *mi, nbc_meta *m) {
    int rc = 0;
    char shape[256];
    size_t o = 0;
    for (int i = 0; i < mi->feat_ndim; i++)
        o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%lld", i ? "," : "", (long long)mi->feat_shape[i]);
    rc |= nbc_meta_add(m, "nabla.model", mi->spec_str);
    rc |= nbc_meta_add(m, "nabla.input_shape", shape);
    rc |= nbc_meta_addf(m, "nabla.classes", "%d", mi->classes);
    for (int i = 0; i < mi->classes; i++) {
        char key[64];
        snprintf(key, sizeof key, "nabla.class.%d", i);
        rc |= nbc_meta_add(m, key, mi->class_names[i]);
    }
    const nb_norm *nm = &mi->norm;
    rc |= nbc_meta_add(m, "nabla.norm",
                       nm->kind == NB_NORM_SCALE ? "scale" : nm->kind == NB_NORM_STANDARD ? "standard" : "none");
    if (nm->kind == NB_NORM_SCALE) rc |= nbc_meta_addf(m, "nabla.norm.scale", "%.9g", (double)nm->scale);
    if (nm->kind == NB_NORM_STANDARD) {
        char *a = float_list(nm->mean, nm->features), *b = float_list(nm->std, nm->features);
        if (!a || !b) rc = -1;
        else {
            rc |= nbc_meta_add(m, "nabla.norm.mean", a);
            rc |= nbc_meta_add(m, "nabla.norm.std", b);
        }
        free(a);
        free(b);
    }
    if (mi->data) rc |= nbc_meta_add(m, "nabla.data", mi->data);
    if (mi->data_kind) rc |= nbc_meta_add(m, "nabla.data.kind", mi->data_kind);
    if (mi->target) rc |= nbc_meta_add(m, "nabla.target", mi->target);
    return rc ? -1 : 0;
}

void nbc_model_info_free(nbc_model_info *mi) {
    if (mi->class_names)
        for (int i = 0; i < mi->classes; i++) free(mi->class_names[i]);
    free(mi->class_names);
    nb_norm_free(&mi->norm);
    free(mi->data);
    free(mi->data_kind);
    free(mi->target);
    memset(mi, 0, sizeof *mi);
}

static int parse_floats(const char *s, float *out, int64_t n) {
    const char *p = s;
    for (int64_t i = 0; i < n; i++) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v)) return -1;
        out[i] = (float)v;
        p = end;
        if (i + 1 < n) {
            if (*p != ',') return -1;
            p++;
        }
    }
    return *p ? -1 : 0;
}

#define BAD(...) (snprintf(err, errlen, __VA_ARGS__), nbc_model_info_free(mi), -1)

int nbc_model_info_from_meta(const nb_safetensors_info *st, const char *path, nbc_model_info *mi, char *err,
                             size_t errlen) {
    memset(mi, 0, sizeof *mi);
    const char *spec = nb_safetensors_info_meta(st, "nabla.model");
    if (!spec) return BAD("%s: not a nabla model (no \"nabla.model\" in its metadata)", path);
    char e2[200];
    if (nbc_model_spec_parse(spec, &mi->spec, e2, sizeof e2)) return BAD("%s: model spec %s", path, e2);
    snprintf(mi->spec_str, sizeof mi->spec_str, "%s", spec);
    const char *shape = nb_safetensors_info_meta(st, "nabla.input_shape");
    if (!shape) return BAD("%s: metadata \"nabla.input_shape\" is missing", path);
    mi->inputs = 1;
    for (const char *p = shape;;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 1 || v > (1LL << 31) || mi->feat_ndim == NB_DATA_MAX_DIMS)
            return BAD("%s: metadata \"nabla.input_shape\" = \"%.40s\" is malformed", path, shape);
        mi->feat_shape[mi->feat_ndim++] = v;
        mi->inputs *= v;
        if (!*end) break;
        if (*end != ',') return BAD("%s: metadata \"nabla.input_shape\" = \"%.40s\" is malformed", path, shape);
        p = end + 1;
    }
    if (nbc_model_spec_set_input(&mi->spec, mi->feat_ndim, mi->feat_shape, mi->inputs, e2, sizeof e2))
        return BAD("%s: %s", path, e2);
    const char *cl = nb_safetensors_info_meta(st, "nabla.classes");
    char *end;
    long c = cl ? strtol(cl, &end, 10) : 0;
    if (!cl || *end || c < 1 || c > 100000)
        return BAD("%s: metadata \"nabla.classes\" is missing or not a count", path);
    mi->classes = (int)c;
    mi->class_names = calloc((size_t)c, sizeof *mi->class_names);
    if (!mi->class_names) return BAD("%s: out of memory", path);
    for (int i = 0; i < mi->classes; i++) {
        char key[64], num[32];
        snprintf(key, sizeof key, "nabla.class.%d", i);
        snprintf(num, sizeof num, "%d", i);
        const char *name = nb_safetensors_info_meta(st, key);
        mi->class_names[i] = dupstr(name ? name : num);
        if (!mi->class_names[i]) return BAD("%s: out of memory", path);
    }
    const char *norm = nb_safetensors_info_meta(st, "nabla.norm");
    if (!norm || strcmp(norm, "none") == 0) {
        mi->norm.kind = NB_NORM_NONE;
    } else if (strcmp(norm, "scale") == 0) {
        const char *s = nb_safetensors_info_meta(st, "nabla.norm.scale");
        float v;
        if (!s || parse_floats(s, &v, 1)) return BAD("%s: metadata \"nabla.norm.scale\" is missing or malformed", path);
        mi->norm.kind = NB_NORM_SCALE;
        mi->norm.scale = v;
    } else if (strcmp(norm, "standard") == 0) {
        const char *a = nb_safetensors_info_meta(st, "nabla.norm.mean");
        const char *b = nb_safetensors_info_meta(st, "nabla.norm.std");
        mi->norm.kind = NB_NORM_STANDARD;
        mi->norm.features = mi->inputs;
        mi->norm.mean = malloc((size_t)mi->inputs * sizeof(float));
        mi->norm.std = malloc((size_t)mi->inputs * sizeof(float));
        if (!mi->norm.mean || !mi->norm.std) return BAD("%s: out of memory", path);
        if (!a || !b || parse_floats(a, mi->norm.mean, mi->inputs) || parse_floats(b, mi->norm.std, mi->inputs))
            return BAD("%s: metadata \"nabla.norm.mean\"/\"nabla.norm.std\" missing or not %lld numbers", path,
                       (long long)mi->inputs);
    } else {
        return BAD("%s: metadata \"nabla.norm\" = \"%.40s\" is not none, scale or standard", path, norm);
    }
    mi->data = dupstr(nb_safetensors_info_meta(st, "nabla.data"));
    mi->data_kind = dupstr(nb_safetensors_info_meta(st, "nabla.data.kind"));
    mi->target = dupstr(nb_safetensors_info_meta(st, "nabla.target"));
    const char *ep = nb_safetensors_info_meta(st, "nabla.epoch");
    mi->epoch = ep ? atoi(ep) : 0;
    return 0;
}
#undef BAD

int nbc_model_load(nb_ctx *ctx, const char *path, nbc_model_info *mi, nbc_net *net, char *err, size_t errlen) {
    nb_safetensors_info st;
    memset(mi, 0, sizeof *mi);
    if (nb_safetensors_read_info(ctx, path, &st)) {
        snprintf(err, errlen, "%s", nb_error_message(ctx));
        return -1;
    }
    int rc = nbc_model_info_from_meta(&st, path, mi, err, errlen);
    nb_safetensors_info_free(&st);
    if (rc) return -1;
    if (nbc_net_build(ctx, &mi->spec, mi->inputs, mi->classes, net)) {
        snprintf(err, errlen, "%s: %s", path, nb_error_message(ctx));
        nbc_model_info_free(mi);
        return -1;
    }
    nb_checkpoint ck = {0};
    ck.params = nb_model_params(net->model);
    ck.nparams = nb_model_num_params(net->model);
    ck.buffers = nb_model_buffers(net->model);
    ck.nbuffers = nb_model_num_buffers(net->model);
    ck.allow_extra = 1; /* optimizer state */
    if (nb_checkpoint_load(ctx, path, &ck)) {
        snprintf(err, errlen, "%s", nb_error_message(ctx));
        nbc_model_info_free(mi);
        return -1;
    }
    return 0;
}

int nbc_evaluator_init(nbc_evaluator *ev, nbc_net *net, int64_t rows) {
    nb_ctx *ctx = nb_model_ctx(net->model);
    memset(ev, 0, sizeof *ev);
    ev->net = net;
    /* a cnn holds ~100 KB of activations per sample: keep inference graphs small */
    if (net->spec.kind == NBC_MODEL_CNN && rows > 64) rows = 64;
    ev->rows = rows;
    int grad = nb_grad_enabled(ctx), training = nb_training(ctx);
    nb_set_grad_enabled(ctx, 0);
    nb_set_training(ctx, 0);
    ev->x = nb_tensor_2d(ctx, rows, net->inputs);
    ev->logits = ev->x ? nbc_net_forward(net, ev->x) : NULL;
    ev->g = ev->logits ? nb_graph_new(ctx, ev->logits) : NULL;
    nb_set_grad_enabled(ctx, grad);
    nb_set_training(ctx, training);
    return ev->g ? NB_OK : nb_error(ctx);
}

int nbc_argmax(const float *v, int n) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (v[j] > v[best] || (v[best] != v[best] && v[j] == v[j])) best = j;
    return best;
}

int nbc_evaluate(nbc_evaluator *ev, const nbc_data *d, double *loss, double *acc, int64_t *confusion,
                 nbc_row_fn fn, void *arg) {
    nb_ctx *ctx = nb_model_ctx(ev->net->model);
    const int C = ev->net->classes;
    const nb_dataset *ds = &d->ds;
    double total = 0.0;
    int64_t correct = 0;
    double probs[4096];
    double *pr = C <= 4096 ? probs : malloc((size_t)C * sizeof(double));
    if (!pr) return NB_ERR_ALLOC;
    int training = nb_training(ctx);
    nb_set_training(ctx, 0);
    int rc = NB_OK;
    for (int64_t start = 0; start < ds->n && rc == NB_OK; start += ev->rows) {
        int64_t count = ds->n - start < ev->rows ? ds->n - start : ev->rows;
        nbc_data_rows(d, start, count, ev->x->data, NULL);
        if (count < ev->rows)
            memset(ev->x->data + count * ev->net->inputs, 0,
                   (size_t)((ev->rows - count) * ev->net->inputs) * sizeof(float));
        rc = nb_graph_forward(ev->g);
        for (int64_t r = 0; r < count && rc == NB_OK; r++) {
            const float *z = ev->logits->data + r * C;
            int best = nbc_argmax(z, C);
            double m = z[best], s = 0.0;
            for (int j = 0; j < C; j++) s += exp((double)z[j] - m);
            double lse = m + log(s);
            if (ds->y) {
                int label = (int)ds->y[start + r];
                total += lse - (double)z[label];
                correct += best == label;
                if (confusion) confusion[(int64_t)label * C + best]++;
            }
            if (fn) {
                for (int j = 0; j < C; j++) pr[j] = exp((double)z[j] - lse);
                fn(arg, start + r, pr, C);
            }
        }
    }
    nb_set_training(ctx, training);
    if (pr != probs) free(pr);
    if (loss) *loss = ds->y && ds->n ? total / (double)ds->n : NAN;
    if (acc) *acc = ds->y && ds->n ? (double)correct / (double)ds->n : NAN;
    return rc;
}
