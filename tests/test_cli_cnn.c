/* test_cli_cnn.c — the `cnn` model kind of `nabla train`: spec parsing and
 * canonical printing (round trips), bad specs, the input shape taken from the
 * data (and refused for flat samples), the built layers' names, and a tiny
 * training run with batch norm on synthetic IDX images: checkpoint buffers,
 * bit-identical resume, eval-mode evaluation from the loaded file. */
#include "test_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "model_io.h"
#include "spec.h"

static void roundtrip(const char *in, const char *canonical) {
    nbc_model_spec s, s2;
    char err[256], buf[256];
    if (nbc_model_spec_parse(in, &s, err, sizeof err)) fail_msg("'%s' rejected: %s", in, err);
    assert_int_equal(s.kind, NBC_MODEL_CNN);
    nbc_model_spec_format(&s, buf, sizeof buf);
    assert_string_equal(buf, canonical);
    if (nbc_model_spec_parse(buf, &s2, err, sizeof err)) fail_msg("canonical '%s' rejected: %s", buf, err);
    assert_memory_equal(&s, &s2, sizeof s);
}

static void test_cnn_spec_roundtrip(void **state) {
    (void)state;
    nbc_model_spec s;
    char err[256];
    assert_int_equal(nbc_model_spec_parse("cnn", &s, err, sizeof err), 0);
    const nbc_cnn_spec *c = &s.cnn;
    assert_int_equal(c->nlayers, 5);
    assert_int_equal(c->layer[0].op, NBC_CNN_CONV);
    assert_int_equal(c->layer[0].n, 32);
    assert_int_equal(c->layer[0].k, 3);
    assert_int_equal(c->layer[0].p, 1); /* "same" padding for 3x3 */
    assert_int_equal(c->layer[1].op, NBC_CNN_MAXPOOL);
    assert_int_equal(c->layer[1].s, 2); /* stride = kernel */
    assert_int_equal(c->layer[4].op, NBC_CNN_FC);
    assert_int_equal(c->layer[4].n, 128);
    assert_int_equal(c->act, NB_ACT_RELU);
    assert_int_equal(c->shape[0], 0);
    roundtrip("cnn", "cnn:conv32,max2,conv64,max2,fc128,act=relu");
    roundtrip("cnn:conv32k3s1p1d1g1,max2s2p0,conv64,max2,fc128,act=relu",
              "cnn:conv32,max2,conv64,max2,fc128,act=relu");
    roundtrip("cnn:act=tanh,shape=28x28", "cnn:conv32,max2,conv64,max2,fc128,act=tanh,shape=1x28x28");
    roundtrip("cnn:conv16k5s2p1g2,bn,avg3s2p1,drop0.25,gap,fc64,bn,drop0.5,act=gelu,shape=4x32x30",
              "cnn:conv16k5s2p1g2,bn,avg3s2p1,drop0.25,gap,fc64,bn,drop0.5,act=gelu,shape=4x32x30");
    assert_int_equal(nbc_model_spec_parse("cnn:conv8k5d2,max3s1p1,fc10,act=none", &s, err, sizeof err), 0);
    assert_int_equal(s.cnn.layer[0].p, 4); /* d(k-1)/2 */
    assert_int_equal(s.cnn.layer[1].s, 1);
    assert_int_equal(s.cnn.layer[1].p, 1);
    roundtrip("cnn:conv8k5d2,max3s1p1,fc10,act=none", "cnn:conv8k5d2,max3s1p1,fc10,act=none");
    roundtrip("cnn:conv8k5p0,drop0.1,fc10", "cnn:conv8k5p0,drop0.1,fc10,act=relu");
}

static void test_cnn_spec_errors(void **state) {
    (void)state;
    static const char *bad[] = {
        "cnn:",           "cnn:conv",        "cnn:conv0",          "cnn:conv32x",     "cnn:conv32k0",
        "cnn:conv32k3k3", "cnn:conv30g4",    "cnn:conv32s0",       "cnn:max",         "cnn:max2p2",
        "cnn:max2s0",     "cnn:avg2q1",      "cnn:gap2",           "cnn:bn2",         "cnn:drop1",
        "cnn:drop-0.1",   "cnn:drop",        "cnn:fc",             "cnn:fc0",         "cnn:fc10,conv8",
        "cnn:gap,max2",   "cnn:fc8,gap",     "cnn:dense10",        "cnn:act=swish",   "cnn:shape=1x28x",
        "cnn:shape=28",   "cnn:shape=0x4x4", "cnn:shape=1x2x3x4",  "cnn:stride=2",    "cnn:conv8,,fc4",
        "cnn:Conv8",      "cnn:conv8 ",      "cnn:conv99999999999"};
    nbc_model_spec s;
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (nbc_model_spec_parse(bad[i], &s, err, sizeof err) == 0) fail_msg("accepted bad spec '%s'", bad[i]);
        assert_true(strlen(err) > 0);
        assert_null(strchr(err, '\n'));
    }
    /* the message names the offending word */
    assert_int_equal(nbc_model_spec_parse("cnn:conv8,dense10", &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "'dense10'"));
    assert_int_equal(nbc_model_spec_parse("cnn:fc10,conv8", &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "before the linear layers"));
}

static void test_cnn_input_shape(void **state) {
    (void)state;
    nbc_model_spec s;
    char err[256], buf[256];
    const int64_t img[2] = {28, 28}, rgb[3] = {3, 8, 8}, flat[1] = {784};
    assert_int_equal(nbc_model_spec_parse("cnn", &s, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_set_input(&s, 2, img, 784, err, sizeof err), 0);
    nbc_model_spec_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "cnn:conv32,max2,conv64,max2,fc128,act=relu,shape=1x28x28");
    assert_int_equal(nbc_model_spec_parse("cnn:conv8,gap", &s, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_set_input(&s, 3, rgb, 192, err, sizeof err), 0);
    assert_int_equal(s.cnn.shape[0], 3);
    /* flat samples (CSV) need shape= */
    assert_int_equal(nbc_model_spec_parse("cnn", &s, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_set_input(&s, 1, flat, 784, err, sizeof err), -1);
    assert_non_null(strstr(err, "shape="));
    assert_int_equal(nbc_model_spec_parse("cnn:shape=1x28x28", &s, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_set_input(&s, 1, flat, 784, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_parse("cnn:shape=1x20x20", &s, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_set_input(&s, 1, flat, 784, err, sizeof err), -1);
    assert_non_null(strstr(err, "400"));
    /* sizes that go to zero, groups that do not divide the channels */
    const int64_t small[2] = {4, 4};
    assert_int_equal(nbc_model_spec_parse("cnn:max2,max2,max2", &s, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_set_input(&s, 2, small, 16, err, sizeof err), -1);
    assert_non_null(strstr(err, "pool3"));
    assert_int_equal(nbc_model_spec_parse("cnn:conv8k5p0", &s, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_set_input(&s, 2, small, 16, err, sizeof err), -1);
    assert_int_equal(nbc_model_spec_parse("cnn:conv8g2", &s, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_set_input(&s, 3, rgb, 192, err, sizeof err), -1);
    assert_non_null(strstr(err, "groups"));
    /* an mlp does not care */
    assert_int_equal(nbc_model_spec_parse("mlp", &s, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_set_input(&s, 1, flat, 784, err, sizeof err), 0);
}

static void test_cnn_build(void **state) {
    (void)state;
    nbc_model_spec s;
    char err[256];
    const int64_t img[2] = {28, 28};
    nb_ctx *ctx = nb_ctx_new();
    nbc_net net;
    /* the preset: fmnist_cnn.py's layers under the names conv1, conv2, fc1, fc2 */
    assert_int_equal(nbc_model_spec_parse("cnn", &s, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_set_input(&s, 2, img, 784, err, sizeof err), 0);
    assert_int_equal(nbc_net_build(ctx, &s, 784, 10, &net), NB_OK);
    assert_int_equal(nb_model_param_elements(net.model), 421642);
    const char *names[] = {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                           "fc1.weight",   "fc1.bias",   "fc2.weight",   "fc2.bias"};
    assert_int_equal(nb_model_num_params(net.model), 8);
    for (int i = 0; i < 8; i++) assert_string_equal(nb_model_param(net.model, i)->name, names[i]);
    assert_int_equal(nb_model_num_buffers(net.model), 0);
    nb_tensor *x = nb_tensor_2d(ctx, 3, 784);
    uint64_t seed = 5;
    nbt_fill_uniform(x, &seed, 0.0f, 1.0f);
    nb_tensor *y = nbc_net_forward(&net, x);
    NBT_ASSERT_OK(ctx);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 3);
    assert_int_equal(y->shape[1], 10);
    char text[4096] = "";
    FILE *f = fmemopen(text, sizeof text - 1, "w");
    nbc_net_describe(&net, f);
    fclose(f);
    assert_non_null(strstr(text, "conv2    conv2d 32 -> 64, 3x3, stride 1, pad 1"));
    assert_non_null(strstr(text, "[3136]"));
    assert_non_null(strstr(text, "fc2      linear 128 -> 10"));
    nb_ctx_free(ctx);

    /* batch norm: 2-d after a conv, 1-d after a linear layer, buffers named
     * as torch's state_dict; the activation goes after the bn */
    ctx = nb_ctx_new();
    assert_int_equal(nbc_model_spec_parse("cnn:conv4,bn,max2,fc6,bn,drop0.5", &s, err, sizeof err), 0);
    const int64_t sm[2] = {6, 6};
    assert_int_equal(nbc_model_spec_set_input(&s, 2, sm, 36, err, sizeof err), 0);
    assert_int_equal(nbc_net_build(ctx, &s, 36, 3, &net), NB_OK);
    const char *pn[] = {"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "fc1.weight",
                        "fc1.bias",     "bn2.weight", "bn2.bias",   "fc2.weight", "fc2.bias"};
    assert_int_equal(nb_model_num_params(net.model), 10);
    for (int i = 0; i < 10; i++) assert_string_equal(nb_model_param(net.model, i)->name, pn[i]);
    const char *bn[] = {"bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"};
    assert_int_equal(nb_model_num_buffers(net.model), 4);
    for (int i = 0; i < 4; i++) assert_string_equal(nb_model_buffer(net.model, i)->name, bn[i]);
    assert_int_equal(nb_model_find(net.model, "fc1.weight")->shape[1], 4 * 3 * 3);
    text[0] = '\0';
    f = fmemopen(text, sizeof text - 1, "w");
    nbc_net_describe(&net, f);
    fclose(f);
    /* relu moves behind the max-pool that follows it (same values, less work) */
    const char *order[] = {"conv1", "bn1", "pool1", "relu1", "flatten", "fc1", "bn2", "relu2", "drop1", "fc2"};
    const char *at = text;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        char key[32];
        snprintf(key, sizeof key, "\n  %s ", order[i]);
        const char *hit = strstr(at, key);
        if (!hit) fail_msg("describe: '%s' missing or out of order in\n%s", order[i], text);
        at = hit + 1;
    }
    assert_non_null(strstr(text, "batchnorm1d 6"));
    nb_ctx_free(ctx);

    /* GELU is not monotonic: it stays before the pool */
    ctx = nb_ctx_new();
    assert_int_equal(nbc_model_spec_parse("cnn:conv4,max2,act=gelu", &s, err, sizeof err), 0);
    assert_int_equal(nbc_model_spec_set_input(&s, 2, sm, 36, err, sizeof err), 0);
    assert_int_equal(nbc_net_build(ctx, &s, 36, 3, &net), NB_OK);
    text[0] = '\0';
    f = fmemopen(text, sizeof text - 1, "w");
    nbc_net_describe(&net, f);
    fclose(f);
    const char *g1 = strstr(text, "\n  gelu1 "), *p1 = strstr(text, "\n  pool1 ");
    assert_true(g1 && p1 && g1 < p1);
    nb_ctx_free(ctx);

    /* an unset or wrong shape is refused at build time too */
    ctx = nb_ctx_new();
    assert_int_equal(nbc_model_spec_parse("cnn", &s, err, sizeof err), 0);
    assert_int_not_equal(nbc_net_build(ctx, &s, 784, 10, &net), NB_OK);
    assert_int_equal(nbc_model_spec_set_input(&s, 2, img, 784, err, sizeof err), 0);
    assert_int_not_equal(nbc_net_build(ctx, &s, 100, 10, &net), NB_OK);
    nb_ctx_free(ctx);
}

/* ---- a tiny run on synthetic IDX images ------------------------------------------ */

static char tmpdir[256];

static void rm_rf(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void write_idx(const char *path, const int *d, int nd, const unsigned char *data) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned char h[4 + 4 * 3] = {0, 0, 8, (unsigned char)nd};
    size_t count = 1;
    for (int i = 0; i < nd; i++) {
        h[4 + 4 * i] = (unsigned char)(d[i] >> 24), h[5 + 4 * i] = (unsigned char)(d[i] >> 16);
        h[6 + 4 * i] = (unsigned char)(d[i] >> 8), h[7 + 4 * i] = (unsigned char)d[i];
        count *= (size_t)d[i];
    }
    assert_int_equal(fwrite(h, 1, 4 + 4 * (size_t)nd, f), 4 + 4 * (size_t)nd);
    assert_int_equal(fwrite(data, 1, count, f), count);
    fclose(f);
}

/* 6x6 images of 3 classes: class k draws a bright bar (row, column or
 * diagonal) on noise — something a convolution picks up. */
static void write_split(const char *dir, const char *split, int n, uint64_t seed) {
    unsigned char *img = malloc((size_t)n * 36), *lab = malloc((size_t)n);
    assert_non_null(img);
    assert_non_null(lab);
    for (int i = 0; i < n; i++) {
        int k = (int)(nbt_rand_u32(&seed) % 3), at = (int)(nbt_rand_u32(&seed) % 6);
        lab[i] = (unsigned char)k;
        for (int r = 0; r < 6; r++)
            for (int c = 0; c < 6; c++) {
                int on = k == 0 ? r == at : k == 1 ? c == at : r == c;
                img[i * 36 + r * 6 + c] = (unsigned char)(nbt_rand_u32(&seed) % 80 + (on ? 170 : 0));
            }
    }
    char path[512];
    int d3[3] = {n, 6, 6}, d1[1] = {n};
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, split);
    write_idx(path, d3, 3, img);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, split);
    write_idx(path, d1, 1, lab);
    free(img), free(lab);
}

static int train(const char *data, const char *out, const char *epochs, const char *resume) {
    char *argv[32];
    int argc = 0;
    argv[argc++] = "train";
    argv[argc++] = "--epochs";
    argv[argc++] = (char *)epochs;
    if (resume) {
        argv[argc++] = "--resume";
        argv[argc++] = (char *)resume;
    } else {
        argv[argc++] = "--data";
        argv[argc++] = (char *)data;
        static char *rest[] = {"--batch", "16", "--model", "cnn:conv6,bn,max2,fc16,bn,drop0.1", "--lr", "0.01",
                               "--seed", "4", "--threads", "1"};
        for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) argv[argc++] = rest[i];
    }
    argv[argc++] = "--out";
    argv[argc++] = (char *)out;
    argv[argc++] = "--progress";
    argv[argc++] = "never";
    argv[argc] = NULL;
    return nbc_train_main(argc, argv);
}

static nb_ctx *load(const char *path, nbc_model_info *mi, nbc_net *net) {
    nb_ctx *ctx = nb_ctx_new();
    char err[512];
    if (nbc_model_load(ctx, path, mi, net, err, sizeof err)) fail_msg("%s", err);
    return ctx;
}

static void same_tensors(nb_tensor *const *a, nb_tensor *const *b, int n) {
    for (int i = 0; i < n; i++) {
        assert_string_equal(a[i]->name, b[i]->name);
        assert_int_equal(a[i]->size, b[i]->size);
        if (memcmp(a[i]->data, b[i]->data, (size_t)a[i]->size * sizeof(float)))
            fail_msg("%s differs between the straight and the resumed run", a[i]->name);
    }
}

static void test_cnn_train_resume_eval(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nbtest_cnn_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char data[300], a[300], b[300], pa[400], pb[400];
    snprintf(data, sizeof data, "%s/data", tmpdir);
    mkdir(data, 0777);
    write_split(data, "train", 200, 21); /* 200 = 12 x 16 + 8: a partial last batch */
    write_split(data, "t10k", 90, 22);
    snprintf(a, sizeof a, "%s/a", tmpdir);
    snprintf(b, sizeof b, "%s/b", tmpdir);
    assert_int_equal(train(data, a, "3", NULL), 0);
    assert_int_equal(train(data, b, "2", NULL), 0);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    assert_int_equal(train(data, b, "3", pb), 0); /* flags, model and shape from the checkpoint */

    nbc_model_info ma, mb;
    nbc_net na, nb;
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    nb_ctx *ca = load(pa, &ma, &na), *cb = load(pb, &mb, &nb);
    assert_string_equal(ma.spec_str, "cnn:conv6,bn,max2,fc16,bn,drop0.1,act=relu,shape=1x6x6");
    assert_int_equal(ma.epoch, 3);
    assert_int_equal(mb.epoch, 3);
    assert_int_equal(nb_model_num_params(na.model), 10);
    assert_int_equal(nb_model_num_buffers(na.model), 4);
    /* parameters and running statistics: resumed == straight, bit for bit */
    same_tensors(nb_model_params(na.model), nb_model_params(nb.model), nb_model_num_params(na.model));
    same_tensors(nb_model_buffers(na.model), nb_model_buffers(nb.model), nb_model_num_buffers(na.model));
    /* the running statistics were trained and saved (not the initial 0 / 1) */
    nb_tensor *rm = nb_model_find(na.model, "bn1.running_mean"), *rv = nb_model_find(na.model, "bn2.running_var");
    assert_non_null(rm);
    assert_non_null(rv);
    int moved = 0;
    for (int64_t i = 0; i < rm->size; i++) moved += rm->data[i] != 0.0f;
    for (int64_t i = 0; i < rv->size; i++) moved += rv->data[i] != 1.0f;
    assert_int_equal(moved, rm->size + rv->size);

    /* evaluation of the loaded model uses the running statistics: padded
     * last batches and repeated passes give the same answer and leave the
     * buffers alone */
    nbc_data d;
    char err[512];
    assert_int_equal(nbc_data_load_idx_dir(data, "t10k", 3, &d, err, sizeof err), NB_OK);
    float rm0[6];
    memcpy(rm0, rm->data, sizeof rm0);
    nbc_evaluator e1, e2;
    assert_int_equal(nbc_evaluator_init(&e1, &na, 40), NB_OK); /* 90 = 2 x 40 + 10 */
    assert_int_equal(nbc_evaluator_init(&e2, &na, 90), NB_OK);
    double l1, a1, l2, a2;
    assert_int_equal(nbc_evaluate(&e1, &d, &l1, &a1, NULL, NULL, NULL), NB_OK);
    assert_int_equal(nbc_evaluate(&e2, &d, &l2, &a2, NULL, NULL, NULL), NB_OK);
    assert_memory_equal(rm0, rm->data, sizeof rm0);
    assert_true(a1 == a2);
    assert_true(fabs(l1 - l2) < 1e-5);
    assert_true(a1 > 0.8);
    nbc_data_free(&d);
    nbc_model_info_free(&ma);
    nbc_model_info_free(&mb);
    nb_ctx_free(ca);
    nb_ctx_free(cb);

    /* a cnn on flat samples without shape= is a usage error */
    char csv[400];
    snprintf(csv, sizeof csv, "%s/flat.csv", tmpdir);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "a,b,c,d,y\n");
    for (int i = 0; i < 20; i++) fprintf(f, "%d,%d,%d,%d,%d\n", i, i % 3, i % 5, i % 7, i % 2);
    fclose(f);
    char o2[400];
    snprintf(o2, sizeof o2, "%s/c", tmpdir);
    char *argv[] = {"train", "--data", csv, "--model", "cnn", "--out", o2, "--progress", "never", NULL};
    assert_int_equal(nbc_train_main(9, argv), NBC_EXIT_USAGE);
    char *argv2[] = {"train", "--data", csv, "--model", "cnn:conv2,fc4,shape=1x2x2", "--epochs", "1",
                     "--out", o2, "--progress", "never", NULL};
    assert_int_equal(nbc_train_main(11, argv2), NBC_EXIT_OK);
    rm_rf(tmpdir);
}

int main(int argc, char **argv);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_cnn_spec_roundtrip),
    cmocka_unit_test(test_cnn_spec_errors),
    cmocka_unit_test(test_cnn_input_shape),
    cmocka_unit_test(test_cnn_build),
    cmocka_unit_test(test_cnn_train_resume_eval),
};
NB_TEST_MAIN(tests)
