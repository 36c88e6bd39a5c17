/* bench/conv.c — milliseconds per training step of the convolutional part of
 * the Fashion-MNIST CNN (issue 6): conv 1→32 3×3 pad 1, relu, max-pool 2,
 * conv 32→64 3×3 pad 1, relu, max-pool 2, at batch 64; forward + backward
 * (no gradient for the input images), and each layer on its own.
 * Usage: conv [threads] [steps]. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nabla.h"
#include "nabla/conv.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* process CPU time: less disturbed than wall time on a busy machine */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void fill(nb_tensor *t, float scale, uint32_t seed) {
    for (int64_t i = 0; i < t->size; i++) {
        seed = seed * 1664525u + 1013904223u;
        t->data[i] = scale * ((float)(seed >> 8) / 16777216.0f - 0.5f);
    }
}

/* Median-free simple timing: warm up, then mean over steps. */
static double time_graph(nb_graph *g, int steps, int backward) {
    for (int i = 0; i < 3; i++) {
        nb_graph_zero_grad(g);
        nb_graph_forward(g);
        if (backward) nb_graph_backward(g);
    }
    const double t0 = now(), c0 = cpu_now();
    for (int i = 0; i < steps; i++) {
        nb_graph_zero_grad(g);
        nb_graph_forward(g);
        if (backward) nb_graph_backward(g);
    }
    const double ms = (now() - t0) / steps * 1e3;
    const double cpu = (cpu_now() - c0) / steps * 1e3;
    printf("%8.3f ms/step (cpu %8.3f ms) ", ms, cpu);
    return ms;
}

static nb_tensor *loss_of(nb_ctx *ctx, nb_tensor *y) {
    nb_tensor *r = nb_tensor_new(ctx, y->ndim, y->shape);
    fill(r, 2.0f, 7);
    return nb_sum(ctx, nb_mul(ctx, y, r));
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    const int steps = argc > 2 ? atoi(argv[2]) : 50;
    nb_set_threads(threads);
    nb_ctx *ctx = nb_ctx_new();
    const nb_conv2d_opts pad1 = {.pad_h = 1, .pad_w = 1};
    nb_tensor *x = nb_tensor_4d(ctx, 64, 1, 28, 28);
    fill(x, 2.0f, 1);
    nb_tensor *w1 = nb_param_new(ctx, "conv1.weight", 4, (int64_t[]){32, 1, 3, 3});
    nb_tensor *b1 = nb_param_new(ctx, "conv1.bias", 1, (int64_t[]){32});
    nb_tensor *w2 = nb_param_new(ctx, "conv2.weight", 4, (int64_t[]){64, 32, 3, 3});
    nb_tensor *b2 = nb_param_new(ctx, "conv2.bias", 1, (int64_t[]){64});
    fill(w1, 0.6f, 2), fill(b1, 0.1f, 3), fill(w2, 0.1f, 4), fill(b2, 0.1f, 5);

    nb_tensor *h1 = nb_max_pool2d(ctx, nb_relu(ctx, nb_conv2d(ctx, x, w1, b1, &pad1)), 2, 2, 2, 2, 0, 0);
    nb_tensor *h2 = nb_max_pool2d(ctx, nb_relu(ctx, nb_conv2d(ctx, h1, w2, b2, &pad1)), 2, 2, 2, 2, 0, 0);
    nb_graph *full = nb_graph_new(ctx, loss_of(ctx, h2));

    /* layers alone, inputs as leaves requiring grad where the network needs it */
    nb_tensor *a2 = nb_tensor_4d(ctx, 64, 32, 14, 14);
    fill(a2, 2.0f, 6);
    nb_tensor_set_requires_grad(a2);
    nb_graph *g_c1 = nb_graph_new(ctx, loss_of(ctx, nb_conv2d(ctx, x, w1, b1, &pad1)));
    nb_graph *g_c2 = nb_graph_new(ctx, loss_of(ctx, nb_conv2d(ctx, a2, w2, b2, &pad1)));
    nb_tensor *p1 = nb_tensor_4d(ctx, 64, 32, 28, 28);
    fill(p1, 2.0f, 8);
    nb_tensor_set_requires_grad(p1);
    nb_graph *g_p1 = nb_graph_new(ctx, loss_of(ctx, nb_max_pool2d(ctx, p1, 2, 2, 2, 2, 0, 0)));
    if (nb_error(ctx)) {
        fprintf(stderr, "%s\n", nb_error_message(ctx));
        return 1;
    }
    printf("threads %d, batch 64, %d steps\n", threads, steps);
    printf("conv stack fwd+bwd   "), time_graph(full, steps, 1), printf("\n");
    printf("conv stack fwd       "), time_graph(full, steps, 0), printf("\n");
    printf("conv1 fwd+bwd        "), time_graph(g_c1, steps, 1), printf("\n");
    printf("conv2 fwd+bwd        "), time_graph(g_c2, steps, 1), printf("\n");
    printf("conv2 fwd            "), time_graph(g_c2, steps, 0), printf("\n");
    printf("maxpool 32x28x28 f+b "), time_graph(g_p1, steps, 1), printf("\n");
    nb_ctx_free(ctx);
    return 0;
}
