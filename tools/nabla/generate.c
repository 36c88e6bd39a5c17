/* generate.c — `nabla generate`: samples text from a character GPT saved by
 * `nabla train --text`, one token at a time through an inference graph over
 * the last `context` characters (temperature, top-k, seeded generator). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model_io.h"
#include "text.h"

#define CMD "generate"

void nbc_generate_usage(FILE *out) {
    fprintf(out,
            "usage: nabla generate MODEL [options]\n"
            "\n"
            "Sample text from a character-level GPT trained with `nabla train --text`: the\n"
            "prompt, then --tokens sampled characters, on standard output. The model sees\n"
            "the last `context` characters (its spec's context=).\n"
            "\n"
            "options:\n"
            "  --prompt TEXT       the start (default: a newline); every character must be in\n"
            "                      the model's vocabulary (the bytes of its training text)\n"
            "  --tokens N          characters to generate (default 200)\n"
            "  --temperature T     divide the logits by T (default 1; 0 = always the most\n"
            "                      likely character)\n"
            "  --top-k K           sample among the K most likely characters only (default 0:\n"
            "                      all)\n"
            "  --seed N            the sampling generator's seed (default 0): the same seed,\n"
            "                      model and options give the same text\n"
            "  --threads N         worker threads\n"
            "  -h, --help          show this help\n");
}

/* Draws a token from logits z [V] at temperature temp (> 0) among the top k
 * (k <= 0: all). */
static int sample(const float *z, int V, double temp, int k, nb_rng *rng, double *w) {
    double thresh = -INFINITY;
    if (k > 0 && k < V) {
        /* the k-th largest logit: ties at it are all kept */
        for (int j = 0; j < V; j++) w[j] = z[j];
        for (int i = 0; i < k; i++) {
            int best = i;
            for (int j = i + 1; j < V; j++)
                if (w[j] > w[best]) best = j;
            double t = w[i];
            w[i] = w[best];
            w[best] = t;
        }
        thresh = w[k - 1];
    }
    double m = -INFINITY;
    for (int j = 0; j < V; j++)
        if (z[j] >= thresh && z[j] > m) m = z[j];
    double s = 0.0;
    for (int j = 0; j < V; j++) {
        w[j] = z[j] >= thresh ? exp(((double)z[j] - m) / temp) : 0.0;
        s += w[j];
    }
    double u = (double)nb_rng_uniform(rng) * s, acc = 0.0;
    int last = 0;
    for (int j = 0; j < V; j++) {
        if (w[j] <= 0.0) continue;
        last = j;
        acc += w[j];
        if (u < acc) return j;
    }
    return last;
}

int nbc_generate_main(int argc, char **argv) {
    static const struct option options[] = {
        {"prompt", required_argument, NULL, 'p'},  {"tokens", required_argument, NULL, 'n'},
        {"temperature", required_argument, NULL, 'T'}, {"top-k", required_argument, NULL, 'k'},
        {"seed", required_argument, NULL, 's'},    {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *prompt = "\n";
    long long tokens = 200, topk = 0, seed = 0, threads = 0;
    double temp = 1.0;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        int rc = NBC_EXIT_OK;
        switch (c) {
        case 'p': prompt = optarg; break;
        case 'n': rc = nbc_parse_int(CMD, "--tokens", optarg, 0, 1LL << 30, &tokens); break;
        case 'T': rc = nbc_parse_double(CMD, "--temperature", optarg, 0.0, 1e6, &temp); break;
        case 'k': rc = nbc_parse_int(CMD, "--top-k", optarg, 0, 1 << 20, &topk); break;
        case 's': rc = nbc_parse_int(CMD, "--seed", optarg, 0, INT64_MAX, &seed); break;
        case 't': rc = nbc_parse_int(CMD, "--threads", optarg, 1, 1024, &threads); break;
        case 'h': nbc_generate_usage(stdout); return NBC_EXIT_OK;
        default: return nbc_option_error(CMD, c, argv);
        }
        if (rc) return rc;
    }
    if (optind >= argc) return nbc_usage_error(CMD, "missing MODEL; try 'nabla generate --help'");
    if (optind + 1 < argc) return nbc_usage_error(CMD, "unexpected argument '%s'", argv[optind + 1]);
    if (!*prompt) return nbc_usage_error(CMD, "--prompt: empty; give at least one character");
    const char *path = argv[optind];
    char err[1024];
    nbc_vocab v;
    if (nbc_vocab_from_meta(path, &v, err, sizeof err)) return nbc_usage_error(CMD, "%s", err);
    size_t plen = strlen(prompt);
    for (size_t i = 0; i < plen; i++) {
        uint8_t b = (uint8_t)prompt[i];
        if (v.id[b] < 0) {
            char name[16];
            nbc_vocab_name(b, name, sizeof name);
            return nbc_usage_error(CMD, "--prompt: character %zu ('%s', byte 0x%02x) is not in the model's vocabulary", i + 1,
                                   name, (unsigned)b);
        }
    }
    if (threads) nb_set_threads((int)threads);
    nb_ctx *ctx = nb_ctx_new();
    if (!ctx) return nbc_usage_error(CMD, "out of memory");
    nbc_model_info mi;
    nbc_net net;
    if (nbc_model_load(ctx, path, &mi, &net, err, sizeof err)) {
        nb_ctx_free(ctx);
        return nbc_usage_error(CMD, "%s", err);
    }
    int rc = NBC_EXIT_FAIL;
    const int64_t T = mi.spec.context;
    const int V = mi.classes;
    int32_t *seq = malloc((plen + (size_t)tokens) * sizeof *seq);
    double *w = malloc((size_t)V * sizeof *w);
    if (mi.spec.kind != NBC_MODEL_GPT || V != v.n) {
        rc = nbc_usage_error(CMD, "%s is not a text model (%s)", path, mi.spec_str);
        goto done;
    }
    if (!seq || !w) {
        fprintf(stderr, "nabla generate: out of memory\n");
        goto done;
    }
    nb_set_grad_enabled(ctx, 0);
    nb_set_training(ctx, 0);
    /* one graph of the full context: causal attention makes the logits at
     * position L-1 independent of the padding after it */
    nb_tensor *x = nb_tensor_2d(ctx, 1, T);
    nb_tensor *logits = x ? nbc_net_forward(&net, x) : NULL;
    nb_graph *g = logits ? nb_graph_new(ctx, logits) : NULL;
    if (!g) {
        fprintf(stderr, "nabla generate: %s\n", nb_error_message(ctx));
        goto done;
    }
    nb_rng rng;
    nb_rng_seed(&rng, (uint64_t)seed);
    size_t n = 0;
    for (size_t i = 0; i < plen; i++) seq[n++] = v.id[(uint8_t)prompt[i]];
    fwrite(prompt, 1, plen, stdout);
    for (long long i = 0; i < tokens; i++) {
        int64_t L = (int64_t)n < T ? (int64_t)n : T;
        for (int64_t t = 0; t < T; t++) x->data[t] = t < L ? (float)seq[n - (size_t)L + (size_t)t] : 0.0f;
        if (nb_graph_forward(g)) {
            fputc('\n', stdout);
            fprintf(stderr, "nabla generate: %s\n", nb_error_message(ctx));
            goto done;
        }
        const float *z = logits->data + (L - 1) * V;
        int tok = temp <= 0.0 ? nbc_argmax(z, V) : sample(z, V, temp, (int)topk, &rng, w);
        seq[n++] = tok;
        fputc(v.byte[tok], stdout);
    }
    fputc('\n', stdout);
    rc = fflush(stdout) == 0 ? NBC_EXIT_OK : NBC_EXIT_FAIL;
done:
    free(seq);
    free(w);
    nbc_model_info_free(&mi);
    nb_ctx_free(ctx);
    return rc;
}
