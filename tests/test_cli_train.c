/* test_cli_train.c — the `nabla train` machinery from C: model spec parsing
 * and printing, the byte-keeping IDX reader (round trip, truncation,
 * corruption, gzip), metrics/SVG output, and a real run on a tiny synthetic
 * IDX dataset: checkpoint contents, eval/predict loading, and bit-identical
 * resume (1 epoch + resume to 2 == 2 epochs straight). */
#include "test_util.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "data_cli.h"
#include "model_io.h"
#include "report.h"
#include "spec.h"

/* ---- specs ---------------------------------------------------------------------- */

static void test_spec_parse(void **state) {
    (void)state;
    nbc_model_spec s;
    char err[256], buf[256];
    assert_int_equal(nbc_model_spec_parse("mlp", &s, err, sizeof err), 0);
    assert_int_equal(s.nhidden, 2);
    assert_int_equal(s.hidden[0], 256);
    assert_int_equal(s.hidden[1], 128);
    assert_int_equal(s.act, NB_ACT_RELU);
    nbc_model_spec_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "mlp:256,128,act=relu,dropout=0");

    assert_int_equal(nbc_model_spec_parse("mlp:512,64,32,act=tanh,dropout=0.25", &s, err, sizeof err), 0);
    assert_int_equal(s.nhidden, 3);
    assert_int_equal(s.hidden[2], 32);
    assert_int_equal(s.act, NB_ACT_TANH);
    assert_true(s.dropout == 0.25f);
    nbc_model_spec_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "mlp:512,64,32,act=tanh,dropout=0.25");
    nbc_model_spec s2;
    assert_int_equal(nbc_model_spec_parse(buf, &s2, err, sizeof err), 0);
    assert_memory_equal(&s, &s2, sizeof s);

    assert_int_equal(nbc_model_spec_parse("linear", &s, err, sizeof err), 0);
    assert_int_equal(s.nhidden, 0);
    nbc_model_spec_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "mlp:none,act=relu,dropout=0");
    assert_int_equal(nbc_model_spec_parse(buf, &s2, err, sizeof err), 0);
    assert_int_equal(s2.nhidden, 0);

    static const char *bad[] = {"",          "MLP",          "mlp:",         "mlp:256,,128", "mlp:0",
                                "mlp:-3",    "mlp:12x",      "mlp:act=swish", "mlp:dropout=1", "mlp:dropout=-0.1",
                                "mlp:foo=1", "mlp:256,act=", "cnnx:3",       "mlp:a=b=c",    "linear:5",
                                "mlp:none,5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (nbc_model_spec_parse(bad[i], &s, err, sizeof err) == 0) fail_msg("accepted bad spec '%s'", bad[i]);
        assert_true(strlen(err) > 0);
        assert_null(strchr(err, '\n'));
    }
}

static void test_kvlist(void **state) {
    (void)state;
    nbc_kvlist kv;
    char err[256];
    assert_int_equal(nbc_kvlist_parse("step:every=2,gamma=0.5", &kv, err, sizeof err), 0);
    assert_string_equal(kv.kind, "step");
    assert_int_equal(kv.n, 2);
    assert_string_equal(kv.item[0].key, "every");
    assert_string_equal(kv.item[0].value, "2");
    assert_string_equal(kv.item[1].value, "0.5");
    assert_int_equal(nbc_kvlist_parse("multistep:2,4", &kv, err, sizeof err), 0);
    assert_int_equal(kv.n, 2);
    assert_string_equal(kv.item[1].key, "");
    assert_int_equal(nbc_kvlist_parse("x:=3", &kv, err, sizeof err), -1);
    assert_int_equal(nbc_kvlist_parse(":3", &kv, err, sizeof err), -1);
}

/* ---- IDX bytes ---------------------------------------------------------------------- */

static char tmpdir[256];

static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nbtest_cli_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static void rm_rf(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void write_bytes(const char *path, const void *p, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, p, (unsigned)n), (int)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(p, 1, n, f), n);
        fclose(f);
    }
}

/* An IDX file with dims d[0..nd) and the given bytes. */
static size_t idx_image(unsigned char *buf, const int *d, int nd, const unsigned char *data) {
    size_t o = 0, count = 1;
    buf[o++] = 0, buf[o++] = 0, buf[o++] = 8, buf[o++] = (unsigned char)nd;
    for (int i = 0; i < nd; i++) {
        buf[o++] = (unsigned char)(d[i] >> 24), buf[o++] = (unsigned char)(d[i] >> 16);
        buf[o++] = (unsigned char)(d[i] >> 8), buf[o++] = (unsigned char)d[i];
        count *= (size_t)d[i];
    }
    memcpy(buf + o, data, count);
    return o + count;
}

static void test_idx_bytes(void **state) {
    (void)state;
    make_tmpdir();
    unsigned char data[3 * 2 * 5], file[256];
    for (int i = 0; i < 30; i++) data[i] = (unsigned char)(i * 7 + 3);
    int dims[3] = {3, 2, 5};
    size_t len = idx_image(file, dims, 3, data);
    char path[512], err[512];
    for (int gz = 0; gz < 2; gz++) {
        snprintf(path, sizeof path, "%s/a%s", tmpdir, gz ? ".gz" : "");
        write_bytes(path, file, len, gz);
        nb_idx idx;
        assert_int_equal(nbc_idx_read_u8(path, &idx, err, sizeof err), NB_OK);
        assert_int_equal(idx.ndim, 3);
        assert_int_equal(idx.dims[2], 5);
        assert_int_equal(idx.count, 30);
        assert_memory_equal(idx.data, data, 30);
        /* same bytes as the library reader */
        nb_idx ref;
        assert_int_equal(nb_idx_read(path, &ref, err, sizeof err), NB_OK);
        assert_memory_equal(ref.data, idx.data, 30);
        nb_idx_free(&ref);
        nb_idx_free(&idx);
        /* every truncation is an error naming the file */
        for (size_t cut = 0; cut < len; cut++) {
            write_bytes(path, file, cut, gz);
            err[0] = '\0';
            int rc = nbc_idx_read_u8(path, &idx, err, sizeof err);
            if (rc == NB_OK) fail_msg("truncation to %zu bytes accepted (gz %d)", cut, gz);
            assert_non_null(strstr(err, path));
            assert_null(idx.data);
        }
    }
    /* trailing bytes, bad magic, bad type, zero dims, too many dims */
    unsigned char bad[256];
    memcpy(bad, file, len);
    bad[len] = 9;
    snprintf(path, sizeof path, "%s/b", tmpdir);
    write_bytes(path, bad, len + 1, 0);
    nb_idx idx;
    assert_int_equal(nbc_idx_read_u8(path, &idx, err, sizeof err), NB_ERR_FORMAT);
    assert_non_null(strstr(err, "end of the file"));
    static const struct { int at; unsigned char v; const char *msg; } cases[] = {
        {0, 1, "not an IDX"}, {2, 0x0D, "0x0d"}, {3, 0, "dimensions"}, {3, 9, "dimensions"}, {7, 0, "dimension 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(bad, file, len);
        bad[cases[i].at] = cases[i].v;
        if (cases[i].at == 7) bad[4] = bad[5] = bad[6] = 0;
        write_bytes(path, bad, len, 0);
        assert_int_not_equal(nbc_idx_read_u8(path, &idx, err, sizeof err), NB_OK);
        if (!strstr(err, cases[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
    }
    /* corrupt gzip stream */
    snprintf(path, sizeof path, "%s/c.gz", tmpdir);
    write_bytes(path, file, len, 1);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 12, SEEK_SET);
    fputc(0xff, f), fputc(0xff, f), fputc(0xff, f);
    fclose(f);
    assert_int_not_equal(nbc_idx_read_u8(path, &idx, err, sizeof err), NB_OK);
    assert_int_equal(nbc_idx_read_u8("/nonexistent/x", &idx, err, sizeof err), NB_ERR_IO);
    rm_rf(tmpdir);
}

/* ---- metrics and plot ------------------------------------------------------------ */

static void test_metrics_svg(void **state) {
    (void)state;
    nbc_metrics rows[3] = {{1, 0.9, 0.7, 0.8, 0.72, 1.5}, {2, 0.5, 0.8, 0.6, 0.79, 1.4}, {3, 0.4, 0.85, 0.55, 0.81, 1.4}};
    char *s = nbc_metrics_format(rows, 3);
    assert_non_null(s);
    assert_string_equal(s, "1,0.900000,0.700000,0.800000,0.720000,1.500\n2,0.500000,0.800000,0.600000,0.790000,1.400\n"
                           "3,0.400000,0.850000,0.550000,0.810000,1.400\n");
    nbc_metrics back[4];
    assert_int_equal(nbc_metrics_parse(s, back, 4), 3);
    assert_int_equal(back[2].epoch, 3);
    assert_true(fabs(back[1].eval_acc - 0.79) < 1e-9);
    assert_int_equal(nbc_metrics_parse(s, back, 2), -1);
    assert_int_equal(nbc_metrics_parse("1,2,3\n", back, 4), -1);
    free(s);
    char *svg = nbc_curves_svg(rows, 3, "title <&>");
    assert_non_null(svg);
    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(svg, "title &lt;&amp;&gt;"));
    assert_non_null(strstr(svg, ">epoch</text>"));
    assert_non_null(strstr(svg, ">accuracy</text>"));
    assert_non_null(strstr(svg, "train loss"));
    assert_non_null(strstr(svg, "eval accuracy"));
    int polylines = 0;
    for (const char *p = svg; (p = strstr(p, "<polyline")); p++) polylines++;
    assert_int_equal(polylines, 4);
    assert_non_null(strstr(svg, "</svg>\n"));
    free(svg);
    /* a single epoch still plots */
    svg = nbc_curves_svg(rows, 1, "one");
    assert_non_null(svg);
    assert_null(strstr(svg, "nan"));
    assert_null(strstr(svg, "inf"));
    free(svg);
}

/* ---- a real run on a tiny synthetic dataset ------------------------------------------ */

/* 4x4 images of 3 classes: class k lights up row k (plus noise); n samples. */
static void write_split(const char *dir, const char *split, int n, uint64_t seed) {
    unsigned char *img = malloc((size_t)n * 16), *lab = malloc((size_t)n), *buf = malloc((size_t)n * 16 + 64);
    assert_non_null(img);
    for (int i = 0; i < n; i++) {
        int k = (int)(nbt_rand_u32(&seed) % 3);
        lab[i] = (unsigned char)k;
        for (int j = 0; j < 16; j++) img[i * 16 + j] = (unsigned char)(nbt_rand_u32(&seed) % 90 + (j / 4 == k ? 140 : 0));
    }
    char path[512];
    int d3[3] = {n, 4, 4}, d1[1] = {n};
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, split);
    write_bytes(path, buf, idx_image(buf, d3, 3, img), 1);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, split);
    write_bytes(path, buf, idx_image(buf, d1, 1, lab), 0);
    free(img), free(lab), free(buf);
}

/* `--rng KIND` for the fresh runs when non-NULL (a resumed run reads it from
 * the checkpoint). */
static const char *train_rng;

static int train(const char *out, const char *epochs, const char *resume) {
    char *argv[32];
    int argc = 0;
    argv[argc++] = "train";
    if (train_rng && !resume) {
        argv[argc++] = "--rng";
        argv[argc++] = (char *)train_rng;
    }
    argv[argc++] = "--epochs";
    argv[argc++] = (char *)epochs;
    if (resume) {
        argv[argc++] = "--resume";
        argv[argc++] = (char *)resume;
    } else {
        static char *rest[] = {"--batch", "16", "--model", "mlp:12,act=tanh,dropout=0.1", "--opt", "adamw",
                               "--lr", "0.01", "--schedule", "step:every=1,gamma=0.5", "--clip", "5", "--seed", "3"};
        for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) argv[argc++] = rest[i];
    }
    argv[argc++] = "--out";
    argv[argc++] = (char *)out;
    argv[argc++] = "--progress";
    argv[argc++] = "never";
    argv[argc] = NULL;
    return nbc_train_main(argc, argv);
}

/* Loads a model file's parameters into a fresh context. */
static nb_ctx *load(const char *path, nbc_model_info *mi, nbc_net *net) {
    nb_ctx *ctx = nb_ctx_new();
    char err[512];
    if (nbc_model_load(ctx, path, mi, net, err, sizeof err)) fail_msg("%s", err);
    return ctx;
}

static void test_train_resume_bit_identical(void **state) {
    (void)state;
    make_tmpdir();
    char data[300], a[300], b[300], path[400], pb[400];
    snprintf(data, sizeof data, "%s/data", tmpdir);
    mkdir(data, 0777);
    write_split(data, "train", 150, 11); /* 150 = 9 x 16 + 6: a partial last batch */
    write_split(data, "t10k", 60, 12);
    setenv("NABLA_FMNIST_DIR", data, 1); /* the default data */
    snprintf(a, sizeof a, "%s/a", tmpdir);
    snprintf(b, sizeof b, "%s/b", tmpdir);
    assert_int_equal(train(a, "2", NULL), 0);
    assert_int_equal(train(b, "1", NULL), 0);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    assert_int_equal(train(b, "2", pb), 0); /* flags come from the checkpoint */

    nbc_model_info ma, mb;
    nbc_net na, nb;
    snprintf(path, sizeof path, "%s/model.safetensors", a);
    nb_ctx *ca = load(path, &ma, &na), *cb = load(pb, &mb, &nb);
    assert_string_equal(ma.spec_str, "mlp:12,act=tanh,dropout=0.1");
    assert_int_equal(ma.classes, 3);
    assert_int_equal(ma.inputs, 16);
    assert_int_equal(ma.epoch, 2);
    assert_int_equal(mb.epoch, 2);
    assert_int_equal(ma.norm.kind, NB_NORM_SCALE);
    assert_string_equal(ma.data_kind, "idx");
    assert_string_equal(ma.class_names[2], "2");
    int np = nb_model_num_params(na.model);
    assert_int_equal(np, 4);
    for (int i = 0; i < np; i++) {
        nb_tensor *x = nb_model_param(na.model, i), *y = nb_model_param(nb.model, i);
        assert_string_equal(x->name, y->name);
        assert_memory_equal(x->data, y->data, (size_t)x->size * sizeof(float));
    }
    /* torch.nn.Linear layout: fc1.weight is [out, in] */
    nb_tensor *w = nb_model_find(na.model, "fc1.weight");
    assert_non_null(w);
    assert_int_equal(w->shape[0], 12);
    assert_int_equal(w->shape[1], 16);
    /* it learnt something: evaluation on the held-out split */
    nbc_data d;
    char err[512];
    assert_int_equal(nbc_data_load_idx_dir(data, "t10k", 3, &d, err, sizeof err), NB_OK);
    nbc_evaluator ev;
    assert_int_equal(nbc_evaluator_init(&ev, &na, 25), NB_OK); /* 60 = 2 x 25 + 10: padded last batch */
    double loss, acc;
    int64_t conf[9] = {0};
    assert_int_equal(nbc_evaluate(&ev, &d, &loss, &acc, conf, NULL, NULL), NB_OK);
    int64_t total = 0, diag = 0;
    for (int i = 0; i < 9; i++) total += conf[i];
    for (int i = 0; i < 3; i++) diag += conf[i * 4];
    assert_int_equal(total, 60);
    assert_true(fabs(acc - (double)diag / 60.0) < 1e-12);
    assert_true(acc > 0.9);
    assert_true(loss > 0.0 && loss < 0.7);
    /* metrics.csv of the resumed run has both epochs */
    snprintf(path, sizeof path, "%s/metrics.csv", b);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, NBC_METRICS_HEADER "\n");
    int rows = 0;
    while (fgets(line, sizeof line, f)) rows++;
    fclose(f);
    assert_int_equal(rows, 2);
    nbc_data_free(&d);
    nbc_model_info_free(&ma);
    nbc_model_info_free(&mb);
    nb_ctx_free(ca);
    nb_ctx_free(cb);
    unsetenv("NABLA_FMNIST_DIR");
    rm_rf(tmpdir);
}

/* --rng torch: saved in the checkpoint, so a resumed run continues the same
 * torch.randperm orders and gives bitwise the uninterrupted run; and it is
 * another run than nabla's own draws. */
static void test_train_rng_torch_resume(void **state) {
    (void)state;
    make_tmpdir();
    char data[300], a[300], b[300], c[300], pa[400], pb[400], pc[400];
    snprintf(data, sizeof data, "%s/data", tmpdir);
    mkdir(data, 0777);
    write_split(data, "train", 150, 11);
    write_split(data, "t10k", 60, 12);
    setenv("NABLA_FMNIST_DIR", data, 1);
    snprintf(a, sizeof a, "%s/a", tmpdir);
    snprintf(b, sizeof b, "%s/b", tmpdir);
    snprintf(c, sizeof c, "%s/c", tmpdir);
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    snprintf(pc, sizeof pc, "%s/model.safetensors", c);
    train_rng = "torch";
    assert_int_equal(train(a, "3", NULL), 0);
    assert_int_equal(train(b, "1", NULL), 0);
    assert_int_equal(train(b, "3", pb), 0);
    train_rng = NULL;
    assert_int_equal(train(c, "3", NULL), 0);
    nbc_model_info ma, mb, mc;
    nbc_net na, nb, nc;
    nb_ctx *ca = load(pa, &ma, &na), *cb = load(pb, &mb, &nb), *cc = load(pc, &mc, &nc);
    int differ = 0;
    for (int i = 0; i < nb_model_num_params(na.model); i++) {
        nb_tensor *x = nb_model_param(na.model, i), *y = nb_model_param(nb.model, i),
                  *z = nb_model_param(nc.model, i);
        assert_memory_equal(x->data, y->data, (size_t)x->size * sizeof(float));
        differ |= memcmp(x->data, z->data, (size_t)x->size * sizeof(float)) != 0;
    }
    assert_true(differ);
    nbc_model_info_free(&ma), nbc_model_info_free(&mb), nbc_model_info_free(&mc);
    nb_ctx_free(ca), nb_ctx_free(cb), nb_ctx_free(cc);
    unsetenv("NABLA_FMNIST_DIR");
    rm_rf(tmpdir);
}

static void test_checkpoint_meta(void **state) {
    (void)state;
    make_tmpdir();
    nb_ctx *ctx = nb_ctx_new();
    int64_t shape[2] = {2, 3};
    nb_tensor *p = nb_param_new(ctx, "w", 2, shape);
    for (int i = 0; i < 6; i++) p->data[i] = (float)i;
    const char *meta[] = {"nabla.model", "mlp:3", "nabla.class.0", "a,\"b\"\n"};
    nb_checkpoint ck = {0};
    ck.params = &p;
    ck.nparams = 1;
    ck.meta = meta;
    ck.nmeta = 2;
    char path[400];
    snprintf(path, sizeof path, "%s/m.safetensors", tmpdir);
    assert_int_equal(nb_checkpoint_save(ctx, path, &ck), NB_OK);
    nb_safetensors_info info;
    assert_int_equal(nb_safetensors_read_info(ctx, path, &info), NB_OK);
    assert_int_equal(info.ntensors, 1);
    assert_string_equal(info.tensors[0].name, "w");
    assert_string_equal(info.tensors[0].dtype, "F32");
    assert_int_equal(info.tensors[0].ndim, 2);
    assert_int_equal(info.tensors[0].shape[1], 3);
    assert_string_equal(nb_safetensors_info_meta(&info, "nabla.model"), "mlp:3");
    assert_string_equal(nb_safetensors_info_meta(&info, "nabla.class.0"), "a,\"b\"\n");
    assert_string_equal(nb_safetensors_info_meta(&info, "nabla.format"), "1");
    assert_null(nb_safetensors_info_meta(&info, "nope"));
    nb_safetensors_info_free(&info);
    /* a reserved key is refused and nothing is written */
    const char *dup[] = {"step", "5"};
    ck.meta = dup;
    ck.nmeta = 1;
    char path2[400];
    snprintf(path2, sizeof path2, "%s/n.safetensors", tmpdir);
    assert_int_equal(nb_checkpoint_save(ctx, path2, &ck), NB_ERR_ARG);
    assert_int_not_equal(access(path2, F_OK), 0);
    nb_clear_error(ctx);
    /* truncated file: an error, not a crash */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), 40), 0);
    fclose(f);
    assert_int_not_equal(nb_safetensors_read_info(ctx, path, &info), NB_OK);
    assert_int_equal(info.ntensors, 0);
    nb_ctx_free(ctx);
    rm_rf(tmpdir);
}

int main(int argc, char **argv);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_spec_parse),
    cmocka_unit_test(test_kvlist),
    cmocka_unit_test(test_idx_bytes),
    cmocka_unit_test(test_metrics_svg),
    cmocka_unit_test(test_train_resume_bit_identical),
    cmocka_unit_test(test_train_rng_torch_resume),
    cmocka_unit_test(test_checkpoint_meta),
};
NB_TEST_MAIN(tests)
