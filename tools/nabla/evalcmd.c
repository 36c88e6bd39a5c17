/* evalcmd.c — `nabla eval`, `nabla predict` and `nabla info`: everything they
 * need (architecture, class names, normalisation, default data) comes from
 * the model file's metadata written by `nabla train`. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "data_cli.h"
#include "model_io.h"
#include "text.h"

void nbc_eval_usage(FILE *out) {
    fprintf(out,
            "usage: nabla eval MODEL [options]\n"
            "\n"
            "Loss, accuracy and confusion matrix (with class names) of a model saved by\n"
            "`nabla train`, with the normalisation stored in it.\n"
            "\n"
            "options:\n"
            "  --data PATH     an IDX directory (its t10k-* files), a CSV file with the\n"
            "                  model's target column, or an NPY file with --labels;\n"
            "                  default: the test set of the IDX directory the model was\n"
            "                  trained on (Fashion-MNIST for the default model)\n"
            "  --labels FILE   NPY: class ids [n]\n"
            "  --limit N       only the first N samples\n"
            "  --threads N     worker threads\n"
            "  -h, --help      show this help\n");
}

void nbc_predict_usage(FILE *out) {
    fprintf(out,
            "usage: nabla predict MODEL INPUT [options]\n"
            "\n"
            "Classify every row of INPUT and write CSV: index,class,name,probability (the\n"
            "predicted class, its name and its softmax probability), one line per row.\n"
            "INPUT: a CSV file with the model's feature columns (a target column, if\n"
            "present, is ignored), an NPY file [n, ...] or an IDX images file (…-ubyte[.gz]).\n"
            "\n"
            "options:\n"
            "  --output FILE   write the CSV there instead of standard output\n"
            "  --probs         add one column per class with all probabilities\n"
            "  --threads N     worker threads\n"
            "  -h, --help      show this help\n");
}

void nbc_info_usage(FILE *out) {
    fprintf(out,
            "usage: nabla info MODEL\n"
            "\n"
            "Print a model file's architecture, training data, class names, normalisation,\n"
            "metrics, every tensor's name and shape, and the parameter count. Works on any\n"
            "safetensors file (without nabla's metadata: the tensors only).\n"
            "\n"
            "options:\n"
            "  -h, --help      show this help\n");
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Loads `path` for a model described by mi, normalised as at training time.
 * Returns 0 or -1 with err. */
static int load_for_model(const nbc_model_info *mi, const char *path, const char *labels, int want_labels, nbc_data *d,
                          char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    const char *kind = is_dir(path) ? "dir" : nbc_data_kind(path);
    int rc;
    if (!kind) {
        snprintf(err, errlen, "%s: not a directory, .csv, .npy or IDX (-ubyte) file", path);
        return -1;
    }
    if (strcmp(kind, "dir") == 0 || strcmp(kind, "idx") == 0) {
        rc = strcmp(kind, "dir") == 0 ? nbc_data_load_idx_dir(path, "t10k", mi->classes, d, err, errlen)
                                      : nbc_data_load_idx_images(path, d, err, errlen);
        if (rc) return -1;
        if (mi->norm.kind == NB_NORM_SCALE) d->ds.norm.scale = mi->norm.scale;
        else if (mi->norm.kind == NB_NORM_NONE) d->ds.norm.scale = 1.0f;
        else {
            snprintf(err, errlen, "%s: the model expects standardised features; IDX images are scaled", path);
            nbc_data_free(d);
            return -1;
        }
    } else {
        nb_data_opts o = {0};
        o.stats = &mi->norm;
        o.num_classes = mi->classes;
        if (strcmp(kind, "csv") == 0) {
            o.target = mi->target;
            o.class_names = (const char *const *)mi->class_names;
            rc = nb_dataset_load_csv(path, &o, &d->ds, err, errlen);
            if (rc && !want_labels) {
                char err2[1024];
                o.no_target = 1;
                o.target = NULL;
                if (nb_dataset_load_csv(path, &o, &d->ds, err2, sizeof err2) == 0) rc = 0;
            }
        } else {
            rc = nb_dataset_load_npy(path, labels, &o, &d->ds, err, errlen);
        }
        if (rc) return -1;
    }
    if (d->ds.features != mi->inputs) {
        snprintf(err, errlen, "%s: %lld features per sample, the model takes %lld", path, (long long)d->ds.features,
                 (long long)mi->inputs);
        nbc_data_free(d);
        return -1;
    }
    if (want_labels && !d->ds.y) {
        snprintf(err, errlen, "%s: no labels to evaluate against", path);
        nbc_data_free(d);
        return -1;
    }
    return 0;
}

/* Common start of eval and predict: the model file and its network. */
static int open_model(const char *cmd, const char *path, nb_ctx **ctx, nbc_model_info *mi, nbc_net *net) {
    char err[1024];
    *ctx = nb_ctx_new();
    if (!*ctx) return nbc_usage_error(cmd, "out of memory");
    if (nbc_model_load(*ctx, path, mi, net, err, sizeof err)) {
        nb_ctx_free(*ctx);
        *ctx = NULL;
        return nbc_usage_error(cmd, "%s", err);
    }
    return NBC_EXIT_OK;
}

int nbc_eval_main(int argc, char **argv) {
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'},    {"labels", required_argument, NULL, 'L'},
        {"limit", required_argument, NULL, 'n'},   {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *labels = NULL;
    long long limit = 0, threads = 0;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        int rc = NBC_EXIT_OK;
        switch (c) {
        case 'd': data = optarg; break;
        case 'L': labels = optarg; break;
        case 'n': rc = nbc_parse_int("eval", "--limit", optarg, 1, INT64_MAX, &limit); break;
        case 't': rc = nbc_parse_int("eval", "--threads", optarg, 1, 1024, &threads); break;
        case 'h': nbc_eval_usage(stdout); return NBC_EXIT_OK;
        default: return nbc_option_error("eval", c, argv);
        }
        if (rc) return rc;
    }
    if (optind >= argc) return nbc_usage_error("eval", "missing MODEL; try 'nabla eval --help'");
    if (optind + 1 < argc) return nbc_usage_error("eval", "unexpected argument '%s'", argv[optind + 1]);
    const char *model_path = argv[optind];
    if (threads) nb_set_threads((int)threads);
    nb_ctx *ctx;
    nbc_model_info mi;
    nbc_net net;
    int rc = open_model("eval", model_path, &ctx, &mi, &net);
    if (rc) return rc;
    if (mi.spec.kind == NBC_MODEL_GPT) { /* a language model: loss and next-character accuracy on text */
        if (labels) rc = nbc_usage_error("eval", "--labels: not for a text model");
        else rc = nbc_text_eval(ctx, model_path, &mi, &net, data, limit);
        nbc_model_info_free(&mi);
        nb_ctx_free(ctx);
        return rc;
    }
    char err[1024];
    if (!data) {
        if (mi.data_kind && strcmp(mi.data_kind, "idx") == 0 && mi.data) data = mi.data;
        else {
            nbc_model_info_free(&mi);
            nb_ctx_free(ctx);
            return nbc_usage_error("eval", "%s was not trained on an IDX directory: pass --data", model_path);
        }
    }
    nbc_data d;
    if (load_for_model(&mi, data, labels, 1, &d, err, sizeof err)) {
        nbc_model_info_free(&mi);
        nb_ctx_free(ctx);
        return nbc_usage_error("eval", "%s", err);
    }
    nbc_data_limit(&d, limit);
    const int C = mi.classes;
    int64_t *conf = calloc((size_t)C * (size_t)C, sizeof *conf);
    nbc_evaluator ev;
    double loss = NAN, acc = NAN;
    rc = NBC_EXIT_FAIL;
    if (!conf) fprintf(stderr, "nabla eval: out of memory\n");
    else if (nbc_evaluator_init(&ev, &net, d.ds.n < 1000 ? d.ds.n : 1000) ||
             nbc_evaluate(&ev, &d, &loss, &acc, conf, NULL, NULL))
        fprintf(stderr, "nabla eval: %s\n", nb_error_message(ctx));
    else {
        rc = NBC_EXIT_OK;
        printf("model     %s (%s, epoch %d)\n", model_path, mi.spec_str, mi.epoch);
        printf("data      %s (%lld samples)\n", data, (long long)d.ds.n);
        printf("loss      %.4f\n", loss);
        printf("accuracy  %.4f (%.2f%%)\n\n", acc, 100.0 * acc);
        int w = 4;
        for (int i = 0; i < C; i++)
            if ((int)strlen(mi.class_names[i]) > w) w = (int)strlen(mi.class_names[i]);
        if (w > 24) w = 24;
        printf("confusion matrix (rows: true class, columns: predicted class)\n");
        printf("%*s", w + 5, "");
        for (int j = 0; j < C; j++) printf(" %5d", j);
        printf("  recall\n");
        for (int i = 0; i < C; i++) {
            int64_t row = 0;
            for (int j = 0; j < C; j++) row += conf[(int64_t)i * C + j];
            printf("%3d %-*.*s ", i, w, w, mi.class_names[i]);
            for (int j = 0; j < C; j++) printf(" %5lld", (long long)conf[(int64_t)i * C + j]);
            printf("  %.3f\n", row ? (double)conf[(int64_t)i * C + i] / (double)row : 0.0);
        }
    }
    free(conf);
    nbc_data_free(&d);
    nbc_model_info_free(&mi);
    nb_ctx_free(ctx);
    return rc;
}

typedef struct predict_out {
    FILE *f;
    char **names;
    int all;
} predict_out;

static void write_row(void *arg, int64_t index, const double *p, int C) {
    predict_out *o = arg;
    int best = 0;
    for (int j = 1; j < C; j++)
        if (p[j] > p[best]) best = j;
    fprintf(o->f, "%lld,%d,", (long long)index, best);
    /* names may hold commas or quotes: quote them the RFC 4180 way */
    const char *n = o->names[best];
    if (strpbrk(n, ",\"\n\r")) {
        fputc('"', o->f);
        for (; *n; n++) {
            if (*n == '"') fputc('"', o->f);
            fputc(*n, o->f);
        }
        fputc('"', o->f);
    } else {
        fputs(n, o->f);
    }
    fprintf(o->f, ",%.6f", p[best]);
    if (o->all)
        for (int j = 0; j < C; j++) fprintf(o->f, ",%.6f", p[j]);
    fputc('\n', o->f);
}

int nbc_predict_main(int argc, char **argv) {
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'}, {"probs", no_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    long long threads = 0;
    int all = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        int rc = NBC_EXIT_OK;
        switch (c) {
        case 'o': output = optarg; break;
        case 'p': all = 1; break;
        case 't': rc = nbc_parse_int("predict", "--threads", optarg, 1, 1024, &threads); break;
        case 'h': nbc_predict_usage(stdout); return NBC_EXIT_OK;
        default: return nbc_option_error("predict", c, argv);
        }
        if (rc) return rc;
    }
    if (argc - optind < 2) return nbc_usage_error("predict", "expected MODEL INPUT; try 'nabla predict --help'");
    if (argc - optind > 2) return nbc_usage_error("predict", "unexpected argument '%s'", argv[optind + 2]);
    if (threads) nb_set_threads((int)threads);
    nb_ctx *ctx;
    nbc_model_info mi;
    nbc_net net;
    int rc = open_model("predict", argv[optind], &ctx, &mi, &net);
    if (rc) return rc;
    if (mi.spec.kind == NBC_MODEL_GPT) {
        nbc_model_info_free(&mi);
        nb_ctx_free(ctx);
        return nbc_usage_error("predict", "%s is a text model: predict is for classifiers; use nabla generate", argv[optind]);
    }
    char err[1024];
    nbc_data d;
    if (load_for_model(&mi, argv[optind + 1], NULL, 0, &d, err, sizeof err)) {
        nbc_model_info_free(&mi);
        nb_ctx_free(ctx);
        return nbc_usage_error("predict", "%s", err);
    }
    predict_out po = {stdout, mi.class_names, all};
    char tmp[4096];
    if (output) {
        snprintf(tmp, sizeof tmp, "%s.tmp", output);
        po.f = fopen(tmp, "w");
    }
    nbc_evaluator ev;
    rc = NBC_EXIT_FAIL;
    if (!po.f) {
        rc = nbc_usage_error("predict", "--output: cannot write %s", output);
    } else {
        fprintf(po.f, "index,class,name,probability");
        for (int j = 0; all && j < mi.classes; j++) fprintf(po.f, ",p%d", j);
        fputc('\n', po.f);
        if (nbc_evaluator_init(&ev, &net, d.ds.n < 1000 ? d.ds.n : 1000) ||
            nbc_evaluate(&ev, &d, NULL, NULL, NULL, write_row, &po))
            fprintf(stderr, "nabla predict: %s\n", nb_error_message(ctx));
        else
            rc = NBC_EXIT_OK;
        if (output) {
            if (fclose(po.f) != 0 && rc == NBC_EXIT_OK) {
                fprintf(stderr, "nabla predict: writing %s failed\n", output);
                rc = NBC_EXIT_FAIL;
            }
            if (rc == NBC_EXIT_OK && rename(tmp, output) != 0) {
                fprintf(stderr, "nabla predict: cannot rename %s to %s\n", tmp, output);
                rc = NBC_EXIT_FAIL;
            }
            if (rc != NBC_EXIT_OK) remove(tmp);
        } else if (fflush(stdout) != 0) {
            rc = NBC_EXIT_FAIL;
        }
    }
    nbc_data_free(&d);
    nbc_model_info_free(&mi);
    nb_ctx_free(ctx);
    return rc;
}

int nbc_info_main(int argc, char **argv) {
    static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 'h') {
            nbc_info_usage(stdout);
            return NBC_EXIT_OK;
        }
        return nbc_option_error("info", c, argv);
    }
    if (optind >= argc) return nbc_usage_error("info", "missing MODEL; try 'nabla info --help'");
    if (optind + 1 < argc) return nbc_usage_error("info", "unexpected argument '%s'", argv[optind + 1]);
    const char *path = argv[optind];
    nb_ctx *ctx = nb_ctx_new();
    if (!ctx) return nbc_usage_error("info", "out of memory");
    nb_safetensors_info st;
    if (nb_safetensors_read_info(ctx, path, &st)) {
        int rc = nbc_usage_error("info", "%s", nb_error_message(ctx));
        nb_ctx_free(ctx);
        return rc;
    }
    nbc_model_info mi;
    char err[1024];
    int have = nb_safetensors_info_meta(&st, "nabla.model") != NULL;
    if (have && nbc_model_info_from_meta(&st, path, &mi, err, sizeof err)) {
        nb_safetensors_info_free(&st);
        nb_ctx_free(ctx);
        return nbc_usage_error("info", "%s", err);
    }
    printf("file        %s\n", path);
    if (have) {
        printf("model       %s\n", mi.spec_str);
        printf("input       [");
        for (int i = 0; i < mi.feat_ndim; i++) printf("%s%lld", i ? "," : "", (long long)mi.feat_shape[i]);
        printf("] = %lld features\n", (long long)mi.inputs);
        printf("classes     %d:", mi.classes);
        for (int i = 0; i < mi.classes && i < 50; i++) printf(" %d=%s%s", i, mi.class_names[i], i + 1 < mi.classes ? "," : "");
        printf("%s\n", mi.classes > 50 ? " ..." : "");
        printf("normalise   %s", mi.norm.kind == NB_NORM_SCALE ? "x * scale" : mi.norm.kind == NB_NORM_STANDARD ? "(x - mean) / std per feature" : "none");
        if (mi.norm.kind == NB_NORM_SCALE) printf(", scale %.9g", (double)mi.norm.scale);
        printf("\n");
        if (mi.data) printf("trained on  %s (%s%s%s)\n", mi.data, mi.data_kind ? mi.data_kind : "?",
                            mi.target ? ", target " : "", mi.target ? mi.target : "");
        printf("epochs      %d\n", mi.epoch);
        const char *o = nb_safetensors_info_meta(&st, "optim.kind");
        const char *steps = nb_safetensors_info_meta(&st, "step");
        if (o) printf("optimizer   %s, %s steps\n", o, steps ? steps : "?");
        nbc_net net;
        nb_ctx *bctx = nb_ctx_new();
        if (bctx && nbc_net_build(bctx, &mi.spec, mi.inputs, mi.classes, &net) == NB_OK) {
            printf("layers\n");
            nbc_net_describe(&net, stdout);
        }
        nb_ctx_free(bctx);
        const char *m = nb_safetensors_info_meta(&st, "nabla.metrics");
        if (m && *m) printf("metrics     " "epoch,train_loss,train_accuracy,eval_loss,eval_accuracy,seconds\n%s", m);
    }
    printf("tensors\n");
    int64_t params = 0, other = 0;
    for (int i = 0; i < st.ntensors; i++) {
        const nb_safetensors_tensor_info *t = &st.tensors[i];
        int opt = strncmp(t->name, "optim.", 6) == 0;
        if (opt) {
            other += t->numel;
            continue;
        }
        params += t->numel;
        printf("  %-24s %-4s [", t->name, t->dtype);
        for (int k = 0; k < t->ndim; k++) printf("%s%lld", k ? "," : "", (long long)t->shape[k]);
        printf("] %lld\n", (long long)t->numel);
    }
    printf("parameters  %lld", (long long)params);
    if (other) printf(" (+ %lld optimizer state values)", (long long)other);
    printf("\n");
    if (have) nbc_model_info_free(&mi);
    nb_safetensors_info_free(&st);
    nb_ctx_free(ctx);
    return NBC_EXIT_OK;
}
