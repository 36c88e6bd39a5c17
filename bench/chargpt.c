/* bench/chargpt.c — milliseconds per training step (forward, backward, AdamW)
 * of the character GPT of ../shared/bench/torch/chargpt.py: 4 layers, width
 * 128, 4 heads, context 64, batch 32, AdamW lr 3e-4, vocabulary = the bytes of
 * the text. Step = forward, zero_grad, backward, AdamW step, timed as
 * chargpt.py times it (median over the steps after 5 warm-up steps); the
 * process CPU time per step is printed too (steadier on a shared machine).
 * Usage: chargpt [threads] [timed steps] [text file]. Run beside
 *   /usr/bin/python3 chargpt.py --threads 1 --blas-core auto --omp-passive */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "nabla.h"

enum { CTX = 64, BATCH = 32, LAYERS = 4, HEADS = 4, WIDTH = 128, WARMUP = 5 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The text as token ids (its distinct bytes, sorted); falls back to random
 * ids over 76 symbols (GPL-3's count) when the file cannot be read — the
 * timing does not depend on the data. */
static int load_text(const char *path, int **ids, long *n) {
    FILE *f = fopen(path, "rb");
    int map[256], vocab = 0;
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        unsigned char *buf = len > CTX + 1 ? malloc((size_t)len) : NULL;
        rewind(f);
        if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len) {
            int seen[256] = {0};
            for (long i = 0; i < len; i++) seen[buf[i]] = 1;
            for (int c = 0; c < 256; c++) map[c] = seen[c] ? vocab++ : -1;
            *ids = malloc((size_t)len * sizeof **ids);
            for (long i = 0; *ids && i < len; i++) (*ids)[i] = map[buf[i]];
            *n = len;
            free(buf);
            fclose(f);
            return *ids ? vocab : -1;
        }
        free(buf);
    }
    if (f) fclose(f);
    fprintf(stderr, "chargpt: cannot read %s; using random ids\n", path);
    *n = 100000;
    *ids = malloc((size_t)*n * sizeof **ids);
    uint32_t s = 1;
    for (long i = 0; *ids && i < *n; i++) {
        s = s * 1664525u + 1013904223u;
        (*ids)[i] = (int)((s >> 8) % 76);
    }
    return *ids ? 76 : -1;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    const int timed = argc > 2 ? atoi(argv[2]) : 50;
    const char *path = argc > 3 ? argv[3] : "/usr/share/common-licenses/GPL-3";
    if (threads < 1 || timed < 1) {
        fprintf(stderr, "usage: chargpt [threads >= 1] [timed steps >= 1] [text file]\n");
        return 2;
    }
    nb_set_threads(threads);
    int *text = NULL;
    long ntext = 0;
    int vocab = load_text(path, &text, &ntext);
    if (vocab < 1) return 1;
    long ntrain = (long)(0.9 * (double)ntext);

    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_gpt_config cfg = {.vocab = vocab, .context = CTX, .layers = LAYERS, .heads = HEADS, .width = WIDTH};
    nb_gpt *gpt = nb_gpt_new(m, NULL, &cfg);
    nb_tensor *x = nb_tensor_2d(ctx, BATCH, CTX), *y = nb_tensor_2d(ctx, BATCH, CTX);
    nb_tensor *loss = nb_gpt_loss(ctx, nb_gpt_forward(gpt, x), y);
    nb_graph *g = nb_graph_new(ctx, loss);
    nb_optim_config oc = nb_optim_defaults(NB_OPTIM_ADAMW);
    oc.lr = 3e-4;
    nb_optim *opt = nb_optim_new(nb_model_params(m), nb_model_num_params(m), &oc);
    if (nb_error(ctx)) {
        fprintf(stderr, "chargpt: %s\n", nb_error_message(ctx));
        return 1;
    }

    int total = WARMUP + timed;
    double *step_ms = calloc((size_t)total, sizeof(double)), *fwd = calloc((size_t)total, sizeof(double));
    double *bwd = calloc((size_t)total, sizeof(double)), *upd = calloc((size_t)total, sizeof(double));
    if (!step_ms || !fwd || !bwd || !upd) return 1;
    uint32_t s = 12345;
    float first = 0.0f;
    double cpu0 = 0.0, wall0 = 0.0;
    for (int step = 0; step < total; step++) {
        for (int b = 0; b < BATCH; b++) {
            s = s * 1664525u + 1013904223u;
            long off = (long)(s % (uint32_t)(ntrain - CTX - 1));
            for (int t = 0; t < CTX; t++) {
                x->data[b * CTX + t] = (float)text[off + t];
                y->data[b * CTX + t] = (float)text[off + t + 1];
            }
        }
        if (step == WARMUP) {
            cpu0 = cpu_now();
            wall0 = now();
        }
        double t0 = now();
        int rc = nb_graph_forward(g);
        double t1 = now();
        /* parameters only: backward clears the intermediate gradients itself */
        nb_optim_zero_grad(opt);
        if (rc == NB_OK) rc = nb_graph_backward(g);
        double t2 = now();
        if (rc == NB_OK) rc = nb_optim_step(opt);
        double t3 = now();
        if (rc != NB_OK) {
            fprintf(stderr, "chargpt: step %d: %s\n", step, nb_error_message(ctx));
            return 1;
        }
        if (step == 0) first = loss->data[0];
        step_ms[step] = (t3 - t0) * 1e3;
        fwd[step] = (t1 - t0) * 1e3;
        bwd[step] = (t2 - t1) * 1e3;
        upd[step] = (t3 - t2) * 1e3;
    }
    double cpu_ms = (cpu_now() - cpu0) / timed * 1e3, wall_ms = (now() - wall0) / timed * 1e3;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT name=chargpt_nabla threads=%d layers=%d d=%d heads=%d ctx=%d batch=%d vocab=%d "
           "params=%lld ms_per_step=%.2f fwd_ms=%.2f bwd_ms=%.2f opt_ms=%.2f mean_wall_ms=%.2f "
           "cpu_ms_per_step=%.2f loss_first=%.4f loss_last=%.4f peak_rss_mb=%.1f arena_mb=%.1f\n",
           threads, LAYERS, WIDTH, HEADS, CTX, BATCH, vocab, (long long)nb_model_param_elements(m),
           median(step_ms + WARMUP, timed), median(fwd + WARMUP, timed), median(bwd + WARMUP, timed),
           median(upd + WARMUP, timed), wall_ms, cpu_ms, (double)first, (double)loss->data[0],
           ru.ru_maxrss / 1024.0, nb_ctx_memory(ctx) / 1048576.0);
    free(step_ms);
    free(fwd);
    free(bwd);
    free(upd);
    free(text);
    nb_ctx_free(ctx);
    return 0;
}
