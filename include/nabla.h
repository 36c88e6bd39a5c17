/* nabla.h — the public API of nabla, a C library for training neural networks
 * by backpropagation. Include this one header; it pulls in the parts:
 *   nabla/core.h     contexts, tensors, graphs, errors, gradient checking
 *   nabla/ops.h      differentiable operations
 *   nabla/kernels.h  raw compute (sgemm) and threading
 *   nabla/data.h     data readers (IDX, CSV, NPY), datasets and batches */
#ifndef NABLA_H
#define NABLA_H

#include "nabla/core.h"
#include "nabla/ops.h"
#include "nabla/kernels.h"
#include "nabla/data.h"
#include "nabla/conv.h"
#include "nabla/nn.h"
#include "nabla/optim.h"
#include "nabla/checkpoint.h"
#include "nabla/seq.h"
#include "nabla/dist.h"
#include "nabla/gpt.h"

#endif
