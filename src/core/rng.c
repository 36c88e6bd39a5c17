/* core/rng.c — PCG32 random numbers (XSH-RR variant, 64-bit state, one fixed
 * stream) and the samplers built on it; every context owns one generator. */
#include <math.h>

#include "core/engine.h"

#define PCG_MULT 6364136223846793005ULL
#define PCG_STREAM 1442695040888963407ULL /* odd increment: the default stream */

void nb_rng_seed(nb_rng *rng, uint64_t seed) {
    if (!rng) return;
    rng->state = 0;
    rng->inc = PCG_STREAM | 1u;
    nb_rng_u32(rng);
    rng->state += seed;
    nb_rng_u32(rng);
    rng->has_spare = 0;
    rng->spare = 0.0f;
}

uint32_t nb_rng_u32(nb_rng *rng) {
    uint64_t old = rng->state;
    rng->state = old * PCG_MULT + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

float nb_rng_uniform(nb_rng *rng) {
    /* the top 24 bits: every value is exactly representable, and 1.0 never occurs */
    return (float)(nb_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

/* Box–Muller on two uniforms; the second result is kept for the next call.
 * Computed in double so the tails are not cut by float rounding of log(u). */
float nb_rng_normal(nb_rng *rng) {
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    double u1 = ((double)(nb_rng_u32(rng) >> 8) + 1.0) * (1.0 / 16777216.0); /* (0, 1] */
    double u2 = (double)(nb_rng_u32(rng) >> 8) * (1.0 / 16777216.0);         /* [0, 1) */
    double r = sqrt(-2.0 * log(u1));
    double theta = 6.283185307179586 * u2;
    rng->spare = (float)(r * sin(theta));
    rng->has_spare = 1;
    return (float)(r * cos(theta));
}

nb_rng *nb_ctx_rng(nb_ctx *ctx) { return ctx ? &ctx->rng : NULL; }
