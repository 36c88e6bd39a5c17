/* xor_net.c — the 2-H-1 sigmoid network on XOR, trained by full-batch
 * gradient descent through nabla's graph replay (see xor_net.h). The
 * gradient-descent update is written out here until the optimizers land. */
#include "xor_net.h"

/* Rounded from numpy default_rng(1).uniform(-1, 1); identical to the
 * reference scripts in bench/torch/. */
const float nbc_xor_w1_fixed[4] = {0.0236f, 0.9009f, -0.7117f, 0.8973f};
const float nbc_xor_b1_fixed[2] = {-0.3763f, -0.1533f};
const float nbc_xor_w2_fixed[2] = {0.6554f, -0.1816f};
const float nbc_xor_b2_fixed[1] = {0.0992f};

static const float xor_inputs[8] = {0, 0, 0, 1, 1, 0, 1, 1};
static const float xor_targets[4] = {0, 1, 1, 0};

int nbc_xor_build(nbc_xor_net *net, nb_ctx *ctx, int hidden) {
    const int64_t h = hidden;
    net->hidden = hidden;
    net->x = nb_tensor_2d(ctx, 4, 2);
    net->t = nb_tensor_2d(ctx, 4, 1);
    net->w1 = nb_param_new(ctx, "w1", 2, (int64_t[]){h, 2});
    net->b1 = nb_param_new(ctx, "b1", 1, (int64_t[]){h});
    net->w2 = nb_param_new(ctx, "w2", 2, (int64_t[]){1, h});
    net->b2 = nb_param_new(ctx, "b2", 1, (int64_t[]){1});
    net->z1 = nb_linear(ctx, net->x, net->w1, net->b1);
    net->a1 = nb_sigmoid(ctx, net->z1);
    net->z2 = nb_linear(ctx, net->a1, net->w2, net->b2);
    net->y = nb_sigmoid(ctx, net->z2);
    net->loss = nb_mse_loss(ctx, net->y, net->t);
    net->graph = nb_graph_new(ctx, net->loss);
    if (nb_error(ctx)) return nb_error(ctx);
    nb_tensor_copy_in(net->x, xor_inputs, 8);
    nb_tensor_copy_in(net->t, xor_targets, 4);
    return nb_error(ctx);
}

int nbc_xor_init_fixed(nbc_xor_net *net) {
    if (net->hidden != 2) return NB_ERR_ARG;
    nb_tensor_copy_in(net->w1, nbc_xor_w1_fixed, 4);
    nb_tensor_copy_in(net->b1, nbc_xor_b1_fixed, 2);
    nb_tensor_copy_in(net->w2, nbc_xor_w2_fixed, 2);
    nb_tensor_copy_in(net->b2, nbc_xor_b2_fixed, 1);
    return NB_OK;
}

void nbc_xor_init_uniform(nbc_xor_net *net, uint64_t seed) {
    nb_rng rng;
    nb_rng_seed(&rng, seed);
    nb_tensor *params[4] = {net->w1, net->b1, net->w2, net->b2};
    for (int p = 0; p < 4; p++)
        for (int64_t i = 0; i < params[p]->size; i++)
            params[p]->data[i] = 2.0f * nb_rng_uniform(&rng) - 1.0f;
}

int nbc_xor_step(nbc_xor_net *net, float lr, float *loss) {
    nb_graph *g = net->graph;
    nb_graph_zero_grad(g);
    int rc = nb_graph_forward(g);
    if (rc == NB_OK) rc = nb_graph_backward(g);
    if (rc != NB_OK) return rc;
    if (loss) *loss = net->loss->data[0];
    for (int i = 0; i < nb_graph_num_params(g); i++) {
        nb_tensor *p = nb_graph_param(g, i);
        for (int64_t j = 0; j < p->size; j++) p->data[j] -= lr * p->grad[j];
    }
    return NB_OK;
}

int nbc_xor_train(nbc_xor_net *net, long long epochs, float lr, long long every,
                  void (*report)(long long epoch, float loss, void *arg), void *arg) {
    for (long long e = 0; e < epochs; e++) {
        float loss;
        int rc = nbc_xor_step(net, lr, &loss);
        if (rc != NB_OK) return rc;
        if (report && every > 0 && e % every == 0) report(e, loss, arg);
    }
    int rc = nb_graph_forward(net->graph);
    if (rc == NB_OK && report && every > 0) report(epochs, net->loss->data[0], arg);
    return rc;
}
