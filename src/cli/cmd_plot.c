/* collapse plot: redraws the figures of one or more results folders from
 * their metrics.csv / layers.csv, overlaying the runs, and, when a run's
 * saved features (features_train.npy) have dim 2 or 3, their scatter with
 * the classifier directions (features.png). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/npy.h"
#include "collapse/plot.h"
#include "collapse/study.h"
#include "opts.h"
#include "plot_csv.h"

#define MAX_RUNS 10

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: collapse plot RUN [RUN...] [--out DIR] [--bands]\n"
        "\n"
        "Draws nc1.png, nc2.png, nc3.png, nc4.png, accuracy.png and layers.png from the\n"
        "metrics.csv (required) and layers.csv (optional) of each results folder RUN,\n"
        "one line per run labelled with the folder's name (up to %d runs).\n"
        "Regression runs (--task regression) get nrc.png (NRC1-3 train/test, NRC1 per\n"
        "layer) and r2.png (mean R^2, test R^2 per target) instead.\n"
        "When a run saved its features (features_train.npy, labels_train.npy, W.npy)\n"
        "and they have dim 2 or 3, also draws features.png (features_NAME.png for\n"
        "several runs): the training features, one colour per class, and each class's\n"
        "classifier direction w_k/|w_k| as a ray from the origin; dim 3 is projected\n"
        "onto the features' top two principal axes.\n"
        "\n"
        "usage: collapse plot --csv FILE --y COL[:LABEL][,...] [--csv FILE --y ...]\n"
        "                     --x COL --png OUT.png [--logx] [--logy] [--abs] [--xmin "
        "X]\n"
        "                     [--title T] [--xlabel L] [--ylabel L] [--legend POS]\n"
        "                     [--scatter]\n"
        "Draws columns of CSV files (a sweep's summary, runs' metrics.csv) against\n"
        "column COL of the same file, one panel. The k-th --y names columns of the\n"
        "k-th --csv; LABEL is the legend entry (default: the column, prefixed by the\n"
        "file's folder when there are several files). --abs plots |y|, --xmin drops\n"
        "rows with x < X, --legend top-left (default), top-right, bottom-left,\n"
        "bottom-right or none, --scatter marks the points without joining them.\n"
        "Up to 16 files and 32 series.\n"
        "  --out DIR   where the PNGs go (created if missing; default: RUN itself for\n"
        "              one run, ./plots for several)\n"
        "  --bands     seeds as bands: runs whose folder names differ only in a seed\n"
        "              suffix (_s<N>, -s<N>, _seed<N>, -seed<N>, seed<N>) form a group\n"
        "              (up to 10 groups, %d runs): one line per group, the mean over\n"
        "              its runs, and a shaded band mean +- the sample std (n - 1), at\n"
        "              the epochs every run of the group analyzed (on a log axis a\n"
        "              lower edge <= 0 is drawn at mean/10); no layers.png or\n"
        "              feature scatter\n",
        MAX_RUNS, CL_STUDY_BAND_RUNS);
}

/* The last path component of run (without trailing slashes) into buf. */
static void base_name(const char *run, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", run);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = 0;
    const char *b = strrchr(buf, '/');
    if (b && b[1]) memmove(buf, b + 1, strlen(b + 1) + 1);
}

/* The scatter of one run's saved features into out/features[_NAME].png.
 * Returns 0 when drawn or when there is nothing to draw (a note says why),
 * 1 after printing an error. */
static int feature_scatter(const char *run, const char *out, int several)
{
    char fp[4200], yp[4200], wp[4200], png[4400], name[256];
    snprintf(fp, sizeof fp, "%s/features_train.npy", run);
    snprintf(yp, sizeof yp, "%s/labels_train.npy", run);
    snprintf(wp, sizeof wp, "%s/W.npy", run);
    if (access(fp, F_OK) != 0 || access(yp, F_OK) != 0) return 0; /* not saved: no note */
    base_name(run, name, sizeof name);
    if (several)
        snprintf(png, sizeof png, "%s/features_%s.png", out, name);
    else
        snprintf(png, sizeof png, "%s/features.png", out);
    float *H = NULL, *W = NULL;
    int32_t *y = NULL;
    int nd = 0, ny = 0, nw = 0, rc = 0;
    int64_t sh[8], shy[8], shw[8];
    if (cl_npy_read_f32(fp, &H, &nd, sh) != CL_OK ||
        cl_npy_read_i32(yp, &y, &ny, shy) != CL_OK) {
        rc = cl_cli_fail(1, "plot: %s", cl_errmsg());
        goto done;
    }
    if (nd != 2 || ny != 1 || shy[0] != sh[0]) {
        rc = cl_cli_fail(1, "plot: %s [%d dims] and %s do not match", fp, nd, yp);
        goto done;
    }
    if (sh[1] != 2 && sh[1] != 3) {
        printf("no feature scatter for %s: its features have dim %lld; a scatter needs "
               "dim 2 "
               "or 3 (train with --feature-dim 2 or 3)\n",
               run, (long long)sh[1]);
        goto done;
    }
    int K = 0;
    for (int64_t i = 0; i < sh[0]; i++)
        if (y[i] + 1 > K) K = y[i] + 1;
    if (access(wp, F_OK) == 0) {
        if (cl_npy_read_f32(wp, &W, &nw, shw) != CL_OK) {
            rc = cl_cli_fail(1, "plot: %s", cl_errmsg());
            goto done;
        }
        if (nw != 2 || shw[1] != sh[1] || shw[0] < K) {
            rc = cl_cli_fail(1, "plot: %s does not match the features (want [K, %lld])",
                             wp, (long long)sh[1]);
            goto done;
        }
        K = (int)shw[0];
    }
    char title[300];
    snprintf(title, sizeof title, "%s: training features (dim %lld%s)", name,
             (long long)sh[1], sh[1] == 3 ? ", top-2 principal axes" : "");
    if (cl_plot_features(png, title, H, sh[0], (int)sh[1], y, K, W, 900, 900) != CL_OK)
        rc = cl_cli_fail(1, "plot: %s", cl_errmsg());
    else
        printf("feature scatter of %s written to %s\n", run, png);
done:
    cl_free(H);
    cl_free(y);
    cl_free(W);
    return rc;
}

int cl_cmd_plot(int argc, char **argv)
{
    const char *runs[CL_STUDY_BAND_RUNS];
    const char *out = NULL, *v;
    int nruns = 0, bands = 0;
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--csv", 5) && (!argv[i][5] || argv[i][5] == '='))
            return cl_cli_plot_csv(argc, argv);
    for (int i = 1; i < argc; i++) {
        int m;
        if (cl_opt_flag(argv, i, "--help") || cl_opt_flag(argv, i, "-h")) {
            usage(stdout);
            return 0;
        }
        if (cl_cli_plot_csv_flag(argv[i]))
            return cl_cli_fail(2, "plot: %s goes with --csv FILE (see --help)", argv[i]);
        if (cl_opt_flag(argv, i, "--bands")) {
            bands = 1;
        } else if ((m = cl_opt_value(argc, argv, &i, "--out", &v)) != 0) {
            if (m < 0) return 2;
            out = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            usage(stderr);
            return cl_cli_fail(2, "plot: unknown flag '%s'", argv[i]);
        } else {
            if (nruns == CL_STUDY_BAND_RUNS)
                return cl_cli_fail(2, "plot: at most %d runs", CL_STUDY_BAND_RUNS);
            runs[nruns++] = argv[i];
        }
    }
    if (!bands && nruns > MAX_RUNS)
        return cl_cli_fail(2, "plot: at most %d runs (%d with --bands)", MAX_RUNS,
                           CL_STUDY_BAND_RUNS);
    if (!nruns) {
        usage(stderr);
        return cl_cli_fail(2, "plot: no run folder given");
    }
    if (!out) out = nruns == 1 ? runs[0] : "plots";
    if (!cl_opt_mkdir_p("--out", out)) return 1;
    if (bands) {
        int ng = 0;
        if (cl_study_plot_bands(runs, nruns, out, &ng) != CL_OK)
            return cl_cli_fail(1, "plot: %s", cl_errmsg());
        printf("figures of %d run%s in %d group%s (mean +- std bands) written to %s/\n", nruns,
               nruns > 1 ? "s" : "", ng, ng > 1 ? "s" : "", out);
        return 0;
    }
    cl_status st = cl_study_plot_runs(runs, nruns, out);
    if (st != CL_OK) return cl_cli_fail(1, "plot: %s", cl_errmsg());
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/metrics.csv", runs[0]);
    cl_csv head;
    int read = cl_csv_read(probe, "", &head) == CL_OK;
    int reg = read && cl_csv_col(&head, "nrc1_train") >= 0;
    if (read) cl_csv_free(&head);
    printf("figures of %d run%s written to %s/ (%s.png)\n", nruns, nruns > 1 ? "s" : "",
           out, reg ? "nrc, r2" : "nc1, nc2, nc3, nc4, accuracy, layers");
    for (int r = 0; r < nruns; r++)
        if (feature_scatter(runs[r], out, nruns > 1)) return 1;
    return 0;
}
