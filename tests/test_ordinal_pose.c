/* Ordinal collapse on mnist-pose as a child process ($COLLAPSE_BIN): theta
 * binned into 5 ordered classes (--ordinal-bins 5) with the cumulative-link
 * head (--loss clm) trains a few steps and writes the onc columns; eval and
 * features work on the run (the loss and data from its config.json;
 * features also saves the pose targets). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/npy.h"
#include "common.h"

Test(ordinal_pose, clm_on_theta_bins, .timeout = TC_TIMEOUT)
{
    ctx c;
    char model[256], rd[256], fd[256], p[320];
    ctx_init(&c, "ordpose");
    sub(rd, sizeof rd, "%s/run", c.dir);
    sub(model, sizeof model, "%s/m.cfg", c.dir);
    tc_write_text(model, "[model]\ntype = mlp\nwidth = 16\ndepth = 1\nbn = 0\n");
    const char *tr[] = {"train",      "--model",
                        model,        "--data",
                        "mnist-pose", "--ordinal-bins",
                        "5",          "--loss",
                        "clm",        "--train-per-class",
                        "10",         "--test-per-class",
                        "4",          "--epochs",
                        "2",          "--batch",
                        "25",         "--threads",
                        "1",          "--no-plots",
                        "--out",      rd,
                        NULL};
    run_ok(&c, tr);
    char *so = tc_slurp(c.out, NULL);
    cr_assert(strstr(so, "5 classes") && strstr(so, "cumlink"), "%s", so);
    free(so);

    /* rows for epochs 0..2 with finite onc keys on both splits */
    sub(p, sizeof p, "%s/metrics.csv", rd);
    cl_csv t;
    cr_assert_eq(cl_csv_read(p, "", &t), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(t.nrows, 3);
    const char *keys[] = {"onc1",      "onc2",      "onc3_tau",      "onc3_mid",
                          "test_onc1", "test_onc2", "test_onc3_tau", "test_onc3_mid"};
    for (int k = 0; k < 8; k++) {
        int col;
        cr_assert_eq(cl_csv_need(&t, keys[k], &col), CL_OK, "%s", cl_errmsg());
        double v = t.num[(t.nrows - 1) * t.ncols + col];
        cr_assert(isfinite(v), "%s = %g", keys[k], v);
    }
    cl_csv_free(&t);

    /* eval reads --loss clm and the data options from config.json */
    const char *ev[] = {"eval", rd, NULL};
    run_ok(&c, ev);
    so = tc_slurp(c.out, NULL);
    cr_assert(strstr(so, "loss clm") && strstr(so, "test  loss") &&
                  strstr(so, "(20 samples)"),
              "%s", so);
    free(so);

    /* features: the latent's input, the 1-unit head, labels in 0..4, targets */
    sub(fd, sizeof fd, "%s/feat", c.dir);
    const char *fe[] = {"features", rd, "--out", fd, NULL};
    run_ok(&c, fe);
    int32_t *y = NULL;
    float *tg = NULL;
    int nd = 0;
    int64_t sh[8];
    sub(p, sizeof p, "%s/labels.npy", fd);
    cr_assert_eq(cl_npy_read_i32(p, &y, &nd, sh), CL_OK, "%s", cl_errmsg());
    cr_assert(nd == 1 && sh[0] == 50);
    int seen[5] = {0};
    for (int i = 0; i < 50; i++) {
        cr_assert(y[i] >= 0 && y[i] < 5);
        seen[y[i]]++;
    }
    for (int k = 0; k < 5; k++)
        cr_expect_eq(seen[k], 10, "bin %d", k);
    sub(p, sizeof p, "%s/targets.npy", fd);
    cr_assert_eq(cl_npy_read_f32(p, &tg, &nd, sh), CL_OK, "%s", cl_errmsg());
    cr_assert(nd == 2 && sh[0] == 50 && sh[1] == 3);
    /* the bins are ordered in theta (target 0): every bin-k theta <= every bin-(k+1)
     * theta */
    for (int i = 0; i < 50; i++)
        for (int j = 0; j < 50; j++)
            if (y[i] < y[j]) cr_assert_leq(tg[i * 3], tg[j * 3], "rows %d, %d", i, j);
    cl_free(y);
    cl_free(tg);
    /* the ordinal head's thresholds, not a bias: the same bytes as the run's */
    char q[1024];
    sub(p, sizeof p, "%s/thresholds.npy", fd);
    sub(q, sizeof q, "%s/thresholds.npy", rd);
    size_t n1 = 0, n2 = 0;
    char *t1 = tc_slurp(p, &n1), *t2 = tc_slurp(q, &n2);
    cr_assert(t1 && t2 && n1 == n2 && !memcmp(t1, t2, n1), "%s vs %s", p, q);
    free(t1);
    free(t2);
    sub(p, sizeof p, "%s/b.npy", fd);
    cr_expect(access(p, F_OK) != 0, "%s written for an ordinal head", p);
    ctx_done(&c);
}
