/* io/io_util.c — helpers shared by the data readers: error messages, whole
 * file reads, gzip decompression through zlib's inflate (so gzip is handled
 * the same way for files and for in-memory buffers), checked arithmetic. */
#include "io/io_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

int nb__io_fail(char *err, size_t errlen, int status, const char *fmt, ...) {
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

int nb__mul_ok(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return 0;
    if (a != 0 && b > INT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

char *nb__strndup(const char *s, size_t n) {
    char *r = malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

/* Grows *buf (capacity *cap) to hold at least need bytes plus a NUL. */
static int grow(uint8_t **buf, size_t *cap, size_t need) {
    if (need + 1 <= *cap) return 1;
    size_t c = *cap ? *cap : 4096;
    while (c < need + 1) {
        if (c > SIZE_MAX / 2) return 0;
        c *= 2;
    }
    uint8_t *p = realloc(*buf, c);
    if (!p) return 0;
    *buf = p;
    *cap = c;
    return 1;
}

int nb__maybe_gunzip(const uint8_t *buf, size_t len, const char *name, uint8_t **out,
                     size_t *outlen, int *owned, char *err, size_t errlen) {
    *out = NULL;
    *outlen = 0;
    *owned = 0;
    if (len < 2 || buf[0] != 0x1f || buf[1] != 0x8b) {
        *out = (uint8_t *)buf;
        *outlen = len;
        return NB_OK;
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* 16 + MAX_WBITS: expect a gzip wrapper and verify its CRC and length. */
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: cannot start gzip decompression", name);
    uint8_t *o = NULL;
    size_t cap = 0, have = 0;
    size_t in_pos = 0;
    int status = NB_OK;
    for (;;) {
        if (!grow(&o, &cap, have + 65536)) {
            status = nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory decompressing gzip",
                                 name);
            break;
        }
        size_t in_left = len - in_pos;
        zs.next_in = (Bytef *)(buf + in_pos);
        zs.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
        size_t room = cap - 1 - have;
        zs.next_out = o + have;
        zs.avail_out = room > UINT32_MAX ? UINT32_MAX : (uInt)room;
        uInt in0 = zs.avail_in, out0 = zs.avail_out;
        int rc = inflate(&zs, Z_NO_FLUSH);
        in_pos += in0 - zs.avail_in;
        have += out0 - zs.avail_out;
        if (have > NB__IO_MAX_BYTES) {
            status = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                 "%s: decompresses to more than %zu bytes (limit)", name,
                                 (size_t)NB__IO_MAX_BYTES);
            break;
        }
        if (rc == Z_STREAM_END) {
            if (in_pos == len) break;
            /* gzip allows several members back to back; anything else after
             * the stream means the file is not what it claims. */
            if (len - in_pos >= 2 && buf[in_pos] == 0x1f && buf[in_pos + 1] == 0x8b) {
                inflateReset(&zs);
                continue;
            }
            status = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                 "%s: compressed byte %zu: unexpected data after the gzip stream",
                                 name, in_pos);
            break;
        }
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR && in_pos == len && zs.avail_out > 0) {
            status = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                 "%s: gzip data truncated: ends after %zu compressed bytes "
                                 "(%zu bytes decompressed) without the end of the stream",
                                 name, len, have);
            break;
        }
        if (rc == Z_BUF_ERROR) continue; /* output full: grow and go on */
        if (rc == Z_MEM_ERROR) {
            status = nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory decompressing gzip",
                                 name);
            break;
        }
        status = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: compressed byte %zu: corrupt gzip data (%s)", name, in_pos,
                             zs.msg ? zs.msg : "inflate failed");
        break;
    }
    inflateEnd(&zs);
    if (status != NB_OK) {
        free(o);
        return status;
    }
    o[have] = '\0';
    *out = o;
    *outlen = have;
    *owned = 1;
    return NB_OK;
}

int nb__read_input(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen) {
    *buf = NULL;
    *len = 0;
    if (!path) return nb__io_fail(err, errlen, NB_ERR_NULL, "no file name given");
    FILE *f = fopen(path, "rb");
    if (!f) return nb__io_fail(err, errlen, NB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return nb__io_fail(err, errlen, NB_ERR_IO, "%s: is a directory, expected a file", path);
    }
    uint8_t *b = NULL;
    size_t cap = 0, have = 0;
    if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < NB__IO_MAX_BYTES) {
        if (!grow(&b, &cap, (size_t)st.st_size)) {
            fclose(f);
            return nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory for %lld bytes", path,
                               (long long)st.st_size);
        }
    }
    for (;;) {
        if (!grow(&b, &cap, have + 65536)) {
            free(b);
            fclose(f);
            return nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory reading", path);
        }
        size_t r = fread(b + have, 1, cap - 1 - have, f);
        have += r;
        if (have > NB__IO_MAX_BYTES) {
            free(b);
            fclose(f);
            return nb__io_fail(err, errlen, NB_ERR_IO, "%s: larger than %zu bytes (limit)", path,
                               (size_t)NB__IO_MAX_BYTES);
        }
        if (r == 0) break;
    }
    int bad = ferror(f);
    int e = errno;
    fclose(f);
    if (bad) {
        free(b);
        return nb__io_fail(err, errlen, NB_ERR_IO, "%s: read error: %s", path, strerror(e));
    }
    b[have] = '\0';
    uint8_t *out;
    size_t outlen;
    int owned;
    int rc = nb__maybe_gunzip(b, have, path, &out, &outlen, &owned, err, errlen);
    if (rc != NB_OK) {
        free(b);
        return rc;
    }
    if (owned) free(b);
    *buf = out;
    *len = outlen;
    return NB_OK;
}

int nb__check_labels(nb_dataset *ds, const nb_data_opts *opts, const char *name, int64_t byte0,
                     char *err, size_t errlen) {
    int limit = opts && opts->num_classes > 0 ? opts->num_classes : 0;
    int top = limit ? limit : NB__MAX_CLASSES;
    double maxv = -1.0;
    for (int64_t i = 0; i < ds->n; i++) {
        float v = ds->y[i];
        if (!(v >= 0.0f) || v != floorf(v) || v >= (float)top) {
            char where[48] = "";
            if (byte0 >= 0) snprintf(where, sizeof where, "byte %lld: ", (long long)(byte0 + i));
            return nb__io_fail(err, errlen, NB_ERR_FORMAT,
                               "%s: %slabel of sample %lld is %g, expected a class id (an integer "
                               "in 0..%d)",
                               name, where, (long long)i, (double)v, top - 1);
        }
        if (v > maxv) maxv = v;
    }
    ds->num_classes = limit ? limit : (int)maxv + 1;
    return NB_OK;
}
