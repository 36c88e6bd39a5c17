/* io/npy.c — the NumPy .npy reader: magic and version, the header's Python
 * dict literal ('descr', 'fortran_order', 'shape'), the supported dtypes, and
 * the data size checked against the file; values converted to float. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_util.h"

void nb_npy_free(nb_npy *npy) {
    if (!npy) return;
    free(npy->data);
    memset(npy, 0, sizeof *npy);
}

/* A cursor over the header text; off is added to positions in messages. */
typedef struct hdr {
    const char *s;
    size_t n, pos, off;
    const char *name;
    char *err;
    size_t errlen;
} hdr;

static void skip_ws(hdr *h) {
    while (h->pos < h->n && (h->s[h->pos] == ' ' || h->s[h->pos] == '\t' || h->s[h->pos] == '\n'))
        h->pos++;
}

static int expect_fail(hdr *h, const char *what) {
    char c = h->pos < h->n ? h->s[h->pos] : 0;
    if (c >= 32 && c < 127)
        return nb__io_fail(h->err, h->errlen, NB_ERR_FORMAT,
                           "%s: byte %zu: header: expected %s, found '%c'", h->name,
                           h->off + h->pos, what, c);
    return nb__io_fail(h->err, h->errlen, NB_ERR_FORMAT,
                       "%s: byte %zu: header: expected %s, found %s", h->name, h->off + h->pos,
                       what, h->pos < h->n ? "a non-printable byte" : "the end of the header");
}

static int accept(hdr *h, char c) {
    skip_ws(h);
    if (h->pos < h->n && h->s[h->pos] == c) {
        h->pos++;
        return 1;
    }
    return 0;
}

/* A quoted Python string literal without escapes, copied into out. */
static int parse_string(hdr *h, char *out, size_t outlen) {
    skip_ws(h);
    if (h->pos >= h->n || (h->s[h->pos] != '\'' && h->s[h->pos] != '"'))
        return expect_fail(h, "a quoted string");
    char q = h->s[h->pos++];
    size_t k = 0;
    while (h->pos < h->n && h->s[h->pos] != q) {
        char c = h->s[h->pos];
        if (c == '\\' || c < 32 || c >= 127 || k + 1 >= outlen)
            return expect_fail(h, "a short plain string");
        out[k++] = c;
        h->pos++;
    }
    if (h->pos >= h->n) return expect_fail(h, "a closing quote");
    h->pos++;
    out[k] = '\0';
    return NB_OK;
}

static int parse_word(hdr *h, const char *w) {
    size_t len = strlen(w);
    if (h->n - h->pos >= len && memcmp(h->s + h->pos, w, len) == 0) {
        h->pos += len;
        return 1;
    }
    return 0;
}

/* (d0, d1, ...) with an optional trailing comma; () is a 0-d array. */
static int parse_shape(hdr *h, nb_npy *out) {
    if (!accept(h, '(')) return expect_fail(h, "'(' opening the shape tuple");
    out->ndim = 0;
    for (;;) {
        if (accept(h, ')')) return NB_OK;
        skip_ws(h);
        if (h->pos >= h->n || h->s[h->pos] < '0' || h->s[h->pos] > '9')
            return expect_fail(h, "a dimension (a non-negative integer) or ')'");
        int64_t v = 0;
        size_t start = h->pos;
        while (h->pos < h->n && h->s[h->pos] >= '0' && h->s[h->pos] <= '9') {
            if (v > (INT64_MAX - 9) / 10) {
                h->pos = start;
                return nb__io_fail(h->err, h->errlen, NB_ERR_FORMAT,
                                   "%s: byte %zu: header: dimension too large", h->name,
                                   h->off + start);
            }
            v = v * 10 + (h->s[h->pos++] - '0');
        }
        if (h->pos < h->n && h->s[h->pos] == 'L') h->pos++; /* Python 2 longs */
        if (out->ndim == NB_MAX_DIMS)
            return nb__io_fail(h->err, h->errlen, NB_ERR_FORMAT,
                               "%s: byte %zu: header: more than %d dimensions", h->name,
                               h->off + start, NB_MAX_DIMS);
        out->shape[out->ndim++] = v;
        if (accept(h, ')')) return NB_OK;
        if (!accept(h, ',')) return expect_fail(h, "',' or ')' in the shape tuple");
    }
}

static int dtype_of(const char *d, int *dtype, size_t *itemsize) {
    static const struct { const char *name; int dtype; size_t size; } known[] = {
        {"<f4", NB_NPY_F4, 4}, {"<f8", NB_NPY_F8, 8}, {"|u1", NB_NPY_U1, 1},
        {"<u1", NB_NPY_U1, 1}, {"u1", NB_NPY_U1, 1},  {"<i8", NB_NPY_I8, 8},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(d, known[i].name) == 0) {
            *dtype = known[i].dtype;
            *itemsize = known[i].size;
            return 1;
        }
    return 0;
}

static double read_le(const uint8_t *p, int dtype) {
    uint64_t u = 0;
    switch (dtype) {
    case NB_NPY_U1: return (double)p[0];
    case NB_NPY_F4: {
        uint32_t w = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24;
        float f;
        memcpy(&f, &w, 4);
        return (double)f;
    }
    default:
        for (int i = 7; i >= 0; i--) u = (u << 8) | p[i];
        if (dtype == NB_NPY_I8) return (double)(int64_t)u;
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
}

int nb_npy_parse(const void *buf, size_t len, const char *name, nb_npy *out, char *err,
                 size_t errlen) {
    if (!out) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_npy_parse: NULL output");
    memset(out, 0, sizeof *out);
    if (!buf && len > 0) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_npy_parse: NULL buffer");
    if (!name) name = "<npy>";
    uint8_t *p;
    size_t n;
    int owned;
    int rc = nb__maybe_gunzip(buf, len, name, &p, &n, &owned, err, errlen);
    if (rc != NB_OK) return rc;

    if (n < 10 || memcmp(p, "\x93NUMPY", 6) != 0) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         n < 6 || memcmp(p, "\x93NUMPY", 6) != 0
                             ? "%s: byte 0: expected the magic \\x93NUMPY (not a .npy file)"
                             : "%s: byte 6: file ends inside the 10-byte preamble",
                         name);
        goto done;
    }
    int major = p[6], minor = p[7];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)p[8] | (size_t)p[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) {
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: byte 8: expected a 4-byte header length, the file ends", name);
            goto done;
        }
        hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
        hstart = 12;
    } else {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: byte 6: format version %d.%d not supported, expected 1.0, 2.0 or 3.0",
                         name, major, minor);
        goto done;
    }
    if (hlen > n - hstart) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: byte %zu: expected a %zu-byte header, only %zu bytes remain", name,
                         hstart, hlen, n - hstart);
        goto done;
    }
    hdr h = {(const char *)p + hstart, hlen, 0, hstart, name, err, errlen};
    char descr[32] = "";
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    if (!accept(&h, '{')) {
        rc = expect_fail(&h, "'{' opening the header dict");
        goto done;
    }
    for (;;) {
        if (accept(&h, '}')) break;
        char key[32];
        size_t key_pos = h.pos;
        if ((rc = parse_string(&h, key, sizeof key)) != NB_OK) goto done;
        if (!accept(&h, ':')) {
            rc = expect_fail(&h, "':' after a key");
            goto done;
        }
        skip_ws(&h);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            size_t vpos = h.pos;
            if (h.pos < h.n && h.s[h.pos] == '[') {
                rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                 "%s: byte %zu: structured dtypes are not supported, expected "
                                 "one of '<f4', '<f8', '|u1', '<i8'",
                                 name, hstart + vpos);
                goto done;
            }
            if ((rc = parse_string(&h, descr, sizeof descr)) != NB_OK) goto done;
            int dt;
            size_t is;
            if (!dtype_of(descr, &dt, &is)) {
                int big = descr[0] == '>';
                rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                 "%s: byte %zu: %sdtype '%s' is not supported, expected one of "
                                 "'<f4', '<f8', '|u1', '<i8' (little-endian)",
                                 name, hstart + vpos, big ? "big-endian " : "", descr);
                goto done;
            }
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (parse_word(&h, "True")) fortran = 1;
            else if (parse_word(&h, "False")) fortran = 0;
            else {
                rc = expect_fail(&h, "True or False for 'fortran_order'");
                goto done;
            }
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if ((rc = parse_shape(&h, out)) != NB_OK) goto done;
            have_shape = 1;
        } else {
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: byte %zu: header: unexpected or repeated key '%s', expected "
                             "'descr', 'fortran_order' and 'shape' once each",
                             name, hstart + key_pos, key);
            goto done;
        }
        if (accept(&h, '}')) break;
        if (!accept(&h, ',')) {
            rc = expect_fail(&h, "',' or '}' in the header dict");
            goto done;
        }
    }
    if (!have_descr || !have_order || !have_shape) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: byte %zu: header lacks '%s'", name, hstart,
                         !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
        goto done;
    }
    skip_ws(&h);
    if (h.pos != h.n) {
        rc = expect_fail(&h, "only padding after the header dict");
        goto done;
    }
    if (fortran) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: byte %zu: fortran_order is True: only C-order arrays are "
                         "supported (save with np.ascontiguousarray)",
                         name, hstart);
        goto done;
    }
    size_t itemsize = 0;
    dtype_of(descr, &out->dtype, &itemsize);
    int64_t count = 1;
    for (int i = 0; i < out->ndim; i++)
        if (!nb__mul_ok(count, out->shape[i], &count) || (uint64_t)count > NB__IO_MAX_BYTES) {
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: byte %zu: shape multiplies to more than %zu elements", name,
                             hstart, (size_t)NB__IO_MAX_BYTES);
            goto done;
        }
    size_t data_start = hstart + hlen;
    uint64_t bytes = (uint64_t)count * itemsize; /* count <= 2^36, itemsize <= 8 */
    size_t avail = n - data_start;
    if (bytes != avail) {
        if (bytes > avail)
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: byte %zu: expected %llu bytes of %s data, only %zu remain "
                             "(truncated file?)",
                             name, data_start, (unsigned long long)bytes, descr, avail);
        else
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: byte %llu: expected the end of the file after %llu bytes of "
                             "data, %llu more bytes follow",
                             name, (unsigned long long)(data_start + bytes),
                             (unsigned long long)bytes, (unsigned long long)(avail - bytes));
        goto done;
    }
    out->count = count;
    out->data = malloc((size_t)(count ? count : 1) * sizeof(float));
    if (!out->data) {
        rc = nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory for %lld floats", name,
                         (long long)count);
        goto done;
    }
    const uint8_t *d = p + data_start;
    for (int64_t i = 0; i < count; i++) {
        double v = read_le(d + (size_t)i * itemsize, out->dtype);
        /* float64 values beyond float range become inf here; callers that
         * need finite values check (features) */
        out->data[i] = (float)v;
    }
    rc = NB_OK;
done:
    if (owned) free(p);
    if (rc != NB_OK) nb_npy_free(out);
    return rc;
}

int nb_npy_read(const char *path, nb_npy *out, char *err, size_t errlen) {
    if (!out) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_npy_read: NULL output");
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len;
    int rc = nb__read_input(path, &buf, &len, err, errlen);
    if (rc != NB_OK) return rc;
    rc = nb_npy_parse(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
}

int nb_dataset_load_npy(const char *features_path, const char *labels_path,
                        const nb_data_opts *opts, nb_dataset *ds, char *err, size_t errlen) {
    if (!ds) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_dataset_load_npy: NULL dataset");
    memset(ds, 0, sizeof *ds);
    nb_npy fx, fy;
    memset(&fy, 0, sizeof fy);
    int rc = nb_npy_read(features_path, &fx, err, errlen);
    if (rc != NB_OK) return rc;
    if (fx.ndim < 1 || fx.shape[0] < 1) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: shape has %s, expected [samples, ...] with at least one sample",
                         features_path, fx.ndim < 1 ? "no dimensions" : "0 samples");
        goto fail;
    }
    int64_t feats = fx.shape[0] ? fx.count / fx.shape[0] : 0;
    if (feats < 1) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: each sample has 0 features (a dimension is 0)", features_path);
        goto fail;
    }
    for (int64_t i = 0; i < fx.count; i++)
        if (!isfinite(fx.data[i])) {
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: sample %lld, feature %lld: value %g is not a finite float32 "
                             "(NaN, Inf or out of range)",
                             features_path, (long long)(i / feats), (long long)(i % feats),
                             (double)fx.data[i]);
            goto fail;
        }
    if (labels_path) {
        rc = nb_npy_read(labels_path, &fy, err, errlen);
        if (rc != NB_OK) goto fail;
        if (!(fy.ndim == 1 || (fy.ndim == 2 && fy.shape[1] == 1)) || fy.shape[0] != fx.shape[0]) {
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: labels must have shape [%lld] or [%lld,1] to match %s, this "
                             "file has %d dimension(s) with %lld elements",
                             labels_path, (long long)fx.shape[0], (long long)fx.shape[0],
                             features_path, fy.ndim, (long long)fy.count);
            goto fail;
        }
    }
    ds->n = fx.shape[0];
    ds->features = feats;
    if (fx.ndim == 1) {
        ds->feat_ndim = 1;
        ds->feat_shape[0] = 1;
    } else {
        ds->feat_ndim = fx.ndim - 1;
        for (int i = 1; i < fx.ndim; i++) ds->feat_shape[i - 1] = fx.shape[i];
    }
    int dtype = fx.dtype;
    ds->x = fx.data;
    fx.data = NULL;
    if (labels_path) {
        ds->y = fy.data;
        fy.data = NULL;
        rc = nb__check_labels(ds, opts, labels_path, -1, err, errlen);
        if (rc != NB_OK) goto fail;
    }
    rc = nb__dataset_apply_opts_norm(ds, opts, dtype == NB_NPY_U1 ? NB_NORM_SCALE : NB_NORM_STANDARD,
                                     features_path, err, errlen);
    if (rc != NB_OK) goto fail;
    nb_npy_free(&fx);
    nb_npy_free(&fy);
    return NB_OK;
fail:
    nb_npy_free(&fx);
    nb_npy_free(&fy);
    nb_dataset_free(ds);
    return rc;
}
