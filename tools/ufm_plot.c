/* ufm_plot: line plots of columns of CSV files (io/plot.h), for the UFM
 * reproductions (tools/ufm_reproduce.sh). Built by `make ufm-results`.
 *
 *   ufm_plot --out FIG.png --x COL [--title T] [--xlabel X] [--ylabel Y]
 *            [--logx] [--logy] [--abs] [--xmin X] CSV:YCOL[:LABEL] ...
 *
 * One series per CSV:YCOL argument (any number of files and columns, up to
 * 32); --abs plots |y| (gaps that may be tiny, on a log axis); --xmin
 * drops the rows with x < X (to zoom past a transient). Series 11-20 are
 * dashed, 21-32 dotted (the palette has 10 colours). Exit 1 with
 * one line naming the file or column on bad input, 2 on usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/plot.h"

#define MAXS 32

static int fail(int code, const char *msg, const char *arg)
{
    fprintf(stderr, "ufm_plot: %s%s\n", msg, arg ? arg : "");
    return code;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *xcol = NULL, *title = NULL, *xl = NULL, *yl = NULL;
    const char *spec[MAXS];
    int ns = 0, logx = 0, logy = 0, absy = 0;
    double xmin = -INFINITY;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--out") && more) out = argv[++i];
        else if (!strcmp(a, "--x") && more) xcol = argv[++i];
        else if (!strcmp(a, "--title") && more) title = argv[++i];
        else if (!strcmp(a, "--xlabel") && more) xl = argv[++i];
        else if (!strcmp(a, "--ylabel") && more) yl = argv[++i];
        else if (!strcmp(a, "--logx")) logx = 1;
        else if (!strcmp(a, "--logy")) logy = 1;
        else if (!strcmp(a, "--abs")) absy = 1;
        else if (!strcmp(a, "--xmin") && more) xmin = atof(argv[++i]);
        else if (a[0] == '-') return fail(2, "unknown flag or missing value: ", a);
        else if (ns == MAXS) return fail(2, "too many series", NULL);
        else spec[ns++] = a;
    }
    if (!out || !xcol || !ns) return fail(2, "usage: --out PNG --x COL CSV:YCOL[:LABEL]...", NULL);
    static cl_csv csv[MAXS];
    static cl_plot_series ser[MAXS];
    static double *ys[MAXS];
    static char buf[MAXS][1024];
    int rc = 0, nread = 0;
    for (int s = 0; s < ns; s++) {
        snprintf(buf[s], sizeof buf[s], "%s", spec[s]);
        char *ycol = strchr(buf[s], ':'), *label;
        if (!ycol) {
            rc = fail(2, "want CSV:YCOL[:LABEL], got ", spec[s]);
            goto done;
        }
        *ycol++ = 0;
        label = strchr(ycol, ':');
        if (label) *label++ = 0;
        int cx, cy;
        if (cl_csv_read(buf[s], "", &csv[s]) != CL_OK) {
            rc = fail(1, cl_errmsg(), NULL);
            goto done;
        }
        nread++;
        if (cl_csv_need(&csv[s], xcol, &cx) != CL_OK || cl_csv_need(&csv[s], ycol, &cy) != CL_OK) {
            rc = fail(1, cl_errmsg(), NULL);
            goto done;
        }
        int64_t n = csv[s].nrows;
        double *x = cl_alloc_array((size_t)n + 1, sizeof(double), "x");
        ys[s] = cl_alloc_array((size_t)n + 1, sizeof(double), "y");
        if (!x || !ys[s]) {
            cl_free(x);
            rc = fail(1, "out of memory", NULL);
            goto done;
        }
        int64_t k = 0;
        for (int64_t r = 0; r < n; r++) {
            double xv = csv[s].num[r * csv[s].ncols + cx];
            double y = csv[s].num[r * csv[s].ncols + cy];
            if (xv < xmin) continue;
            x[k] = xv;
            ys[s][k++] = absy ? fabs(y) : y;
        }
        n = k;
        ser[s] = (cl_plot_series){.x = x, .y = ys[s], .n = (int)n,
                                  .label = label ? label : ycol, .color = s,
                                  .style = s / CL_PLOT_COLORS,
                                  .points = n < 40};
    }
    cl_plot_panel p = {.title = title, .xlabel = xl ? xl : xcol, .ylabel = yl, .logx = logx,
                       .logy = logy, .legend = CL_PLOT_LEGEND_TOP_RIGHT, .series = ser,
                       .nseries = ns};
    if (cl_plot_figure(out, &p, 1, 1, 900, 600) != CL_OK) rc = fail(1, cl_errmsg(), NULL);
done:
    for (int s = 0; s < ns; s++) {
        cl_free((void *)ser[s].x);
        cl_free(ys[s]);
    }
    for (int s = 0; s < nread; s++)
        cl_csv_free(&csv[s]);
    return rc;
}
