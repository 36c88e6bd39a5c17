/* kernels/optim_loops.h — the optimizer update loops, written once and
 * compiled twice: by optim.c (portable; fmaf from libm) and optim_avx2.c
 * (-mavx2 -mfma; fmaf becomes one instruction). Define NB_OPTIM_SUFFIX
 * before including. Both give the same bits: fmaf is exactly rounded
 * everywhere. The loops are plain, branch-free per element and restrict-
 * qualified, left to the auto-vectoriser: forcing `omp simd` fails (and
 * clang errors) where sqrtf keeps errno semantics.
 *
 * Operation order follows ATen's CPU kernels as measured on PyTorch 1.13
 * (tests/gen/gen_golden_optim.py): add(b, alpha) is fma(alpha, b, a),
 * addcmul(t1, t2, value) is fma(value·t1, t2, self), addcdiv is
 * self + (value·t1)/t2 with a true division, mul by a scalar is plain
 * (Adam departs from it in one place, noted there). */
#include <math.h>
#include <stdint.h>

#define NB_OPT_CAT2(a, b) a##b
#define NB_OPT_CAT(a, b) NB_OPT_CAT2(a, b)
#define NB_OPT_FN(name) NB_OPT_CAT(name, NB_OPTIM_SUFFIX)

void NB_OPT_FN(nb__k_sgd)(float *restrict p, const float *restrict g, float *restrict buf,
                          int64_t n, float neg_lr, float wd, float momentum, float damp1,
                          int nesterov, int first) {
    if (!buf) {
        for (int64_t i = 0; i < n; i++) p[i] = fmaf(neg_lr, fmaf(wd, p[i], g[i]), p[i]);
        return;
    }
    if (first) {
        for (int64_t i = 0; i < n; i++) buf[i] = fmaf(wd, p[i], g[i]);
    } else {
        for (int64_t i = 0; i < n; i++) buf[i] = fmaf(damp1, fmaf(wd, p[i], g[i]), buf[i] * momentum);
    }
    if (nesterov) {
        for (int64_t i = 0; i < n; i++) {
            float d = fmaf(momentum, buf[i], fmaf(wd, p[i], g[i]));
            p[i] = fmaf(neg_lr, d, p[i]);
        }
    } else {
        for (int64_t i = 0; i < n; i++) p[i] = fmaf(neg_lr, buf[i], p[i]);
    }
}

void NB_OPT_FN(nb__k_adam)(float *restrict p, const float *restrict g, float *restrict m,
                           float *restrict v, float *restrict vmax, int64_t n, float wd,
                           float decay, float beta1, float one_m_beta1, float beta2,
                           float one_m_beta2, float eps_b, float neg_step_b) {
    /* one pass per element (each array read and written once), in ATen's
     * order: decay, moments, then the update — except that ATen's
     * (step·m)/(sqrt(v)/b + eps), b = sqrt(bias correction 2), is computed as
     * (step·b·m)/(sqrt(v) + eps·b): one division fewer per element. The
     * step is otherwise bound by the divider (sqrt and two divisions: 110 µs
     * for the MLP's 235k parameters, 86 µs now, 61 µs to stream the arrays);
     * the result differs from ATen's by an ulp or two of the update. */
    if (vmax) {
        for (int64_t i = 0; i < n; i++) {
            const float pi = decay != 1.0f ? p[i] * decay : p[i];
            const float d = fmaf(wd, pi, g[i]);
            const float mi = fmaf(one_m_beta1, d, m[i] * beta1);
            const float vi = fmaf(one_m_beta2 * d, d, v[i] * beta2);
            const float vm = vmax[i] > vi ? vmax[i] : vi;
            m[i] = mi;
            v[i] = vi;
            vmax[i] = vm;
            p[i] = pi + (neg_step_b * mi) / (sqrtf(vm) + eps_b);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            const float pi = decay != 1.0f ? p[i] * decay : p[i];
            const float d = fmaf(wd, pi, g[i]);
            const float mi = fmaf(one_m_beta1, d, m[i] * beta1);
            const float vi = fmaf(one_m_beta2 * d, d, v[i] * beta2);
            m[i] = mi;
            v[i] = vi;
            p[i] = pi + (neg_step_b * mi) / (sqrtf(vi) + eps_b);
        }
    }
}

void NB_OPT_FN(nb__k_rmsprop)(float *restrict p, const float *restrict g, float *restrict sq,
                              float *restrict gavg, float *restrict buf, int64_t n, float wd,
                              float alpha, float one_m_alpha, float eps, float momentum,
                              float neg_lr) {
    /* the denominator is recomputed in the last pass instead of stored, so
     * the step needs no scratch memory */
    for (int64_t i = 0; i < n; i++) {
        float d = fmaf(wd, p[i], g[i]);
        sq[i] = fmaf(one_m_alpha * d, d, sq[i] * alpha);
    }
    if (gavg) {
        for (int64_t i = 0; i < n; i++)
            gavg[i] = fmaf(one_m_alpha, fmaf(wd, p[i], g[i]), gavg[i] * alpha);
    }
    if (buf) {
        for (int64_t i = 0; i < n; i++) {
            float d = fmaf(wd, p[i], g[i]);
            float c = gavg ? fmaf(-1.0f * gavg[i], gavg[i], sq[i]) : sq[i];
            float avg = sqrtf(c) + eps;
            buf[i] = buf[i] * momentum + (1.0f * d) / avg;
            p[i] = fmaf(neg_lr, buf[i], p[i]);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            float d = fmaf(wd, p[i], g[i]);
            float c = gavg ? fmaf(-1.0f * gavg[i], gavg[i], sq[i]) : sq[i];
            float avg = sqrtf(c) + eps;
            p[i] = p[i] + (neg_lr * d) / avg;
        }
    }
}

void NB_OPT_FN(nb__k_adagrad)(float *restrict p, const float *restrict g, float *restrict sum,
                              int64_t n, float wd, float eps, float neg_clr) {
    for (int64_t i = 0; i < n; i++) {
        float d = fmaf(wd, p[i], g[i]);
        sum[i] = fmaf(1.0f * d, d, sum[i]);
        float std = sqrtf(sum[i]) + eps;
        p[i] = p[i] + (neg_clr * d) / std;
    }
}
