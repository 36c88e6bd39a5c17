/* Tests of the CSV reader: values, quoting, class-name mapping, standardisation
 * with stored statistics, and every malformed-input error with its line and
 * column; truncated and gzip inputs. Files are built in memory or in /tmp. */
#include "test_util.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

static void assert_err_has(const char *err, const char *what) {
    if (!strstr(err, what)) fail_msg("error message \"%s\" lacks \"%s\"", err, what);
}

static int parse(const char *text, const nb_data_opts *opts, nb_dataset *ds, char *err) {
    return nb_csv_parse(text, strlen(text), "t.csv", opts, ds, err, 512);
}

static const nb_data_opts raw_opts = {.norm = NB_NORM_NONE};

static void test_values(void **state) {
    (void)state;
    const char *text = "a,b,label\n1,2,0\n3.5,-4e2,2\r\n  7 ,0.25,1\n";
    nb_dataset ds;
    char err[512];
    if (parse(text, &raw_opts, &ds, err) != NB_OK) fail_msg("%s", err);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.features, 2);
    assert_int_equal(ds.feat_ndim, 1);
    assert_int_equal(ds.feat_shape[0], 2);
    const float want[] = {1, 2, 3.5f, -400, 7, 0.25f};
    for (int i = 0; i < 6; i++) assert_true(ds.x[i] == want[i]);
    assert_true(ds.y[0] == 0 && ds.y[1] == 2 && ds.y[2] == 1);
    assert_int_equal(ds.num_classes, 3);
    assert_null(ds.class_names);
    assert_string_equal(ds.feature_names[0], "a");
    assert_string_equal(ds.feature_names[1], "b");
    assert_string_equal(ds.target_name, "label");
    assert_int_equal(ds.norm.kind, NB_NORM_NONE);
    nb_dataset_free(&ds);

    /* the target chosen by name, by 1-based index, or absent */
    nb_data_opts o = raw_opts;
    o.target = "a";
    assert_int_equal(parse("a,b,c\n1,2,3\n0,5,6\n", &o, &ds, err), NB_OK);
    assert_true(ds.y[0] == 1 && ds.y[1] == 0);
    assert_true(ds.x[0] == 2 && ds.x[1] == 3 && ds.x[2] == 5 && ds.x[3] == 6);
    assert_string_equal(ds.target_name, "a");
    nb_dataset_free(&ds);
    o.target = NULL;
    o.target_column = 2;
    assert_int_equal(parse("a,b,c\n1,2,3\n0,5,6\n", &o, &ds, err), NB_OK);
    assert_true(ds.y[0] == 2 && ds.y[1] == 5);
    assert_true(ds.x[0] == 1 && ds.x[1] == 3);
    nb_dataset_free(&ds);
    o.no_target = 1;
    assert_int_equal(parse("a,b,c\n1,2,3\n0,5,6\n", &o, &ds, err), NB_OK);
    assert_null(ds.y);
    assert_int_equal(ds.features, 3);
    assert_int_equal(ds.num_classes, 0);
    nb_dataset_free(&ds);
}

static void test_quoting_and_names(void **state) {
    (void)state;
    /* quoted header names with a comma and an escaped quote, a quoted number,
     * string classes (one spanning two lines), blank lines, a UTF-8 BOM */
    const char *text = "\xEF\xBB\xBF\"x,1\",\"y\"\"q\",animal\n"
                       "\"1\",2e3,dog\n"
                       "\n"
                       "3,4,cat\r\n"
                       "5,6,\"bi\nrd\"\n"
                       "7,8,cat\n";
    nb_dataset ds;
    char err[512];
    if (parse(text, &raw_opts, &ds, err) != NB_OK) fail_msg("%s", err);
    assert_int_equal(ds.n, 4);
    assert_string_equal(ds.feature_names[0], "x,1");
    assert_string_equal(ds.feature_names[1], "y\"q");
    assert_true(ds.x[0] == 1 && ds.x[1] == 2000 && ds.x[6] == 7);
    /* names are numbered in sorted order: "bi\nrd" < "cat" < "dog" */
    assert_int_equal(ds.num_classes, 3);
    assert_string_equal(ds.class_names[0], "bi\nrd");
    assert_string_equal(ds.class_names[1], "cat");
    assert_string_equal(ds.class_names[2], "dog");
    assert_true(ds.y[0] == 2 && ds.y[1] == 1 && ds.y[2] == 0 && ds.y[3] == 1);

    /* another file mapped through the training names: same ids whatever the order */
    nb_data_opts o = raw_opts;
    o.num_classes = ds.num_classes;
    o.class_names = (const char *const *)ds.class_names;
    nb_dataset t;
    assert_int_equal(parse("a,b,c\n1,1,dog\n2,2,cat\n", &o, &t, err), NB_OK);
    assert_true(t.y[0] == 2 && t.y[1] == 1);
    assert_int_equal(t.num_classes, 3);
    assert_string_equal(t.class_names[2], "dog");
    nb_dataset_free(&t);
    /* an unknown class names its first line (the multi-line field counts two lines) */
    assert_int_equal(parse("a,b,c\n1,1,\"d\no\"\n2,2,emu\n", &o, &t, err), NB_ERR_FORMAT);
    assert_err_has(err, "t.csv: line 2, column 'c': unknown class 'd?o'");
    assert_int_equal(parse("a,b,c\n1,1,\"d\no\"\n2,2,1,\n", &raw_opts, &t, err), NB_ERR_FORMAT);
    assert_err_has(err, "t.csv: line 4: 4 fields, expected 3");
    nb_dataset_free(&ds);

    /* numbers mixed with words are names; "2.0" is class 2 when all are numbers */
    assert_int_equal(parse("a,c\n1,2.0\n2,0\n", &raw_opts, &ds, err), NB_OK);
    assert_true(ds.y[0] == 2 && ds.y[1] == 0);
    assert_null(ds.class_names);
    nb_dataset_free(&ds);
    assert_int_equal(parse("a,c\n1,10\n2,9\n3,x\n", &raw_opts, &ds, err), NB_OK);
    assert_string_equal(ds.class_names[0], "10");
    assert_string_equal(ds.class_names[1], "9");
    assert_string_equal(ds.class_names[2], "x");
    nb_dataset_free(&ds);
}

static void test_standardise(void **state) {
    (void)state;
    const char *train = "f0,f1,f2,y\n1,10,5,0\n2,20,5,1\n4,-30,5,0\n9,0.5,5,1\n";
    const double raw[4][3] = {{1, 10, 5}, {2, 20, 5}, {4, -30, 5}, {9, 0.5, 5}};
    nb_dataset ds;
    char err[512];
    if (parse(train, NULL, &ds, err) != NB_OK) fail_msg("%s", err); /* default: standardise */
    assert_int_equal(ds.norm.kind, NB_NORM_STANDARD);
    assert_int_equal(ds.norm.features, 3);
    for (int j = 0; j < 3; j++) {
        double m = 0, v = 0;
        for (int i = 0; i < 4; i++) m += raw[i][j];
        m /= 4;
        for (int i = 0; i < 4; i++) v += (raw[i][j] - m) * (raw[i][j] - m);
        double s = sqrt(v / 4);
        if (s == 0) s = 1; /* constant feature */
        assert_float_equal(ds.norm.mean[j], m, 1e-5);
        assert_float_equal(ds.norm.std[j], s, 1e-5);
        for (int i = 0; i < 4; i++) assert_float_equal(ds.x[i * 3 + j], (raw[i][j] - m) / s, 1e-5);
    }
    /* a test file standardised with the training statistics, not its own */
    nb_data_opts o = {0};
    o.stats = &ds.norm;
    nb_dataset t;
    assert_int_equal(parse("f0,f1,f2,y\n3,3,3,1\n", &o, &t, err), NB_OK);
    for (int j = 0; j < 3; j++)
        assert_float_equal(t.x[j], (3.0 - ds.norm.mean[j]) / ds.norm.std[j], 1e-5);
    assert_int_equal(t.norm.kind, NB_NORM_STANDARD);
    assert_true(t.norm.mean[1] == ds.norm.mean[1]);
    nb_dataset_free(&t);
    /* statistics for a different feature count are refused */
    assert_int_equal(parse("f0,f1,y\n3,3,1\n", &o, &t, err), NB_ERR_SHAPE);
    assert_err_has(err, "t.csv: ");
    assert_err_has(err, "3 features, the data has 2");
    nb_dataset_free(&ds);
}

static void expect_error(const char *text, const nb_data_opts *opts, int status,
                         const char *what) {
    nb_dataset ds;
    char err[512] = "";
    int rc = parse(text, opts, &ds, err);
    if (rc != status) fail_msg("rc %d (want %d) for input \"%s\": %s", rc, status, text, err);
    assert_null(ds.x);
    assert_err_has(err, "t.csv: ");
    assert_err_has(err, what);
}

static void test_errors(void **state) {
    (void)state;
    nb_data_opts named = raw_opts;
    named.target = "label";
    expect_error("", NULL, NB_ERR_FORMAT, "line 1: the file is empty");
    expect_error("\n\n", NULL, NB_ERR_FORMAT, "the file is empty");
    expect_error("a,b\n", NULL, NB_ERR_FORMAT, "no data rows");
    expect_error("a,b\n\n\n", NULL, NB_ERR_FORMAT, "no data rows");
    expect_error("y\n1\n", NULL, NB_ERR_FORMAT, "at least one feature column");
    expect_error("a,b,c\n1,2,0\n3,4\n", NULL, NB_ERR_FORMAT, "line 3: 2 fields, expected 3");
    expect_error("a,b,c\n1,2,0\n\n3,4,1,5\n", NULL, NB_ERR_FORMAT, "line 4: 4 fields, expected 3");
    expect_error("a,b,c\n1,abc,0\n", NULL, NB_ERR_FORMAT,
                 "line 2, column 'b': not a number 'abc'");
    expect_error("a,b,c\n1,2,0\n1,2x,0\n", NULL, NB_ERR_FORMAT, "line 3, column 'b': not a number");
    expect_error("a,b,c\n1,,0\n", NULL, NB_ERR_FORMAT, "line 2, column 'b': empty field");
    expect_error("a,b,c\n1, ,0\n", NULL, NB_ERR_FORMAT, "empty field (missing value)");
    expect_error("a,b,c\nnan,1,0\n", NULL, NB_ERR_FORMAT, "line 2, column 'a': not a number 'nan'");
    expect_error("a,b,c\n1,-inf,0\n", NULL, NB_ERR_FORMAT, "column 'b'");
    expect_error("a,b,c\n1,1e39,0\n", NULL, NB_ERR_FORMAT, "column 'b'");
    expect_error("a,b,c\n1,2,\n", NULL, NB_ERR_FORMAT, "line 2, column 'c': empty target");
    expect_error("a,b,c\n1,2,0\n", &named, NB_ERR_FORMAT, "line 1: no column named 'label'");
    expect_error("label,b,label\n1,2,0\n", &named, NB_ERR_FORMAT, "appears twice");
    expect_error("a,b,c\n1,2,2.5\n", NULL, NB_ERR_FORMAT,
                 "line 2, column 'c': target 2.5 is not a class id");
    expect_error("a,b,c\n1,2,0\n1,2,-1\n", NULL, NB_ERR_FORMAT, "line 3, column 'c': target -1");
    expect_error("a,b,c\n1,\"2,0\n3,4,5\n", NULL, NB_ERR_FORMAT,
                 "line 4: quoted field opened on line 2 is never closed");
    expect_error("a,b,c\n1,\"2\"x,0\n", NULL, NB_ERR_FORMAT, "line 2, field 2: expected ','");
    expect_error("a,b,c\n1,2\0,0\n", NULL, NB_ERR_FORMAT, "line 2: 2 fields"); /* strlen stops */
    nb_data_opts o = raw_opts;
    o.target_column = 4;
    expect_error("a,b,c\n1,2,0\n", &o, NB_ERR_ARG, "target column 4 does not exist");
    o.target_column = 0;
    o.num_classes = 2;
    expect_error("a,b,c\n1,2,0\n1,2,2\n", &o, NB_ERR_FORMAT, "line 3, column 'c': target 2");
    expect_error("a,b,c\n1,2,x\n1,2,y\n1,2,z\n", &o, NB_ERR_FORMAT, "3 classes, expected at most 2");

    /* a NUL byte inside the text (length-delimited input) */
    nb_dataset ds;
    char err[512];
    const char nul[] = "a,b\n1,\0\n";
    assert_int_equal(nb_csv_parse(nul, sizeof nul - 1, "t.csv", NULL, &ds, err, sizeof err),
                     NB_ERR_FORMAT);
    assert_err_has(err, "t.csv: line 2 (byte 6): NUL byte");
    /* a tiny error buffer truncates the message but never overflows */
    char tiny[8];
    assert_int_equal(nb_csv_parse("a,b\nx,1\n", 8, "t.csv", NULL, &ds, tiny, sizeof tiny),
                     NB_ERR_FORMAT);
    assert_int_equal(strlen(tiny), 7);
    assert_int_equal(nb_csv_parse("a,b\nx,1\n", 8, "t.csv", NULL, &ds, NULL, 0), NB_ERR_FORMAT);
}

/* Every prefix of a valid file either parses (a shorter valid file) or fails
 * with a message naming a line; none crashes or leaks. */
static void test_truncated(void **state) {
    (void)state;
    const char *text = "p,q,\"cl,ass\"\n1.5,2,\"a\"\"b\"\n-3,4e1,c\n5,6,\"a\"\"b\"\n";
    size_t n = strlen(text);
    int ok = 0, bad = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        char *copy = malloc(cut + 1);
        memcpy(copy, text, cut);
        copy[cut] = 'Z'; /* not part of the input: a parser reading past it would see it */
        nb_dataset ds;
        char err[512] = "";
        int rc = nb_csv_parse(copy, cut, "cut.csv", &raw_opts, &ds, err, sizeof err);
        if (rc == NB_OK) {
            ok++;
            assert_true(ds.n >= 1 && ds.n <= 3);
            assert_int_equal(ds.features, 2);
            assert_true(ds.x[0] == 1.5f);
            nb_dataset_free(&ds);
        } else {
            bad++;
            assert_int_equal(rc, NB_ERR_FORMAT);
            assert_err_has(err, "cut.csv: line ");
        }
        free(copy);
    }
    assert_true(ok > 3 && bad > 10);
}

static void test_files_and_gzip(void **state) {
    (void)state;
    const char *text = "a,b,y\n1,2,0\n3,4,1\n";
    uint8_t gz[256];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)text;
    zs.avail_in = (uInt)strlen(text);
    zs.next_out = gz;
    zs.avail_out = sizeof gz;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t ng = zs.total_out;
    deflateEnd(&zs);
    char path[64] = "/tmp/nbt_csv_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, gz, ng), (ssize_t)ng);
    close(fd);
    nb_dataset ds;
    char err[512];
    if (nb_dataset_load_csv(path, &raw_opts, &ds, err, sizeof err) != NB_OK) fail_msg("%s", err);
    assert_int_equal(ds.n, 2);
    assert_true(ds.x[3] == 4 && ds.y[1] == 1);
    nb_dataset_free(&ds);
    /* truncated gzip through a file: the path is in the message */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, gz, ng / 2), (ssize_t)(ng / 2));
    close(fd);
    assert_int_equal(nb_dataset_load_csv(path, NULL, &ds, err, sizeof err), NB_ERR_FORMAT);
    assert_err_has(err, path);
    assert_err_has(err, "gzip data truncated");
    /* a plain file with an error: path and line */
    fd = open(path, O_WRONLY | O_TRUNC);
    const char *badtext = "a,b,y\n1,2,0\n3,oops,1\n";
    assert_int_equal(write(fd, badtext, strlen(badtext)), (ssize_t)strlen(badtext));
    close(fd);
    assert_int_equal(nb_dataset_load_csv(path, NULL, &ds, err, sizeof err), NB_ERR_FORMAT);
    char want[128];
    snprintf(want, sizeof want, "%s: line 3, column 'b': not a number 'oops'", path);
    assert_err_has(err, want);
    unlink(path);
    assert_int_equal(nb_dataset_load_csv(path, NULL, &ds, err, sizeof err), NB_ERR_IO);
    assert_err_has(err, path);
}

/* Many distinct string classes go through the hash table: ids stay sorted. */
static void test_many_classes(void **state) {
    (void)state;
    size_t cap = 64 * 1024, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "v,name\n");
    for (int i = 0; i < 2000; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d,k%04d\n", i, (i * 7919) % 2000);
    nb_dataset ds;
    char err[512];
    if (nb_csv_parse(text, len, "many.csv", &raw_opts, &ds, err, sizeof err) != NB_OK)
        fail_msg("%s", err);
    assert_int_equal(ds.num_classes, 2000);
    for (int i = 0; i < 2000; i++) assert_true(ds.y[i] == (float)((i * 7919) % 2000));
    for (int c = 1; c < 2000; c++) assert_true(strcmp(ds.class_names[c - 1], ds.class_names[c]) < 0);
    nb_dataset_free(&ds);
    free(text);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_quoting_and_names),
        cmocka_unit_test(test_standardise),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_files_and_gzip),
        cmocka_unit_test(test_many_classes),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
