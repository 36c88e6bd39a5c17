/* Tests of the IDX reader: round trips of plain and gzip files built here in
 * temporary files, truncation at every interesting cut point, corrupted
 * magic/type/dims, overflowing dims, pairs, the directory layout, and the real
 * Fashion-MNIST files when the Debian package is installed. */
#include "test_util.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- fixtures -------------------------------------------------------------------- */

static size_t make_idx(uint8_t *buf, int ndim, const uint32_t *dims, uint8_t (*val)(size_t)) {
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = 0x08;
    buf[3] = (uint8_t)ndim;
    size_t count = 1, pos = 4;
    for (int i = 0; i < ndim; i++) {
        buf[pos++] = (uint8_t)(dims[i] >> 24);
        buf[pos++] = (uint8_t)(dims[i] >> 16);
        buf[pos++] = (uint8_t)(dims[i] >> 8);
        buf[pos++] = (uint8_t)dims[i];
        count *= dims[i];
    }
    for (size_t i = 0; i < count; i++) buf[pos++] = val(i);
    return pos;
}

static uint8_t pixel(size_t i) { return (uint8_t)((i * 37 + 11) % 256); }
static uint8_t label(size_t i) { return (uint8_t)(i % 5); }

static size_t gzip_bytes(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t len = zs.total_out;
    deflateEnd(&zs);
    return len;
}

/* A temp file holding buf; path receives its name. */
static void write_tmp(char *path, const void *buf, size_t n) {
    strcpy(path, "/tmp/nbt_idx_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
}

static void assert_err_has(const char *err, const char *what) {
    if (!strstr(err, what)) fail_msg("error message \"%s\" lacks \"%s\"", err, what);
}

/* ---- round trips ------------------------------------------------------------------- */

static void check_pair(const char *ipath, const char *lpath) {
    char err[512] = "";
    nb_dataset ds;
    int rc = nb_idx_load_pair(ipath, lpath, NULL, &ds, err, sizeof err);
    if (rc != NB_OK) fail_msg("%s", err);
    assert_int_equal(ds.n, 7);
    assert_int_equal(ds.feat_ndim, 2);
    assert_int_equal(ds.feat_shape[0], 3);
    assert_int_equal(ds.feat_shape[1], 4);
    assert_int_equal(ds.features, 12);
    assert_int_equal(ds.num_classes, 5);
    assert_null(ds.class_names);
    assert_int_equal(ds.norm.kind, NB_NORM_SCALE);
    for (size_t i = 0; i < 7 * 12; i++) {
        float want = (float)pixel(i) / 255.0f;
        if (fabsf(ds.x[i] - want) > 1e-6f) fail_msg("x[%zu] = %g, want %g", i, ds.x[i], want);
    }
    for (size_t i = 0; i < 7; i++) assert_true(ds.y[i] == (float)label(i));
    nb_dataset_free(&ds);
    assert_null(ds.x);
}

static void test_roundtrip_plain(void **state) {
    (void)state;
    uint8_t img[256], lab[64];
    uint32_t idims[3] = {7, 3, 4}, ldims[1] = {7};
    size_t ni = make_idx(img, 3, idims, pixel), nl = make_idx(lab, 1, ldims, label);
    char ip[64], lp[64];
    write_tmp(ip, img, ni);
    write_tmp(lp, lab, nl);
    check_pair(ip, lp);

    /* raw access and norm NONE keep the bytes as they are */
    nb_idx idx;
    char err[512];
    assert_int_equal(nb_idx_read(ip, &idx, err, sizeof err), NB_OK);
    assert_int_equal(idx.ndim, 3);
    assert_int_equal(idx.count, 84);
    for (size_t i = 0; i < 84; i++) assert_int_equal(idx.data[i], pixel(i));
    nb_idx_free(&idx);
    nb_data_opts opts = {0};
    opts.norm = NB_NORM_NONE;
    nb_dataset ds;
    assert_int_equal(nb_idx_load_pair(ip, lp, &opts, &ds, err, sizeof err), NB_OK);
    assert_int_equal(ds.norm.kind, NB_NORM_NONE);
    for (size_t i = 0; i < 84; i++) assert_true(ds.x[i] == (float)pixel(i));
    nb_dataset_free(&ds);
    unlink(ip);
    unlink(lp);
}

static void test_roundtrip_gzip(void **state) {
    (void)state;
    uint8_t img[256], lab[64], gi[512], gl[256];
    uint32_t idims[3] = {7, 3, 4}, ldims[1] = {7};
    size_t ni = make_idx(img, 3, idims, pixel), nl = make_idx(lab, 1, ldims, label);
    size_t ngi = gzip_bytes(img, ni, gi, sizeof gi), ngl = gzip_bytes(lab, nl, gl, sizeof gl);
    char ip[64], lp[64];
    write_tmp(ip, gi, ngi);
    write_tmp(lp, gl, ngl);
    check_pair(ip, lp);
    unlink(ip);
    unlink(lp);

    /* two gzip members back to back decompress to the concatenation */
    uint8_t two[1024];
    size_t a = gzip_bytes(img, 20, two, sizeof two);
    size_t b = gzip_bytes(img + 20, ni - 20, two + a, sizeof two - a);
    nb_idx idx;
    char err[512];
    assert_int_equal(nb_idx_parse(two, a + b, "two", &idx, err, sizeof err), NB_OK);
    assert_int_equal(idx.count, 84);
    for (size_t i = 0; i < 84; i++) assert_int_equal(idx.data[i], pixel(i));
    nb_idx_free(&idx);
}

/* ---- malformed input ---------------------------------------------------------------- */

static void test_truncated(void **state) {
    (void)state;
    uint8_t img[256];
    uint32_t dims[3] = {5, 3, 4};
    size_t n = make_idx(img, 3, dims, pixel); /* 16 header bytes + 60 */
    size_t cuts[] = {0, 1, 2, 3, 4, 7, 8, 12, 15, 16, 17, 40, n - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        nb_idx idx;
        char err[512] = "";
        int rc = nb_idx_parse(img, cuts[c], "cut.idx", &idx, err, sizeof err);
        if (rc != NB_ERR_FORMAT) fail_msg("cut at %zu: rc %d", cuts[c], rc);
        assert_null(idx.data);
        assert_err_has(err, "cut.idx");
        assert_err_has(err, "byte ");
        if (cuts[c] >= 16) {
            assert_err_has(err, "byte 16:");
            assert_err_has(err, "expected 60 bytes");
        }
    }
    /* through a file, the message names the path */
    char path[64], err[512];
    write_tmp(path, img, 40);
    nb_idx idx;
    assert_int_equal(nb_idx_read(path, &idx, err, sizeof err), NB_ERR_FORMAT);
    assert_err_has(err, path);
    assert_err_has(err, "only 24 remain");
    unlink(path);
    /* and a file that is longer than its header says */
    uint8_t longer[300];
    memcpy(longer, img, n);
    longer[n] = 0x55;
    assert_int_equal(nb_idx_parse(longer, n + 1, "long.idx", &idx, err, sizeof err),
                     NB_ERR_FORMAT);
    assert_err_has(err, "long.idx: byte 76");
    assert_err_has(err, "1 more bytes");
}

static void test_corrupt_header(void **state) {
    (void)state;
    uint8_t img[256], bad[256];
    uint32_t dims[2] = {4, 4};
    size_t n = make_idx(img, 2, dims, pixel);
    nb_idx idx;
    char err[512];
    struct { size_t at; uint8_t v; const char *msg; } cases[] = {
        {0, 0x01, "byte 0: bad IDX magic"},
        {1, 0x08, "byte 0: bad IDX magic"},
        {2, 0x0D, "0x0D (float) is not supported"},
        {2, 0x0B, "0x0B (short)"},
        {2, 0x42, "unknown IDX data type 0x42"},
        {3, 0x00, "byte 3: 0 dimensions"},
        {3, 0x07, "byte 3: 7 dimensions"},
        {3, 0xFF, "byte 3: 255 dimensions"},
        {7, 0x00, "byte 4: dimension 0 is 0"},
        {11, 0x05, "expected 20 bytes"},
        {11, 0x03, "byte 24: expected the end of the file after 12 bytes of data, 4 more"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memcpy(bad, img, n);
        bad[cases[c].at] = cases[c].v;
        if (cases[c].at == 7) bad[4] = bad[5] = bad[6] = 0;
        err[0] = '\0';
        assert_int_equal(nb_idx_parse(bad, n, "bad.idx", &idx, err, sizeof err), NB_ERR_FORMAT);
        assert_err_has(err, "bad.idx: ");
        assert_err_has(err, cases[c].msg);
    }
    /* a file that is not IDX at all */
    assert_int_equal(nb_idx_parse("hello world", 11, "text", &idx, err, sizeof err),
                     NB_ERR_FORMAT);
    assert_err_has(err, "magic");
}

static void test_oversized_dims(void **state) {
    (void)state;
    nb_idx idx;
    char err[512];
    /* six dims of 2^32-1 overflow int64: caught by the checked product */
    uint8_t h[4 + 24] = {0, 0, 0x08, 6};
    memset(h + 4, 0xFF, 24);
    assert_int_equal(nb_idx_parse(h, sizeof h, "huge.idx", &idx, err, sizeof err), NB_ERR_FORMAT);
    assert_err_has(err, "huge.idx: byte ");
    assert_err_has(err, "multiply to more than");
    /* 65536 x 65536 = 2^32 elements fits int64 but not the file */
    uint8_t h2[12 + 10] = {0, 0, 0x08, 2, 0, 1, 0, 0, 0, 1, 0, 0};
    assert_int_equal(nb_idx_parse(h2, sizeof h2, "big.idx", &idx, err, sizeof err), NB_ERR_FORMAT);
    assert_err_has(err, "big.idx: byte 12: expected 4294967296 bytes of data, only 10 remain");
    assert_null(idx.data);
}

static void test_gzip_truncated(void **state) {
    (void)state;
    uint8_t img[512], gz[1024];
    uint32_t dims[3] = {10, 5, 6};
    size_t n = make_idx(img, 3, dims, pixel);
    size_t ng = gzip_bytes(img, n, gz, sizeof gz);
    size_t cuts[] = {2, 5, 10, 11, ng / 2, ng - 8, ng - 4, ng - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        nb_idx idx;
        char err[512] = "";
        int rc = nb_idx_parse(gz, cuts[c], "cut.gz", &idx, err, sizeof err);
        if (rc != NB_ERR_FORMAT) fail_msg("gzip cut at %zu of %zu: rc %d (%s)", cuts[c], ng, rc, err);
        assert_err_has(err, "cut.gz: ");
        assert_err_has(err, "gzip");
        assert_null(idx.data);
    }
    /* corrupted payload: the CRC (or the deflate stream) catches it */
    for (size_t at = 12; at < ng; at += 7) {
        uint8_t bad[1024];
        memcpy(bad, gz, ng);
        bad[at] ^= 0x5A;
        nb_idx idx;
        char err[512] = "";
        int rc = nb_idx_parse(bad, ng, "flip.gz", &idx, err, sizeof err);
        if (rc == NB_OK) fail_msg("flipped byte %zu of %zu accepted", at, ng);
        assert_err_has(err, "flip.gz: ");
    }
    /* trailing garbage after the stream */
    gz[ng] = 'x';
    nb_idx idx;
    char err[512];
    assert_int_equal(nb_idx_parse(gz, ng + 1, "tail.gz", &idx, err, sizeof err), NB_ERR_FORMAT);
    assert_err_has(err, "after the gzip stream");
}

static void test_pair_errors(void **state) {
    (void)state;
    uint8_t img[256], lab[64], lab2[64];
    uint32_t idims[3] = {7, 3, 4}, l6[1] = {6}, l2d[2] = {7, 1}, l7[1] = {7};
    size_t ni = make_idx(img, 3, idims, pixel);
    char ip[64], lp[64], err[512];
    write_tmp(ip, img, ni);
    nb_dataset ds;

    size_t nl = make_idx(lab, 1, l6, label);
    write_tmp(lp, lab, nl);
    assert_int_equal(nb_idx_load_pair(ip, lp, NULL, &ds, err, sizeof err), NB_ERR_FORMAT);
    assert_err_has(err, lp);
    assert_err_has(err, "6 labels, expected 7");
    assert_null(ds.x);
    unlink(lp);

    nl = make_idx(lab, 2, l2d, label);
    write_tmp(lp, lab, nl);
    assert_int_equal(nb_idx_load_pair(ip, lp, NULL, &ds, err, sizeof err), NB_ERR_FORMAT);
    assert_err_has(err, "1 dimension");
    unlink(lp);

    /* labels must be below the class count the caller expects */
    nl = make_idx(lab2, 1, l7, label);
    write_tmp(lp, lab2, nl);
    nb_data_opts opts = {0};
    opts.num_classes = 4;
    assert_int_equal(nb_idx_load_pair(ip, lp, &opts, &ds, err, sizeof err), NB_ERR_FORMAT);
    assert_err_has(err, lp);
    assert_err_has(err, "byte 12: label of sample 4 is 4, expected a class id (an integer in 0..3)");
    opts.num_classes = 10;
    assert_int_equal(nb_idx_load_pair(ip, lp, &opts, &ds, err, sizeof err), NB_OK);
    assert_int_equal(ds.num_classes, 10);
    nb_dataset_free(&ds);
    unlink(lp);

    assert_int_equal(nb_idx_load_pair(ip, "/nonexistent/labels", NULL, &ds, err, sizeof err),
                     NB_ERR_IO);
    assert_err_has(err, "/nonexistent/labels: cannot open");
    assert_int_equal(nb_idx_load_pair("/tmp", "/tmp", NULL, &ds, err, sizeof err), NB_ERR_IO);
    assert_err_has(err, "directory");
    unlink(ip);
}

static void test_dir_layout(void **state) {
    (void)state;
    char dir[64] = "/tmp/nbt_idxdir_XXXXXX";
    assert_non_null(mkdtemp(dir));
    uint8_t img[256], lab[64], gi[512];
    uint32_t idims[3] = {7, 3, 4}, ldims[1] = {7};
    size_t ni = make_idx(img, 3, idims, pixel), nl = make_idx(lab, 1, ldims, label);
    size_t ngi = gzip_bytes(img, ni, gi, sizeof gi);
    char ip[128], lp[128];
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte", dir);
    FILE *f = fopen(ip, "wb");
    fwrite(gi, 1, ngi, f);
    fclose(f);
    f = fopen(lp, "wb");
    fwrite(lab, 1, nl, f);
    fclose(f);
    nb_dataset ds;
    char err[512];
    int rc = nb_dataset_load_idx_dir(dir, "train", NULL, &ds, err, sizeof err);
    if (rc != NB_OK) fail_msg("%s", err);
    assert_int_equal(ds.n, 7);
    assert_int_equal(ds.features, 12);
    nb_dataset_free(&ds);
    assert_int_equal(nb_dataset_load_idx_dir(dir, "t10k", NULL, &ds, err, sizeof err), NB_ERR_IO);
    assert_err_has(err, "t10k-images-idx3-ubyte");
    assert_err_has(err, "not found");
    unlink(ip);
    unlink(lp);
    rmdir(dir);
}

/* ---- the real data set ------------------------------------------------------------------ */

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

static void check_fmnist(const char *split, int64_t n) {
    nb_dataset ds;
    char err[512];
    int rc = nb_dataset_load_idx_dir(FMNIST_DIR, split, NULL, &ds, err, sizeof err);
    if (rc != NB_OK) fail_msg("%s", err);
    assert_int_equal(ds.n, n);
    assert_int_equal(ds.feat_ndim, 2);
    assert_int_equal(ds.feat_shape[0], 28);
    assert_int_equal(ds.feat_shape[1], 28);
    assert_int_equal(ds.num_classes, 10);
    int64_t hist[10] = {0};
    for (int64_t i = 0; i < n; i++) {
        assert_true(ds.y[i] >= 0.0f && ds.y[i] < 10.0f && ds.y[i] == floorf(ds.y[i]));
        hist[(int)ds.y[i]]++;
    }
    /* Fashion-MNIST is balanced: n/10 of each class */
    for (int c = 0; c < 10; c++) assert_int_equal(hist[c], n / 10);
    float lo = 1.0f, hi = 0.0f;
    for (int64_t i = 0; i < n * 784; i++) {
        if (ds.x[i] < lo) lo = ds.x[i];
        if (ds.x[i] > hi) hi = ds.x[i];
    }
    assert_true(lo == 0.0f);
    assert_true(hi == 1.0f);
    nb_dataset_free(&ds);
}

static void test_fashion_mnist(void **state) {
    (void)state;
    struct stat st;
    if (stat(FMNIST_DIR, &st) != 0) {
        skip();
        return;
    }
    check_fmnist("train", 60000);
    check_fmnist("t10k", 10000);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_plain),
        cmocka_unit_test(test_roundtrip_gzip),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt_header),
        cmocka_unit_test(test_oversized_dims),
        cmocka_unit_test(test_gzip_truncated),
        cmocka_unit_test(test_pair_errors),
        cmocka_unit_test(test_dir_layout),
        cmocka_unit_test(test_fashion_mnist),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
