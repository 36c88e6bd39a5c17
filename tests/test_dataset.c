/* Tests of datasets after reading: normalisation fit/apply against double
 * references, validation splits (ordered and seeded), batch iteration (partial
 * last batch, padding, seeded per-epoch shuffles, unbiased permutations). */
#include "test_util.h"

/* n samples of d features where x[i][j] = 100 i + j and y[i] = i % 3. */
static void make(nb_dataset *ds, int64_t n, int64_t d) {
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->feat_ndim = 1;
    ds->feat_shape[0] = d;
    ds->features = d;
    ds->x = malloc((size_t)(n * d) * sizeof(float));
    ds->y = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++) ds->x[i * d + j] = (float)(100 * i + j);
        ds->y[i] = (float)(i % 3);
    }
    ds->num_classes = 3;
    ds->norm.kind = NB_NORM_NONE;
}

static void assert_err_has(const char *err, const char *what) {
    if (!strstr(err, what)) fail_msg("error message \"%s\" lacks \"%s\"", err, what);
}

static void test_norm(void **state) {
    (void)state;
    nb_dataset ds;
    make(&ds, 5, 3);
    for (int i = 0; i < 5; i++) ds.x[i * 3 + 2] = 4.0f; /* a constant feature */
    float raw[15];
    memcpy(raw, ds.x, sizeof raw);
    nb_norm norm;
    char err[256];
    assert_int_equal(nb_norm_fit(&ds, NB_NORM_STANDARD, 0, &norm, err, sizeof err), NB_OK);
    assert_int_equal(norm.features, 3);
    for (int j = 0; j < 3; j++) {
        double m = 0, v = 0;
        for (int i = 0; i < 5; i++) m += raw[i * 3 + j];
        m /= 5;
        for (int i = 0; i < 5; i++) v += (raw[i * 3 + j] - m) * (raw[i * 3 + j] - m);
        double s = j == 2 ? 1.0 : sqrt(v / 5);
        assert_float_equal(norm.mean[j], m, 1e-4);
        assert_float_equal(norm.std[j], s, 1e-4);
    }
    assert_int_equal(nb_dataset_normalise(&ds, &norm, err, sizeof err), NB_OK);
    for (int i = 0; i < 15; i++)
        assert_float_equal(ds.x[i], (raw[i] - norm.mean[i % 3]) / norm.std[i % 3], 1e-6);
    for (int i = 0; i < 5; i++) assert_true(ds.x[i * 3 + 2] == 0.0f);
    /* the dataset keeps its own copy of the statistics */
    norm.mean[0] = 1234.0f;
    assert_true(ds.norm.mean[0] != 1234.0f);
    /* normalising twice would silently double-transform: refused */
    assert_int_equal(nb_dataset_normalise(&ds, &norm, err, sizeof err), NB_ERR_STATE);
    assert_err_has(err, "already normalised");
    nb_norm_free(&norm);
    nb_dataset_free(&ds);

    make(&ds, 2, 2);
    assert_int_equal(nb_norm_fit(&ds, NB_NORM_SCALE, 0, &norm, err, sizeof err), NB_OK);
    assert_true(norm.scale == 1.0f / 255.0f);
    assert_int_equal(nb_dataset_normalise(&ds, &norm, err, sizeof err), NB_OK);
    assert_true(ds.x[3] == 101.0f * (1.0f / 255.0f));
    nb_dataset_free(&ds);
    make(&ds, 2, 2);
    nb_norm wrong = {NB_NORM_STANDARD, 0, 3, (float[]){0, 0, 0}, (float[]){1, 1, 1}};
    assert_int_equal(nb_dataset_normalise(&ds, &wrong, err, sizeof err), NB_ERR_SHAPE);
    nb_norm zero_std = {NB_NORM_STANDARD, 0, 2, (float[]){0, 0}, (float[]){1, 0}};
    assert_int_equal(nb_dataset_normalise(&ds, &zero_std, err, sizeof err), NB_ERR_ARG);
    assert_err_has(err, "feature 1");
    assert_int_equal(nb_norm_fit(&ds, 42, 0, &norm, err, sizeof err), NB_ERR_ARG);
    nb_dataset_free(&ds);
    nb_dataset_free(&ds); /* freeing twice (zeroed) is harmless */
}

static void test_split(void **state) {
    (void)state;
    nb_dataset ds, tr, va;
    make(&ds, 10, 2);
    ds.class_names = calloc(3, sizeof(char *));
    for (int c = 0; c < 3; c++) {
        ds.class_names[c] = malloc(16);
        snprintf(ds.class_names[c], 16, "c%d", c);
    }
    char err[256];
    /* ordered: the last 30% */
    assert_int_equal(nb_dataset_split(&ds, 0.3, 0, 0, &tr, &va, err, sizeof err), NB_OK);
    assert_int_equal(tr.n, 7);
    assert_int_equal(va.n, 3);
    for (int i = 0; i < 7; i++) assert_true(tr.x[i * 2] == (float)(100 * i) && tr.y[i] == (float)(i % 3));
    for (int i = 0; i < 3; i++) assert_true(va.x[i * 2 + 1] == (float)(100 * (7 + i) + 1));
    assert_string_equal(va.class_names[2], "c2");
    assert_true(va.class_names != ds.class_names);
    nb_dataset_free(&tr);
    nb_dataset_free(&va);

    /* seeded: disjoint, complete, each part in file order, reproducible */
    int64_t first[3] = {0};
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(nb_dataset_split(&ds, 0.3, 1, 77, &tr, &va, err, sizeof err), NB_OK);
        int seen[10] = {0};
        for (int i = 0; i < 7; i++) seen[(int)tr.x[i * 2] / 100]++;
        for (int i = 0; i < 3; i++) seen[(int)va.x[i * 2] / 100]++;
        for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
        for (int i = 1; i < 7; i++) assert_true(tr.x[i * 2] > tr.x[(i - 1) * 2]);
        for (int i = 0; i < 3; i++) {
            assert_true(va.y[i] == (float)((int)va.x[i * 2] / 100 % 3));
            if (rep == 0) first[i] = (int64_t)va.x[i * 2];
            else assert_int_equal(first[i], (int64_t)va.x[i * 2]);
        }
        nb_dataset_free(&tr);
        nb_dataset_free(&va);
    }
    /* some seed gives a different split than seed 77 */
    int differs = 0;
    for (uint64_t seed = 0; seed < 8 && !differs; seed++) {
        assert_int_equal(nb_dataset_split(&ds, 0.3, 1, seed, &tr, &va, err, sizeof err), NB_OK);
        for (int i = 0; i < 3; i++) differs |= first[i] != (int64_t)va.x[i * 2];
        nb_dataset_free(&tr);
        nb_dataset_free(&va);
    }
    assert_true(differs);

    assert_int_equal(nb_dataset_split(&ds, 0.0, 0, 0, &tr, &va, err, sizeof err), NB_ERR_ARG);
    assert_int_equal(nb_dataset_split(&ds, 1.0, 0, 0, &tr, &va, err, sizeof err), NB_ERR_ARG);
    assert_int_equal(nb_dataset_split(&ds, 0.01, 0, 0, &tr, &va, err, sizeof err), NB_ERR_ARG);
    assert_err_has(err, "10 samples cannot be split");
    assert_int_equal(nb_dataset_split(&ds, 0.99, 0, 0, &tr, &va, err, sizeof err), NB_ERR_ARG);
    nb_dataset_free(&ds);
}

/* One epoch's visiting order, checking counts and padding along the way. */
static void epoch_order(nb_batch_iter *it, int64_t epoch, int64_t *order) {
    const nb_dataset *ds = it->ds;
    int64_t b = it->batch, d = ds->features, seen = 0, count;
    float *x = malloc((size_t)(b * d) * sizeof(float)), *y = malloc((size_t)b * sizeof(float));
    assert_int_equal(nb_batch_epoch(it, epoch), NB_OK);
    int64_t batches = 0;
    int rc;
    while ((rc = nb_batch_next(it, x, y, &count)) > 0) {
        batches++;
        int64_t want = ds->n - seen < b ? ds->n - seen : b;
        assert_int_equal(count, want);
        for (int64_t k = 0; k < count; k++) {
            int64_t i = (int64_t)x[k * d] / 100;
            order[seen + k] = i;
            for (int64_t j = 0; j < d; j++) assert_true(x[k * d + j] == ds->x[i * d + j]);
            assert_true(y[k] == ds->y[i]);
        }
        for (int64_t k = count; k < b; k++) {
            assert_true(y[k] == 0.0f);
            for (int64_t j = 0; j < d; j++) assert_true(x[k * d + j] == 0.0f);
        }
        seen += count;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(count, 0);
    assert_int_equal(seen, ds->n);
    assert_int_equal(batches, nb_batch_count(it));
    assert_int_equal(nb_batch_next(it, x, y, &count), 0); /* stays at the end */
    free(x);
    free(y);
    /* a permutation */
    char *hit = calloc((size_t)ds->n, 1);
    for (int64_t i = 0; i < ds->n; i++) {
        assert_false(hit[order[i]]);
        hit[order[i]] = 1;
    }
    free(hit);
}

static void test_batches(void **state) {
    (void)state;
    nb_dataset ds;
    make(&ds, 10, 3);
    nb_batch_iter it, it2;
    char err[256];
    int64_t a[10], b[10], c[10];

    assert_int_equal(nb_batch_iter_init(&it, &ds, 4, 0, 0, err, sizeof err), NB_OK);
    assert_int_equal(nb_batch_count(&it), 3);
    epoch_order(&it, 0, a);
    for (int i = 0; i < 10; i++) assert_int_equal(a[i], i);
    nb_batch_iter_free(&it);

    /* same seed, same order; another epoch, another order; an epoch's order
     * does not depend on the epochs before it (resume) */
    assert_int_equal(nb_batch_iter_init(&it, &ds, 4, 1, 5, err, sizeof err), NB_OK);
    assert_int_equal(nb_batch_iter_init(&it2, &ds, 3, 1, 5, err, sizeof err), NB_OK);
    epoch_order(&it, 0, a);
    epoch_order(&it, 1, b);
    epoch_order(&it, 2, c);
    assert_true(memcmp(a, b, sizeof a) != 0 && memcmp(b, c, sizeof b) != 0);
    int64_t again[10];
    epoch_order(&it2, 2, again); /* fresh iterator, straight to epoch 2, other batch size */
    assert_memory_equal(again, c, sizeof c);
    epoch_order(&it2, 0, again);
    assert_memory_equal(again, a, sizeof a);
    nb_batch_iter_free(&it2);
    nb_batch_iter_free(&it);
    assert_int_equal(nb_batch_iter_init(&it, &ds, 4, 1, 6, err, sizeof err), NB_OK);
    epoch_order(&it, 0, b);
    assert_true(memcmp(a, b, sizeof a) != 0);
    nb_batch_iter_free(&it);

    /* batch larger than the data: one padded batch; batch == n: no padding */
    assert_int_equal(nb_batch_iter_init(&it, &ds, 16, 1, 1, err, sizeof err), NB_OK);
    epoch_order(&it, 0, a);
    nb_batch_iter_free(&it);
    assert_int_equal(nb_batch_iter_init(&it, &ds, 10, 1, 1, err, sizeof err), NB_OK);
    assert_int_equal(nb_batch_count(&it), 1);
    epoch_order(&it, 3, a);
    nb_batch_iter_free(&it);

    assert_int_equal(nb_batch_iter_init(&it, &ds, 0, 1, 1, err, sizeof err), NB_ERR_ARG);
    assert_err_has(err, "batch size 0");
    int64_t idx[2] = {9, 10};
    float x[6];
    assert_int_equal(nb_dataset_gather(&ds, idx, 1, x, NULL), NB_OK);
    assert_true(x[2] == 902.0f);
    assert_int_equal(nb_dataset_gather(&ds, idx, 2, x, NULL), NB_ERR_ARG);
    nb_dataset_free(&ds);
}

/* Fisher–Yates with unbiased draws makes all n! orders equally likely: over
 * 6000 epochs of 3 samples each of the 6 orders should appear ~1000 times
 * (sd ~29); an off-by-one shuffle (e.g. j drawn from [0, i) ) never produces
 * some orders and fails at once. */
static void test_uniform_shuffle(void **state) {
    (void)state;
    nb_dataset ds;
    make(&ds, 3, 1);
    nb_batch_iter it;
    char err[256];
    assert_int_equal(nb_batch_iter_init(&it, &ds, 3, 1, 123, err, sizeof err), NB_OK);
    int hist[3][3][3] = {{{0}}};
    int64_t o[3];
    for (int e = 0; e < 6000; e++) {
        assert_int_equal(nb_batch_epoch(&it, e), NB_OK);
        memcpy(o, it.order, sizeof o);
        hist[o[0]][o[1]][o[2]]++;
    }
    int perms = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 3; c++)
                if (a != b && b != c && a != c) {
                    perms++;
                    if (hist[a][b][c] < 850 || hist[a][b][c] > 1150)
                        fail_msg("order %d%d%d seen %d times of 6000", a, b, c, hist[a][b][c]);
                }
    assert_int_equal(perms, 6);
    nb_batch_iter_free(&it);
    nb_dataset_free(&ds);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_uniform_shuffle),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
