/* kernels/reduce.c — reductions: pairwise summation (deterministic, error
 * O(log n), bitwise the same on every dispatch path and thread count),
 * first-index maxima, and the scatters used by their gradients. */
#include <math.h>

#include "kernels/elementwise.h"
#include "kernels/kernels.h"
#include "kernels/reduce.h"

/* The scalar leaf, the reference the SIMD leaves reproduce bit for bit: 32
 * interleaved partial sums, folded by halving, then the leftovers in order
 * (see elementwise.h). */
static float sum_leaf_scalar(const float *x, int64_t n, int64_t stride) {
    float acc[NB_SUM_LANES] = {0};
    int64_t i = 0;
    for (; i + NB_SUM_LANES <= n; i += NB_SUM_LANES)
        for (int j = 0; j < NB_SUM_LANES; j++) acc[j] += x[(i + j) * stride];
    for (int w = NB_SUM_LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    float s = acc[0];
    for (; i < n; i++) s += x[i * stride];
    return s;
}

typedef float (*leaf_fn)(const float *, int64_t);

static leaf_fn pick_leaf(void) {
#ifdef NB__EW_HAVE_SIMD
    switch (nb__cpu_path()) {
    case NB_CPU_AVX512: return nb__ew_sum_leaf_avx512;
    case NB_CPU_AVX2: return nb__ew_sum_leaf_avx2;
    default: break;
    }
#endif
    return NULL;
}

/* The split point of a node: a multiple of the block, so the tree depends on
 * n only (not on alignment, path or threads). */
static inline int64_t split_at(int64_t n) {
    return (n / 2 + NB_SUM_BLOCK - 1) / NB_SUM_BLOCK * NB_SUM_BLOCK;
}

static float sum_pairwise(const float *x, int64_t n, int64_t stride, leaf_fn leaf) {
    if (n <= NB_SUM_BLOCK)
        return leaf && stride == 1 ? leaf(x, n) : sum_leaf_scalar(x, n, stride);
    const int64_t half = split_at(n);
    return sum_pairwise(x, half, stride, leaf) +
           sum_pairwise(x + half * stride, n - half, stride, leaf);
}

/* Parallel sums cut the same tree at a fixed depth: the subtrees there are
 * summed independently and recombined in the tree's own order, so the result
 * is bitwise the serial one for every thread count. */
#define TREE_DEPTH 6 /* up to 64 subtrees */

static void tree_cut(int64_t off, int64_t n, int depth, int64_t *offs, int64_t *lens, int *k) {
    if (depth == 0 || n <= NB_SUM_BLOCK) {
        offs[*k] = off;
        lens[*k] = n;
        (*k)++;
        return;
    }
    const int64_t half = split_at(n);
    tree_cut(off, half, depth - 1, offs, lens, k);
    tree_cut(off + half, n - half, depth - 1, offs, lens, k);
}

static float tree_join(int64_t n, int depth, const float *vals, int *k) {
    if (depth == 0 || n <= NB_SUM_BLOCK) return vals[(*k)++];
    const int64_t half = split_at(n);
    const float l = tree_join(half, depth - 1, vals, k);
    return l + tree_join(n - half, depth - 1, vals, k);
}

float nb_k_sum(const float *x, int64_t n) {
    if (n <= 0) return 0.0f;
    const leaf_fn leaf = pick_leaf();
    const int nt = nb__threads_for((double)n, NB_EW_MIN_PER_THREAD);
    if (nt <= 1) return sum_pairwise(x, n, 1, leaf);
    int64_t offs[1 << TREE_DEPTH], lens[1 << TREE_DEPTH];
    float vals[1 << TREE_DEPTH];
    int count = 0;
    tree_cut(0, n, TREE_DEPTH, offs, lens, &count);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int i = 0; i < count; i++) vals[i] = sum_pairwise(x + offs[i], lens[i], 1, leaf);
    int k = 0;
    return tree_join(n, TREE_DEPTH, vals, &k);
}

void nb_k_sum_axis(const float *x, int64_t outer, int64_t n, int64_t inner, float *out) {
    const leaf_fn leaf = pick_leaf();
    const int64_t slices = outer * inner;
    const int nt = nb__threads_for((double)slices * (double)n, NB_EW_MIN_PER_THREAD);
    /* each output is one slice's own pairwise sum, so splitting slices
     * across threads does not change any result */
    NB__EW_PARALLEL_FOR(j, slices, {
        const int64_t o = j / inner, i = j % inner;
        out[j] = n > 0 ? sum_pairwise(x + o * n * inner + i, n, inner, leaf) : 0.0f;
    });
}

/* Whether v should replace the current maximum m: strictly larger (so ties
 * keep the first), or a NaN arriving while m is not NaN. */
static inline int max_takes(float v, float m) {
    return v > m || (isnan(v) && !isnan(m));
}

float nb_k_max(const float *x, int64_t n, int64_t *arg) {
    float m = x[0];
    int64_t a = 0;
    for (int64_t i = 1; i < n; i++)
        if (max_takes(x[i], m)) {
            m = x[i];
            a = i;
        }
    *arg = a;
    return m;
}

void nb_k_max_axis(const float *x, int64_t outer, int64_t n, int64_t inner, float *out,
                   int64_t *arg) {
    for (int64_t o = 0; o < outer; o++) {
        const float *xo = x + o * n * inner;
        float *mo = out + o * inner;
        int64_t *ao = arg + o * inner;
        for (int64_t i = 0; i < inner; i++) {
            mo[i] = xo[i];
            ao[i] = 0;
        }
        for (int64_t k = 1; k < n; k++) {
            const float *row = xo + k * inner;
            for (int64_t i = 0; i < inner; i++)
                if (max_takes(row[i], mo[i])) {
                    mo[i] = row[i];
                    ao[i] = k;
                }
        }
    }
}

void nb_k_spread_axis_add(const float *dout, int64_t outer, int64_t n, int64_t inner,
                          float scale, float *dx) {
    for (int64_t o = 0; o < outer; o++) {
        const float *g = dout + o * inner;
        for (int64_t k = 0; k < n; k++) {
            float *d = dx + (o * n + k) * inner;
            for (int64_t i = 0; i < inner; i++) d[i] += scale * g[i];
        }
    }
}

void nb_k_max_axis_backward(const float *dout, const int64_t *arg, int64_t outer, int64_t n,
                            int64_t inner, float *dx) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t j = o * inner + i;
            dx[(o * n + arg[j]) * inner + i] += dout[j];
        }
}
