/* nabla/data.h — reading training data (IDX, CSV, NumPy .npy; plain or gzip)
 * into plain owned float arrays, normalisation, validation splits and seeded
 * mini-batch iteration. Independent of contexts: a dataset is loaded once and
 * batches are copied into a graph's input tensors each step without allocating.
 * Included by nabla.h. */
#ifndef NABLA_DATA_H
#define NABLA_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "nabla/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors -----------------------------------------------------------------
 * The readers have no context. Every function here returns NB_OK or a negative
 * nb_status (NB_ERR_IO: the file could not be read; NB_ERR_FORMAT: its contents
 * are malformed; NB_ERR_ARG / NB_ERR_NULL: a bad argument; NB_ERR_ALLOC) and,
 * when err is non-NULL, writes one line into err[0..errlen) naming the file,
 * the byte offset or line, and what was expected, e.g.
 *   train-images-idx3-ubyte: byte 16: expected 47040000 bytes of image data, only 1000 remain
 *   iris.csv: line 7, column 'petal_width': not a number: 'abc'
 * Offsets in gzip files count bytes of the decompressed stream. No input, however
 * malformed, makes a reader crash (they are fuzzed: fuzz/fuzz_*.c).
 *
 * Every reader accepts gzip-compressed files transparently (detected by the
 * magic bytes 0x1f 0x8b, not by the name). */

/* Most feature dimensions per sample (a dataset row is at most a 5-d tensor). */
#define NB_DATA_MAX_DIMS (NB_MAX_DIMS - 1)

/* ---- normalisation ------------------------------------------------------------
 * How a dataset's features were transformed from the file's raw values:
 *   NB_NORM_NONE      x = raw
 *   NB_NORM_SCALE     x = raw * scale            (images: scale = 1/255, so [0,1])
 *   NB_NORM_STANDARD  x = (raw - mean[j]) / std[j] per feature j, with mean and
 *                     the population standard deviation (ddof 0) computed on the
 *                     training data; a constant feature gets std 1.
 * The CLI stores this in a checkpoint and applies the SAME values to evaluation
 * and prediction inputs (nb_data_opts.stats). */
typedef enum nb_norm_kind {
    NB_NORM_DEFAULT = 0, /* in nb_data_opts only: the format's default (below) */
    NB_NORM_NONE = 1,
    NB_NORM_SCALE = 2,
    NB_NORM_STANDARD = 3,
} nb_norm_kind;

typedef struct nb_norm {
    int kind;          /* nb_norm_kind, never NB_NORM_DEFAULT once applied */
    float scale;       /* NB_NORM_SCALE */
    int64_t features;  /* length of mean and std (NB_NORM_STANDARD), else 0 */
    float *mean, *std; /* owned by the dataset / struct holding them, or NULL */
} nb_norm;

/* ---- datasets -------------------------------------------------------------------
 * n samples; sample i's features are x[i*features .. (i+1)*features), row-major
 * with shape feat_shape[0..feat_ndim) ([28,28] for IDX images, [d] for CSV).
 * y[i] is sample i's class id (0 .. num_classes-1) as a float, or y is NULL
 * when the data has no labels. class_names (num_classes strings) exists only
 * for CSV files with string targets; feature_names only for CSV files. Every
 * pointer is owned by the dataset and released by nb_dataset_free. */
typedef struct nb_dataset {
    int64_t n;
    int feat_ndim;
    int64_t feat_shape[NB_DATA_MAX_DIMS];
    int64_t features;     /* product of feat_shape */
    float *x;
    float *y;             /* or NULL */
    int num_classes;      /* 0 when unlabelled */
    char **class_names;   /* or NULL */
    char **feature_names; /* CSV only, else NULL */
    char *target_name;    /* CSV only, else NULL */
    nb_norm norm;         /* what was applied to x */
} nb_dataset;

/* Frees everything the dataset owns and zeroes it; NULL and zeroed datasets are fine. */
void nb_dataset_free(nb_dataset *ds);

/* Loader options. A zero-initialised struct ({0}) means the defaults:
 *   norm        NB_NORM_DEFAULT: IDX images and uint8 NPY features are scaled by
 *               1/255; CSV and other NPY features are standardised with mean/std
 *               computed on the file itself.
 *   stats       non-NULL: apply these stored values instead of fitting (the
 *               training set's dataset.norm, for test/predict files); the feature
 *               count must match. Overrides norm.
 *   target      CSV: the target column's name. When NULL, target_column picks it:
 *               k > 0 = the k-th column (1-based), 0 = the last column.
 *   no_target   CSV: the file has features only (prediction inputs); y = NULL.
 *   num_classes when > 0: the class count (every label must be below it); else
 *               the largest label + 1.
 *   class_names CSV string targets: map targets through this list (the training
 *               set's class_names) instead of building one; an unknown name is an
 *               error. Needs num_classes entries.
 * CSV targets: if every target value is a non-negative integer (e.g. "0","3",
 * "2.0") and class_names is not given, the values are the class ids and the
 * dataset has no class_names. Otherwise the column holds names, mapped to ids in
 * sorted (strcmp) order, so the mapping does not depend on row order. Numbers
 * that are not class ids (negative, fractional) mixed with no names are an error. */
typedef struct nb_data_opts {
    int norm;
    const nb_norm *stats;
    const char *target;
    int target_column;
    int no_target;
    int num_classes;
    const char *const *class_names;
} nb_data_opts;

/* ---- IDX (MNIST / Fashion-MNIST) ------------------------------------------------
 * Format: bytes 0x00 0x00 TYPE NDIMS, then NDIMS big-endian uint32 sizes, then
 * the data. Only TYPE 0x08 (unsigned byte) is supported — the type every MNIST
 * style file uses; the other IDX types are rejected with a message naming them.
 * The data must be exactly the size the header promises (checked without
 * overflow; trailing bytes are an error too). */
typedef struct nb_idx {
    int ndim;                     /* 1 .. NB_MAX_DIMS */
    int64_t dims[NB_MAX_DIMS];
    int64_t count;                /* product of dims */
    uint8_t *data;                /* count bytes, owned */
} nb_idx;
int nb_idx_read(const char *path, nb_idx *out, char *err, size_t errlen);
/* The same from memory (plain or gzip bytes); name is used in messages. */
int nb_idx_parse(const void *buf, size_t len, const char *name, nb_idx *out, char *err,
                 size_t errlen);
void nb_idx_free(nb_idx *idx);

/* Images file ([n, ...] bytes) + labels file ([n] bytes) as one dataset:
 * counts must match, labels must be < num_classes (opts, else max label + 1).
 * feat_shape = the images' dims after the first ([28,28]). */
int nb_idx_load_pair(const char *images_path, const char *labels_path, const nb_data_opts *opts,
                     nb_dataset *ds, char *err, size_t errlen);
/* The Fashion-MNIST / MNIST directory layout: <dir>/<split>-images-idx3-ubyte
 * and <dir>/<split>-labels-idx1-ubyte, each optionally with ".gz" (the plain
 * file is preferred when both exist). split is "train" or "t10k". */
int nb_dataset_load_idx_dir(const char *dir, const char *split, const nb_data_opts *opts,
                            nb_dataset *ds, char *err, size_t errlen);

/* ---- CSV -----------------------------------------------------------------------
 * RFC 4180 basics: a header row (required), comma-separated fields, records
 * ending in LF or CRLF, fields optionally in double quotes (which may hold
 * commas, newlines and "" for a quote). Empty lines are skipped. Every feature
 * field must be a finite number (spaces around it allowed); empty fields,
 * NaN, Inf and text are errors naming the line and column — nabla does not
 * guess missing values. Every record must have the header's field count.
 * Line numbers in messages are 1-based physical lines (the header is line 1). */
int nb_dataset_load_csv(const char *path, const nb_data_opts *opts, nb_dataset *ds, char *err,
                        size_t errlen);
int nb_csv_parse(const void *buf, size_t len, const char *name, const nb_data_opts *opts,
                 nb_dataset *ds, char *err, size_t errlen);

/* ---- NumPy .npy -------------------------------------------------------------------
 * Versions 1.0, 2.0 and 3.0; dtypes '<f4', '<f8', '|u1', '<i8' (little-endian;
 * big-endian, other and structured dtypes are rejected); C order only
 * (fortran_order True is rejected); the data must be exactly shape's size.
 * Values are converted to float; non-finite values (after conversion) are an
 * error in feature files. */
typedef enum nb_npy_dtype { NB_NPY_F4 = 1, NB_NPY_F8, NB_NPY_U1, NB_NPY_I8 } nb_npy_dtype;
typedef struct nb_npy {
    int dtype;                 /* nb_npy_dtype of the file */
    int ndim;                  /* 0 .. NB_MAX_DIMS */
    int64_t shape[NB_MAX_DIMS];
    int64_t count;             /* product of shape (1 for a 0-d array) */
    float *data;               /* count floats, owned */
} nb_npy;
int nb_npy_read(const char *path, nb_npy *out, char *err, size_t errlen);
int nb_npy_parse(const void *buf, size_t len, const char *name, nb_npy *out, char *err,
                 size_t errlen);
void nb_npy_free(nb_npy *npy);

/* Features file [n, ...] (a 1-d [n] file is n samples of one feature) and an
 * optional labels file (NULL: none) of shape [n] or [n,1] holding class ids:
 * integers >= 0 in any supported dtype. */
int nb_dataset_load_npy(const char *features_path, const char *labels_path,
                        const nb_data_opts *opts, nb_dataset *ds, char *err, size_t errlen);

/* ---- normalisation, splits ----------------------------------------------------------
 * For a leak-free validation split, load with opts.norm = NB_NORM_NONE, split,
 * then fit on the training part and apply the same values to both:
 *     nb_norm_fit(&train, NB_NORM_STANDARD, 0, &norm);
 *     nb_dataset_normalise(&train, &norm); nb_dataset_normalise(&val, &norm);
 *     nb_norm_free(&norm);
 * nb_norm_fit fills *out with freshly allocated mean/std (NB_NORM_STANDARD) or
 * the scale (NB_NORM_SCALE; scale 0 means 1/255). nb_dataset_normalise requires
 * raw data (ds->norm.kind == NB_NORM_NONE) and copies `norm` into ds->norm. */
int nb_norm_fit(const nb_dataset *ds, int kind, float scale, nb_norm *out, char *err,
                size_t errlen);
int nb_dataset_normalise(nb_dataset *ds, const nb_norm *norm, char *err, size_t errlen);
/* Deep copy (mean/std allocated) and release of a nb_norm. */
int nb_norm_copy(nb_norm *dst, const nb_norm *src);
void nb_norm_free(nb_norm *norm);

/* Split src into train (first) and val (the rest): n_val = round(n * val_fraction),
 * which must leave at least one sample on each side. With shuffle = 0 the
 * validation set is the LAST n_val samples in file order; with shuffle = 1 the
 * samples are assigned by a permutation drawn from `seed` (same seed, same split)
 * and each part keeps file order. Both parts are deep copies (labels, names and
 * norm included); src is unchanged. */
int nb_dataset_split(const nb_dataset *src, double val_fraction, int shuffle, uint64_t seed,
                     nb_dataset *train, nb_dataset *val, char *err, size_t errlen);

/* ---- batches -------------------------------------------------------------------------
 * Iterates a dataset in mini-batches, copying rows into caller buffers (an input
 * tensor's data: batch * features floats; labels: batch floats).
 *
 *     nb_batch_iter it;
 *     nb_batch_iter_init(&it, &train, 64, 1, seed, err, sizeof err);
 *     for (epoch = 0; epoch < epochs; epoch++) {
 *         nb_batch_epoch(&it, epoch);
 *         while (nb_batch_next(&it, x->data, y->data, &count) > 0) { ... }
 *     }
 *     nb_batch_iter_free(&it);
 *
 * Shuffling: epoch e visits the samples in a Fisher–Yates permutation of
 * 0..n-1 drawn with nb_rng seeded from (seed, e) only (unbiased bounded draws),
 * so an epoch's order does not depend on earlier epochs: resuming at epoch e
 * reproduces an uninterrupted run exactly. shuffle = 0 visits samples in order.
 * shuffle = NB_SHUFFLE_TORCH gives the orders a PyTorch loop draws with
 * torch.randperm(n, generator=g) each epoch, g = torch.Generator().manual_seed(
 * seed) (PyTorch 1.13's CPU algorithm): epoch e replays the e earlier draws
 * first, so it too depends on (seed, e) only, at O(e·n) per epoch.
 *
 * The last batch of an epoch holds n % batch samples when batch does not divide
 * n: nb_batch_next reports it in *count and fills the remaining rows of x_out
 * and y_out with zeros, so a fixed-shape graph can run it and mask the padding,
 * or the caller can skip it or run a separate graph — the policy is the
 * caller's. */
enum { NB_SHUFFLE_NONE = 0, NB_SHUFFLE = 1, NB_SHUFFLE_TORCH = 2 };
typedef struct nb_batch_iter {
    const nb_dataset *ds;
    int64_t batch;
    int shuffle;
    uint64_t seed;
    int64_t epoch;
    int64_t pos;        /* next position in order[] */
    int64_t *order;     /* n indices */
} nb_batch_iter;
int nb_batch_iter_init(nb_batch_iter *it, const nb_dataset *ds, int64_t batch, int shuffle,
                       uint64_t seed, char *err, size_t errlen);
/* Starts epoch `epoch` (>= 0): rewinds and draws that epoch's order. */
int nb_batch_epoch(nb_batch_iter *it, int64_t epoch);
/* Copies the next batch; returns 1 with *count in 1..batch, 0 at the end of the
 * epoch (*count = 0), or a negative nb_status. y_out may be NULL (or is left
 * untouched when the dataset has no labels). */
int nb_batch_next(nb_batch_iter *it, float *x_out, float *y_out, int64_t *count);
/* Batches per epoch, counting a last partial one. */
int64_t nb_batch_count(const nb_batch_iter *it);
void nb_batch_iter_free(nb_batch_iter *it);

/* Copies samples idx[0..count) into x_out / y_out (y_out may be NULL). */
int nb_dataset_gather(const nb_dataset *ds, const int64_t *idx, int64_t count, float *x_out,
                      float *y_out);

#ifdef __cplusplus
}
#endif
#endif
