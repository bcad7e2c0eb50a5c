/* Regression training: the loss (value, gradient by central differences),
 * the trainer with --task regression on a linear toy problem (the loss
 * falls, R^2 approaches 1, cl_train_evaluate_reg against a direct sum), the
 * regression study's metrics.csv, and the CLI on mnist-pose (error lines). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/loss.h"
#include "collapse/mem.h"
#include "collapse/study.h"
#include "collapse/train.h"
#include "common.h"

Test(nrc_train, loss_value_and_gradient)
{
    float p[6] = {0.5f, -1.0f, 2.0f, 0.25f, 0.0f, -0.75f}, t[6] = {1, 1, 1, 0, 0, 0}, d[6];
    double l, sse[3] = {0};
    cr_assert_eq(cl_loss_regress(p, t, 2, 3, &l, d, sse), CL_OK);
    double want = 0;
    for (int i = 0; i < 6; i++)
        want += 0.5 * (p[i] - t[i]) * (p[i] - t[i]) / 2;
    cr_assert(fabs(l - want) < 1e-12, "loss %g vs %g", l, want);
    cr_assert(fabs(sse[0] - (0.25 + 0.0625)) < 1e-12);
    for (int i = 0; i < 6; i++) {
        float q[6];
        double lp, lm;
        memcpy(q, p, sizeof q);
        q[i] += 1e-3f;
        cl_loss_regress(q, t, 2, 3, &lp, NULL, NULL);
        q[i] -= 2e-3f;
        cl_loss_regress(q, t, 2, 3, &lm, NULL, NULL);
        cr_expect(fabs((lp - lm) / 2e-3 - d[i]) < 1e-4, "d[%d] %g vs %g", i, d[i],
                  (lp - lm) / 2e-3);
    }
    cr_assert_eq(cl_loss_regress(p, t, 0, 3, &l, d, NULL), CL_EINVAL);
}

#define N 256
#define DIN 6
#define NT 2

static cl_status count_rows(const cl_epoch_info *info, void *user)
{
    (*(int *)user)++;
    return CL_OK;
}

Test(nrc_train, trainer_fits_a_linear_map, .timeout = TC_TIMEOUT)
{
    static float x[N * DIN], t[N * NT];
    static int32_t y[N];
    cl_rng rng;
    cl_rng_seed(&rng, 9);
    for (int i = 0; i < N; i++) {
        for (int d = 0; d < DIN; d++)
            x[i * DIN + d] = (float)cl_rng_normal(&rng);
        t[i * NT + 0] = 2 * x[i * DIN] - x[i * DIN + 1] + 0.5f;
        t[i * NT + 1] = 0.3f * x[i * DIN + 2];
        y[i] = 0;
    }
    cl_layer_spec s[3] = {tc_spec(CL_LAYER_LINEAR, 16), tc_spec(CL_LAYER_RELU, 0),
                          tc_spec(CL_LAYER_LINEAR, NT)};
    s[2].classifier = 1;
    cl_model *m;
    cr_assert_eq(cl_model_create(&m, (cl_shape){DIN, 1, 1}, s, 3, &rng), CL_OK, "%s",
                 cl_errmsg());
    cl_train_data ds = {N, {DIN, 1, 1}, 0, x, y, NULL, NULL, NULL};
    cl_train_config cfg = cl_train_config_default();
    cfg.task = CL_TASK_REGRESS;
    cfg.targets = cfg.test_targets = t;
    cfg.epochs = 40;
    cfg.batch = 32;
    cfg.sched = cl_sched_make(CL_SCHED_CONST, 0.02, 0);
    cfg.optim.wd[0] = cfg.optim.wd[1] = 0;
    char dir[64];
    tc_tmpdir_make(dir, sizeof dir, "nrc_train");
    cl_study_reg *st;
    cr_assert_eq(cl_model_alloc(m, 32), CL_OK);
    cr_assert_eq(cl_study_reg_create(&st, m, NT, dir, 0), CL_OK, "%s", cl_errmsg());
    int calls = 0;
    cl_train_callback cbs[2] = {{cl_study_reg_epoch, st}, {count_rows, &calls}};
    cl_train_hooks hooks = {cbs, 2, NULL, NULL};
    cl_train_result res;
    cr_assert_eq(cl_train_run(&cfg, m, &ds, &ds, &hooks, &res), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(calls, 40);
    cr_assert_gt(res.train_acc, 0.98, "mean R^2 %g", res.train_acc);
    double loss, r2m, mse[NT], r2[NT];
    cr_assert_eq(cl_train_evaluate_reg(m, &ds, t, &loss, &r2m, mse, r2), CL_OK);
    cr_assert(fabs(loss - res.train_loss) < 1e-12);
    cr_assert(fabs(loss - 0.5 * (mse[0] + mse[1])) < 1e-9);
    /* one metrics row per epoch with the NRC columns */
    char p[128], line[8192];
    snprintf(p, sizeof p, "%s/metrics.csv", dir);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert(strstr(line, "nrc1_train,nrc2_train,nrc3_train,nrc3_gamma_train"), "%s", line);
    int rows = 0;
    while (fgets(line, sizeof line, f))
        rows++;
    fclose(f);
    cr_assert_eq(rows, 40);
    cl_study_reg_destroy(st);
    cl_model_destroy(m);
    tc_tmpdir_remove(dir);
}

Test(nrc_train, cli_errors)
{
    static char out[1 << 14];
    /* regression without targets: one line, exit 1 */
    cr_assert_eq(tc_run_capture("train --arch mlp --data mnist --task regression --epochs 1 "
                                "--train-per-class 5 --test-per-class 5",
                                out, sizeof out),
                 1, "%s", out);
    cr_assert(strstr(out, "--task regression") && strstr(out, "targets"), "%s", out);
    cr_assert_eq(tc_run_capture("train --arch mlp --data mnist --task ranking --epochs 1", out,
                                sizeof out),
                 2, "%s", out);
    cr_assert_eq(tc_run_capture("train --arch mlp --data mnist-pose --ordinal-bins 1 --epochs 1",
                                out, sizeof out),
                 2, "%s", out);
}
