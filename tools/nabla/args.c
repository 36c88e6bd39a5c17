/* args.c — strict parsing of option values and one-line usage errors for the
 * `nabla` subcommands. Every subcommand reports a bad flag the same way: one
 * line "nabla CMD: --flag: 'value' problem" on stderr, exit code 2. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int nbc_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "nabla%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return NBC_EXIT_USAGE;
}

/* strtol/strtod skip leading blanks and accept an empty string as 0; option
 * values must be exactly a number, so reject both up front. */
static int blank_or_padded(const char *s) {
    size_t n = strlen(s);
    return n == 0 || isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]);
}

int nbc_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                  long long *out) {
    if (!s || blank_or_padded(s)) return nbc_usage_error(cmd, "%s: '%s' is not an integer", opt, s ? s : "");
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0') return nbc_usage_error(cmd, "%s: '%s' is not an integer", opt, s);
    if (errno == ERANGE || v < lo || v > hi)
        return nbc_usage_error(cmd, "%s: '%s' is out of range [%lld, %lld]", opt, s, lo, hi);
    *out = v;
    return NBC_EXIT_OK;
}

int nbc_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out) {
    if (!s || blank_or_padded(s)) return nbc_usage_error(cmd, "%s: '%s' is not a number", opt, s ? s : "");
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0') return nbc_usage_error(cmd, "%s: '%s' is not a number", opt, s);
    /* strtod also reads "nan" and "inf"; neither is a usable setting. */
    if (!isfinite(v) || errno == ERANGE)
        return nbc_usage_error(cmd, "%s: '%s' is not a finite number", opt, s);
    if (v < lo || v > hi)
        return nbc_usage_error(cmd, "%s: '%s' is out of range [%g, %g]", opt, s, lo, hi);
    *out = v;
    return NBC_EXIT_OK;
}

int nbc_option_error(const char *cmd, int ret, char **argv) {
    /* getopt_long leaves optind just past the offending word; for an unknown
     * short option optopt holds the letter, for a long one it is 0. */
    const char *word = optind > 0 ? argv[optind - 1] : "?";
    if (ret == ':') return nbc_usage_error(cmd, "%s: missing value", word);
    if (optopt && optopt != '?' && strncmp(word, "--", 2) != 0)
        return nbc_usage_error(cmd, "unknown option '-%c'", optopt);
    return nbc_usage_error(cmd, "unknown option '%s'", word);
}
