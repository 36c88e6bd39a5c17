/* tests/test_checkpoint.c — safetensors checkpoints: byte layout, resume
 * bit-identical to an uninterrupted run for every optimizer, atomic saves
 * surviving a child killed mid-write, every corruption case rejected with a
 * clear message and the model untouched, a file written the way torch's
 * tooling writes it, and (where numpy exists) an independent Python reader. */
#include "test_util.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a scratch directory per test ------------------------------------------- */
static char tmpdir[256];

static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nabla_ckpt_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}
static void remove_tmpdir(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}
static void tmp_path(char *buf, size_t len, const char *name) {
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}
static void write_file(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}
/* A safetensors file from a header string and raw data; hlen_override >= 0
 * replaces the length field. */
static void write_st(const char *path, const char *json, const void *data, size_t dlen,
                     int64_t hlen_override) {
    size_t jl = strlen(json);
    uint64_t hl = hlen_override >= 0 ? (uint64_t)hlen_override : jl;
    unsigned char *b = malloc(8 + jl + dlen + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hl >> (8 * i));
    memcpy(b + 8, json, jl);
    if (dlen) memcpy(b + 8 + jl, data, dlen);
    write_file(path, b, 8 + jl + dlen);
    free(b);
}

/* ---- a small model: three parameters, one buffer, optimizer, schedule -------- */
typedef struct model {
    nb_ctx *ctx;
    nb_tensor *p[3];
    nb_tensor *buf[1];
    nb_optim *opt;
    nb_schedule *sched;
} model;

static nb_optim_config config_for(int variant) {
    nb_optim_config c;
    switch (variant) {
    case 0: c = nb_optim_defaults(NB_OPTIM_SGD); c.momentum = 0.9; c.nesterov = 1; c.weight_decay = 1e-3; break;
    case 1: c = nb_optim_defaults(NB_OPTIM_ADAM); c.amsgrad = 1; c.weight_decay = 1e-3; break;
    case 2: c = nb_optim_defaults(NB_OPTIM_ADAMW); break;
    case 3: c = nb_optim_defaults(NB_OPTIM_RMSPROP); c.centered = 1; c.momentum = 0.5; break;
    default: c = nb_optim_defaults(NB_OPTIM_ADAGRAD); c.lr_decay = 0.01; c.initial_accumulator_value = 0.1; break;
    }
    return c;
}

static void model_make(model *m, int variant, float init, uint64_t seed) {
    m->ctx = nb_ctx_new();
    nb_ctx *ctx = m->ctx;
    m->p[0] = nb_param_new(ctx, "fc1.weight", 2, (int64_t[]){6, 5});
    m->p[1] = nb_param_new(ctx, "fc1.bias", 1, (int64_t[]){6});
    m->p[2] = nb_param_new(ctx, "fc2.weight", 2, (int64_t[]){2, 6});
    m->buf[0] = nb_tensor_1d(ctx, 6);
    nb_tensor_set_name(m->buf[0], "bn.running_mean");
    NBT_ASSERT_OK(ctx);
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < m->p[k]->size; i++) m->p[k]->data[i] = init * (float)((i % 7) - 3);
    nb_rng_seed(nb_ctx_rng(ctx), seed);
    nb_optim_config c = config_for(variant);
    m->opt = nb_optim_new(m->p, 3, &c);
    if (variant == 1) {
        nb_plateau_config pc = nb_plateau_defaults();
        pc.patience = 1;
        m->sched = nb_schedule_plateau(ctx, c.lr, &pc);
    } else if (variant == 0) {
        m->sched = nb_schedule_cosine(ctx, c.lr, 20, 1e-4);
        nb_schedule_set_warmup(m->sched, 3, 0.1);
    } else {
        m->sched = nb_schedule_steplr(ctx, c.lr, 4, 0.5);
    }
    NBT_ASSERT_OK(ctx);
}

/* Steps with gradients that depend on the parameters and on the context RNG
 * (standing in for dropout), so every piece of state matters. */
static void train(model *m, int steps, int64_t *step) {
    nb_rng *rng = nb_ctx_rng(m->ctx);
    for (int s = 0; s < steps; s++) {
        double loss = 0;
        for (int k = 0; k < 3; k++) {
            nb_tensor *p = m->p[k];
            for (int64_t i = 0; i < p->size; i++) {
                float target = 0.25f * (float)((i * 3 + k) % 5) - 0.5f;
                float d = p->data[i] - target;
                p->grad[i] = 2.0f * d + 0.1f * nb_rng_normal(rng);
                loss += (double)d * d;
            }
        }
        for (int i = 0; i < 6; i++)
            m->buf[0]->data[i] = 0.9f * m->buf[0]->data[i] + 0.1f * m->p[1]->data[i];
        nb_optim_set_lr(m->opt, nb_schedule_get_lr(m->sched));
        assert_int_equal(nb_optim_step(m->opt), NB_OK);
        /* a metric that plateaus so ReduceLROnPlateau acts */
        nb_schedule_step(m->sched, loss > 1.0 ? loss : 1.0);
        (*step)++;
    }
}

static nb_checkpoint ck_of(model *m) {
    nb_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.params = m->p;
    ck.nparams = 3;
    ck.buffers = m->buf;
    ck.nbuffers = 1;
    ck.optim = m->opt;
    ck.schedule = m->sched;
    ck.rng = nb_ctx_rng(m->ctx);
    return ck;
}

static void test_resume_bit_identical(void **state) {
    (void)state;
    make_tmpdir();
    char path[512];
    tmp_path(path, sizeof path, "resume.safetensors");
    for (int variant = 0; variant < 5; variant++) {
        model a, b;
        int64_t step_a = 0, step_b = 0;
        model_make(&a, variant, 0.1f, 42);
        train(&a, 7, &step_a);
        nb_checkpoint ck = ck_of(&a);
        ck.step = step_a;
        assert_int_equal(nb_checkpoint_save(a.ctx, path, &ck), NB_OK);
        train(&a, 9, &step_a);

        model_make(&b, variant, -0.3f, 7); /* different values and RNG: all must be restored */
        nb_checkpoint ckb = ck_of(&b);
        if (nb_checkpoint_load(b.ctx, path, &ckb) != NB_OK)
            fail_msg("variant %d: %s", variant, nb_error_message(b.ctx));
        assert_int_equal(ckb.step, 7);
        step_b = ckb.step;
        assert_int_equal(nb_optim_num_steps(b.opt), 7);
        assert_int_equal(nb_schedule_num_steps(b.sched), 7);
        train(&b, 9, &step_b);
        assert_int_equal(step_a, step_b);
        for (int k = 0; k < 3; k++)
            assert_memory_equal(a.p[k]->data, b.p[k]->data, (size_t)a.p[k]->size * sizeof(float));
        assert_memory_equal(a.buf[0]->data, b.buf[0]->data, 6 * sizeof(float));
        int ns = nb_optim_num_state(a.opt);
        assert_int_equal(ns, nb_optim_num_state(b.opt));
        for (int k = 0; k < ns; k++)
            assert_memory_equal(nb_optim_state(a.opt)[k]->data, nb_optim_state(b.opt)[k]->data,
                                (size_t)nb_optim_state(a.opt)[k]->size * sizeof(float));
        assert_true(nb_optim_get_lr(a.opt) == nb_optim_get_lr(b.opt));
        assert_true(nb_schedule_get_lr(a.sched) == nb_schedule_get_lr(b.sched));
        assert_true(nb_rng_u32(nb_ctx_rng(a.ctx)) == nb_rng_u32(nb_ctx_rng(b.ctx)));
        nb_ctx_free(a.ctx);
        nb_ctx_free(b.ctx);
    }
    remove_tmpdir();
}

/* The bytes follow the published layout. */
static void test_file_layout(void **state) {
    (void)state;
    make_tmpdir();
    char path[512];
    tmp_path(path, sizeof path, "layout.safetensors");
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *t[2] = {nb_param_new(ctx, "w", 2, (int64_t[]){2, 3}),
                       nb_param_new(ctx, "s", 0, NULL)};
    for (int i = 0; i < 6; i++) t[0]->data[i] = (float)i - 2.5f;
    t[1]->data[0] = 7.0f;
    const char *meta[] = {"epoch", "3", "note", "quote\" and \\ backslash"};
    assert_int_equal(nb_safetensors_save(ctx, path, t, 2, meta, 2), NB_OK);
    size_t n;
    unsigned char *b = read_file(path, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    assert_true(hl % 8 == 0);
    assert_int_equal(n, 8 + hl + 7 * 4);
    assert_int_equal(b[8], '{');
    char *hdr = strndup((char *)b + 8, (size_t)hl);
    assert_non_null(strstr(hdr, "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"));
    assert_non_null(strstr(hdr, "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[24,28]}"));
    assert_non_null(strstr(hdr, "\"__metadata__\":{\"epoch\":\"3\""));
    /* little-endian floats: -2.5f = 0xC0200000 */
    const unsigned char *d = b + 8 + hl;
    assert_true(d[0] == 0x00 && d[1] == 0x00 && d[2] == 0x20 && d[3] == 0xC0);
    free(hdr);
    free(b);
    /* roundtrip into fresh tensors, and no temporary files left behind */
    nb_tensor *u[2] = {nb_param_new(ctx, "w", 2, (int64_t[]){2, 3}),
                       nb_param_new(ctx, "s", 0, NULL)};
    assert_int_equal(nb_safetensors_load(ctx, path, u, 2, 0), NB_OK);
    assert_memory_equal(t[0]->data, u[0]->data, 6 * sizeof(float));
    assert_true(u[1]->data[0] == 7.0f);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tmpdir);
    assert_int_not_equal(system(cmd), 0);
    nb_ctx_free(ctx);
    remove_tmpdir();
}

/* ---- corruption: each case fails clearly and leaves the model unchanged ------ */
typedef struct bad_case {
    const char *what;
    const char *json;      /* header; data is 9 floats (36 bytes) unless dlen given */
    int64_t hlen;          /* -1: the header's length */
    int dlen;              /* -1: 36 */
    int code;
    const char *msg1, *msg2;
} bad_case;

static void test_corrupt_files_rejected(void **state) {
    (void)state;
    make_tmpdir();
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *t[2] = {nb_param_new(ctx, "w", 2, (int64_t[]){2, 3}),
                       nb_param_new(ctx, "b", 1, (int64_t[]){3})};
    for (int i = 0; i < 6; i++) t[0]->data[i] = 100.0f + (float)i;
    for (int i = 0; i < 3; i++) t[1]->data[i] = -1.0f - (float)i;
    float before_w[6], before_b[3];
    memcpy(before_w, t[0]->data, sizeof before_w);
    memcpy(before_b, t[1]->data, sizeof before_b);
    const char *W = "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}";
    char good[256];
    snprintf(good, sizeof good, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}", W);
    char j[32][320];
    /* each case formats into its own buffer (initialisers are unsequenced) */
#define J(i, ...) (snprintf(j[i], sizeof j[i], __VA_ARGS__), j[i])
    bad_case cases[] = {
        {"malformed JSON", "{\"w\": {\"dtype\": ", -1, -1, NB_ERR_FORMAT, "malformed JSON", "byte"},
        {"not an object", "[1, 2, 3]", -1, -1, NB_ERR_FORMAT, "not a JSON object", "byte 8"},
        {"header past EOF", good, 1 << 20, -1, NB_ERR_FORMAT, "past the end", "byte 0"},
        {"header huge", good, (int64_t)1 << 40, -1, NB_ERR_FORMAT, "exceeds", "byte 0"},
        {"unknown dtype", J(0, "{%s,\"b\":{\"dtype\":\"X32\",\"shape\":[3],\"data_offsets\":[24,36]}}", W), -1, -1, NB_ERR_FORMAT, "'b'", "unknown dtype"},
        {"wrong dtype", J(1, "{%s,\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]}}", W), -1, -1, NB_ERR_FORMAT, "'b'", "expected F32"},
        {"shape mismatch", J(2, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[1,3],\"data_offsets\":[24,36]}}", W), -1, -1, NB_ERR_SHAPE, "'b'", "expects [3]"},
        {"offsets past end", J(3, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,48]}}", W), -1, -1, NB_ERR_FORMAT, "'b'", "outside"},
        {"offsets reversed", J(4, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[36,24]}}", W), -1, -1, NB_ERR_FORMAT, "'b'", "outside"},
        {"size mismatch", J(5, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,32]}}", W), -1, -1, NB_ERR_FORMAT, "'b'", "need 12"},
        {"overlap", J(6, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[16,28]}}", W), -1, -1, NB_ERR_FORMAT, "overlap", "'w'"},
        {"missing tensor", J(7, "{%s}", W), -1, -1, NB_ERR_FORMAT, "missing tensor 'b'", "bad.safetensors"},
        {"duplicate key", J(8, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]},\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}", W), -1, -1, NB_ERR_FORMAT, "duplicate", "'b'"},
        {"extra tensor", J(9, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]},\"c\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[36,36]}}", W), -1, -1, NB_ERR_FORMAT, "unexpected tensor 'c'", "bad"},
        {"fractional offset", J(10, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24.5,36]}}", W), -1, -1, NB_ERR_FORMAT, "'b'", "data_offsets"},
        {"negative dim", J(11, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[-3],\"data_offsets\":[24,36]}}", W), -1, -1, NB_ERR_FORMAT, "'b'", "shape[0]"},
        {"missing field", J(12, "{%s,\"b\":{\"dtype\":\"F32\",\"data_offsets\":[24,36]}}", W), -1, -1, NB_ERR_FORMAT, "'b'", "shape"},
        {"metadata not string", J(13, "{\"__metadata__\":{\"k\":3},%s,\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}", W), -1, -1, NB_ERR_FORMAT, "metadata", "\"k\""},
        {"trailing garbage", J(14, "%s xyz", good), -1, -1, NB_ERR_FORMAT, "after the JSON", "byte"},
        {"data truncated", good, -1, 30, NB_ERR_FORMAT, "'b'", "outside"},
    };
#undef J
    float data[9];
    for (int i = 0; i < 9; i++) data[i] = (float)i * 0.5f;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const bad_case *bc = &cases[c];
        write_st(path, bc->json, data, (size_t)(bc->dlen >= 0 ? bc->dlen : 36), bc->hlen);
        int rc = nb_safetensors_load(ctx, path, t, 2, 0);
        const char *m = nb_error_message(ctx);
        if (rc != bc->code || !strstr(m, bc->msg1) || !strstr(m, bc->msg2))
            fail_msg("%s: rc %d (want %d), message '%s' (want '%s', '%s')", bc->what, rc,
                     bc->code, m, bc->msg1, bc->msg2);
        assert_memory_equal(before_w, t[0]->data, sizeof before_w);
        assert_memory_equal(before_b, t[1]->data, sizeof before_b);
        nb_clear_error(ctx);
    }
    /* the good file loads; an extra tensor is fine when allowed */
    write_st(path, good, data, 36, -1);
    assert_int_equal(nb_safetensors_load(ctx, path, t, 2, 0), NB_OK);
    assert_true(t[1]->data[2] == 4.0f);
    /* truncations of a valid saved file at every interesting length */
    tmp_path(path, sizeof path, "trunc.safetensors");
    assert_int_equal(nb_safetensors_save(ctx, path, t, 2, NULL, 0), NB_OK);
    size_t n;
    unsigned char *full = read_file(path, &n);
    memcpy(before_w, t[0]->data, sizeof before_w);
    for (size_t cut = 0; cut < n; cut += (cut < 16 ? 1 : 7)) {
        write_file(path, full, cut);
        for (int i = 0; i < 6; i++) t[0]->data[i] = -9.0f;
        memcpy(before_w, t[0]->data, sizeof before_w);
        int rc = nb_safetensors_load(ctx, path, t, 2, 0);
        if (rc == NB_OK) fail_msg("truncated at %zu of %zu bytes loaded", cut, n);
        assert_non_null(strstr(nb_error_message(ctx), "trunc.safetensors"));
        assert_memory_equal(before_w, t[0]->data, sizeof before_w);
        nb_clear_error(ctx);
    }
    free(full);
    /* a file that does not exist */
    assert_int_equal(nb_safetensors_load(ctx, "/nonexistent/x.safetensors", t, 2, 0), NB_ERR_IO);
    nb_ctx_free(ctx);
    remove_tmpdir();
}

/* Checkpoint-level checks: metadata and optimizer mismatches leave everything unchanged. */
static void test_checkpoint_mismatch_unchanged(void **state) {
    (void)state;
    make_tmpdir();
    char path[512];
    tmp_path(path, sizeof path, "ck.safetensors");
    model a, b;
    int64_t step = 0;
    model_make(&a, 1, 0.1f, 1);
    train(&a, 3, &step);
    nb_checkpoint ck = ck_of(&a);
    ck.step = step;
    assert_int_equal(nb_checkpoint_save(a.ctx, path, &ck), NB_OK);

    /* a different optimizer kind: refused, nothing changed */
    model_make(&b, 2, 0.5f, 9);
    float before[30];
    memcpy(before, b.p[0]->data, sizeof before);
    nb_rng rng_before = *nb_ctx_rng(b.ctx);
    nb_checkpoint ckb = ck_of(&b);
    ckb.schedule = NULL;
    assert_int_not_equal(nb_checkpoint_load(b.ctx, path, &ckb), NB_OK);
    if (!strstr(nb_error_message(b.ctx), "optimizer") && !strstr(nb_error_message(b.ctx), "optim."))
        fail_msg("message: %s", nb_error_message(b.ctx));
    assert_memory_equal(before, b.p[0]->data, sizeof before);
    assert_memory_equal(&rng_before, nb_ctx_rng(b.ctx), sizeof rng_before);
    assert_int_equal(nb_optim_num_steps(b.opt), 0);
    nb_clear_error(b.ctx);

    /* weights only (no optimizer): extra optimizer tensors refused unless allowed */
    nb_checkpoint w;
    memset(&w, 0, sizeof w);
    w.params = b.p;
    w.nparams = 3;
    assert_int_equal(nb_checkpoint_load(b.ctx, path, &w), NB_ERR_FORMAT);
    assert_non_null(strstr(nb_error_message(b.ctx), "unexpected tensor"));
    assert_memory_equal(before, b.p[0]->data, sizeof before);
    nb_clear_error(b.ctx);
    w.allow_extra = 1;
    assert_int_equal(nb_checkpoint_load(b.ctx, path, &w), NB_OK);
    assert_memory_equal(a.p[0]->data, b.p[0]->data, sizeof before);
    assert_int_equal(w.step, 3);

    /* a plain safetensors file without nabla's metadata is not a checkpoint */
    tmp_path(path, sizeof path, "plain.safetensors");
    assert_int_equal(nb_safetensors_save(a.ctx, path, a.p, 3, NULL, 0), NB_OK);
    memcpy(before, b.p[0]->data, sizeof before);
    assert_int_equal(nb_checkpoint_load(b.ctx, path, &w), NB_ERR_FORMAT);
    assert_non_null(strstr(nb_error_message(b.ctx), "nabla.format"));
    nb_clear_error(b.ctx);

    /* a corrupted metadata value */
    const char *meta[] = {"nabla.format", "1", "step", "12x"};
    assert_int_equal(nb_safetensors_save(a.ctx, path, a.p, 3, meta, 2), NB_OK);
    assert_int_equal(nb_checkpoint_load(b.ctx, path, &w), NB_ERR_FORMAT);
    assert_non_null(strstr(nb_error_message(b.ctx), "\"step\""));
    assert_memory_equal(before, b.p[0]->data, sizeof before);
    nb_ctx_free(a.ctx);
    nb_ctx_free(b.ctx);
    remove_tmpdir();
}

/* ---- atomic saves ---------------------------------------------------------------- */
#define BIG (1 << 21) /* 8 MiB of floats */

static nb_tensor *big_tensor(nb_ctx *ctx, float v) {
    int64_t n = BIG;
    nb_tensor *t = nb_param_new(ctx, "big", 1, &n);
    nb_tensor_fill(t, v);
    return t;
}

/* The old checkpoint holds 1.0 everywhere; after the child's interrupted
 * save of 2.0 it must load and hold exactly 1.0 (or, if the rename had
 * happened, exactly 2.0 — never a mixture). Returns the value found. */
static float load_big(const char *path) {
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *t = big_tensor(ctx, 0.0f);
    if (nb_safetensors_load(ctx, path, &t, 1, 0) != NB_OK)
        fail_msg("old checkpoint does not load: %s", nb_error_message(ctx));
    float v = t->data[0];
    for (int64_t i = 0; i < t->size; i++)
        if (t->data[i] != v) fail_msg("mixed checkpoint contents at %lld", (long long)i);
    nb_ctx_free(ctx);
    return v;
}

static void save_old(const char *path) {
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *t = big_tensor(ctx, 1.0f);
    assert_int_equal(nb_safetensors_save(ctx, path, &t, 1, NULL, 0), NB_OK);
    nb_ctx_free(ctx);
}

/* The kernel kills the child in the middle of its write: with the file size
 * limit below the checkpoint size, the write that crosses it raises SIGXFSZ. */
static void test_atomic_save_killed_mid_write(void **state) {
    (void)state;
    make_tmpdir();
    char path[512];
    tmp_path(path, sizeof path, "model.safetensors");
    save_old(path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit core = {0, 0}, fsize = {1 << 20, 1 << 20};
        setrlimit(RLIMIT_CORE, &core);
        signal(SIGXFSZ, SIG_DFL);
        nb_ctx *ctx = nb_ctx_new();
        nb_tensor *t = big_tensor(ctx, 2.0f);
        setrlimit(RLIMIT_FSIZE, &fsize);
        nb_safetensors_save(ctx, path, &t, 1, NULL, 0);
        _exit(0); /* not reached: killed mid-write */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGXFSZ);
    assert_true(load_big(path) == 1.0f);
    remove_tmpdir();
}

/* The parent SIGKILLs the child as soon as its temporary file has data. */
static void test_atomic_save_sigkill(void **state) {
    (void)state;
    make_tmpdir();
    char path[512];
    tmp_path(path, sizeof path, "model.safetensors");
    save_old(path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        nb_ctx *ctx = nb_ctx_new();
        nb_tensor *t = big_tensor(ctx, 2.0f);
        for (;;) nb_safetensors_save(ctx, path, &t, 1, NULL, 0);
    }
    /* wait for "<path>.tmp.XXXXXX" to appear with some bytes in it */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "find '%s' -name 'model.safetensors.tmp.*' -size +0 | grep -q .",
             tmpdir);
    int seen = 0;
    for (int i = 0; i < 20000 && !seen; i++) {
        seen = system(cmd) == 0;
        if (!seen) usleep(500);
    }
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(seen);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    float v = load_big(path);
    assert_true(v == 1.0f || v == 2.0f);
    remove_tmpdir();
}

/* ---- interoperability -------------------------------------------------------------- */

/* tests/data/golden/torch_small.safetensors was written by the generator with
 * PyTorch's tensors in the reference layout (and an extra I64 tensor). */
static void test_load_torch_file(void **state) {
    (void)state;
    const char *dir = getenv("NABLA_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/torch_small.safetensors", dir ? dir : "tests/data");
    nb_ctx *ctx = nb_ctx_new();
    nb_tensor *t[2] = {nb_param_new(ctx, "linear.weight", 2, (int64_t[]){3, 4}),
                       nb_param_new(ctx, "linear.bias", 1, (int64_t[]){3})};
    /* the I64 tensor is not ours: refused strictly, skipped with allow_extra */
    assert_int_equal(nb_safetensors_load(ctx, path, t, 2, 0), NB_ERR_FORMAT);
    assert_non_null(strstr(nb_error_message(ctx), "num_batches_tracked"));
    nb_clear_error(ctx);
    if (nb_safetensors_load(ctx, path, t, 2, 1) != NB_OK) fail_msg("%s", nb_error_message(ctx));
    for (int i = 0; i < 12; i++) assert_true(t[0]->data[i] == 0.25f * (float)i - 1.5f);
    for (int i = 0; i < 3; i++) assert_true(t[1]->data[i] == 1.0f / (float)(i + 1));
    nb_ctx_free(ctx);
}

/* An independent reader (Python + numpy, tests/check_safetensors.py) parses
 * a nabla checkpoint and checks it against the published format. */
static void test_python_reader(void **state) {
    (void)state;
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        skip();
        return;
    }
    make_tmpdir();
    char path[512];
    tmp_path(path, sizeof path, "py.safetensors");
    model a;
    int64_t step = 0;
    model_make(&a, 3, 0.2f, 3);
    train(&a, 2, &step);
    nb_checkpoint ck = ck_of(&a);
    ck.step = step;
    assert_int_equal(nb_checkpoint_save(a.ctx, path, &ck), NB_OK);
    /* the reader prints name, first value and sum of every tensor; compare one */
    const char *dir = getenv("NABLA_TEST_DATA");
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/../check_safetensors.py' '%s' > '%s/out.txt'",
             dir ? dir : "tests/data", path, tmpdir);
    assert_int_equal(system(cmd), 0);
    char out[600];
    tmp_path(out, sizeof out, "out.txt");
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        char name[256];
        double first;
        if (sscanf(line, "%255s %lf", name, &first) == 2 && !strcmp(name, "fc1.bias")) {
            found = 1;
            assert_true((float)first == a.p[1]->data[0]);
        }
    }
    fclose(f);
    assert_true(found);
    nb_ctx_free(a.ctx);
    remove_tmpdir();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_layout),
        cmocka_unit_test(test_resume_bit_identical),
        cmocka_unit_test(test_corrupt_files_rejected),
        cmocka_unit_test(test_checkpoint_mismatch_unchanged),
        cmocka_unit_test(test_atomic_save_killed_mid_write),
        cmocka_unit_test(test_atomic_save_sigkill),
        cmocka_unit_test(test_load_torch_file),
        cmocka_unit_test(test_python_reader),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
