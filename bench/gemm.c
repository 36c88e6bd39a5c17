/* bench/gemm: GFLOPS of nb_sgemm beside OpenBLAS's cblas_sgemm in the same run
 * (square sizes and the 784-256-128-10 MLP training products, 1 and 2 threads),
 * plus an FMA loop that measures this machine's peak per core.
 * Usage: gemm [seconds per measurement (0.3)] [repetitions (5)] [label filter]
 *             [thread count: 1 or 2 (both)] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nabla.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One-thread rows are timed in this thread's CPU time: both libraries then
 * compute in the calling thread, and the figure does not move when other
 * processes share the machine. Two-thread rows need wall-clock time. */
static int use_cpu_time;
static double clock_now(void) {
    if (!use_cpu_time) return now();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- peak FMA throughput ---------------------------------------------------
 * Independent accumulator chains (more than ports × latency) so the loop is
 * bound by FMA issue rate alone. Built with target attributes: the benchmark
 * itself is compiled for baseline x86-64 like the library. */
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static double peak_avx2(double seconds) {
    __m256 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    long iters = 0;
    const double t0 = clock_now();
    double t;
    do {
        for (int r = 0; r < 100000; r++)
            for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
        iters += 100000;
    } while ((t = clock_now() - t0) < seconds);
    float sink = 0.0f;
    for (int i = 0; i < 12; i++) sink += _mm256_cvtss_f32(acc[i]);
    if (sink == 12345.0f) puts("");
    return (double)iters * 12 * 8 * 2 / t * 1e-9;
}

__attribute__((target("avx512f"))) static double peak_avx512(double seconds) {
    __m512 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps((float)i);
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    long iters = 0;
    const double t0 = clock_now();
    double t;
    do {
        for (int r = 0; r < 100000; r++)
            for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
        iters += 100000;
    } while ((t = clock_now() - t0) < seconds);
    float sink = 0.0f;
    for (int i = 0; i < 16; i++) sink += _mm512_reduce_add_ps(acc[i]);
    if (sink == 12345.0f) puts("");
    return (double)iters * 16 * 16 * 2 / t * 1e-9;
}
#endif

/* ---- measurement ------------------------------------------------------------ */
typedef struct {
    int ta, tb, m, n, k;
    const char *label;
} shape;

static float *A, *B, *C;
static double min_seconds = 0.3;
static int reps = 5;

static void call(int lib, const shape *s) {
    const int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    if (lib == 0) {
        if (nb_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, A, lda, B, ldb, 0.0f, C, s->n)) {
            fprintf(stderr, "nb_sgemm failed on %s\n", s->label);
            exit(1);
        }
    } else {
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                    s->tb ? CblasTrans : CblasNoTrans, s->m, s->n, s->k, 1.0f, A, lda, B, ldb,
                    0.0f, C, s->n);
    }
}

/* One measurement: calls repeated for at least min_seconds, as GFLOPS. */
static double measure(int lib, const shape *s) {
    const double flops = 2.0 * s->m * (double)s->n * s->k;
    long calls = 0;
    const double t0 = clock_now();
    double t;
    do {
        call(lib, s);
        calls++;
    } while ((t = clock_now() - t0) < min_seconds);
    return flops * (double)calls / t * 1e-9;
}

static int cmp_double(const void *x, const void *y) {
    const double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Both libraries keep their worker threads spinning for a while after a call
 * (OpenBLAS ~0.1 s, libgomp shorter), which on a 2-core machine would steal a
 * core from whichever library runs next: multi-threaded measurements are
 * separated by a pause. */
static void pause_threads(void) {
    const struct timespec ts = {0, 250 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[n / 2];
}

/* `reps` measurements of each library, alternating (nabla, OpenBLAS, nabla,
 * ...) so that both see the same machine state when other processes come and
 * go; GFLOPS are the medians per library and the ratio is the median of the
 * per-pair ratios (each pair taken a fraction of a second apart), which slow
 * drifts of the machine do not bias. */
static void run(const shape *s, int threads, double out[3]) {
    double r[2][64], q[64];
    for (int l = 0; l < 2; l++) {
        call(l, s); /* warm-up: page faults, nabla's packing buffers, thread start */
        if (threads > 1) pause_threads();
    }
    for (int i = 0; i < reps; i++) {
        for (int l = 0; l < 2; l++) {
            r[l][i] = measure(l, s);
            if (threads > 1) pause_threads();
        }
        q[i] = r[0][i] / r[1][i];
    }
    out[0] = median(r[0], reps);
    out[1] = median(r[1], reps);
    out[2] = median(q, reps);
    printf("%-28s %3d %10.1f %10.1f %7.2f\n", s->label, threads, out[0], out[1], out[2]);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc > 1) min_seconds = atof(argv[1]);
    if (argc > 2) reps = atoi(argv[2]);
    const char *filter = argc > 3 && argv[3][0] ? argv[3] : NULL; /* labels containing it */
    const int only_threads = argc > 4 ? atoi(argv[4]) : 0; /* 1 or 2; 0: both */
    if (reps < 1 || reps > 64 || !(min_seconds > 0) || only_threads < 0 || only_threads > 2) {
        fprintf(stderr,
                "usage: %s [seconds per measurement] [repetitions 1..64] [label filter] "
                "[threads 1|2]\n",
                argv[0]);
        return 2;
    }
    /* 64-byte aligned, as nabla's tensors are (its arena aligns every
     * allocation to a cache line): rows of a 784- or 256-wide matrix then start
     * on cache-line boundaries for both libraries. A plain malloc of this size
     * returns page + 16 bytes, which splits every row across lines. */
    const size_t maxn = 2048, bytes = maxn * maxn * sizeof(float);
    A = aligned_alloc(64, bytes);
    B = aligned_alloc(64, bytes);
    C = aligned_alloc(64, bytes);
    if (!A || !B || !C) return 1;
    srand(1);
    for (size_t i = 0; i < maxn * maxn; i++) {
        A[i] = (float)((double)rand() / RAND_MAX - 0.5);
        B[i] = (float)((double)rand() / RAND_MAX - 0.5);
        C[i] = 0.0f;
    }

    const char *ct = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    printf("OpenBLAS: %s, core %s (OPENBLAS_CORETYPE=%s, OPENBLAS_L2_SIZE=%s)\n",
           openblas_get_config(), openblas_get_corename(), ct ? ct : "unset", l2 ? l2 : "unset");
    printf("nabla threads default %d; %.2f s per measurement, median of %d\n", nb_get_threads(),
           min_seconds, reps);

    double peak = 0.0;
    use_cpu_time = 1; /* one core's rate, whatever else runs */
#if defined(__x86_64__)
    __builtin_cpu_init();
    const int has512 = __builtin_cpu_supports("avx512f");
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        peak = peak_avx2(0.5);
        printf("peak FMA, one core: AVX2 %.1f GFLOPS\n", peak);
    }
    if (has512) {
        peak = peak_avx512(0.5);
        printf("peak FMA, one core: AVX-512 %.1f GFLOPS\n", peak);
    }
#endif

    static const int squares[] = {128, 256, 512, 1024, 2048};
    shape shapes[64];
    char labels[64][48];
    int ns = 0;
    for (size_t i = 0; i < sizeof squares / sizeof *squares; i++) {
        snprintf(labels[ns], sizeof labels[ns], "square %d", squares[i]);
        shapes[ns] = (shape){0, 0, squares[i], squares[i], squares[i], labels[ns]};
        ns++;
    }
    const int nsquare = ns;
    /* Per layer (in -> out) at batch b: forward Y = X·Wᵀ, backward dX = dY·W,
     * dW = dYᵀ·X. */
    static const int batches[] = {64, 256}, layers[][2] = {{784, 256}, {256, 128}, {128, 10}};
    for (int bi = 0; bi < 2; bi++)
        for (int li = 0; li < 3; li++) {
            const int b = batches[bi], in = layers[li][0], out = layers[li][1];
            snprintf(labels[ns], sizeof labels[ns], "b%d %d>%d fwd X.W^T", b, in, out);
            shapes[ns] = (shape){0, 1, b, out, in, labels[ns]};
            ns++;
            snprintf(labels[ns], sizeof labels[ns], "b%d %d>%d dX=dY.W", b, in, out);
            shapes[ns] = (shape){0, 0, b, in, out, labels[ns]};
            ns++;
            snprintf(labels[ns], sizeof labels[ns], "b%d %d>%d dW=dY^T.X", b, in, out);
            shapes[ns] = (shape){1, 0, out, in, b, labels[ns]};
            ns++;
        }

    printf("\n(1 thread: timed in thread CPU time; 2 threads: wall clock)\n");
    printf("%-28s %3s %10s %10s %7s\n", "shape", "thr", "nabla GF/s", "OpenBLAS", "ratio");
    double pct_peak = 0.0;
    double mlp_min[3] = {1e9, 1e9, 1e9};
    for (int threads = 1; threads <= 2; threads++) {
        if (only_threads && threads != only_threads) continue;
        nb_set_threads(threads);
        openblas_set_num_threads(threads);
        use_cpu_time = threads == 1;
        for (int i = 0; i < ns; i++) {
            double g[3];
            if (filter && !strstr(shapes[i].label, filter)) continue;
            run(&shapes[i], threads, g);
            if (i < nsquare && squares[i] == 1024 && threads == 1 && peak > 0) pct_peak = g[0] / peak;
            if (i >= nsquare && g[2] < mlp_min[threads]) mlp_min[threads] = g[2];
        }
    }
    if (pct_peak > 0)
        printf("\nN=1024, one thread: nabla at %.0f%% of the measured peak FMA rate\n",
               100.0 * pct_peak);
    for (int t = 1; t <= 2; t++)
        if (mlp_min[t] < 1e9)
            printf("MLP shapes: worst nabla/OpenBLAS ratio %.2f (%d thread%s)\n", mlp_min[t], t,
                   t > 1 ? "s" : "");
    free(A);
    free(B);
    free(C);
    return 0;
}
