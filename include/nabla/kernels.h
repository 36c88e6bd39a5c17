/* nabla/kernels.h — raw compute usable on its own: row-major SGEMM and the
 * thread count. Included by nabla.h. */
#ifndef NABLA_KERNELS_H
#define NABLA_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/* C = alpha·op(A)·op(B) + beta·C, row-major, op(X) = X or Xᵀ when trans_x is
 * nonzero; like cblas_sgemm(CblasRowMajor, ...). 0 on success, a negative
 * nb_status for invalid arguments. */
int nb_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
             const float *a, int lda, const float *b, int ldb, float beta,
             float *c, int ldc);

/* Threads used by nabla's kernels; n <= 0 restores the default (the CPUs
 * this process may run on, or env NABLA_NUM_THREADS). */
void nb_set_threads(int n);
int nb_get_threads(void);

#ifdef __cplusplus
}
#endif
#endif
