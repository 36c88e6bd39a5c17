/* core/gradcheck.c — numerical gradient checking: backward's gradients against
 * central finite differences of the replayed forward pass. */
#include <math.h>
#include <string.h>

#include "core/engine.h"

int nb_gradcheck(nb_graph *g, nb_tensor *const *wrt, int nwrt, float eps, float *worst) {
    if (!g || (nwrt > 0 && (!wrt || !worst))) return NB_ERR_NULL;
    nb_ctx *ctx = g->ctx;
    if (ctx->error) return ctx->error;
    if (!(eps > 0.0f))
        return nb__error(ctx, NB_ERR_ARG, "gradcheck: eps must be positive, got %g", (double)eps);
    for (int w = 0; w < nwrt; w++) {
        if (!wrt[w]) return nb__error(ctx, NB_ERR_NULL, "gradcheck: wrt[%d] is NULL", w);
        if (wrt[w]->op || !wrt[w]->grad)
            return nb__error(ctx, NB_ERR_ARG,
                             "gradcheck: wrt[%d] must be a leaf that requires a gradient", w);
    }

    /* Analytic gradients: zero, forward, backward once. Parameters' grads are
     * then left holding them, as documented. */
    nb_graph_zero_grad(g);
    int rc = nb_graph_forward(g);
    if (rc == NB_OK) rc = nb_graph_backward(g);
    if (rc != NB_OK) return rc;

    for (int w = 0; w < nwrt; w++) {
        nb_tensor *t = wrt[w];
        float err = 0.0f;
        for (int64_t i = 0; i < t->size; i++) {
            float x = t->data[i];
            t->data[i] = x + eps;
            if ((rc = nb_graph_forward(g)) != NB_OK) return rc;
            double fp = g->output->data[0];
            t->data[i] = x - eps;
            if ((rc = nb_graph_forward(g)) != NB_OK) return rc;
            double fm = g->output->data[0];
            t->data[i] = x;
            /* The step actually taken in float32, not the nominal 2·eps. */
            double h = (double)(x + eps) - (double)(x - eps);
            double numeric = (fp - fm) / h;
            double analytic = t->grad[i];
            double scale = fmax(1.0, fmax(fabs(analytic), fabs(numeric)));
            double e = fabs(analytic - numeric) / scale;
            if (!(e <= err)) err = isnan(e) ? NAN : (float)e;
            if (isnan(err)) break;
        }
        worst[w] = err;
    }
    /* Leave every value as the unperturbed forward pass computed it. */
    return nb_graph_forward(g);
}
