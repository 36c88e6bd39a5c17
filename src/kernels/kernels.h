/* Private to src/kernels (other kernel families have their own headers): CPU
 * dispatch paths, the thread count helper, and the interface between the
 * SGEMM driver (sgemm.c) and its per-ISA micro-kernels. */
#ifndef NB_KERNELS_PRIVATE_H
#define NB_KERNELS_PRIVATE_H

#include <stddef.h>

/* ---- CPU dispatch (cpu.c) -------------------------------------------------- */
enum {
    NB_CPU_SCALAR = 0, /* portable C, any architecture */
    NB_CPU_AVX2 = 1,   /* AVX2 + FMA */
    NB_CPU_AVX512 = 2, /* AVX-512 F/BW/DQ/VL */
    NB_CPU_AUTO = -1,  /* for nb__set_cpu_path: back to detection / NABLA_CPU */
};

/* Path kernels use now: the best the CPU and OS support, lowered by env
 * NABLA_CPU=scalar|avx2|avx512 or by nb__set_cpu_path. */
int nb__cpu_path(void);
/* Force a path (tests, benchmarks). Returns 0, or NB_ERR_ARG when this CPU
 * lacks the path (the current path is then left unchanged). */
int nb__set_cpu_path(int path);
/* Nonzero when this CPU and OS can run the path. */
int nb__cpu_supports(int path);
/* Nonzero when kernels may run their AVX2 + FMA code: on x86-64, with the
 * path at AVX2 or above (AVX-512 CPUs have AVX2). References to *_avx2
 * symbols still sit under defined(__x86_64__): off x86 they do not exist. */
int nb__cpu_avx2(void);
/* "scalar", "avx2", "avx512". */
const char *nb__cpu_path_name(int path);

/* ---- threads (threads.c) ---------------------------------------------------- */
/* Threads for a job of about `work` flops (or element operations): 1 below
 * `min_work_per_thread`, otherwise as many as keep each thread above it, at most
 * nb_get_threads(). Small jobs stay on one thread so they do not pay a fork. */
int nb__threads_for(double work, double min_work_per_thread);

/* ---- SGEMM micro-kernels ---------------------------------------------------- */
/* One register-blocked tile update, for 1 <= mr <= MR and 1 <= nr <= NR:
 *   C[0:mr, 0:nr] = alpha * sum_{p<k} A(i,p) B(p,j) + beta * C
 * (beta == 0 overwrites C without reading it, so NaN there does not leak).
 * A(i,p) = a[i*rs_a + p*cs_a]: packed panels use rs_a = 1, cs_a = MR; unpacked
 * row-major A uses rs_a = lda, cs_a = 1. Rows i >= mr are never read, so an
 * unpacked A needs no padding. B(p,j) = b[p*rs_b + j] for all j < NR: B is read
 * NR wide, so a partial-width sliver must be packed (zero-padded) first. */
typedef void (*nb__sgemm_ukernel)(size_t k, float alpha, const float *a,
                                  ptrdiff_t rs_a, ptrdiff_t cs_a, const float *b,
                                  ptrdiff_t rs_b, float beta, float *c,
                                  ptrdiff_t ldc, int mr, int nr);

/* Packs op(B)[p0:p0+kc, j0:j0+nc] into ceil(nc/nr) kc x nr slivers, the last
 * zero-padded: element (p, j) of sliver s at dst[s*nr*kc + p*nr + j].
 * op(B)(p,j) = trans ? b[j*ldb + p] : b[p*ldb + j]. */
typedef void (*nb__sgemm_pack_b)(float *dst, const float *b, size_t ldb, int trans,
                                 size_t p0, int kc, size_t j0, int nc, int nr);

/* Packs op(A)[i0:i0+mc, p0:p0+kc] into ceil(mc/mr) kc x mr slivers, the last
 * zero-padded: element (i, p) of sliver s at dst[s*mr*kc + p*mr + i].
 * op(A)(i,p) = trans ? a[p*lda + i] : a[i*lda + p]. */
typedef void (*nb__sgemm_pack_a)(float *dst, const float *a, size_t lda, int trans,
                                 size_t i0, int mc, size_t p0, int kc, int mr);

/* A micro-kernel and the cache blocking chosen for it. */
typedef struct nb__sgemm_arch {
    int mr, nr;       /* register tile */
    int kc, mc, nc;   /* cache blocks: KC×NR B sliver in L1, MC×KC A block in L2,
                         KC×NC B panel in L3; mc % mr == 0, nc % nr == 0 */
    nb__sgemm_ukernel kernel;
    nb__sgemm_pack_a pack_a;
    nb__sgemm_pack_b pack_b;
    const char *name;
} nb__sgemm_arch;

extern const nb__sgemm_arch nb__sgemm_portable;
void nb__sgemm_pack_a_portable(float *dst, const float *a, size_t lda, int trans, size_t i0,
                               int mc, size_t p0, int kc, int mr);
void nb__sgemm_pack_b_portable(float *dst, const float *b, size_t ldb, int trans, size_t p0,
                               int kc, size_t j0, int nc, int nr);
#if defined(__x86_64__)
extern const nb__sgemm_arch nb__sgemm_avx2;
extern const nb__sgemm_arch nb__sgemm_avx512;
/* AVX2 packing (sgemm_avx2.c): A for any mr (vectorised for even mr), B for
 * nr a multiple of 8. */
void nb__sgemm_pack_a_avx2(float *dst, const float *a, size_t lda, int trans, size_t i0,
                           int mc, size_t p0, int kc, int mr);
void nb__sgemm_pack_b_avx2(float *dst, const float *b, size_t ldb, int trans, size_t p0,
                           int kc, size_t j0, int nc, int nr);
#endif

/* Upper bound of mr*nr over all kernels (edge tiles are staged in a buffer). */
#define NB__SGEMM_MAX_TILE (16 * 32)

#endif
