/* bench/gpt2_step.c — milliseconds per training step (forward, backward,
 * AdamW) of a GPT-2-small-shaped model, as ../shared/bench/torch/gpt2_step.py
 * measures it: 12 layers, 12 heads, width 768, vocabulary 50257, a 1024-row
 * position table, tied output projection (124.4M parameters), random init,
 * batch 4, sequence 64, random token ids and targets, AdamW lr 3e-4 (weight
 * decay 0.01). Median over the timed steps after the warm-up steps, the
 * forward/backward/optimizer split, and peak resident memory.
 * Usage: gpt2_step [threads] [timed steps (5)] [warm-up steps (2)]
 * With NABLA_PROFILE set, the timed steps' per-op table goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "nabla.h"

enum { V = 50257, CTX = 1024, LAYERS = 12, HEADS = 12, WIDTH = 768, BATCH = 4, SEQ = 64 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

static double rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    const int timed = argc > 2 ? atoi(argv[2]) : 5;
    const int warm = argc > 3 ? atoi(argv[3]) : 2;
    if (threads < 1 || timed < 1 || warm < 0) {
        fprintf(stderr, "usage: gpt2_step [threads >= 1] [timed steps >= 1] [warm-up steps >= 0]\n");
        return 2;
    }
    nb_set_threads(threads);
    nb_ctx *ctx = nb_ctx_new();
    nb_model *m = nb_model_new(ctx);
    nb_gpt_config cfg = {.vocab = V, .context = CTX, .layers = LAYERS, .heads = HEADS, .width = WIDTH};
    nb_gpt *gpt = nb_gpt_new(m, NULL, &cfg);
    nb_tensor *x = nb_tensor_2d(ctx, BATCH, SEQ), *y = nb_tensor_2d(ctx, BATCH, SEQ);
    nb_tensor *loss = gpt && x && y ? nb_gpt_loss(ctx, nb_gpt_forward(gpt, x), y) : NULL;
    nb_graph *g = loss ? nb_graph_new(ctx, loss) : NULL;
    nb_optim_config oc = nb_optim_defaults(NB_OPTIM_ADAMW);
    oc.lr = 3e-4;
    nb_optim *opt = g ? nb_optim_new(nb_model_params(m), nb_model_num_params(m), &oc) : NULL;
    if (!opt) {
        fprintf(stderr, "gpt2_step: %s\n", nb_error_message(ctx));
        return 1;
    }
    uint32_t s = 1;
    for (int i = 0; i < BATCH * SEQ; i++) {
        s = s * 1664525u + 1013904223u;
        x->data[i] = (float)((s >> 8) % V);
        s = s * 1664525u + 1013904223u;
        y->data[i] = (float)((s >> 8) % V);
    }
    double rss_init = rss_mb();
    printf("params=%lld  rss after init %.0f MB\n", (long long)nb_model_param_elements(m), rss_init);
    int total = warm + timed;
    double *st = calloc((size_t)total * 4, sizeof(double));
    if (!st) return 1;
    double *fw = st + total, *bw = st + 2 * total, *up = st + 3 * total;
    float first = 0.0f;
    const int profile = getenv("NABLA_PROFILE") != NULL;
    for (int i = 0; i < total; i++) {
        if (profile && i == warm) nb_graph_profile(g, 1);
        double t0 = now();
        int rc = nb_graph_forward(g);
        double t1 = now();
        nb_optim_zero_grad(opt);
        if (rc == NB_OK) rc = nb_graph_backward(g);
        double t2 = now();
        if (rc == NB_OK) rc = nb_optim_step(opt);
        double t3 = now();
        if (rc != NB_OK) {
            fprintf(stderr, "gpt2_step: step %d: %s\n", i + 1, nb_error_message(ctx));
            return 1;
        }
        if (i == 0) first = loss->data[0];
        st[i] = (t3 - t0) * 1e3;
        fw[i] = (t1 - t0) * 1e3;
        bw[i] = (t2 - t1) * 1e3;
        up[i] = (t3 - t2) * 1e3;
        printf("step %d  %.0f ms (fwd %.0f bwd %.0f opt %.0f)  loss %.4f\n", i + 1, st[i], fw[i], bw[i], up[i],
               (double)loss->data[0]);
        fflush(stdout);
    }
    printf("RESULT name=gpt2_step_nabla threads=%d batch=%d seq=%d params=%lld ms_per_step=%.1f fwd_ms=%.1f "
           "bwd_ms=%.1f opt_ms=%.1f tokens_per_s=%.1f loss_first=%.4f peak_rss_mb=%.1f rss_after_init_mb=%.1f "
           "arena_mb=%.1f\n",
           threads, BATCH, SEQ, (long long)nb_model_param_elements(m), median(st + warm, timed),
           median(fw + warm, timed), median(bw + warm, timed), median(up + warm, timed),
           BATCH * SEQ / (median(st + warm, timed) / 1e3), (double)first, rss_mb(), rss_init,
           nb_ctx_memory(ctx) / 1048576.0);
    if (profile) nb_graph_profile_report(g, stderr);
    free(st);
    nb_ctx_free(ctx);
    return 0;
}
