/* bench/elementwise: GB/s of the main elementwise kernels (binary ops, relu,
 * sigmoid, gelu, exp, softmax rows, fused softmax + cross-entropy, sum) on
 * large arrays beside memcpy of the same bytes, at 1 and 2 threads, medians.
 * Usage: elementwise [floats per array (16M)] [repetitions (7)]
 * Bytes are counted as read + written; memcpy moves half of them each way.
 * Each repetition times the kernel and then memcpy back to back; the ratio is
 * the median of those per-pair ratios, so another process coming or going
 * between repetitions moves both sides of a pair alike. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/broadcast.h"
#include "kernels/kernels.h"
#include "kernels/reduce.h"
#include "kernels/softmax.h"
#include "kernels/unary.h"
#include "nabla.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { K_ADD, K_MUL, K_BIAS, K_RELU, K_RELU_BWD, K_SIGMOID, K_GELU, K_EXP, K_SOFTMAX, K_XENT, K_SUM,
       K_COUNT };
static const char *names[K_COUNT] = {"add", "mul", "bias add [N,C]+[C]", "relu", "relu backward",
                                     "sigmoid", "gelu (erf)", "exp", "softmax rows (C=1000)",
                                     "softmax+xent fused", "sum"};
/* bytes per element, read + written */
static const double bytes_per[K_COUNT] = {12, 12, 8, 8, 16, 8, 8, 8, 8, 12, 4};

static int64_t N;
static float *a, *b, *c, *d, *labels, *lse;
static char *msrc, *mdst; /* memcpy buffers: 8 bytes per element each */
static volatile float sink;

static void run(int k) {
    const int64_t C = 1000, R = N / C, shape1[1] = {N}, s1[1] = {1};
    const int64_t shape2[2] = {R, C}, sfull[2] = {C, 1}, srow[2] = {0, 1};
    switch (k) {
    case K_ADD: nb_k_binary(NB_BIN_ADD, 1, shape1, c, a, s1, b, s1); break;
    case K_MUL: nb_k_binary(NB_BIN_MUL, 1, shape1, c, a, s1, b, s1); break;
    case K_BIAS: nb_k_binary(NB_BIN_ADD, 2, shape2, c, a, sfull, b, srow); break;
    case K_RELU: nb_k_unary(NB_UN_RELU, N, a, c, 0, 0); break;
    case K_RELU_BWD: nb_k_unary_backward(NB_UN_RELU, N, a, c, b, d, 0, 0); break;
    case K_SIGMOID: nb_k_unary(NB_UN_SIGMOID, N, a, c, 0, 0); break;
    case K_GELU: nb_k_unary(NB_UN_GELU_ERF, N, a, c, 0, 0); break;
    case K_EXP: nb_k_unary(NB_UN_EXP, N, a, c, 0, 0); break;
    case K_SOFTMAX: nb_k_softmax(a, R, C, 1, c); break;
    case K_XENT:
        sink = (float)nb_k_cross_entropy_fused(a, labels, R, C, 0.0f, 1e-6f, lse, d);
        break;
    case K_SUM: sink = nb_k_sum(a, N); break;
    }
}

/* memcpy of `bytes` counted read+written: bytes/2 copied, split over threads */
static void copy(double bytes, int threads) {
    const size_t n = (size_t)(bytes / 2.0);
    char *dst = mdst, *src = msrc;
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const size_t lo = n * t / nt, hi = n * (t + 1) / nt;
        memcpy(dst + lo, src + lo, hi - lo);
    }
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return v[n / 2];
}

/* Medians of the kernel's and memcpy's times and of their per-pair ratio. */
static void measure(int k, int threads, int reps, double *tk, double *tm, double *ratio) {
    double a[32], b[32], r[32];
    const double bytes = bytes_per[k] * (double)N;
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        run(k);
        a[i] = now() - t0;
        t0 = now();
        copy(bytes, threads);
        b[i] = now() - t0;
        r[i] = b[i] / a[i];
    }
    *tk = median(a, reps);
    *tm = median(b, reps);
    *ratio = median(r, reps);
}

int main(int argc, char **argv) {
    N = argc > 1 ? atoll(argv[1]) : 16 << 20;
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    if (N < 1000 || reps < 1 || reps > 31) {
        fprintf(stderr, "usage: elementwise [floats >= 1000] [repetitions 1..31]\n");
        return 2;
    }
    N -= N % 1000;
    a = malloc((size_t)N * sizeof *a), b = malloc((size_t)N * sizeof *b);
    c = malloc((size_t)N * sizeof *c), d = malloc((size_t)N * sizeof *d);
    labels = malloc((size_t)(N / 1000) * sizeof *labels);
    lse = malloc((size_t)(N / 1000) * sizeof *lse);
    msrc = malloc((size_t)N * 8), mdst = malloc((size_t)N * 8);
    if (!a || !b || !c || !d || !labels || !lse || !msrc || !mdst) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    uint64_t s = 1;
    for (int64_t i = 0; i < N; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        a[i] = (float)((double)(s >> 40) / (double)(1 << 24) * 8.0 - 4.0);
        b[i] = 1.0f + (float)(i % 7) * 0.1f;
        c[i] = d[i] = 0.0f;
    }
    memset(msrc, 1, (size_t)N * 8), memset(mdst, 0, (size_t)N * 8);
    for (int64_t r = 0; r < N / 1000; r++) labels[r] = (float)(r % 1000);

    printf("elementwise kernels, %lld floats per array (%.0f MiB), path %s, median of %d\n",
           (long long)N, (double)N * 4 / (1 << 20), nb__cpu_path_name(nb__cpu_path()), reps);
    printf("%-22s %8s %10s %10s %7s\n", "kernel", "threads", "GB/s", "memcpy", "ratio");
    for (int threads = 1; threads <= 2; threads++) {
        nb_set_threads(threads);
        for (int k = 0; k < K_COUNT; k++) {
            run(k); /* warm up: page faults, thread pool */
            const double bytes = bytes_per[k] * (double)N;
            double tk, tm, ratio;
            measure(k, threads, reps, &tk, &tm, &ratio);
            printf("%-22s %8d %10.2f %10.2f %7.2f\n", names[k], threads, bytes / tk * 1e-9,
                   bytes / tm * 1e-9, ratio);
        }
    }
    free(a), free(b), free(c), free(d), free(labels), free(lse), free(msrc), free(mdst);
    return 0;
}
