/* Line plots into PNG files with PLplot (cairo driver, device "pngcairo").
 *
 * A figure is a grid of panels; a panel is a set of line series with a
 * title, axis labels, optional log10 axes and a legend. Points that cannot
 * be drawn (non-finite, or <= 0 on a log axis) are skipped and break the
 * line there. The PNG is written under a temporary name (PATH.tmp),
 * checked to be a whole PNG (PLplot does not report write errors), fsync'ed
 * and renamed (atomic.h), so a figure is never seen half-written.
 *
 * PLplot keeps global state and is not thread-safe: draw figures from one
 * thread at a time. Each figure uses its own PLplot stream (plmkstrm ..
 * plend1), so stream 0 is left alone. */
#ifndef COLLAPSE_PLOT_H
#define COLLAPSE_PLOT_H

#include <stdint.h>

#include "collapse/error.h"

#define CL_PLOT_COLORS 10 /* palette size (tab10); color indices wrap */

typedef struct {
    const double *x, *y; /* [n] */
    int n;
    const char *label;   /* NULL = not in the legend */
    int color;           /* palette index (mod CL_PLOT_COLORS) */
    int style;           /* 0 solid, 1 dashed, 2 dotted */
    int points;          /* 1: also mark every point; 2: points only (a scatter) */
    const double *lo, *hi; /* [n] or NULL: a band from lo to hi, shaded in the
                              series' colour behind the lines (mean +- std) */
} cl_plot_series;

typedef enum {
    CL_PLOT_LEGEND_TOP_RIGHT,
    CL_PLOT_LEGEND_BOTTOM_RIGHT,
    CL_PLOT_LEGEND_TOP_LEFT,
    CL_PLOT_LEGEND_BOTTOM_LEFT,
    CL_PLOT_LEGEND_NONE
} cl_plot_legend;

typedef struct {
    const char *title, *xlabel, *ylabel; /* may be NULL */
    int logx, logy;                      /* 1: log10 axis */
    cl_plot_legend legend;
    const cl_plot_series *series;
    int nseries;
} cl_plot_panel;

/* Draws npanels panels in a grid of `cols` columns into a width x height
 * pixel PNG at path. Errors: CL_EINVAL (sizes), CL_EIO (cannot write path,
 * an incomplete PNG, or rename; the message names it; PATH.tmp is removed
 * and PATH keeps its old content), CL_ENOMEM. */
cl_status cl_plot_figure(const char *path, const cl_plot_panel *panels, int npanels, int cols,
                         int width, int height);

/* A scatter of features H [N, dim] (dim 2 or 3), one palette colour per
 * class y [N] in [0, K), square axes with equal scales; with W [K, dim]
 * (NULL = none) each class's classifier direction w_k/|w_k| is drawn as a
 * ray from the origin, as long as the farthest point, labelled k. dim 3 is
 * shown projected onto the top two principal axes of the centred features
 * (an orthogonal projection of the uncentred points, so rays still start at
 * the origin). At most 20000 points are drawn (every k-th sample). Written
 * as cl_plot_figure does. Errors: CL_EINVAL (dim not 2 or 3: the message
 * says so; labels out of range; sizes), CL_EIO, CL_ENOMEM. */
cl_status cl_plot_features(const char *path, const char *title, const float *H, int64_t N,
                           int dim, const int32_t *y, int K, const float *W, int width,
                           int height);

#endif
