/* report.h — what `nabla train` shows and writes besides the model: the
 * per-epoch progress bar (TTY) or log line, metrics.csv and curves.svg. */
#ifndef NABLA_CLI_REPORT_H
#define NABLA_CLI_REPORT_H

#include <stdint.h>
#include <stdio.h>

/* One row of metrics.csv. */
typedef struct nbc_metrics {
    int epoch;
    double train_loss, train_acc, eval_loss, eval_acc, seconds;
} nbc_metrics;

#define NBC_METRICS_HEADER "epoch,train_loss,train_accuracy,eval_loss,eval_accuracy,seconds"

/* Rows as CSV lines without the header ("1,0.51,0.82,0.43,0.85,1.20\n"...),
 * into a malloc'ed string (checkpoint metadata), and back. Parse returns the
 * row count or -1 on malformed text. */
char *nbc_metrics_format(const nbc_metrics *rows, int n);
int nbc_metrics_parse(const char *text, nbc_metrics *rows, int max);

/* Writes path atomically (temp file + rename): metrics.csv, curves.svg.
 * Return 0 or -1 with errno set. */
int nbc_write_metrics_csv(const char *path, const nbc_metrics *rows, int n);
int nbc_write_curves_svg(const char *path, const nbc_metrics *rows, int n, const char *title);
/* The SVG as a malloc'ed string (tests check its structure). */
char *nbc_curves_svg(const nbc_metrics *rows, int n, const char *title);

/* Progress of one epoch. On a terminal, a bar redrawn in place with '\r' at
 * most 10 times a second; otherwise nothing until the epoch's log line. */
typedef struct nbc_progress {
    FILE *out;
    int tty;
    int epoch, epochs;
    int64_t batches, samples_total;
    double t0, last_draw;
    int drawn;
} nbc_progress;

double nbc_now(void); /* monotonic seconds */
void nbc_progress_start(nbc_progress *p, FILE *out, int tty, int epoch, int epochs, int64_t batches,
                        int64_t samples_total);
void nbc_progress_update(nbc_progress *p, int64_t batches_done, int64_t samples_done, double running_loss);
/* Erases the bar (the epoch's log line is printed in its place). */
void nbc_progress_end(nbc_progress *p);

#endif
