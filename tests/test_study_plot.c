/* Figures of run folders: cl_study_plot_runs and `collapse plot` (plus
 * their error messages naming the file). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "collapse/study.h"
#include "collapse/train.h"
#include "common.h"
#include "study_common.h"

TestSuite(study_plot, .init = tc_tmp_init, .fini = tc_tmp_fini);

/* ---- figures / collapse plot ---- */

Test(study_plot, plot_runs_and_cli)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    toy_run(&t, tpath("learned"), &o, 3, NULL);
    o.layers = 0;
    toy_run(&t, tpath("fixed"), &o, 2, NULL); /* no layers.csv */
    cr_assert_eq(access(tpath("fixed/layers.csv"), F_OK), -1);

    char learned[256], fixed[256];
    snprintf(learned, sizeof learned, "%s", tpath("learned"));
    snprintf(fixed, sizeof fixed, "%s", tpath("fixed"));
    const char *runs[2] = {learned, fixed};
    cr_assert_eq(mkdir(tpath("both"), 0755), 0);
    cr_assert_eq(cl_study_plot_runs(runs, 2, tpath("both")), CL_OK, "%s", cl_errmsg());
    cr_assert(tc_is_png(tpath("both/nc1.png")));
    cr_assert(tc_is_png(tpath("both/nc2.png")));
    cr_assert(tc_is_png(tpath("both/layers.png")));

    /* missing and garbled metrics.csv: the message names the file */
    cr_assert_eq(mkdir(tpath("empty"), 0755), 0);
    char empty[256];
    snprintf(empty, sizeof empty, "%s", tpath("empty"));
    const char *bad[1] = {empty};
    cr_assert_eq(cl_study_plot_runs(bad, 1, tpath("both")), CL_EIO);
    cr_assert(strstr(cl_errmsg(), "empty/metrics.csv"), "%s", cl_errmsg());
    tc_write_text(tpath("empty/metrics.csv"), "epoch,lr,nc1\n1,0.1,zz\n");
    cr_assert_eq(cl_study_plot_runs(bad, 1, tpath("both")), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "empty/metrics.csv:2"), "%s", cl_errmsg());
    tc_write_text(tpath("empty/metrics.csv"), "epoch,lr,nc1\n1,0.1\n");
    cr_assert_eq(cl_study_plot_runs(bad, 1, tpath("both")), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "metrics.csv:2"), "%s", cl_errmsg());
    tc_write_text(tpath("empty/metrics.csv"),
                  "epoch,lr,nc1\n1,0.1,0.5\n"); /* columns missing */
    cr_assert_eq(cl_study_plot_runs(bad, 1, tpath("both")), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "metrics.csv") && strstr(cl_errmsg(), "'"), "%s",
              cl_errmsg());

    /* the CLI, when the binary is available */
    const char *bin = getenv("COLLAPSE_BIN");
    if (!bin || access(bin, X_OK) != 0) return;
    const char *plot2[] = {"plot", runs[0], runs[1], "--out", tpath("cli"), NULL};
    cr_assert_eq(tc_run(tpath("cli.log"), tpath("cli.log"), plot2), 0);
    cr_assert(tc_is_png(tpath("cli/nc4.png")));
    cr_assert(tc_is_png(tpath("cli/accuracy.png")));
    const char *plot_bad[] = {"plot", empty, NULL};
    int rc = tc_run(tpath("err.log"), tpath("err.log"), plot_bad);
    cr_assert(rc == 1, "rc %d", rc);
    FILE *f = fopen(tpath("err.log"), "r");
    char msg[512] = {0};
    cr_assert(fgets(msg, sizeof msg, f));
    fclose(f);
    cr_assert(strstr(msg, "metrics.csv"), "%s", msg);
    const char *plot0[] = {"plot", NULL};
    rc = tc_run("/dev/null", "/dev/null", plot0);
    cr_assert(rc == 2);
}

/* ---- a failure to draw the figures is a warning: the study goes on ---- */

typedef struct {
    int n;
    char first[512], last[512];
} warn_log;

static void collect_warn(void *user, const char *msg)
{
    warn_log *w = user;
    snprintf(w->n++ ? w->last : w->first, sizeof w->first, "%s", msg);
}

Test(study_plot, figure_failure_is_a_warning)
{
    toy t;
    toy_make(&t);
    /* a folder where nc1.png goes: the figures cannot be written */
    cr_assert_eq(mkdir(tpath("run"), 0755), 0);
    cr_assert_eq(mkdir(tpath("run/nc1.png"), 0755), 0);
    cl_study_opts o = cl_study_opts_default();
    warn_log w = {0};
    o.warn = collect_warn;
    o.warn_user = &w;
    toy_run(&t, tpath("run"), &o, 3, NULL); /* asserts CL_OK from every study step */
    /* epoch 0 fails; epochs 1, 2 do not retry; the last epoch retries and fails */
    cr_assert_eq(w.n, 2, "%d warnings", w.n);
    cr_assert(strstr(w.first, "epoch 0: figures not drawn") && strstr(w.first, "nc1.png") &&
                  strstr(w.first, "next try after the last epoch"),
              "%s", w.first);
    cr_assert(strstr(w.last, "epoch 3: figures not drawn") && !strstr(w.last, "next try"), "%s",
              w.last);
    cr_assert_eq(cl_errmsg()[0], 0, "the message is cleared: %s", cl_errmsg());
    /* every row is written: header + epochs 0..3; layers: 4 taps + fit per epoch */
    cr_assert_eq(tc_count_lines(tpath("run/metrics.csv")), 5);
    cr_assert_eq(tc_count_lines(tpath("run/layers.csv")), 1 + 4 * 4);
    cr_assert(access(tpath("run/features_train.npy"), F_OK) == 0);
}
