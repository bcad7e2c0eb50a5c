/* collapse eval: loss and accuracy of a checkpoint on a dataset, or for a
 * regression run (--task regression) the loss, MSE and R^2 per target. */
#include <stdio.h>
#include <string.h>

#include "ckptargs.h"
#include "cli.h"
#include "collapse/blas.h"
#include "collapse/loss.h"
#include "collapse/mem.h"
#include "collapse/train.h"
#include "train_opts.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: collapse eval CHECKPOINT|RUNDIR --data NAME [data options]\n"
            "       [--split train|test|both] [--loss ce|mse|mse=S|ls=A|focal=G|clm|pal|"
            "pal=mean]\n       [--batch B]"
            " [--threads T] [--task classification|regression]\n"
            "Without --data, the data options of the run (RUNDIR/config.json) are used;\n"
            "with --data, give the training run's data options (subsets, --normalize, "
            "...).\n"
            "Without --loss, the run's training loss (config.json), else ce.\n"
            "Classification also prints the accuracy of every class and the worst one.\n"
            "Without --task, the run's task (config.json), else classification. A\n"
            "regression run prints the regression loss (1/2 the squared error summed\n"
            "over targets, mean over samples), the MSE and R^2 of every target and\n"
            "their means; the data must have targets (mnist-pose, --targets).\n"
            "Multi-label data (mlab-mnist) needs --loss pal or pal=mean; acc is the\n"
            "exact-set match of the top-m rule, followed by the macro-F1 and one\n"
            "F1 per label.\n");
    cl_cli_data_usage(f);
}

/* Multi-label data: PAL loss, exact-set accuracy (top-m), macro-F1 and the
 * F1 of every label (train.h, cl_train_evaluate_khot). */
static int eval_split_khot(cl_model *m, const cl_train_data *v, const cl_loss_cfg *loss,
                           const char *what)
{
    cl_khot_eval e;
    if (cl_train_evaluate_khot(m, v, loss, &e) != CL_OK)
        return cl_cli_fail(1, "eval (%s): %s", what, cl_errmsg());
    printf(
        "%-5s loss %.6f  acc %.4f%%  macro-F1 %.6f  (%lld samples, exact-set, top-m)\n",
        what, e.loss, 100 * e.acc, e.macro_f1, (long long)v->n);
    printf("      F1 per label:");
    for (int j = 0; j < e.K; j++)
        printf(" %.4f", e.f1[j]);
    printf("\n");
    return 0;
}

/* Nonnegative features: the classifier input's units that are zero on every
 * sample of the split, and the classes no feature on the live units reaches
 * through the classifier as it is (train_etf.c). */
static int dead_units(cl_model *m, const cl_train_data *v)
{
    if (cl_model_classifier_index(m) < 1 || !cl_model_features_nonneg(m)) return 0;
    const int dim = cl_cli_feature_dim(m);
    float *mx = cl_alloc_array((size_t)dim, sizeof(float), "feature maxima");
    if (!mx || cl_cli_feature_max(m, v, mx) != CL_OK) {
        cl_free(mx);
        return cl_cli_fail(1, "eval: %s", cl_errmsg());
    }
    int first[12], lost[CL_DATA_MAX_CLASSES], argmin;
    const int dead = cl_cli_dead_units(mx, dim, first, 12);
    double mn;
    const int n = cl_cli_classes_lost(m, mx, lost, &mn, &argmin);
    cl_free(mx);
    if (n < 0) return cl_cli_fail(1, "eval: %s", cl_errmsg());
    char dl[256], cl[256];
    cl_cli_int_list(dl, sizeof dl, first, dead < 12 ? dead : 12, dead);
    cl_cli_int_list(cl, sizeof cl, lost, n, n);
    printf("      feature units zero on every sample: %s (%d of %d)", dead ? dl : "none",
           dead, dim);
    if (n) printf("; classes no feature on the live units reaches: %s", cl);
    printf("\n");
    return 0;
}

static int eval_split(cl_model *m, const cl_dataset *d, const cl_loss_cfg *loss,
                      const char *what)
{
    cl_train_data v;
    cl_data_view(d, NULL, &v);
    if (v.yk) return eval_split_khot(m, &v, loss, what);
    double l, acc;
    int64_t ok[CL_DATA_MAX_CLASSES], cnt[CL_DATA_MAX_CLASSES];
    if (cl_train_evaluate_classes(m, &v, loss, &l, &acc, ok, cnt) != CL_OK)
        return cl_cli_fail(1, "eval (%s): %s", what, cl_errmsg());
    printf("%-5s loss %.6f  acc %.4f%%  (%lld samples)\n", what, l, 100 * acc,
           (long long)d->n);
    /* accuracy of each class (10 a line), then the worst one */
    const int K =
        cl_loss_classes(loss, (int)cl_shape_size(m->layers[m->nlayers - 1].out));
    int worst = -1;
    for (int k = 0; k < K; k++) {
        if (k % 10 == 0) printf("      per class %2d-%-2d", k, k + 9 < K ? k + 9 : K - 1);
        if (cnt[k])
            printf(" %6.2f", 100.0 * ok[k] / cnt[k]);
        else
            printf("      -");
        if (k % 10 == 9 || k == K - 1) printf("\n");
        if (cnt[k] && (worst < 0 || ok[k] * cnt[worst] < ok[worst] * cnt[k])) worst = k;
    }
    if (worst >= 0)
        printf("      worst class %d%s%s%s %.2f%% (%lld of %lld)\n", worst,
               d->class_names[worst][0] ? " (" : "", d->class_names[worst],
               d->class_names[worst][0] ? ")" : "", 100.0 * ok[worst] / cnt[worst],
               (long long)ok[worst], (long long)cnt[worst]);
    return dead_units(m, &v);
}

/* The regression counterpart: loss, per-target MSE and R^2, their means. */
static int eval_split_reg(cl_model *m, const cl_dataset *d, const char *what)
{
    int k = (int)cl_shape_size(m->layers[m->nlayers - 1].out);
    if (!d->t || d->tdim != k || k > CL_TRAIN_MAX_TARGETS)
        return cl_cli_fail(1,
                           "eval (%s): the model outputs %d values, the data has %d "
                           "targets (regression needs mnist-pose or --targets)",
                           what, k, d->tdim);
    cl_train_data v;
    cl_data_view(d, NULL, &v);
    v.classes = 0; /* targets, not labels */
    double l, r2m, mse[CL_TRAIN_MAX_TARGETS], r2[CL_TRAIN_MAX_TARGETS], msem = 0;
    if (cl_train_evaluate_reg(m, &v, d->t, &l, &r2m, mse, r2) != CL_OK)
        return cl_cli_fail(1, "eval (%s): %s", what, cl_errmsg());
    for (int j = 0; j < k; j++)
        msem += mse[j] / k;
    printf("%-5s loss %.6f  mean MSE %.6g  mean R^2 %.6f  (%lld samples)\n", what, l,
           msem, r2m, (long long)d->n);
    for (int j = 0; j < k; j++)
        printf("      target %d  MSE %.6g  R^2 %.6f\n", j, mse[j], r2[j]);
    return 0;
}

int cl_cmd_eval(int argc, char **argv)
{
    const char *loss_s = NULL, *task = NULL;
    const cl_cli_extra_flag extra[] = {{"--loss", &loss_s}, {"--task", &task}};
    cl_cli_ckpt_args a = {.cmd = "eval",
                          .usage = usage,
                          .extra = extra,
                          .nextra = 2,
                          .split = "both",
                          .batch = 500};
    int rc = cl_cli_ckpt_args_parse(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = cl_cli_ckpt_args_data(&a))) return rc;
    const char *ckpt = a.ckpt, *split = a.split;
    int tr = !strcmp(split, "train") || !strcmp(split, "both");
    int te = !strcmp(split, "test") || !strcmp(split, "both");
    if (!tr && !te)
        return cl_cli_fail(2, "--split: unknown split '%s' (train, test or both)", split);
    /* without --task / --loss: the run's (else classification, CE) */
    char run_loss[64];
    int reg;
    if ((rc = cl_cli_ckpt_args_task(&a, &task, &reg))) return rc;
    if (!loss_s)
        loss_s =
            cl_cli_run_option(ckpt, "loss", run_loss, sizeof run_loss) ? run_loss : "ce";
    cl_loss_cfg loss;
    if (cl_loss_parse(loss_s, &loss) != CL_OK)
        return cl_cli_fail(2, "--loss: %s", cl_errmsg());
    if (a.threads) cl_blas_set_threads(a.threads);

    cl_model *m = NULL;
    int64_t step = 0;
    if (cl_cli_load_model(ckpt, a.batch, &m, &step)) return 1;
    cl_dataset train, test;
    if (cl_cli_data_load(&a.data, &train, &test)) {
        cl_model_destroy(m);
        return 1;
    }
    char lname[64];
    cl_loss_format(&loss, lname, sizeof lname);
    printf("checkpoint %s (step %lld, %lld parameters), %s %s\n", ckpt, (long long)step,
           (long long)m->nparams, reg ? "task" : "loss", reg ? "regression" : lname);
    if (tr)
        rc = reg ? eval_split_reg(m, &train, "train")
                 : eval_split(m, &train, &loss, "train");
    if (!rc && te)
        rc = reg ? eval_split_reg(m, &test, "test") : eval_split(m, &test, &loss, "test");
    cl_model_destroy(m);
    cl_dataset_free(&train);
    cl_dataset_free(&test);
    return rc;
}
