/* libFuzzer target for the CSV reader. The first byte picks the options
 * (target by name / by index / none, normalisation, a fixed class list) so
 * every code path of the reader is reachable; the rest is the file. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char *const names[] = {"a", "b", "1"};
    nb_data_opts opts;
    memset(&opts, 0, sizeof opts);
    uint8_t sel = data[0];
    switch (sel & 3) {
    case 0: break;                           /* last column */
    case 1: opts.target = "y"; break;
    case 2: opts.target_column = 1 + (sel >> 6); break;
    case 3: opts.no_target = 1; break;
    }
    if (sel & 4) opts.norm = NB_NORM_NONE;
    if (sel & 8) {
        opts.class_names = names;
        opts.num_classes = 3;
    } else if (sel & 16) {
        opts.num_classes = 2;
    }
    nb_dataset ds;
    char err[256];
    int rc = nb_csv_parse(data + 1, size - 1, "fuzz.csv", &opts, &ds, err, sizeof err);
    if (rc == NB_OK) {
        if (ds.n < 1 || ds.features < 1) abort();
        for (int64_t i = 0; i < ds.n * ds.features; i++)
            if (!isfinite(ds.x[i])) abort();
        if (ds.y)
            for (int64_t i = 0; i < ds.n; i++)
                if (!(ds.y[i] >= 0 && ds.y[i] < (float)ds.num_classes)) abort();
        for (int64_t j = 0; j < ds.features; j++)
            if (!ds.feature_names[j]) abort();
    } else if (err[0] == '\0' || !strstr(err, "fuzz.csv")) {
        abort();
    }
    nb_dataset_free(&ds);
    return 0;
}
