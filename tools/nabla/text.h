/* text.h — the character-level language model side of the `nabla` CLI: the
 * "gpt:" model spec, the text corpus (byte vocabulary, training/validation
 * split, context windows), `nabla train --text` and evaluation of a GPT. */
#ifndef NABLA_CLI_TEXT_H
#define NABLA_CLI_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model_io.h"
#include "spec.h"
#include "trainer.h"

/* The corpus when a GPT is trained without --text. */
#define NBC_TEXT_DEFAULT "/usr/share/common-licenses/GPL-3"

/* ---- "gpt:" specs (hooks of spec.c) ---------------------------------------------- */
/* Keys layers, heads, width, context, dropout (defaults 4, 4, 128, 64, 0);
 * heads must divide width. 0, or -1 with one line in err. */
int nbc_gpt_spec_parse(const char *s, const nbc_kvlist *kv, nbc_model_spec *spec, char *err, size_t errlen);
void nbc_gpt_spec_format(const nbc_model_spec *spec, char *buf, size_t len);
/* net->model exists; builds the GPT for `vocab` tokens. */
int nbc_gpt_net_build(nb_ctx *ctx, nbc_net *net, int64_t vocab);
void nbc_gpt_net_describe(const nbc_net *net, FILE *out);

/* ---- the corpus ------------------------------------------------------------------- */
/* The vocabulary is the set of distinct BYTES of the file, sorted (for an
 * ASCII file such as GPL-3 these are its characters, the vocabulary of
 * chargpt.py; a UTF-8 character outside ASCII becomes 2-4 tokens). */
typedef struct nbc_vocab {
    int n;              /* tokens */
    uint8_t byte[256];  /* token -> byte */
    int16_t id[256];    /* byte -> token, -1 when absent */
} nbc_vocab;

/* The vocabulary as lowercase hex, two digits per token in token order
 * ("0a20...": checkpoint metadata "nabla.vocab"), and back (-1 when malformed:
 * odd length, non-hex, repeated or unsorted bytes). buf holds >= 513 bytes. */
void nbc_vocab_to_hex(const nbc_vocab *v, char *buf);
int nbc_vocab_from_hex(const char *hex, nbc_vocab *v);
/* A readable name for a token's byte: "a", "space", "\n", "\x7f". */
void nbc_vocab_name(uint8_t byte, char *buf, size_t len);

/* A text split into the first (1 - val) of its tokens for training and the
 * tail for validation (chargpt.py: 90/10). A span's windows start at
 * multiples of `context`: window w is inputs ids[w·ctx .. w·ctx+ctx) and
 * targets shifted by one, so (len - 1) / ctx non-overlapping windows. An
 * epoch visits the training part's windows in a shuffled order, the grid
 * shifted by a per-epoch phase (nbc_text_phase); validation uses the tail's
 * windows at phase 0. */
typedef struct nbc_corpus {
    nbc_vocab vocab;
    int32_t *ids;        /* every token of the file */
    int64_t n, ntrain;   /* ids [0, ntrain) train, [ntrain, n) validation */
} nbc_corpus;

/* Reads path (only its first `limit` bytes when limit > 0), builds its
 * vocabulary (vocab_hex != NULL: use that vocabulary instead; a byte outside
 * it is an error) and splits off the tail (val = 0: no validation part). 0, or -1
 * with one line in err (unreadable, empty, too short for one window each). */
int nbc_corpus_load(const char *path, const char *vocab_hex, int64_t limit, double val, int64_t context,
                    nbc_corpus *c, char *err, size_t errlen);
void nbc_corpus_free(nbc_corpus *c);
/* Windows of `context` tokens (with a next token for the last target) in
 * ids[start, start+len): (len - 1) / context. */
int64_t nbc_corpus_windows(int64_t len, int64_t context);
/* Training epoch e reads the windows at phase + w·context, with the phase in
 * [0, maxphase) drawn from (seed, e) (0 when maxphase <= 1), so epochs see the
 * text cut at different places; maxphase = min(context, ntrain - context). */
int64_t nbc_text_phase(uint64_t seed, int64_t epoch, int64_t maxphase);
/* Window w of the span at `start` into x and y (context floats each). */
void nbc_corpus_window(const nbc_corpus *c, int64_t start, int64_t w, int64_t context, float *x, float *y);

/* ---- training --------------------------------------------------------------------- */

/* Everything `nabla train` parsed for a text run. */
typedef struct nbc_text_job {
    const char *text;             /* corpus file (NBC_TEXT_DEFAULT when none was given) */
    nbc_model_spec spec;
    nb_optim_config ocfg;
    const char *opt_name;
    long long epochs, steps, eval_every, batch, warmup, seed, limit;
    double val_split, clip;
    int progress, bench, profile;
    const char *out_dir, *resume;
    const nb_safetensors_info *resume_info;
    const struct sched_spec *sched;
    nbc_sched_builder build_schedule;
    const nbc_meta *flags;        /* "nabla.train.<flag>" entries saved with each checkpoint */
} nbc_text_job;

/* Trains, checkpoints, writes metrics.csv and curves.svg; returns an exit code. */
int nbc_text_train(const nbc_text_job *job);

/* `nabla eval` of a GPT checkpoint: mean cross-entropy and next-character
 * accuracy over the windows of `text` (NULL: the validation tail of the
 * training text recorded in the checkpoint). Prints the report; exit code. */
int nbc_text_eval(nb_ctx *ctx, const char *model_path, const nbc_model_info *mi, nbc_net *net, const char *text,
                  long long limit);

/* Next-token loss and accuracy of the model over `count` windows of `span`
 * (inference graph of `rows` windows at a time built once by the caller). */
typedef struct nbc_text_evaluator {
    nbc_net *net;
    nb_tensor *x, *y, *logits;
    nb_graph *g;
    int64_t rows, context;
} nbc_text_evaluator;
int nbc_text_evaluator_init(nbc_text_evaluator *ev, nbc_net *net, int64_t rows);
int nbc_text_evaluate(nbc_text_evaluator *ev, const nbc_corpus *c, int64_t start, int64_t len, double *loss,
                      double *acc);

/* The vocabulary stored in a checkpoint (nabla.vocab); -1 with err. */
int nbc_vocab_from_meta(const char *path, nbc_vocab *v, char *err, size_t errlen);

#endif
