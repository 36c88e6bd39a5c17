/* nabla/dist.h — data-parallel training across processes with MPI: start-up
 * and rank queries, gradient averaging in buckets overlapped with backward,
 * batch splitting, metric reduction and the start-up consistency check.
 * Included by nabla.h; declared in every build (see "without MPI" below). */
#ifndef NABLA_DIST_H
#define NABLA_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "nabla/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the model of data parallelism ------------------------------------------
 * Every rank holds the whole model and the same optimizer. A global batch of B
 * samples is split over R ranks (nb_dist_split: the first B % R ranks take one
 * more); rank r's loss is the mean over its n_r samples, so its gradient g_r is
 * a local mean, and the global mean gradient is Σ_r (n_r/B)·g_r. nb_dist
 * computes exactly that sum (weights from nb_dist_set_weight) and leaves the
 * same result on every rank, which then takes the same optimizer step: all
 * ranks' parameters stay bitwise identical.
 *
 * One training step with an attached graph:
 *
 *     nb_dist *d = nb_dist_new(nb_model_params(m), nb_model_num_params(m), 0);
 *     nb_dist_attach(d, g);                       once: overlap with backward
 *     each step:
 *         copy this rank's slice of the global batch into the inputs
 *         nb_dist_set_weight(d, n_local, n_global);  when the split changes
 *         nb_optim_zero_grad(opt); nb_graph_forward(g); nb_graph_backward(g);
 *         nb_dist_sync_grads(d);                  wait: gradients averaged
 *         nb_optim_step(opt);
 *     nb_dist_free(d);                            before nb_ctx_free / finalize
 *
 * Buckets. nb_dist_new gathers the parameters' gradients into one contiguous,
 * 64-byte aligned buffer (each tensor's ->grad is re-pointed into it, contents
 * kept; nb_dist_free points them back) cut into buckets of about bucket_bytes
 * (0: 1 MiB; a tensor is never split, so a large one is a bucket of its own).
 * nb_dist_attach puts a backward hook on the graph (nb_graph_set_backward_hook)
 * and orders the buckets by when their gradients become final in backward (the
 * lowest-index consumer of each parameter); a bucket's reduction starts as soon
 * as its last gradient is final, while backward carries on with earlier layers,
 * and in-flight reductions are advanced (MPI_Test) at every later node. Without
 * attach, nb_dist_sync_grads starts every bucket itself (no overlap). Both give
 * bitwise the same result. Every rank must start the buckets in the same order
 * — true when all ranks build the same graph (only the batch dimension may
 * differ). Each nb_graph_backward on an attached graph must be followed by one
 * nb_dist_sync_grads (for gradient accumulation over several backward passes,
 * do not attach).
 *
 * Reduction order. Floating-point sums depend on their order, and MPI leaves
 * the order of MPI_Allreduce to the implementation (Open MPI picks among
 * recursive doubling, ring, Rabenseifner... by message size and rank count;
 * deterministic for a fixed configuration, but nothing in the standard makes
 * it so, nor promises the same bits on every rank). So the default,
 * NB_DIST_ORDERED, fixes the order itself: each bucket is cut into R chunks,
 * chunk j of every rank goes to rank j (MPI_Ialltoallv, a reduce-scatter),
 * rank j adds the R contributions in rank order 0..R-1 in double, each times
 * its weight n_r/B, rounds once to float, and the chunks are gathered back to
 * everyone (MPI_Iallgatherv). The result depends only on the data and R — not
 * on timing, the MPI library's algorithm choice or the network — each chunk
 * is computed on one rank, so all ranks hold the same bits, and the traffic is
 * a ring all-reduce's, 2(R−1)/R × the bucket per rank. NB_DIST_ALLREDUCE uses
 * MPI_Iallreduce(MPI_SUM) on gradients pre-scaled by n_r/B in float instead
 * (what the library does best on a given network; reproducible only as far as
 * the MPI library is).
 *
 * Threads: MPI is initialised with MPI_THREAD_FUNNELED; only the calling
 * thread talks to MPI (the backward hook runs on it), OpenMP threads inside
 * the kernels do not.
 *
 * Without MPI (CMake did not find it, or -DNABLA_MPI=OFF) these functions
 * still exist: nb_dist_available() is 0, rank 0 of size 1, the pure helpers
 * (nb_dist_split, nb_dist_hash*) work, and everything that communicates
 * returns NB_ERR_STATE ("built without MPI"). */

/* 1 when nabla was built with MPI. */
int nb_dist_available(void);

/* MPI_Init_thread(FUNNELED) unless MPI is already initialised (then nabla
 * uses it as it is). Returns NB_OK or NB_ERR_STATE with a message in err. */
int nb_dist_init(int *argc, char ***argv, char *err, size_t errlen);
/* MPI_Finalize if nb_dist_init initialised MPI; free every nb_dist first. */
int nb_dist_finalize(void);
/* Rank in and size of MPI_COMM_WORLD; 0 and 1 before init or without MPI. */
int nb_dist_rank(void);
int nb_dist_size(void);

/* Stop the whole job: prints "nabla: rank R: <message>" on stderr and calls
 * MPI_Abort(MPI_COMM_WORLD, code) — the one way to stop all ranks when one of
 * them cannot go on (others may be blocked in a collective). Without MPI, or
 * before init, it prints and calls exit(code). Does not return. */
void nb_dist_abort(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* ---- batch splitting ------------------------------------------------------------
 * Rank `rank` of `size` takes rows [*offset, *offset + *count) of a global
 * batch of `global` rows: the first global % size ranks get one row more.
 * With every rank drawing the same global order (nb_batch_iter with the same
 * seed, see data.h: rank r gathers it.order[pos + offset .. + count) with
 * nb_dataset_gather), the samples seen per step do not depend on R. A rank
 * may get 0 rows when global < size. NB_ERR_ARG on bad arguments. */
int nb_dist_split(int64_t global, int rank, int size, int64_t *offset, int64_t *count);

/* ---- gradient averaging ------------------------------------------------------------ */
typedef enum nb_dist_reduction {
    NB_DIST_ORDERED = 0,   /* fixed-order reduce-scatter + all-gather (default) */
    NB_DIST_ALLREDUCE = 1, /* MPI_Iallreduce(MPI_SUM) on pre-scaled gradients */
} nb_dist_reduction;

typedef struct nb_dist nb_dist;

/* Over params[0..n) (distinct tensors with grads), on a private duplicate of
 * MPI_COMM_WORLD. Weight 1/R per rank until nb_dist_set_weight. NULL on error,
 * recorded on params[0]'s context. Needs nb_dist_init first. */
nb_dist *nb_dist_new(nb_tensor *const *params, int n, size_t bucket_bytes);
/* Restores the parameters' own grad buffers (with the current gradients) and
 * frees the communicator and buffers. Call before nb_dist_finalize. */
void nb_dist_free(nb_dist *d);
/* This rank contributes local/global of the sum (its samples over the global
 * batch; local may be 0). Collective (an all-gather of the weights): call on
 * every rank, only when the split changes (e.g. a short last batch). */
int nb_dist_set_weight(nb_dist *d, int64_t local, int64_t global);
int nb_dist_set_reduction(nb_dist *d, nb_dist_reduction mode);
/* Overlap the reduction with g's backward (see above); g = NULL detaches. */
int nb_dist_attach(nb_dist *d, nb_graph *g);
/* Start what backward has not started, wait for everything: on return every
 * rank's gradients hold the weighted sum. NB_OK or an error status. */
int nb_dist_sync_grads(nb_dist *d);
int nb_dist_num_buckets(const nb_dist *d);
/* Buckets whose reduction has started in the current step (after backward
 * with an attached graph: those started during backward). */
int nb_dist_num_started(const nb_dist *d);
/* Seconds spent inside nb_dist_sync_grads (waiting for the reduction after
 * backward) and in the hook (starting and advancing reductions), summed since
 * creation — the all-reduce time a step does not hide. */
double nb_dist_comm_seconds(const nb_dist *d);

/* ---- other collectives (blocking; every rank must call them) ---------------------- */
/* Copy root's bytes to every rank (configs, seeds, a checkpoint's parameters). */
int nb_dist_broadcast(void *buf, size_t bytes, int root);
/* Every tensor's data from root, e.g. after rank 0 alone loaded a checkpoint. */
int nb_dist_broadcast_tensors(nb_tensor *const *t, int n, int root);
/* buf[i] = Σ over ranks of buf[i], added in rank order (the same bits on every
 * rank, whatever the timing). For sharded evaluation (sum loss·count, correct
 * and count, then divide) and for synchronised batch-norm statistics
 * (per-channel sums and sums of squares; see docs/scaling.md). */
int nb_dist_sum(double *buf, int n);
/* Synchronised batch norm: installs nb_dist_sum as ctx's cross-process sum
 * (nb_ctx_set_allsum), so ops built with sync (nb_batch_norm_sync,
 * nb_batchnorm_layer_set_sync) compute training statistics over all ranks.
 * Every rank must then run the same graphs in the same order, rows or not.
 * NB_ERR_STATE without MPI or before nb_dist_init; ctx = NULL: NB_ERR_NULL. */
int nb_dist_install_allsum(nb_ctx *ctx);

/* ---- start-up consistency check ----------------------------------------------------
 * FNV-1a 64-bit hash of n bytes, continuing from h (start from
 * NB_DIST_HASH_INIT). nb_dist_hash_params hashes parameter names and shapes. */
#define NB_DIST_HASH_INIT 0xcbf29ce484222325ull
uint64_t nb_dist_hash(uint64_t h, const void *data, size_t n);
uint64_t nb_dist_hash_params(nb_tensor *const *params, int n);
/* Every rank passes its hash of `what` (e.g. "model spec", "data"); rank 0
 * compares them. Waits at most timeout_s seconds (polling nonblocking
 * point-to-point messages), never forever. Returns NB_OK when all agree;
 * otherwise NB_ERR_STATE with a message in err naming the rank and the cause,
 * e.g. "model spec differs: rank 2 has 0x… but rank 0 has 0x…" or
 * "data check timed out after 10 s: rank 3 did not arrive" — the caller then
 * stops the job with nb_dist_abort (a rank left waiting cannot be released
 * otherwise). Every rank returns the same verdict unless one timed out. */
int nb_dist_check(const char *what, uint64_t hash, double timeout_s, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
