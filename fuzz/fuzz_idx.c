/* libFuzzer target for the IDX reader (plain and gzip): any bytes must give
 * NB_OK with a consistent array or an error message, never a crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_idx idx;
    char err[256];
    int rc = nb_idx_parse(data, size, "fuzz.idx", &idx, err, sizeof err);
    if (rc == NB_OK) {
        int64_t count = 1;
        for (int i = 0; i < idx.ndim; i++) count *= idx.dims[i];
        if (count != idx.count || idx.ndim < 1 || idx.ndim > NB_MAX_DIMS) abort();
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < idx.count; i++) sink ^= idx.data[i]; /* every byte readable */
        (void)sink;
    } else if (err[0] == '\0' || !strstr(err, "fuzz.idx")) {
        abort(); /* every error names the input */
    }
    nb_idx_free(&idx);
    return 0;
}
