/* Random compositions of ops, gradient-checked end to end: from a seeded RNG,
 * 30 chains of 4–8 steps (unary and activation ops, broadcasting binary ops
 * with earlier results reused, keepdim reductions, softmax) over random
 * shapes. Steps that could leave a safe range are composed with a squashing
 * op first (exp∘tanh, log∘(σ + ½), x / (2 + tanh y)), and values are rescaled
 * when they grow, so finite differences stay accurate. */
#include "test_util.h"

#define NCHAINS 30
#define POOL 16

struct chain {
    nb_ctx *ctx;
    uint64_t *seed;
    nb_tensor *pool[POOL];
    int npool;
    int full_ndim;
    char desc[512];
    size_t len;
};

static void note(struct chain *c, const char *s) {
    if (c->len < sizeof c->desc - 1)
        c->len += (size_t)snprintf(c->desc + c->len, sizeof c->desc - c->len, "%s ", s);
}

static unsigned pick(struct chain *c, unsigned n) { return nbt_rand_u32(c->seed) % n; }

static float max_abs(const nb_tensor *t) {
    float m = 0;
    for (int64_t i = 0; i < t->size; i++) m = fmaxf(m, fabsf(t->data[i]));
    return m;
}

/* One random step applied to v; another pool entry may be reused as the
 * second operand. */
static nb_tensor *step(struct chain *c, nb_tensor *v) {
    nb_ctx *ctx = c->ctx;
    nb_tensor *o = c->pool[pick(c, (unsigned)c->npool)];
    switch (pick(c, 16)) {
    case 0: note(c, "tanh"); return nb_tanh(ctx, v);
    case 1: note(c, "sigmoid"); return nb_sigmoid(ctx, v);
    case 2: note(c, "exp(tanh)"); return nb_exp(ctx, nb_tanh(ctx, v));
    case 3: note(c, "log(sigmoid+0.5)"); return nb_log(ctx, nb_add_scalar(ctx, nb_sigmoid(ctx, v), 0.5f));
    case 4: note(c, "sqrt(sigmoid+0.25)"); return nb_sqrt(ctx, nb_add_scalar(ctx, nb_sigmoid(ctx, v), 0.25f));
    case 5: note(c, "square"); return nb_square(ctx, v);
    case 6: note(c, "scale"); return nb_scale(ctx, v, nbt_uniform(c->seed, -1.5f, 1.5f));
    case 7: note(c, "softplus"); return nb_softplus(ctx, v);
    case 8: note(c, "gelu"); return nb_gelu(ctx, v, pick(c, 2) ? NB_GELU_TANH : NB_GELU_ERF);
    case 9: note(c, "add"); return nb_add(ctx, v, o);
    case 10: note(c, "sub"); return nb_sub(ctx, o, v);
    case 11: note(c, "mul"); return nb_mul(ctx, v, o);
    case 12: note(c, "div(2+tanh)"); return nb_div(ctx, v, nb_add_scalar(ctx, nb_tanh(ctx, o), 2.0f));
    case 13:
    case 14: {
        if (v->ndim == 0) return nb_neg(ctx, v);
        int axis = (int)pick(c, (unsigned)v->ndim) - (pick(c, 2) ? v->ndim : 0);
        char buf[32];
        int mean = pick(c, 2);
        snprintf(buf, sizeof buf, "%s_axis(%d)", mean ? "mean" : "sum", axis);
        note(c, buf);
        /* keepdim, so the result still broadcasts against the pool */
        return mean ? nb_mean_axis(ctx, v, axis, 1) : nb_sum_axis(ctx, v, axis, 1);
    }
    default: {
        if (v->ndim == 0) return nb_neg(ctx, v);
        int axis = (int)pick(c, (unsigned)v->ndim) - (pick(c, 2) ? v->ndim : 0);
        char buf[32];
        int logp = pick(c, 2);
        snprintf(buf, sizeof buf, "%ssoftmax(%d)", logp ? "log_" : "", axis);
        note(c, buf);
        return logp ? nb_log_softmax(ctx, v, axis) : nb_softmax(ctx, v, axis);
    }
    }
}

static void run_chain(int k, uint64_t *seed) {
    struct chain c = {.seed = seed};
    c.ctx = nb_ctx_new();
    nb_ctx *ctx = c.ctx;

    /* random full shape, rank 1..3, dims 1..4; the second input broadcasts
     * into it (some dims 1, maybe fewer leading dims); the third is rank 0 */
    int nd = 1 + (int)pick(&c, 3);
    int64_t full[3], part[3];
    for (int d = 0; d < nd; d++) full[d] = 1 + pick(&c, 4);
    int pd = nd - (int)pick(&c, (unsigned)nd);
    for (int d = 0; d < pd; d++) part[d] = pick(&c, 2) ? full[nd - pd + d] : 1;
    nb_tensor *x = nbt_param(ctx, seed, -1.5f, 1.5f, nd, full);
    nb_tensor *w = nbt_param(ctx, seed, -1.5f, 1.5f, pd, part);
    nb_tensor *s = nbt_param(ctx, seed, -1.0f, 1.0f, 0, NULL);
    c.pool[c.npool++] = x;
    c.pool[c.npool++] = w;
    c.pool[c.npool++] = s;
    c.full_ndim = nd;

    nb_tensor *v = pick(&c, 2) ? x : nb_mul(ctx, x, w);
    int steps = 4 + (int)pick(&c, 5);
    for (int i = 0; i < steps; i++) {
        v = step(&c, v);
        NBT_ASSERT_OK(ctx);
        /* rescale when values grow, so curvature stays small at the FD step */
        float m = max_abs(v);
        if (m > 2.0f) {
            note(&c, "rescale");
            v = nb_scale(ctx, v, 1.5f / m);
        }
        if (c.npool < POOL) c.pool[c.npool++] = v;
    }
    /* the loss also reads an earlier intermediate, so that one node feeds
     * two consumers of the final sum */
    nb_tensor *extra = c.pool[3 + pick(&c, (unsigned)(c.npool - 3))];
    nb_tensor *loss = nb_add(ctx, nbt_weighted_sum(ctx, v, seed), nbt_weighted_sum(ctx, extra, seed));
    NBT_ASSERT_OK(ctx);
    for (int64_t i = 0; i < loss->size; i++) assert_true(isfinite(loss->data[i]));

    char what[600];
    snprintf(what, sizeof what, "chain %d [rank %d]: %s", k, nd, c.desc);
    nb_tensor *wrt[3] = {x, w, s};
    nbt_check_grads(ctx, loss, wrt, 3, what);
    nb_ctx_free(ctx);
}

static void test_random_chains(void **state) {
    (void)state;
    uint64_t seed = 20240501;
    for (int k = 0; k < NCHAINS; k++) run_chain(k, &seed);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_random_chains),
};
NB_TEST_MAIN(tests)
