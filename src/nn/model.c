/* nn/model.c — the model: named parameters and buffers in creation order,
 * the list of its layer modules, and the printed summary. */
#include <string.h>

#include "nn/internal.h"

/* Arrays grow by doubling inside the arena (the old block is abandoned):
 * models are built once, so the waste is bounded by the final size. */
typedef struct tensor_list {
    nb_tensor **items;
    int count, capacity;
} tensor_list;

struct nb_model {
    nb_ctx *ctx;
    tensor_list params, buffers;
    nb_module *first, *last;
};

char *nb__name_join(nb_ctx *ctx, const char *prefix, const char *name) {
    if (!name) name = "";
    if (!prefix || !prefix[0]) return nb__strdup(ctx, name);
    size_t lp = strlen(prefix), ln = strlen(name);
    char *s = nb__alloc(ctx, lp + ln + 2);
    if (!s) return NULL;
    memcpy(s, prefix, lp);
    s[lp] = '.';
    memcpy(s + lp + 1, name, ln + 1);
    return s;
}

nb_model *nb_model_new(nb_ctx *ctx) {
    if (!ctx || nb_error(ctx)) return NULL;
    nb_model *m = nb__alloc(ctx, sizeof *m);
    if (m) m->ctx = ctx;
    return m;
}

nb_ctx *nb_model_ctx(const nb_model *m) { return m ? m->ctx : NULL; }

nb_tensor *nb_model_find(const nb_model *m, const char *name) {
    if (!m || !name) return NULL;
    for (int i = 0; i < m->params.count; i++)
        if (strcmp(m->params.items[i]->name, name) == 0) return m->params.items[i];
    for (int i = 0; i < m->buffers.count; i++)
        if (strcmp(m->buffers.items[i]->name, name) == 0) return m->buffers.items[i];
    return NULL;
}

static int list_push(nb_ctx *ctx, tensor_list *l, nb_tensor *t) {
    if (l->count == l->capacity) {
        int cap = l->capacity ? 2 * l->capacity : 16;
        nb_tensor **items = nb__alloc(ctx, (size_t)cap * sizeof *items);
        if (!items) return nb_error(ctx);
        if (l->count) memcpy(items, l->items, (size_t)l->count * sizeof *items);
        l->items = items;
        l->capacity = cap;
    }
    l->items[l->count++] = t;
    return NB_OK;
}

/* The checks shared by parameters and buffers: a named leaf of this context
 * whose name is not taken yet. */
static int check_new(nb_model *m, nb_tensor *t, const char *what) {
    if (!m) return NB_ERR_NULL;
    if (nb_error(m->ctx)) return nb_error(m->ctx);
    if (!t) return nb__error(m->ctx, NB_ERR_NULL, "model_add_%s: tensor is NULL", what);
    if (t->ctx != m->ctx)
        return nb__error(m->ctx, NB_ERR_ARG, "model_add_%s: tensor belongs to another context", what);
    if (!t->name || !t->name[0])
        return nb__error(m->ctx, NB_ERR_ARG, "model_add_%s: tensor has no name", what);
    if (t->op)
        return nb__error(m->ctx, NB_ERR_ARG, "model_add_%s: '%s' is the output of %s, not a leaf",
                         what, t->name, t->op->name);
    if (nb_model_find(m, t->name))
        return nb__error(m->ctx, NB_ERR_ARG, "model_add_%s: the name '%s' is already used in this model",
                         what, t->name);
    return NB_OK;
}

int nb_model_add_param(nb_model *m, nb_tensor *p) {
    int rc = check_new(m, p, "param");
    if (rc != NB_OK) return rc;
    if (!(p->flags & NB_PARAM))
        return nb__error(m->ctx, NB_ERR_ARG, "model_add_param: '%s' is not a parameter (NB_PARAM)", p->name);
    return list_push(m->ctx, &m->params, p);
}

int nb_model_add_buffer(nb_model *m, nb_tensor *b) {
    int rc = check_new(m, b, "buffer");
    if (rc != NB_OK) return rc;
    if (b->flags & (NB_PARAM | NB_REQUIRES_GRAD))
        return nb__error(m->ctx, NB_ERR_ARG,
                         "model_add_buffer: '%s' is trainable; buffers hold state that is not", b->name);
    return list_push(m->ctx, &m->buffers, b);
}

nb_tensor *nb_model_param_new(nb_model *m, const char *prefix, const char *name, int ndim,
                              const int64_t *shape) {
    if (!m || nb_error(m->ctx)) return NULL;
    char *full = nb__name_join(m->ctx, prefix, name);
    if (!full) return NULL;
    /* check the name first so a clash leaves no orphan tensor behind */
    if (nb_model_find(m, full))
        return nb__error(m->ctx, NB_ERR_ARG, "model_param_new: the name '%s' is already used in this model",
                         full), NULL;
    nb_tensor *p = nb_param_new(m->ctx, full, ndim, shape);
    if (!p || nb_model_add_param(m, p) != NB_OK) return NULL;
    return p;
}

nb_tensor *nb_model_buffer_new(nb_model *m, const char *prefix, const char *name, int ndim,
                               const int64_t *shape) {
    if (!m || nb_error(m->ctx)) return NULL;
    char *full = nb__name_join(m->ctx, prefix, name);
    if (!full) return NULL;
    if (nb_model_find(m, full))
        return nb__error(m->ctx, NB_ERR_ARG, "model_buffer_new: the name '%s' is already used in this model",
                         full), NULL;
    nb_tensor *b = nb_tensor_new(m->ctx, ndim, shape);
    if (!b || nb_tensor_set_name(b, full) != NB_OK || nb_model_add_buffer(m, b) != NB_OK) return NULL;
    return b;
}

int nb_model_num_params(const nb_model *m) { return m ? m->params.count : 0; }
nb_tensor *nb_model_param(const nb_model *m, int i) {
    return m && i >= 0 && i < m->params.count ? m->params.items[i] : NULL;
}
nb_tensor *const *nb_model_params(const nb_model *m) { return m ? m->params.items : NULL; }
int nb_model_num_buffers(const nb_model *m) { return m ? m->buffers.count : 0; }
nb_tensor *nb_model_buffer(const nb_model *m, int i) {
    return m && i >= 0 && i < m->buffers.count ? m->buffers.items[i] : NULL;
}
nb_tensor *const *nb_model_buffers(const nb_model *m) { return m ? m->buffers.items : NULL; }

int64_t nb_model_param_elements(const nb_model *m) {
    int64_t n = 0;
    for (int i = 0; m && i < m->params.count; i++) n += m->params.items[i]->size;
    return n;
}

/* ---- modules ---- */

int nb_module_register(nb_model *m, nb_module *mod) {
    if (!m) return NB_ERR_NULL;
    if (nb_error(m->ctx)) return nb_error(m->ctx);
    if (!mod || !mod->forward)
        return nb__error(m->ctx, NB_ERR_NULL, "module_register: module or its forward is NULL");
    for (nb_module *o = m->first; o; o = o->next)
        if (o == mod) return nb__error(m->ctx, NB_ERR_STATE, "module_register: '%s' is registered twice",
                                       mod->name ? mod->name : "");
    mod->model = m;
    mod->next = NULL;
    if (m->last) m->last->next = mod;
    else m->first = mod;
    m->last = mod;
    return NB_OK;
}

void *nb__module_new(nb_model *m, size_t bytes, const char *kind, const char *name,
                     nb_tensor *(*forward)(nb_module *, nb_tensor *)) {
    if (!m || nb_error(m->ctx)) return NULL;
    nb_module *mod = nb__alloc(m->ctx, bytes);
    if (!mod) return NULL;
    mod->kind = kind;
    mod->name = nb__strdup(m->ctx, name ? name : "");
    mod->forward = forward;
    if (!mod->name || nb_module_register(m, mod) != NB_OK) return NULL;
    return mod;
}

nb_tensor *nb_module_forward(nb_module *mod, nb_tensor *x) {
    if (!mod || !mod->model) return NULL;
    nb_ctx *ctx = mod->model->ctx;
    if (nb_error(ctx)) return NULL;
    nb_tensor *y = mod->forward(mod, x);
    if (y) mod->output = y;
    return y;
}

/* ---- summary ---- */

int nb_model_summary(const nb_model *m, FILE *out) {
    if (!m || !out) return NB_ERR_NULL;
    int w = 5; /* width of the name column: the longest name, at least "layer" */
    for (nb_module *mod = m->first; mod; mod = mod->next) {
        int len = (int)strlen(mod->name);
        if (!mod->is_container && len > w) w = len;
    }
    int bad = fprintf(out, "%-*s  %-10s  %-20s  %12s\n", w, "layer", "kind", "output shape", "parameters") < 0;
    char shape[NB_SHAPE_BUF];
    for (nb_module *mod = m->first; mod; mod = mod->next) {
        if (mod->is_container) continue;
        if (mod->output) nb__shape_str(mod->output, shape);
        else strcpy(shape, "-");
        bad |= fprintf(out, "%-*s  %-10s  %-20s  %12lld\n", w, mod->name, mod->kind, shape,
                       (long long)mod->num_params) < 0;
    }
    int64_t nbuf = 0;
    for (int i = 0; i < m->buffers.count; i++) nbuf += m->buffers.items[i]->size;
    bad |= fprintf(out, "total: %lld trainable parameters in %d tensors; %lld buffer values in %d tensors\n",
                   (long long)nb_model_param_elements(m), m->params.count, (long long)nbuf,
                   m->buffers.count) < 0;
    return bad ? NB_ERR_IO : NB_OK;
}
