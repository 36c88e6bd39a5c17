/* dist/dist.c — data-parallel training over MPI: start-up, gradient buckets
 * reduced in a fixed order and overlapped with backward through the graph's
 * backward hook, blocking helpers (broadcast, ordered sums) and the bounded
 * start-up consistency check. The design is described in nabla/dist.h. */
#include <limits.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/engine.h"

/* ---- process-wide state ----------------------------------------------------------- */
static int g_inited;          /* nb_dist_init succeeded */
static int g_we_initialised;  /* ... and called MPI_Init itself */
static int g_rank, g_size = 1;
static MPI_Comm g_comm = MPI_COMM_NULL; /* private duplicate for blocking helpers */

enum { TAG_CHECK_HASH = 7101, TAG_CHECK_VERDICT = 7102 };

int nb_dist_available(void) { return 1; }

int nb_dist_init(int *argc, char ***argv, char *err, size_t errlen) {
    if (g_inited) return NB_OK;
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
        int provided = 0;
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            if (err && errlen) snprintf(err, errlen, "dist: MPI_Init_thread failed");
            return NB_ERR_STATE;
        }
        g_we_initialised = 1;
        /* Only the main thread calls MPI; FUNNELED is all nabla needs, and any
         * MPI provides at least SINGLE, which is the same in practice here. */
        (void)provided;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm_dup(MPI_COMM_WORLD, &g_comm);
    g_inited = 1;
    return NB_OK;
}

int nb_dist_finalize(void) {
    if (!g_inited) return NB_ERR_STATE;
    MPI_Comm_free(&g_comm);
    g_inited = 0;
    if (g_we_initialised) {
        g_we_initialised = 0;
        MPI_Finalize();
    }
    g_rank = 0;
    g_size = 1;
    return NB_OK;
}

int nb_dist_rank(void) { return g_inited ? g_rank : 0; }
int nb_dist_size(void) { return g_inited ? g_size : 1; }

void nb_dist_abort(int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "nabla: rank %d: %s\n", nb_dist_rank(), msg);
    fflush(stderr);
    fflush(stdout);
    if (!code) code = 1;
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

static double now_s(void) { return MPI_Wtime(); }

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- gradient buckets ---------------------------------------------------------------- */
enum { B_IDLE = 0, B_SCATTER, B_GATHER, B_DONE };

typedef struct bucket {
    int64_t off, len;       /* floats within the flat buffer */
    int trigger;            /* start after this node's backward; -1: at sync */
    int state;
    MPI_Request req;
    int *cnt, *displ;       /* chunk j of the bucket: [displ[j], displ[j] + cnt[j]) */
    int *rcnt, *rdispl;     /* what this rank receives: R copies of its chunk */
    float *scratch;         /* R * cnt[rank] floats */
} bucket;

struct nb_dist {
    nb_ctx *ctx;
    MPI_Comm comm;          /* scatter phases (and MPI_Iallreduce) */
    MPI_Comm comm2;         /* gather phases: a second communicator keeps each
                             * one's collectives in bucket order on every rank */
    int rank, size;
    int n;
    nb_tensor **params;
    float **own_grad;       /* the grads the parameters came with */
    float *flat;
    int64_t flat_len;
    size_t bucket_bytes;
    bucket *b;
    int nb;
    int next;               /* first bucket not started */
    int scatter_done;       /* buckets [0, scatter_done) are past their scatter */
    int last_node;          /* node of the previous hook call, INT_MAX after sync */
    double *weight;         /* n_r / B for every rank */
    nb_dist_reduction mode;
    nb_graph *g;
    double comm_s;
};

static void free_buckets(nb_dist *d) {
    for (int k = 0; d->b && k < d->nb; k++) {
        free(d->b[k].cnt);
        free(d->b[k].scratch);
    }
    free(d->b);
    d->b = NULL;
    d->nb = 0;
}

/* Lay the gradients out in the order given (params[order[k]]), each padded to
 * 16 floats so every tensor stays 64-byte aligned, and cut buckets. The
 * current gradient values move along. */
static int layout(nb_dist *d, const int *order, const int *trig) {
    int64_t total = 0;
    for (int k = 0; k < d->n; k++) total += (d->params[k]->size + 15) / 16 * 16;
    float *flat = aligned_alloc(64, (size_t)(total ? total : 16) * sizeof(float));
    int *starts = malloc((size_t)(d->n + 1) * sizeof *starts);
    if (!flat || !starts) {
        free(flat);
        free(starts);
        return nb__error(d->ctx, NB_ERR_ALLOC, "dist: out of memory for %lld gradient floats",
                         (long long)total);
    }
    memset(flat, 0, (size_t)(total ? total : 16) * sizeof(float));
    int nb = 0;
    int64_t off = 0, bstart = 0;
    for (int k = 0; k < d->n; k++) {
        nb_tensor *p = d->params[order[k]];
        int64_t padded = (p->size + 15) / 16 * 16;
        if (k > 0 && (size_t)(off - bstart + p->size) * sizeof(float) > d->bucket_bytes) {
            starts[nb++] = k;
            bstart = off;
        } else if (k == 0) {
            starts[nb++] = 0;
        }
        memcpy(flat + off, p->grad, (size_t)p->size * sizeof(float));
        p->grad = flat + off;
        off += padded;
    }
    starts[nb] = d->n;
    free(d->flat);
    d->flat = flat;
    d->flat_len = total;
    free_buckets(d);

    d->b = calloc((size_t)(nb ? nb : 1), sizeof *d->b);
    if (!d->b) {
        free(starts);
        return nb__error(d->ctx, NB_ERR_ALLOC, "dist: out of memory for %d buckets", nb);
    }
    d->nb = nb;
    int R = d->size;
    for (int j = 0; j < nb; j++) {
        bucket *b = &d->b[j];
        nb_tensor *first = d->params[order[starts[j]]];
        nb_tensor *last = d->params[order[starts[j + 1] - 1]];
        b->off = first->grad - flat;
        b->len = last->grad + last->size - first->grad;
        /* Ordered by trigger descending, so the bucket's last tensor is the
         * last one to become final. */
        b->trigger = trig ? trig[order[starts[j + 1] - 1]] : -1;
        if (b->len > INT_MAX) {
            free(starts);
            return nb__error(d->ctx, NB_ERR_ARG, "dist: bucket %d holds %lld floats, above MPI's int counts",
                             j, (long long)b->len);
        }
        b->cnt = malloc((size_t)4 * (size_t)R * sizeof(int));
        if (!b->cnt) {
            free(starts);
            return nb__error(d->ctx, NB_ERR_ALLOC, "dist: out of memory for bucket %d", j);
        }
        b->displ = b->cnt + R;
        b->rcnt = b->cnt + 2 * R;
        b->rdispl = b->cnt + 3 * R;
        for (int r = 0; r < R; r++) {
            int64_t o, c;
            nb_dist_split(b->len, r, R, &o, &c);
            b->cnt[r] = (int)c;
            b->displ[r] = (int)o;
        }
        int mine = b->cnt[d->rank];
        for (int r = 0; r < R; r++) {
            b->rcnt[r] = mine;
            b->rdispl[r] = r * mine;
        }
        b->scratch = malloc((size_t)(mine ? mine : 1) * (size_t)R * sizeof(float));
        if (!b->scratch) {
            free(starts);
            return nb__error(d->ctx, NB_ERR_ALLOC, "dist: out of memory for bucket %d", j);
        }
    }
    free(starts);
    return NB_OK;
}

nb_dist *nb_dist_new(nb_tensor *const *params, int n, size_t bucket_bytes) {
    if (!params || n < 1 || !params[0]) return NULL;
    nb_ctx *ctx = params[0]->ctx;
    if (ctx->error) return NULL;
    if (!g_inited)
        return nb__error(ctx, NB_ERR_STATE, "dist_new: call nb_dist_init first"), NULL;
    for (int i = 0; i < n; i++) {
        if (!params[i]) return nb__error(ctx, NB_ERR_NULL, "dist_new: parameter %d is NULL", i), NULL;
        if (!params[i]->grad)
            return nb__error(ctx, NB_ERR_ARG, "dist_new: parameter %d ('%s') has no gradient", i,
                             params[i]->name ? params[i]->name : "(unnamed)"),
                   NULL;
        for (int j = 0; j < i; j++)
            if (params[j] == params[i])
                return nb__error(ctx, NB_ERR_ARG, "dist_new: parameter %d is also parameter %d", i, j),
                       NULL;
    }
    nb_dist *d = calloc(1, sizeof *d);
    if (!d) return nb__error(ctx, NB_ERR_ALLOC, "dist_new: out of memory"), NULL;
    d->ctx = ctx;
    d->n = n;
    d->rank = g_rank;
    d->size = g_size;
    d->bucket_bytes = bucket_bytes ? bucket_bytes : (size_t)1 << 20;
    d->last_node = INT_MAX;
    d->comm = d->comm2 = MPI_COMM_NULL;
    d->params = malloc((size_t)n * sizeof *d->params);
    d->own_grad = malloc((size_t)n * sizeof *d->own_grad);
    d->weight = malloc((size_t)g_size * sizeof *d->weight);
    int *order = malloc((size_t)n * sizeof *order);
    if (!d->params || !d->own_grad || !d->weight || !order) {
        free(d->params), free(d->own_grad), free(d->weight), free(order), free(d);
        return nb__error(ctx, NB_ERR_ALLOC, "dist_new: out of memory"), NULL;
    }
    for (int i = 0; i < n; i++) {
        d->params[i] = params[i];
        d->own_grad[i] = params[i]->grad;
        order[i] = n - 1 - i; /* reverse creation order: roughly backward's */
    }
    for (int r = 0; r < g_size; r++) d->weight[r] = 1.0 / g_size;
    MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    MPI_Comm_dup(MPI_COMM_WORLD, &d->comm2);
    int rc = layout(d, order, NULL);
    free(order);
    if (rc != NB_OK) {
        nb_dist_free(d);
        return NULL;
    }
    return d;
}

void nb_dist_free(nb_dist *d) {
    if (!d) return;
    if (d->g) nb_graph_set_backward_hook(d->g, NULL, NULL);
    /* Reductions still in flight must finish before their buffers go. */
    for (int k = 0; d->b && k < d->nb; k++)
        if (d->b[k].state == B_SCATTER || d->b[k].state == B_GATHER) MPI_Wait(&d->b[k].req, MPI_STATUS_IGNORE);
    for (int i = 0; d->flat && i < d->n; i++) {
        memcpy(d->own_grad[i], d->params[i]->grad, (size_t)d->params[i]->size * sizeof(float));
        d->params[i]->grad = d->own_grad[i];
    }
    free_buckets(d);
    free(d->flat);
    if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
    if (d->comm2 != MPI_COMM_NULL) MPI_Comm_free(&d->comm2);
    free(d->params), free(d->own_grad), free(d->weight), free(d);
}

int nb_dist_set_weight(nb_dist *d, int64_t local, int64_t global) {
    if (!d) return NB_ERR_NULL;
    if (local < 0 || global < 1 || local > global)
        return nb__error(d->ctx, NB_ERR_ARG, "dist_set_weight: rank %d has %lld of %lld samples",
                         d->rank, (long long)local, (long long)global);
    int64_t mine[2] = {local, global};
    int64_t *all = malloc((size_t)d->size * 2 * sizeof *all);
    if (!all) return nb__error(d->ctx, NB_ERR_ALLOC, "dist_set_weight: out of memory");
    MPI_Allgather(mine, 2, MPI_INT64_T, all, 2, MPI_INT64_T, d->comm);
    int64_t sum = 0;
    int bad = -1;
    for (int r = 0; r < d->size; r++) {
        sum += all[2 * r];
        if (all[2 * r + 1] != global && bad < 0) bad = r;
    }
    int rc = NB_OK;
    if (bad >= 0)
        rc = nb__error(d->ctx, NB_ERR_ARG, "dist_set_weight: rank %d has a global batch of %lld, rank %d of %lld",
                       bad, (long long)all[2 * bad + 1], d->rank, (long long)global);
    else if (sum != global)
        rc = nb__error(d->ctx, NB_ERR_ARG, "dist_set_weight: the ranks' shares add up to %lld, not the global %lld",
                       (long long)sum, (long long)global);
    else
        for (int r = 0; r < d->size; r++) d->weight[r] = (double)all[2 * r] / (double)global;
    free(all);
    return rc;
}

int nb_dist_set_reduction(nb_dist *d, nb_dist_reduction mode) {
    if (!d) return NB_ERR_NULL;
    if (mode != NB_DIST_ORDERED && mode != NB_DIST_ALLREDUCE)
        return nb__error(d->ctx, NB_ERR_ARG, "dist_set_reduction: unknown mode %d", (int)mode);
    if (d->next > 0)
        return nb__error(d->ctx, NB_ERR_STATE, "dist_set_reduction: a reduction is in progress");
    d->mode = mode;
    return NB_OK;
}

int nb_dist_num_buckets(const nb_dist *d) { return d ? d->nb : 0; }
int nb_dist_num_started(const nb_dist *d) { return d ? d->next : 0; }
double nb_dist_comm_seconds(const nb_dist *d) { return d ? d->comm_s : 0.0; }

static void scale(float *x, int64_t n, float w) {
    for (int64_t i = 0; i < n; i++) x[i] *= w;
}

static void start_bucket(nb_dist *d, bucket *b) {
    float *base = d->flat + b->off;
    if (d->mode == NB_DIST_ALLREDUCE || d->size == 1) {
        float w = (float)d->weight[d->rank];
        if (w != 1.0f) scale(base, b->len, w);
        if (d->size == 1) {
            b->state = B_DONE;
            return;
        }
        MPI_Iallreduce(MPI_IN_PLACE, base, (int)b->len, MPI_FLOAT, MPI_SUM, d->comm, &b->req);
        b->state = B_GATHER;
        return;
    }
    MPI_Ialltoallv(base, b->cnt, b->displ, MPI_FLOAT, b->scratch, b->rcnt, b->rdispl, MPI_FLOAT,
                   d->comm, &b->req);
    b->state = B_SCATTER;
}

/* This rank's chunk: the R contributions added in rank order, in double, each
 * with its weight, rounded once. Then everyone gets everyone's chunk. */
static void reduce_and_gather(nb_dist *d, bucket *b) {
    int R = d->size, c = b->cnt[d->rank];
    float *dst = d->flat + b->off + b->displ[d->rank];
    for (int k = 0; k < c; k++) {
        double s = 0.0;
        for (int r = 0; r < R; r++) s += d->weight[r] * (double)b->scratch[(size_t)r * c + k];
        dst[k] = (float)s;
    }
    MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, d->flat + b->off, b->cnt, b->displ, MPI_FLOAT,
                    d->comm2, &b->req);
    b->state = B_GATHER;
}

/* Advance what has arrived. Gathers are started strictly in bucket order (the
 * scatter of bucket k+1 may finish first on one rank and not on another). */
static void progress(nb_dist *d, int blocking) {
    while (d->scatter_done < d->next) {
        bucket *b = &d->b[d->scatter_done];
        if (b->state == B_SCATTER) {
            int done = 0;
            if (blocking)
                MPI_Wait(&b->req, MPI_STATUS_IGNORE), done = 1;
            else
                MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
            if (!done) break;
            reduce_and_gather(d, b);
        }
        d->scatter_done++;
    }
    for (int k = 0; k < d->next; k++) {
        bucket *b = &d->b[k];
        if (b->state != B_GATHER) continue;
        int done = 0;
        if (blocking)
            MPI_Wait(&b->req, MPI_STATUS_IGNORE), done = 1;
        else
            MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
        if (done) b->state = B_DONE;
    }
}

static void backward_hook(nb_graph *g, int i, nb_tensor *node, void *user) {
    (void)g, (void)node;
    nb_dist *d = user;
    if (i >= d->last_node) {
        nb__error(d->ctx, NB_ERR_STATE,
                  "dist: backward ran again before nb_dist_sync_grads finished the previous one");
        d->last_node = INT_MAX - 1; /* report once; sync resets */
        return;
    }
    d->last_node = i;
    if (d->next == 0 && d->b[0].trigger < i) return; /* nothing ready yet */
    double t0 = now_s();
    while (d->next < d->nb && d->b[d->next].trigger >= i) start_bucket(d, &d->b[d->next++]);
    progress(d, 0);
    d->comm_s += now_s() - t0;
}

static int cmp_by_trigger(const void *a, const void *b, void *ctx) {
    const int *trig = ctx;
    int x = *(const int *)a, y = *(const int *)b;
    if (trig[x] != trig[y]) return trig[x] > trig[y] ? -1 : 1;
    return x > y ? -1 : x < y;
}

/* Insertion sort with a context (qsort_r is not C11); n is the parameter count. */
static void sort_order(int *order, int n, const int *trig) {
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && cmp_by_trigger(&order[j], &v, (void *)trig) > 0) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
}

int nb_dist_attach(nb_dist *d, nb_graph *g) {
    if (!d) return NB_ERR_NULL;
    if (d->next > 0) return nb__error(d->ctx, NB_ERR_STATE, "dist_attach: a reduction is in progress");
    if (d->g) nb_graph_set_backward_hook(d->g, NULL, NULL);
    d->g = NULL;
    if (!g) return NB_OK;
    if (g->ctx != d->ctx)
        return nb__error(d->ctx, NB_ERR_ARG, "dist_attach: the graph belongs to another context");
    /* A parameter's gradient is final once its lowest-index consumer has run
     * backward (backward walks the nodes downwards). */
    int *trig = malloc((size_t)d->n * sizeof *trig);
    int *order = malloc((size_t)d->n * sizeof *order);
    if (!trig || !order) {
        free(trig), free(order);
        return nb__error(d->ctx, NB_ERR_ALLOC, "dist_attach: out of memory");
    }
    for (int k = 0; k < d->n; k++) trig[k] = -1, order[k] = k;
    for (int i = g->nnodes - 1; i >= 0; i--) {
        nb_tensor *t = g->nodes[i];
        for (int s = 0; s < t->nsrc; s++) {
            if (!(t->src[s]->flags & NB_PARAM)) continue;
            for (int k = 0; k < d->n; k++)
                if (d->params[k] == t->src[s]) trig[k] = i;
        }
    }
    sort_order(order, d->n, trig);
    int rc = layout(d, order, trig);
    free(trig), free(order);
    if (rc != NB_OK) return rc;
    d->g = g;
    nb_graph_set_backward_hook(g, backward_hook, d);
    return NB_OK;
}

int nb_dist_sync_grads(nb_dist *d) {
    if (!d) return NB_ERR_NULL;
    double t0 = now_s();
    /* zeroed by nb_graph_zero_grad with no backward since: zeros go out */
    for (int i = 0; i < d->n; i++) nb_tensor_grad_settle(d->params[i]);
    while (d->next < d->nb) start_bucket(d, &d->b[d->next++]);
    progress(d, 1);
    for (int k = 0; k < d->nb; k++) d->b[k].state = B_IDLE;
    d->next = d->scatter_done = 0;
    d->last_node = INT_MAX;
    d->comm_s += now_s() - t0;
    return d->ctx->error;
}

/* ---- blocking helpers -------------------------------------------------------------------- */
int nb_dist_broadcast(void *buf, size_t bytes, int root) {
    if (!g_inited) return NB_ERR_STATE;
    if (!buf && bytes) return NB_ERR_NULL;
    if (root < 0 || root >= g_size) return NB_ERR_ARG;
    char *p = buf;
    while (bytes > 0) {
        int n = bytes > (size_t)INT_MAX ? INT_MAX : (int)bytes;
        MPI_Bcast(p, n, MPI_BYTE, root, g_comm);
        p += n;
        bytes -= (size_t)n;
    }
    return NB_OK;
}

int nb_dist_broadcast_tensors(nb_tensor *const *t, int n, int root) {
    if (!t && n) return NB_ERR_NULL;
    for (int i = 0; i < n; i++) {
        if (!t[i]) return NB_ERR_NULL;
        int rc = nb_dist_broadcast(t[i]->data, (size_t)t[i]->size * sizeof(float), root);
        if (rc != NB_OK) return rc;
    }
    return NB_OK;
}

int nb_dist_sum(double *buf, int n) {
    if (!g_inited) return NB_ERR_STATE;
    if (n < 0) return NB_ERR_ARG;
    if (!buf && n) return NB_ERR_NULL;
    if (n == 0 || g_size == 1) return NB_OK;
    double *all = malloc((size_t)n * (size_t)g_size * sizeof *all);
    if (!all) return NB_ERR_ALLOC;
    MPI_Allgather(buf, n, MPI_DOUBLE, all, n, MPI_DOUBLE, g_comm);
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int r = 0; r < g_size; r++) s += all[(size_t)r * n + i];
        buf[i] = s;
    }
    free(all);
    return NB_OK;
}

static int allsum_cb(double *values, int n, void *user) {
    (void)user;
    return nb_dist_sum(values, n);
}

int nb_dist_install_allsum(nb_ctx *ctx) {
    if (!ctx) return NB_ERR_NULL;
    if (!g_inited) return NB_ERR_STATE;
    nb_ctx_set_allsum(ctx, allsum_cb, NULL);
    return NB_OK;
}

/* ---- start-up consistency check ------------------------------------------------------------
 * Point-to-point rather than a collective, so that on a timeout rank 0 knows
 * exactly which ranks never arrived. */
static int check_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int check_fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return NB_ERR_STATE;
}

/* Poll until every request completed or the deadline passed. */
static int wait_until(int n, MPI_Request *req, double deadline) {
    for (;;) {
        int done = 0;
        MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
        if (done) return 1;
        if (now_s() > deadline) return 0;
        sleep_ms(1);
    }
}

int nb_dist_check(const char *what, uint64_t hash, double timeout_s, char *err, size_t errlen) {
    if (!what) what = "start-up state";
    if (!g_inited) return check_fail(err, errlen, "dist: %s check before nb_dist_init", what);
    if (g_size == 1) return NB_OK;
    if (!(timeout_s > 0)) timeout_s = 0;
    double deadline = now_s() + timeout_s;
    /* verdict: [0 agree / 1 differ / 2 timed out, the rank concerned,
     * its hash, rank 0's hash] */
    enum { V_OK = 0, V_DIFFER = 1, V_TIMEOUT = 2 };
    uint64_t verdict[4] = {V_OK, 0, 0, hash};
    if (g_rank != 0) {
        MPI_Request req[2];
        MPI_Isend(&hash, 1, MPI_UINT64_T, 0, TAG_CHECK_HASH, g_comm, &req[0]);
        MPI_Irecv(verdict, 4, MPI_UINT64_T, 0, TAG_CHECK_VERDICT, g_comm, &req[1]);
        /* A little longer than rank 0 waits, so that when another rank is
         * missing, rank 0's verdict naming it arrives here first. */
        if (!wait_until(2, req, deadline + 2.0))
            return check_fail(err, errlen,
                              "%s check timed out after %g s: no answer from rank 0 "
                              "(it died, is stuck, or runs something else)",
                              what, timeout_s);
    } else {
        uint64_t *h = malloc((size_t)g_size * sizeof *h);
        MPI_Request *req = malloc((size_t)g_size * sizeof *req);
        if (!h || !req) {
            free(h), free(req);
            return check_fail(err, errlen, "%s check: out of memory", what);
        }
        h[0] = hash;
        req[0] = MPI_REQUEST_NULL;
        for (int r = 1; r < g_size; r++) MPI_Irecv(&h[r], 1, MPI_UINT64_T, r, TAG_CHECK_HASH, g_comm, &req[r]);
        char list[200] = "";
        int missing = 0;
        if (!wait_until(g_size, req, deadline)) {
            size_t used = 0;
            for (int r = 1; r < g_size; r++) {
                int done = 0;
                MPI_Test(&req[r], &done, MPI_STATUS_IGNORE);
                if (done) continue;
                if (!missing) verdict[1] = (uint64_t)r;
                missing++;
                if (used < sizeof list - 16)
                    used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", missing > 1 ? ", " : "", r);
            }
            verdict[0] = V_TIMEOUT;
        } else {
            for (int r = 1; r < g_size; r++)
                if (h[r] != hash) {
                    verdict[0] = V_DIFFER;
                    verdict[1] = (uint64_t)r;
                    verdict[2] = h[r];
                    break;
                }
        }
        /* Tell the ranks that arrived; the missing ones' requests stay
         * pending (the caller aborts the job). */
        int nsend = 0;
        for (int r = 1; r < g_size; r++) {
            int arrived = 1;
            if (req[r] != MPI_REQUEST_NULL) MPI_Test(&req[r], &arrived, MPI_STATUS_IGNORE);
            if (arrived) MPI_Isend(verdict, 4, MPI_UINT64_T, r, TAG_CHECK_VERDICT, g_comm, &req[nsend++]);
        }
        int sent = wait_until(nsend, req, now_s() + 1.0);
        free(h), free(req);
        if (verdict[0] == V_TIMEOUT)
            return check_fail(err, errlen, "%s check timed out after %g s: rank%s %s did not arrive "
                              "(died, stuck, or running something else)",
                              what, timeout_s, missing > 1 ? "s" : "", list);
        if (!sent) return check_fail(err, errlen, "%s check: could not send the verdict within 1 s", what);
    }
    if (verdict[0] == V_DIFFER)
        return check_fail(err, errlen, "%s differs: rank %d has %016llx but rank 0 has %016llx", what,
                          (int)verdict[1], (unsigned long long)verdict[2], (unsigned long long)verdict[3]);
    if (verdict[0] == V_TIMEOUT)
        return check_fail(err, errlen, "%s check timed out after %g s on rank 0: rank %d did not arrive "
                          "(died, stuck, or running something else)",
                          what, timeout_s, (int)verdict[1]);
    return NB_OK;
}
