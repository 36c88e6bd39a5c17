/* main.c — the `nabla` command: dispatches to a subcommand from the table
 * below, and answers --help, --version and `help CMD`. Adding a subcommand is
 * one line in `commands` plus its file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "nabla.h"

static const nbc_command commands[] = {
    {"train", "train a classifier (default: an MLP on Fashion-MNIST) or a GPT on text", nbc_train_main, nbc_train_usage},
    {"eval", "loss, accuracy and confusion matrix of a trained model", nbc_eval_main, nbc_eval_usage},
    {"predict", "predicted class and probability per input row (CSV)", nbc_predict_main, nbc_predict_usage},
    {"info", "architecture, tensors and parameter count of a model file", nbc_info_main, nbc_info_usage},
    {"generate", "sample text from a character-level GPT", nbc_generate_main, nbc_generate_usage},
    {"xor", "train the 2-2-1 sigmoid network on XOR", nbc_xor_main, nbc_xor_usage},
};
static const int ncommands = (int)(sizeof commands / sizeof commands[0]);

static const nbc_command *find_command(const char *name) {
    for (int i = 0; i < ncommands; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: nabla COMMAND [options]\n"
            "       nabla help COMMAND | nabla COMMAND --help\n"
            "       nabla --version\n"
            "\n"
            "Train neural networks by backpropagation.\n"
            "\n"
            "commands:\n");
    for (int i = 0; i < ncommands; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

static int unknown_command(const char *name) {
    return nbc_usage_error(NULL, "unknown command '%s'; try 'nabla --help'", name);
}

int main(int argc, char **argv) {
    if (argc < 2) return nbc_usage_error(NULL, "no command given; try 'nabla --help'");
    const char *arg = argv[1];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        usage(stdout);
        return NBC_EXIT_OK;
    }
    if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
        printf("nabla %s\n", NB_VERSION_STRING);
        return NBC_EXIT_OK;
    }
    if (strcmp(arg, "help") == 0) {
        if (argc == 2) {
            usage(stdout);
            return NBC_EXIT_OK;
        }
        if (argc > 3) return nbc_usage_error("help", "unexpected argument '%s'", argv[3]);
        const nbc_command *cmd = find_command(argv[2]);
        if (!cmd) return unknown_command(argv[2]);
        cmd->usage(stdout);
        return NBC_EXIT_OK;
    }
    if (arg[0] == '-') return nbc_usage_error(NULL, "unknown option '%s'; try 'nabla --help'", arg);
    const nbc_command *cmd = find_command(arg);
    if (!cmd) return unknown_command(arg);
    return cmd->run(argc - 1, argv + 1);
}
