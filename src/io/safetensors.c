/* io/safetensors.c — safetensors reading and writing (JSON header via cJSON),
 * atomic saves (temp file, fsync, rename, fsync dir), all-or-nothing loads,
 * and training checkpoints: model tensors, optimizer state, schedule, RNG and
 * step in one file, restored exactly. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/engine.h"
#include "nabla/checkpoint.h"

/* The reference implementation refuses headers above 100 MB; so do we, which
 * also bounds what a hostile length field can make us allocate. */
#define ST_MAX_HEADER ((uint64_t)100 << 20)
#define ST_MAX_META 64

typedef struct st_entry {
    const char *name;     /* points into the cJSON tree */
    const char *dtype;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;  /* relative to the data section */
} st_entry;

typedef struct st_file {
    const char *path;
    unsigned char *buf;   /* the whole file */
    size_t size;
    size_t data_start;    /* 8 + header length */
    cJSON *root;
    st_entry *e;          /* sorted by name */
    int n;
    cJSON *meta;          /* "__metadata__" object or NULL */
} st_file;

static void st_free(st_file *f) {
    free(f->buf);
    free(f->e);
    if (f->root) cJSON_Delete(f->root);
    memset(f, 0, sizeof *f);
}

static int dtype_size(const char *d) {
    static const struct { const char *name; int size; } t[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
        {"I16", 2}, {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2}, {"U8", 1},
        {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(d, t[i].name) == 0) return t[i].size;
    return 0;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0 || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}
static int cmp_entry_begin(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Parse and validate f->buf[0..size): header length, JSON, every entry, the
 * offsets against each other and the data size. */
static int st_parse(nb_ctx *ctx, st_file *f) {
    const char *path = f->path;
    if (f->size < 8)
        return nb__error(ctx, NB_ERR_FORMAT,
                         "safetensors %s: truncated: %zu bytes, need at least 8 for the header "
                         "length", path, f->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->buf[i];
    if (hlen > ST_MAX_HEADER)
        return nb__error(ctx, NB_ERR_FORMAT,
                         "safetensors %s: header length %" PRIu64 " at byte 0 exceeds the %" PRIu64
                         "-byte limit", path, hlen, ST_MAX_HEADER);
    if (hlen > f->size - 8)
        return nb__error(ctx, NB_ERR_FORMAT,
                         "safetensors %s: header length %" PRIu64 " at byte 0 runs past the end "
                         "of the file (%zu bytes)", path, hlen, f->size);
    if (hlen < 2 || f->buf[8] != '{')
        return nb__error(ctx, NB_ERR_FORMAT,
                         "safetensors %s: header at byte 8 is not a JSON object", path);
    f->data_start = 8 + (size_t)hlen;
    const char *hdr = (const char *)f->buf + 8;
    const char *end = NULL;
    f->root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!f->root || !cJSON_IsObject(f->root)) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = (at && at >= hdr && at <= hdr + hlen) ? (size_t)(at - hdr) + 8 : 8;
        return nb__error(ctx, NB_ERR_FORMAT,
                         "safetensors %s: malformed JSON header near byte %zu", path, off);
    }
    for (const char *p = end; p && p < hdr + hlen; p++) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
            return nb__error(ctx, NB_ERR_FORMAT,
                             "safetensors %s: unexpected bytes after the JSON header at byte %zu",
                             path, (size_t)(p - hdr) + 8);
    }
    int count = 0;
    for (cJSON *it = f->root->child; it; it = it->next) count++;
    f->e = calloc((size_t)(count ? count : 1), sizeof *f->e);
    if (!f->e) return nb__error(ctx, NB_ERR_ALLOC, "safetensors %s: out of memory", path);
    uint64_t data_size = f->size - f->data_start;
    int nmeta_seen = 0;
    for (cJSON *it = f->root->child; it; it = it->next) {
        const char *name = it->string ? it->string : "";
        if (strcmp(name, "__metadata__") == 0) {
            if (nmeta_seen++)
                return nb__error(ctx, NB_ERR_FORMAT,
                                 "safetensors %s: duplicate key \"__metadata__\"", path);
            if (!cJSON_IsObject(it))
                return nb__error(ctx, NB_ERR_FORMAT,
                                 "safetensors %s: \"__metadata__\" is not an object", path);
            for (cJSON *m = it->child; m; m = m->next)
                if (!cJSON_IsString(m))
                    return nb__error(ctx, NB_ERR_FORMAT,
                                     "safetensors %s: metadata \"%s\" is not a string", path,
                                     m->string ? m->string : "");
            f->meta = it;
            continue;
        }
        st_entry *e = &f->e[f->n++];
        e->name = name;
        if (!cJSON_IsObject(it))
            return nb__error(ctx, NB_ERR_FORMAT, "safetensors %s: tensor '%s' is not an object",
                             path, name);
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
            return nb__error(ctx, NB_ERR_FORMAT,
                             "safetensors %s: tensor '%s' needs \"dtype\" (string), \"shape\" "
                             "and \"data_offsets\" (arrays)", path, name);
        e->dtype = dt->valuestring;
        int esize = dtype_size(e->dtype);
        if (!esize)
            return nb__error(ctx, NB_ERR_FORMAT, "safetensors %s: tensor '%s' has unknown dtype "
                             "\"%.32s\"", path, name, e->dtype);
        int nd = cJSON_GetArraySize(sh);
        if (nd > NB_MAX_DIMS)
            return nb__error(ctx, NB_ERR_FORMAT,
                             "safetensors %s: tensor '%s' has rank %d (at most %d)", path, name,
                             nd, NB_MAX_DIMS);
        e->ndim = nd;
        uint64_t numel = 1;
        int k = 0;
        for (cJSON *d = sh->child; d; d = d->next, k++) {
            uint64_t v;
            if (!json_uint(d, &v))
                return nb__error(ctx, NB_ERR_FORMAT,
                                 "safetensors %s: tensor '%s' shape[%d] is not a non-negative "
                                 "integer", path, name, k);
            e->shape[k] = (int64_t)v;
            if (v && numel > (((uint64_t)1 << 53) / v))
                return nb__error(ctx, NB_ERR_FORMAT,
                                 "safetensors %s: tensor '%s' has too many elements", path, name);
            numel *= v;
        }
        e->numel = (int64_t)numel;
        if (cJSON_GetArraySize(off) != 2 || !json_uint(off->child, &e->begin) ||
            !json_uint(off->child->next, &e->end))
            return nb__error(ctx, NB_ERR_FORMAT,
                             "safetensors %s: tensor '%s' data_offsets must be two "
                             "non-negative integers [begin, end]", path, name);
        if (e->begin > e->end || e->end > data_size)
            return nb__error(ctx, NB_ERR_FORMAT,
                             "safetensors %s: tensor '%s' data_offsets [%" PRIu64 ", %" PRIu64
                             "] lie outside the %" PRIu64 "-byte data section (file bytes %zu.."
                             "%zu)", path, name, e->begin, e->end, data_size, f->data_start,
                             f->size);
        if (e->end - e->begin != numel * (uint64_t)esize)
            return nb__error(ctx, NB_ERR_FORMAT,
                             "safetensors %s: tensor '%s' spans %" PRIu64 " bytes but shape and "
                             "dtype %s need %" PRIu64, path, name, e->end - e->begin, e->dtype,
                             numel * (uint64_t)esize);
    }
    /* duplicates: cJSON keeps repeated keys, so sort by name and compare neighbours */
    qsort(f->e, (size_t)f->n, sizeof *f->e, cmp_entry_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->e[i - 1].name, f->e[i].name) == 0)
            return nb__error(ctx, NB_ERR_FORMAT, "safetensors %s: duplicate tensor name '%s'",
                             path, f->e[i].name);
    if (f->n > 1) {
        const st_entry **by = malloc((size_t)f->n * sizeof *by);
        if (!by) return nb__error(ctx, NB_ERR_ALLOC, "safetensors %s: out of memory", path);
        for (int i = 0; i < f->n; i++) by[i] = &f->e[i];
        qsort(by, (size_t)f->n, sizeof *by, cmp_entry_begin);
        for (int i = 1; i < f->n; i++) {
            if (by[i]->begin < by[i - 1]->end) {
                int rc = nb__error(ctx, NB_ERR_FORMAT,
                                   "safetensors %s: tensors '%s' [%" PRIu64 ", %" PRIu64
                                   "] and '%s' [%" PRIu64 ", %" PRIu64 "] overlap",
                                   path, by[i - 1]->name, by[i - 1]->begin, by[i - 1]->end,
                                   by[i]->name, by[i]->begin, by[i]->end);
                free(by);
                return rc;
            }
        }
        free(by);
    }
    return NB_OK;
}

static int st_read(nb_ctx *ctx, const char *path, st_file *f) {
    memset(f, 0, sizeof *f);
    f->path = path;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return nb__error(ctx, NB_ERR_IO, "safetensors %s: cannot open: %s", path,
                         strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return nb__error(ctx, NB_ERR_IO, "safetensors %s: not a regular file", path);
    }
    f->size = (size_t)sb.st_size;
    f->buf = malloc(f->size ? f->size : 1);
    if (!f->buf) {
        fclose(fp);
        return nb__error(ctx, NB_ERR_ALLOC, "safetensors %s: out of memory for %zu bytes", path,
                         f->size);
    }
    size_t got = fread(f->buf, 1, f->size, fp);
    int err = ferror(fp);
    fclose(fp);
    if (got != f->size || err)
        return nb__error(ctx, NB_ERR_IO, "safetensors %s: read %zu of %zu bytes", path, got,
                         f->size);
    return st_parse(ctx, f);
}

static const st_entry *st_find(const st_file *f, const char *name) {
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->e[mid].name, name);
        if (c == 0) return &f->e[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static const char *st_meta(const st_file *f, const char *key) {
    if (!f->meta) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void shape_of_entry(const st_entry *e, char *buf, size_t len) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < e->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)e->shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* Check that every destination tensor has a matching F32 entry of the same
 * shape, and (unless allow_extra) that the file holds nothing else. */
static int st_match(nb_ctx *ctx, const st_file *f, nb_tensor *const *t, int n, int allow_extra) {
    for (int i = 0; i < n; i++) {
        if (!t[i] || !t[i]->name || !t[i]->name[0])
            return nb__error(ctx, NB_ERR_ARG, "safetensors %s: destination tensor %d has no name",
                             f->path, i);
        const st_entry *e = st_find(f, t[i]->name);
        if (!e)
            return nb__error(ctx, NB_ERR_FORMAT, "safetensors %s: missing tensor '%s'", f->path,
                             t[i]->name);
        if (strcmp(e->dtype, "F32") != 0)
            return nb__error(ctx, NB_ERR_FORMAT,
                             "safetensors %s: tensor '%s' has dtype %s, expected F32", f->path,
                             e->name, e->dtype);
        int same = e->ndim == t[i]->ndim;
        for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == t[i]->shape[d];
        if (!same) {
            char a[NB_SHAPE_BUF], b[NB_SHAPE_BUF];
            shape_of_entry(e, a, sizeof a);
            return nb__error(ctx, NB_ERR_SHAPE,
                             "safetensors %s: tensor '%s' has shape %s in the file, the model "
                             "expects %s", f->path, e->name, a, nb__shape_str(t[i], b));
        }
        for (int j = 0; j < i; j++)
            if (t[j] == t[i] || strcmp(t[j]->name, t[i]->name) == 0)
                return nb__error(ctx, NB_ERR_ARG,
                                 "safetensors %s: tensor '%s' is requested twice", f->path,
                                 t[i]->name);
    }
    if (!allow_extra && f->n > n) {
        /* more entries than requested names (names are unique on both sides) */
        for (int k = 0; k < f->n; k++) {
            int used = 0;
            for (int i = 0; i < n && !used; i++) used = strcmp(t[i]->name, f->e[k].name) == 0;
            if (!used)
                return nb__error(ctx, NB_ERR_FORMAT,
                                 "safetensors %s: unexpected tensor '%s' (not in the model)",
                                 f->path, f->e[k].name);
        }
    }
    return NB_OK;
}

static void st_copy_out(const st_file *f, nb_tensor *const *t, int n) {
    for (int i = 0; i < n; i++) {
        const st_entry *e = st_find(f, t[i]->name);
        const unsigned char *src = f->buf + f->data_start + e->begin;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        for (int64_t k = 0; k < e->numel; k++) {
            const unsigned char *b = src + 4 * k;
            uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                         (uint32_t)b[3] << 24;
            memcpy(&t[i]->data[k], &u, 4);
        }
#else
        memcpy(t[i]->data, src, (size_t)e->numel * 4);
#endif
    }
}

int nb_safetensors_load(nb_ctx *ctx, const char *path, nb_tensor *const *tensors, int n,
                        int allow_extra) {
    if (!ctx) return NB_ERR_NULL;
    if (nb_error(ctx)) return nb_error(ctx);
    if (!path || (n > 0 && !tensors) || n < 0)
        return nb__error(ctx, NB_ERR_NULL, "safetensors load: NULL path or tensors");
    st_file f;
    int rc = st_read(ctx, path, &f);
    if (!rc) rc = st_match(ctx, &f, tensors, n, allow_extra);
    if (!rc) st_copy_out(&f, tensors, n);
    st_free(&f);
    return rc;
}

/* ---- writing ------------------------------------------------------------------ */

static int write_all(FILE *fp, const void *p, size_t n) { return fwrite(p, 1, n, fp) == n; }

static int write_floats(FILE *fp, const float *x, int64_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (int64_t k = 0; k < n; k++) {
        uint32_t u;
        memcpy(&u, &x[k], 4);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8),
                              (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
        if (!write_all(fp, b, 4)) return 0;
    }
    return 1;
#else
    return write_all(fp, x, (size_t)n * 4);
#endif
}

static int fsync_dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t len = (size_t)(slash - path);
        if (len == 0) len = 1; /* "/file" */
        if (len >= sizeof dir) return -1;
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int nb_safetensors_save(nb_ctx *ctx, const char *path, nb_tensor *const *tensors, int n,
                        const char *const *meta, int nmeta) {
    if (!ctx) return NB_ERR_NULL;
    if (nb_error(ctx)) return nb_error(ctx);
    if (!path || n < 0 || (n > 0 && !tensors) || nmeta < 0 || (nmeta > 0 && !meta))
        return nb__error(ctx, NB_ERR_NULL, "safetensors save: NULL path, tensors or metadata");
    for (int i = 0; i < n; i++) {
        const nb_tensor *t = tensors[i];
        if (!t || !t->name || !t->name[0] || strcmp(t->name, "__metadata__") == 0)
            return nb__error(ctx, NB_ERR_ARG,
                             "safetensors save %s: tensor %d needs a name (not \"__metadata__\")",
                             path, i);
        for (int j = 0; j < i; j++)
            if (strcmp(tensors[j]->name, t->name) == 0)
                return nb__error(ctx, NB_ERR_ARG,
                                 "safetensors save %s: duplicate tensor name '%s'", path,
                                 t->name);
    }
    cJSON *root = cJSON_CreateObject();
    if (!root) return nb__error(ctx, NB_ERR_ALLOC, "safetensors save %s: out of memory", path);
    int ok = 1;
    if (nmeta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; ok && i < nmeta; i++) {
            if (!m || !meta[2 * i] || !meta[2 * i + 1]) ok = 0;
            else ok = cJSON_AddStringToObject(m, meta[2 * i], meta[2 * i + 1]) != NULL;
        }
    }
    uint64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        const nb_tensor *t = tensors[i];
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON *sh = cJSON_CreateArray(), *off = cJSON_CreateArray();
        if (!e || !sh || !off) {
            cJSON_Delete(sh);
            cJSON_Delete(off);
            ok = 0;
            break;
        }
        cJSON_AddItemToObject(e, "dtype", cJSON_CreateString("F32"));
        for (int d = 0; d < t->ndim; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddItemToObject(e, "shape", sh);
        uint64_t bytes = (uint64_t)t->size * 4;
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(offset + bytes)));
        cJSON_AddItemToObject(e, "data_offsets", off);
        offset += bytes;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return nb__error(ctx, NB_ERR_ALLOC, "safetensors save %s: out of memory", path);
    size_t jlen = strlen(json);
    size_t hlen = (jlen + 7) & ~(size_t)7; /* data 8-byte aligned */

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        free(json);
        return nb__error(ctx, NB_ERR_ALLOC, "safetensors save %s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int rc = nb__error(ctx, NB_ERR_IO, "safetensors save %s: cannot create temporary file: %s",
                           path, strerror(errno));
        free(json);
        free(tmp);
        return rc;
    }
    FILE *fp = fdopen(fd, "wb");
    const char *what = NULL;
    if (!fp) {
        close(fd);
        what = "fdopen";
    } else {
        unsigned char len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
        static const char spaces[8] = "        ";
        if (!write_all(fp, len8, 8) || !write_all(fp, json, jlen) ||
            !write_all(fp, spaces, hlen - jlen))
            what = "write";
        for (int i = 0; !what && i < n; i++)
            if (!write_floats(fp, tensors[i]->data, tensors[i]->size)) what = "write";
        if (!what && fflush(fp) != 0) what = "fflush";
        if (!what && fsync(fileno(fp)) != 0) what = "fsync";
        if (fclose(fp) != 0 && !what) what = "fclose";
    }
    free(json);
    if (!what && rename(tmp, path) != 0) what = "rename";
    if (what) {
        int rc = nb__error(ctx, NB_ERR_IO, "safetensors save %s: %s failed: %s", path, what,
                           strerror(errno));
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    if (fsync_dir_of(path) != 0)
        return nb__error(ctx, NB_ERR_IO, "safetensors save %s: fsync of the directory failed: %s",
                         path, strerror(errno));
    return NB_OK;
}

/* ---- training checkpoints ------------------------------------------------------ */

/* Everything saved as tensors, in one list: params, buffers, optimizer state. */
static nb_tensor **ck_tensors(nb_ctx *ctx, const nb_checkpoint *ck, int *n) {
    int no = ck->optim ? nb_optim_num_state(ck->optim) : 0;
    int total = ck->nparams + ck->nbuffers + no;
    nb_tensor **all = malloc((size_t)(total ? total : 1) * sizeof *all);
    if (!all) {
        nb__error(ctx, NB_ERR_ALLOC, "checkpoint: out of memory");
        return NULL;
    }
    int k = 0;
    for (int i = 0; i < ck->nparams; i++) all[k++] = ck->params[i];
    for (int i = 0; i < ck->nbuffers; i++) all[k++] = ck->buffers[i];
    nb_tensor *const *st = no ? nb_optim_state(ck->optim) : NULL;
    for (int i = 0; i < no; i++) all[k++] = st[i];
    *n = total;
    return all;
}

static int ck_check(nb_ctx *ctx, const nb_checkpoint *ck, const char *what) {
    if (!ctx) return NB_ERR_NULL;
    if (nb_error(ctx)) return nb_error(ctx);
    if (!ck || (ck->nparams > 0 && !ck->params) || (ck->nbuffers > 0 && !ck->buffers) ||
        ck->nparams < 0 || ck->nbuffers < 0)
        return nb__error(ctx, NB_ERR_NULL, "checkpoint %s: NULL checkpoint or tensor list", what);
    return NB_OK;
}

int nb_checkpoint_save(nb_ctx *ctx, const char *path, const nb_checkpoint *ck) {
    int rc = ck_check(ctx, ck, "save");
    if (rc) return rc;
    char val[ST_MAX_META][64];
    const char *kv[2 * ST_MAX_META];
    int m = 0;
#define META(key, ...)                                             \
    do {                                                           \
        snprintf(val[m], sizeof val[m], __VA_ARGS__);              \
        kv[2 * m] = (key);                                         \
        kv[2 * m + 1] = val[m];                                    \
        m++;                                                       \
    } while (0)
    META("nabla.format", "1");
    META("step", "%lld", (long long)ck->step);
    if (ck->optim) {
        META("optim.kind", "%s", nb_optim_kind_name(nb_optim_get_config(ck->optim)->kind));
        META("optim.steps", "%lld", (long long)nb_optim_num_steps(ck->optim));
        META("optim.lr", "%.17g", nb_optim_get_lr(ck->optim));
    }
    if (ck->schedule) {
        nb_schedule_state st;
        nb_schedule_get_state(ck->schedule, &st);
        META("schedule.kind", "%d", (int)nb_schedule_get_kind(ck->schedule));
        META("schedule.steps", "%lld", (long long)st.steps);
        META("schedule.lr", "%.17g", st.lr);
        META("schedule.best", "%.17g", st.best);
        META("schedule.num_bad_epochs", "%lld", (long long)st.num_bad_epochs);
        META("schedule.cooldown_counter", "%lld", (long long)st.cooldown_counter);
    }
    if (ck->rng) {
        META("rng.state", "%" PRIu64, ck->rng->state);
        META("rng.inc", "%" PRIu64, ck->rng->inc);
        META("rng.spare", "%.9g", (double)ck->rng->spare);
        META("rng.has_spare", "%d", ck->rng->has_spare ? 1 : 0);
    }
#undef META
    if (ck->nmeta < 0 || (ck->nmeta > 0 && !ck->meta))
        return nb__error(ctx, NB_ERR_NULL, "checkpoint save: NULL extra metadata");
    /* built-in pairs first, then the caller's; a caller key equal to a
     * built-in one would make the file ambiguous, so refuse it */
    const char **all_kv = malloc((size_t)(2 * (m + ck->nmeta) + 2) * sizeof *all_kv);
    if (!all_kv) return nb__error(ctx, NB_ERR_ALLOC, "checkpoint save: out of memory");
    memcpy(all_kv, kv, (size_t)(2 * m) * sizeof *kv);
    for (int i = 0; i < ck->nmeta; i++) {
        const char *key = ck->meta[2 * i], *value = ck->meta[2 * i + 1];
        if (!key || !value || !key[0]) {
            free(all_kv);
            return nb__error(ctx, NB_ERR_ARG, "checkpoint save: extra metadata %d has a NULL or "
                             "empty key or value", i);
        }
        for (int j = 0; j < m + i; j++)
            if (strcmp(all_kv[2 * j], key) == 0) {
                free(all_kv);
                return nb__error(ctx, NB_ERR_ARG, "checkpoint save: metadata key \"%s\" given "
                                 "twice (or reserved)", key);
            }
        all_kv[2 * (m + i)] = key;
        all_kv[2 * (m + i) + 1] = value;
    }
    int n = 0;
    nb_tensor **all = ck_tensors(ctx, ck, &n);
    if (!all) {
        free(all_kv);
        return nb_error(ctx);
    }
    rc = nb_safetensors_save(ctx, path, all, n, all_kv, m + ck->nmeta);
    free(all);
    free(all_kv);
    return rc;
}

/* ---- description without a model ---------------------------------------------- */

void nb_safetensors_info_free(nb_safetensors_info *info) {
    if (!info) return;
    for (int i = 0; i < info->ntensors; i++) free(info->tensors[i].name);
    free(info->tensors);
    for (int i = 0; i < 2 * info->nmeta; i++) free(info->meta[i]);
    free(info->meta);
    memset(info, 0, sizeof *info);
}

const char *nb_safetensors_info_meta(const nb_safetensors_info *info, const char *key) {
    if (!info || !key) return NULL;
    for (int i = 0; i < info->nmeta; i++)
        if (strcmp(info->meta[2 * i], key) == 0) return info->meta[2 * i + 1];
    return NULL;
}

static char *st_strdup(const char *s) {
    size_t n = strlen(s);
    char *r = malloc(n + 1);
    if (r) memcpy(r, s, n + 1);
    return r;
}

int nb_safetensors_read_info(nb_ctx *ctx, const char *path, nb_safetensors_info *info) {
    if (!ctx) return NB_ERR_NULL;
    if (nb_error(ctx)) return nb_error(ctx);
    if (!info) return nb__error(ctx, NB_ERR_NULL, "safetensors info: NULL argument");
    memset(info, 0, sizeof *info);
    if (!path) return nb__error(ctx, NB_ERR_NULL, "safetensors info: NULL path");
    st_file f;
    int rc = st_read(ctx, path, &f);
    if (rc) {
        st_free(&f);
        return rc;
    }
    int nm = 0;
    if (f.meta)
        for (cJSON *m = f.meta->child; m; m = m->next) nm++;
    info->tensors = calloc((size_t)(f.n ? f.n : 1), sizeof *info->tensors);
    info->meta = calloc((size_t)(2 * nm + 1), sizeof *info->meta);
    const st_entry **by = malloc((size_t)(f.n ? f.n : 1) * sizeof *by);
    if (!info->tensors || !info->meta || !by) goto oom;
    for (int i = 0; i < f.n; i++) by[i] = &f.e[i];
    qsort(by, (size_t)f.n, sizeof *by, cmp_entry_begin);
    for (int i = 0; i < f.n; i++) {
        nb_safetensors_tensor_info *t = &info->tensors[i];
        t->name = st_strdup(by[i]->name);
        if (!t->name) goto oom;
        info->ntensors = i + 1;
        snprintf(t->dtype, sizeof t->dtype, "%s", by[i]->dtype);
        t->ndim = by[i]->ndim;
        memcpy(t->shape, by[i]->shape, sizeof t->shape);
        t->numel = by[i]->numel;
    }
    if (f.meta) {
        for (cJSON *m = f.meta->child; m; m = m->next) {
            int k = info->nmeta;
            info->meta[2 * k] = st_strdup(m->string ? m->string : "");
            info->meta[2 * k + 1] = st_strdup(m->valuestring);
            if (!info->meta[2 * k] || !info->meta[2 * k + 1]) {
                free(info->meta[2 * k]);
                free(info->meta[2 * k + 1]);
                info->meta[2 * k] = info->meta[2 * k + 1] = NULL;
                goto oom;
            }
            info->nmeta = k + 1;
        }
    }
    free(by);
    st_free(&f);
    return NB_OK;
oom:
    free(by);
    st_free(&f);
    nb_safetensors_info_free(info);
    return nb__error(ctx, NB_ERR_ALLOC, "safetensors %s: out of memory", path);
}

/* Strict number parsing of metadata values: the whole string must be used. */
static int meta_i64(nb_ctx *ctx, const st_file *f, const char *key, int64_t lo, int64_t *out) {
    const char *s = st_meta(f, key);
    if (!s)
        return nb__error(ctx, NB_ERR_FORMAT, "checkpoint %s: metadata \"%s\" is missing", f->path,
                         key);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo)
        return nb__error(ctx, NB_ERR_FORMAT,
                         "checkpoint %s: metadata \"%s\" = \"%.40s\" is not an integer >= %lld",
                         f->path, key, s, (long long)lo);
    *out = v;
    return NB_OK;
}

static int meta_u64(nb_ctx *ctx, const st_file *f, const char *key, uint64_t *out) {
    const char *s = st_meta(f, key);
    if (!s)
        return nb__error(ctx, NB_ERR_FORMAT, "checkpoint %s: metadata \"%s\" is missing", f->path,
                         key);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return nb__error(ctx, NB_ERR_FORMAT,
                         "checkpoint %s: metadata \"%s\" = \"%.40s\" is not an unsigned integer",
                         f->path, key, s);
    *out = v;
    return NB_OK;
}

static int meta_f64(nb_ctx *ctx, const st_file *f, const char *key, double *out) {
    const char *s = st_meta(f, key);
    if (!s)
        return nb__error(ctx, NB_ERR_FORMAT, "checkpoint %s: metadata \"%s\" is missing", f->path,
                         key);
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || isnan(v))
        return nb__error(ctx, NB_ERR_FORMAT,
                         "checkpoint %s: metadata \"%s\" = \"%.40s\" is not a number", f->path,
                         key, s);
    *out = v;
    return NB_OK;
}

int nb_checkpoint_load(nb_ctx *ctx, const char *path, nb_checkpoint *ck) {
    int rc = ck_check(ctx, ck, "load");
    if (rc) return rc;
    if (!path) return nb__error(ctx, NB_ERR_NULL, "checkpoint load: NULL path");
    st_file f;
    int n = 0;
    nb_tensor **all = NULL;
    rc = st_read(ctx, path, &f);
    if (!rc) {
        all = ck_tensors(ctx, ck, &n);
        rc = all ? st_match(ctx, &f, all, n, ck->allow_extra) : nb_error(ctx);
    }
    /* read every metadata value before changing anything */
    int64_t step = 0, osteps = 0, ssteps = 0, bad = 0, cool = 0, has_spare = 0;
    double olr = 0, slr = 0, best = 0, spare = 0;
    uint64_t rstate = 0, rinc = 0;
    if (!rc) {
        const char *fmt = st_meta(&f, "nabla.format");
        if (!fmt || strcmp(fmt, "1") != 0)
            rc = nb__error(ctx, NB_ERR_FORMAT,
                           "checkpoint %s: metadata \"nabla.format\" is %s%s%s, expected \"1\"",
                           path, fmt ? "\"" : "", fmt ? fmt : "missing", fmt ? "\"" : "");
    }
    if (!rc) rc = meta_i64(ctx, &f, "step", 0, &step);
    if (!rc && ck->optim) {
        const char *kind = st_meta(&f, "optim.kind");
        const char *want = nb_optim_kind_name(nb_optim_get_config(ck->optim)->kind);
        if (!kind || strcmp(kind, want) != 0)
            rc = nb__error(ctx, NB_ERR_FORMAT,
                           "checkpoint %s: optimizer is %s%s%s in the file, expected \"%s\"",
                           path, kind ? "\"" : "", kind ? kind : "missing", kind ? "\"" : "",
                           want);
        if (!rc) rc = meta_i64(ctx, &f, "optim.steps", 0, &osteps);
        if (!rc) rc = meta_f64(ctx, &f, "optim.lr", &olr);
        if (!rc && !(olr >= 0.0))
            rc = nb__error(ctx, NB_ERR_FORMAT, "checkpoint %s: negative optim.lr %g", path, olr);
    }
    if (!rc && ck->schedule) {
        int64_t kind = -1;
        rc = meta_i64(ctx, &f, "schedule.kind", 0, &kind);
        if (!rc && kind != (int64_t)nb_schedule_get_kind(ck->schedule))
            rc = nb__error(ctx, NB_ERR_FORMAT,
                           "checkpoint %s: schedule kind %lld in the file, expected %d", path,
                           (long long)kind, (int)nb_schedule_get_kind(ck->schedule));
        if (!rc) rc = meta_i64(ctx, &f, "schedule.steps", 0, &ssteps);
        if (!rc) rc = meta_f64(ctx, &f, "schedule.lr", &slr);
        if (!rc) rc = meta_f64(ctx, &f, "schedule.best", &best);
        if (!rc) rc = meta_i64(ctx, &f, "schedule.num_bad_epochs", 0, &bad);
        if (!rc) rc = meta_i64(ctx, &f, "schedule.cooldown_counter", 0, &cool);
        if (!rc && !(slr >= 0.0))
            rc = nb__error(ctx, NB_ERR_FORMAT, "checkpoint %s: negative schedule.lr %g", path, slr);
    }
    if (!rc && ck->rng) {
        rc = meta_u64(ctx, &f, "rng.state", &rstate);
        if (!rc) rc = meta_u64(ctx, &f, "rng.inc", &rinc);
        if (!rc) rc = meta_f64(ctx, &f, "rng.spare", &spare);
        if (!rc) rc = meta_i64(ctx, &f, "rng.has_spare", 0, &has_spare);
        if (!rc && ((rinc & 1u) == 0 || has_spare > 1))
            rc = nb__error(ctx, NB_ERR_FORMAT,
                           "checkpoint %s: invalid RNG state (inc must be odd, has_spare 0/1)",
                           path);
    }
    if (!rc) {
        /* commit: nothing below can fail */
        st_copy_out(&f, all, n);
        ck->step = step;
        if (ck->optim) {
            nb_optim_set_num_steps(ck->optim, osteps);
            nb_optim_set_lr(ck->optim, olr);
        }
        if (ck->schedule) {
            nb_schedule_state st = {ssteps, slr, best, bad, cool};
            nb_schedule_set_state(ck->schedule, &st);
        }
        if (ck->rng) {
            ck->rng->state = rstate;
            ck->rng->inc = rinc;
            ck->rng->spare = (float)spare;
            ck->rng->has_spare = (int)has_spare;
        }
    }
    free(all);
    st_free(&f);
    return rc;
}
