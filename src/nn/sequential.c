/* nn/sequential.c — the sequential container (modules applied in order) and
 * the MLP builder on top of it, named like a PyTorch module with fc1, fc2, ... */
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

static nb_tensor *sequential_fwd(nb_module *self, nb_tensor *x) {
    return nb_sequential_forward((nb_sequential *)self, x);
}

nb_sequential *nb_sequential_new(nb_model *m, const char *name) {
    nb_sequential *s = nb__module_new(m, sizeof *s, "sequential", name, sequential_fwd);
    if (s) s->base.is_container = 1;
    return s;
}

int nb_sequential_add(nb_sequential *s, nb_module *mod) {
    if (!s) return NB_ERR_NULL;
    nb_ctx *ctx = nb_model_ctx(s->base.model);
    if (nb_error(ctx)) return nb_error(ctx);
    if (!mod) return nb__error(ctx, NB_ERR_NULL, "sequential_add '%s': module is NULL", s->base.name);
    if (mod == &s->base)
        return nb__error(ctx, NB_ERR_ARG, "sequential_add '%s': a container cannot contain itself", s->base.name);
    if (mod->model != s->base.model)
        return nb__error(ctx, NB_ERR_ARG, "sequential_add '%s': module '%s' belongs to another model",
                         s->base.name, mod->name ? mod->name : "");
    if (s->count == s->capacity) {
        int cap = s->capacity ? 2 * s->capacity : 8;
        nb_module **items = nb__alloc(ctx, (size_t)cap * sizeof *items);
        if (!items) return nb_error(ctx);
        if (s->count) memcpy(items, s->items, (size_t)s->count * sizeof *items);
        s->items = items;
        s->capacity = cap;
    }
    s->items[s->count++] = mod;
    return NB_OK;
}

nb_tensor *nb_sequential_forward(nb_sequential *s, nb_tensor *x) {
    if (!s) return NULL;
    for (int i = 0; i < s->count && x; i++) x = nb_module_forward(s->items[i], x);
    if (x) s->base.output = x;
    return x;
}

/* "<prefix>.<kind><i>" without a temporary on the heap. */
static char *layer_name(nb_ctx *ctx, const char *prefix, const char *kind, int i) {
    char local[32];
    snprintf(local, sizeof local, "%s%d", kind, i);
    return nb__name_join(ctx, prefix, local);
}

nb_sequential *nb_mlp_new(nb_model *m, const char *name, const int64_t *widths, int n,
                          nb_activation act, float dropout) {
    nb_ctx *ctx = nb_model_ctx(m);
    if (!ctx || nb_error(ctx)) return NULL;
    if (!widths || n < 2)
        return nb__error(ctx, NB_ERR_ARG, "mlp '%s': needs at least 2 widths (inputs and outputs), got %d",
                         name ? name : "", widths ? n : 0), NULL;
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return nb__error(ctx, NB_ERR_ARG, "mlp '%s': dropout %g is outside [0, 1)", name ? name : "",
                         (double)dropout), NULL;
    nb_sequential *s = nb_sequential_new(m, name);
    if (!s) return NULL;
    for (int i = 1; i < n; i++) {
        char *fc = layer_name(ctx, name, "fc", i);
        nb_linear_layer *l = fc ? nb_linear_layer_new(m, fc, widths[i - 1], widths[i], 1) : NULL;
        if (!l || nb_sequential_add(s, &l->base) != NB_OK) return NULL;
        if (i == n - 1) break;
        if (act != NB_ACT_NONE) {
            char *an = layer_name(ctx, name, "act", i);
            nb_activation_layer *a = an ? nb_activation_layer_new(m, an, act) : NULL;
            if (!a || nb_sequential_add(s, &a->base) != NB_OK) return NULL;
        }
        if (dropout > 0.0f) {
            char *dn = layer_name(ctx, name, "drop", i);
            nb_dropout_layer *d = dn ? nb_dropout_layer_new(m, dn, dropout) : NULL;
            if (!d || nb_sequential_add(s, &d->base) != NB_OK) return NULL;
        }
    }
    return s;
}
