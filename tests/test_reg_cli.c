/* A regression run end to end as a child process ($COLLAPSE_BIN): MNIST
 * subsets with three synthetic targets (--targets / --test-targets), then
 * `collapse eval` (per-target MSE and R^2, read from the run's config.json)
 * and `collapse features` + `collapse analyze --targets`, which must give
 * the last metrics.csv row's NRC keys on both splits. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_common.h"
#include "collapse/csv.h"
#include "collapse/npy.h"
#include "collapse/study.h"
#include "collapse/train.h"
#include "common.h"

#define NT 3

/* Targets [n, NT] for the n samples of a split: smooth in the sample index,
 * so the network can fit some of them (here only the file path matters). */
static void write_targets(const char *path, int64_t n)
{
    float *t = malloc(sizeof(float) * (size_t)(n * NT));
    cr_assert(t);
    for (int64_t i = 0; i < n; i++) {
        t[i * NT + 0] = (float)((i * 37) % 101) / 101.0f;
        t[i * NT + 1] = 0.5f * (float)((i * 13) % 17) / 17.0f;
        t[i * NT + 2] = 0.25f * (float)(i % 5);
    }
    int64_t sh[2] = {n, NT};
    cr_assert_eq(cl_npy_write(path, CL_NPY_F32, t, 2, sh), CL_OK, "%s", cl_errmsg());
    free(t);
}

/* The last row of a run's metrics.csv, looked up by column. */
typedef struct {
    cl_csv t;
    int64_t last;
} last_row;

static void last_row_load(last_row *r, const char *dir)
{
    char p[300];
    sub(p, sizeof p, "%s/metrics.csv", dir);
    cr_assert_eq(cl_csv_read(p, "", &r->t), CL_OK, "%s", cl_errmsg());
    cr_assert_gt(r->t.nrows, 0);
    r->last = r->t.nrows - 1;
}

static double col(const last_row *r, const char *name)
{
    int c = cl_csv_col(&r->t, name);
    cr_assert_geq(c, 0, "no column %s", name);
    return r->t.num[r->last * r->t.ncols + c];
}

/* The number after `key` in text (which must hold it). */
static double number_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    cr_assert(p, "'%s' missing in: %s", key, text);
    return strtod(p + strlen(key), NULL);
}

static void expect_close(double got, double want, double rel, const char *what)
{
    cr_expect(fabs(got - want) <= rel * fabs(want) + 1e-12, "%s: %.17g, row %.17g", what,
              got, want);
}

Test(reg_cli, eval_and_features_reproduce_the_run, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "regcli");
    char model[256], run_dir[256], ytr[256], yte[256];
    sub(model, sizeof model, "%s/mlp.cfg", c.dir);
    tc_write_text(model, "[model]\ntype = mlp\nwidth = 24\ndepth = 2\nbn = 0\n");
    sub(ytr, sizeof ytr, "%s/y_train.npy", c.dir);
    sub(yte, sizeof yte, "%s/y_test.npy", c.dir);
    write_targets(ytr, 60000);
    write_targets(yte, 10000);
    sub(run_dir, sizeof run_dir, "%s/run", c.dir);
    const char *tr[] = {"train",      "--model",
                        model,        "--data",
                        "mnist",      "--targets",
                        ytr,          "--test-targets",
                        yte,          "--task",
                        "regression", "--train-per-class",
                        "20",         "--test-per-class",
                        "10",         "--epochs",
                        "3",          "--batch",
                        "40",         "--lr",
                        "0.02",       "--threads",
                        "1",          "--out",
                        run_dir,      NULL};
    run_ok(&c, tr);
    last_row row;
    last_row_load(&row, run_dir);

    /* eval reads the task and the targets from config.json */
    const char *ev[] = {"eval", run_dir, NULL};
    run_ok(&c, ev);
    char *so = tc_slurp(c.out, NULL);
    cr_assert(strstr(so, "task regression") && strstr(so, "target 2  MSE"), "%s", so);
    const char *te = strstr(so, "test  loss");
    cr_assert(te, "%s", so);
    expect_close(number_after(so, "train loss "), col(&row, "train_loss"), 1e-5,
                 "train loss");
    expect_close(number_after(so, "mean R^2 "), col(&row, "train_r2"), 1e-5, "train R^2");
    expect_close(number_after(te, "mean R^2 "), col(&row, "test_r2"), 1e-5, "test R^2");
    expect_close(number_after(te, "target 1  MSE "), col(&row, "test_mse_1"), 1e-5,
                 "test MSE 1");
    free(so);

    /* features + analyze --targets: the NRC keys of the last row, both splits */
    static const char *split[2] = {"train", "test"};
    static const char *keys[] = {"nrc1", "nrc2", "nrc3", "mse", "r2"};
    for (int s = 0; s < 2; s++) {
        static const char *files[4] = {"features", "targets", "W", "b"};
        char fd[300], np[4][320];
        sub(fd, sizeof fd, "%s/feat_%s", c.dir, split[s]);
        const char *fe[] = {"features", run_dir, "--split", split[s], "--out", fd, NULL};
        run_ok(&c, fe);
        for (int k = 0; k < 4; k++)
            sub(np[k], sizeof np[k], "%s/%s.npy", fd, files[k]);
        const char *an[] = {"analyze", "--features", np[0], "--targets",
                            np[1],     "--weights",  np[2], "--bias",
                            np[3],     "--json",     NULL};
        run_ok(&c, an);
        char *js = tc_slurp(c.out, NULL);
        for (int k = 0; k < 5; k++) {
            char key[32], name[32];
            sub(key, sizeof key, "\"%s\":", keys[k]);
            sub(name, sizeof name, "%s_%s", keys[k], split[s]);
            expect_close(number_after(js, key), col(&row, name), 1e-6, name);
        }
        free(js);
    }

    /* --task overrides the run's; an unknown one is a usage error */
    const char *bad[] = {"eval", run_dir, "--task", "ranking", NULL};
    cr_assert_eq(run(&c, bad), 2);
    so = tc_slurp(c.err, NULL);
    cr_assert(strstr(so, "--task") && strstr(so, "ranking"), "%s", so);
    free(so);
    const char *cls[] = {"eval", run_dir, "--task", "classification", NULL};
    cr_assert_eq(run(&c, cls), 1, "a regression head is not a 10-class classifier");

    /* the study drew nrc.png and r2.png; collapse plot redraws them */
    char png[320], pd[300];
    sub(png, sizeof png, "%s/nrc.png", run_dir);
    cr_assert(tc_exists(png), "%s", png);
    sub(png, sizeof png, "%s/r2.png", run_dir);
    cr_assert(tc_exists(png), "%s", png);
    sub(pd, sizeof pd, "%s/plots", c.dir);
    const char *pl[] = {"plot", run_dir, "--out", pd, NULL};
    run_ok(&c, pl);
    sub(png, sizeof png, "%s/nrc.png", pd);
    cr_assert(tc_exists(png), "%s", png);
    sub(png, sizeof png, "%s/nc1.png", pd);
    cr_assert(!tc_exists(png), "no classification figures for a regression run");
    cl_csv_free(&row.t);
    ctx_done(&c);
}

static void count_warning(void *user, const char *msg)
{
    cr_assert(strstr(msg, "figures not drawn"), "%s", msg);
    (*(int *)user)++;
}

/* The regression study draws nrc.png and r2.png after the last epoch; when
 * it cannot (nrc.png is a folder), a warning, and the study goes on. */
Test(reg_cli, study_figures_and_a_drawing_failure, .timeout = TC_TIMEOUT)
{
    enum { n = 64, din = 4 };
    static float x[n * din], t[n * 2];
    static int32_t y[n];
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    for (int i = 0; i < n * din; i++)
        x[i] = (float)cl_rng_normal(&rng);
    for (int i = 0; i < n; i++) {
        t[2 * i] = x[i * din] + 0.5f * x[i * din + 1];
        t[2 * i + 1] = 0.25f * x[i * din + 2];
    }
    cl_layer_spec s[3] = {tc_spec(CL_LAYER_LINEAR, 8), tc_spec(CL_LAYER_RELU, 0),
                          tc_spec(CL_LAYER_LINEAR, 2)};
    s[2].classifier = 1;
    char dir[2][64], p[200];
    for (int bad = 0; bad < 2; bad++) {
        cl_model *m;
        cr_assert_eq(cl_model_create(&m, (cl_shape){din, 1, 1}, s, 3, &rng), CL_OK);
        cr_assert_eq(cl_model_alloc(m, 16), CL_OK);
        tc_tmpdir_make(dir[bad], sizeof dir[bad], "reg_fig");
        sub(p, sizeof p, "%s/nrc.png", dir[bad]);
        if (bad) cr_assert_eq(mkdir(p, 0755), 0);
        cl_train_data ds = {n, {din, 1, 1}, 0, x, y, NULL, NULL, NULL};
        cl_train_config cfg = cl_train_config_default();
        cfg.task = CL_TASK_REGRESS;
        cfg.targets = cfg.test_targets = t;
        cfg.epochs = 3;
        cfg.batch = 16;
        int warnings = 0;
        cfg.warn = count_warning;
        cfg.warn_user = &warnings;
        cl_study_reg *st;
        cr_assert_eq(cl_study_reg_create(&st, m, 2, dir[bad], 0), CL_OK, "%s",
                     cl_errmsg());
        cl_train_callback cb = {cl_study_reg_epoch, st};
        cl_train_hooks hooks = {&cb, 1, NULL, NULL};
        cr_assert_eq(cl_train_run(&cfg, m, &ds, &ds, &hooks, NULL), CL_OK, "%s",
                     cl_errmsg());
        sub(p, sizeof p, "%s/r2.png", dir[bad]);
        if (!bad) {
            cr_assert_eq(warnings, 0);
            cr_assert(tc_is_png(p), "%s", p);
            sub(p, sizeof p, "%s/nrc.png", dir[bad]);
            cr_assert(tc_is_png(p), "%s", p);
        } else { /* the first failure waits for the last epoch: two warnings */
            cr_assert_eq(warnings, 2);
            cr_assert(!tc_exists(p), "r2.png comes after nrc.png");
        }
        sub(p, sizeof p, "%s/metrics.csv", dir[bad]);
        size_t len;
        char *csv = tc_slurp(p, &len), *q = csv;
        int lines = 0;
        while ((q = strchr(q, '\n')))
            lines++, q++;
        cr_assert_eq(lines, 4, "header + 3 epochs: %s", csv);
        free(csv);
        cl_study_reg_destroy(st);
        cl_model_destroy(m);
        tc_tmpdir_remove(dir[bad]);
    }
}
