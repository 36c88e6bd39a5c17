/* nb_sgemm: row-major C = alpha·op(A)·op(B) + beta·C with the GotoBLAS/BLIS
 * structure — KC/NC/MC cache blocking, packed A and B panels, a register-blocked
 * micro-kernel chosen at run time (kernels.h), OpenMP over the macro-kernel. */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "nabla/core.h"
#include "nabla/kernels.h"

/* Below this many flops per thread a fork/join costs more than it saves
 * (an OpenMP fork+barrier is a few microseconds; at ~50 GFLOPS that is a
 * few hundred kflop). */
#define MIN_FLOPS_PER_THREAD 1.0e6

/* Untransposed A (rows contiguous in k) is read in place through its row
 * stride unless a thread's block of C is at least this wide: the kernel's
 * strided loop runs as fast as the packed one, and the copy (a transpose into
 * MR-tall slivers) only pays when every sliver is reused across many B slivers.
 * Measured on this Zen 3: in place +8% on the batch-64 forward X·Wᵀ, +5% on
 * the N = 512 square, even at N = 1024 (which stays packed, as do larger
 * products). Transposed A (the dW = dYᵀ·X products) is always packed: read in
 * place, each k step would touch a new cache line (and, for long K, a new
 * page) for only MR floats. */
#define PACK_A_MIN_COLS 1024

/* B is read in place (rows at stride ldb) when it is not transposed and C has
 * at most this many rows: each B sliver then serves so few micro-tiles that
 * copying it costs more than it saves (+11% on dY·W at batch 64; m = 128
 * already prefers packing). */
#define INPLACE_B_MAX_M 64

/* A·Bᵀ runs swapped (see swap_abt) when C has at most SWAP_MAX_M rows and
 * SWAP_MIN_RATIO times as many columns (at least SWAP_MIN_N), and K is at
 * least SWAP_MIN_K: every tile is written to C transposed through a small
 * buffer, which only pays off over a long K. Measured at 1 thread on Zen 3
 * (K in one pass, see swap_kc), GFLOPS packed -> swapped: 256×50257×768
 * (GPT-2's output layer) 67-75 -> 91, 256×2304×768 and 256×3072×768 78 -> 90,
 * the MLP's 64×256×784 88.6 -> 94.7 (medians of 7), 32×256×784 75 -> 95,
 * 128×512×512 91 -> 93; but 64×256×128 77 -> 62, 100×512×300 86 -> 74,
 * 256×4096×128 89 -> 78. */
#define SWAP_MAX_M 512
#define SWAP_MIN_N 256
#define SWAP_MIN_K 512
#define SWAP_MIN_RATIO 4

#ifdef NABLA_USE_CBLAS
/* -DNABLA_BLAS=ON: products go to the system CBLAS (declared here so no
 * particular cblas.h location is needed; the enums are ints in the C ABI). */
void cblas_sgemm(int layout, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c,
                 int ldc);
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
#endif

static const nb__sgemm_arch *pick_arch(void) {
#if defined(__x86_64__)
    switch (nb__cpu_path()) {
    case NB_CPU_AVX512: return &nb__sgemm_avx512;
    case NB_CPU_AVX2: return &nb__sgemm_avx2;
    default: break;
    }
#endif
    return &nb__sgemm_portable;
}

/* ---- packing buffers --------------------------------------------------------
 * One 64-byte aligned workspace per calling thread (OpenMP workers use slices of
 * their caller's), grown on demand and kept: after the first call of a given
 * size nb_sgemm does not allocate. Per calling thread rather than one global
 * pool so concurrent callers need no lock; freed when the thread exits. */
typedef struct workspace {
    float *buf;
    size_t cap; /* floats */
} workspace;

static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;
static int ws_key_ok;

static void ws_destroy(void *p) {
    workspace *w = p;
    free(w->buf);
    free(w);
}
static void ws_init(void) { ws_key_ok = pthread_key_create(&ws_key, ws_destroy) == 0; }

static float *workspace_get(size_t floats) {
    pthread_once(&ws_once, ws_init);
    if (!ws_key_ok) return NULL;
    workspace *w = pthread_getspecific(ws_key);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return NULL;
        if (pthread_setspecific(ws_key, w) != 0) {
            free(w);
            return NULL;
        }
    }
    if (w->cap < floats) {
        const size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
        float *p = aligned_alloc(64, bytes);
        if (!p) return NULL;
        free(w->buf);
        w->buf = p;
        w->cap = bytes / sizeof(float);
    }
    return w->buf;
}

/* ---- the blocked driver ---------------------------------------------------- */

typedef struct job {
    const nb__sgemm_arch *arch;
    int ta, tb, m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    size_t lda, ldb, ldc;
    int inplace_b;  /* read full-width B slivers in place (see INPLACE_B_MAX_M) */
    float *ws;      /* per thread: ws + t * ws_stride = [B panel | A block] */
    size_t ws_stride, bsize;
} job;

static int ceil_div(int x, int y) { return (x + y - 1) / y; }

/* Threads split C into a tm x tn grid of blocks in whole MR x NR tiles; each
 * thread then runs the serial blocked algorithm on its block with private
 * packing buffers. No barrier inside: on a shared 2-core machine a barrier
 * waits for a descheduled thread's next time slice, which cost orders of
 * magnitude on small products. The price is packing A tn times and B tm
 * times; the grid minimises per-thread tiles plus that packing, measured in
 * tile-equivalents (copying a float costs about PACK_COST flops). */
#define PACK_COST 16.0
static void thread_grid(const job *J, int T, int mu, int nu, int *tm, int *tn) {
    const int mr = J->arch->mr, nr = J->arch->nr;
    /* Only what is actually copied counts: A is read in place unless transposed
     * or very wide (see PACK_A_MIN_COLS), B in place for small untransposed
     * products. */
    const double pa = J->ta || J->n >= PACK_A_MIN_COLS ? PACK_COST / (2.0 * nr) : 0.0;
    const double pb = J->inplace_b ? 0.0 : PACK_COST / (2.0 * mr);
    double best = -1.0;
    for (int x = 1; x <= T; x++) {
        if (T % x) continue;
        const int mt = ceil_div(mu, x), nt = ceil_div(nu, T / x);
        const double cost = (double)mt * nt + mt * pa + nt * pb;
        if (best < 0.0 || cost < best) {
            best = cost;
            *tm = x;
            *tn = T / x;
        }
    }
}

/* Part `i` of `parts` of [0, units), as an even contiguous split. */
static void split(int units, int parts, int i, int *lo, int *hi) {
    const int q = units / parts, r = units % parts;
    *lo = i * q + (i < r ? i : r);
    *hi = *lo + q + (i < r ? 1 : 0);
}

/* The serial GotoBLAS loops over C[i0:i1, j0:j1] (tile-aligned), packing into
 * this thread's buffers. Every C element gets its full K sum in a fixed order
 * from the same kernel, so the result does not depend on the thread grid, nor
 * on which operands were packed (the kernel's FMA sequence is the same).
 *
 * When the block has a single MC row block (batch-sized m), each B sliver is
 * used by one sweep of the A slivers only; it is then packed right before that
 * sweep into an L1-sized buffer instead of packing the whole KC x NC panel
 * first (which, at 512 KiB, went out to L3 and came back: the forward X·Wᵀ at
 * batch 64 ran 4% faster). */
static void gemm_block(const job *J, float *bpack, float *apack, int i0, int i1, int j0,
                       int j1) {
    const nb__sgemm_arch *A = J->arch;
    const int MR = A->mr, NR = A->nr;
    const int b_sliverwise = !J->inplace_b && i1 - i0 <= A->mc;
    for (int jc = j0; jc < j1; jc += A->nc) {
        const int nc = j1 - jc < A->nc ? j1 - jc : A->nc;
        const int nu = ceil_div(nc, NR);
        const int pack_a_here = J->ta || nc >= PACK_A_MIN_COLS;
        for (int pc = 0; pc < J->k; pc += A->kc) {
            const int kc = J->k - pc < A->kc ? J->k - pc : A->kc;
            const float beta = pc == 0 ? J->beta : 1.0f;
            if (!J->inplace_b && !b_sliverwise)
                A->pack_b(bpack, J->b, J->ldb, J->tb, (size_t)pc, kc, (size_t)jc, nc, NR);
            else if (J->inplace_b && nc % NR) /* only the partial last sliver is copied */
                A->pack_b(bpack + (size_t)(nu - 1) * NR * kc, J->b, J->ldb, J->tb, (size_t)pc,
                          kc, (size_t)(jc + (nu - 1) * NR), nc % NR, NR);
            for (int ic = i0; ic < i1; ic += A->mc) {
                const int mc = i1 - ic < A->mc ? i1 - ic : A->mc;
                if (pack_a_here)
                    A->pack_a(apack, J->a, J->lda, J->ta, (size_t)ic, mc, (size_t)pc, kc, MR);
                for (int jp = 0; jp < nu; jp++) {
                    const size_t j = (size_t)(jc + jp * NR);
                    const int cols = nc - jp * NR < NR ? nc - jp * NR : NR;
                    const float *bs = bpack + (size_t)jp * NR * kc;
                    ptrdiff_t rs_b = NR;
                    if (J->inplace_b && cols == NR) {
                        bs = J->b + (size_t)pc * J->ldb + j;
                        rs_b = (ptrdiff_t)J->ldb;
                    } else if (b_sliverwise) {
                        bs = bpack;
                        A->pack_b(bpack, J->b, J->ldb, J->tb, (size_t)pc, kc, j, cols, NR);
                    }
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int rows = mc - ir < MR ? mc - ir : MR;
                        const size_t i = (size_t)(ic + ir);
                        const float *as = apack + (size_t)ir * kc;
                        ptrdiff_t rs_a = 1, cs_a = MR;
                        if (!pack_a_here) { /* untransposed: rows at stride lda */
                            as = J->a + i * J->lda + (size_t)pc;
                            rs_a = (ptrdiff_t)J->lda;
                            cs_a = 1;
                        }
                        A->kernel((size_t)kc, J->alpha, as, rs_a, cs_a, bs, rs_b, beta,
                                  J->c + i * J->ldc + j, (ptrdiff_t)J->ldc, rows, cols);
                    }
                }
            }
        }
    }
}

/* Block u of a U-block grid, packed in thread t's buffers. */
static void run_block(const job *J, int u, int U, int t) {
    const int MR = J->arch->mr, NR = J->arch->nr;
    const int mu = ceil_div(J->m, MR), nu = ceil_div(J->n, NR);
    int tm = 1, tn = 1, mlo, mhi, nlo, nhi;
    thread_grid(J, U, mu, nu, &tm, &tn);
    split(mu, tm, u / tn, &mlo, &mhi);
    split(nu, tn, u % tn, &nlo, &nhi);
    if (mlo == mhi || nlo == nhi) return;
    float *ws = J->ws + (size_t)t * J->ws_stride;
    gemm_block(J, ws, ws + J->bsize, mlo * MR, mhi * MR < J->m ? mhi * MR : J->m, nlo * NR,
               nhi * NR < J->n ? nhi * NR : J->n);
}

/* Thread t of a team of T. Blocks go out through a shared counter, not by
 * thread number: a thread the OS has not scheduled yet (another process holds
 * the core) does not hold up the work, the others take its block. Which thread
 * computes a block does not change any bit of it. */
static void run_team(const job *J, atomic_int *next, int t, int T) {
    for (int u; (u = atomic_fetch_add(next, 1)) < T;) run_block(J, u, T, t);
}

/* ---- short and wide A·Bᵀ, computed as Cᵀ = B·Aᵀ ------------------------------
 * The forward of a linear layer at batch size, X·Wᵀ with W [n×k] much taller
 * than X [m×k], would pack all of W transposed (for a language model's output
 * layer, 50257×768 floats every step) to use it for only m rows. Swapped, W
 * is the kernel's A operand, read in place along its rows, and only Xᵀ is
 * packed. Each 6×16 tile of Cᵀ goes to a small buffer and is written
 * transposed into C with beta applied exactly as the kernel would. K is
 * summed in one pass (swap_kc), so every element is the kernel's FMA chain
 * over all of K: bitwise the usual loops where those need one K block too,
 * and the same chain at any thread count. Threads split the rows of W. */
static int swap_abt(const job *J) {
    return !J->ta && J->tb && J->m <= SWAP_MAX_M && J->n >= SWAP_MIN_N &&
           J->n >= SWAP_MIN_RATIO * J->m && J->k >= SWAP_MIN_K;
}

/* The swapped product's depth block: all of K in one pass up to
 * SWAP_MAX_KC, else even blocks below it. Each pass over K writes every
 * tile of C transposed (and after the first, reads it back), which costs
 * more than the longer Xᵀ slivers (k·16 floats, from L2): at 1 thread,
 * 256×50257×768 ran at 78 GFLOPS with the usual KC = 512 and at 91 in one
 * pass; 256×4096×3072 at 78 → 94. */
#define SWAP_MAX_KC 4096
static int swap_kc(const job *J) {
    const int passes = ceil_div(J->k, SWAP_MAX_KC);
    return ceil_div(J->k, passes);
}

static void swapped_block(const job *J, float *bpack, int i0, int i1) {
    const nb__sgemm_arch *A = J->arch;
    const int MR = A->mr, NR = A->nr, nu = ceil_div(J->m, NR);
    float tile[16 * 32]; /* MR × NR of every kernel (at most 12 × 32) */
    const int KC = swap_kc(J);
    for (int pc = 0; pc < J->k; pc += KC) {
        const int kc = J->k - pc < KC ? J->k - pc : KC;
        /* Aᵀ's kc × m block: op(B)(p, j) = a[j·lda + p] */
        A->pack_b(bpack, J->a, J->lda, 1, (size_t)pc, kc, 0, J->m, NR);
        for (int i = i0; i < i1; i += MR) { /* rows of W = columns of C */
            const int rows = i1 - i < MR ? i1 - i : MR;
            for (int jp = 0; jp < nu; jp++) { /* columns of Aᵀ = rows of C */
                const int j = jp * NR, cols = J->m - j < NR ? J->m - j : NR;
                A->kernel((size_t)kc, J->alpha, J->b + (size_t)i * J->ldb + pc, (ptrdiff_t)J->ldb,
                          1, bpack + (size_t)jp * NR * kc, NR, 0.0f, tile, NR, rows, cols);
                const float beta = pc == 0 ? J->beta : 1.0f;
                for (int jj = 0; jj < cols; jj++) {
                    float *cj = J->c + (size_t)(j + jj) * J->ldc + i;
                    for (int ii = 0; ii < rows; ii++) {
                        const float t = tile[ii * NR + jj];
                        cj[ii] = beta == 0.0f ? t : beta == 1.0f ? t + cj[ii] : fmaf(beta, cj[ii], t);
                    }
                }
            }
        }
    }
}

static void swapped_team(const job *J, atomic_int *next, int t, int T) {
    const int MR = J->arch->mr, units = ceil_div(J->n, MR);
    float *ws = J->ws + (size_t)t * J->ws_stride;
    for (int u; (u = atomic_fetch_add(next, 1)) < T;) {
        int lo, hi;
        split(units, T, u, &lo, &hi);
        if (lo < hi) swapped_block(J, ws, lo * MR, hi * MR < J->n ? hi * MR : J->n);
    }
}

/* C = beta·C, for k == 0 or alpha == 0 (A and B are not read, as in BLAS). */
static void scale_c(int m, int n, float beta, float *c, size_t ldc) {
    for (int i = 0; i < m; i++) {
        float *ci = c + (size_t)i * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < n; j++) ci[j] = 0.0f;
        else if (beta != 1.0f)
            for (int j = 0; j < n; j++) ci[j] *= beta;
    }
}

int nb_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
             const float *a, int lda, const float *b, int ldb, float beta,
             float *c, int ldc) {
    if (m < 0 || n < 0 || k < 0) return NB_ERR_ARG;
    const int ta = trans_a != 0, tb = trans_b != 0;
    /* Stored widths: A is m x k (or k x m when transposed), B is k x n (n x k). */
    const int wa = ta ? m : k, wb = tb ? k : n;
    if (lda < (wa > 1 ? wa : 1) || ldb < (wb > 1 ? wb : 1) || ldc < (n > 1 ? n : 1))
        return NB_ERR_ARG;
    if (m == 0 || n == 0) return NB_OK;
    if (!c || (k > 0 && (!a || !b))) return NB_ERR_NULL;
    if (k == 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, (size_t)ldc);
        return NB_OK;
    }

#ifdef NABLA_USE_CBLAS
    /* The library's own threads setting does not reach it: CBLAS
     * implementations have their own (e.g. OPENBLAS_NUM_THREADS). */
    cblas_sgemm(CBLAS_ROW_MAJOR, ta ? CBLAS_TRANS : CBLAS_NO_TRANS,
                tb ? CBLAS_TRANS : CBLAS_NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return NB_OK;
#endif
    job J = {
        .arch = pick_arch(), .ta = ta, .tb = tb, .m = m, .n = n, .k = k,
        .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c,
        .lda = (size_t)lda, .ldb = (size_t)ldb, .ldc = (size_t)ldc,
    };
    const nb__sgemm_arch *A = J.arch;
    J.inplace_b = !tb && m <= INPLACE_B_MAX_M;
    if (swap_abt(&J)) {
        const int T = nb__threads_for(2.0 * m * (double)n * k, MIN_FLOPS_PER_THREAD);
        const int kc = swap_kc(&J);
        J.ws_stride = ((size_t)ceil_div(m, A->nr) * A->nr * kc + 15) & ~(size_t)15;
        J.ws = workspace_get((size_t)T * J.ws_stride);
        if (!J.ws) return NB_ERR_ALLOC;
        atomic_int next = 0;
        if (T == 1) {
            swapped_team(&J, &next, 0, 1);
        } else {
#pragma omp parallel num_threads(T)
            swapped_team(&J, &next, omp_get_thread_num(), omp_get_num_threads());
        }
        return NB_OK;
    }

    const int T = nb__threads_for(2.0 * m * (double)n * k, MIN_FLOPS_PER_THREAD);
    const int kc = k < A->kc ? k : A->kc;
    const int ncmax = n < A->nc ? n : A->nc;
    const int mcmax = m < A->mc ? m : A->mc;
    /* Sized for the largest block any grid can give a thread (simpler than
     * per-grid sizes, and reused across calls anyway). */
    J.bsize = ((size_t)ceil_div(ncmax, A->nr) * A->nr * kc + 15) & ~(size_t)15;
    J.ws_stride = J.bsize + (((size_t)ceil_div(mcmax, A->mr) * A->mr * kc + 15) & ~(size_t)15);
    J.ws = workspace_get((size_t)T * J.ws_stride);
    if (!J.ws) return NB_ERR_ALLOC;

    if (T == 1) {
        run_block(&J, 0, 1, 0);
    } else {
        atomic_int next = 0;
#pragma omp parallel num_threads(T)
        {
            /* The team may be smaller than asked (nested region, limits); the
             * split adapts, and results do not depend on the thread count. */
            run_team(&J, &next, omp_get_thread_num(), omp_get_num_threads());
        }
    }
    return NB_OK;
}
