/* collapse plot --csv: columns of one or more CSV files against a column,
 * one panel (sweep summaries, UFM runs). The k-th --y takes its columns
 * from the k-th --csv file. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/plot.h"
#include "opts.h"
#include "plot_csv.h"

#define MAX_FILES 16
#define MAX_SERIES 32

typedef struct {
    const char *csv[MAX_FILES], *y[MAX_FILES];
    int ncsv, ny;
    const char *x, *png, *title, *xlabel, *ylabel;
    int logx, logy, absy, scatter;
    double xmin;
    cl_plot_legend legend;
} csv_args;

static const char *const value_flags[] = {"--csv",    "--x",     "--y",
                                          "--png",    "--title", "--xlabel",
                                          "--ylabel", "--xmin",  "--legend"};
static const char *const bool_flags[] = {"--logx", "--logy", "--abs", "--scatter"};
#define NVALUE ((int)(sizeof value_flags / sizeof value_flags[0]))
#define NBOOL ((int)(sizeof bool_flags / sizeof bool_flags[0]))

int cl_cli_plot_csv_flag(const char *arg)
{
    for (int k = 0; k < NVALUE; k++) {
        size_t n = strlen(value_flags[k]);
        if (!strncmp(arg, value_flags[k], n) && (!arg[n] || arg[n] == '=')) return 1;
    }
    for (int k = 0; k < NBOOL; k++)
        if (!strcmp(arg, bool_flags[k])) return 1;
    return 0;
}

static int parse_legend(const char *v, cl_plot_legend *out)
{
    static const char *const names[] = {"top-right", "bottom-right", "top-left",
                                        "bottom-left", "none"};
    for (int k = 0; k < 5; k++)
        if (!strcmp(v, names[k])) {
            *out = (cl_plot_legend)k; /* the order of cl_plot_legend */
            return 1;
        }
    cl_cli_fail(
        2, "--legend: '%s' (top-left, top-right, bottom-left, bottom-right or none)", v);
    return 0;
}

/* One argument (advancing *i past a value): 1 taken, 0 unknown, -1 error. */
static int one_flag(int argc, char **argv, int *i, csv_args *a)
{
    const char *v;
    int r;
    for (int k = 0; k < NBOOL; k++)
        if (cl_opt_flag(argv, *i, bool_flags[k])) {
            *(k == 0 ? &a->logx : k == 1 ? &a->logy : k == 2 ? &a->absy : &a->scatter) = 1;
            return 1;
        }
    const char **one[] = {NULL, &a->x, NULL, &a->png, &a->title, &a->xlabel, &a->ylabel};
    for (int k = 0; k < NVALUE; k++) {
        if ((r = cl_opt_value(argc, argv, i, value_flags[k], &v)) == 0) continue;
        if (r < 0) return -1;
        if (k == 0 || k == 2) { /* --csv, --y: repeatable */
            int *n = k == 0 ? &a->ncsv : &a->ny;
            if (*n == MAX_FILES) {
                cl_cli_fail(2, "%s: at most %d", value_flags[k], MAX_FILES);
                return -1;
            }
            (k == 0 ? a->csv : a->y)[(*n)++] = v;
        } else if (k == 7) {
            if (!cl_opt_double("--xmin", v, -INFINITY, INFINITY, &a->xmin)) return -1;
        } else if (k == 8) {
            if (!parse_legend(v, &a->legend)) return -1;
        } else {
            *one[k] = v;
        }
        return 1;
    }
    return 0;
}

/* A series' column name and legend label from one "COL[:LABEL]" item of
 * a --y list (len characters at p) of file `file` (several: named). */
static int series_names(const char *p, size_t len, const char *file, int several,
                        char *col, char *label)
{
    if (len == 0 || len >= CL_CSV_CELL) return 0;
    memcpy(col, p, len);
    col[len] = 0;
    char *colon = strchr(col, ':');
    if (colon) {
        *colon = 0;
        snprintf(label, 96, "%s", colon + 1);
    } else if (several) { /* "ce: gap_objective" from ce/metrics.csv */
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", file);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        const char *base = strrchr(dir, '/');
        snprintf(label, 96, "%.40s: %.50s", slash ? (base ? base + 1 : dir) : file, col);
    } else {
        snprintf(label, 96, "%s", col);
    }
    return col[0] != 0;
}

typedef struct {
    cl_csv files[MAX_FILES];
    int nread;
    double *buf[MAX_SERIES * 2];
    int nbuf;
    char labels[MAX_SERIES][96];
    cl_plot_series se[MAX_SERIES];
    int ns;
} csv_plot;

/* The series of file f's --y list. Returns 0 or the exit status. */
static int file_series(const csv_args *a, int f, csv_plot *P)
{
    const cl_csv *c = &P->files[f];
    int cx;
    if (cl_csv_need(c, a->x, &cx) != CL_OK)
        return cl_cli_fail(1, "plot --x: %s", cl_errmsg());
    for (const char *p = a->y[f]; *p;) {
        size_t len = strcspn(p, ",");
        char col[CL_CSV_CELL];
        int cy;
        if (P->ns == MAX_SERIES ||
            !series_names(p, len, a->csv[f], a->ncsv > 1, col, P->labels[P->ns]))
            return cl_cli_fail(
                2, "--y: 1 to %d series in all, COL[:LABEL] comma-separated", MAX_SERIES);
        if (cl_csv_need(c, col, &cy) != CL_OK)
            return cl_cli_fail(1, "plot --y: %s", cl_errmsg());
        double *x = P->buf[P->nbuf++] =
            cl_alloc_array((size_t)c->nrows + 1, sizeof(double), "x");
        double *y = P->buf[P->nbuf++] =
            cl_alloc_array((size_t)c->nrows + 1, sizeof(double), "y");
        if (!x || !y) return cl_cli_fail(1, "plot: out of memory");
        int n = 0;
        for (int64_t r = 0; r < c->nrows; r++) {
            double xv = c->num[r * c->ncols + cx], yv = c->num[r * c->ncols + cy];
            if (xv < a->xmin) continue;
            x[n] = xv;
            y[n++] = a->absy ? fabs(yv) : yv;
        }
        int s = P->ns;
        /* one file: styles cycle; several: solid for the first palette round */
        int style = a->ncsv == 1 ? s % 3 : s / CL_PLOT_COLORS;
        P->se[P->ns++] =
            (cl_plot_series){x, y, n, P->labels[s], s, style, a->scatter ? 2 : n < 40, NULL, NULL};
        p += len + (p[len] == ',');
    }
    return 0;
}

static int csv_figure(const csv_args *a)
{
    if (!a->x || !a->ny || !a->png)
        return cl_cli_fail(
            2, "plot --csv: needs --x COL, --y COL[,COL...] and --png OUT.png");
    if (a->ny != a->ncsv)
        return cl_cli_fail(2,
                           "plot --csv: %d --csv files but %d --y lists (the k-th --y "
                           "names columns of the k-th --csv)",
                           a->ncsv, a->ny);
    static csv_plot P;
    memset(&P, 0, sizeof P);
    int rc = 0;
    for (int f = 0; f < a->ncsv && !rc; f++) {
        if (cl_csv_read(a->csv[f], "", &P.files[f]) != CL_OK)
            rc = cl_cli_fail(1, "plot: %s", cl_errmsg());
        else
            P.nread++;
        if (!rc) rc = file_series(a, f, &P);
    }
    cl_plot_panel p = {a->title,  a->xlabel ? a->xlabel : a->x,
                       a->ylabel, a->logx,
                       a->logy,   a->legend,
                       P.se,      P.ns};
    if (!rc && cl_plot_figure(a->png, &p, 1, 1, 900, 650) != CL_OK)
        rc = cl_cli_fail(1, "plot: %s", cl_errmsg());
    else if (!rc)
        printf("%s: %d series of %d file%s against %s\n", a->png, P.ns, a->ncsv,
               a->ncsv > 1 ? "s" : "", a->x);
    for (int i = 0; i < P.nbuf; i++)
        cl_free(P.buf[i]);
    for (int f = 0; f < P.nread; f++)
        cl_csv_free(&P.files[f]);
    return rc;
}

int cl_cli_plot_csv(int argc, char **argv)
{
    csv_args a = {.xmin = -INFINITY, .legend = CL_PLOT_LEGEND_TOP_LEFT};
    for (int i = 1; i < argc; i++) {
        int r = one_flag(argc, argv, &i, &a);
        if (r < 0) return 2;
        if (r == 0)
            return cl_cli_fail(
                2,
                "plot --csv: unexpected '%s' (no run folders or --out with "
                "--csv; see collapse plot --help)",
                argv[i]);
    }
    return csv_figure(&a);
}
