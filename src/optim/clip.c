/* optim/clip.c — gradient clipping (global L2 norm, by value) and the scan for
 * NaN/Inf in the loss and gradients that lets a training loop stop or skip a
 * step with a message naming the step and the parameter. */
#include <math.h>
#include <stdio.h>

#include "core/engine.h"
#include "kernels/optim.h"
#include "nabla/optim.h"

static nb_ctx *first_ctx(nb_tensor *const *params, int n) {
    for (int i = 0; params && i < n; i++)
        if (params[i]) return params[i]->ctx;
    return NULL;
}

float nb_clip_grad_norm(nb_tensor *const *params, int n, float max_norm) {
    nb_ctx *ctx = first_ctx(params, n);
    if (!params || n < 0) return -1.0f;
    if (!(max_norm >= 0.0f)) {
        nb__error(ctx, NB_ERR_ARG, "clip_grad_norm: max_norm must be >= 0, got %g",
                  (double)max_norm);
        return -1.0f;
    }
    double ss = 0.0;
    for (int i = 0; i < n; i++) {
        if (!params[i]) {
            nb__error(ctx, NB_ERR_NULL, "clip_grad_norm: parameter %d is NULL", i);
            return -1.0f;
        }
        nb_tensor_grad_settle(params[i]);
        if (params[i]->grad) ss += nb_k_sumsq(params[i]->grad, params[i]->size);
    }
    float norm = (float)sqrt(ss);
    if (!isfinite(norm)) return norm;
    /* torch computes the coefficient on a float32 tensor */
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f) {
        for (int i = 0; i < n; i++)
            if (params[i]->grad) nb_k_scale(params[i]->grad, params[i]->size, coef);
    }
    return norm;
}

int nb_clip_grad_value(nb_tensor *const *params, int n, float clip_value) {
    nb_ctx *ctx = first_ctx(params, n);
    if (!params || n < 0) return NB_ERR_NULL;
    if (!(clip_value >= 0.0f))
        return nb__error(ctx, NB_ERR_ARG, "clip_grad_value: clip_value must be >= 0, got %g",
                         (double)clip_value);
    for (int i = 0; i < n; i++) {
        if (!params[i]) return nb__error(ctx, NB_ERR_NULL, "clip_grad_value: parameter %d is NULL", i);
        nb_tensor_grad_settle(params[i]);
        if (params[i]->grad) nb_k_clamp(params[i]->grad, params[i]->size, -clip_value, clip_value);
    }
    return NB_OK;
}

int nb_check_finite(nb_ctx *ctx, int64_t step, const nb_tensor *loss, nb_tensor *const *params,
                    int n) {
    if (!ctx) return NB_ERR_NULL;
    if (loss && loss->data) {
        int64_t k = nb_k_first_nonfinite(loss->data, loss->size);
        if (k >= 0)
            return nb__error(ctx, NB_ERR_NONFINITE, "non-finite loss at step %lld: %s%s = %g",
                             (long long)step, loss->name ? loss->name : "loss",
                             loss->size > 1 ? "[...]" : "", (double)loss->data[k]);
    }
    for (int i = 0; params && i < n; i++) {
        nb_tensor *p = params[i];
        if (!p || !p->grad) continue;
        nb_tensor_grad_settle(p);
        int64_t k = nb_k_first_nonfinite(p->grad, p->size);
        if (k >= 0)
            return nb__error(ctx, NB_ERR_NONFINITE,
                             "non-finite gradient at step %lld: %s[%lld] = %g", (long long)step,
                             p->name ? p->name : "(unnamed)", (long long)k, (double)p->grad[k]);
    }
    return NB_OK;
}
