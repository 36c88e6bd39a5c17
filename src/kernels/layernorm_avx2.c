/* kernels/layernorm_avx2.c — the layer/RMS normalisation row loops built with
 * AVX2 (this file gets -mavx2 -mfma); the body is shared with the portable
 * build in layernorm.c and gives bitwise the same results. */
#include <math.h>
#include <stdint.h>

#include "kernels/layernorm.h"

#define LN_NAME(x) x##avx2
#include "kernels/layernorm_body.inc"
