/* io/dataset.c — what happens to data after it is read: normalisation (fit
 * and apply), validation splits, and seeded mini-batch iteration that copies
 * rows into caller buffers without allocating. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_util.h"

static void free_names(char **names, int64_t n) {
    if (!names) return;
    for (int64_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

void nb_norm_free(nb_norm *norm) {
    if (!norm) return;
    free(norm->mean);
    free(norm->std);
    memset(norm, 0, sizeof *norm);
}

int nb_norm_copy(nb_norm *dst, const nb_norm *src) {
    if (!dst || !src) return NB_ERR_NULL;
    nb_norm r = *src;
    r.mean = r.std = NULL;
    if (src->kind == NB_NORM_STANDARD) {
        if (src->features <= 0 || !src->mean || !src->std) return NB_ERR_ARG;
        size_t bytes = (size_t)src->features * sizeof(float);
        r.mean = malloc(bytes);
        r.std = malloc(bytes);
        if (!r.mean || !r.std) {
            free(r.mean);
            free(r.std);
            return NB_ERR_ALLOC;
        }
        memcpy(r.mean, src->mean, bytes);
        memcpy(r.std, src->std, bytes);
    } else {
        r.features = 0;
    }
    *dst = r;
    return NB_OK;
}

void nb_dataset_free(nb_dataset *ds) {
    if (!ds) return;
    free(ds->x);
    free(ds->y);
    free_names(ds->class_names, ds->num_classes);
    free_names(ds->feature_names, ds->feature_names ? ds->features : 0);
    free(ds->target_name);
    nb_norm_free(&ds->norm);
    memset(ds, 0, sizeof *ds);
}

int nb_norm_fit(const nb_dataset *ds, int kind, float scale, nb_norm *out, char *err,
                size_t errlen) {
    if (!ds || !out) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_norm_fit: NULL argument");
    memset(out, 0, sizeof *out);
    if (kind == NB_NORM_NONE) {
        out->kind = NB_NORM_NONE;
        return NB_OK;
    }
    if (kind == NB_NORM_SCALE) {
        if (scale == 0.0f) scale = 1.0f / 255.0f;
        if (!isfinite(scale))
            return nb__io_fail(err, errlen, NB_ERR_ARG, "nb_norm_fit: scale %g is not finite",
                               (double)scale);
        out->kind = NB_NORM_SCALE;
        out->scale = scale;
        return NB_OK;
    }
    if (kind != NB_NORM_STANDARD)
        return nb__io_fail(err, errlen, NB_ERR_ARG, "nb_norm_fit: unknown normalisation kind %d",
                           kind);
    if (ds->n <= 0 || ds->features <= 0 || !ds->x)
        return nb__io_fail(err, errlen, NB_ERR_ARG, "nb_norm_fit: the dataset is empty");
    int64_t d = ds->features;
    float *mean = malloc((size_t)d * sizeof(float));
    float *std = malloc((size_t)d * sizeof(float));
    double *acc = calloc((size_t)d, sizeof(double));
    if (!mean || !std || !acc) {
        free(mean);
        free(std);
        free(acc);
        return nb__io_fail(err, errlen, NB_ERR_ALLOC, "nb_norm_fit: out of memory");
    }
    /* Two passes in double: the mean first, then squared deviations from it,
     * which stays accurate where sum(x^2) - n*mean^2 would cancel. */
    for (int64_t i = 0; i < ds->n; i++) {
        const float *row = ds->x + i * d;
        for (int64_t j = 0; j < d; j++) acc[j] += row[j];
    }
    for (int64_t j = 0; j < d; j++) {
        mean[j] = (float)(acc[j] / (double)ds->n);
        acc[j] = 0.0;
    }
    for (int64_t i = 0; i < ds->n; i++) {
        const float *row = ds->x + i * d;
        for (int64_t j = 0; j < d; j++) {
            double t = (double)row[j] - (double)mean[j];
            acc[j] += t * t;
        }
    }
    for (int64_t j = 0; j < d; j++) {
        double s = sqrt(acc[j] / (double)ds->n);
        /* a constant feature carries no information: map it to 0, not to NaN */
        std[j] = (s > 0.0 && isfinite(s)) ? (float)s : 1.0f;
        if (!(std[j] > 0.0f) || !isfinite(std[j])) std[j] = 1.0f;
    }
    free(acc);
    out->kind = NB_NORM_STANDARD;
    out->features = d;
    out->mean = mean;
    out->std = std;
    return NB_OK;
}

int nb_dataset_normalise(nb_dataset *ds, const nb_norm *norm, char *err, size_t errlen) {
    if (!ds || !norm)
        return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_dataset_normalise: NULL argument");
    if (ds->norm.kind != NB_NORM_NONE && ds->norm.kind != NB_NORM_DEFAULT)
        return nb__io_fail(err, errlen, NB_ERR_STATE,
                           "nb_dataset_normalise: the dataset is already normalised");
    int64_t d = ds->features, total;
    if (!nb__mul_ok(ds->n, d, &total))
        return nb__io_fail(err, errlen, NB_ERR_ARG, "nb_dataset_normalise: bad dataset size");
    if (norm->kind == NB_NORM_SCALE) {
        if (!isfinite(norm->scale) || norm->scale == 0.0f)
            return nb__io_fail(err, errlen, NB_ERR_ARG,
                               "nb_dataset_normalise: scale %g must be finite and non-zero",
                               (double)norm->scale);
        for (int64_t i = 0; i < total; i++) ds->x[i] *= norm->scale;
    } else if (norm->kind == NB_NORM_STANDARD) {
        if (norm->features != d || !norm->mean || !norm->std)
            return nb__io_fail(err, errlen, NB_ERR_SHAPE,
                               "nb_dataset_normalise: stored statistics are for %lld features, "
                               "the data has %lld",
                               (long long)norm->features, (long long)d);
        for (int64_t j = 0; j < d; j++)
            if (!isfinite(norm->mean[j]) || !(norm->std[j] > 0.0f) || !isfinite(norm->std[j]))
                return nb__io_fail(err, errlen, NB_ERR_ARG,
                                   "nb_dataset_normalise: feature %lld: mean %g / std %g invalid",
                                   (long long)j, (double)norm->mean[j], (double)norm->std[j]);
        for (int64_t i = 0; i < ds->n; i++) {
            float *row = ds->x + i * d;
            for (int64_t j = 0; j < d; j++) row[j] = (row[j] - norm->mean[j]) / norm->std[j];
        }
    } else if (norm->kind != NB_NORM_NONE) {
        return nb__io_fail(err, errlen, NB_ERR_ARG, "nb_dataset_normalise: unknown kind %d",
                           norm->kind);
    }
    for (int64_t i = 0; i < total; i++)
        if (!isfinite(ds->x[i]))
            return nb__io_fail(err, errlen, NB_ERR_NONFINITE,
                               "nb_dataset_normalise: sample %lld feature %lld is not finite "
                               "after normalisation",
                               (long long)(i / d), (long long)(i % d));
    nb_norm copy;
    if (nb_norm_copy(&copy, norm) != NB_OK)
        return nb__io_fail(err, errlen, NB_ERR_ALLOC, "nb_dataset_normalise: out of memory");
    nb_norm_free(&ds->norm);
    ds->norm = copy;
    return NB_OK;
}

int nb__dataset_apply_opts_norm(nb_dataset *ds, const nb_data_opts *opts, int default_kind,
                                const char *name, char *err, size_t errlen) {
    ds->norm.kind = NB_NORM_NONE;
    int rc;
    if (opts && opts->stats) {
        rc = nb_dataset_normalise(ds, opts->stats, err, errlen);
    } else {
        int kind = opts && opts->norm != NB_NORM_DEFAULT ? opts->norm : default_kind;
        if (kind == NB_NORM_NONE) return NB_OK;
        nb_norm fit;
        rc = nb_norm_fit(ds, kind, 0.0f, &fit, err, errlen);
        if (rc != NB_OK) return rc;
        rc = nb_dataset_normalise(ds, &fit, err, errlen);
        nb_norm_free(&fit);
    }
    if (rc != NB_OK && err && errlen > 0) {
        /* prefix the file name so the caller knows which input failed */
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errlen, "%s: %s", name, tmp);
    }
    return rc;
}

/* ---- random permutations ------------------------------------------------------ */

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* Uniform in [0, bound) without modulo bias: draws below the threshold
 * 2^k mod bound are rejected so every residue is equally likely. */
static uint64_t bounded(nb_rng *rng, uint64_t bound) {
    if (bound <= 1) return 0;
    if (bound <= UINT32_MAX) {
        uint32_t b = (uint32_t)bound;
        uint32_t threshold = (uint32_t)(-b) % b;
        for (;;) {
            uint32_t r = nb_rng_u32(rng);
            if (r >= threshold) return r % b;
        }
    }
    uint64_t threshold = (uint64_t)(-bound) % bound;
    for (;;) {
        uint64_t r = ((uint64_t)nb_rng_u32(rng) << 32) | nb_rng_u32(rng);
        if (r >= threshold) return r % bound;
    }
}

/* Fisher–Yates over the identity: order[] depends only on (seed, stream). */
static void permutation(int64_t *order, int64_t n, uint64_t seed, uint64_t stream) {
    nb_rng rng;
    nb_rng_seed(&rng, splitmix64(seed ^ splitmix64(stream)));
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)bounded(&rng, (uint64_t)i + 1);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Epoch `epoch` of NB_SHUFFLE_TORCH: the (epoch+1)-th torch.randperm(n,
 * generator=g) after g = torch.Generator().manual_seed(seed), as PyTorch 1.13
 * draws it on the CPU (a forward Fisher–Yates, each swap partner
 * random() % (n - i)). The earlier epochs' draws are replayed, so an epoch's
 * order again depends only on (seed, epoch). */
static void permutation_torch(int64_t *order, int64_t n, uint64_t seed, int64_t epoch) {
    nb_rng rng;
    nb_rng_seed_torch(&rng, seed);
    for (int64_t e = 0; e <= epoch; e++) {
        for (int64_t i = 0; i < n; i++) order[i] = i;
        for (int64_t i = 0; i < n - 1; i++) {
            const int64_t z = (int64_t)(nb_rng_u32(&rng) % (uint64_t)(n - i));
            const int64_t t = order[i];
            order[i] = order[z + i];
            order[z + i] = t;
        }
    }
}

/* ---- split --------------------------------------------------------------------- */

static char **copy_names(char *const *names, int64_t n, int *ok) {
    *ok = 1;
    if (!names) return NULL;
    char **r = calloc((size_t)n, sizeof(char *));
    if (!r) {
        *ok = 0;
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        r[i] = nb__strndup(names[i], strlen(names[i]));
        if (!r[i]) {
            free_names(r, n);
            *ok = 0;
            return NULL;
        }
    }
    return r;
}

/* An empty dataset shaped like src with room for n samples. */
static int clone_meta(nb_dataset *dst, const nb_dataset *src, int64_t n) {
    memset(dst, 0, sizeof *dst);
    dst->n = n;
    dst->feat_ndim = src->feat_ndim;
    memcpy(dst->feat_shape, src->feat_shape, sizeof dst->feat_shape);
    dst->features = src->features;
    dst->num_classes = src->num_classes;
    int ok1, ok2;
    dst->x = malloc((size_t)(n * src->features) * sizeof(float));
    dst->y = src->y ? malloc((size_t)n * sizeof(float)) : NULL;
    dst->class_names = copy_names(src->class_names, src->num_classes, &ok1);
    dst->feature_names = copy_names(src->feature_names, src->features, &ok2);
    dst->target_name = src->target_name ? nb__strndup(src->target_name, strlen(src->target_name))
                                        : NULL;
    int ok = dst->x && (dst->y || !src->y) && ok1 && ok2 && (dst->target_name || !src->target_name);
    if (ok) ok = nb_norm_copy(&dst->norm, &src->norm) == NB_OK;
    if (!ok) {
        /* class_names may be NULL while num_classes > 0: free_names copes */
        nb_dataset_free(dst);
        return NB_ERR_ALLOC;
    }
    return NB_OK;
}

int nb_dataset_split(const nb_dataset *src, double val_fraction, int shuffle, uint64_t seed,
                     nb_dataset *train, nb_dataset *val, char *err, size_t errlen) {
    if (!src || !train || !val)
        return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_dataset_split: NULL argument");
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    if (!(val_fraction > 0.0 && val_fraction < 1.0))
        return nb__io_fail(err, errlen, NB_ERR_ARG,
                           "nb_dataset_split: validation fraction %g must be in (0, 1)",
                           val_fraction);
    int64_t n = src->n;
    int64_t n_val = (int64_t)llround((double)n * val_fraction);
    if (n_val < 1 || n - n_val < 1)
        return nb__io_fail(err, errlen, NB_ERR_ARG,
                           "nb_dataset_split: %lld samples cannot be split %g for validation "
                           "(each part needs at least one)",
                           (long long)n, val_fraction);
    char *is_val = calloc((size_t)n, 1);
    if (!is_val) return nb__io_fail(err, errlen, NB_ERR_ALLOC, "nb_dataset_split: out of memory");
    if (shuffle) {
        int64_t *order = malloc((size_t)n * sizeof(int64_t));
        if (!order) {
            free(is_val);
            return nb__io_fail(err, errlen, NB_ERR_ALLOC, "nb_dataset_split: out of memory");
        }
        /* stream ~0: never equal to a batch iterator's epoch number */
        permutation(order, n, seed, ~(uint64_t)0);
        for (int64_t i = n - n_val; i < n; i++) is_val[order[i]] = 1;
        free(order);
    } else {
        memset(is_val + (n - n_val), 1, (size_t)n_val);
    }
    if (clone_meta(train, src, n - n_val) != NB_OK || clone_meta(val, src, n_val) != NB_OK) {
        free(is_val);
        nb_dataset_free(train);
        nb_dataset_free(val);
        return nb__io_fail(err, errlen, NB_ERR_ALLOC, "nb_dataset_split: out of memory");
    }
    int64_t d = src->features, it = 0, iv = 0;
    for (int64_t i = 0; i < n; i++) {
        nb_dataset *dst = is_val[i] ? val : train;
        int64_t k = is_val[i] ? iv++ : it++;
        memcpy(dst->x + k * d, src->x + i * d, (size_t)d * sizeof(float));
        if (src->y) dst->y[k] = src->y[i];
    }
    free(is_val);
    return NB_OK;
}

/* ---- batches ------------------------------------------------------------------- */

int nb_dataset_gather(const nb_dataset *ds, const int64_t *idx, int64_t count, float *x_out,
                      float *y_out) {
    if (!ds || (!idx && count > 0) || (!x_out && count > 0)) return NB_ERR_NULL;
    int64_t d = ds->features;
    for (int64_t k = 0; k < count; k++) {
        int64_t i = idx[k];
        if (i < 0 || i >= ds->n) return NB_ERR_ARG;
        memcpy(x_out + k * d, ds->x + i * d, (size_t)d * sizeof(float));
        if (y_out && ds->y) y_out[k] = ds->y[i];
    }
    return NB_OK;
}

int nb_batch_iter_init(nb_batch_iter *it, const nb_dataset *ds, int64_t batch, int shuffle,
                       uint64_t seed, char *err, size_t errlen) {
    if (!it || !ds) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_batch_iter_init: NULL argument");
    memset(it, 0, sizeof *it);
    if (batch < 1)
        return nb__io_fail(err, errlen, NB_ERR_ARG, "nb_batch_iter_init: batch size %lld < 1",
                           (long long)batch);
    if (ds->n < 1 || !ds->x)
        return nb__io_fail(err, errlen, NB_ERR_ARG, "nb_batch_iter_init: the dataset is empty");
    it->order = malloc((size_t)ds->n * sizeof(int64_t));
    if (!it->order) return nb__io_fail(err, errlen, NB_ERR_ALLOC, "nb_batch_iter_init: out of memory");
    it->ds = ds;
    it->batch = batch;
    it->shuffle = shuffle == NB_SHUFFLE_TORCH ? NB_SHUFFLE_TORCH : shuffle != 0;
    it->seed = seed;
    return nb_batch_epoch(it, 0);
}

int nb_batch_epoch(nb_batch_iter *it, int64_t epoch) {
    if (!it || !it->order) return NB_ERR_NULL;
    if (epoch < 0) return NB_ERR_ARG;
    it->epoch = epoch;
    it->pos = 0;
    if (it->shuffle == NB_SHUFFLE_TORCH) {
        permutation_torch(it->order, it->ds->n, it->seed, epoch);
    } else if (it->shuffle) {
        permutation(it->order, it->ds->n, it->seed, (uint64_t)epoch);
    } else {
        for (int64_t i = 0; i < it->ds->n; i++) it->order[i] = i;
    }
    return NB_OK;
}

int nb_batch_next(nb_batch_iter *it, float *x_out, float *y_out, int64_t *count) {
    if (count) *count = 0;
    if (!it || !it->order || !x_out || !count) return NB_ERR_NULL;
    const nb_dataset *ds = it->ds;
    if (it->pos >= ds->n) return 0;
    int64_t c = ds->n - it->pos;
    if (c > it->batch) c = it->batch;
    int rc = nb_dataset_gather(ds, it->order + it->pos, c, x_out, y_out);
    if (rc != NB_OK) return rc;
    if (c < it->batch) {
        int64_t d = ds->features;
        memset(x_out + c * d, 0, (size_t)((it->batch - c) * d) * sizeof(float));
        if (y_out && ds->y) memset(y_out + c, 0, (size_t)(it->batch - c) * sizeof(float));
    }
    it->pos += c;
    *count = c;
    return 1;
}

int64_t nb_batch_count(const nb_batch_iter *it) {
    if (!it || !it->ds) return 0;
    return (it->ds->n + it->batch - 1) / it->batch;
}

void nb_batch_iter_free(nb_batch_iter *it) {
    if (!it) return;
    free(it->order);
    memset(it, 0, sizeof *it);
}
