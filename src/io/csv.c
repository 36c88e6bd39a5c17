/* io/csv.c — the CSV reader: RFC 4180 records (quotes, "" escapes, CRLF), a
 * header row naming the columns, numeric features and a target column whose
 * values are class ids or class names. Every failure names the line and column. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_util.h"

/* ---- record splitting ---------------------------------------------------------- */

typedef struct csv_reader {
    const char *p;
    size_t n, pos;
    int64_t line;       /* physical line of p[pos], 1-based */
    const char *name;
    char *buf;          /* unescaped field text, each field NUL-terminated */
    size_t buf_len, buf_cap;
    size_t *start;      /* offsets of the fields in buf */
    int64_t nfields, fields_cap;
} csv_reader;

static int put_char(csv_reader *r, char c) {
    if (r->buf_len + 1 >= r->buf_cap) {
        size_t cap = r->buf_cap ? r->buf_cap * 2 : 256;
        char *b = realloc(r->buf, cap);
        if (!b) return 0;
        r->buf = b;
        r->buf_cap = cap;
    }
    r->buf[r->buf_len++] = c;
    return 1;
}

static int begin_field(csv_reader *r) {
    if (r->nfields == r->fields_cap) {
        int64_t cap = r->fields_cap ? r->fields_cap * 2 : 16;
        size_t *s = realloc(r->start, (size_t)cap * sizeof(size_t));
        if (!s) return 0;
        r->start = s;
        r->fields_cap = cap;
    }
    r->start[r->nfields++] = r->buf_len;
    return 1;
}

static const char *field(const csv_reader *r, int64_t i) { return r->buf + r->start[i]; }

/* Reads the next non-empty record into r's fields. Returns 1 for a record, 0 at
 * the end of the input, or a negative status with err filled. *line gets the
 * line the record starts on. */
static int next_record(csv_reader *r, int64_t *line, char *err, size_t errlen) {
    const char *p = r->p;
    /* empty lines separate nothing: skip them */
    while (r->pos < r->n && (p[r->pos] == '\n' || p[r->pos] == '\r')) {
        if (p[r->pos] == '\n' || r->pos + 1 >= r->n || p[r->pos + 1] != '\n') r->line++;
        r->pos++;
    }
    if (r->pos >= r->n) return 0;
    *line = r->line;
    r->buf_len = 0;
    r->nfields = 0;
    for (;;) {
        if (!begin_field(r)) goto oom;
        if (r->pos < r->n && p[r->pos] == '"') {
            int64_t open_line = r->line;
            r->pos++;
            for (;;) {
                if (r->pos >= r->n)
                    return nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                       "%s: line %lld: quoted field opened on line %lld is never "
                                       "closed (expected '\"')",
                                       r->name, (long long)r->line, (long long)open_line);
                char c = p[r->pos];
                if (c == '\0') goto nul;
                if (c == '"') {
                    if (r->pos + 1 < r->n && p[r->pos + 1] == '"') {
                        if (!put_char(r, '"')) goto oom;
                        r->pos += 2;
                        continue;
                    }
                    r->pos++;
                    break;
                }
                if (c == '\n') r->line++;
                if (!put_char(r, c)) goto oom;
                r->pos++;
            }
            if (r->pos < r->n && p[r->pos] != ',' && p[r->pos] != '\n' && p[r->pos] != '\r')
                return nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                   "%s: line %lld, field %lld: expected ',' or the end of the "
                                   "line after a closing quote, found '%c'",
                                   r->name, (long long)r->line, (long long)r->nfields,
                                   isprint((unsigned char)p[r->pos]) ? p[r->pos] : '?');
        } else {
            while (r->pos < r->n && p[r->pos] != ',' && p[r->pos] != '\n' && p[r->pos] != '\r') {
                if (p[r->pos] == '\0') goto nul;
                if (!put_char(r, p[r->pos])) goto oom;
                r->pos++;
            }
        }
        if (!put_char(r, '\0')) goto oom;
        if (r->pos < r->n && p[r->pos] == ',') {
            r->pos++;
            continue;
        }
        /* end of record: LF, CRLF, a lone CR, or the end of the input */
        if (r->pos < r->n && p[r->pos] == '\r') r->pos++;
        if (r->pos < r->n && p[r->pos] == '\n') r->pos++;
        r->line++;
        return 1;
    }
oom:
    return nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: line %lld: out of memory", r->name,
                       (long long)r->line);
nul:
    return nb__io_fail(err, errlen, NB_ERR_FORMAT,
                       "%s: line %lld (byte %zu): NUL byte: binary data, expected CSV text",
                       r->name, (long long)r->line, r->pos);
}

/* ---- values ---------------------------------------------------------------------- */

/* The field as a finite float, allowing blanks around it. 0 on failure. */
static int parse_number(const char *s, float *out, double *dout) {
    while (*s == ' ' || *s == '\t') s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    if (len == 0) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s + len) return 0;
    float f = (float)v;
    if (!isfinite(v) || !isfinite(f)) return 0;
    *out = f;
    if (dout) *dout = v;
    return 1;
}

static int is_blank(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return *s == '\0';
}

/* Shortened, printable copy of a field for messages. */
static const char *shown(const char *s, char *buf, size_t len) {
    size_t i = 0;
    for (; s[i] && i + 4 < len; i++) buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
    buf[i] = '\0';
    if (s[i]) snprintf(buf + (i >= 3 ? i - 3 : 0), 4, "...");
    return buf;
}

/* ---- target names: an open-addressing table of distinct strings ------------------- */

typedef struct name_table {
    char **names;       /* distinct names in order of first appearance */
    int64_t *first_line;
    int64_t count, cap; /* names */
    int64_t *slots;     /* index+1 into names, 0 = empty; size slot_cap (power of 2) */
    int64_t slot_cap;
} name_table;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void names_free(name_table *t) {
    for (int64_t i = 0; i < t->count; i++) free(t->names[i]);
    free(t->names);
    free(t->first_line);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static int64_t names_find_slot(const name_table *t, const char *s) {
    uint64_t mask = (uint64_t)t->slot_cap - 1;
    for (uint64_t h = hash_str(s) & mask;; h = (h + 1) & mask) {
        int64_t k = t->slots[h];
        if (k == 0 || strcmp(t->names[k - 1], s) == 0) return (int64_t)h;
    }
}

/* Index of s in the table, adding it if new; -1 when out of memory. */
static int64_t names_intern(name_table *t, const char *s, int64_t line) {
    if (2 * (t->count + 1) > t->slot_cap) {
        int64_t cap = t->slot_cap ? t->slot_cap * 2 : 64;
        int64_t *slots = calloc((size_t)cap, sizeof(int64_t));
        if (!slots) return -1;
        free(t->slots);
        t->slots = slots;
        t->slot_cap = cap;
        for (int64_t i = 0; i < t->count; i++) t->slots[names_find_slot(t, t->names[i])] = i + 1;
    }
    int64_t h = names_find_slot(t, s);
    if (t->slots[h]) return t->slots[h] - 1;
    if (t->count == t->cap) {
        int64_t cap = t->cap ? t->cap * 2 : 16;
        char **names = realloc(t->names, (size_t)cap * sizeof(char *));
        if (!names) return -1;
        t->names = names;
        int64_t *fl = realloc(t->first_line, (size_t)cap * sizeof(int64_t));
        if (!fl) return -1;
        t->first_line = fl;
        t->cap = cap;
    }
    char *copy = nb__strndup(s, strlen(s));
    if (!copy) return -1;
    t->names[t->count] = copy;
    t->first_line[t->count] = line;
    t->slots[h] = t->count + 1;
    return t->count++;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- the reader ------------------------------------------------------------------- */

typedef struct csv_rows {
    float *x;
    int64_t n, cap;      /* rows */
    double *tval;        /* target as a number (when tnum) */
    unsigned char *tnum; /* 1 if the target field is a number */
    int64_t *tid;        /* interned target name */
    int64_t *line;
} csv_rows;

static int rows_grow(csv_rows *r, int64_t d) {
    if (r->n < r->cap) return 1;
    int64_t cap = r->cap ? r->cap * 2 : 256, bytes;
    if (!nb__mul_ok(cap, d, &bytes) || !nb__mul_ok(bytes, (int64_t)sizeof(float), &bytes))
        return 0;
    float *x = realloc(r->x, (size_t)bytes);
    if (!x) return 0;
    r->x = x;
    double *tv = realloc(r->tval, (size_t)cap * sizeof(double));
    if (tv) r->tval = tv;
    unsigned char *tn = realloc(r->tnum, (size_t)cap);
    if (tn) r->tnum = tn;
    int64_t *ti = realloc(r->tid, (size_t)cap * sizeof(int64_t));
    if (ti) r->tid = ti;
    int64_t *li = realloc(r->line, (size_t)cap * sizeof(int64_t));
    if (li) r->line = li;
    if (!tv || !tn || !ti || !li) return 0;
    r->cap = cap;
    return 1;
}

static void rows_free(csv_rows *r) {
    free(r->x);
    free(r->tval);
    free(r->tnum);
    free(r->tid);
    free(r->line);
    memset(r, 0, sizeof *r);
}

/* Labels from the collected target fields (see data.h for the rules). */
static int assign_labels(nb_dataset *ds, const csv_rows *rows, name_table *names,
                         const nb_data_opts *opts, const char *name, const char *tname, char *err,
                         size_t errlen) {
    char sbuf[64];
    int64_t n = rows->n;
    if (opts && opts->class_names) {
        int k = opts->num_classes;
        if (k <= 0)
            return nb__io_fail(err, errlen, NB_ERR_ARG,
                               "%s: class_names given without num_classes", name);
        int64_t *map = malloc((size_t)names->count * sizeof(int64_t));
        ds->class_names = calloc((size_t)k, sizeof(char *));
        if (!map || !ds->class_names) {
            free(map);
            return nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory", name);
        }
        ds->num_classes = k;
        for (int i = 0; i < k; i++) {
            const char *cn = opts->class_names[i] ? opts->class_names[i] : "";
            ds->class_names[i] = nb__strndup(cn, strlen(cn));
            if (!ds->class_names[i]) {
                free(map);
                return nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory", name);
            }
        }
        for (int64_t u = 0; u < names->count; u++) {
            map[u] = -1;
            for (int i = 0; i < k; i++)
                if (strcmp(names->names[u], ds->class_names[i]) == 0) {
                    map[u] = i;
                    break;
                }
            if (map[u] < 0) {
                int rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                     "%s: line %lld, column '%s': unknown class '%s' (not one of "
                                     "the %d classes the model knows)",
                                     name, (long long)names->first_line[u], tname,
                                     shown(names->names[u], sbuf, sizeof sbuf), k);
                free(map);
                return rc;
            }
        }
        for (int64_t i = 0; i < n; i++) ds->y[i] = (float)map[rows->tid[i]];
        free(map);
        return NB_OK;
    }
    int all_numeric = 1;
    for (int64_t i = 0; i < n && all_numeric; i++) all_numeric = rows->tnum[i];
    if (all_numeric) {
        int limit = opts && opts->num_classes > 0 ? opts->num_classes : NB__MAX_CLASSES;
        double maxv = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double v = rows->tval[i];
            if (v < 0.0 || v != floor(v) || v >= (double)limit)
                return nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                   "%s: line %lld, column '%s': target %g is not a class id "
                                   "(expected an integer in 0..%d; nabla classifies)",
                                   name, (long long)rows->line[i], tname, v, limit - 1);
            ds->y[i] = (float)v;
            if (v > maxv) maxv = v;
        }
        ds->num_classes = opts && opts->num_classes > 0 ? opts->num_classes : (int)maxv + 1;
        return NB_OK;
    }
    if (names->count > NB__MAX_CLASSES)
        return nb__io_fail(err, errlen, NB_ERR_FORMAT,
                           "%s: column '%s' has %lld distinct values, more than %d classes", name,
                           tname, (long long)names->count, NB__MAX_CLASSES);
    int64_t k = names->count;
    int64_t *rank = malloc((size_t)k * sizeof(int64_t));
    ds->class_names = calloc((size_t)k, sizeof(char *));
    if (!rank || !ds->class_names) {
        free(rank);
        return nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory", name);
    }
    ds->num_classes = (int)k;
    memcpy(ds->class_names, names->names, (size_t)k * sizeof(char *));
    qsort(ds->class_names, (size_t)k, sizeof(char *), cmp_str_ptr);
    for (int64_t i = 0; i < k; i++)
        rank[names->slots[names_find_slot(names, ds->class_names[i])] - 1] = i;
    for (int64_t i = 0; i < k; i++) names->names[i] = NULL; /* now owned by the dataset */
    for (int64_t i = 0; i < n; i++) ds->y[i] = (float)rank[rows->tid[i]];
    free(rank);
    if (opts && opts->num_classes > 0 && k > opts->num_classes)
        return nb__io_fail(err, errlen, NB_ERR_FORMAT,
                           "%s: column '%s' has %lld classes, expected at most %d", name, tname,
                           (long long)k, opts->num_classes);
    return NB_OK;
}

int nb_csv_parse(const void *buf, size_t len, const char *name, const nb_data_opts *opts,
                 nb_dataset *ds, char *err, size_t errlen) {
    if (!ds) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_csv_parse: NULL dataset");
    memset(ds, 0, sizeof *ds);
    if (!buf && len > 0) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_csv_parse: NULL buffer");
    if (!name) name = "<csv>";
    uint8_t *text;
    size_t n;
    int owned;
    int rc = nb__maybe_gunzip(buf, len, name, &text, &n, &owned, err, errlen);
    if (rc != NB_OK) return rc;

    csv_reader r;
    memset(&r, 0, sizeof r);
    r.p = (const char *)text;
    r.n = n;
    r.line = 1;
    r.name = name;
    if (n >= 3 && text[0] == 0xEF && text[1] == 0xBB && text[2] == 0xBF) r.pos = 3; /* UTF-8 BOM */
    csv_rows rows;
    memset(&rows, 0, sizeof rows);
    name_table names;
    memset(&names, 0, sizeof names);
    char **header = NULL;
    int64_t ncols = 0, target = -1, line = 0;
    char sbuf[64];

    rc = next_record(&r, &line, err, errlen);
    if (rc == 0) rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                  "%s: line 1: the file is empty, expected a header row", name);
    if (rc < 0) goto done;
    ncols = r.nfields;
    header = calloc((size_t)ncols, sizeof(char *));
    if (!header) {
        rc = nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory", name);
        goto done;
    }
    for (int64_t j = 0; j < ncols; j++) {
        header[j] = nb__strndup(field(&r, j), strlen(field(&r, j)));
        if (!header[j]) {
            rc = nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory", name);
            goto done;
        }
    }
    /* the target column */
    int want_target = !(opts && opts->no_target);
    if (want_target) {
        if (opts && opts->target) {
            for (int64_t j = 0; j < ncols; j++)
                if (strcmp(header[j], opts->target) == 0) {
                    if (target >= 0) {
                        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                         "%s: line %lld: column '%s' appears twice in the header",
                                         name, (long long)line, opts->target);
                        goto done;
                    }
                    target = j;
                }
            if (target < 0) {
                rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                 "%s: line %lld: no column named '%s' in the header (%lld "
                                 "columns, first '%s')",
                                 name, (long long)line, shown(opts->target, sbuf, sizeof sbuf),
                                 (long long)ncols, header[0]);
                goto done;
            }
        } else {
            int k = opts ? opts->target_column : 0;
            if (k < 0 || k > ncols) {
                rc = nb__io_fail(err, errlen, NB_ERR_ARG,
                                 "%s: target column %d does not exist: the header has %lld "
                                 "columns",
                                 name, k, (long long)ncols);
                goto done;
            }
            target = k == 0 ? ncols - 1 : k - 1;
        }
    }
    int64_t d = ncols - (target >= 0 ? 1 : 0);
    if (d < 1) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: line %lld: the header has %lld column(s), expected at least one "
                         "feature column besides the target",
                         name, (long long)line, (long long)ncols);
        goto done;
    }

    for (;;) {
        rc = next_record(&r, &line, err, errlen);
        if (rc < 0) goto done;
        if (rc == 0) break;
        if (r.nfields != ncols) {
            rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                             "%s: line %lld: %lld fields, expected %lld (as in the header)", name,
                             (long long)line, (long long)r.nfields, (long long)ncols);
            goto done;
        }
        if (!rows_grow(&rows, d)) {
            rc = nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: line %lld: out of memory", name,
                             (long long)line);
            goto done;
        }
        float *xr = rows.x + rows.n * d;
        int64_t k = 0;
        for (int64_t j = 0; j < ncols; j++) {
            const char *f = field(&r, j);
            if (j == target) {
                float fv;
                rows.tnum[rows.n] = (unsigned char)parse_number(f, &fv, &rows.tval[rows.n]);
                if (is_blank(f)) {
                    rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                     "%s: line %lld, column '%s': empty target value", name,
                                     (long long)line, header[j]);
                    goto done;
                }
                rows.tid[rows.n] = names_intern(&names, f, line);
                if (rows.tid[rows.n] < 0) {
                    rc = nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory", name);
                    goto done;
                }
                continue;
            }
            if (!parse_number(f, &xr[k++], NULL)) {
                rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                                 "%s: line %lld, column '%s': %s '%s', expected a finite number",
                                 name, (long long)line, header[j],
                                 is_blank(f) ? "empty field (missing value)" : "not a number",
                                 shown(f, sbuf, sizeof sbuf));
                goto done;
            }
        }
        rows.line[rows.n] = line;
        rows.n++;
    }
    if (rows.n == 0) {
        rc = nb__io_fail(err, errlen, NB_ERR_FORMAT,
                         "%s: line %lld: no data rows after the header", name, (long long)r.line);
        goto done;
    }

    ds->n = rows.n;
    ds->feat_ndim = 1;
    ds->feat_shape[0] = d;
    ds->features = d;
    ds->x = rows.x;
    rows.x = NULL;
    ds->feature_names = calloc((size_t)d, sizeof(char *));
    if (!ds->feature_names) {
        rc = nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory", name);
        goto done;
    }
    for (int64_t j = 0, k = 0; j < ncols; j++) {
        if (j == target) {
            ds->target_name = header[j];
        } else {
            ds->feature_names[k++] = header[j];
        }
        header[j] = NULL;
    }
    if (target >= 0) {
        ds->y = malloc((size_t)rows.n * sizeof(float));
        if (!ds->y) {
            rc = nb__io_fail(err, errlen, NB_ERR_ALLOC, "%s: out of memory", name);
            goto done;
        }
        rc = assign_labels(ds, &rows, &names, opts, name, ds->target_name, err, errlen);
        if (rc != NB_OK) goto done;
    }
    rc = nb__dataset_apply_opts_norm(ds, opts, NB_NORM_STANDARD, name, err, errlen);

done:
    if (header)
        for (int64_t j = 0; j < ncols; j++) free(header[j]);
    free(header);
    names_free(&names);
    rows_free(&rows);
    free(r.buf);
    free(r.start);
    if (owned) free(text);
    if (rc != NB_OK) nb_dataset_free(ds);
    return rc;
}

int nb_dataset_load_csv(const char *path, const nb_data_opts *opts, nb_dataset *ds, char *err,
                        size_t errlen) {
    if (!ds) return nb__io_fail(err, errlen, NB_ERR_NULL, "nb_dataset_load_csv: NULL dataset");
    memset(ds, 0, sizeof *ds);
    uint8_t *buf;
    size_t len;
    int rc = nb__read_input(path, &buf, &len, err, errlen);
    if (rc != NB_OK) return rc;
    rc = nb_csv_parse(buf, len, path, opts, ds, err, errlen);
    free(buf);
    return rc;
}
