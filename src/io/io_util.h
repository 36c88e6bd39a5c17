/* io/io_util.h — private helpers shared by the data readers: error messages
 * into caller buffers, whole-file reads with transparent gzip decompression,
 * overflow-checked size arithmetic. */
#ifndef NB_IO_UTIL_H
#define NB_IO_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "nabla/data.h"

/* Largest decompressed or read input accepted (bytes): a guard against gzip
 * bombs and absurd files, far above any dataset nabla is meant for. */
#define NB__IO_MAX_BYTES ((size_t)1 << 36)

/* Writes a printf-style message into err (if non-NULL) and returns status. */
int nb__io_fail(char *err, size_t errlen, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Reads the whole file at path into a malloc'ed buffer (*buf, *len); gzip
 * content (magic 1f 8b) is decompressed. The buffer gets one extra NUL byte
 * past *len so text parsers can rely on termination. */
int nb__read_input(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen);

/* If buf is gzip (magic 1f 8b) decompresses it into a new malloc'ed buffer
 * (*out, *outlen, NUL-terminated past the end) and sets *owned = 1; otherwise
 * *out = buf, *owned = 0. */
int nb__maybe_gunzip(const uint8_t *buf, size_t len, const char *name, uint8_t **out,
                     size_t *outlen, int *owned, char *err, size_t errlen);

/* a * b into *out; returns 0 on overflow of int64 (or negative inputs). */
int nb__mul_ok(int64_t a, int64_t b, int64_t *out);

/* malloc'ed copy of s[0..n) with a terminating NUL, or NULL. */
char *nb__strndup(const char *s, size_t n);

/* Shared by the loaders: apply opts (stats or the default kind) to a raw dataset. */
int nb__dataset_apply_opts_norm(nb_dataset *ds, const nb_data_opts *opts, int default_kind,
                                const char *name, char *err, size_t errlen);
/* Labels must be integers in [0, opts->num_classes or NB__MAX_CLASSES); sets
 * ds->num_classes. byte0 >= 0: file offset of label 0 (one byte per label),
 * named in the message. */
int nb__check_labels(nb_dataset *ds, const nb_data_opts *opts, const char *name, int64_t byte0,
                     char *err, size_t errlen);

/* Largest class id accepted when the class count is inferred from the labels. */
#define NB__MAX_CLASSES 1000000

#endif
