/* dist_cli.h — `nabla train` under `mpirun -np N`: detecting the MPI launch,
 * each rank's share of every global batch, gradient averaging and the stop
 * decisions all ranks must take together, sharded evaluation, the start-up
 * consistency checks, and the all-reduce timings of --bench. train.c calls
 * these hooks; in a plain (single-process) run every one is a no-op. */
#ifndef NABLA_CLI_DIST_H
#define NABLA_CLI_DIST_H

#include <signal.h>
#include <stdint.h>

#include "data_cli.h"
#include "model_io.h"
#include "nabla.h"
#include "spec.h"

typedef struct nbc_dist {
    int on;                 /* more than one rank: the hooks below act */
    int inited;             /* nb_dist_init was called (launched by mpirun) */
    int rank, size;
    nb_dist *d;
    nb_ctx *ctx;            /* the model's, for error messages */
    int64_t w_global;       /* global rows of the split the weights are set for */
    int agreed;             /* the run stopped where every rank stopped */
    double timeout_s;       /* start-up checks (NABLA_DIST_TIMEOUT, default 30) */
    double agree_s;         /* time in the per-step stop agreement */
    int64_t steps;
    int sync_bn;            /* --sync-bn: setup installs the cross-process sum */
    char msg[512];          /* the reason of an agreed stop */
} nbc_dist;

/* Called first in run(): when the environment says mpirun started this
 * process (OMPI_COMM_WORLD_SIZE, or PMIX_RANK / PMI_SIZE), initialises MPI;
 * ranks other than 0 then send stdout to /dev/null (rank 0 alone prints).
 * A plain `nabla train` does nothing here and never touches MPI. Returns 0,
 * or an exit code after one line on stderr (e.g. launched by mpirun with
 * several ranks, but nabla was built without MPI). */
int nbc_dist_start(nbc_dist *dd);

/* This rank's rows of a global batch of `global` rows (global itself when not
 * distributed). */
int64_t nbc_dist_rows(const nbc_dist *dd, int64_t global);

/* After the graphs are built: the start-up consistency checks, each a bounded
 * wait (nb_dist_check). Every rank must agree on the model spec and parameter
 * names/shapes, the training options (hash given by the caller), the data
 * (sizes and checksum of the training and evaluation sets) and the initial
 * weights (seed or resumed checkpoint). Then the gradient buckets are set up,
 * overlapped with full_graph's backward when every rank has one (NULL: no
 * overlap). With dd->sync_bn, the model's context gets the MPI sum
 * (nb_dist_install_allsum), after the graphs are built, so batch-norm layers
 * built with sync use the global batch's statistics from the first step. A mismatch stops the whole job (nb_dist_abort) naming the rank and
 * the cause. */
void nbc_dist_setup(nbc_dist *dd, nbc_net *net, const char *spec_str, uint64_t options_hash,
                    const nbc_data *tr, const nbc_data *ev, nb_graph *full_graph);
/* FNV-1a of a string (or "(null)"), to build options_hash. */
uint64_t nbc_dist_hash_str(uint64_t h, const char *s);

/* Before a step over a global batch of `global` rows: the offset of this
 * rank's rows in it (0 when not distributed); sets the reduction weights when
 * the split changes (a collective call, so every rank calls this every step). */
int64_t nbc_dist_batch(nbc_dist *dd, int64_t global);

/* After this rank's backward (or nothing, with no rows): averages the
 * gradients over the ranks, then all ranks agree on whether to stop. bad: this
 * rank's loss at `step` is not finite (nb_check_finite recorded why on ctx). *stop:
 * Ctrl-C seen here; on return, seen on any rank. Returns 1 when some rank's
 * loss is not finite (the reason in dd->msg), else 0. */
int nbc_dist_grads(nbc_dist *dd, nb_ctx *ctx, int64_t step, int bad, volatile sig_atomic_t *stop);

/* At the end of an epoch: whether any rank was interrupted (every rank then
 * stops at the same place). */
void nbc_dist_agree_stop(nbc_dist *dd, volatile sig_atomic_t *stop);

/* The epoch's training sums over all ranks. */
void nbc_dist_epoch_sums(nbc_dist *dd, double *loss_sum, int64_t *correct, int64_t *seen);

/* Evaluation: each rank evaluates its share of d (nb_dist_split over the
 * rows) and the sums are reduced; batch-norm buffers are first made rank 0's
 * (the ones the checkpoint saves). Plain nbc_evaluate when not distributed. */
int nbc_dist_evaluate(nbc_dist *dd, nbc_evaluator *evr, const nbc_data *d, double *loss, double *acc);

/* Only rank 0 writes files and prints collective messages. */
int nbc_dist_rank0(const nbc_dist *dd);

/* " ranks=R allreduce_ms_per_step=... agree_ms_per_step=..." for the --bench
 * RESULT line ("" when not distributed). */
const char *nbc_dist_result(const nbc_dist *dd);

/* Last in run(), before the context is freed. exit_code 0, or a stop all
 * ranks agreed on: frees the buckets and finalises MPI, returns exit_code.
 * A failure on this rank alone (others may be blocked in a reduction):
 * stops the whole job with nb_dist_abort. */
int nbc_dist_end(nbc_dist *dd, int exit_code);

#endif
