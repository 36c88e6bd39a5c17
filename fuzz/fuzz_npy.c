/* libFuzzer target for the .npy reader: header dict parsing, dtypes and size
 * checks must reject any malformed bytes with a message, never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_npy a;
    char err[256];
    int rc = nb_npy_parse(data, size, "fuzz.npy", &a, err, sizeof err);
    if (rc == NB_OK) {
        int64_t count = 1;
        for (int i = 0; i < a.ndim; i++) count *= a.shape[i];
        if (count != a.count || a.ndim < 0 || a.ndim > NB_MAX_DIMS) abort();
        volatile float sink = 0;
        for (int64_t i = 0; i < a.count; i++) sink += a.data[i];
        (void)sink;
    } else if (err[0] == '\0' || !strstr(err, "fuzz.npy")) {
        abort();
    }
    nb_npy_free(&a);
    return 0;
}
