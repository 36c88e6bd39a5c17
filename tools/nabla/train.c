/* train.c — `nabla train`: options, data, the training loop (one graph for
 * full batches and one for the last partial batch, sharing the parameters; an
 * inference graph for evaluation), per-epoch checkpoints, metrics and plot,
 * resuming, NaN detection and Ctrl-C handling. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "data_cli.h"
#include "dist_cli.h"
#include "model_io.h"
#include "report.h"
#include "spec.h"
#include "text.h"
#include "trainer.h"

#define CMD "train"
#define MAX_EPOCHS 100000

void nbc_train_usage(FILE *out) {
    fprintf(out,
            "usage: nabla train [options]\n"
            "\n"
            "Train a classifier. With no options: the MLP 784-256-128-10 (ReLU) with Adam\n"
            "(lr 1e-3), batch 64, 5 epochs, seed 0, on Fashion-MNIST from Debian's\n"
            "dataset-fashion-mnist package (" NBC_FMNIST_DIR ").\n"
            "\n"
            "data:\n"
            "  --data PATH        a directory of IDX files (train-* and t10k-*, plain or .gz),\n"
            "                     a CSV file (header row; features standardised) or an NPY\n"
            "                     file of features [n, ...] (with --labels)\n"
            "  --target COLUMN    CSV: the class column (default: the last column)\n"
            "  --labels FILE      NPY: class ids [n]\n"
            "  --val-split F      CSV/NPY: hold out this fraction for evaluation (default 0.2)\n"
            "  --limit N          use only the first N training (and evaluation) samples\n"
            "model:\n"
            "  --model SPEC       KIND[:ITEM,...], ITEM = VALUE or KEY=VALUE (default mlp):\n"
            "                       mlp[:W1,W2,...][,act=relu|tanh|sigmoid|gelu|none][,dropout=P]\n"
            "                         hidden widths (default 256,128), activation (relu),\n"
            "                         dropout after each hidden activation (0)\n"
            "                       linear   softmax regression (no hidden layer)\n"
            "                       cnn[:LAYER,...][,act=A][,shape=CxHxW]  convolutional network\n"
            "                         on images (IDX HxW is 1xHxW; flat data needs shape=).\n"
            "                         LAYER: conv<N>[k<K>][s<S>][p<P>][d<D>][g<G>]  N channels,\n"
            "                           kernel K (3), stride S (1), padding P (same), dilation\n"
            "                           D (1), groups G (1);  max<K>[s<S>][p<P>], avg<K>...\n"
            "                           pooling (stride K);  gap  global average pooling;\n"
            "                           bn  batch norm;  drop<P>  dropout;  fc<N>  linear.\n"
            "                         act (relu) follows each conv and fc, after its bn; a\n"
            "                         linear layer to the classes ends the network. Plain\n"
            "                         cnn is cnn:conv32,max2,conv64,max2,fc128\n"
            "                     e.g. mlp:512,256,act=tanh,dropout=0.2,\n"
            "                          cnn:conv32,bn,max2,conv64,bn,max2,fc128,drop0.3\n"
            "                       gpt[:layers=4,heads=4,width=128,context=64,dropout=0]\n"
            "                         character-level GPT on --text (see below)\n"
            "optimisation:\n"
            "  --epochs N         total epochs (default 5); with --resume, the run continues\n"
            "                     until N epochs are complete\n"
            "  --batch N          mini-batch size (default 64); under mpirun, the global\n"
            "                     batch, split across the ranks\n"
            "  --opt NAME         sgd, momentum, nesterov, adam (default), adamw, rmsprop,\n"
            "                     adagrad (PyTorch's update rules)\n"
            "  --lr F             learning rate (default 1e-3 for adam/adamw, 1e-2 otherwise)\n"
            "  --momentum F       momentum/nesterov/rmsprop (default 0.9 for momentum and\n"
            "                     nesterov, 0 for rmsprop)\n"
            "  --weight-decay F   L2 penalty (decoupled for adamw; default 0, adamw 0.01)\n"
            "  --schedule S       learning rate per optimizer step: constant (default),\n"
            "                     step[:every=E,gamma=G]  x G every E epochs (1, 0.1)\n"
            "                     multistep:E1,E2,...[,gamma=G]  x G at those epochs\n"
            "                     exponential[:gamma=G]  x G per epoch (0.9), smoothly\n"
            "                     cosine[:min=LR]  cosine to LR (0) over all --epochs\n"
            "  --warmup N         linear warmup over the first N steps from lr/100\n"
            "  --clip F           clip the global gradient norm to F (default: off)\n"
            "  --seed N           weights, shuffling, dropout and splits (default 0)\n"
            "  --rng KIND         nabla (default) or torch: initial weights and each epoch's\n"
            "                     order drawn as PyTorch 1.13 draws them after\n"
            "                     torch.manual_seed(N), shuffling with a torch.Generator\n"
            "                     seeded N (classifiers; dropout and splits stay nabla's)\n"
            "  --threads N        worker threads (default: all CPUs available)\n"
            "  --sync-bn          under mpirun, batch-norm statistics over the whole global\n"
            "                     batch instead of each rank's share (two small all-reduces\n"
            "                     per bn layer per step); without mpirun it changes nothing\n"
            "output:\n"
            "  --out DIR          where model.safetensors (after every epoch), metrics.csv and\n"
            "                     curves.svg go (default runs/<data>-<model>, e.g.\n"
            "                     runs/fmnist-mlp; with --resume, the checkpoint's directory)\n"
            "  --resume FILE      continue from a checkpoint; flags not given are taken from\n"
            "                     it, so `nabla train --resume F --epochs 10` is enough\n"
            "  --progress WHEN    auto (default: a bar on a terminal), always, never\n"
            "  --bench            print a RESULT line (timings, accuracy, peak memory)\n"
            "  --profile          at the end, print the training graph's time per op kind\n"
            "                     (forward and backward ms per step) on stderr\n"
            "steps and text:\n"
            "  --steps N          train exactly N optimizer steps instead of --epochs (any\n"
            "                     model; a classifier still evaluates after each epoch)\n"
            "  --eval-every N     text: evaluate, save and add a metrics row every N steps\n"
            "                     (default: after each epoch, or at the end with --steps);\n"
            "                     metrics.csv's first column then counts steps\n"
            "  --text FILE        train a character-level language model (--model gpt, the\n"
            "                     default with --text; without --text a gpt trains on\n"
            "                     " NBC_TEXT_DEFAULT "). Vocabulary: the file's distinct\n"
            "                     bytes; the last 10%% (--val-split) is the validation text;\n"
            "                     an epoch visits the non-overlapping context windows of the\n"
            "                     rest in a shuffled order; accuracy = next-character\n"
            "                     accuracy. GPT defaults: --opt adamw --lr 3e-4 (weight\n"
            "                     decay 0.01), --batch 32, --epochs 30; --limit N reads only\n"
            "                     the first N bytes\n"
            "  -h, --help         show this help\n"
            "\n"
            "Exit status: 0 done, 1 the run failed (e.g. non-finite loss; the last good\n"
            "checkpoint is kept), 2 bad usage or unreadable data, 130 interrupted (Ctrl-C\n"
            "stops after the current batch; the last completed epoch's checkpoint stays).\n");
}

/* ---- options ---------------------------------------------------------------------- */

enum {
    O_DATA, O_TARGET, O_LABELS, O_VAL, O_LIMIT, O_MODEL, O_EPOCHS, O_BATCH, O_OPT, O_LR, O_MOM, O_WD,
    O_SCHED, O_WARMUP, O_CLIP, O_SEED, O_THREADS, O_OUT, O_RESUME, O_PROGRESS, O_BENCH, O_TEXT, O_STEPS,
    O_EVAL_EVERY, O_SYNC_BN, O_PROFILE, O_RNG, NOPT
};
/* Options saved in the checkpoint and reused by --resume when not given. */
static const struct {
    const char *name;
    int saved;
} optdef[NOPT] = {
    [O_DATA] = {"data", 1},     [O_TARGET] = {"target", 1},     [O_LABELS] = {"labels", 1},
    [O_VAL] = {"val-split", 1}, [O_LIMIT] = {"limit", 1},       [O_MODEL] = {"model", 1},
    [O_EPOCHS] = {"epochs", 0}, [O_BATCH] = {"batch", 1},       [O_OPT] = {"opt", 1},
    [O_LR] = {"lr", 1},         [O_MOM] = {"momentum", 1},      [O_WD] = {"weight-decay", 1},
    [O_SCHED] = {"schedule", 1}, [O_WARMUP] = {"warmup", 1},    [O_CLIP] = {"clip", 1},
    [O_SEED] = {"seed", 1},     [O_THREADS] = {"threads", 0},   [O_OUT] = {"out", 0},
    [O_RESUME] = {"resume", 0}, [O_PROGRESS] = {"progress", 0}, [O_BENCH] = {"bench", 0},
    [O_TEXT] = {"text", 1},     [O_STEPS] = {"steps", 1},       [O_EVAL_EVERY] = {"eval-every", 1},
    [O_SYNC_BN] = {"sync-bn", 0}, [O_PROFILE] = {"profile", 0}, [O_RNG] = {"rng", 1},
};

typedef struct train_cfg {
    const char *val[NOPT];
    /* parsed */
    long long epochs, batch, limit, warmup, seed, threads, steps, eval_every;
    double val_split, lr, momentum, wd, clip;
    int lr_set, mom_set, wd_set;
    nbc_model_spec spec;
    nb_optim_config ocfg;
    char opt_name[16];
    int progress; /* -1 auto, 0 never, 1 always */
    int bench;
    int profile; /* --profile */
    int sync_bn; /* --sync-bn */
    int rng_torch; /* --rng torch */
} train_cfg;

static int parse_cfg(train_cfg *c) {
    long long v;
    double d;
    int rc;
#define INT_OPT(id, lo, hi, dst, def)                                                            \
    do {                                                                                         \
        if (c->val[id]) {                                                                        \
            char flag[32];                                                                       \
            snprintf(flag, sizeof flag, "--%s", optdef[id].name);                                \
            if ((rc = nbc_parse_int(CMD, flag, c->val[id], lo, hi, &v))) return rc;             \
            dst = v;                                                                             \
        } else                                                                                   \
            dst = def;                                                                           \
    } while (0)
    INT_OPT(O_EPOCHS, 1, MAX_EPOCHS, c->epochs, 5);
    INT_OPT(O_BATCH, 1, 1 << 20, c->batch, 64);
    INT_OPT(O_LIMIT, 0, INT64_MAX, c->limit, 0);
    INT_OPT(O_WARMUP, 0, 1LL << 40, c->warmup, 0);
    INT_OPT(O_SEED, 0, INT64_MAX, c->seed, 0);
    INT_OPT(O_THREADS, 0, 1024, c->threads, 0);
    INT_OPT(O_STEPS, 1, 1LL << 40, c->steps, 0);
    INT_OPT(O_EVAL_EVERY, 1, 1LL << 40, c->eval_every, 0);
#undef INT_OPT
#define DBL_OPT(id, lo, hi, dst, def, setflag)                                                   \
    do {                                                                                         \
        if (c->val[id]) {                                                                        \
            char flag[32];                                                                       \
            snprintf(flag, sizeof flag, "--%s", optdef[id].name);                                \
            if ((rc = nbc_parse_double(CMD, flag, c->val[id], lo, hi, &d))) return rc;          \
            dst = d;                                                                             \
            setflag;                                                                             \
        } else                                                                                   \
            dst = def;                                                                           \
    } while (0)
    DBL_OPT(O_VAL, 0.0, 0.99, c->val_split, 0.2, (void)0);
    DBL_OPT(O_LR, 0.0, 1e38, c->lr, 0.0, c->lr_set = 1);
    DBL_OPT(O_MOM, 0.0, 0.999999, c->momentum, 0.0, c->mom_set = 1);
    DBL_OPT(O_WD, 0.0, 1e3, c->wd, 0.0, c->wd_set = 1);
    DBL_OPT(O_CLIP, 0.0, 1e12, c->clip, 0.0, (void)0);
#undef DBL_OPT
    if (c->val[O_LR] && c->lr <= 0.0) return nbc_usage_error(CMD, "--lr: '%s' must be greater than 0", c->val[O_LR]);
    if (c->val[O_VAL] && c->val_split <= 0.0)
        return nbc_usage_error(CMD, "--val-split: '%s' must be greater than 0", c->val[O_VAL]);
    char err[256];
    if (nbc_model_spec_parse(c->val[O_MODEL] ? c->val[O_MODEL] : NBC_DEFAULT_MODEL, &c->spec, err, sizeof err))
        return nbc_usage_error(CMD, "--model: %s", err);
    /* optimizer */
    static const struct {
        const char *name;
        nb_optim_kind kind;
        int momentum, nesterov;
    } opts[] = {{"sgd", NB_OPTIM_SGD, 0, 0},        {"momentum", NB_OPTIM_SGD, 1, 0},
                {"nesterov", NB_OPTIM_SGD, 1, 1},   {"adam", NB_OPTIM_ADAM, 0, 0},
                {"adamw", NB_OPTIM_ADAMW, 0, 0},    {"rmsprop", NB_OPTIM_RMSPROP, 0, 0},
                {"adagrad", NB_OPTIM_ADAGRAD, 0, 0}};
    const char *on = c->val[O_OPT] ? c->val[O_OPT] : "adam";
    size_t k = 0, nk = sizeof opts / sizeof opts[0];
    while (k < nk && strcmp(opts[k].name, on) != 0) k++;
    if (k == nk)
        return nbc_usage_error(CMD, "--opt: unknown optimizer '%s' (sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad)",
                               on);
    snprintf(c->opt_name, sizeof c->opt_name, "%s", on);
    c->ocfg = nb_optim_defaults(opts[k].kind);
    if (c->lr_set) c->ocfg.lr = c->lr;
    if (c->wd_set) c->ocfg.weight_decay = c->wd;
    if (opts[k].momentum) {
        c->ocfg.momentum = c->mom_set ? c->momentum : 0.9;
        if (c->ocfg.momentum <= 0.0)
            return nbc_usage_error(CMD, "--momentum: --opt %s needs a momentum greater than 0", on);
        c->ocfg.nesterov = opts[k].nesterov;
    } else if (opts[k].kind == NB_OPTIM_RMSPROP) {
        c->ocfg.momentum = c->mom_set ? c->momentum : 0.0;
    } else if (c->mom_set) {
        return nbc_usage_error(CMD, "--momentum: not used by --opt %s", on);
    }
    c->progress = -1;
    if (c->val[O_PROGRESS]) {
        const char *p = c->val[O_PROGRESS];
        if (strcmp(p, "auto") == 0) c->progress = -1;
        else if (strcmp(p, "always") == 0) c->progress = 1;
        else if (strcmp(p, "never") == 0) c->progress = 0;
        else return nbc_usage_error(CMD, "--progress: '%s' is not auto, always or never", p);
    }
    if (c->val[O_RNG]) {
        if (strcmp(c->val[O_RNG], "torch") == 0) c->rng_torch = 1;
        else if (strcmp(c->val[O_RNG], "nabla") != 0)
            return nbc_usage_error(CMD, "--rng: '%s' is not nabla or torch", c->val[O_RNG]);
    }
    return NBC_EXIT_OK;
}

/* --schedule, checked before any data is read; built once batches are known. */
typedef struct sched_spec {
    nbc_kvlist kv;
    int kind;
    double every, gamma, min_lr;
    int nmil;
    double mil[NBC_KV_MAX];
} sched_spec;

static int num_value(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_schedule(const char *s, sched_spec *sp) {
    memset(sp, 0, sizeof *sp);
    char err[256];
    if (nbc_kvlist_parse(s ? s : "constant", &sp->kv, err, sizeof err))
        return nbc_usage_error(CMD, "--schedule: %s", err);
    const char *k = sp->kv.kind;
    sp->every = 1;
    sp->gamma = strcmp(k, "exponential") == 0 ? 0.9 : 0.1;
    if (strcmp(k, "constant") == 0) sp->kind = NB_SCHED_CONSTANT;
    else if (strcmp(k, "step") == 0) sp->kind = NB_SCHED_STEP;
    else if (strcmp(k, "multistep") == 0) sp->kind = NB_SCHED_MULTISTEP;
    else if (strcmp(k, "exponential") == 0) sp->kind = NB_SCHED_EXPONENTIAL;
    else if (strcmp(k, "cosine") == 0) sp->kind = NB_SCHED_COSINE;
    else
        return nbc_usage_error(CMD, "--schedule: unknown schedule '%s' (constant, step, multistep, exponential, cosine)", k);
    for (int i = 0; i < sp->kv.n; i++) {
        const nbc_kv *it = &sp->kv.item[i];
        double v = 0.0;
        int ok = 0;
        if (!it->key[0] && sp->kind == NB_SCHED_MULTISTEP) {
            ok = !num_value(it->value, 0.0, 1e9, &v) && (sp->nmil == 0 || v > sp->mil[sp->nmil - 1]);
            if (ok) sp->mil[sp->nmil++] = v;
        } else if (strcmp(it->key, "every") == 0 && sp->kind == NB_SCHED_STEP) {
            ok = !num_value(it->value, 1e-9, 1e9, &v);
            sp->every = v;
        } else if (strcmp(it->key, "gamma") == 0 && sp->kind != NB_SCHED_CONSTANT && sp->kind != NB_SCHED_COSINE) {
            ok = !num_value(it->value, 1e-12, 1.0, &v);
            sp->gamma = v;
        } else if (strcmp(it->key, "min") == 0 && sp->kind == NB_SCHED_COSINE) {
            ok = !num_value(it->value, 0.0, 1e6, &v);
            sp->min_lr = v;
        } else {
            return nbc_usage_error(CMD, "--schedule: '%s': option '%s%s%s' does not apply to %s", s,
                                   it->key, it->key[0] ? "=" : "", it->value, k);
        }
        if (!ok) return nbc_usage_error(CMD, "--schedule: '%s': bad value '%s'", s, it->value);
    }
    if (sp->kind == NB_SCHED_MULTISTEP && sp->nmil == 0)
        return nbc_usage_error(CMD, "--schedule: multistep needs epochs, e.g. multistep:2,4");
    return NBC_EXIT_OK;
}

static nb_schedule *build_schedule(nb_ctx *ctx, const sched_spec *sp, double lr, int64_t steps_per_epoch,
                                   int64_t total_steps, int64_t warmup) {
    nb_schedule *s = NULL;
    double spe = (double)steps_per_epoch;
    switch (sp->kind) {
    case NB_SCHED_STEP: {
        int64_t size = (int64_t)llround(sp->every * spe);
        s = nb_schedule_steplr(ctx, lr, size < 1 ? 1 : size, sp->gamma);
        break;
    }
    case NB_SCHED_MULTISTEP: {
        int64_t m[NBC_KV_MAX];
        for (int i = 0; i < sp->nmil; i++) m[i] = (int64_t)llround(sp->mil[i] * spe);
        s = nb_schedule_multistep(ctx, lr, m, sp->nmil, sp->gamma);
        break;
    }
    case NB_SCHED_EXPONENTIAL: s = nb_schedule_exponential(ctx, lr, pow(sp->gamma, 1.0 / spe)); break;
    case NB_SCHED_COSINE: {
        int64_t t = total_steps - warmup;
        s = nb_schedule_cosine(ctx, lr, t < 1 ? 1 : t, sp->min_lr);
        break;
    }
    default: s = nb_schedule_constant(ctx, lr);
    }
    if (s && warmup > 0 && nb_schedule_set_warmup(s, warmup, 0.01) != NB_OK) return NULL;
    return s;
}

/* ---- data --------------------------------------------------------------------------- */

static int mkdir_p(const char *dir) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    struct stat st;
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The NPY file's dtype is uint8 ('|u1'): its default normalisation is /255. */
static int npy_is_u8(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char h[512];
    size_t n = fread(h, 1, sizeof h - 1, f);
    fclose(f);
    h[n] = '\0';
    for (size_t i = 0; i + 4 < n; i++)
        if (memcmp(h + i, "'|u1'", 5) == 0) return 1;
    return 0;
}

/* Loads the training and evaluation sets and fills the data part of mi. On
 * failure prints one line and returns an exit code. */
static int load_data(const train_cfg *c, nbc_data *tr, nbc_data *ev, nbc_model_info *mi) {
    char err[1024];
    const char *data = c->val[O_DATA];
    const char *dir = data ? data : nbc_fmnist_dir();
    memset(tr, 0, sizeof *tr);
    memset(ev, 0, sizeof *ev);
    if (!data && !is_dir(dir))
        return nbc_usage_error(CMD, "Fashion-MNIST not found in %s: install the Debian package %s "
                                    "(apt-get install %s) or pass --data",
                               dir, NBC_FMNIST_PACKAGE, NBC_FMNIST_PACKAGE);
    if (is_dir(dir)) {
        if (c->val[O_TARGET] || c->val[O_LABELS])
            return nbc_usage_error(CMD, "--%s: only for CSV/NPY files, %s is an IDX directory",
                                   c->val[O_TARGET] ? "target" : "labels", dir);
        if (c->val[O_VAL])
            return nbc_usage_error(CMD, "--val-split: %s is an IDX directory; its t10k files are the evaluation set", dir);
        if (nbc_data_load_idx_dir(dir, "train", 0, tr, err, sizeof err)) return nbc_usage_error(CMD, "%s", err);
        if (nbc_data_load_idx_dir(dir, "t10k", tr->ds.num_classes, ev, err, sizeof err)) {
            nbc_data_free(tr);
            return nbc_usage_error(CMD, "%s", err);
        }
        /* the test set may hold a class the (limited) training set lacks */
        if (ev->ds.num_classes > tr->ds.num_classes) tr->ds.num_classes = ev->ds.num_classes;
        mi->data_kind = strdup("idx");
    } else {
        const char *kind = nbc_data_kind(dir);
        if (!kind || strcmp(kind, "idx") == 0)
            return nbc_usage_error(CMD, "--data: '%s' is not a directory, .csv or .npy file", dir);
        nb_dataset all;
        nb_data_opts o = {0};
        o.norm = NB_NORM_NONE;
        int rc, u8 = 0;
        if (strcmp(kind, "csv") == 0) {
            if (c->val[O_LABELS]) return nbc_usage_error(CMD, "--labels: only for NPY files");
            o.target = c->val[O_TARGET];
            rc = nb_dataset_load_csv(dir, &o, &all, err, sizeof err);
        } else {
            if (c->val[O_TARGET]) return nbc_usage_error(CMD, "--target: only for CSV files");
            if (!c->val[O_LABELS]) return nbc_usage_error(CMD, "--data %s: an NPY file needs --labels FILE", dir);
            u8 = npy_is_u8(dir);
            rc = nb_dataset_load_npy(dir, c->val[O_LABELS], &o, &all, err, sizeof err);
        }
        if (rc) return nbc_usage_error(CMD, "%s", err);
        if (!all.y) {
            nb_dataset_free(&all);
            return nbc_usage_error(CMD, "%s: no labels", dir);
        }
        if (nb_dataset_split(&all, c->val_split, 1, (uint64_t)c->seed, &tr->ds, &ev->ds, err, sizeof err)) {
            nb_dataset_free(&all);
            return nbc_usage_error(CMD, "--val-split: %s", err);
        }
        nb_dataset_free(&all);
        nb_norm norm;
        /* fit on the training part only, apply the same values to both */
        if (nb_norm_fit(&tr->ds, u8 ? NB_NORM_SCALE : NB_NORM_STANDARD, 0.0f, &norm, err, sizeof err) ||
            nb_dataset_normalise(&tr->ds, &norm, err, sizeof err) || nb_dataset_normalise(&ev->ds, &norm, err, sizeof err)) {
            nb_norm_free(&norm);
            nbc_data_free(tr);
            nbc_data_free(ev);
            return nbc_usage_error(CMD, "%s", err);
        }
        nb_norm_free(&norm);
        mi->data_kind = strdup(kind);
        if (tr->ds.target_name) mi->target = strdup(tr->ds.target_name);
    }
    mi->data = strdup(dir);
    if (c->limit > 0) {
        nbc_data_limit(tr, c->limit);
        nbc_data_limit(ev, c->limit);
    }
    /* model description */
    const nb_dataset *ds = &tr->ds;
    mi->spec = c->spec;
    nbc_model_spec_format(&c->spec, mi->spec_str, sizeof mi->spec_str);
    mi->feat_ndim = ds->feat_ndim;
    memcpy(mi->feat_shape, ds->feat_shape, sizeof mi->feat_shape);
    mi->inputs = ds->features;
    if (nbc_model_spec_set_input(&mi->spec, mi->feat_ndim, mi->feat_shape, mi->inputs, err, sizeof err)) {
        nbc_data_free(tr);
        nbc_data_free(ev);
        return nbc_usage_error(CMD, "--model: %s", err);
    }
    nbc_model_spec_format(&mi->spec, mi->spec_str, sizeof mi->spec_str); /* now with the input shape */
    mi->classes = ds->num_classes < 2 ? 2 : ds->num_classes;
    mi->class_names = calloc((size_t)mi->classes, sizeof *mi->class_names);
    nb_norm_copy(&mi->norm, &ds->norm);
    int fmnist = !data || strstr(dir, "fashion") != NULL;
    for (int i = 0; mi->class_names && i < mi->classes; i++) {
        char num[32];
        snprintf(num, sizeof num, "%d", i);
        const char *name = ds->class_names && i < ds->num_classes ? ds->class_names[i]
                           : fmnist && mi->classes == 10 && strcmp(mi->data_kind, "idx") == 0 ? nbc_fmnist_classes[i]
                                                                                                : num;
        mi->class_names[i] = strdup(name);
    }
    return NBC_EXIT_OK;
}

/* ---- signals ------------------------------------------------------------------------ */

static volatile sig_atomic_t stop_requested;
static void on_sigint(int sig) {
    (void)sig;
    stop_requested = 1;
}

/* ---- the run ------------------------------------------------------------------------- */

static const char *basename_of(const char *p) {
    const char *s = strrchr(p, '/');
    return s && s[1] ? s + 1 : p;
}

static double median(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n == 0 ? NAN : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct train_graph {
    nb_tensor *x, *y, *logits, *loss;
    nb_graph *g;
    int64_t rows;
} train_graph;

static int build_train_graph(nb_ctx *ctx, nbc_net *net, int64_t rows, train_graph *tg) {
    tg->rows = rows;
    tg->x = nb_tensor_2d(ctx, rows, net->inputs);
    tg->y = nb_tensor_1d(ctx, rows);
    tg->logits = tg->x ? nbc_net_forward(net, tg->x) : NULL;
    tg->loss = tg->logits ? nb_cross_entropy(ctx, tg->logits, tg->y, 0.0f) : NULL;
    tg->g = tg->loss ? nb_graph_new(ctx, tg->loss) : NULL;
    return tg->g ? NB_OK : nb_error(ctx);
}

/* `--model gpt` / `--text`: the character-level loop of text.c, with the
 * flags parsed here (GPT defaults: AdamW lr 3e-4, batch 32, 30 epochs, the
 * last 10% of the text for validation). */
static int run_text(train_cfg *c, const sched_spec *sp, const char *out_dir, const char *resume,
                    const nb_safetensors_info *resume_info) {
    if (c->spec.kind != NBC_MODEL_GPT) return nbc_usage_error(CMD, "--text: only for --model gpt");
    for (int i = O_DATA; i <= O_LABELS; i++)
        if (c->val[i]) return nbc_usage_error(CMD, "--%s: a gpt trains on --text FILE", optdef[i].name);
    if (c->steps && c->val[O_EPOCHS]) return nbc_usage_error(CMD, "--steps: give --epochs or --steps, not both");
    if (c->rng_torch)
        return nbc_usage_error(CMD, "--rng torch: classifiers only (a gpt's normal initialisation is nabla's)");
    nbc_text_job job = {0};
    job.text = c->val[O_TEXT] ? c->val[O_TEXT] : NBC_TEXT_DEFAULT;
    job.spec = c->spec;
    job.ocfg = c->ocfg;
    job.opt_name = c->opt_name;
    if (!c->val[O_OPT]) {
        job.ocfg = nb_optim_defaults(NB_OPTIM_ADAMW);
        job.ocfg.lr = c->lr_set ? c->lr : 3e-4;
        if (c->wd_set) job.ocfg.weight_decay = c->wd;
        job.opt_name = "adamw";
    }
    job.epochs = c->val[O_EPOCHS] ? c->epochs : 30;
    job.steps = c->steps;
    job.eval_every = c->eval_every;
    job.batch = c->val[O_BATCH] ? c->batch : 32;
    job.warmup = c->warmup;
    job.seed = c->seed;
    job.limit = c->limit;
    job.val_split = c->val[O_VAL] ? c->val_split : 0.1;
    job.clip = c->clip;
    job.progress = c->progress;
    job.bench = c->bench;
    job.profile = c->profile;
    job.out_dir = out_dir;
    job.resume = resume;
    job.resume_info = resume ? resume_info : NULL;
    job.sched = sp;
    job.build_schedule = build_schedule;
    nbc_meta flags = {0};
    int mrc = 0;
    for (int i = 0; i < NOPT && !mrc; i++) {
        char key[64];
        snprintf(key, sizeof key, "nabla.train.%s", optdef[i].name);
        if (optdef[i].saved && c->val[i]) mrc = nbc_meta_add(&flags, key, c->val[i]);
    }
    if (!mrc && !c->val[O_TEXT]) mrc = nbc_meta_add(&flags, "nabla.train.text", job.text);
    job.flags = &flags;
    if (c->threads > 0) nb_set_threads((int)c->threads);
    int rc = NBC_EXIT_FAIL;
    if (mrc) fprintf(stderr, "nabla train: out of memory\n");
    else if (mkdir_p(out_dir))
        rc = nbc_usage_error(CMD, "--out: cannot create directory %s: %s", out_dir, strerror(errno));
    else
        rc = nbc_text_train(&job);
    nbc_meta_free(&flags);
    return rc;
}

static int run(train_cfg *c, const sched_spec *sp, const char *out_dir, const char *resume,
               const nb_safetensors_info *resume_info) {
    char err[1024];
    if (c->spec.kind == NBC_MODEL_GPT || c->val[O_TEXT]) return run_text(c, sp, out_dir, resume, resume_info);
    if (c->eval_every) return nbc_usage_error(CMD, "--eval-every: only for text models (a classifier evaluates after each epoch)");
    if (c->steps && resume) return nbc_usage_error(CMD, "--steps: a classifier run with --steps cannot be resumed");
    if (c->steps && c->val[O_EPOCHS]) return nbc_usage_error(CMD, "--steps: give --epochs or --steps, not both");
    nbc_data tr, ev;
    nbc_model_info mi;
    memset(&mi, 0, sizeof mi);
    nbc_dist dd; /* this rank's part of an mpirun job (dist_cli.h); idle otherwise */
    int rc = nbc_dist_start(&dd);
    if (rc) return rc;
    rc = load_data(c, &tr, &ev, &mi);
    if (rc) {
        nbc_model_info_free(&mi);
        return nbc_dist_end(&dd, rc);
    }
    if (c->steps) { /* --steps: as many epochs as it takes; the last one stops early */
        int64_t bs = c->batch < tr.ds.n ? c->batch : tr.ds.n, per = (tr.ds.n + bs - 1) / bs;
        c->epochs = (c->steps + per - 1) / per;
    }
    if (c->threads > 0) nb_set_threads((int)c->threads);
    int exit_code = NBC_EXIT_FAIL;
    nb_ctx *ctx = nb_ctx_new();
    nbc_meta meta = {0};
    nbc_metrics *rows = calloc((size_t)c->epochs + 1, sizeof *rows);
    double *epoch_s = calloc((size_t)c->epochs + 1, sizeof *epoch_s);
    int nrows = 0, ntimed = 0;
    nb_batch_iter it = {0};
    if (!ctx || !rows || !epoch_s) {
        fprintf(stderr, "nabla train: out of memory\n");
        goto done;
    }
    /* --rng torch: the weights from torch.manual_seed's generator, then the
     * usual one for dropout (its state is what checkpoints save) */
    if (c->rng_torch) nb_rng_seed_torch(nb_ctx_rng(ctx), (uint64_t)c->seed);
    else nb_rng_seed(nb_ctx_rng(ctx), (uint64_t)c->seed);
    nbc_net net;
    mi.spec.cnn.sync_bn = c->sync_bn;
    if (nbc_net_build(ctx, &mi.spec, mi.inputs, mi.classes, &net)) {
        fprintf(stderr, "nabla train: building the model: %s\n", nb_error_message(ctx));
        goto done;
    }
    if (c->rng_torch) nb_rng_seed(nb_ctx_rng(ctx), (uint64_t)c->seed);
    const int64_t n = tr.ds.n, B = c->batch < n ? c->batch : n;
    const int64_t full = n / B, rem = n % B, nbatches = full + (rem > 0);
    train_graph tg_full = {0}, tg_rem = {0};
    nbc_evaluator evr;
    /* under mpirun each rank's graphs hold its share of a global batch (maybe none) */
    const int64_t lB = nbc_dist_rows(&dd, B), lrem = nbc_dist_rows(&dd, rem);
    if (c->sync_bn && dd.on && (B < dd.size || (rem > 0 && rem < dd.size))) {
        /* a rank without rows runs no graph, so it could not join the statistics' sums */
        fprintf(stderr, "nabla train: --sync-bn needs rows for every rank in every batch: --batch %lld and the "
                        "last batch of %lld rows must each be at least the %d ranks (change --batch or --limit)\n",
                (long long)B, (long long)(rem ? rem : B), dd.size);
        exit_code = NBC_EXIT_USAGE;
        goto done;
    }
    dd.sync_bn = c->sync_bn;
    if ((lB && build_train_graph(ctx, &net, lB, &tg_full)) || (lrem && build_train_graph(ctx, &net, lrem, &tg_rem)) ||
        nbc_evaluator_init(&evr, &net, ev.ds.n < 1000 ? ev.ds.n : 1000)) {
        fprintf(stderr, "nabla train: building the graphs: %s\n", nb_error_message(ctx));
        goto done;
    }
    if (c->profile) nb_graph_profile(tg_full.g, 1);
    double opt_s = 0.0; /* --profile: the optimizer's share, outside the graph */
    nb_tensor *const *params = nb_model_params(net.model);
    const int nparams = nb_model_num_params(net.model);
    nb_optim *opt;
    nb_schedule *sched;
    nb_checkpoint ck;
    if (nbc_train_state_init(ctx, &net, &c->ocfg, build_schedule, sp, nbatches, nbatches * c->epochs, c->warmup,
                             resume, &opt, &sched, &ck)) {
        exit_code = NBC_EXIT_USAGE;
        goto done;
    }
    int start_epoch = 0;
    if (resume) {
        const char *e = nb_safetensors_info_meta(resume_info, "nabla.epoch");
        const char *m = nb_safetensors_info_meta(resume_info, "nabla.metrics");
        start_epoch = e ? atoi(e) : 0;
        nrows = m ? nbc_metrics_parse(m, rows, (int)c->epochs) : 0;
        if (nrows < 0) nrows = 0;
        if (start_epoch >= c->epochs) {
            printf("%s: already trained for %d epochs (--epochs %lld); nothing to do\n", resume, start_epoch,
                   c->epochs);
            exit_code = NBC_EXIT_OK;
            goto done;
        }
    }
    uint64_t opts_hash = NB_DIST_HASH_INIT; /* data paths may differ per machine; their contents may not */
    for (int i = 0; i < NOPT; i++)
        if ((optdef[i].saved || i == O_EPOCHS) && i != O_DATA && i != O_LABELS)
            opts_hash = nbc_dist_hash_str(opts_hash, c->val[i]);
    nbc_dist_setup(&dd, &net, mi.spec_str, opts_hash, &tr, &ev, B >= dd.size ? tg_full.g : NULL);
    if (nbc_dist_rank0(&dd) && mkdir_p(out_dir)) {
        fprintf(stderr, "nabla train: --out: cannot create directory %s: %s\n", out_dir, strerror(errno));
        exit_code = NBC_EXIT_USAGE;
        goto done;
    }
    char model_path[NBC_OUT_PATH], metrics_path[NBC_OUT_PATH], svg_path[NBC_OUT_PATH];
    if (nbc_out_paths(out_dir, model_path, metrics_path, svg_path)) {
        exit_code = NBC_EXIT_USAGE;
        goto done;
    }
    nb_dataset view = tr.ds; /* the iterator only draws orders; x8 data has no ds.x */
    static float dummy;
    if (!view.x) view.x = &dummy;
    if (nb_batch_iter_init(&it, &view, B, c->rng_torch ? NB_SHUFFLE_TORCH : NB_SHUFFLE,
                           (uint64_t)c->seed, err, sizeof err)) {
        fprintf(stderr, "nabla train: %s\n", err);
        goto done;
    }
    int tty = c->progress < 0 ? isatty(fileno(stdout)) : c->progress;
    char title[512];
    snprintf(title, sizeof title, "nabla train %s on %s", mi.spec_str, basename_of(mi.data));
    printf("training %s on %s: %lld samples (%lld features, %d classes), evaluating on %lld; "
           "%lld parameters; %s lr %g, batch %lld, %lld epochs\n",
           mi.spec_str, mi.data, (long long)n, (long long)mi.inputs, mi.classes, (long long)ev.ds.n,
           (long long)nb_model_param_elements(net.model), c->opt_name, c->ocfg.lr, (long long)B, c->epochs);
    if (resume) printf("resuming from %s after epoch %d\n", resume, start_epoch);
    fflush(stdout);

    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &sa, &old_sa);
    int64_t step = ck.step;
    int saved_epoch = resume ? start_epoch : 0;
    const int C = mi.classes;
    exit_code = NBC_EXIT_OK;
    for (int epoch = start_epoch; epoch < c->epochs && exit_code == NBC_EXIT_OK; epoch++) {
        nb_batch_epoch(&it, epoch);
        nbc_progress pg;
        nbc_progress_start(&pg, stdout, tty, epoch + 1, (int)c->epochs, nbatches, n);
        double t0 = nbc_now(), loss_sum = 0.0;
        int64_t correct = 0, seen = 0;
        for (int64_t b = 0; b < nbatches; b++) {
            train_graph *tg = b < full ? &tg_full : &tg_rem;
            const int64_t cnt = tg->rows; /* this rank's rows: all, a share, or none (mpirun) */
            const int64_t off = nbc_dist_batch(&dd, b < full ? B : rem);
            if (cnt) nbc_data_gather(&tr, it.order + b * B + off, cnt, tg->x->data, tg->y->data);
            if (b + 1 < nbatches) /* all of the next batch: this rank's share is in it */
                nbc_data_prefetch(&tr, it.order + (b + 1) * B, b + 1 < full ? B : rem);
            nb_optim_set_lr(opt, nb_schedule_get_lr(sched));
            if (cnt) nb_graph_zero_grad(tg->g);
            else nb_optim_zero_grad(opt); /* adds nothing to the average, but takes part */
            if (cnt && (nb_graph_forward(tg->g) || nb_graph_backward(tg->g))) {
                fprintf(stderr, "nabla train: step %lld: %s\n", (long long)step + 1, nb_error_message(ctx));
                exit_code = NBC_EXIT_FAIL;
                break;
            }
            /* the loss every step (a NaN gradient poisons the weights, hence
             * the next loss, before anything is saved); scanning all 235k
             * gradients each step would cost ~4% of the epoch */
            int bad = cnt && nb_check_finite(ctx, step + 1, tg->loss, NULL, 0);
            /* mpirun: average the gradients; all ranks stop together or not at all */
            bad = nbc_dist_grads(&dd, ctx, step + 1, bad, &stop_requested);
            if (bad) {
                nbc_progress_end(&pg);
                if (nbc_dist_rank0(&dd))
                    fprintf(stderr, "nabla train: stopped: %s (lr %g); the last good checkpoint is %s\n",
                            dd.on ? dd.msg : nb_error_message(ctx), nb_optim_get_lr(opt),
                            saved_epoch ? model_path : "(none: no epoch completed)");
                exit_code = NBC_EXIT_FAIL;
                break;
            }
            if (nbc_train_update(ctx, opt, sched, params, nparams, c->clip, step, c->profile ? &opt_s : NULL)) {
                exit_code = NBC_EXIT_FAIL;
                break;
            }
            step++;
            if (cnt) {
                loss_sum += (double)tg->loss->data[0] * (double)cnt;
                const float *z = tg->logits->data;
                for (int64_t r = 0; r < cnt; r++) correct += nbc_argmax(z + r * C, C) == (int)tg->y->data[r];
            }
            seen += cnt;
            nbc_progress_update(&pg, b + 1, dd.on ? b * B + (b < full ? B : rem) : seen, loss_sum / (double)seen);
            if (stop_requested || step == c->steps) break;
        }
        double secs = nbc_now() - t0;
        nbc_progress_end(&pg);
        if (exit_code != NBC_EXIT_OK) break;
        if (stop_requested) {
            if (nbc_dist_rank0(&dd))
                fprintf(stderr, "nabla train: interrupted in epoch %d; %s\n", epoch + 1,
                        saved_epoch ? "the last completed epoch's checkpoint is kept" : "no epoch was completed");
            if (saved_epoch && nbc_dist_rank0(&dd)) fprintf(stderr, "nabla train: resume with: nabla train --resume %s\n", model_path);
            exit_code = 130;
            break;
        }
        nbc_dist_epoch_sums(&dd, &loss_sum, &correct, &seen);
        /* never save weights a non-finite gradient has already spoilt */
        const char *bad_param = nbc_nonfinite_param(params, nparams);
        if (bad_param) {
            fprintf(stderr, "nabla train: stopped: non-finite weights in %s after step %lld; the last good checkpoint is %s\n",
                    bad_param, (long long)step, saved_epoch ? model_path : "(none: no epoch completed)");
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        double eloss, eacc;
        if (nbc_dist_evaluate(&dd, &evr, &ev, &eloss, &eacc)) {
            fprintf(stderr, "nabla train: evaluation: %s\n", nb_error_message(ctx));
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        nbc_metrics *row = &rows[nrows++];
        row->epoch = epoch + 1;
        row->train_loss = loss_sum / (double)seen;
        row->train_acc = (double)correct / (double)seen;
        row->eval_loss = eloss;
        row->eval_acc = eacc;
        row->seconds = secs;
        epoch_s[ntimed++] = secs;
        printf("epoch %d/%lld  train_loss %.4f  train_acc %.4f  eval_loss %.4f  eval_acc %.4f  %.2fs  %.0f samples/s\n",
               epoch + 1, c->epochs, row->train_loss, row->train_acc, eloss, eacc, secs, (double)n / secs);
        fflush(stdout);
        /* checkpoint: everything needed to resume, plus the model description */
        nbc_meta_free(&meta);
        char *mtext = nbc_metrics_format(rows, nrows);
        int mrc = !mtext || nbc_model_info_to_meta(&mi, &meta) || nbc_meta_addf(&meta, "nabla.epoch", "%d", epoch + 1) ||
                  nbc_meta_add(&meta, "nabla.metrics", mtext);
        free(mtext);
        for (int i = 0; i < NOPT && !mrc; i++) {
            if (!optdef[i].saved) continue;
            char key[64];
            snprintf(key, sizeof key, "nabla.train.%s", optdef[i].name);
            const char *v = c->val[i];
            if (i == O_DATA) v = mi.data;
            if (v) mrc = nbc_meta_add(&meta, key, v);
        }
        if (mrc) {
            fprintf(stderr, "nabla train: out of memory\n");
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        ck.step = step;
        ck.meta = (const char *const *)meta.kv;
        ck.nmeta = meta.n;
        if (nbc_dist_rank0(&dd) && nb_checkpoint_save(ctx, model_path, &ck)) {
            fprintf(stderr, "nabla train: saving the checkpoint: %s\n", nb_error_message(ctx));
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        saved_epoch = epoch + 1;
        if (nbc_dist_rank0(&dd) &&
            (nbc_write_metrics_csv(metrics_path, rows, nrows) || nbc_write_curves_svg(svg_path, rows, nrows, title))) {
            fprintf(stderr, "nabla train: writing %s: %s\n", out_dir, strerror(errno));
            exit_code = NBC_EXIT_FAIL;
            break;
        }
        nbc_dist_agree_stop(&dd, &stop_requested);
        if (stop_requested) { /* Ctrl-C during evaluation or saving: the epoch is complete */
            if (nbc_dist_rank0(&dd))
                fprintf(stderr, "nabla train: interrupted after epoch %d; resume with: nabla train --resume %s\n",
                        epoch + 1, model_path);
            exit_code = 130;
            break;
        }
    }
    sigaction(SIGINT, &old_sa, NULL);
    if (exit_code == NBC_EXIT_OK && nrows > 0) {
        printf("saved %s, %s and %s\n", model_path, metrics_path, svg_path);
        if (c->profile) nbc_print_profile(tg_full.g, opt_s, step);
        if (c->bench) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            double med = median(epoch_s, ntimed);
            printf("RESULT name=nabla_train threads=%d epochs=%lld batch=%lld epoch_s_median=%.4f samples_per_s=%.1f "
                   "test_acc=%.4f test_loss=%.4f peak_rss_mb=%.1f%s\n",
                   nb_get_threads(), c->epochs, (long long)B, med, (double)n / med, rows[nrows - 1].eval_acc,
                   rows[nrows - 1].eval_loss, (double)ru.ru_maxrss / 1024.0, nbc_dist_result(&dd));
        }
    }
done:
    exit_code = nbc_dist_end(&dd, exit_code); /* before the context goes: the gradients live in dist's buffer */
    nb_batch_iter_free(&it);
    nbc_meta_free(&meta);
    free(rows);
    free(epoch_s);
    nbc_model_info_free(&mi);
    nbc_data_free(&tr);
    nbc_data_free(&ev);
    nb_ctx_free(ctx);
    return exit_code;
}

int nbc_train_main(int argc, char **argv) {
    static const struct option options[] = {
        {"data", required_argument, NULL, O_DATA},       {"target", required_argument, NULL, O_TARGET},
        {"labels", required_argument, NULL, O_LABELS},   {"val-split", required_argument, NULL, O_VAL},
        {"limit", required_argument, NULL, O_LIMIT},     {"model", required_argument, NULL, O_MODEL},
        {"epochs", required_argument, NULL, O_EPOCHS},   {"batch", required_argument, NULL, O_BATCH},
        {"opt", required_argument, NULL, O_OPT},         {"lr", required_argument, NULL, O_LR},
        {"momentum", required_argument, NULL, O_MOM},    {"weight-decay", required_argument, NULL, O_WD},
        {"schedule", required_argument, NULL, O_SCHED},  {"warmup", required_argument, NULL, O_WARMUP},
        {"clip", required_argument, NULL, O_CLIP},       {"seed", required_argument, NULL, O_SEED},
        {"threads", required_argument, NULL, O_THREADS}, {"out", required_argument, NULL, O_OUT},
        {"resume", required_argument, NULL, O_RESUME},   {"progress", required_argument, NULL, O_PROGRESS},
        {"bench", no_argument, NULL, O_BENCH},           {"help", no_argument, NULL, 'h'},
        {"text", required_argument, NULL, O_TEXT},       {"steps", required_argument, NULL, O_STEPS},
        {"eval-every", required_argument, NULL, O_EVAL_EVERY},
        {"sync-bn", no_argument, NULL, O_SYNC_BN},       {"profile", no_argument, NULL, O_PROFILE},
        {"rng", required_argument, NULL, O_RNG},         {NULL, 0, NULL, 0},
    };
    train_cfg c;
    memset(&c, 0, sizeof c);
    int ch;
    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
        if (ch == 'h') {
            nbc_train_usage(stdout);
            return NBC_EXIT_OK;
        }
        if (ch < 0 || ch >= NOPT) return nbc_option_error(CMD, ch, argv);
        if (ch == O_BENCH) c.bench = 1;
        else if (ch == O_SYNC_BN) c.sync_bn = 1;
        else if (ch == O_PROFILE) c.profile = 1;
        else c.val[ch] = optarg;
    }
    if (optind < argc) return nbc_usage_error(CMD, "unexpected argument '%s'", argv[optind]);

    /* --resume: unspecified flags come from the checkpoint */
    nb_safetensors_info rinfo = {0};
    nb_ctx *rctx = NULL;
    char out_buf[4096];
    const char *resume = c.val[O_RESUME];
    if (resume) {
        rctx = nb_ctx_new();
        if (!rctx || nb_safetensors_read_info(rctx, resume, &rinfo)) {
            int r = nbc_usage_error(CMD, "--resume: %s", rctx ? nb_error_message(rctx) : "out of memory");
            nb_ctx_free(rctx);
            return r;
        }
        if (!nb_safetensors_info_meta(&rinfo, "nabla.model")) {
            nb_safetensors_info_free(&rinfo);
            nb_ctx_free(rctx);
            return nbc_usage_error(CMD, "--resume: %s was not written by nabla train", resume);
        }
        for (int i = 0; i < NOPT; i++) {
            char key[64];
            snprintf(key, sizeof key, "nabla.train.%s", optdef[i].name);
            if (optdef[i].saved && !c.val[i]) c.val[i] = nb_safetensors_info_meta(&rinfo, key);
        }
        if (!c.val[O_OUT]) {
            snprintf(out_buf, sizeof out_buf, "%s", resume);
            char *slash = strrchr(out_buf, '/');
            if (slash) *slash = '\0';
            else snprintf(out_buf, sizeof out_buf, ".");
            c.val[O_OUT] = out_buf;
        }
    }
    if (c.val[O_TEXT] && !c.val[O_MODEL]) c.val[O_MODEL] = "gpt"; /* --text alone: the default GPT */
    int rc = parse_cfg(&c);
    sched_spec sp;
    if (!rc) rc = parse_schedule(c.val[O_SCHED], &sp);
    if (!rc && !c.val[O_OUT]) {
        const char *d = c.val[O_DATA];
        if (c.spec.kind == NBC_MODEL_GPT) d = c.val[O_TEXT] ? c.val[O_TEXT] : NBC_TEXT_DEFAULT;
        char stem[256];
        snprintf(stem, sizeof stem, "%s", d ? basename_of(d) : "fmnist");
        char *dot = strchr(stem, '.');
        if (dot && dot != stem) *dot = '\0';
        snprintf(out_buf, sizeof out_buf, "runs/%s-%s", stem,
                 c.spec.kind == NBC_MODEL_CNN ? "cnn" : c.spec.kind == NBC_MODEL_GPT ? "gpt" : c.spec.nhidden ? "mlp" : "linear");
        c.val[O_OUT] = out_buf;
    }
    if (!rc) rc = run(&c, &sp, c.val[O_OUT], resume, &rinfo);
    nb_safetensors_info_free(&rinfo);
    nb_ctx_free(rctx);
    return rc;
}
