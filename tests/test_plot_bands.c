/* Seed bands (collapse plot --bands, issue 14): the seed-suffix grouping,
 * the mean / sample-std reduction over runs at their common epochs, the
 * figures and the CLI's errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/study/study_internal.h"
#include "collapse/csv.h"
#include "collapse/study.h"
#include "common.h"

TestSuite(plot_bands, .init = tc_tmp_init, .fini = tc_tmp_fini);

Test(plot_bands, seed_suffixes_make_groups)
{
    static const char *const cases[][2] = {
        {"mlp_ce_s1", "mlp_ce"}, {"mlp_ce_s12", "mlp_ce"}, {"run-s3", "run"},
        {"a_seed7", "a"},        {"a-seed7", "a"},         {"seed2", "seed"},
        {"mlpseed4", "mlp"},     {"mlp_ce", "mlp_ce"},     {"mlp_s", "mlp_s"},
        {"resnet20", "resnet20"}, {"x_s1b", "x_s1b"},      {"123", "123"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char g[64];
        cl_study_seed_group(cases[i][0], g, sizeof g);
        cr_assert_str_eq(g, cases[i][1], "%s", cases[i][0]);
    }
}

/* A metrics.csv with the given epochs and nc1 values (train_acc = 1 - nc1). */
static void write_metrics(const char *path, const char *extra_col, int n, const int *epochs,
                          const double *nc1)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "epoch,nc1,train_acc%s%s\n", extra_col ? "," : "", extra_col ? extra_col : "");
    for (int i = 0; i < n; i++)
        fprintf(f, "%d,%.17g,%.17g%s\n", epochs[i], nc1[i], 1 - nc1[i], extra_col ? ",5" : "");
    fclose(f);
}

Test(plot_bands, mean_and_sample_std_at_common_epochs)
{
    int e1[] = {0, 1, 2, 4}, e2[] = {0, 2, 3, 4}, e3[] = {0, 1, 2, 3, 4};
    double a[] = {1, 0.5, 0.25, 0.125}, b[] = {3, 0.75, 0.9, 0.375}, c[] = {2, 7, 1, 8, 0.25};
    write_metrics(tpath("a.csv"), "extra", 4, e1, a);
    write_metrics(tpath("b.csv"), NULL, 4, e2, b);
    write_metrics(tpath("c.csv"), "extra", 5, e3, c);
    cl_csv r[3], mean, sd;
    cr_assert_eq(cl_csv_read(tpath("a.csv"), "", &r[0]), CL_OK);
    cr_assert_eq(cl_csv_read(tpath("b.csv"), "", &r[1]), CL_OK);
    cr_assert_eq(cl_csv_read(tpath("c.csv"), "", &r[2]), CL_OK);
    const cl_csv *runs[3] = {&r[0], &r[1], &r[2]};
    cr_assert_eq(cl_study_bands_reduce(runs, 3, &mean, &sd), CL_OK, "%s", cl_errmsg());
    /* epochs 0, 2, 4 are in all three (1 and 3 are not) */
    cr_assert_eq(mean.nrows, 3);
    int ce = cl_csv_col(&mean, "epoch"), cn = cl_csv_col(&mean, "nc1"),
        cx = cl_csv_col(&mean, "extra");
    cr_assert(ce >= 0 && cn >= 0 && cx >= 0);
    static const double want_e[] = {0, 2, 4};
    double vals[3][3] = {{1, 3, 2}, {0.25, 0.75, 1}, {0.125, 0.375, 0.25}};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mean.num[i * mean.ncols + ce], want_e[i]);
        cr_assert_eq(sd.num[i * sd.ncols + ce], 0);
        double m = (vals[i][0] + vals[i][1] + vals[i][2]) / 3, ss = 0;
        for (int k = 0; k < 3; k++) ss += (vals[i][k] - m) * (vals[i][k] - m);
        cr_assert_float_eq(mean.num[i * mean.ncols + cn], m, 1e-15);
        cr_assert_float_eq(sd.num[i * sd.ncols + cn], sqrt(ss / 2), 1e-15);
        /* b lacks the column: NaN, not a mean of the other two */
        cr_assert(isnan(mean.num[i * mean.ncols + cx]));
    }
    cl_csv_free(&mean);
    cl_csv_free(&sd);

    /* one run: its values, std 0 */
    cr_assert_eq(cl_study_bands_reduce(runs, 1, &mean, &sd), CL_OK);
    cr_assert_eq(mean.nrows, 4);
    cr_assert_eq(mean.num[1 * mean.ncols + cn], 0.5);
    cr_assert_eq(sd.num[1 * sd.ncols + cn], 0);
    cl_csv_free(&mean);
    cl_csv_free(&sd);

    /* no common epoch: an error naming the first run's file */
    int e4[] = {7, 9};
    write_metrics(tpath("d.csv"), NULL, 2, e4, a);
    cl_csv d;
    cr_assert_eq(cl_csv_read(tpath("d.csv"), "", &d), CL_OK);
    const cl_csv *none[2] = {&r[0], &d};
    cr_assert_eq(cl_study_bands_reduce(none, 2, &mean, &sd), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "a.csv") && strstr(cl_errmsg(), "no epoch"), "%s",
              cl_errmsg());
    cl_csv_free(&d);
    for (int k = 0; k < 3; k++) cl_csv_free(&r[k]);
}

/* A run folder NAME with a metrics.csv of the columns the figures need. */
static void fake_run(const char *name, double scale)
{
    cr_assert_eq(mkdir(tpath(name), 0755), 0);
    static const char *const cols[] = {
        "nc1", "test_nc1", "equinorm_M", "equinorm_W", "equiangular_M", "equiangular_W",
        "maxangle_M", "maxangle_W", "etf_M", "etf_W", "nc3", "test_nc3", "nc3_zhu",
        "test_nc3_zhu", "nc4", "test_nc4", "train_acc", "test_acc"};
    int nc = (int)(sizeof cols / sizeof cols[0]);
    char p[512];
    snprintf(p, sizeof p, "%s/metrics.csv", tpath(name));
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fprintf(f, "epoch");
    for (int j = 0; j < nc; j++) fprintf(f, ",%s", cols[j]);
    fprintf(f, "\n");
    for (int e = 0; e <= 20; e++) {
        fprintf(f, "%d", e);
        for (int j = 0; j < nc; j++) fprintf(f, ",%.9g", scale * (j + 1) / (e + 1.0));
        fprintf(f, "\n");
    }
    fclose(f);
}

Test(plot_bands, figures_and_cli, .timeout = TC_TIMEOUT)
{
    fake_run("ce_s1", 1);
    fake_run("ce_s2", 1.5);
    fake_run("ce_s3", 0.7);
    fake_run("mse_s1", 0.2);
    char r[4][256];
    const char *runs[4];
    static const char *const names[] = {"ce_s1", "ce_s2", "ce_s3", "mse_s1"};
    for (int i = 0; i < 4; i++) runs[i] = strcpy(r[i], tpath(names[i]));
    cr_assert_eq(mkdir(tpath("fig"), 0755), 0);
    int ng = 0;
    cr_assert_eq(cl_study_plot_bands(runs, 4, tpath("fig"), &ng), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(ng, 2);
    static const char *const pngs[] = {"nc1", "nc2", "nc3", "nc4", "accuracy"};
    for (int i = 0; i < 5; i++) {
        char p[64];
        snprintf(p, sizeof p, "fig/%s.png", pngs[i]);
        cr_assert(tc_is_png(tpath(p)), "%s", p);
    }
    cr_assert_eq(access(tpath("fig/layers.png"), F_OK), -1);
    /* a run without metrics.csv in the middle: an error naming it, the others freed */
    cr_assert_eq(mkdir(tpath("empty_s4"), 0755), 0);
    char e[256];
    const char *with_empty[5] = {runs[0], runs[1], strcpy(e, tpath("empty_s4")), runs[2], runs[3]};
    cr_assert_eq(cl_study_plot_bands(with_empty, 5, tpath("fig"), &ng), CL_EIO);
    cr_assert(strstr(cl_errmsg(), "empty_s4/metrics.csv"), "%s", cl_errmsg());

    const char *bin = getenv("COLLAPSE_BIN");
    if (!bin || access(bin, X_OK) != 0) return;
    const char *ok[] = {"plot", "--bands", runs[0], runs[1], runs[2], runs[3],
                        "--out", tpath("cli"), NULL};
    cr_assert_eq(tc_run(tpath("ok.log"), tpath("ok.log"), ok), 0);
    cr_assert(tc_is_png(tpath("cli/nc1.png")));
    /* eleven groups: refused, one line */
    const char *many[16] = {"plot", "--bands"};
    char g[11][256];
    for (int i = 0; i < 11; i++) {
        char n[32];
        snprintf(n, sizeof n, "g%d", i);
        fake_run(n, 1);
        many[2 + i] = strcpy(g[i], tpath(n));
    }
    many[13] = "--out";
    many[14] = tpath("many");
    cr_assert_eq(tc_run(tpath("many.log"), tpath("many.log"), many), 1);
    FILE *f = fopen(tpath("many.log"), "r");
    char msg[512] = {0};
    cr_assert(fgets(msg, sizeof msg, f));
    fclose(f);
    cr_assert(strstr(msg, "more than 10 groups"), "%s", msg);
    /* eleven runs without --bands: refused with the limit */
    many[1] = g[10];
    cr_assert_eq(tc_run(tpath("n.log"), tpath("n.log"), many), 2);
}
