/* report.c — progress bar, metrics.csv and the hand-written SVG of the loss
 * and accuracy curves that `nabla train` leaves in its output directory. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

double nbc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- metrics ----------------------------------------------------------------- */

static void row_line(char *buf, size_t len, const nbc_metrics *r) {
    snprintf(buf, len, "%d,%.6f,%.6f,%.6f,%.6f,%.3f\n", r->epoch, r->train_loss, r->train_acc, r->eval_loss,
             r->eval_acc, r->seconds);
}

char *nbc_metrics_format(const nbc_metrics *rows, int n) {
    size_t cap = (size_t)n * 128 + 1, o = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = 0; i < n; i++) {
        row_line(s + o, cap - o, &rows[i]);
        o += strlen(s + o);
    }
    return s;
}

int nbc_metrics_parse(const char *text, nbc_metrics *rows, int max) {
    int n = 0;
    const char *p = text;
    while (*p) {
        nbc_metrics r;
        int used = 0;
        if (sscanf(p, "%d,%lf,%lf,%lf,%lf,%lf%n", &r.epoch, &r.train_loss, &r.train_acc, &r.eval_loss,
                   &r.eval_acc, &r.seconds, &used) != 6)
            return -1;
        p += used;
        if (*p != '\n') return -1;
        p++;
        if (n == max) return -1;
        rows[n++] = r;
    }
    return n;
}

/* Write text to path through a temporary file in the same directory, so a
 * reader (or an interrupted run) never sees half a file. */
static int write_atomic(const char *path, const char *text) {
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return -1;
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(tmp);
        return -1;
    }
    int ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) {
        int e = errno;
        remove(tmp);
        errno = e;
    }
    free(tmp);
    return ok ? 0 : -1;
}

int nbc_write_metrics_csv(const char *path, const nbc_metrics *rows, int n) {
    char *body = nbc_metrics_format(rows, n);
    if (!body) return -1;
    size_t len = strlen(body) + sizeof NBC_METRICS_HEADER + 2;
    char *all = malloc(len);
    if (!all) {
        free(body);
        return -1;
    }
    snprintf(all, len, "%s\n%s", NBC_METRICS_HEADER, body);
    free(body);
    int rc = write_atomic(path, all);
    free(all);
    return rc;
}

/* ---- SVG ---------------------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
#include <stdarg.h>
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* A "nice" step (1, 2 or 5 times a power of ten) giving about `want` ticks. */
static double nice_step(double span, int want) {
    double raw = span / want, p = pow(10.0, floor(log10(raw)));
    double m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void escape(sbuf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '&': sb_printf(b, "&amp;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        default: sb_printf(b, "%c", *s);
        }
    }
}

/* One panel: two series (train, eval) against epoch, at (x0,y0) of size w×h. */
static void panel(sbuf *b, double x0, double y0, double w, double h, const char *ylabel, const nbc_metrics *rows,
                  int n, int acc) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        double v[2] = {acc ? rows[i].train_acc : rows[i].train_loss, acc ? rows[i].eval_acc : rows[i].eval_loss};
        for (int k = 0; k < 2; k++)
            if (isfinite(v[k])) {
                lo = fmin(lo, v[k]);
                hi = fmax(hi, v[k]);
            }
    }
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-6) lo -= 0.05, hi += 0.05;
    double pad = 0.05 * (hi - lo);
    lo -= pad, hi += pad;
    if (acc) lo = fmax(lo, 0.0), hi = fmin(hi, 1.0);
    double ystep = nice_step(hi - lo, 5);
    int e0 = n ? rows[0].epoch : 1, e1 = n ? rows[n - 1].epoch : 1;
    if (e1 <= e0) e0 = e1 - 1; /* one point: give the axis some width */
    double xstep = nice_step((double)(e1 - e0), 8);
    if (xstep < 1) xstep = 1;
#define PX(e) (x0 + ((double)(e) - e0) / (double)(e1 - e0) * w)
#define PY(v) (y0 + h - ((v) - lo) / (hi - lo) * h)
    sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" stroke=\"#444\"/>\n", x0,
              y0, w, h);
    for (double t = ceil(lo / ystep) * ystep; t <= hi + 1e-12; t += ystep) {
        double y = PY(t);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x0, y, x0 + w, y);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" class=\"tick\">%.*f</text>\n", x0 - 6, y + 4,
                  ystep < 0.01 ? 3 : ystep < 0.1 ? 2 : ystep < 1 ? 1 : 0, t);
    }
    for (double t = ceil(e0 / xstep) * xstep; t <= e1 + 1e-9; t += xstep) {
        double x = PX(t);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", x, y0 + h, x,
                  y0 + h + 5);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"tick\">%g</text>\n", x, y0 + h + 19,
                  t);
    }
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"label\">epoch</text>\n", x0 + w / 2,
              y0 + h + 38);
    sb_printf(b,
              "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"label\" "
              "transform=\"rotate(-90 %.1f %.1f)\">%s</text>\n",
              x0 - 48, y0 + h / 2, x0 - 48, y0 + h / 2, ylabel);
    static const char *colour[2] = {"#1f77b4", "#d62728"};
    static const char *name[2] = {"train", "eval"};
    for (int k = 0; k < 2; k++) {
        sb_printf(b, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", name[k],
                  colour[k]);
        for (int i = 0; i < n; i++) {
            double v = k == 0 ? (acc ? rows[i].train_acc : rows[i].train_loss)
                              : (acc ? rows[i].eval_acc : rows[i].eval_loss);
            if (isfinite(v)) sb_printf(b, "%.1f,%.1f ", PX(rows[i].epoch), PY(v));
        }
        sb_printf(b, "\"/>\n");
        for (int i = 0; i < n; i++) {
            double v = k == 0 ? (acc ? rows[i].train_acc : rows[i].train_loss)
                              : (acc ? rows[i].eval_acc : rows[i].eval_loss);
            if (isfinite(v))
                sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(rows[i].epoch), PY(v),
                          colour[k]);
        }
        /* legend inside the panel, away from where the curves usually run:
         * top right for falling losses, bottom right for rising accuracies */
        double lx = x0 + w - 150, ly = acc ? y0 + h - 32 + 18 * k : y0 + 18 + 18 * k;
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                  lx, ly - 4, lx + 24, ly - 4, colour[k]);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">%s %s</text>\n", lx + 30, ly, name[k],
                  acc ? "accuracy" : "loss");
    }
#undef PX
#undef PY
}

char *nbc_curves_svg(const nbc_metrics *rows, int n, const char *title) {
    sbuf b = {malloc(4096), 0, 4096, 0};
    if (!b.s) return NULL;
    const double W = 960, H = 420;
    sb_printf(&b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n"
              "<style>text{font-family:sans-serif;fill:#222}.tick{font-size:12px}.label{font-size:14px}"
              ".title{font-size:16px;font-weight:bold}</style>\n"
              "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
              W, H, W, H);
    sb_printf(&b, "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" class=\"title\">", W / 2);
    escape(&b, title);
    sb_printf(&b, "</text>\n");
    panel(&b, 80, 50, 360, 300, "cross-entropy loss", rows, n, 0);
    panel(&b, 560, 50, 360, 300, "accuracy", rows, n, 1);
    sb_printf(&b, "</svg>\n");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

int nbc_write_curves_svg(const char *path, const nbc_metrics *rows, int n, const char *title) {
    char *s = nbc_curves_svg(rows, n, title);
    if (!s) return -1;
    int rc = write_atomic(path, s);
    free(s);
    return rc;
}

/* ---- progress -------------------------------------------------------------------- */

void nbc_progress_start(nbc_progress *p, FILE *out, int tty, int epoch, int epochs, int64_t batches,
                        int64_t samples_total) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = tty;
    p->epoch = epoch;
    p->epochs = epochs;
    p->batches = batches;
    p->samples_total = samples_total;
    p->t0 = nbc_now();
    p->last_draw = -1.0;
}

void nbc_progress_update(nbc_progress *p, int64_t done, int64_t samples_done, double running_loss) {
    if (!p->tty) return;
    double now = nbc_now();
    if (done < p->batches && p->last_draw >= 0 && now - p->last_draw < 0.1) return;
    p->last_draw = now;
    double el = now - p->t0;
    double rate = el > 0 ? (double)samples_done / el : 0.0;
    double eta = rate > 0 ? (double)(p->samples_total - samples_done) / rate : 0.0;
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int fill = p->batches ? (int)(WIDTH * done / p->batches) : WIDTH;
    for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[WIDTH] = '\0';
    fprintf(p->out, "\repoch %d/%d [%s] %lld/%lld  %.0f samples/s  loss %.4f  ETA %.1fs \033[K", p->epoch,
            p->epochs, bar, (long long)done, (long long)p->batches, rate, running_loss, eta);
    fflush(p->out);
    p->drawn = 1;
}

void nbc_progress_end(nbc_progress *p) {
    if (p->tty && p->drawn) {
        fprintf(p->out, "\r\033[K");
        fflush(p->out);
    }
    p->drawn = 0;
}
