/* io/idx.c — the IDX format of MNIST and Fashion-MNIST (plain or gzip):
 * header validation against the actual data length, image/label pairs, and
 * the <split>-images-idx3-ubyte directory layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io_util.h"

static const char *idx_type_name(int t) {
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return NULL;
    }
}

void nb_idx_free(nb_idx *idx) {
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

int nb_idx_parse(const void *buf, size_t len, const char *name, nb_idx *out, char *err,
                 size_t errlen) {
    if (!out) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_idx_parse: NULL output");
    memset(out, 0, sizeof *out);
    if (!buf && len > 0) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_idx_parse: NULL buffer");
    if (!name) name = "<idx>";
    uint8_t *p;
    size_t n;
    int owned;
    int rc = nb__maybe_gunzip(buf, len, name, &p, &n, &owned, err, errlen);
    if (rc != NB_OK) return rc;

    if (n < 4) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: byte 0: expected a 4-byte IDX header, the file has %zu bytes", name,
                         n);
        goto done;
    }
    if (p[0] != 0 || p[1] != 0) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: byte 0: bad IDX magic %02x %02x, expected 00 00 (not an IDX file)",
                         name, p[0], p[1]);
        goto done;
    }
    if (p[2] != 0x08) {
        const char *tn = idx_type_name(p[2]);
        if (tn)
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: byte 2: IDX data type 0x%02X (%s) is not supported, expected "
                             "0x08 (unsigned byte)",
                             name, p[2], tn);
        else
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: byte 2: unknown IDX data type 0x%02X, expected 0x08 (unsigned "
                             "byte)",
                             name, p[2]);
        goto done;
    }
    int nd = p[3];
    if (nd < 1 || nd > NB_MAX_DIMS) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: byte 3: %d dimensions, expected 1..%d", name, nd, NB_MAX_DIMS);
        goto done;
    }
    size_t hdr = 4 + 4 * (size_t)nd;
    if (n < hdr) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: byte %zu: expected %d dimension sizes (%zu header bytes), the file "
                         "ends after %zu bytes",
                         name, n, nd, hdr, n);
        goto done;
    }
    int64_t count = 1;
    for (int i = 0; i < nd; i++) {
        const uint8_t *q = p + 4 + 4 * i;
        int64_t dim = ((int64_t)q[0] << 24) | ((int64_t)q[1] << 16) | ((int64_t)q[2] << 8) | q[3];
        if (dim == 0) {
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT, "%s: byte %d: dimension %d is 0", name,
                             4 + 4 * i, i);
            goto done;
        }
        out->dims[i] = dim;
        /* uint32 dims cannot overflow int64 below 2 dims, but 6 of them can */
        if (!nb__mul_ok(count, dim, &count) || (uint64_t)count > NB__IO_MAX_BYTES) {
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: byte %d: dimensions multiply to more than %zu elements", name,
                             4 + 4 * i, (size_t)NB__IO_MAX_BYTES);
            goto done;
        }
    }
    size_t avail = n - hdr;
    if ((uint64_t)count != avail) {
        if ((uint64_t)count > avail)
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: byte %zu: expected %lld bytes of data, only %zu remain "
                             "(truncated file?)",
                             name, hdr, (long long)count, avail);
        else
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: byte %lld: expected the end of the file after %lld bytes of "
                             "data, %zu more bytes follow",
                             name, (long long)(hdr + (size_t)count), (long long)count,
                             avail - (size_t)count);
        goto done;
    }
    out->data = malloc((size_t)count);
    if (!out->data) {
        rc = nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory for %lld bytes", name,
                         (long long)count);
        goto done;
    }
    memcpy(out->data, p + hdr, (size_t)count);
    out->ndim = nd;
    out->count = count;
    rc = NB_OK;
done:
    if (owned) free(p);
    if (rc != NB_OK) nb_idx_free(out);
    return rc;
}

int nb_idx_read(const char *path, nb_idx *out, char *err, size_t errlen) {
    if (!out) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_idx_read: NULL output");
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len;
    int rc = nb__read_input(path, &buf, &len, err, errlen);
    if (rc != NB_OK) return rc;
    rc = nb_idx_parse(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
}

int nb_idx_load_pair(const char *images_path, const char *labels_path, const nb_data_opts *opts,
                     nb_dataset *ds, char *err, size_t errlen) {
    if (!ds) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_idx_load_pair: NULL dataset");
    memset(ds, 0, sizeof *ds);
    if (!images_path || !labels_path)
        return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_idx_load_pair: NULL file name");
    nb_idx img, lab;
    int rc = nb_idx_read(images_path, &img, err, errlen);
    if (rc != NB_OK) return rc;
    rc = nb_idx_read(labels_path, &lab, err, errlen);
    if (rc != NB_OK) {
        nb_idx_free(&img);
        return rc;
    }
    if (lab.ndim != 1) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: byte 3: a labels file has 1 dimension, this one has %d",
                         labels_path, lab.ndim);
        goto fail;
    }
    if (lab.dims[0] != img.dims[0]) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: byte 4: %lld labels, expected %lld (the sample count of %s)",
                         labels_path, (long long)lab.dims[0], (long long)img.dims[0], images_path);
        goto fail;
    }
    ds->n = img.dims[0];
    ds->feat_ndim = img.ndim - 1;
    ds->features = 1;
    if (ds->feat_ndim == 0) {
        ds->feat_ndim = 1;
        ds->feat_shape[0] = 1;
    }
    for (int i = 1; i < img.ndim; i++) {
        ds->feat_shape[i - 1] = img.dims[i];
        ds->features *= img.dims[i];
    }
    ds->x = malloc((size_t)img.count * sizeof(float));
    ds->y = malloc((size_t)ds->n * sizeof(float));
    if (!ds->x || !ds->y) {
        rc = nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory", images_path);
        goto fail;
    }
    for (int64_t i = 0; i < img.count; i++) ds->x[i] = (float)img.data[i];
    for (int64_t i = 0; i < ds->n; i++) ds->y[i] = (float)lab.data[i];
    nb_idx_free(&img);
    nb_idx_free(&lab);
    rc = nb__check_labels(ds, opts, labels_path, 8, err, errlen); /* 1-d header: 8 bytes */
    if (rc == NB_OK)
        rc = nb__dataset_apply_opts_norm(ds, opts, NB_NORM_SCALE, images_path, err, errlen);
    if (rc != NB_OK) nb_dataset_free(ds);
    return rc;
fail:
    nb_idx_free(&img);
    nb_idx_free(&lab);
    nb_dataset_free(ds);
    return rc;
}

/* <dir>/<split>-<kind>-idx<d>-ubyte, or the same with .gz. */
static int find_file(const char *dir, const char *split, const char *kind, char *path, size_t len) {
    struct stat st;
    snprintf(path, len, "%s/%s-%s", dir, split, kind);
    if (stat(path, &st) == 0) return 1;
    snprintf(path, len, "%s/%s-%s.gz", dir, split, kind);
    if (stat(path, &st) == 0) return 1;
    snprintf(path, len, "%s/%s-%s[.gz]", dir, split, kind);
    return 0;
}

int nb_dataset_load_idx_dir(const char *dir, const char *split, const nb_data_opts *opts,
                            nb_dataset *ds, char *err, size_t errlen) {
    if (!ds) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_dataset_load_idx_dir: NULL dataset");
    memset(ds, 0, sizeof *ds);
    if (!dir || !split)
        return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_dataset_load_idx_dir: NULL argument");
    char img[4096], lab[4096];
    if (!find_file(dir, split, "images-idx3-ubyte", img, sizeof img))
        return nb__io_fail(err, errlen, NB_ERR_IO, "%s: not found", img);
    if (!find_file(dir, split, "labels-idx1-ubyte", lab, sizeof lab))
        return nb__io_fail(err, errlen, NB_ERR_IO, "%s: not found", lab);
    return nb_idx_load_pair(img, lab, opts, ds, err, errlen);
}
