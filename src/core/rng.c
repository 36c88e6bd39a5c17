/* core/rng.c — PCG32 random numbers (XSH-RR variant, 64-bit state, one fixed
 * stream) and the samplers built on it; every context owns one generator.
 * Also MT19937 as PyTorch's CPU generator runs it, for nb_rng_seed_torch. */
#include <math.h>

#include "core/engine.h"

#define PCG_MULT 6364136223846793005ULL
#define PCG_STREAM 1442695040888963407ULL /* odd increment: the default stream */

void nb_rng_seed(nb_rng *rng, uint64_t seed) {
    if (!rng) return;
    rng->kind = NB_RNG_PCG;
    rng->state = 0;
    rng->inc = PCG_STREAM | 1u;
    nb_rng_u32(rng);
    rng->state += seed;
    nb_rng_u32(rng);
    rng->has_spare = 0;
    rng->spare = 0.0f;
}

/* MT19937 (Matsumoto and Nishimura's 32-bit Mersenne Twister), seeded as
 * PyTorch's CPUGeneratorImpl seeds it: the low 32 bits of the seed through
 * the standard init_genrand recurrence. */
#define MT_N 624
#define MT_M 397

void nb_rng_seed_torch(nb_rng *rng, uint64_t seed) {
    if (!rng) return;
    nb_rng_seed(rng, seed); /* PCG fields defined too */
    rng->kind = NB_RNG_TORCH;
    rng->mt[0] = (uint32_t)seed;
    for (int i = 1; i < MT_N; i++)
        rng->mt[i] = 1812433253u * (rng->mt[i - 1] ^ (rng->mt[i - 1] >> 30)) + (uint32_t)i;
    rng->mti = MT_N;
}

static uint32_t mt_next(nb_rng *rng) {
    uint32_t *mt = rng->mt;
    if (rng->mti >= MT_N) {
        for (int k = 0; k < MT_N; k++) {
            const uint32_t y = (mt[k] & 0x80000000u) | (mt[(k + 1) % MT_N] & 0x7fffffffu);
            mt[k] = mt[(k + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        rng->mti = 0;
    }
    uint32_t y = mt[rng->mti++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

uint32_t nb_rng_u32(nb_rng *rng) {
    if (rng->kind == NB_RNG_TORCH) return mt_next(rng);
    uint64_t old = rng->state;
    rng->state = old * PCG_MULT + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

float nb_rng_uniform(nb_rng *rng) {
    /* 24 bits: every value is exactly representable, and 1.0 never occurs;
     * the top ones of PCG's word, the low ones of MT's as PyTorch takes them */
    const uint32_t r = nb_rng_u32(rng);
    return (float)(rng->kind == NB_RNG_TORCH ? r & 0xffffffu : r >> 8) * (1.0f / 16777216.0f);
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
