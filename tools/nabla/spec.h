/* spec.h — the model spec strings of `nabla train --model` ("mlp:256,128,act=tanh")
 * and the option lists of --schedule: one small grammar shared by every model
 * kind, parsed into a typed spec, printed back canonically and built into a model. */
#ifndef NABLA_CLI_SPEC_H
#define NABLA_CLI_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "nabla.h"

/* Grammar:   SPEC := KIND [ ':' ITEM { ',' ITEM } ]     ITEM := VALUE | KEY '=' VALUE
 * KIND and KEY are [a-z0-9_]+; VALUE is any text without ',' or '='. Items
 * without a key are positional (an MLP's hidden widths). */
#define NBC_KV_MAX 32
#define NBC_KV_LEN 64
typedef struct nbc_kv {
    char key[NBC_KV_LEN];   /* "" for a positional item */
    char value[NBC_KV_LEN];
} nbc_kv;
typedef struct nbc_kvlist {
    char kind[NBC_KV_LEN];
    int n;
    nbc_kv item[NBC_KV_MAX];
} nbc_kvlist;

/* Returns 0, or -1 with one line in err (no "nabla:" prefix), e.g.
 * "'mlp:256,,128': empty item 2". */
int nbc_kvlist_parse(const char *s, nbc_kvlist *out, char *err, size_t errlen);

/* Model kinds. A new kind (cnn, gpt) adds an enum value, a parse branch, a
 * format branch and a build branch in spec.c; the CLI, the checkpoint
 * metadata ("nabla.model" holds the canonical spec) and eval/predict/info
 * need nothing else. */
typedef enum nbc_model_kind { NBC_MODEL_MLP = 1, NBC_MODEL_CNN = 2, NBC_MODEL_GPT = 3 } nbc_model_kind;

#define NBC_MLP_MAX_HIDDEN 16
typedef struct nbc_model_spec {
    nbc_model_kind kind;
    /* mlp */
    int nhidden;
    int64_t hidden[NBC_MLP_MAX_HIDDEN];
    nb_activation act;
    float dropout; /* mlp and gpt */
    /* gpt (vocabulary from the data): "gpt:layers=4,heads=4,width=128,context=64,dropout=0" */
    int layers, heads;
    int64_t width, context;
    /* cnn: "cnn:conv32,max2,conv64,max2,fc128,act=relu,shape=1x28x28" (cnn.h) */
    nbc_cnn_spec cnn;
} nbc_model_spec;

/* The default classifier: mlp:256,128,act=relu,dropout=0. */
#define NBC_DEFAULT_MODEL "mlp"

int nbc_model_spec_parse(const char *s, nbc_model_spec *spec, char *err, size_t errlen);
/* The canonical form, with every option spelt out: parse(format(s)) == s. */
void nbc_model_spec_format(const nbc_model_spec *spec, char *buf, size_t len);
/* Completes a spec with the data's per-sample shape before building (a cnn
 * takes its image shape from it; other kinds need nothing). -1 with one line
 * in err when the model cannot take such samples. */
int nbc_model_spec_set_input(nbc_model_spec *spec, int feat_ndim, const int64_t *feat_shape, int64_t features,
                             char *err, size_t errlen);

/* A model built from a spec for `inputs` features and `classes` outputs. Its
 * forward maps x [batch, inputs] to logits [batch, classes]. */
typedef struct nbc_net {
    nbc_model_spec spec;
    nb_model *model;
    nb_module *body;
    nb_gpt *gpt; /* gpt: body = &gpt->base, ids [B,T] -> logits [B,T,vocab] */
    int64_t inputs;
    int classes;
} nbc_net;

/* Builds (and initialises from nb_ctx_rng(ctx), in creation order) the
 * model; returns NB_OK or the context's error. */
int nbc_net_build(nb_ctx *ctx, const nbc_model_spec *spec, int64_t inputs, int classes,
                  nbc_net *net);
nb_tensor *nbc_net_forward(nbc_net *net, nb_tensor *x);
/* One line per layer, e.g. "fc1  linear 784 -> 256"; for `nabla info`. */
void nbc_net_describe(const nbc_net *net, FILE *out);

#endif
