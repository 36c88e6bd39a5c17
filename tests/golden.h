/* tests/golden.h — the reader of the PyTorch golden fixtures
 * tests/data/golden/<file> (written by tests/gen/gen_golden_*.py) and the
 * tolerance check shared by the golden tests; each test passes its OWN tolerances.
 * Include after test_util.h. One fixture file is loaded at a time. */
#ifndef NABLA_TESTS_GOLDEN_H
#define NABLA_TESTS_GOLDEN_H

#include "test_util.h"

/* Fixture format: whitespace-separated entries "name ndim d0 .. d(ndim-1)
 * v0 v1 ..." (float64 values, row-major); a '#' starts a comment line. */
#define GOLDEN_MAX_FIXTURES 256

typedef struct golden_fixture {
    char name[80];
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t size;
    double *values;
} golden_fixture;

static golden_fixture golden_fx[GOLDEN_MAX_FIXTURES];
static int golden_nfx;

/* Parses the whole file; fails the test on any malformed or short entry. */
static inline void golden_load(const char *file) {
    const char *dir = getenv("NABLA_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/%s", dir ? dir : "tests/data", file);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open fixture %s", path);
    golden_nfx = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '#') {
            while ((c = fgetc(f)) != EOF && c != '\n') {}
            continue;
        }
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') continue;
        ungetc(c, f);
        if (golden_nfx == GOLDEN_MAX_FIXTURES) fail_msg("%s: more than %d entries", path, GOLDEN_MAX_FIXTURES);
        golden_fixture *e = &golden_fx[golden_nfx];
        if (fscanf(f, "%79s %d", e->name, &e->ndim) != 2 || e->ndim < 0 || e->ndim > NB_MAX_DIMS)
            fail_msg("%s: bad header after entry %d", path, golden_nfx);
        e->size = 1;
        for (int d = 0; d < e->ndim; d++) {
            long long v;
            if (fscanf(f, "%lld", &v) != 1 || v < 0 || v > 100000) fail_msg("%s: bad shape of %s", path, e->name);
            e->shape[d] = v;
            e->size *= v;
        }
        e->values = calloc((size_t)(e->size ? e->size : 1), sizeof(double));
        assert_non_null(e->values);
        for (int64_t i = 0; i < e->size; i++)
            if (fscanf(f, "%lf", &e->values[i]) != 1) fail_msg("%s: %s is truncated", path, e->name);
        golden_nfx++;
    }
    fclose(f);
}

static inline void golden_free(void) {
    for (int i = 0; i < golden_nfx; i++) free(golden_fx[i].values);
    golden_nfx = 0;
}

static inline const golden_fixture *golden_get(const char *name) {
    for (int i = 0; i < golden_nfx; i++)
        if (strcmp(golden_fx[i].name, name) == 0) return &golden_fx[i];
    fail_msg("fixture has no entry '%s'", name);
    return NULL;
}

static inline void golden_assert_shape(const nb_tensor *t, const golden_fixture *e) {
    if (t->ndim != e->ndim) fail_msg("%s: rank %d, fixture %d", e->name, t->ndim, e->ndim);
    for (int d = 0; d < e->ndim; d++)
        if (t->shape[d] != e->shape[d]) fail_msg("%s: dim %d is %lld, fixture %lld", e->name, d,
                                                 (long long)t->shape[d], (long long)e->shape[d]);
}

/* t's data from the fixture, whose shape t must have. */
static inline void golden_copy_in(nb_tensor *t, const golden_fixture *e) {
    golden_assert_shape(t, e);
    for (int64_t i = 0; i < e->size; i++) t->data[i] = (float)e->values[i];
}

/* Every got[i] (e->size of them) within rel_tol·|want| + abs_tol of the fixture;
 * `what` names the tensor in the failure message. */
static inline void golden_assert_close(const char *what, const float *got, const golden_fixture *e, double rel_tol,
                                       double abs_tol) {
    for (int64_t i = 0; i < e->size; i++) {
        double want = e->values[i], err = fabs((double)got[i] - want);
        if (!(err <= rel_tol * fabs(want) + abs_tol))
            fail_msg("%s[%lld]: nabla %.9g, PyTorch %.9g (error %.3g)", what, (long long)i, (double)got[i],
                     want, err);
    }
}

/* As golden_assert_close, but the absolute floor is abs_tol·max|want| over the
 * whole fixture tensor (for float32 sums that cancel to nearly 0). */
static inline void golden_assert_close_scaled(const char *what, const float *got, const golden_fixture *e,
                                              double rel_tol, double abs_tol) {
    double scale = 0.0;
    for (int64_t i = 0; i < e->size; i++) scale = fmax(scale, fabs(e->values[i]));
    for (int64_t i = 0; i < e->size; i++) {
        double want = e->values[i], err = fabs((double)got[i] - want);
        if (!(err <= rel_tol * fabs(want) + abs_tol * scale))
            fail_msg("%s[%lld]: nabla %.9g, PyTorch %.9g (error %.3g, tensor scale %.3g)", what, (long long)i,
                     (double)got[i], want, err, scale);
    }
}

#endif
