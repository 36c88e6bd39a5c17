/* kernels/attention_avx2.c — the attention slice kernels built with AVX2+FMA
 * (this file gets -mavx2 -mfma); the body is shared with the portable build. */
#include "kernels/attention.h"

#include <math.h>

#define ATTN_NAME(x) x##avx2
#define ATTN_FMA(a, b, c) fmaf(a, b, c)
#include "kernels/attention_body.inc"
