/* kernels/optim_avx2.c — the optimizer update loops built with AVX2 + FMA
 * (this file alone gets -mavx2 -mfma), chosen at run time by optim.c. */
#define NB_OPTIM_SUFFIX _avx2
#include "kernels/optim_loops.h"
