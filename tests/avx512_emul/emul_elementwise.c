/* tests/avx512_emul/emul_elementwise.c — the unmodified elementwise_avx512.c
 * built against the plain-C intrinsics of avx512_emul.h, under emul_names.h's
 * names. Compiled with -mavx2 -mfma only (its 128/256-bit steps run for real). */
#include "avx512_emul.h"
#include "emul_names.h"

long emu_avx512_partial_loads, emu_avx512_partial_stores;

#include "kernels/elementwise_avx512.c"
