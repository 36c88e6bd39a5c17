/* tests/avx512_emul/emul_sgemm.c — the unmodified sgemm_avx512.c (12x32
 * micro-kernel) built against the plain-C intrinsics of avx512_emul.h, as
 * emu_nb__sgemm_avx512. Compiled with -mavx2 -mfma only. */
#include "avx512_emul.h"
#include "emul_names.h"

#include "kernels/sgemm_avx512.c"
