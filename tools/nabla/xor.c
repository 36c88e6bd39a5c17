/* xor.c — `nabla xor`: train the textbook 2-H-1 sigmoid network on XOR and
 * print the loss as it falls and the four trained outputs. The network and
 * its training live in xor_net.c; this file is options and printing. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "xor_net.h"

void nbc_xor_usage(FILE *out) {
    fprintf(out,
            "usage: nabla xor [options]\n"
            "\n"
            "Train a 2-H-1 sigmoid network on the four XOR samples with mean squared\n"
            "error and plain full-batch gradient descent (p -= lr * dL/dp).\n"
            "\n"
            "options:\n"
            "  --epochs N   training epochs (default 10000)\n"
            "  --lr F       learning rate (default 0.1)\n"
            "  --hidden N   hidden units (default 2)\n"
            "  --seed S     initialise every weight uniform in [-1, 1) from seed S;\n"
            "               without it, hidden 2 starts from the fixed weights of\n"
            "               the NumPy reference run (xor_numpy.py) and other widths\n"
            "               use seed 1\n"
            "  --every N    print the loss every N epochs (default 1000)\n"
            "  -h, --help   show this help\n");
}

static void print_loss(long long epoch, float loss, void *arg) {
    (void)arg;
    printf("epoch %6lld  loss %.6f\n", epoch, (double)loss);
}

int nbc_xor_main(int argc, char **argv) {
    static const struct option options[] = {
        {"epochs", required_argument, NULL, 'e'}, {"lr", required_argument, NULL, 'l'},
        {"hidden", required_argument, NULL, 'H'}, {"seed", required_argument, NULL, 's'},
        {"every", required_argument, NULL, 'v'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long long epochs = 10000, hidden = 2, seed = 1, every = 1000;
    double lr = 0.1;
    int seeded = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
        int rc = NBC_EXIT_OK;
        switch (c) {
        case 'e': rc = nbc_parse_int("xor", "--epochs", optarg, 1, 1000000000, &epochs); break;
        case 'l':
            rc = nbc_parse_double("xor", "--lr", optarg, -1e6, 1e6, &lr);
            if (rc == NBC_EXIT_OK && lr <= 0.0)
                rc = nbc_usage_error("xor", "--lr: '%s' must be greater than 0", optarg);
            break;
        case 'H': rc = nbc_parse_int("xor", "--hidden", optarg, 1, 4096, &hidden); break;
        case 's':
            rc = nbc_parse_int("xor", "--seed", optarg, 0, INT64_MAX, &seed);
            seeded = 1;
            break;
        case 'v': rc = nbc_parse_int("xor", "--every", optarg, 1, 1000000000, &every); break;
        case 'h': nbc_xor_usage(stdout); return NBC_EXIT_OK;
        default: return nbc_option_error("xor", c, argv);
        }
        if (rc != NBC_EXIT_OK) return rc;
    }
    if (optind < argc) return nbc_usage_error("xor", "unexpected argument '%s'", argv[optind]);

    nb_ctx *ctx = nb_ctx_new();
    if (!ctx) {
        fprintf(stderr, "nabla xor: out of memory\n");
        return NBC_EXIT_FAIL;
    }
    nbc_xor_net net;
    int rc = nbc_xor_build(&net, ctx, (int)hidden);
    if (rc == NB_OK) {
        if (!seeded && hidden == 2)
            nbc_xor_init_fixed(&net);
        else
            nbc_xor_init_uniform(&net, (uint64_t)seed);
        printf("XOR: 2-%lld-1 sigmoid network, MSE, gradient descent, lr %g, %lld epochs, ",
               hidden, lr, epochs);
        if (!seeded && hidden == 2)
            printf("fixed initial weights\n");
        else
            printf("uniform(-1,1) initial weights, seed %lld\n", seed);
        rc = nbc_xor_train(&net, epochs, (float)lr, every, print_loss, NULL);
    }
    if (rc != NB_OK) {
        fprintf(stderr, "nabla xor: %s\n", nb_error_message(ctx));
        nb_ctx_free(ctx);
        return NBC_EXIT_FAIL;
    }
    int right = 0;
    for (int i = 0; i < 4; i++) {
        float x0 = net.x->data[2 * i], x1 = net.x->data[2 * i + 1];
        float t = net.t->data[i], y = net.y->data[i];
        int ok = (y > 0.5f) == (t > 0.5f);
        right += ok;
        printf("x = (%g, %g)  target %g  output %.4f%s\n", (double)x0, (double)x1, (double)t, (double)y,
               ok ? "" : "   (wrong side of 0.5)");
    }
    if (right == 4)
        printf("solved: all four outputs on the right side of 0.5\n");
    else
        printf("not solved: %d of four outputs on the wrong side of 0.5\n", 4 - right);
    nb_ctx_free(ctx);
    return NBC_EXIT_OK;
}
