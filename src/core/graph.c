/* core/graph.c — the graph of one output: its nodes in topological order, the
 * gradient memory planned once, and the forward and backward drivers that
 * replay it every step without allocating. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/engine.h"

static double clock_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Creation order is already a topological order (an op's inputs exist before
 * it), so the graph is the creation-ordered list filtered to what the output
 * reaches: mark reachable tensors walking ids downwards, keep them in order. */
nb_graph *nb_graph_new(nb_ctx *ctx, nb_tensor *output) {
    if (!ctx || ctx->error) return NULL;
    if (!output) return nb__error(ctx, NB_ERR_NULL, "graph_new: output is NULL"), NULL;
    if (output->ctx != ctx)
        return nb__error(ctx, NB_ERR_ARG, "graph_new: output belongs to another context"), NULL;

    int64_t n = output->id + 1;
    /* Build-time scratch, from the arena: graphs are built once, not per step. */
    nb_tensor **by_id = nb__alloc(ctx, (size_t)n * sizeof *by_id);
    unsigned char *reach = nb__alloc(ctx, (size_t)n);
    if (!by_id || !reach) return NULL;
    for (nb_tensor *t = ctx->first; t && t->id < n; t = t->next) by_id[t->id] = t;
    reach[output->id] = 1;
    int nnodes = 0, nparams = 0;
    for (int64_t id = n - 1; id >= 0; id--) {
        if (!reach[id]) continue;
        nb_tensor *t = by_id[id];
        nnodes++;
        if (t->flags & NB_PARAM) nparams++;
        for (int i = 0; i < t->nsrc; i++) reach[t->src[i]->id] = 1;
    }

    nb_graph *g = nb__alloc(ctx, sizeof *g);
    if (!g) return NULL;
    g->ctx = ctx;
    g->output = output;
    g->nodes = nb__alloc(ctx, (size_t)nnodes * sizeof *g->nodes);
    g->params = nb__alloc(ctx, (size_t)(nparams ? nparams : 1) * sizeof *g->params);
    if (!g->nodes || !g->params) return NULL;
    for (int64_t id = 0; id < n; id++) {
        if (!reach[id]) continue;
        nb_tensor *t = by_id[id];
        g->nodes[g->nnodes++] = t;
        if (t->flags & NB_PARAM) g->params[g->nparams++] = t;
        /* Plan gradient memory for intermediates once; leaves got theirs
         * when they were made to require a gradient. */
        if (t->op && (t->flags & NB_REQUIRES_GRAD) && !t->grad) {
            t->grad = nb__alloc(ctx, (size_t)t->size * sizeof(float));
            if (!t->grad) return NULL;
        }
    }
    return g;
}

int nb_graph_forward(nb_graph *g) {
    if (!g) return NB_ERR_NULL;
    if (g->ctx->error) return g->ctx->error;
    double *prof = g->profiling ? g->prof : NULL;
    if (prof) g->prof_steps++;
    for (int i = 0; i < g->nnodes; i++) {
        nb_tensor *t = g->nodes[i];
        if (t->op) {
            const double t0 = prof ? clock_s() : 0.0;
            int rc = t->op->forward(t);
            if (prof) prof[2 * i] += clock_s() - t0;
            if (rc != NB_OK) return rc;
        }
    }
    return NB_OK;
}

static void clear_grad(nb_tensor *t) {
    memset(t->grad, 0, (size_t)t->size * sizeof(float));
    t->grad_written = 1;
    t->grad_stale = 0;
}

void nb_tensor_grad_settle(nb_tensor *t) {
    if (t && t->grad && t->grad_stale) clear_grad(t);
}

/* Before node t's backward: its own gradient, if no consumer wrote it, is
 * zero; each input gradient that holds nothing of this step yet (an
 * intermediate not yet written, or a leaf nb_graph_zero_grad marked) is
 * either handed to the op to overwrite (a declared slot, the tensor in no
 * other slot) or cleared now. */
static void prepare_src_grads(nb_tensor *t) {
    if (!t->grad_written) clear_grad(t);
    unsigned fresh = 0;
    for (int k = 0; k < t->nsrc; k++) {
        nb_tensor *s = t->src[k];
        if (!s->grad || (s->op ? s->grad_written : !s->grad_stale)) continue;
        int once = 1;
        for (int m = 0; m < t->nsrc; m++) once &= m == k || t->src[m] != s;
        if (once && k < 8 && ((t->op->overwrites >> k) & 1u)) {
            fresh |= 1u << k;
            s->grad_written = 1;
            s->grad_stale = 0;
        } else {
            clear_grad(s);
        }
    }
    t->grad_fresh = (unsigned char)fresh;
}

int nb_graph_backward(nb_graph *g) {
    if (!g) return NB_ERR_NULL;
    nb_ctx *ctx = g->ctx;
    if (ctx->error) return ctx->error;
    nb_tensor *out = g->output;
    char buf[NB_SHAPE_BUF];
    if (out->size != 1)
        return nb__error(ctx, NB_ERR_STATE,
                         "backward: the output must be a scalar, not shape %s", nb__shape_str(out, buf));
    if (!(out->flags & NB_REQUIRES_GRAD))
        return nb__error(ctx, NB_ERR_STATE,
                         "backward: the output does not depend on anything requiring a gradient");
    double *prof = g->profiling ? g->prof : NULL;
    double t0 = 0.0;
    /* Intermediate gradients are per-step scratch (leaves accumulate across
     * steps): each is cleared only right before its first writer adds to it,
     * or not at all when that writer overwrites it (nb_op_def.overwrites). */
    for (int i = 0; i < g->nnodes; i++) g->nodes[i]->grad_written = 0;
    out->grad[0] = 1.0f;
    out->grad_written = 1;
    for (int i = g->nnodes - 1; i >= 0; i--) {
        nb_tensor *t = g->nodes[i];
        if (t->op && t->grad && t->op->backward) {
            if (prof) t0 = clock_s();
            prepare_src_grads(t);
            if (prof) g->prof_zero += clock_s() - t0, t0 = clock_s();
            t->op->backward(t);
            t->grad_fresh = 0;
            if (prof) prof[2 * i + 1] += clock_s() - t0;
        } else if (t->grad_stale) { /* a marked leaf no consumer wrote: zero, as promised */
            clear_grad(t);
        }
        if (g->hook) g->hook(g, i, t, g->hook_user);
    }
    return ctx->error;
}

/* Leaves only: intermediate gradients are per-step scratch that backward
 * zeroes itself. A leaf is only marked: backward's first writer then stores
 * its gradient (a linear layer's dW GEMM runs with beta = 0), saving a
 * memset and a read of the old values per parameter per step. */
void nb_graph_zero_grad(nb_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->nnodes; i++) {
        nb_tensor *t = g->nodes[i];
        if (!t->op && t->grad) t->grad_stale = 1;
    }
}

nb_tensor *nb_graph_output(const nb_graph *g) { return g ? g->output : NULL; }
int nb_graph_num_nodes(const nb_graph *g) { return g ? g->nnodes : 0; }
int nb_graph_num_params(const nb_graph *g) { return g ? g->nparams : 0; }
nb_tensor *nb_graph_param(const nb_graph *g, int i) {
    return g && i >= 0 && i < g->nparams ? g->params[i] : NULL;
}
nb_tensor *nb_graph_node(const nb_graph *g, int i) {
    return g && i >= 0 && i < g->nnodes ? g->nodes[i] : NULL;
}

void nb_graph_set_backward_hook(nb_graph *g, nb_backward_hook fn, void *user) {
    if (!g) return;
    g->hook = fn;
    g->hook_user = fn ? user : NULL;
}

int nb_graph_profile(nb_graph *g, int on) {
    if (!g) return NB_ERR_NULL;
    if (on && !g->prof) {
        g->prof = nb__alloc(g->ctx, (size_t)(2 * g->nnodes + 1) * sizeof *g->prof);
        if (!g->prof) return nb_error(g->ctx);
    }
    if (on) {
        memset(g->prof, 0, (size_t)(2 * g->nnodes) * sizeof *g->prof);
        g->prof_zero = 0.0;
        g->prof_steps = 0;
    }
    g->profiling = on != 0;
    return NB_OK;
}

/* One row of the report: an op kind's totals. */
typedef struct {
    const char *name;
    int nodes;
    double fwd, bwd;
} prof_row;

static int by_total_desc(const void *a, const void *b) {
    const prof_row *x = a, *y = b;
    const double tx = x->fwd + x->bwd, ty = y->fwd + y->bwd;
    return (tx < ty) - (tx > ty);
}

int nb_graph_profile_report(const nb_graph *g, FILE *f) {
    if (!g || !f) return NB_ERR_NULL;
    if (!g->prof) return nb__error(g->ctx, NB_ERR_STATE, "profile_report: profiling was never enabled");
    /* rows are grouped by op name (ops are few, a linear search is enough) */
    prof_row *rows = calloc((size_t)g->nnodes + 1, sizeof *rows);
    if (!rows) return nb__error(g->ctx, NB_ERR_ALLOC, "profile_report: out of memory");
    int nrows = 0;
    double total = g->prof_zero;
    for (int i = 0; i < g->nnodes; i++) {
        const nb_tensor *t = g->nodes[i];
        if (!t->op) continue;
        int r = 0;
        while (r < nrows && strcmp(rows[r].name, t->op->name) != 0) r++;
        if (r == nrows) rows[nrows++] = (prof_row){t->op->name, 0, 0.0, 0.0};
        rows[r].nodes++;
        rows[r].fwd += g->prof[2 * i];
        rows[r].bwd += g->prof[2 * i + 1];
        total += g->prof[2 * i] + g->prof[2 * i + 1];
    }
    rows[nrows++] = (prof_row){"(clear gradients)", 0, 0.0, g->prof_zero};
    qsort(rows, (size_t)nrows, sizeof *rows, by_total_desc);
    const double steps = g->prof_steps > 0 ? (double)g->prof_steps : 1.0;
    fprintf(f, "graph profile: %lld forward passes, %.3f ms per step in the graph\n",
            (long long)g->prof_steps, 1e3 * total / steps);
    fprintf(f, "%-20s %6s %12s %12s %7s\n", "op", "nodes", "fwd ms/step", "bwd ms/step", "share");
    for (int r = 0; r < nrows; r++)
        fprintf(f, "%-20s %6d %12.3f %12.3f %6.1f%%\n", rows[r].name, rows[r].nodes,
                1e3 * rows[r].fwd / steps, 1e3 * rows[r].bwd / steps,
                total > 0 ? 100.0 * (rows[r].fwd + rows[r].bwd) / total : 0.0);
    free(rows);
    return NB_OK;
}
