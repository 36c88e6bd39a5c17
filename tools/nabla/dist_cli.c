/* dist_cli.c — the data-parallel side of `nabla train` (see dist_cli.h): MPI
 * launch detection, batch shares and reduction weights, per-step gradient
 * averaging with a stop agreement, sharded evaluation, start-up checks, and
 * the rule that a failure on one rank alone stops the whole job. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "dist_cli.h"
#include "report.h"

/* The environment of a process started by a launcher: Open MPI's mpirun sets
 * OMPI_COMM_WORLD_SIZE, PMIx launchers PMIX_RANK, MPICH's hydra PMI_SIZE.
 * Returns the world size, 0 when not launched, -1 when launched but the size
 * is not in the environment. */
static int launched_size(void) {
    const char *s = getenv("OMPI_COMM_WORLD_SIZE");
    if (!s) s = getenv("PMI_SIZE");
    if (s) {
        int n = atoi(s);
        return n > 0 ? n : -1;
    }
    return getenv("PMIX_RANK") ? -1 : 0;
}

int nbc_dist_start(nbc_dist *dd) {
    memset(dd, 0, sizeof *dd);
    dd->size = 1;
    int n = launched_size();
    if (n == 0) return NBC_EXIT_OK;
    if (!nb_dist_available()) {
        if (n == 1) return NBC_EXIT_OK;
        /* each rank would train alone and write the same files */
        return nbc_usage_error("train", "started by an MPI launcher%s, but this nabla was built without MPI "
                                        "(install libopenmpi-dev and rebuild, or run it without mpirun)",
                               n > 1 ? " with several ranks" : "");
    }
    char err[256];
    if (nb_dist_init(NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "nabla train: %s\n", err);
        return NBC_EXIT_FAIL;
    }
    dd->inited = 1;
    dd->rank = nb_dist_rank();
    dd->size = nb_dist_size();
    dd->on = dd->size > 1;
    const char *t = getenv("NABLA_DIST_TIMEOUT");
    dd->timeout_s = t && atof(t) > 0 ? atof(t) : 30.0;
    /* rank 0 alone prints; errors (stderr) still come from every rank */
    if (dd->rank != 0 && !freopen("/dev/null", "w", stdout)) fclose(stdout);
    return NBC_EXIT_OK;
}

int nbc_dist_rank0(const nbc_dist *dd) { return dd->rank == 0; }

int64_t nbc_dist_rows(const nbc_dist *dd, int64_t global) {
    int64_t off = 0, cnt = global;
    if (dd->on) nb_dist_split(global, dd->rank, dd->size, &off, &cnt);
    return cnt;
}

uint64_t nbc_dist_hash_str(uint64_t h, const char *s) {
    if (!s) s = "(null)";
    return nb_dist_hash(h, s, strlen(s) + 1);
}

static uint64_t hash_data(uint64_t h, const nbc_data *d) {
    const nb_dataset *ds = &d->ds;
    int64_t dims[3] = {ds->n, ds->features, ds->num_classes};
    h = nb_dist_hash(h, dims, sizeof dims);
    size_t cells = (size_t)(ds->n * ds->features);
    if (d->x8) h = nb_dist_hash(h, d->x8, cells);
    else if (ds->x) h = nb_dist_hash(h, ds->x, cells * sizeof(float));
    if (ds->y) h = nb_dist_hash(h, ds->y, (size_t)ds->n * sizeof(float));
    return h;
}

static uint64_t hash_values(uint64_t h, nb_tensor *const *t, int n) {
    for (int i = 0; i < n; i++) h = nb_dist_hash(h, t[i]->data, (size_t)t[i]->size * sizeof(float));
    return h;
}

/* Every rank learns the same verdict; rank 0 reports it, the others give it
 * a moment to do so before stopping the job themselves (rank 0 may be the
 * one that is missing). */
static void check(const nbc_dist *dd, const char *what, uint64_t h, const char *hint) {
    char err[512];
    if (nb_dist_check(what, h, dd->timeout_s, err, sizeof err) == NB_OK) return;
    if (dd->rank != 0) {
        struct timespec ts = {2, 0};
        nanosleep(&ts, NULL);
    }
    nb_dist_abort(NBC_EXIT_USAGE, "%s; %s", err, hint);
}

void nbc_dist_setup(nbc_dist *dd, nbc_net *net, const char *spec_str, uint64_t options_hash,
                    const nbc_data *tr, const nbc_data *ev, nb_graph *full_graph) {
    if (!dd->on) return;
    nb_tensor *const *p = nb_model_params(net->model);
    const int np = nb_model_num_params(net->model);
    nb_tensor *const *buf = nb_model_buffers(net->model);
    const int nbuf = nb_model_num_buffers(net->model);
    uint64_t h = nbc_dist_hash_str(nb_dist_hash_params(p, np), spec_str);
    int64_t io[2] = {net->inputs, net->classes};
    h = nb_dist_hash(h, io, sizeof io);
    check(dd, "model spec", h, "every rank must build the same model (--model and the data's shape)");
    check(dd, "training configuration", options_hash,
          "every rank must get the same training flags (--batch, --lr, --opt, --epochs, --seed, ...)");
    check(dd, "data", hash_data(hash_data(NB_DIST_HASH_INIT, tr), ev),
          "every rank must read the same training and evaluation data (--data, --limit, --val-split)");
    check(dd, "weights checksum", hash_values(hash_values(NB_DIST_HASH_INIT, p, np), buf, nbuf),
          "every rank must start from the same weights (--seed, or the same --resume checkpoint)");
    nb_ctx *ctx = dd->ctx = nb_model_ctx(net->model);
    dd->d = nb_dist_new(p, np, 0);
    if (dd->sync_bn && nb_dist_install_allsum(ctx))
        nb_dist_abort(NBC_EXIT_FAIL, "--sync-bn: installing the cross-process sum failed");
    if (!dd->d || (full_graph && nb_dist_attach(dd->d, full_graph)))
        nb_dist_abort(NBC_EXIT_FAIL, "setting up the gradient reduction: %s", nb_error_message(ctx));
}

int64_t nbc_dist_batch(nbc_dist *dd, int64_t global) {
    if (!dd->on) return 0;
    int64_t off = 0, cnt = 0;
    nb_dist_split(global, dd->rank, dd->size, &off, &cnt);
    if (global != dd->w_global) {
        if (nb_dist_set_weight(dd->d, cnt, global))
            nb_dist_abort(NBC_EXIT_FAIL, "setting the reduction weights: %s", nb_error_message(dd->ctx));
        dd->w_global = global;
    }
    return off;
}

static double now_s(void) { return nbc_now(); }

int nbc_dist_grads(nbc_dist *dd, nb_ctx *ctx, int64_t step, int bad, volatile sig_atomic_t *stop) {
    if (!dd->on) return bad;
    if (nb_dist_sync_grads(dd->d))
        nb_dist_abort(NBC_EXIT_FAIL, "step %lld: averaging the gradients: %s", (long long)step,
                      nb_error_message(ctx));
    double t0 = now_s();
    double v[2] = {bad ? 1.0 : 0.0, *stop ? 1.0 : 0.0};
    if (nb_dist_sum(v, 2)) nb_dist_abort(NBC_EXIT_FAIL, "step %lld: the stop agreement failed", (long long)step);
    dd->agree_s += now_s() - t0;
    dd->steps++;
    if (v[1] > 0) {
        *stop = 1;
        dd->agreed = 1;
    }
    if (v[0] == 0) return 0;
    /* which rank: a second, rare, reduction */
    double *who = calloc((size_t)dd->size, sizeof *who);
    if (!who) nb_dist_abort(NBC_EXIT_FAIL, "out of memory");
    who[dd->rank] = bad ? 1.0 : 0.0;
    if (nb_dist_sum(who, dd->size)) nb_dist_abort(NBC_EXIT_FAIL, "step %lld: the stop agreement failed", (long long)step);
    int first = 0;
    while (first < dd->size - 1 && who[first] == 0) first++;
    free(who);
    if (bad)
        snprintf(dd->msg, sizeof dd->msg, "rank %d: %s", dd->rank, nb_error_message(ctx));
    else
        snprintf(dd->msg, sizeof dd->msg, "rank %d: non-finite loss at step %lld", first, (long long)step);
    dd->agreed = 1;
    return 1;
}

void nbc_dist_agree_stop(nbc_dist *dd, volatile sig_atomic_t *stop) {
    if (!dd->on) return;
    double v = *stop ? 1.0 : 0.0;
    if (nb_dist_sum(&v, 1)) nb_dist_abort(NBC_EXIT_FAIL, "the stop agreement failed");
    if (v > 0) {
        *stop = 1;
        dd->agreed = 1;
    }
}

void nbc_dist_epoch_sums(nbc_dist *dd, double *loss_sum, int64_t *correct, int64_t *seen) {
    if (!dd->on) return;
    double v[3] = {*loss_sum, (double)*correct, (double)*seen};
    if (nb_dist_sum(v, 3)) nb_dist_abort(NBC_EXIT_FAIL, "reducing the epoch's training metrics failed");
    *loss_sum = v[0];
    *correct = (int64_t)llround(v[1]);
    *seen = (int64_t)llround(v[2]);
}

int nbc_dist_evaluate(nbc_dist *dd, nbc_evaluator *evr, const nbc_data *d, double *loss, double *acc) {
    if (!dd->on) return nbc_evaluate(evr, d, loss, acc, NULL, NULL, NULL);
    nb_model *m = evr->net->model;
    if (nb_model_num_buffers(m) > 0 && nb_dist_broadcast_tensors(nb_model_buffers(m), nb_model_num_buffers(m), 0))
        nb_dist_abort(NBC_EXIT_FAIL, "evaluation: broadcasting the batch-norm statistics failed");
    int64_t off = 0, cnt = 0;
    nb_dist_split(d->ds.n, dd->rank, dd->size, &off, &cnt);
    /* this rank's rows as a dataset of their own (the same memory) */
    nbc_data part = *d;
    part.ds.n = cnt;
    const int64_t f = d->ds.features;
    if (part.x8) part.x8 += off * f;
    else if (part.ds.x) part.ds.x += off * f;
    if (part.ds.y) part.ds.y += off;
    double l = 0.0, a = 0.0;
    int rc = cnt > 0 ? nbc_evaluate(evr, &part, &l, &a, NULL, NULL, NULL) : NB_OK;
    /* a failure here is this rank's alone: the caller's exit stops the job */
    if (rc) return rc;
    double v[3] = {cnt > 0 ? l * (double)cnt : 0.0, cnt > 0 ? a * (double)cnt : 0.0, (double)cnt};
    if (nb_dist_sum(v, 3)) nb_dist_abort(NBC_EXIT_FAIL, "evaluation: reducing the metrics failed");
    *loss = v[2] > 0 ? v[0] / v[2] : NAN;
    *acc = v[2] > 0 ? llround(v[1]) / v[2] : NAN;
    return NB_OK;
}

const char *nbc_dist_result(const nbc_dist *dd) {
    static char buf[256];
    buf[0] = '\0';
    if (!dd->on || !dd->d) return buf;
    double steps = dd->steps > 0 ? (double)dd->steps : 1.0;
    snprintf(buf, sizeof buf, " ranks=%d buckets=%d allreduce_ms_per_step=%.3f agree_ms_per_step=%.3f", dd->size,
             nb_dist_num_buckets(dd->d), 1e3 * nb_dist_comm_seconds(dd->d) / steps, 1e3 * dd->agree_s / steps);
    return buf;
}

int nbc_dist_end(nbc_dist *dd, int exit_code) {
    if (!dd->inited) return exit_code;
    if (exit_code != NBC_EXIT_OK && dd->on && !dd->agreed)
        nb_dist_abort(exit_code, "stopping all ranks: this rank failed (exit status %d; the reason is above)",
                      exit_code);
    nb_dist_free(dd->d);
    dd->d = NULL;
    nb_dist_finalize();
    dd->inited = dd->on = 0;
    return exit_code;
}
