/* io/csv.c — stub while the CSV reader is written. */
#include "io/io_util.h"
int nb_csv_parse(const void *buf, size_t len, const char *name, const nb_data_opts *opts,
                 nb_dataset *ds, char *err, size_t errlen) {
    (void)buf; (void)len; (void)opts; (void)ds;
    return nb__io_fail(err, errlen, NB_ERR_STATE, "%s: CSV not implemented yet", name);
}
int nb_dataset_load_csv(const char *path, const nb_data_opts *opts, nb_dataset *ds, char *err,
                        size_t errlen) {
    return nb_csv_parse(NULL, 0, path, opts, ds, err, errlen);
}
