/* data_cli.h — how the `nabla` subcommands get their data: Fashion-MNIST and
 * other IDX directories kept as raw bytes (converted per batch, so 60000
 * images cost 47 MB, not 188), CSV and NPY files through the library's
 * readers, validation splits, and batch gathering into a graph's input. */
#ifndef NABLA_CLI_DATA_H
#define NABLA_CLI_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "nabla.h"

/* Debian's dataset-fashion-mnist installs here; NABLA_FMNIST_DIR overrides it
 * (tests point it at small synthetic files). */
#define NBC_FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#define NBC_FMNIST_PACKAGE "dataset-fashion-mnist"
const char *nbc_fmnist_dir(void);
extern const char *const nbc_fmnist_classes[10];

/* A dataset whose features are either floats (ds.x) or raw bytes (x8, with
 * ds.x == NULL) that become x8 * ds.norm.scale when gathered: the same float
 * values nb_dataset_load_idx_dir produces. ds holds everything else (n, shape,
 * labels, classes, names, norm). */
typedef struct nbc_data {
    nb_dataset ds;
    uint8_t *x8;
} nbc_data;

void nbc_data_free(nbc_data *d);

/* Streaming IDX reader (plain or gzip through zlib's gzread, so no second copy
 * of the file is ever held): same checks and messages as nb_idx_read. */
int nbc_idx_read_u8(const char *path, nb_idx *out, char *err, size_t errlen);

/* <dir>/<split>-images-idx3-ubyte[.gz] + labels as bytes. stats: the norm to
 * apply (NB_NORM_SCALE only) or NULL for pixel/255. num_classes 0: max+1. */
int nbc_data_load_idx_dir(const char *dir, const char *split, int num_classes, nbc_data *d,
                          char *err, size_t errlen);
/* An images-only IDX file (prediction inputs). */
int nbc_data_load_idx_images(const char *path, nbc_data *d, char *err, size_t errlen);

/* Copies samples idx[0..count) into x (count * features floats) and, when y
 * and labels exist, their labels into y. */
void nbc_data_gather(const nbc_data *d, const int64_t *idx, int64_t count, float *x, float *y);
/* Asks the CPU to start loading rows idx[0..count) (the next batch's) into
 * cache, so that gathering them after this step's work does not wait on
 * memory. A hint: no effect on results. */
void nbc_data_prefetch(const nbc_data *d, const int64_t *idx, int64_t count);
/* Rows [start, start+count) in file order. */
void nbc_data_rows(const nbc_data *d, int64_t start, int64_t count, float *x, float *y);

/* Keeps only the first n samples (no-op when n <= 0 or n >= size). */
void nbc_data_limit(nbc_data *d, int64_t n);

/* The file kind from its name: "csv", "npy", "idx" (…-ubyte), or NULL. */
const char *nbc_data_kind(const char *path);

#endif
