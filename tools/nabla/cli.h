/* cli.h — what the parts of the `nabla` command line share: the subcommand
 * table entry, exit codes, and strict option-value parsing that prints one-line
 * errors. The CLI uses nabla's public API only. */
#ifndef NABLA_CLI_H
#define NABLA_CLI_H

#include <stdio.h>

/* Exit codes: a run that went wrong (bad data, library error) is not a usage
 * mistake, so scripts can tell "fix your flags" (2) from "this failed" (1). */
enum { NBC_EXIT_OK = 0, NBC_EXIT_FAIL = 1, NBC_EXIT_USAGE = 2 };

/* One subcommand. run() gets argv with argv[0] = the command's name and
 * returns an exit code; usage() prints the full help to `out`. */
typedef struct nbc_command {
    const char *name;
    const char *summary; /* one line for `nabla --help` */
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *out);
} nbc_command;

/* The subcommands (one file each). */
int nbc_xor_main(int argc, char **argv);
void nbc_xor_usage(FILE *out);
int nbc_train_main(int argc, char **argv);
void nbc_train_usage(FILE *out);
int nbc_eval_main(int argc, char **argv);
void nbc_eval_usage(FILE *out);
int nbc_predict_main(int argc, char **argv);
void nbc_predict_usage(FILE *out);
int nbc_info_main(int argc, char **argv);
void nbc_info_usage(FILE *out);
int nbc_generate_main(int argc, char **argv);
void nbc_generate_usage(FILE *out);

/* Print "nabla CMD: <message>" as one line on stderr; returns NBC_EXIT_USAGE
 * so callers can `return nbc_usage_error(...)`. */
int nbc_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Strict number parsing for option values: the whole string must be a number
 * (no trailing junk, no empty string), finite, and within [lo, hi]. On failure
 * prints one line, e.g. "nabla xor: --lr: 'abc' is not a number", and returns
 * NBC_EXIT_USAGE; on success stores the value and returns NBC_EXIT_OK. */
int nbc_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                  long long *out);
int nbc_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out);

/* The getopt_long error for the option that was just rejected ('?' or ':'
 * returned with opterr = 0), as one line; returns NBC_EXIT_USAGE. */
int nbc_option_error(const char *cmd, int ret, char **argv);

#endif
