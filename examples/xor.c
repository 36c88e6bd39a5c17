/* xor.c — the textbook network, start to finish: a 2-2-1 sigmoid MLP learns
 * XOR by mean squared error and plain gradient descent, using only nabla's
 * public API. Build the graph once; every epoch replays it without allocating. */
#include <stdio.h>

#include <nabla.h>

int main(void) {
    /* the four XOR samples and their targets */
    static const float inputs[4 * 2] = {0, 0, 0, 1, 1, 0, 1, 1};
    static const float targets[4] = {0, 1, 1, 0};
    /* the starting weights of bench/torch/xor_numpy.py, for a like-for-like run */
    static const float w1_init[2 * 2] = {0.0236f, 0.9009f, -0.7117f, 0.8973f};
    static const float b1_init[2] = {-0.3763f, -0.1533f};
    static const float w2_init[1 * 2] = {0.6554f, -0.1816f};
    static const float b2_init[1] = {0.0992f};
    const float lr = 0.1f;
    const int epochs = 10000;

    nb_ctx *ctx = nb_ctx_new();
    if (!ctx) return 1;

    /* data and parameters */
    nb_tensor *x = nb_tensor_2d(ctx, 4, 2);
    nb_tensor *t = nb_tensor_2d(ctx, 4, 1);
    nb_tensor *w1 = nb_param_new(ctx, "w1", 2, (int64_t[]){2, 2});
    nb_tensor *b1 = nb_param_new(ctx, "b1", 1, (int64_t[]){2});
    nb_tensor *w2 = nb_param_new(ctx, "w2", 2, (int64_t[]){1, 2});
    nb_tensor *b2 = nb_param_new(ctx, "b2", 1, (int64_t[]){1});

    /* the network: y = σ(σ(x·W1ᵀ + b1)·W2ᵀ + b2), loss = mean((y − t)²) */
    nb_tensor *a1 = nb_sigmoid(ctx, nb_linear(ctx, x, w1, b1));
    nb_tensor *y = nb_sigmoid(ctx, nb_linear(ctx, a1, w2, b2));
    nb_tensor *loss = nb_mse_loss(ctx, y, t);
    nb_graph *g = nb_graph_new(ctx, loss);

    /* errors are sticky: one check after building covers every call above */
    if (nb_error(ctx)) {
        fprintf(stderr, "xor: %s\n", nb_error_message(ctx));
        nb_ctx_free(ctx);
        return 1;
    }
    nb_tensor_copy_in(x, inputs, 8);
    nb_tensor_copy_in(t, targets, 4);
    nb_tensor_copy_in(w1, w1_init, 4);
    nb_tensor_copy_in(b1, b1_init, 2);
    nb_tensor_copy_in(w2, w2_init, 2);
    nb_tensor_copy_in(b2, b2_init, 1);

    /* training: zero the gradients, forward, backward, p -= lr·∂L/∂p */
    for (int epoch = 0; epoch < epochs; epoch++) {
        nb_graph_zero_grad(g);
        if (nb_graph_forward(g) != NB_OK || nb_graph_backward(g) != NB_OK) {
            fprintf(stderr, "xor: %s\n", nb_error_message(ctx));
            nb_ctx_free(ctx);
            return 1;
        }
        if (epoch % 1000 == 0) printf("epoch %5d  loss %.6f\n", epoch, (double)loss->data[0]);
        for (int i = 0; i < nb_graph_num_params(g); i++) {
            nb_tensor *p = nb_graph_param(g, i);
            for (int64_t j = 0; j < p->size; j++) p->data[j] -= lr * p->grad[j];
        }
    }

    /* the trained network's outputs */
    nb_graph_forward(g);
    printf("epoch %5d  loss %.6f\n", epochs, (double)loss->data[0]);
    for (int i = 0; i < 4; i++)
        printf("%g xor %g -> %.4f (target %g)\n", (double)inputs[2 * i], (double)inputs[2 * i + 1],
               (double)y->data[i], (double)targets[i]);
    nb_ctx_free(ctx);
    return 0;
}
