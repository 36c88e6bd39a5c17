/* model_io.h — what `nabla train` stores beside the weights so that eval,
 * predict and info need no flags (model spec, input shape, class names,
 * normalisation, data source, epoch, metrics), and the evaluation pass they
 * all share (an inference graph over large batches). */
#ifndef NABLA_CLI_MODEL_IO_H
#define NABLA_CLI_MODEL_IO_H

#include "data_cli.h"
#include "nabla.h"
#include "spec.h"

/* Metadata keys (all strings in the safetensors header):
 *   nabla.model        canonical model spec, e.g. "mlp:256,128,act=relu,dropout=0"
 *   nabla.input_shape  feature shape per sample, "28,28" or "4"
 *   nabla.classes      class count; nabla.class.<i> its names
 *   nabla.norm         "none" | "scale" | "standard"; nabla.norm.scale,
 *                      nabla.norm.mean and nabla.norm.std (comma lists, %.9g)
 *   nabla.data         the training data (IDX directory or file); nabla.data.kind
 *                      "idx" | "csv" | "npy"; nabla.target (CSV target column)
 *   nabla.epoch        completed epochs; nabla.metrics one CSV row per epoch
 *   nabla.train.<flag> the training flags, reused by --resume */
typedef struct nbc_model_info {
    nbc_model_spec spec;
    char spec_str[256];
    int feat_ndim;
    int64_t feat_shape[NB_DATA_MAX_DIMS];
    int64_t inputs;
    int classes;
    char **class_names;   /* classes strings, owned */
    nb_norm norm;         /* owned */
    char *data, *data_kind, *target; /* owned or NULL */
    int epoch;
} nbc_model_info;

/* A growable list of owned key/value strings. */
typedef struct nbc_meta {
    char **kv;
    int n, cap;
} nbc_meta;
int nbc_meta_add(nbc_meta *m, const char *key, const char *value);
int nbc_meta_addf(nbc_meta *m, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void nbc_meta_free(nbc_meta *m);

int nbc_model_info_to_meta(const nbc_model_info *mi, nbc_meta *m);
/* Fills mi from a file's metadata; -1 with one line in err when something is
 * missing or malformed. */
int nbc_model_info_from_meta(const nb_safetensors_info *st, const char *path, nbc_model_info *mi, char *err,
                             size_t errlen);
void nbc_model_info_free(nbc_model_info *mi);

/* Reads path's metadata, builds the model in ctx and loads its weights
 * (optimizer state in the file is ignored). 0, or -1 with err. */
int nbc_model_load(nb_ctx *ctx, const char *path, nbc_model_info *mi, nbc_net *net, char *err, size_t errlen);

/* Inference graph over `rows` samples at a time (built with gradients
 * disabled; evaluation mode is switched on around each forward). */
typedef struct nbc_evaluator {
    nbc_net *net;
    nb_tensor *x, *logits;
    nb_graph *g;
    int64_t rows;
} nbc_evaluator;
int nbc_evaluator_init(nbc_evaluator *ev, nbc_net *net, int64_t rows);

/* Called per sample with its class probabilities (softmax of the logits). */
typedef void (*nbc_row_fn)(void *arg, int64_t index, const double *probs, int classes);

/* Runs d (in file order) through the model: mean cross-entropy and accuracy
 * (when d has labels; else NaN), a classes×classes confusion matrix
 * [true][predicted] when confusion != NULL, and per-row probabilities via fn. */
int nbc_evaluate(nbc_evaluator *ev, const nbc_data *d, double *loss, double *acc, int64_t *confusion,
                 nbc_row_fn fn, void *arg);

/* Argmax of n floats (first maximum; NaN never wins). */
int nbc_argmax(const float *v, int n);

#endif
