/* cnn.h — the `cnn` model kind of `nabla train --model`: convolutional
 * networks written as a list of layer words ("cnn:conv32,max2,conv64,max2,
 * fc128"), their parsing and canonical printing, the input image shape, and
 * the model they build (names and layer order as torch.nn modules would give). */
#ifndef NABLA_CLI_CNN_H
#define NABLA_CLI_CNN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nabla.h"

/* Grammar (the items of a spec "cnn:ITEM,ITEM,..."; see spec.h):
 *   conv<N>[k<K>][s<S>][p<P>][d<D>][g<G>]  convolution to N channels, kernel K×K
 *                      (3), stride S (1), zero padding P (D·(K-1)/2: "same" at
 *                      stride 1), dilation D (1), groups G (1)
 *   max<K>[s<S>][p<P>]  max pooling K×K, stride S (K), padding P (0, at most K/2)
 *   avg<K>[s<S>][p<P>]  average pooling, likewise
 *   gap                 global average pooling (then flatten)
 *   bn                  batch normalisation: 2-d over channels on images,
 *                       1-d over features after flattening
 *   drop<P>             dropout with probability P in [0, 1)
 *   fc<N>               linear layer to N features (flattens images first)
 *   act=NAME            activation after every conv and fc layer, after its bn
 *                       when bn follows it (relu; tanh, sigmoid, gelu, none)
 *   shape=CxHxW         input image shape (default: the data's, e.g. IDX 28×28
 *                       is 1x28x28); needed for flat data (CSV)
 * A final linear layer to the class count is always added. Without layer
 * words: the preset conv32,max2,conv64,max2,fc128. Parameters are named
 * conv1.*, bn1.*, fc1.*, … in order, like attributes of a torch.nn.Module. */
#define NBC_CNN_MAX_LAYERS 24

typedef enum nbc_cnn_op {
    NBC_CNN_CONV = 1,
    NBC_CNN_MAXPOOL,
    NBC_CNN_AVGPOOL,
    NBC_CNN_GAP,
    NBC_CNN_BN,
    NBC_CNN_DROP,
    NBC_CNN_FC,
} nbc_cnn_op;

typedef struct nbc_cnn_layer {
    nbc_cnn_op op;
    int64_t n;         /* conv: output channels; fc: output features */
    int k, s, p, d, g; /* kernel, stride, padding, dilation, groups (resolved) */
    float drop;        /* dropout probability */
} nbc_cnn_layer;

typedef struct nbc_cnn_spec {
    int nlayers;
    nbc_cnn_layer layer[NBC_CNN_MAX_LAYERS];
    nb_activation act;
    int64_t shape[3]; /* C, H, W of one sample; zeros until known */
    int sync_bn;      /* not in the text: `nabla train --sync-bn` sets it before building */
} nbc_cnn_spec;

struct nbc_kvlist;

/* Fills c from a parsed "cnn:..." list; -1 with one line in err (naming the
 * spec s and the item) on an unknown word, a bad number or a layer out of
 * place (a convolution after a linear layer). */
int nbc_cnn_parse(const char *s, const struct nbc_kvlist *kv, nbc_cnn_spec *c, char *err, size_t errlen);
/* The canonical text after "cnn:" (defaults left out of the layer words,
 * act= always, shape= once known); parse(format(c)) == c. */
void nbc_cnn_format(const nbc_cnn_spec *c, char *buf, size_t len);
/* Sets the input shape from the data's per-sample shape (HxW images are
 * 1xHxW) unless shape= was given, which must then hold `features` values;
 * checks every layer's output size. -1 with one line in err, e.g. for flat
 * CSV samples without shape=. */
int nbc_cnn_set_input(nbc_cnn_spec *c, int feat_ndim, const int64_t *feat_shape, int64_t features, char *err,
                      size_t errlen);
/* The layers on model m for inputs [N, C·H·W] viewed as [N, C, H, W] (the
 * caller reshapes; see nbc_net_forward) and `classes` outputs. NULL on error:
 * the context's, or NB_ERR_ARG in *status when the shape is not set or does
 * not match `inputs`. */
nb_sequential *nbc_cnn_build(nb_model *m, const nbc_cnn_spec *c, int64_t inputs, int classes, int *status);
/* One line per layer with its output shape, for `nabla info`. */
void nbc_cnn_describe(const nbc_cnn_spec *c, int classes, FILE *out);

#endif
