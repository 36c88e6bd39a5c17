/* test_text.c — the character-level corpus of `nabla train --text` from C:
 * "gpt:" specs, the byte vocabulary and its hex form, the training/validation
 * split and context windows against a direct reading of the file (truncated,
 * foreign and unreadable input), and the batched validation loss against a
 * one-window-at-a-time reference. */
#include "test_util.h"

#include <math.h>
#include <unistd.h>

#include "model_io.h"
#include "spec.h"
#include "text.h"

static void test_gpt_spec(void **state) {
    (void)state;
    nbc_model_spec s, s2;
    char err[256], buf[256];
    assert_int_equal(nbc_model_spec_parse("gpt", &s, err, sizeof err), 0);
    assert_int_equal(s.kind, NBC_MODEL_GPT);
    assert_int_equal(s.layers, 4);
    assert_int_equal(s.heads, 4);
    assert_int_equal(s.width, 128);
    assert_int_equal(s.context, 64);
    nbc_model_spec_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "gpt:layers=4,heads=4,width=128,context=64,dropout=0");
    assert_int_equal(nbc_model_spec_parse("gpt:context=8,width=16,heads=2,layers=1,dropout=0.1", &s, err, sizeof err), 0);
    nbc_model_spec_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "gpt:layers=1,heads=2,width=16,context=8,dropout=0.1");
    assert_int_equal(nbc_model_spec_parse(buf, &s2, err, sizeof err), 0);
    assert_memory_equal(&s, &s2, sizeof s);
    static const char *bad[] = {"gpt:4",          "gpt:heads=3",  "gpt:layers=0", "gpt:width=-8", "gpt:context=x",
                                "gpt:dropout=1", "gpt:depth=2", "gpt:heads=5,width=16"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (nbc_model_spec_parse(bad[i], &s, err, sizeof err) == 0) fail_msg("accepted bad spec '%s'", bad[i]);
        assert_true(strlen(err) > 0);
        assert_null(strchr(err, '\n'));
    }
}

static void test_vocab_hex(void **state) {
    (void)state;
    nbc_vocab v, w;
    assert_int_equal(nbc_vocab_from_hex("0a2041ff", &v), 0);
    assert_int_equal(v.n, 4);
    assert_int_equal(v.byte[0], 0x0a);
    assert_int_equal(v.byte[3], 0xff);
    assert_int_equal(v.id[0x41], 2);
    assert_int_equal(v.id[0x42], -1);
    char hex[520];
    nbc_vocab_to_hex(&v, hex);
    assert_string_equal(hex, "0a2041ff");
    assert_int_equal(nbc_vocab_from_hex(hex, &w), 0);
    assert_memory_equal(&v, &w, sizeof v);
    static const char *bad[] = {"", "0a2", "0g", "2020", "410a", "0A"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (nbc_vocab_from_hex(bad[i], &v) == 0) fail_msg("accepted bad vocabulary '%s'", bad[i]);
    char name[16];
    nbc_vocab_name(' ', name, sizeof name);
    assert_string_equal(name, "space");
    nbc_vocab_name('\n', name, sizeof name);
    assert_string_equal(name, "\\n");
    nbc_vocab_name(0xc3, name, sizeof name);
    assert_string_equal(name, "\\xc3");
}

static void write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_corpus_windows(void **state) {
    (void)state;
    char path[] = "/tmp/nabla_text_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    /* 103 bytes, 7 distinct */
    char text[104];
    for (int i = 0; i < 103; i++) text[i] = "dcbaXY\n"[(i * 5 + i / 7) % 7];
    write_file(path, text, 103);
    nbc_corpus c;
    char err[512];
    assert_int_equal(nbc_corpus_load(path, NULL, 0, 0.25, 4, &c, err, sizeof err), 0);
    assert_int_equal(c.n, 103);
    assert_int_equal(c.ntrain, 77); /* floor(0.75 * 103) */
    assert_int_equal(c.vocab.n, 7);
    for (int i = 1; i < c.vocab.n; i++) assert_true(c.vocab.byte[i - 1] < c.vocab.byte[i]);
    for (int i = 0; i < 103; i++) assert_int_equal(c.vocab.byte[c.ids[i]], (uint8_t)text[i]);
    assert_int_equal(nbc_corpus_windows(c.ntrain, 4), 19);      /* (77 - 1) / 4 */
    assert_int_equal(nbc_corpus_windows(c.n - c.ntrain, 4), 6); /* (26 - 1) / 4 */
    assert_int_equal(nbc_corpus_windows(4, 4), 0);
    assert_int_equal(nbc_corpus_windows(5, 4), 1);
    float x[4], y[4];
    for (int w = 0; w < 19; w++) {
        nbc_corpus_window(&c, 0, w, 4, x, y);
        for (int t = 0; t < 4; t++) {
            assert_int_equal(c.vocab.byte[(int)x[t]], (uint8_t)text[w * 4 + t]);
            assert_int_equal(c.vocab.byte[(int)y[t]], (uint8_t)text[w * 4 + t + 1]);
        }
    }
    nbc_corpus_window(&c, c.ntrain, 5, 4, x, y); /* last validation window ends at byte 77+21+3 */
    assert_int_equal(c.vocab.byte[(int)y[3]], (uint8_t)text[77 + 5 * 4 + 4]);
    char hex[520];
    nbc_vocab_to_hex(&c.vocab, hex);
    nbc_corpus_free(&c);

    /* the same vocabulary given back; --limit reads a prefix */
    assert_int_equal(nbc_corpus_load(path, hex, 50, 0.2, 4, &c, err, sizeof err), 0);
    assert_int_equal(c.n, 50);
    assert_int_equal(c.ntrain, 40);
    nbc_corpus_free(&c);
    /* a byte outside the model's vocabulary */
    text[60] = 'Q';
    write_file(path, text, 103);
    err[0] = '\0';
    assert_int_equal(nbc_corpus_load(path, hex, 0, 0.1, 4, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "offset 60"));
    /* too short for a window on each side; truncated file; unreadable */
    write_file(path, text, 9);
    assert_int_equal(nbc_corpus_load(path, NULL, 0, 0.5, 4, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "too few"));
    write_file(path, text, 0);
    assert_int_equal(nbc_corpus_load(path, NULL, 0, 0.1, 4, &c, err, sizeof err), -1);
    assert_int_equal(nbc_corpus_load(path, "zz", 0, 0.1, 4, &c, err, sizeof err), -1);
    unlink(path);
    assert_int_equal(nbc_corpus_load(path, NULL, 0, 0.1, 4, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
}

/* Batched, padded evaluation == each window through its own graph. */
static void test_text_evaluate(void **state) {
    (void)state;
    char path[] = "/tmp/nabla_text_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char text[400];
    for (int i = 0; i < 400; i++) text[i] = (char)('a' + (i * 7 + i / 11) % 9);
    write_file(path, text, sizeof text);
    nbc_corpus c;
    char err[512];
    assert_int_equal(nbc_corpus_load(path, NULL, 0, 0.3, 8, &c, err, sizeof err), 0);
    unlink(path);
    nb_ctx *ctx = nb_ctx_new();
    nbc_model_spec spec;
    assert_int_equal(nbc_model_spec_parse("gpt:layers=1,heads=2,width=16,context=8", &spec, err, sizeof err), 0);
    nbc_net net;
    assert_int_equal(nbc_net_build(ctx, &spec, 8, c.vocab.n, &net), NB_OK);
    nbc_text_evaluator ev, one;
    assert_int_equal(nbc_text_evaluator_init(&ev, &net, 5), NB_OK); /* 14 windows: 5 + 5 + 4 padded */
    assert_int_equal(nbc_text_evaluator_init(&one, &net, 1), NB_OK);
    double loss, acc;
    int64_t len = c.n - c.ntrain, nw = nbc_corpus_windows(len, 8);
    assert_int_equal(nw, 14);
    assert_int_equal(nbc_text_evaluate(&ev, &c, c.ntrain, len, &loss, &acc), NB_OK);
    double ref = 0.0, hits = 0.0;
    const int V = c.vocab.n;
    for (int64_t w = 0; w < nw; w++) {
        float y[8];
        nbc_corpus_window(&c, c.ntrain, w, 8, one.x->data, y);
        assert_int_equal(nb_graph_forward(one.g), NB_OK);
        for (int t = 0; t < 8; t++) {
            const float *z = one.logits->data + t * V;
            double m = -INFINITY, s = 0.0;
            int best = 0;
            for (int j = 0; j < V; j++) {
                if (z[j] > m) m = z[j];
                if (z[j] > z[best]) best = j;
            }
            for (int j = 0; j < V; j++) s += exp(z[j] - m);
            ref += m + log(s) - z[(int)y[t]];
            hits += best == (int)y[t];
        }
    }
    ref /= (double)(nw * 8);
    assert_true(fabs(loss - ref) < 1e-5);
    assert_true(fabs(acc - hits / (double)(nw * 8)) < 1e-12);
    assert_true(loss > 0.5 * log((double)V) && loss < 2.0 * log((double)V)); /* near uniform at init */
    nbc_corpus_free(&c);
    nb_ctx_free(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_gpt_spec),
    cmocka_unit_test(test_vocab_hex),
    cmocka_unit_test(test_corpus_windows),
    cmocka_unit_test(test_text_evaluate),
};
NB_TEST_MAIN(tests)
