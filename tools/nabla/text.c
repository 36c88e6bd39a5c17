/* text.c — character-level language models in the `nabla` CLI: the "gpt:"
 * model spec, the byte-vocabulary corpus with its validation tail and context
 * windows, the training loop of `nabla train --text` and `nabla eval` of a GPT. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"
#include "text.h"

#define CMD "train"

/* ---- "gpt:" specs ------------------------------------------------------------------ */

static int spec_fail(char *err, size_t errlen, const char *s, const char *what, const char *v) {
    if (err && errlen) snprintf(err, errlen, "'%s': %s '%s'", s, what, v);
    return -1;
}

static int int_value(const char *v, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    if (!*v || *v == ' ' || *v == '+') return -1;
    long long x = strtoll(v, &end, 10);
    if (*end || errno || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

int nbc_gpt_spec_parse(const char *s, const nbc_kvlist *kv, nbc_model_spec *spec, char *err, size_t errlen) {
    spec->kind = NBC_MODEL_GPT;
    spec->layers = 4;
    spec->heads = 4;
    spec->width = 128;
    spec->context = 64;
    spec->dropout = 0.0f;
    for (int i = 0; i < kv->n; i++) {
        const nbc_kv *it = &kv->item[i];
        long long v = 0;
        if (!it->key[0]) return spec_fail(err, errlen, s, "gpt takes KEY=VALUE options (layers, heads, width, context, dropout), not", it->value);
        if (strcmp(it->key, "dropout") == 0) {
            char *end;
            errno = 0;
            double p = strtod(it->value, &end);
            if (!*it->value || *end || errno || !(p >= 0.0 && p < 1.0))
                return spec_fail(err, errlen, s, "dropout is not a number in [0, 1):", it->value);
            spec->dropout = (float)p;
            continue;
        }
        if (strcmp(it->key, "layers") == 0) {
            if (int_value(it->value, 1, 1000, &v)) return spec_fail(err, errlen, s, "layers must be an integer in [1, 1000], not", it->value);
            spec->layers = (int)v;
        } else if (strcmp(it->key, "heads") == 0) {
            if (int_value(it->value, 1, 4096, &v)) return spec_fail(err, errlen, s, "heads must be an integer in [1, 4096], not", it->value);
            spec->heads = (int)v;
        } else if (strcmp(it->key, "width") == 0) {
            if (int_value(it->value, 1, 1 << 16, &v)) return spec_fail(err, errlen, s, "width must be an integer in [1, 65536], not", it->value);
            spec->width = v;
        } else if (strcmp(it->key, "context") == 0) {
            if (int_value(it->value, 1, 1 << 20, &v)) return spec_fail(err, errlen, s, "context must be an integer in [1, 1048576], not", it->value);
            spec->context = v;
        } else {
            return spec_fail(err, errlen, s, "unknown option for gpt (layers=, heads=, width=, context=, dropout=):", it->key);
        }
    }
    if (spec->width % spec->heads) {
        if (err && errlen)
            snprintf(err, errlen, "'%s': heads=%d does not divide width=%lld", s, spec->heads, (long long)spec->width);
        return -1;
    }
    return 0;
}

void nbc_gpt_spec_format(const nbc_model_spec *spec, char *buf, size_t len) {
    /* the shortest decimal that reads back as the same float */
    char d[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(d, sizeof d, "%.*g", prec, (double)spec->dropout);
        if (strtof(d, NULL) == spec->dropout) break;
    }
    snprintf(buf, len, "gpt:layers=%d,heads=%d,width=%lld,context=%lld,dropout=%s", spec->layers, spec->heads,
             (long long)spec->width, (long long)spec->context, d);
}

static nb_gpt_config gpt_config(const nbc_model_spec *spec, int64_t vocab) {
    nb_gpt_config cfg = {.vocab = vocab, .context = spec->context, .layers = spec->layers, .heads = spec->heads,
                         .width = spec->width, .dropout = spec->dropout};
    return cfg;
}

int nbc_gpt_net_build(nb_ctx *ctx, nbc_net *net, int64_t vocab) {
    nb_gpt_config cfg = gpt_config(&net->spec, vocab);
    net->inputs = net->spec.context; /* token ids per sequence */
    net->gpt = nb_gpt_new(net->model, NULL, &cfg);
    if (!net->gpt) return nb_error(ctx) ? nb_error(ctx) : NB_ERR_ARG;
    net->body = &net->gpt->base;
    return NB_OK;
}

void nbc_gpt_net_describe(const nbc_net *net, FILE *out) {
    const nbc_model_spec *s = &net->spec;
    long long C = (long long)s->width, V = net->classes;
    fprintf(out, "  wte     embedding %lld tokens -> %lld (tied with the output projection)\n", V, C);
    fprintf(out, "  wpe     positions %lld -> %lld\n", (long long)s->context, C);
    for (int i = 0; i < s->layers; i++)
        fprintf(out, "  blocks.%-2d pre-LN block: %d-head causal attention (qkv %lld -> %lld, proj), GELU MLP %lld -> %lld -> %lld%s\n",
                i, s->heads, C, 3 * C, C, 4 * C, C, s->dropout > 0.0f ? ", dropout" : "");
    fprintf(out, "  ln_f    layer norm %lld\n", C);
    fprintf(out, "  logits  %lld -> %lld (wte^T)\n", C, V);
}

/* ---- vocabulary ------------------------------------------------------------------- */

void nbc_vocab_to_hex(const nbc_vocab *v, char *buf) {
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < v->n; i++) {
        buf[2 * i] = hx[v->byte[i] >> 4];
        buf[2 * i + 1] = hx[v->byte[i] & 15];
    }
    buf[2 * v->n] = '\0';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int nbc_vocab_from_hex(const char *hex, nbc_vocab *v) {
    memset(v, 0, sizeof *v);
    for (int b = 0; b < 256; b++) v->id[b] = -1;
    size_t len = strlen(hex);
    if (len == 0 || len % 2 || len > 512) return -1;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
        if (hi < 0 || lo < 0) return -1;
        int b = hi * 16 + lo;
        if (v->n && b <= v->byte[v->n - 1]) return -1; /* sorted, no repeats */
        v->id[b] = (int16_t)v->n;
        v->byte[v->n++] = (uint8_t)b;
    }
    return 0;
}

void nbc_vocab_name(uint8_t b, char *buf, size_t len) {
    if (b == ' ') snprintf(buf, len, "space");
    else if (b == '\n') snprintf(buf, len, "\\n");
    else if (b == '\t') snprintf(buf, len, "\\t");
    else if (b == '\r') snprintf(buf, len, "\\r");
    else if (b > 0x20 && b < 0x7f) snprintf(buf, len, "%c", (char)b);
    else snprintf(buf, len, "\\x%02x", (unsigned)b);
}

int nbc_vocab_from_meta(const char *path, nbc_vocab *v, char *err, size_t errlen) {
    nb_ctx *ctx = nb_ctx_new();
    nb_safetensors_info st;
    if (!ctx) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (nb_safetensors_read_info(ctx, path, &st)) {
        snprintf(err, errlen, "%s", nb_error_message(ctx));
        nb_ctx_free(ctx);
        return -1;
    }
    const char *hex = nb_safetensors_info_meta(&st, "nabla.vocab");
    int rc = 0;
    if (!hex) {
        snprintf(err, errlen, "%s: no vocabulary (\"nabla.vocab\"): not a text model trained by nabla train --text", path);
        rc = -1;
    } else if (nbc_vocab_from_hex(hex, v)) {
        snprintf(err, errlen, "%s: metadata \"nabla.vocab\" is malformed", path);
        rc = -1;
    }
    nb_safetensors_info_free(&st);
    nb_ctx_free(ctx);
    return rc;
}

/* ---- corpus ----------------------------------------------------------------------- */

void nbc_corpus_free(nbc_corpus *c) {
    free(c->ids);
    memset(c, 0, sizeof *c);
}

int64_t nbc_corpus_windows(int64_t len, int64_t context) { return len > context ? (len - 1) / context : 0; }

void nbc_corpus_window(const nbc_corpus *c, int64_t start, int64_t w, int64_t context, float *x, float *y) {
    const int32_t *p = c->ids + start + w * context;
    for (int64_t t = 0; t < context; t++) {
        x[t] = (float)p[t];
        y[t] = (float)p[t + 1];
    }
}

int nbc_corpus_load(const char *path, const char *vocab_hex, int64_t limit, double val, int64_t context,
                    nbc_corpus *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n == cap) {
            uint8_t *nb = cap > ((size_t)1 << 40) ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0 || (limit > 0 && (int64_t)n >= limit)) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (rerr) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return -1;
    }
    if (limit > 0 && (int64_t)n > limit) n = (size_t)limit;
    if (vocab_hex) {
        if (nbc_vocab_from_hex(vocab_hex, &c->vocab)) {
            free(buf);
            snprintf(err, errlen, "the model's vocabulary (\"nabla.vocab\") is malformed");
            return -1;
        }
    } else {
        int seen[256] = {0};
        for (size_t i = 0; i < n; i++) seen[buf[i]] = 1;
        for (int b = 0; b < 256; b++) c->vocab.id[b] = -1;
        for (int b = 0; b < 256; b++)
            if (seen[b]) {
                c->vocab.id[b] = (int16_t)c->vocab.n;
                c->vocab.byte[c->vocab.n++] = (uint8_t)b;
            }
    }
    c->ids = malloc((n ? n : 1) * sizeof *c->ids);
    if (!c->ids) {
        free(buf);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int id = c->vocab.id[buf[i]];
        if (id < 0) {
            char name[16];
            nbc_vocab_name(buf[i], name, sizeof name);
            snprintf(err, errlen, "%s: offset %zu: '%s' (byte 0x%02x) is not in the model's vocabulary", path, i,
                     name, (unsigned)buf[i]);
            free(buf);
            nbc_corpus_free(c);
            return -1;
        }
        c->ids[i] = id;
    }
    free(buf);
    c->n = (int64_t)n;
    c->ntrain = val > 0.0 ? (int64_t)((1.0 - val) * (double)n) : c->n;
    int64_t need = context + 1;
    if (c->ntrain < need || (val > 0.0 && c->n - c->ntrain < need)) {
        snprintf(err, errlen,
                 "%s: %lld bytes are too few: context %lld needs %lld for training and %lld for validation "
                 "(the last %g of the text)",
                 path, (long long)n, (long long)context, (long long)need, (long long)need, val);
        nbc_corpus_free(c);
        return -1;
    }
    return 0;
}

/* ---- evaluation ------------------------------------------------------------------- */

int nbc_text_evaluator_init(nbc_text_evaluator *ev, nbc_net *net, int64_t rows) {
    nb_ctx *ctx = nb_model_ctx(net->model);
    memset(ev, 0, sizeof *ev);
    ev->net = net;
    ev->rows = rows;
    ev->context = net->spec.context;
    int grad = nb_grad_enabled(ctx), training = nb_training(ctx);
    nb_set_grad_enabled(ctx, 0);
    nb_set_training(ctx, 0);
    ev->x = nb_tensor_2d(ctx, rows, ev->context);
    ev->logits = ev->x ? nbc_net_forward(net, ev->x) : NULL;
    ev->g = ev->logits ? nb_graph_new(ctx, ev->logits) : NULL;
    nb_set_grad_enabled(ctx, grad);
    nb_set_training(ctx, training);
    return ev->g ? NB_OK : nb_error(ctx);
}

/* Adds the cross-entropy (natural log) of each of n rows of V logits against
 * its target, and counts argmax hits. */
static void score_rows(const float *z, const float *y, int64_t n, int V, double *loss, int64_t *correct) {
    for (int64_t r = 0; r < n; r++, z += V) {
        int best = nbc_argmax(z, V);
        double m = z[best], s = 0.0;
        for (int j = 0; j < V; j++) s += exp((double)z[j] - m);
        int t = (int)y[r];
        *loss += m + log(s) - (double)z[t];
        *correct += best == t;
    }
}

int nbc_text_evaluate(nbc_text_evaluator *ev, const nbc_corpus *c, int64_t start, int64_t len, double *loss,
                      double *acc) {
    nb_ctx *ctx = nb_model_ctx(ev->net->model);
    const int64_t T = ev->context, nw = nbc_corpus_windows(len, T);
    const int V = ev->net->classes;
    float *y = malloc((size_t)(ev->rows * T) * sizeof *y);
    if (!y) return NB_ERR_ALLOC;
    int training = nb_training(ctx);
    nb_set_training(ctx, 0);
    double total = 0.0;
    int64_t correct = 0, rc = NB_OK;
    for (int64_t w0 = 0; w0 < nw && rc == NB_OK; w0 += ev->rows) {
        int64_t cnt = nw - w0 < ev->rows ? nw - w0 : ev->rows;
        for (int64_t r = 0; r < cnt; r++) nbc_corpus_window(c, start, w0 + r, T, ev->x->data + r * T, y + r * T);
        if (cnt < ev->rows) memset(ev->x->data + cnt * T, 0, (size_t)((ev->rows - cnt) * T) * sizeof(float));
        rc = nb_graph_forward(ev->g);
        if (rc == NB_OK) score_rows(ev->logits->data, y, cnt * T, V, &total, &correct);
    }
    nb_set_training(ctx, training);
    free(y);
    *loss = nw ? total / (double)(nw * T) : NAN;
    *acc = nw ? (double)correct / (double)(nw * T) : NAN;
    return (int)rc;
}

/* ---- training --------------------------------------------------------------------- */

int64_t nbc_text_phase(uint64_t seed, int64_t epoch, int64_t maxphase) {
    if (maxphase <= 1) return 0;
    nb_rng r;
    nb_rng_seed(&r, seed * 0x9E3779B97F4A7C15ull + 0x5851F42D4C957F2Dull * (uint64_t)(epoch + 1));
    return (int64_t)(nb_rng_u32(&r) % (uint32_t)maxphase);
}

static volatile sig_atomic_t stop_requested;
static void on_sigint(int sig) {
    (void)sig;
    stop_requested = 1;
}

typedef struct text_graph {
    nb_tensor *x, *y, *logits, *loss;
    nb_graph *g;
    int64_t rows;
} text_graph;

static int build_graph(nb_ctx *ctx, nbc_net *net, int64_t rows, text_graph *tg) {
    tg->rows = rows;
    tg->x = nb_tensor_2d(ctx, rows, net->spec.context);
    tg->y = nb_tensor_2d(ctx, rows, net->spec.context);
    tg->logits = tg->x && tg->y ? nbc_net_forward(net, tg->x) : NULL;
    tg->loss = tg->logits ? nb_gpt_loss(ctx, tg->logits, tg->y) : NULL;
    tg->g = tg->loss ? nb_graph_new(ctx, tg->loss) : NULL;
    return tg->g ? NB_OK : nb_error(ctx);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s && s[1] ? s + 1 : p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Fills the model description stored in the checkpoint (classes = tokens). */
static int text_model_info(const nbc_text_job *job, const nbc_corpus *cp, nbc_model_info *mi) {
    memset(mi, 0, sizeof *mi);
    mi->spec = job->spec;
    nbc_model_spec_format(&job->spec, mi->spec_str, sizeof mi->spec_str);
    mi->feat_ndim = 1;
    mi->feat_shape[0] = job->spec.context;
    mi->inputs = job->spec.context;
    mi->classes = cp->vocab.n;
    mi->norm.kind = NB_NORM_NONE;
    mi->class_names = calloc((size_t)cp->vocab.n, sizeof *mi->class_names);
    mi->data = strdup(job->text);
    mi->data_kind = strdup("text");
    if (!mi->class_names || !mi->data || !mi->data_kind) return -1;
    for (int i = 0; i < cp->vocab.n; i++) {
        char name[16];
        nbc_vocab_name(cp->vocab.byte[i], name, sizeof name);
        if (!(mi->class_names[i] = strdup(name))) return -1;
    }
    return 0;
}

int nbc_text_train(const nbc_text_job *job) {
    char err[1024];
    const nbc_model_spec *spec = &job->spec;
    const int64_t T = spec->context;
    const char *vocab_hex = job->resume_info ? nb_safetensors_info_meta(job->resume_info, "nabla.vocab") : NULL;
    if (job->resume && !vocab_hex)
        return nbc_usage_error(CMD, "--resume: %s has no vocabulary (\"nabla.vocab\")", job->resume);
    nbc_corpus cp;
    if (nbc_corpus_load(job->text, vocab_hex, job->limit, job->val_split, T, &cp, err, sizeof err))
        return nbc_usage_error(CMD, "--text: %s", err);
    /* each epoch shifts the window grid by a phase in [0, maxphase) drawn from
     * (seed, epoch): windows stay non-overlapping within an epoch, but the
     * model does not see the same 64-character pieces at the same positions
     * every epoch (it overfits those: +0.2 nats on GPL-3 after 500 steps) */
    const int64_t maxphase = cp.ntrain - T < T ? cp.ntrain - T : T;
    const int64_t nwin = nbc_corpus_windows(cp.ntrain - (maxphase - 1), T);
    const int64_t nval = nbc_corpus_windows(cp.n - cp.ntrain, T);
    const int64_t B = job->batch < nwin ? job->batch : nwin;
    const int64_t full = nwin / B, rem = nwin % B, spe = full + (rem > 0);
    const int64_t total = job->steps ? job->steps : spe * job->epochs;
    const int per_step = job->steps > 0 || job->eval_every > 0; /* metrics rows keyed by step, not epoch */
    const int64_t every = job->eval_every;
    const int64_t epochs_shown = (total + spe - 1) / spe;
    int64_t maxrows = (every ? total / every : 0) + epochs_shown + 2;

    int exit_code = NBC_EXIT_FAIL;
    nb_ctx *ctx = nb_ctx_new();
    nbc_model_info mi;
    nbc_meta meta = {0};
    nbc_metrics *rows = calloc((size_t)maxrows, sizeof *rows);
    const int64_t maxtimed = total < 100000 ? total : 100000; /* --bench: the first 100k steps */
    double *step_ms = calloc((size_t)maxtimed + 1, sizeof *step_ms);
    int nrows = 0;
    int64_t ntimed = 0;
    nb_batch_iter it = {0};
    int mi_ok = text_model_info(job, &cp, &mi) == 0;
    if (!ctx || !rows || !step_ms || !mi_ok) {
        fprintf(stderr, "nabla train: out of memory\n");
        goto done;
    }
    nb_rng_seed(nb_ctx_rng(ctx), (uint64_t)job->seed);
    nbc_net net;
    if (nbc_net_build(ctx, spec, T, cp.vocab.n, &net)) {
        fprintf(stderr, "nabla train: building the model: %s\n", nb_error_message(ctx));
        exit_code = NBC_EXIT_USAGE;
        goto done;
    }
    text_graph tg_full = {0}, tg_rem = {0};
    nbc_text_evaluator evr;
    if (build_graph(ctx, &net, B, &tg_full) || (rem && build_graph(ctx, &net, rem, &tg_rem)) ||
        nbc_text_evaluator_init(&evr, &net, nval < 32 ? nval : 32)) {
        fprintf(stderr, "nabla train: building the graphs: %s\n", nb_error_message(ctx));
        goto done;
    }
    if (job->profile) nb_graph_profile(tg_full.g, 1);
    double opt_s = 0.0; /* --profile: the optimizer's share, outside the graph */
    nb_tensor *const *params = nb_model_params(net.model);
    const int nparams = nb_model_num_params(net.model);
    nb_optim *opt;
    nb_schedule *sched;
    nb_checkpoint ck;
    if (nbc_train_state_init(ctx, &net, &job->ocfg, job->build_schedule, job->sched, spe, total, job->warmup,
                             job->resume, &opt, &sched, &ck)) {
        exit_code = NBC_EXIT_USAGE;
        goto done;
    }
    if (job->resume) {
        const char *m = nb_safetensors_info_meta(job->resume_info, "nabla.metrics");
        nrows = m ? nbc_metrics_parse(m, rows, (int)maxrows) : 0;
        if (nrows < 0) nrows = 0;
        if (ck.step >= total) {
            printf("%s: already trained for %lld steps (%lld requested); nothing to do\n", job->resume,
                   (long long)ck.step, (long long)total);
            exit_code = NBC_EXIT_OK;
            goto done;
        }
    }
    char model_path[NBC_OUT_PATH], metrics_path[NBC_OUT_PATH], svg_path[NBC_OUT_PATH];
    if (nbc_out_paths(job->out_dir, model_path, metrics_path, svg_path)) {
        exit_code = NBC_EXIT_USAGE;
        goto done;
    }
    /* the iterator only draws window orders: epoch e's is a function of (seed, e) */
    nb_dataset view = {0};
    static float dummy;
    view.n = nwin;
    view.features = 1;
    view.feat_ndim = 1;
    view.feat_shape[0] = 1;
    view.x = &dummy;
    if (nb_batch_iter_init(&it, &view, B, 1, (uint64_t)job->seed, err, sizeof err)) {
        fprintf(stderr, "nabla train: %s\n", err);
        goto done;
    }
    int tty = job->progress < 0 ? isatty(fileno(stdout)) : job->progress;
    char title[512];
    snprintf(title, sizeof title, "nabla train %s on %s%s", mi.spec_str, base_name(job->text),
             per_step ? " (x: optimizer steps)" : "");
    printf("training %s on %s: %lld characters (%d-symbol vocabulary), %lld windows of %lld for training, "
           "%lld characters (%lld windows) for validation; %lld parameters; %s lr %g, batch %lld, ",
           mi.spec_str, job->text, (long long)cp.ntrain, cp.vocab.n, (long long)nwin, (long long)T,
           (long long)(cp.n - cp.ntrain), (long long)nval, (long long)nb_model_param_elements(net.model),
           job->opt_name, job->ocfg.lr, (long long)B);
    if (job->steps) printf("%lld steps (%.2f epochs)\n", (long long)total, (double)total / (double)spe);
    else printf("%lld epochs of %lld steps\n", job->epochs, (long long)spe);
    if (job->resume) printf("resuming from %s after step %lld\n", job->resume, (long long)ck.step);
    fflush(stdout);

    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &sa, &old_sa);
    const int V = cp.vocab.n;
    int64_t step = ck.step, saved_step = job->resume ? ck.step : -1;
    double loss_sum = 0.0, seg_t0 = nbc_now();
    int64_t correct = 0, tokens = 0, phase = 0;
    nbc_progress pg;
    int pg_open = 0;
    exit_code = NBC_EXIT_OK;
    while (step < total) {
        const int64_t epoch = step / spe, b = step % spe;
        if (b == 0 || !pg_open) {
            nb_batch_epoch(&it, epoch);
            phase = nbc_text_phase((uint64_t)job->seed, epoch, maxphase);
            if (!pg_open) {
                nbc_progress_start(&pg, stdout, tty, (int)epoch + 1, (int)epochs_shown, spe, nwin);
                pg_open = 1;
            }
        }
        text_graph *tg = b < full ? &tg_full : &tg_rem;
        for (int64_t r = 0; r < tg->rows; r++)
            nbc_corpus_window(&cp, phase, it.order[b * B + r], T, tg->x->data + r * T, tg->y->data + r * T);
        double t0 = nbc_now();
        nb_optim_set_lr(opt, nb_schedule_get_lr(sched));
        nb_graph_zero_grad(tg->g);
        if (nb_graph_forward(tg->g) || nb_graph_backward(tg->g)) {
            fprintf(stderr, "nabla train: step %lld: %s\n", (long long)step + 1, nb_error_message(ctx));
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        if (nb_check_finite(ctx, step + 1, tg->loss, NULL, 0)) {
            nbc_progress_end(&pg);
            fprintf(stderr, "nabla train: stopped: %s (lr %g); the last good checkpoint is %s\n",
                    nb_error_message(ctx), nb_optim_get_lr(opt), saved_step >= 0 ? model_path : "(none)");
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        if (nbc_train_update(ctx, opt, sched, params, nparams, job->clip, step, job->profile ? &opt_s : NULL)) {
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        if (ntimed < maxtimed) step_ms[ntimed++] = (nbc_now() - t0) * 1e3;
        step++;
        loss_sum += (double)tg->loss->data[0] * (double)(tg->rows * T);
        double ignore = 0.0;
        score_rows(tg->logits->data, tg->y->data, tg->rows * T, V, &ignore, &correct);
        tokens += tg->rows * T;
        nbc_progress_update(&pg, b + 1, b * B + tg->rows, loss_sum / (double)tokens);
        int epoch_end = b + 1 == spe;
        int eval_now = step == total || (every ? step % every == 0 : !job->steps && epoch_end);
        if (epoch_end || eval_now || stop_requested) {
            nbc_progress_end(&pg);
            pg_open = 0;
        }
        if (stop_requested) {
            fprintf(stderr, "nabla train: interrupted at step %lld; %s\n", (long long)step,
                    saved_step >= 0 ? "the last checkpoint is kept" : "no checkpoint was written");
            if (saved_step >= 0) fprintf(stderr, "nabla train: resume with: nabla train --resume %s\n", model_path);
            exit_code = 130;
            break;
        }
        if (!eval_now) continue;
        /* never save weights a non-finite gradient has already spoilt */
        const char *bad = nbc_nonfinite_param(params, nparams);
        if (bad) {
            fprintf(stderr, "nabla train: stopped: non-finite weights in %s after step %lld; the last good checkpoint is %s\n",
                    bad, (long long)step, saved_step >= 0 ? model_path : "(none)");
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        double eloss, eacc;
        if (nbc_text_evaluate(&evr, &cp, cp.ntrain, cp.n - cp.ntrain, &eloss, &eacc)) {
            fprintf(stderr, "nabla train: evaluation: %s\n", nb_error_message(ctx));
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        if (nrows == maxrows) { /* a resumed run with another --eval-every: keep the newest */
            memmove(rows, rows + 1, (size_t)(maxrows - 1) * sizeof *rows);
            nrows--;
        }
        nbc_metrics *row = &rows[nrows++];
        row->epoch = per_step ? (int)step : (int)(epoch + 1);
        row->train_loss = loss_sum / (double)tokens;
        row->train_acc = (double)correct / (double)tokens;
        row->eval_loss = eloss;
        row->eval_acc = eacc;
        row->seconds = nbc_now() - seg_t0;
        if (per_step)
            printf("step %lld/%lld (epoch %.2f)  train_loss %.4f  train_acc %.4f  val_loss %.4f  val_acc %.4f  %.2fs\n",
                   (long long)step, (long long)total, (double)step / (double)spe, row->train_loss, row->train_acc,
                   eloss, eacc, row->seconds);
        else
            printf("epoch %lld/%lld  train_loss %.4f  train_acc %.4f  val_loss %.4f  val_acc %.4f  %.2fs  %.0f chars/s\n",
                   (long long)epoch + 1, job->epochs, row->train_loss, row->train_acc, eloss, eacc, row->seconds,
                   (double)tokens / row->seconds);
        fflush(stdout);
        nbc_meta_free(&meta);
        char hex[520];
        nbc_vocab_to_hex(&cp.vocab, hex);
        char *mtext = nbc_metrics_format(rows, nrows);
        int mrc = !mtext || nbc_model_info_to_meta(&mi, &meta) || nbc_meta_add(&meta, "nabla.vocab", hex) ||
                  nbc_meta_addf(&meta, "nabla.epoch", "%lld", (long long)(step / spe)) ||
                  nbc_meta_add(&meta, "nabla.metrics", mtext);
        free(mtext);
        for (int i = 0; job->flags && i < job->flags->n && !mrc; i++)
            mrc = nbc_meta_add(&meta, job->flags->kv[2 * i], job->flags->kv[2 * i + 1]);
        if (mrc) {
            fprintf(stderr, "nabla train: out of memory\n");
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        ck.step = step;
        ck.meta = (const char *const *)meta.kv;
        ck.nmeta = meta.n;
        if (nb_checkpoint_save(ctx, model_path, &ck)) {
            fprintf(stderr, "nabla train: saving the checkpoint: %s\n", nb_error_message(ctx));
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        saved_step = step;
        if (nbc_write_metrics_csv(metrics_path, rows, nrows) || nbc_write_curves_svg(svg_path, rows, nrows, title)) {
            fprintf(stderr, "nabla train: writing %s: %s\n", job->out_dir, strerror(errno));
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        loss_sum = 0.0;
        correct = tokens = 0;
        seg_t0 = nbc_now();
    }
    if (pg_open) nbc_progress_end(&pg);
    sigaction(SIGINT, &old_sa, NULL);
    if (exit_code == NBC_EXIT_OK && nrows > 0) {
        printf("saved %s, %s and %s\n", model_path, metrics_path, svg_path);
        if (job->profile) nbc_print_profile(tg_full.g, opt_s, step);
        if (job->bench) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            /* median over the steps after 5 warm-up steps, as chargpt.py */
            int64_t skip = ntimed > 10 ? 5 : 0, nt = ntimed - skip;
            double med = NAN;
            if (nt > 0) {
                qsort(step_ms + skip, (size_t)nt, sizeof *step_ms, cmp_double);
                med = nt % 2 ? step_ms[skip + nt / 2] : 0.5 * (step_ms[skip + nt / 2 - 1] + step_ms[skip + nt / 2]);
            }
            printf("RESULT name=nabla_train_text threads=%d steps=%lld batch=%lld ctx=%lld vocab=%d params=%lld "
                   "ms_per_step=%.2f val_loss=%.4f val_acc=%.4f train_loss=%.4f peak_rss_mb=%.1f\n",
                   nb_get_threads(), (long long)step, (long long)B, (long long)T, V,
                   (long long)nb_model_param_elements(net.model), med, rows[nrows - 1].eval_loss,
                   rows[nrows - 1].eval_acc, rows[nrows - 1].train_loss, (double)ru.ru_maxrss / 1024.0);
        }
    }
done:
    nb_batch_iter_free(&it);
    nbc_meta_free(&meta);
    nbc_model_info_free(&mi);
    free(rows);
    free(step_ms);
    nbc_corpus_free(&cp);
    nb_ctx_free(ctx);
    return exit_code;
}

/* ---- nabla eval ------------------------------------------------------------------- */

int nbc_text_eval(nb_ctx *ctx, const char *model_path, const nbc_model_info *mi, nbc_net *net, const char *text,
                  long long limit) {
    char err[1024];
    nbc_vocab v;
    if (nbc_vocab_from_meta(model_path, &v, err, sizeof err)) return nbc_usage_error("eval", "%s", err);
    if (v.n != mi->classes)
        return nbc_usage_error("eval", "%s: vocabulary of %d tokens, but the model has %d outputs", model_path, v.n,
                               mi->classes);
    char hex[520];
    nbc_vocab_to_hex(&v, hex);
    const int64_t T = mi->spec.context;
    /* default: the validation tail of the training text, as train reported it */
    double val = 0.0;
    if (!text) {
        if (!mi->data) return nbc_usage_error("eval", "%s records no training text: pass --data FILE", model_path);
        text = mi->data;
        val = 0.1;
        nb_safetensors_info st;
        if (nb_safetensors_read_info(ctx, model_path, &st) == NB_OK) {
            const char *vs = nb_safetensors_info_meta(&st, "nabla.train.val-split");
            if (vs) val = atof(vs);
            nb_safetensors_info_free(&st);
        }
    }
    nbc_corpus cp;
    if (nbc_corpus_load(text, hex, 0, val, T, &cp, err, sizeof err)) return nbc_usage_error("eval", "%s", err);
    int64_t start = val > 0.0 ? cp.ntrain : 0, len = cp.n - start;
    if (limit > 0 && limit < len) len = limit;
    int64_t nw = nbc_corpus_windows(len, T);
    if (nw < 1) {
        nbc_corpus_free(&cp);
        return nbc_usage_error("eval", "%s: fewer than %lld characters to evaluate", text, (long long)T + 1);
    }
    nbc_text_evaluator ev;
    double loss, acc;
    int rc = NBC_EXIT_OK;
    if (nbc_text_evaluator_init(&ev, net, nw < 32 ? nw : 32) || nbc_text_evaluate(&ev, &cp, start, len, &loss, &acc)) {
        fprintf(stderr, "nabla eval: %s\n", nb_error_message(ctx));
        rc = NBC_EXIT_FAIL;
    } else {
        printf("model     %s (%s, %d-symbol vocabulary)\n", model_path, mi->spec_str, v.n);
        printf("data      %s (%s: %lld characters, %lld windows of %lld)\n", text,
               val > 0.0 ? "its validation tail" : "whole file", (long long)len, (long long)nw, (long long)T);
        printf("loss      %.4f nats per character (perplexity %.3f)\n", loss, exp(loss));
        printf("accuracy  %.4f (%.2f%% next-character)\n", acc, 100.0 * acc);
    }
    nbc_corpus_free(&cp);
    return rc;
}
