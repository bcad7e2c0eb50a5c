/* PLplot figures: a multi-panel PNG with log axes, legends and invalid
 * points is written (real PNG signature, nonzero size, no temp file left),
 * and an unwritable path is an error naming it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collapse/plot.h"
#include "common.h"

TestSuite(plot, .init = tc_tmp_init, .fini = tc_tmp_fini);

Test(plot, figure_is_png)
{
    double x[20], y1[20], y2[20];
    for (int i = 0; i < 20; i++) {
        x[i] = i; /* x = 0 is skipped on the log axis */
        y1[i] = exp(-0.3 * i);
        y2[i] = i == 7 ? NAN : 0.5 * exp(-0.1 * i);
    }
    cl_plot_series s[2] = {{x, y1, 20, "run#1 train", 0, 0, 1, NULL, NULL}, {x, y2, 20, "test", 1, 1, 0, NULL, NULL}};
    cl_plot_panel p[3] = {
        {"NC1", "epoch", "tr(Sw Sb^+)/K", 1, 1, CL_PLOT_LEGEND_TOP_RIGHT, s, 2},
        {"linear", "epoch", "value", 0, 0, CL_PLOT_LEGEND_BOTTOM_LEFT, s, 2},
        {"empty", NULL, NULL, 1, 1, CL_PLOT_LEGEND_NONE, NULL, 0},
    };
    char path[128], tmp[140];
    snprintf(path, sizeof path, "%s/fig.png", tc_tmpdir());
    cr_assert_eq(cl_plot_figure(path, p, 3, 2, 800, 600), CL_OK, "%s", cl_errmsg());
    cr_assert(tc_is_png(path));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cr_assert_neq(access(tmp, F_OK), 0, "temp file left behind");
    /* a second figure in the same process (fresh stream) */
    cr_assert_eq(cl_plot_figure(path, p, 1, 1, 400, 300), CL_OK, "%s", cl_errmsg());
    cr_assert(tc_is_png(path));
}

Test(plot, unwritable_path)
{
    double x[2] = {1, 2}, y[2] = {1, 2};
    cl_plot_series s = {x, y, 2, NULL, 0, 0, 0, NULL, NULL};
    cl_plot_panel p = {"t", "x", "y", 0, 0, CL_PLOT_LEGEND_NONE, &s, 1};
    char path[128];
    snprintf(path, sizeof path, "%s/no/such/dir/fig.png", tc_tmpdir());
    cr_assert_eq(cl_plot_figure(path, &p, 1, 1, 300, 200), CL_EIO);
    cr_assert(strstr(cl_errmsg(), "no/such/dir") != NULL, "%s", cl_errmsg());
    cr_assert_eq(cl_plot_figure(path, &p, 0, 1, 300, 200), CL_EINVAL);
}
