/* nabla/kernels.h — raw compute usable on its own: row-major SGEMM and the
 * thread count. Included by nabla.h. */
#ifndef NABLA_KERNELS_H
#define NABLA_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/* C = alpha·op(A)·op(B) + beta·C, row-major, op(X) = X or Xᵀ when trans_x is
 * nonzero; like cblas_sgemm(CblasRowMajor, ...). op(A) is m x k, op(B) k x n,
 * C m x n; lda/ldb/ldc are the row strides of the matrices as stored.
 * beta == 0 overwrites C without reading it; alpha == 0 or k == 0 only scales C.
 * Uses nb_get_threads() threads for large products; results are bitwise
 * identical run to run (and across thread counts on one CPU path).
 * Returns 0, or NB_ERR_ARG (negative size, leading dimension too small),
 * NB_ERR_NULL (NULL matrix with nonzero sizes) or NB_ERR_ALLOC. */
int nb_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
             const float *a, int lda, const float *b, int ldb, float beta,
             float *c, int ldc);

/* Threads used by nabla's kernels; n <= 0 restores the default: env
 * NABLA_NUM_THREADS if set to a positive integer, else the number of CPUs
 * this process may run on (its affinity mask, not the machine's cores). */
void nb_set_threads(int n);
int nb_get_threads(void);

#ifdef __cplusplus
}
#endif
#endif
