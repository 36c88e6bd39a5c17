/* xor_net.h — the textbook network: a 2-H-1 sigmoid MLP trained on XOR with
 * mean squared error and plain full-batch gradient descent, built once with
 * nabla's public API and replayed every epoch. Shared by `nabla xor` and
 * tests/test_xor.c so both exercise the same code. */
#ifndef NABLA_CLI_XOR_NET_H
#define NABLA_CLI_XOR_NET_H

#include <stdint.h>

#include "nabla.h"

/* The starting point of the reference run (xor_numpy.py, shared reference scripts), so the
 * C and NumPy trainings can be compared step for step. Hidden width 2. */
extern const float nbc_xor_w1_fixed[4], nbc_xor_b1_fixed[2];
extern const float nbc_xor_w2_fixed[2], nbc_xor_b2_fixed[1];

typedef struct nbc_xor_net {
    int hidden;
    nb_tensor *x, *t;                     /* inputs [4,2], targets [4,1] */
    nb_tensor *w1, *b1, *w2, *b2;         /* [H,2], [H], [1,H], [1] */
    nb_tensor *z1, *a1, *z2, *y, *loss;   /* [4,H], [4,H], [4,1], [4,1], scalar */
    nb_graph *graph;
} nbc_xor_net;

/* Build the network in ctx (parameters zeroed) and fill in the four XOR
 * samples. Returns NB_OK or the context's error. */
int nbc_xor_build(nbc_xor_net *net, nb_ctx *ctx, int hidden);

/* Parameter initialisation: the fixed literals above (hidden must be 2), or
 * every weight and bias uniform in [-1, 1) from nabla's PCG32 generator
 * seeded with `seed`, drawn for w1, b1, w2, b2 in that order. */
int nbc_xor_init_fixed(nbc_xor_net *net);
void nbc_xor_init_uniform(nbc_xor_net *net, uint64_t seed);

/* One epoch: zero the gradients, forward, backward, p -= lr·∂L/∂p. Stores the
 * loss of the parameters as they were before the update in *loss. Allocates
 * nothing. */
int nbc_xor_step(nbc_xor_net *net, float lr, float *loss);

/* Train for `epochs` steps; if every > 0, call report(epoch, loss, arg) for
 * epochs 0, every, 2·every, ... (loss after that many updates) and for the
 * final epoch. Ends with a forward pass, so net->y holds the trained outputs
 * and net->loss their loss. */
int nbc_xor_train(nbc_xor_net *net, long long epochs, float lr, long long every,
                  void (*report)(long long epoch, float loss, void *arg), void *arg);

#endif
