/* nb_sgemm: row-major C = alpha·op(A)·op(B) + beta·C with the GotoBLAS/BLIS
 * structure — KC/NC/MC cache blocking, packed A and B panels, a register-blocked
 * micro-kernel chosen at run time (kernels.h), OpenMP over the macro-kernel. */
#include <omp.h>
#include <pthread.h>
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

/* A thread packs its A block only when each A sliver is then reused by more
 * than this many B slivers; below that, packing costs about what it saves and
 * the kernel reads A in place (skinny outputs such as n = 10 logits). */
#define PACK_A_MIN_REUSE 2

/* B is read in place (rows at stride ldb) when it is not transposed and C has
 * at most this many rows: each B sliver is then used by so few micro-tiles that
 * copying it would cost as much as the arithmetic. */
#define INPLACE_B_MAX_M 32

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

/* ---- packing ----------------------------------------------------------------
 * Packing reads op(A) / op(B) through the transpose flags, so callers never make
 * a transposed copy. Panels are zero-padded to full MR / NR so the kernel's
 * inner loop has no edge cases. */

/* op(A)[i0:i0+mc, p0:p0+kc] -> MR-row slivers, each kc x MR (column of MR
 * values per k step). */
static void pack_a(float *dst, const float *a, size_t lda, int trans, size_t i0,
                   int mc, size_t p0, int kc, int mr) {
    for (int is = 0; is < mc; is += mr) {
        const int rows = mc - is < mr ? mc - is : mr;
        float *d = dst + (size_t)is * kc;
        if (!trans) {
            const float *src = a + (i0 + is) * lda + p0;
            for (int i = 0; i < rows; i++) {
                const float *s = src + i * lda;
                for (int p = 0; p < kc; p++) d[(size_t)p * mr + i] = s[p];
            }
            for (int i = rows; i < mr; i++)
                for (int p = 0; p < kc; p++) d[(size_t)p * mr + i] = 0.0f;
        } else {
            const float *src = a + p0 * lda + i0 + is;
            for (int p = 0; p < kc; p++) {
                const float *s = src + p * lda;
                float *dp = d + (size_t)p * mr;
                int i = 0;
                for (; i < rows; i++) dp[i] = s[i];
                for (; i < mr; i++) dp[i] = 0.0f;
            }
        }
    }
}

/* op(B)[p0:p0+kc, j0:j0+cols] (cols <= NR) -> one kc x NR sliver. */
static void pack_b(float *dst, const float *b, size_t ldb, int trans, size_t p0,
                   int kc, size_t j0, int cols, int nr) {
    if (!trans) {
        const float *src = b + p0 * ldb + j0;
        for (int p = 0; p < kc; p++) {
            const float *s = src + p * ldb;
            float *d = dst + (size_t)p * nr;
            int j = 0;
            for (; j < cols; j++) d[j] = s[j];
            for (; j < nr; j++) d[j] = 0.0f;
        }
    } else {
        const float *src = b + j0 * ldb + p0;
        for (int j = 0; j < cols; j++) {
            const float *s = src + j * ldb;
            for (int p = 0; p < kc; p++) dst[(size_t)p * nr + j] = s[p];
        }
        for (int j = cols; j < nr; j++)
            for (int p = 0; p < kc; p++) dst[(size_t)p * nr + j] = 0.0f;
    }
}

/* ---- the blocked driver ---------------------------------------------------- */

typedef struct job {
    const nb__sgemm_arch *arch;
    int ta, tb, m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    size_t lda, ldb, ldc;
    int inplace_b;   /* read full-width B slivers in place (see INPLACE_B_MAX_M) */
    float *bpack;    /* shared: kc x round_up(nc, NR) */
    float *apack;    /* per thread: apack + t * astride */
    size_t astride;
} job;

static int ceil_div(int x, int y) { return (x + y - 1) / y; }

/* Split T threads into a tm x tn grid over the (MR-row, NR-column) tiles of one
 * NC block, minimising the largest share; ties go to splitting rows, which
 * keeps each thread's packed A private and not duplicated. */
static void thread_grid(int T, int mu, int nu, int *tm, int *tn) {
    long best = -1;
    for (int x = T; x >= 1; x--) {
        if (T % x) continue;
        const long load = (long)ceil_div(mu, x) * ceil_div(nu, T / x);
        if (best < 0 || load < best) {
            best = load;
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

/* The work of thread t of T. Every C element is computed by exactly one thread
 * with the full K sum in a fixed order, so results do not depend on T. */
static void run_thread(const job *J, int t, int T) {
    const nb__sgemm_arch *A = J->arch;
    const int MR = A->mr, NR = A->nr;
    float *apack = J->apack + (size_t)t * J->astride;
    const int mu = ceil_div(J->m, MR);

    for (int jc = 0; jc < J->n; jc += A->nc) {
        const int nc = J->n - jc < A->nc ? J->n - jc : A->nc;
        const int nu = ceil_div(nc, NR);
        int tm = 1, tn = 1;
        thread_grid(T, mu, nu, &tm, &tn);
        int mlo, mhi, nlo, nhi;
        split(mu, tm, t / tn, &mlo, &mhi);
        split(nu, tn, t % tn, &nlo, &nhi);
        const int i_begin = mlo * MR, i_end = mhi * MR < J->m ? mhi * MR : J->m;

        for (int pc = 0; pc < J->k; pc += A->kc) {
            const int kc = J->k - pc < A->kc ? J->k - pc : A->kc;
            const float beta = pc == 0 ? J->beta : 1.0f;

            /* Pack this KC x NC panel of B, the slivers shared out evenly. In
             * place mode only a partial-width last sliver needs a copy. */
            int plo, phi;
            split(nu, T, t, &plo, &phi);
            for (int jp = plo; jp < phi; jp++) {
                const int cols = nc - jp * NR < NR ? nc - jp * NR : NR;
                if (J->inplace_b && cols == NR) continue;
                pack_b(J->bpack + (size_t)jp * NR * kc, J->b, J->ldb, J->tb, (size_t)pc,
                       kc, (size_t)(jc + jp * NR), cols, NR);
            }
            if (T > 1) {
#pragma omp barrier
            }

            const int pack_a_here = nhi - nlo > PACK_A_MIN_REUSE;
            for (int ic = i_begin; ic < i_end; ic += A->mc) {
                const int mc = i_end - ic < A->mc ? i_end - ic : A->mc;
                if (pack_a_here)
                    pack_a(apack, J->a, J->lda, J->ta, (size_t)ic, mc, (size_t)pc, kc, MR);
                for (int jp = nlo; jp < nhi; jp++) {
                    const int j = jc + jp * NR;
                    const int cols = nc - jp * NR < NR ? nc - jp * NR : NR;
                    const float *bs;
                    ptrdiff_t rs_b;
                    if (J->inplace_b && cols == NR) {
                        bs = J->b + (size_t)pc * J->ldb + (size_t)j;
                        rs_b = (ptrdiff_t)J->ldb;
                    } else {
                        bs = J->bpack + (size_t)jp * NR * kc;
                        rs_b = NR;
                    }
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int rows = mc - ir < MR ? mc - ir : MR;
                        const size_t i = (size_t)(ic + ir);
                        const float *as;
                        ptrdiff_t rs_a, cs_a;
                        if (pack_a_here) {
                            as = apack + (size_t)ir * kc;
                            rs_a = 1;
                            cs_a = MR;
                        } else if (!J->ta) {
                            as = J->a + i * J->lda + (size_t)pc;
                            rs_a = (ptrdiff_t)J->lda;
                            cs_a = 1;
                        } else {
                            as = J->a + (size_t)pc * J->lda + i;
                            rs_a = 1;
                            cs_a = (ptrdiff_t)J->lda;
                        }
                        A->kernel((size_t)kc, J->alpha, as, rs_a, cs_a, bs, rs_b, beta,
                                  J->c + i * J->ldc + (size_t)j, (ptrdiff_t)J->ldc, rows, cols);
                    }
                }
            }
            /* The next KC step repacks B: nobody may still be reading it. */
            if (T > 1 && (pc + A->kc < J->k || jc + A->nc < J->n)) {
#pragma omp barrier
            }
        }
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

    job J = {
        .arch = pick_arch(), .ta = ta, .tb = tb, .m = m, .n = n, .k = k,
        .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c,
        .lda = (size_t)lda, .ldb = (size_t)ldb, .ldc = (size_t)ldc,
    };
    const nb__sgemm_arch *A = J.arch;
    J.inplace_b = !tb && m <= INPLACE_B_MAX_M;

    const int T = nb__threads_for(2.0 * m * (double)n * k, MIN_FLOPS_PER_THREAD);
    const int kc = k < A->kc ? k : A->kc;
    const int ncmax = n < A->nc ? n : A->nc;
    const int mcmax = m < A->mc ? m : A->mc;
    const size_t bsize = ((size_t)ceil_div(ncmax, A->nr) * A->nr * kc + 15) & ~(size_t)15;
    J.astride = ((size_t)ceil_div(mcmax, A->mr) * A->mr * kc + 15) & ~(size_t)15;
    float *ws = workspace_get(bsize + (size_t)T * J.astride);
    if (!ws) return NB_ERR_ALLOC;
    J.bpack = ws;
    J.apack = ws + bsize;

    if (T == 1) {
        run_thread(&J, 0, 1);
    } else {
#pragma omp parallel num_threads(T)
        {
            /* The team may be smaller than asked (nested region, limits); the
             * split adapts, and results do not depend on the thread count. */
            run_thread(&J, omp_get_thread_num(), omp_get_num_threads());
        }
    }
    return NB_OK;
}
