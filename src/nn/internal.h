/* nn/internal.h — helpers shared by the module files under src/nn: joined
 * parameter names and the allocation of layer records. Private to src/nn. */
#ifndef NB_NN_INTERNAL_H
#define NB_NN_INTERNAL_H

#include "core/engine.h"
#include "nabla/nn.h"

/* "<prefix>.<name>", or "<name>" when prefix is NULL or ""; arena memory. */
char *nb__name_join(nb_ctx *ctx, const char *prefix, const char *name);

/* A zeroed layer record of `bytes` (starting with an nb_module) with kind,
 * name and forward filled in and registered on the model; NULL on error. */
void *nb__module_new(nb_model *m, size_t bytes, const char *kind, const char *name,
                     nb_tensor *(*forward)(nb_module *, nb_tensor *));

#endif
