/* data_cli.c — data loading for the `nabla` subcommands: a streaming IDX
 * reader keeping bytes (Fashion-MNIST at 1 byte per pixel), and gathering
 * batches of bytes or floats into graph inputs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data_cli.h"

const char *const nbc_fmnist_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

const char *nbc_fmnist_dir(void) {
    const char *e = getenv("NABLA_FMNIST_DIR");
    return e && *e ? e : NBC_FMNIST_DIR;
}

static int failf(char *err, size_t errlen, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
#include <stdarg.h>
static int failf(char *err, size_t errlen, int status, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

void nbc_data_free(nbc_data *d) {
    if (!d) return;
    free(d->x8);
    nb_dataset_free(&d->ds);
    memset(d, 0, sizeof *d);
}

/* gzread's error text for a failed read, or "unexpected end of file". */
static const char *gz_why(gzFile f) {
    int code = 0;
    const char *m = gzerror(f, &code);
    if (code == Z_OK || code == Z_STREAM_END || !m || !*m) return "unexpected end of file";
    return m;
}

int nbc_idx_read_u8(const char *path, nb_idx *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) return failf(err, errlen, NB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return failf(err, errlen, NB_ERR_IO, "%s: is a directory, expected a file", path);
    gzFile f = gzopen(path, "rb");
    if (!f) return failf(err, errlen, NB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    gzbuffer(f, 1 << 17);
    int rc = NB_OK;
    unsigned char hdr[4 + 4 * NB_MAX_DIMS];
    int got = gzread(f, hdr, 4);
    if (got != 4) {
        rc = failf(err, errlen, NB_ERR_FORMAT, "%s: byte %d: expected a 4-byte IDX header (%s)", path,
                   got < 0 ? 0 : got, gz_why(f));
        goto done;
    }
    if (hdr[0] != 0 || hdr[1] != 0) {
        rc = failf(err, errlen, NB_ERR_FORMAT, "%s: byte 0: not an IDX file (magic %02x %02x, expected 00 00)",
                   path, hdr[0], hdr[1]);
        goto done;
    }
    if (hdr[2] != 0x08) {
        rc = failf(err, errlen, NB_ERR_FORMAT,
                   "%s: byte 2: IDX type 0x%02x is not supported (only 0x08, unsigned bytes)", path, hdr[2]);
        goto done;
    }
    int nd = hdr[3];
    if (nd < 1 || nd > NB_MAX_DIMS) {
        rc = failf(err, errlen, NB_ERR_FORMAT, "%s: byte 3: %d dimensions (expected 1 to %d)", path, nd,
                   NB_MAX_DIMS);
        goto done;
    }
    got = gzread(f, hdr + 4, (unsigned)(4 * nd));
    if (got != 4 * nd) {
        rc = failf(err, errlen, NB_ERR_FORMAT, "%s: byte %d: expected %d dimension sizes (%s)", path,
                   4 + (got < 0 ? 0 : got), nd, gz_why(f));
        goto done;
    }
    int64_t count = 1;
    for (int i = 0; i < nd; i++) {
        const unsigned char *p = hdr + 4 + 4 * i;
        int64_t v = ((int64_t)p[0] << 24) | ((int64_t)p[1] << 16) | ((int64_t)p[2] << 8) | p[3];
        out->dims[i] = v;
        /* 4 GiB is far beyond any IDX dataset and keeps the product in range */
        if (v == 0 || count > ((int64_t)1 << 32) / v) {
            rc = failf(err, errlen, NB_ERR_FORMAT, "%s: byte %d: dimension %d is %lld (%s)", path, 4 + 4 * i, i,
                       (long long)v, v == 0 ? "empty" : "the data would exceed 4 GiB");
            goto done;
        }
        count *= v;
    }
    size_t hlen = (size_t)(4 + 4 * nd);
    out->data = malloc((size_t)count);
    if (!out->data) {
        rc = failf(err, errlen, NB_ERR_ALLOC, "%s: out of memory for %lld bytes", path, (long long)count);
        goto done;
    }
    int64_t have = 0;
    while (have < count) {
        int64_t want = count - have;
        if (want > (1 << 30)) want = 1 << 30;
        int r = gzread(f, out->data + have, (unsigned)want);
        if (r <= 0) {
            rc = failf(err, errlen, NB_ERR_FORMAT,
                       "%s: byte %zu: expected %lld bytes of data, only %lld remain (%s)", path, hlen,
                       (long long)count, (long long)have, r < 0 ? gz_why(f) : "truncated file?");
            goto done;
        }
        have += r;
    }
    unsigned char extra;
    got = gzread(f, &extra, 1);
    if (got != 0) {
        rc = failf(err, errlen, NB_ERR_FORMAT, "%s: byte %lld: %s", path, (long long)(hlen + (size_t)count),
                   got < 0 ? gz_why(f) : "expected the end of the file, more bytes follow");
        goto done;
    }
    out->ndim = nd;
    out->count = count;
done:
    gzclose(f);
    if (rc != NB_OK) nb_idx_free(out);
    return rc;
}

static int find_file(const char *dir, const char *split, const char *kind, char *path, size_t len) {
    struct stat st;
    snprintf(path, len, "%s/%s-%s", dir, split, kind);
    if (stat(path, &st) == 0) return 1;
    snprintf(path, len, "%s/%s-%s.gz", dir, split, kind);
    if (stat(path, &st) == 0) return 1;
    snprintf(path, len, "%s/%s-%s[.gz]", dir, split, kind);
    return 0;
}

static int fill_images(nbc_data *d, nb_idx *img, const char *path, char *err, size_t errlen) {
    nb_dataset *ds = &d->ds;
    ds->n = img->dims[0];
    ds->feat_ndim = img->ndim > 1 ? img->ndim - 1 : 1;
    ds->feat_shape[0] = 1;
    ds->features = 1;
    for (int i = 1; i < img->ndim; i++) {
        ds->feat_shape[i - 1] = img->dims[i];
        ds->features *= img->dims[i];
    }
    d->x8 = img->data; /* taken over */
    img->data = NULL;
    ds->norm.kind = NB_NORM_SCALE;
    ds->norm.scale = 1.0f / 255.0f;
    (void)path, (void)err, (void)errlen;
    return NB_OK;
}

int nbc_data_load_idx_images(const char *path, nbc_data *d, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    nb_idx img;
    int rc = nbc_idx_read_u8(path, &img, err, errlen);
    if (rc) return rc;
    rc = fill_images(d, &img, path, err, errlen);
    nb_idx_free(&img);
    return rc;
}

int nbc_data_load_idx_dir(const char *dir, const char *split, int num_classes, nbc_data *d,
                          char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    char ip[4096], lp[4096];
    if (!find_file(dir, split, "images-idx3-ubyte", ip, sizeof ip))
        return failf(err, errlen, NB_ERR_IO, "%s: not found", ip);
    if (!find_file(dir, split, "labels-idx1-ubyte", lp, sizeof lp))
        return failf(err, errlen, NB_ERR_IO, "%s: not found", lp);
    nb_idx img, lab;
    int rc = nbc_idx_read_u8(ip, &img, err, errlen);
    if (rc) return rc;
    rc = nbc_idx_read_u8(lp, &lab, err, errlen);
    if (rc) {
        nb_idx_free(&img);
        return rc;
    }
    if (lab.ndim != 1) {
        rc = failf(err, errlen, NB_ERR_FORMAT, "%s: byte 3: a labels file has 1 dimension, this one has %d", lp,
                   lab.ndim);
    } else if (lab.dims[0] != img.dims[0]) {
        rc = failf(err, errlen, NB_ERR_FORMAT, "%s: byte 4: %lld labels, expected %lld (the sample count of %s)",
                   lp, (long long)lab.dims[0], (long long)img.dims[0], ip);
    }
    if (!rc) rc = fill_images(d, &img, ip, err, errlen);
    if (!rc) {
        nb_dataset *ds = &d->ds;
        ds->y = malloc((size_t)ds->n * sizeof(float));
        if (!ds->y) rc = failf(err, errlen, NB_ERR_ALLOC, "%s: out of memory", lp);
        int maxl = -1;
        for (int64_t i = 0; !rc && i < ds->n; i++) {
            int l = lab.data[i];
            if (num_classes > 0 && l >= num_classes) {
                rc = failf(err, errlen, NB_ERR_FORMAT, "%s: byte %lld: label %d of sample %lld is not below %d", lp,
                           (long long)(8 + i), l, (long long)i, num_classes);
                break;
            }
            if (l > maxl) maxl = l;
            ds->y[i] = (float)l;
        }
        ds->num_classes = num_classes > 0 ? num_classes : maxl + 1;
    }
    nb_idx_free(&img);
    nb_idx_free(&lab);
    if (rc) nbc_data_free(d);
    return rc;
}

void nbc_data_gather(const nbc_data *d, const int64_t *idx, int64_t count, float *x, float *y) {
    const nb_dataset *ds = &d->ds;
    int64_t f = ds->features;
    if (d->x8) {
        const float s = ds->norm.scale;
        for (int64_t k = 0; k < count; k++) {
            const uint8_t *src = d->x8 + idx[k] * f;
            float *dst = x + k * f;
            for (int64_t j = 0; j < f; j++) dst[j] = (float)src[j] * s;
        }
    } else {
        for (int64_t k = 0; k < count; k++) memcpy(x + k * f, ds->x + idx[k] * f, (size_t)f * sizeof(float));
    }
    if (y && ds->y)
        for (int64_t k = 0; k < count; k++) y[k] = ds->y[idx[k]];
}

/* Shuffled rows are scattered over a dataset larger than the caches (47 MB
 * of Fashion-MNIST bytes): each gathered row was a wait on memory, about 5%
 * of an MLP epoch at one thread. */
void nbc_data_prefetch(const nbc_data *d, const int64_t *idx, int64_t count) {
    const int64_t f = d->ds.features;
    const size_t row = d->x8 ? (size_t)f : (size_t)f * sizeof(float);
    const char *base = d->x8 ? (const char *)d->x8 : (const char *)d->ds.x;
    for (int64_t k = 0; k < count; k++) {
        const char *r = base + (size_t)idx[k] * row;
        for (size_t o = 0; o < row; o += 64) __builtin_prefetch(r + o, 0, 1);
        __builtin_prefetch(r + row - 1, 0, 1);
    }
}

void nbc_data_rows(const nbc_data *d, int64_t start, int64_t count, float *x, float *y) {
    const nb_dataset *ds = &d->ds;
    int64_t f = ds->features;
    if (d->x8) {
        const float s = ds->norm.scale;
        const uint8_t *src = d->x8 + start * f;
        for (int64_t j = 0; j < count * f; j++) x[j] = (float)src[j] * s;
    } else {
        memcpy(x, ds->x + start * f, (size_t)(count * f) * sizeof(float));
    }
    if (y && ds->y) memcpy(y, ds->y + start, (size_t)count * sizeof(float));
}

void nbc_data_limit(nbc_data *d, int64_t n) {
    if (n > 0 && n < d->ds.n) d->ds.n = n;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

const char *nbc_data_kind(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    size_t n = strlen(buf);
    if (n > 3 && strcmp(buf + n - 3, ".gz") == 0) buf[n - 3] = '\0';
    if (ends_with(buf, ".csv")) return "csv";
    if (ends_with(buf, ".npy")) return "npy";
    if (ends_with(buf, "-ubyte") || ends_with(buf, ".idx")) return "idx";
    return NULL;
}
