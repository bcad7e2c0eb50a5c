/* The figure set of one or more runs, drawn from their CSV files:
 *   nc1.png       NC1 = tr(Sw Sb^+)/K against epoch (train solid, test dashed), log-log
 *   nc2.png       four panels: equinorm, equiangularity, max-angle, distance
 *                 to the simplex ETF; class means M solid, classifier W dashed;
 *                 log-log
 *   nc3.png       NC3 (||W/||W|| - M/||M|| ||^2) and Zhu's NC3, log-log
 *   nc4.png       NC4 (mismatch of classifier and nearest class centre),
 *                 train solid, test dashed, log-log
 *   accuracy.png  train/test accuracy against epoch (log x)
 *   onc.png       ordinal runs only (every run has the onc columns): onc1,
 *                 onc2, onc3_tau, onc3_mid (onc.h), train solid, test dashed
 *   mlab.png      multi-label runs only (every run has the mlab columns):
 *                 mlab_angle, mlab_scale_mean, mlab_scale_cv (mlab.h) and
 *                 the macro-F1, train solid, test dashed
 *   layers.png    ln D against the tap index, one panel per run, up to 8 of
 *                 the analyzed epochs (spread over the run, first and last
 *                 included), the He & Su fit line dashed
 * Regression runs (metrics.csv of the regression study: nrc1_train, ...)
 * get their own set instead:
 *   nrc.png       NRC1, NRC2, NRC3 (nrc.h), train solid, test dashed, log-log,
 *                 and NRC1 of every tapped layer (train; colour per layer,
 *                 style per run)
 *   r2.png        mean R^2 over targets (train solid, test dashed) and the
 *                 test R^2 of every target (colour per target, style per
 *                 run), log x
 * One color per run, labelled with the run folder's base name. Epoch 0 and
 * values <= 0 cannot sit on a log axis and are left out there. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/plot.h"
#include "collapse/study.h"
#include "study_internal.h"

#define MAX_RUNS 10
#define MAX_EPOCH_LINES 8
#define FIG_W 1000
#define FIG_H 700
/* run_data.buf holds columns of nrows each: x, one y per panel column (4 panels x 2
 * columns), then the two band edges (lo, hi) of each y. */
#define BUF_BANDS (1 + 4 * 2)
#define BUF_COLS (BUF_BANDS + 2 * 4 * 2)

typedef struct {
    char label[64];
    cl_csv metrics;
    cl_csv layers; /* nrows = 0 if absent */
    cl_csv sd;     /* --bands: metrics is the group's mean, sd its std (else nrows = 0) */
    double *buf;   /* scratch for BUF_COLS columns of [nrows] */
} run_data;

static void base_name(char *dst, size_t cap, const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = 0;
    const char *s = strrchr(tmp, '/');
    snprintf(dst, cap, "%s", s && s[1] ? s + 1 : tmp);
}

/* Column `name` of c into a fresh slice of the run's scratch (x = epoch). */
static cl_status column(const cl_csv *c, const char *name, double *dst)
{
    int col;
    CL_TRY(cl_csv_need(c, name, &col));
    for (int64_t r = 0; r < c->nrows; r++) dst[r] = c->num[r * c->ncols + col];
    return CL_OK;
}

/* A panel over runs: for each run, one series per (column, style); or,
 * when cols[0] is a family (a printf pattern such as "test_r2_%d", with
 * suffix[0] the legend pattern " target %d"), one series per column j = 0,
 * 1, ... that the run has, colour j, style = run (mod 3). */
typedef struct {
    const char *title, *ylabel;
    int logx, logy;
    const char *cols[2];   /* [0] solid, [1] dashed (NULL = none) */
    const char *suffix[2]; /* legend suffix */
    cl_plot_legend legend;
} panel_spec;

static int is_family(const panel_spec *ps) { return ps->cols[0] && strchr(ps->cols[0], '%'); }

#define MAX_PANEL_SERIES 64

/* The series of one family panel of run r into se[*ns..] (ys allocated into
 * ys[*ny..], freed by the caller). */
static cl_status family_series(const panel_spec *ps, const run_data *rd, int r,
                               const double *x, cl_plot_series *se, char (*labels)[96],
                               int *ns, double **ys, int *ny)
{
    const cl_csv *c = &rd->metrics;
    for (int j = 0; j < MAX_PANEL_SERIES && *ns < MAX_PANEL_SERIES; j++) {
        char name[64], suffix[48];
        snprintf(name, sizeof name, ps->cols[0], j);
        int col = cl_csv_col(c, name);
        if (col < 0) break;
        double *y = ys[(*ny)++] = cl_alloc_array((size_t)c->nrows + 1, sizeof(double), "plot");
        if (!y) return CL_ENOMEM;
        for (int64_t i = 0; i < c->nrows; i++) y[i] = c->num[i * c->ncols + col];
        snprintf(suffix, sizeof suffix, ps->suffix[0], j);
        snprintf(labels[*ns], sizeof labels[*ns], "%s%s", rd->label, suffix);
        se[*ns] = (cl_plot_series){x, y, (int)c->nrows, labels[*ns], j, r % 3, 0, NULL, NULL};
        (*ns)++;
    }
    return CL_OK;
}

/* The band mean +- std of column name into lo, hi ([2 * nrows]) and se.
 * On a log axis a lower edge at or below 0 is drawn at mean / 10. */
static cl_status band(const run_data *rd, const char *name, const double *mean, int logy,
                      double *lo, cl_plot_series *se)
{
    int64_t n = rd->sd.nrows;
    double *hi = lo + n;
    CL_TRY(column(&rd->sd, name, lo));
    for (int64_t i = 0; i < n; i++) {
        double s = lo[i];
        hi[i] = mean[i] + s;
        lo[i] = mean[i] - s;
        if (logy && lo[i] <= 0) lo[i] = mean[i] / 10;
    }
    se->lo = lo;
    se->hi = hi;
    return CL_OK;
}

static cl_status draw(const char *path, run_data *runs, int nruns, const panel_spec *ps, int np,
                      int cols)
{
    cl_plot_panel panels[4];
    cl_plot_series series[4][MAX_PANEL_SERIES];
    char labels[4][MAX_PANEL_SERIES][96];
    double *ys[4 * MAX_PANEL_SERIES] = {0};
    int ny = 0;
    cl_status st = CL_OK;
    for (int p = 0; p < np && st == CL_OK; p++) {
        int ns = 0;
        for (int r = 0; r < nruns && st == CL_OK; r++) {
            const cl_csv *c = &runs[r].metrics;
            double *x = runs[r].buf;
            if ((st = column(c, "epoch", x)) != CL_OK) break;
            if (is_family(&ps[p])) {
                st = family_series(&ps[p], &runs[r], r, x, series[p], labels[p], &ns, ys, &ny);
                continue;
            }
            for (int k = 0; k < 2 && st == CL_OK; k++) {
                if (!ps[p].cols[k]) continue;
                double *y = runs[r].buf + (int64_t)(1 + 2 * p + k) * (c->nrows ? c->nrows : 1);
                if ((st = column(c, ps[p].cols[k], y)) != CL_OK) break;
                snprintf(labels[p][ns], sizeof labels[p][ns], "%s%s", runs[r].label,
                         ps[p].suffix[k]);
                series[p][ns] = (cl_plot_series){x, y, (int)c->nrows, labels[p][ns], r, k, 0, NULL, NULL};
                if (runs[r].sd.nrows)
                    st = band(&runs[r], ps[p].cols[k], y, ps[p].logy,
                              runs[r].buf + (int64_t)(BUF_BANDS + 2 * (2 * p + k)) * c->nrows,
                              &series[p][ns]);
                ns++;
            }
        }
        panels[p] = (cl_plot_panel){ps[p].title, "epoch", ps[p].ylabel, ps[p].logx, ps[p].logy,
                                    ps[p].legend, series[p], ns};
    }
    int rows = (np + cols - 1) / cols;
    if (st == CL_OK)
        st = cl_plot_figure(path, panels, np, cols, FIG_W, rows > 1 ? FIG_H * 3 / 2 : FIG_H);
    for (int i = 0; i < ny; i++) cl_free(ys[i]);
    return st;
}

/* layers.png: one panel per run. */
static cl_status draw_layers(const char *path, run_data *runs, int nruns)
{
    cl_plot_panel panels[MAX_RUNS];
    cl_plot_series series[MAX_RUNS][2 * MAX_EPOCH_LINES];
    char labels[MAX_RUNS][MAX_EPOCH_LINES][48];
    char titles[MAX_RUNS][96];
    double *bufs[MAX_RUNS] = {0};
    int np = 0;
    cl_status st = CL_OK;
    for (int r = 0; r < nruns; r++) {
        const cl_csv *c = &runs[r].layers;
        if (!c->nrows) continue;
        int ce, cl, cd, crho, cint;
        if ((st = cl_csv_need(c, "epoch", &ce)) != CL_OK ||
            (st = cl_csv_need(c, "layer", &cl)) != CL_OK ||
            (st = cl_csv_need(c, "D", &cd)) != CL_OK ||
            (st = cl_csv_need(c, "rho", &crho)) != CL_OK ||
            (st = cl_csv_need(c, "intercept", &cint)) != CL_OK)
            goto done;
        /* the fit rows, in order, give the analyzed epochs */
        int64_t nfit = 0, fits[4096];
        for (int64_t i = 0; i < c->nrows && nfit < 4096; i++)
            if (!strcmp(c->txt[i * c->ncols + cl], "fit")) fits[nfit++] = i;
        int nsel = nfit < MAX_EPOCH_LINES ? (int)nfit : MAX_EPOCH_LINES;
        bufs[np] = cl_alloc_array((size_t)c->nrows * 4 + 4, sizeof(double), "layer plot");
        if (!bufs[np]) {
            st = CL_ENOMEM;
            goto done;
        }
        double *b = bufs[np];
        int ns = 0;
        for (int k = 0; k < nsel; k++) {
            int64_t fi = fits[nsel == 1 ? nfit - 1 : (int64_t)k * (nfit - 1) / (nsel - 1)];
            double epoch = c->num[fi * c->ncols + ce];
            /* this epoch's layer rows sit right before its fit row */
            int64_t first = fi;
            while (first > 0 && c->num[(first - 1) * c->ncols + ce] == epoch &&
                   strcmp(c->txt[(first - 1) * c->ncols + cl], "fit"))
                first--;
            int L = (int)(fi - first);
            double *x = b, *y = b + L, *fx = b + 2 * L, *fy = b + 2 * L + 2;
            b += 2 * L + 4;
            for (int l = 0; l < L; l++) {
                x[l] = c->num[(first + l) * c->ncols + cl];
                y[l] = log(c->num[(first + l) * c->ncols + cd]);
            }
            double rho = c->num[fi * c->ncols + crho], ic = c->num[fi * c->ncols + cint];
            fx[0] = 0;
            fx[1] = L > 0 ? L - 1 : 0;
            fy[0] = ic;
            fy[1] = ic + log(rho) * fx[1];
            snprintf(labels[np][k], sizeof labels[np][k], "epoch %g (rho %.3g)", epoch, rho);
            series[np][ns++] = (cl_plot_series){x, y, L, labels[np][k], k, 0, 1, NULL, NULL};
            series[np][ns++] = (cl_plot_series){fx, fy, 2, NULL, k, 1, 0, NULL, NULL};
        }
        snprintf(titles[np], sizeof titles[np], "%.60s: ln D per layer (dashed: fit)",
                 runs[r].label);
        panels[np] = (cl_plot_panel){titles[np], "layer (tap index)", "ln D", 0, 0,
                                     CL_PLOT_LEGEND_BOTTOM_LEFT, series[np], ns};
        np++;
    }
    if (np) {
        int cols = np > 1 ? 2 : 1, rows = (np + cols - 1) / cols;
        st = cl_plot_figure(path, panels, np, cols, FIG_W, FIG_H * rows * 2 / 3 + FIG_H / 3);
    }
done:
    for (int i = 0; i < MAX_RUNS; i++) cl_free(bufs[i]);
    return st;
}

static cl_status load_run(const char *dir, run_data *r)
{
    char p[4200];
    base_name(r->label, sizeof r->label, dir);
    snprintf(p, sizeof p, "%s/metrics.csv", dir);
    CL_TRY(cl_csv_read(p, "", &r->metrics));
    if (r->metrics.nrows < 1)
        return cl_error(CL_EFORMAT, "%s: no rows (no epoch analyzed yet)", p);
    int col;
    CL_TRY(cl_csv_need(&r->metrics, "epoch", &col));
    snprintf(p, sizeof p, "%s/layers.csv", dir);
    FILE *f = fopen(p, "rb");
    if (f) { /* optional (--no-layers runs have none) */
        fclose(f);
        CL_TRY(cl_csv_read(p, "layer,name", &r->layers));
    }
    r->buf = cl_alloc_array((size_t)r->metrics.nrows * BUF_COLS, sizeof(double), "plot columns");
    return r->buf ? CL_OK : CL_ENOMEM;
}

/* nrc.png and r2.png of regression runs. */
static cl_status plot_reg(run_data *rd, int nruns, const char *out_dir)
{
    static const panel_spec nrc[] = {
        {"NRC1: features off their top-n principal subspace", "NRC1", 1, 1,
         {"nrc1_train", "nrc1_test"}, {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_LEFT},
        {"NRC2: features off the row space of W", "NRC2", 1, 1, {"nrc2_train", "nrc2_test"},
         {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_LEFT},
        {"NRC3: W W^T against Sigma^1/2 - sqrt(gamma) I", "NRC3", 1, 1,
         {"nrc3_train", "nrc3_test"}, {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_LEFT},
        {"NRC1 per tapped layer (train)", "NRC1", 1, 1, {"nrc1_train_L%d", NULL}, {" L%d", NULL},
         CL_PLOT_LEGEND_BOTTOM_LEFT}};
    static const panel_spec r2[] = {
        {"R^2, mean over targets", "R^2", 1, 0, {"train_r2", "test_r2"}, {" train", " test"},
         CL_PLOT_LEGEND_BOTTOM_RIGHT},
        {"test R^2 per target", "R^2", 1, 0, {"test_r2_%d", NULL}, {" target %d", NULL},
         CL_PLOT_LEGEND_BOTTOM_RIGHT}};
    char p[4200];
    snprintf(p, sizeof p, "%s/nrc.png", out_dir);
    CL_TRY(draw(p, rd, nruns, nrc, 4, 2));
    snprintf(p, sizeof p, "%s/r2.png", out_dir);
    return draw(p, rd, nruns, r2, 2, 2);
}

/* Every figure of the runs (or groups) rd into out_dir; layers.png only
 * with layers = 1. */
static cl_status plot_set(run_data *rd, int nruns, const char *out_dir, int layers)
{
    cl_status st = CL_OK;
    int nreg = 0;
    for (int r = 0; r < nruns; r++) nreg += cl_csv_col(&rd[r].metrics, "nrc1_train") >= 0;
    if (nreg)
        return nreg == nruns ? plot_reg(rd, nruns, out_dir)
                             : cl_error(CL_EINVAL, "%d of the %d runs are regression "
                                                   "runs; their figures differ from the "
                                                   "classification runs' (plot them apart)",
                                        nreg, nruns);

    static const panel_spec nc1[] = {{"NC1: within-class variability", "tr(Sw Sb^+)/K", 1, 1,
                                      {"nc1", "test_nc1"}, {" train", " test"},
                                      CL_PLOT_LEGEND_BOTTOM_LEFT}};
    static const panel_spec nc2[] = {
        {"NC2: equinorm (CV of norms)", "std/mean of norms", 1, 1,
         {"equinorm_M", "equinorm_W"}, {" M", " W"}, CL_PLOT_LEGEND_BOTTOM_LEFT},
        {"NC2: equiangularity", "std of cosines", 1, 1, {"equiangular_M", "equiangular_W"},
         {" M", " W"}, CL_PLOT_LEGEND_BOTTOM_LEFT},
        {"NC2: max-angle", "mean |cos + 1/(K-1)|", 1, 1, {"maxangle_M", "maxangle_W"},
         {" M", " W"}, CL_PLOT_LEGEND_BOTTOM_LEFT},
        {"NC2: distance to simplex ETF", "||G/||G|| - ETF||", 1, 1, {"etf_M", "etf_W"},
         {" M", " W"}, CL_PLOT_LEGEND_BOTTOM_LEFT}};
    static const panel_spec nc3[] = {
        {"NC3: self-duality", "||W/||W|| - M/||M|| ||^2", 1, 1, {"nc3", "test_nc3"},
         {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_LEFT},
        {"NC3 (Zhu et al.)", "Zhu NC3", 1, 1, {"nc3_zhu", "test_nc3_zhu"},
         {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_LEFT}};
    static const panel_spec nc4[] = {{"NC4: classifier vs nearest class centre",
                                      "mismatch fraction", 1, 1, {"nc4", "test_nc4"},
                                      {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_LEFT}};
    static const panel_spec acc[] = {{"Accuracy", "accuracy", 1, 0, {"train_acc", "test_acc"},
                                      {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_RIGHT}};
    char p[4200];
#define FIG(name, spec, cols)                                                         \
    do {                                                                              \
        snprintf(p, sizeof p, "%s/%s", out_dir, name);                                \
        if ((st = draw(p, rd, nruns, spec, (int)(sizeof spec / sizeof spec[0]), cols)) \
            != CL_OK)                                                                 \
            return st;                                                                \
    } while (0)
    FIG("nc1.png", nc1, 1);
    FIG("nc2.png", nc2, 2);
    FIG("nc3.png", nc3, 2);
    FIG("nc4.png", nc4, 1);
    FIG("accuracy.png", acc, 1);
    static const panel_spec onc[] = {
        {"ONC1: within-class variability", "tr(Sw)/tr(Sb)", 1, 1, {"onc1", "test_onc1"},
         {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_LEFT},
        {"ONC2: scatter of the class means along w", "fraction", 1, 0, {"onc2", "test_onc2"},
         {" train", " test"}, CL_PLOT_LEGEND_TOP_RIGHT},
        {"ONC3: order of z_q = w.mu_q (Kendall tau)", "tau", 1, 0,
         {"onc3_tau", "test_onc3_tau"}, {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_RIGHT},
        {"ONC3: |z_q - midpoint| / gap, interior q", "mean distance", 1, 1,
         {"onc3_mid", "test_onc3_mid"}, {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_LEFT}};
    int all_onc = 1, col;
    for (int r = 0; r < nruns; r++) all_onc &= cl_csv_need(&rd[r].metrics, "onc2", &col) == CL_OK;
    cl_errclear();
    if (all_onc) FIG("onc.png", onc, 2);
    static const panel_spec mlab[] = {
        {"Multi-label: angle(mu_ij, mu_i + mu_j), centred", "degrees", 1, 0,
         {"mlab_angle", "test_mlab_angle"}, {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_LEFT},
        {"Multi-label: ||mu_ij|| / ||(mu_i + mu_j)/2||", "mean over pairs", 1, 0,
         {"mlab_scale_mean", "test_mlab_scale_mean"}, {" train", " test"},
         CL_PLOT_LEGEND_BOTTOM_LEFT},
        {"Multi-label: CV of the scale over pairs", "std/mean", 1, 0,
         {"mlab_scale_cv", "test_mlab_scale_cv"}, {" train", " test"},
         CL_PLOT_LEGEND_BOTTOM_LEFT},
        {"Multi-label: macro-F1 (top-m rule)", "F1", 1, 0, {"train_f1", "test_f1"},
         {" train", " test"}, CL_PLOT_LEGEND_BOTTOM_RIGHT}};
    int all_mlab = 1;
    for (int r = 0; r < nruns; r++)
        all_mlab &= cl_csv_need(&rd[r].metrics, "mlab_angle", &col) == CL_OK;
    cl_errclear();
    if (all_mlab) FIG("mlab.png", mlab, 2);
#undef FIG
    if (!layers) return CL_OK;
    snprintf(p, sizeof p, "%s/layers.png", out_dir);
    return draw_layers(p, rd, nruns);
}

static void free_runs(run_data *rd, int n)
{
    for (int r = 0; r < n; r++) {
        cl_csv_free(&rd[r].metrics);
        cl_csv_free(&rd[r].layers);
        cl_csv_free(&rd[r].sd);
        cl_free(rd[r].buf);
    }
}

cl_status cl_study_plot_runs(const char *const *runs, int nruns, const char *out_dir)
{
    if (nruns < 1 || nruns > MAX_RUNS)
        return cl_error(CL_EINVAL, "plot: 1 to %d runs, not %d", MAX_RUNS, nruns);
    run_data rd[MAX_RUNS];
    memset(rd, 0, sizeof rd);
    cl_status st = CL_OK;
    for (int r = 0; r < nruns && st == CL_OK; r++) st = load_run(runs[r], &rd[r]);
    if (st == CL_OK) st = plot_set(rd, nruns, out_dir, 1);
    free_runs(rd, nruns);
    return st;
}

cl_status cl_study_plot_bands(const char *const *runs, int nruns, const char *out_dir,
                              int *ngroups)
{
    if (nruns < 1 || nruns > CL_STUDY_BAND_RUNS)
        return cl_error(CL_EINVAL, "plot --bands: 1 to %d runs, not %d", CL_STUDY_BAND_RUNS,
                        nruns);
    run_data *rd = cl_alloc_array((size_t)nruns, sizeof *rd, "plot runs");
    if (!rd) return CL_ENOMEM;
    memset(rd, 0, (size_t)nruns * sizeof *rd); /* free_runs frees what load_run left */
    run_data grp[MAX_RUNS];
    memset(grp, 0, sizeof grp);
    int ng = 0, member[CL_STUDY_BAND_RUNS];
    char names[MAX_RUNS][64];
    cl_status st = CL_OK;
    for (int r = 0; r < nruns && st == CL_OK; r++) {
        if ((st = load_run(runs[r], &rd[r])) != CL_OK) break;
        char g[64];
        cl_study_seed_group(rd[r].label, g, sizeof g);
        int k = 0;
        while (k < ng && strcmp(names[k], g)) k++;
        if (k == ng && ng == MAX_RUNS) {
            st = cl_error(CL_EINVAL, "plot --bands: more than %d groups (at %s)", MAX_RUNS,
                          runs[r]);
            break;
        }
        if (k == ng) snprintf(names[ng++], sizeof names[0], "%s", g);
        member[r] = k;
    }
    for (int k = 0; k < ng && st == CL_OK; k++) {
        const cl_csv *m[CL_STUDY_BAND_RUNS];
        int n = 0;
        for (int r = 0; r < nruns; r++)
            if (member[r] == k) m[n++] = &rd[r].metrics;
        snprintf(grp[k].label, sizeof grp[k].label, "%.50s (%d)", names[k], n);
        if ((st = cl_study_bands_reduce(m, n, &grp[k].metrics, &grp[k].sd)) != CL_OK) break;
        grp[k].buf = cl_alloc_array((size_t)grp[k].metrics.nrows * BUF_COLS, sizeof(double), "plot");
        if (!grp[k].buf) st = CL_ENOMEM;
    }
    if (st == CL_OK) st = plot_set(grp, ng, out_dir, 0);
    if (st == CL_OK) *ngroups = ng;
    free_runs(rd, nruns);
    free_runs(grp, ng);
    cl_free(rd);
    return st;
}
