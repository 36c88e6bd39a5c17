/* Tests of the NumPy .npy reader: each supported dtype and format version,
 * header dict variants, and rejection of everything else — bad magic and
 * versions, truncation, big-endian/structured/other dtypes, Fortran order,
 * oversized shapes — plus features/labels datasets built from .npy files. */
#include "test_util.h"

#include <unistd.h>

static void assert_err_has(const char *err, const char *what) {
    if (!strstr(err, what)) fail_msg("error message \"%s\" lacks \"%s\"", err, what);
}

/* A .npy image: preamble for `major`, the dict padded with spaces and a
 * newline so the data starts at a multiple of 64, then the data bytes. */
static size_t make_npy(uint8_t *buf, int major, const char *dict, const void *data, size_t n) {
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hlen = ((pre + dl + 1 + 63) / 64) * 64 - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    buf[8] = (uint8_t)hlen;
    buf[9] = (uint8_t)(hlen >> 8);
    if (major != 1) buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hlen - dl - 1);
    buf[pre + hlen - 1] = '\n';
    memcpy(buf + pre + hlen, data, n);
    return pre + hlen + n;
}

static void write_tmp(char *path, const void *buf, size_t n) {
    strcpy(path, "/tmp/nbt_npy_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
}

/* Values stored little-endian byte by byte, whatever the host order. */
static void put_le(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void test_dtypes(void **state) {
    (void)state;
    const double vals[6] = {0, 1, -2.5, 3.25, 1e6, -7};
    uint8_t data[64], buf[512];
    nb_npy a;
    char err[512];

    for (int i = 0; i < 6; i++) {
        float f = (float)vals[i];
        uint32_t w;
        memcpy(&w, &f, 4);
        put_le(data + 4 * i, w, 4);
    }
    size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                        data, 24);
    if (nb_npy_parse(buf, n, "f4.npy", &a, err, sizeof err) != NB_OK) fail_msg("%s", err);
    assert_int_equal(a.dtype, NB_NPY_F4);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 2);
    assert_int_equal(a.shape[1], 3);
    assert_int_equal(a.count, 6);
    for (int i = 0; i < 6; i++) assert_true(a.data[i] == (float)vals[i]);
    nb_npy_free(&a);

    for (int i = 0; i < 6; i++) {
        uint64_t w;
        memcpy(&w, &vals[i], 8);
        put_le(data + 8 * i, w, 8);
    }
    n = make_npy(buf, 2, "{\"descr\":\"<f8\",\"fortran_order\":False,\"shape\":(6,)}", data, 48);
    if (nb_npy_parse(buf, n, "f8.npy", &a, err, sizeof err) != NB_OK) fail_msg("%s", err);
    assert_int_equal(a.dtype, NB_NPY_F8);
    assert_int_equal(a.ndim, 1);
    for (int i = 0; i < 6; i++) assert_true(a.data[i] == (float)vals[i]);
    nb_npy_free(&a);

    const int64_t ints[4] = {0, 5, -3, (int64_t)1 << 40};
    for (int i = 0; i < 4; i++) put_le(data + 8 * i, (uint64_t)ints[i], 8);
    n = make_npy(buf, 3, "{'shape': (2, 1, 2), 'fortran_order': False, 'descr': '<i8'}", data, 32);
    if (nb_npy_parse(buf, n, "i8.npy", &a, err, sizeof err) != NB_OK) fail_msg("%s", err);
    assert_int_equal(a.dtype, NB_NPY_I8);
    assert_int_equal(a.ndim, 3);
    for (int i = 0; i < 4; i++) assert_true(a.data[i] == (float)ints[i]);
    nb_npy_free(&a);

    for (int i = 0; i < 5; i++) data[i] = (uint8_t)(i * 60);
    n = make_npy(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }", data, 5);
    if (nb_npy_parse(buf, n, "u1.npy", &a, err, sizeof err) != NB_OK) fail_msg("%s", err);
    for (int i = 0; i < 5; i++) assert_true(a.data[i] == (float)(i * 60));
    nb_npy_free(&a);

    /* a 0-d array and an empty one are valid files */
    put_le(data, 0x40490fdb, 4); /* 3.14159274f */
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", data, 4);
    assert_int_equal(nb_npy_parse(buf, n, "s.npy", &a, err, sizeof err), NB_OK);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(a.count, 1);
    assert_true(a.data[0] == 3.14159274f);
    nb_npy_free(&a);
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", data, 0);
    assert_int_equal(nb_npy_parse(buf, n, "e.npy", &a, err, sizeof err), NB_OK);
    assert_int_equal(a.count, 0);
    nb_npy_free(&a);
}

static void expect_bad(const uint8_t *buf, size_t n, const char *what) {
    nb_npy a;
    char err[512] = "";
    int rc = nb_npy_parse(buf, n, "bad.npy", &a, err, sizeof err);
    if (rc != NB_ERR_FORMAT) fail_msg("rc %d for a file that should fail with '%s': %s", rc, what, err);
    assert_null(a.data);
    assert_err_has(err, "bad.npy: byte ");
    assert_err_has(err, what);
}

static void expect_bad_dict(const char *dict, size_t datalen, const char *what) {
    uint8_t buf[1024], data[256] = {0};
    expect_bad(buf, make_npy(buf, 1, dict, data, datalen), what);
}

static void test_rejects(void **state) {
    (void)state;
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
    uint8_t buf[1024], bad[1024], data[48] = {0};
    size_t n = make_npy(buf, 1, ok, data, 48); /* 128 header bytes + 48 */
    assert_int_equal(n, 176);

    /* truncated at every region: preamble, header, data */
    size_t cuts[] = {0, 3, 6, 8, 9, 10, 30, 127, 128, 129, 150, n - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        nb_npy a;
        char err[512] = "";
        int rc = nb_npy_parse(buf, cuts[c], "cut.npy", &a, err, sizeof err);
        if (rc != NB_ERR_FORMAT) fail_msg("cut at %zu: rc %d", cuts[c], rc);
        assert_err_has(err, "cut.npy: byte ");
        if (cuts[c] >= 128) assert_err_has(err, "byte 128: expected 48 bytes of <f4 data");
        else if (cuts[c] >= 10) assert_err_has(err, "byte 10: expected a 118-byte header");
    }
    memcpy(bad, buf, n);
    bad[n] = 0;
    expect_bad(bad, n + 1, "byte 176: expected the end of the file");

    memcpy(bad, buf, n);
    bad[0] = 0x92;
    expect_bad(bad, n, "byte 0: expected the magic");
    memcpy(bad, buf, n);
    bad[6] = 4;
    expect_bad(bad, n, "byte 6: format version 4.0 not supported");
    memcpy(bad, buf, n);
    bad[9] = 0x7F; /* header length far past the end */
    expect_bad(bad, n, "byte 10: expected a 32630-byte header, only 166 bytes remain");

    expect_bad_dict("{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", 12,
                    "big-endian dtype '>f4' is not supported");
    expect_bad_dict("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", 6,
                    "dtype '<f2' is not supported");
    expect_bad_dict("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 12,
                    "dtype '<i4' is not supported");
    expect_bad_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", 12,
                    "structured dtypes are not supported");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }", 48,
                    "fortran_order is True");
    expect_bad_dict("{'descr': '<f4', 'shape': (3,), }", 12, "lacks 'fortran_order'");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", 12,
                    "unexpected or repeated key 'x'");
    expect_bad_dict("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", 12,
                    "repeated key 'descr'");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", 12,
                    "expected a dimension");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3 4), }", 12,
                    "expected ',' or ')'");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3,), }", 12,
                    "expected True or False");
    expect_bad_dict("['descr', '<f4']", 12, "expected '{'");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } junk", 12,
                    "only padding after the header dict");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)", 12,
                    "',' or '}'");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,2,3,4,5,6,7), }", 12,
                    "more than 6 dimensions");
    /* oversized: the product overflows int64, or merely exceeds the data */
    expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, "
                    "4294967296), }",
                    0, "shape multiplies to more than");
    expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                    0, "dimension too large");
    expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000), }", 16,
                    "expected 8000000000 bytes of <f8 data, only 16 remain");
}

static void test_dataset(void **state) {
    (void)state;
    /* features [4, 2, 3] float32, labels [4] int64 */
    uint8_t data[128], buf[512];
    for (int i = 0; i < 24; i++) {
        float f = (float)(i % 7) - 1.5f;
        uint32_t w;
        memcpy(&w, &f, 4);
        put_le(data + 4 * i, w, 4);
    }
    char xp[64], yp[64], err[512];
    size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2, 3), }",
                        data, 96);
    write_tmp(xp, buf, n);
    const int64_t labels[4] = {2, 0, 1, 2};
    for (int i = 0; i < 4; i++) put_le(data + 8 * i, (uint64_t)labels[i], 8);
    n = make_npy(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", data, 32);
    write_tmp(yp, buf, n);

    nb_dataset ds;
    nb_data_opts raw = {.norm = NB_NORM_NONE};
    if (nb_dataset_load_npy(xp, yp, &raw, &ds, err, sizeof err) != NB_OK) fail_msg("%s", err);
    assert_int_equal(ds.n, 4);
    assert_int_equal(ds.feat_ndim, 2);
    assert_int_equal(ds.feat_shape[0], 2);
    assert_int_equal(ds.feat_shape[1], 3);
    assert_int_equal(ds.features, 6);
    assert_int_equal(ds.num_classes, 3);
    for (int i = 0; i < 24; i++) assert_true(ds.x[i] == (float)(i % 7) - 1.5f);
    for (int i = 0; i < 4; i++) assert_true(ds.y[i] == (float)labels[i]);
    nb_dataset_free(&ds);
    /* float features are standardised by default */
    assert_int_equal(nb_dataset_load_npy(xp, NULL, NULL, &ds, err, sizeof err), NB_OK);
    assert_int_equal(ds.norm.kind, NB_NORM_STANDARD);
    assert_null(ds.y);
    nb_dataset_free(&ds);
    unlink(yp);

    /* labels that are not class ids, or do not match the sample count */
    const char *dicts[] = {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
                           "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
                           "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }"};
    const char *msgs[] = {"label of sample 1 is 0.5, expected a class id", "labels must have shape [4]",
                          "labels must have shape [4]"};
    for (int k = 0; k < 3; k++) {
        if (k == 0) {
            for (int i = 0; i < 4; i++) {
                float f = 0.5f * (float)i;
                uint32_t w;
                memcpy(&w, &f, 4);
                put_le(data + 4 * i, w, 4);
            }
        } else {
            for (int i = 0; i < 4; i++) put_le(data + 8 * i, 1, 8);
        }
        n = make_npy(buf, 1, dicts[k], data, k == 0 ? 16 : (k == 1 ? 24 : 32));
        write_tmp(yp, buf, n);
        assert_int_equal(nb_dataset_load_npy(xp, yp, NULL, &ds, err, sizeof err), NB_ERR_FORMAT);
        assert_err_has(err, yp);
        assert_err_has(err, msgs[k]);
        assert_null(ds.x);
        unlink(yp);
    }
    unlink(xp);

    /* uint8 features scale to [0,1]; NaN features are refused with their position */
    for (int i = 0; i < 6; i++) data[i] = (uint8_t)(i * 51);
    n = make_npy(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2), }", data, 6);
    write_tmp(xp, buf, n);
    assert_int_equal(nb_dataset_load_npy(xp, NULL, NULL, &ds, err, sizeof err), NB_OK);
    assert_int_equal(ds.norm.kind, NB_NORM_SCALE);
    for (int i = 0; i < 6; i++) assert_float_equal(ds.x[i], i * 51 / 255.0, 1e-6);
    nb_dataset_free(&ds);
    unlink(xp);
    for (int i = 0; i < 6; i++) put_le(data + 4 * i, i == 3 ? 0x7fc00000u : 0x3f800000u, 4);
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", data, 24);
    write_tmp(xp, buf, n);
    assert_int_equal(nb_dataset_load_npy(xp, NULL, NULL, &ds, err, sizeof err), NB_ERR_FORMAT);
    assert_err_has(err, xp);
    assert_err_has(err, "sample 1, feature 1");
    unlink(xp);
    /* a 0-d file is not a dataset */
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", data, 4);
    write_tmp(xp, buf, n);
    assert_int_equal(nb_dataset_load_npy(xp, NULL, NULL, &ds, err, sizeof err), NB_ERR_FORMAT);
    assert_err_has(err, "no dimensions");
    unlink(xp);
    assert_int_equal(nb_dataset_load_npy(xp, NULL, NULL, &ds, err, sizeof err), NB_ERR_IO);
    assert_err_has(err, xp);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_dataset),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
