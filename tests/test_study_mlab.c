/* Multi-label training and its study (Li, Wang, Li & Qu, ICML 2024) on a
 * hand-made K-hot toy: --loss pal through the trainer, the exact-set
 * accuracy and macro-F1, the metrics.csv columns of multi-label runs (NC
 * keys on the single-label rows, the mlab keys on all), and the refusal
 * of other losses. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "collapse/csv.h"
#include "collapse/mlab.h"
#include "collapse/study.h"
#include "collapse/train.h"
#include "common.h"
#include "study_common.h"

TestSuite(study_mlab, .init = tc_tmp_init, .fini = tc_tmp_fini, .timeout = TC_TIMEOUT);

enum { MK = 4, MD = 6, MTR = 96, MTE = 48 };

typedef struct {
    float xtr[MTR * MD], xte[MTE * MD];
    int32_t ytr[MTR], yte[MTE];
    uint8_t ktr[MTR * MK], kte[MTE * MK];
    cl_train_data train, test;
} mtoy;

/* Three of four samples carry one label c (x ~ 2 e_c + noise), the rest two
 * labels {i, j} (x ~ 2 (e_i + e_j) + noise), the pair cycling over the 6. */
static void mtoy_make(mtoy *t)
{
    static const int pairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
    cl_rng rng;
    cl_rng_seed(&rng, 5);
    memset(t, 0, sizeof *t);
    for (int i = 0; i < MTR + MTE; i++) {
        int tr = i < MTR, r = tr ? i : i - MTR;
        float *x = (tr ? t->xtr : t->xte) + r * MD;
        uint8_t *k = (tr ? t->ktr : t->kte) + r * MK;
        int32_t *y = (tr ? t->ytr : t->yte) + r;
        if (r % 4 < 3) {
            int c = (r - r / 4) % MK; /* the r-th single-label sample */
            k[c] = 1;
            *y = c;
        } else {
            const int *p = pairs[(r / 4) % 6];
            k[p[0]] = k[p[1]] = 1;
            *y = p[0];
        }
        for (int d = 0; d < MD; d++)
            x[d] = (float)((d < MK && k[d] ? 2.0 : 0.0) + 0.5 * cl_rng_normal(&rng));
    }
    t->train = (cl_train_data){MTR, {MD, 1, 1}, MK, t->xtr, t->ytr, NULL, NULL, t->ktr};
    t->test = (cl_train_data){MTE, {MD, 1, 1}, MK, t->xte, t->yte, NULL, NULL, t->kte};
}

/* Trains 4 epochs of pal (sum or mean) with the study; skip: the study's
 * sweeps replace the trainer's eval passes. Returns the metrics.csv read back. */
static void run_bn(mtoy *t, const char *dir, cl_loss_cfg loss, int skip, int bn, cl_csv *c)
{
    cl_model *m = mlp(MD, MK, 3);
    cl_train_config cfg = toy_cfg(dir, 4);
    cfg.loss = loss;
    cl_study_opts o = cl_study_opts_default();
    o.plots = 1;
    o.bn_train = bn;
    cl_study *st;
    cr_assert_eq(cl_study_create(&st, &o, m, &t->train, &t->test, dir, 4), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(cl_study_initial(st, m, &cfg), CL_OK, "%s", cl_errmsg());
    if (skip) {
        cfg.skip_eval = cl_study_skip_eval;
        cfg.skip_eval_user = st;
    }
    cl_train_callback cb = {cl_study_epoch, st};
    cl_train_hooks hooks = {&cb, 1, NULL, NULL};
    cl_train_result res;
    cr_assert_eq(cl_train_run(&cfg, m, &t->train, &t->test, &hooks, &res), CL_OK, "%s",
                 cl_errmsg());
    cl_study_destroy(st);
    cl_model_destroy(m);
    char p[512];
    snprintf(p, sizeof p, "%s/metrics.csv", dir);
    cr_assert_eq(cl_csv_read(p, "", c), CL_OK, "%s", cl_errmsg());
}

static void run(mtoy *t, const char *dir, cl_loss_cfg loss, int skip, cl_csv *c)
{
    run_bn(t, dir, loss, skip, 0, c);
}

Test(study_mlab, pal_run_writes_mlab_columns)
{
    mtoy t;
    mtoy_make(&t);
    cl_csv c;
    run(&t, tpath("sum"), (cl_loss_cfg){CL_LOSS_PAL, CL_LOSS_PAL_SUM}, 1, &c);
    cr_assert_eq(c.nrows, 5); /* epoch 0 (initial) and 1..4 */
    int64_t last = c.nrows - 1;
    for (int k = 0; k < cl_mlab_key_count(); k++) {
        char name[64];
        snprintf(name, sizeof name, "test_%s", cl_mlab_key_name(k));
        cr_assert_geq(cl_csv_col(&c, cl_mlab_key_name(k)), 0, "%s", cl_mlab_key_name(k));
        cr_assert_geq(cl_csv_col(&c, name), 0, "%s", name);
    }
    cr_assert_eq(metric_of(&c, last, "mlab_sets"), 6);
    cr_assert_eq(metric_of(&c, last, "test_mlab_sets"), 6);
    double ang = metric_of(&c, last, "mlab_angle");
    cr_assert(ang >= 0 && ang < 90, "angle %g", ang);
    cr_assert(metric_of(&c, last, "mlab_scale_mean") > 0);
    /* an easy problem: exact-set accuracy and macro-F1 well above chance */
    cr_assert(metric_of(&c, last, "train_acc") > 0.6, "%g", metric_of(&c, last, "train_acc"));
    double f1 = metric_of(&c, last, "train_f1");
    cr_assert(f1 > 0.6 && f1 <= 1, "%g", f1);
    cr_assert(isfinite(metric_of(&c, last, "test_f1")));
    /* NC keys on the single-label rows: defined */
    cr_assert(isfinite(metric_of(&c, last, "nc1")) && isfinite(metric_of(&c, last, "etf_M")));
    cr_assert(isfinite(metric_of(&c, last, "nc3")));
    cl_csv_free(&c);
    cr_assert_eq(access(tpath("sum/mlab.png"), F_OK), 0);
}

/* The trainer's eval passes and the study's sweeps score the same logits:
 * the rows agree whichever measures them. */
Test(study_mlab, study_sweep_matches_trainer_eval)
{
    mtoy t;
    mtoy_make(&t);
    cl_csv a, b;
    cl_loss_cfg mean = {CL_LOSS_PAL, CL_LOSS_PAL_MEAN};
    run(&t, tpath("a"), mean, 1, &a);
    run(&t, tpath("b"), mean, 0, &b);
    const char *cols[] = {"train_loss", "train_acc", "test_loss", "test_acc", "train_f1",
                          "test_f1", "mlab_angle", "test_mlab_scale_cv", "nc1"};
    for (int r = 0; r < a.nrows; r++)
        for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
            cr_assert(metric_of(&a, r, cols[i]) == metric_of(&b, r, cols[i]), "row %d %s", r,
                      cols[i]);
    cl_csv_free(&a);
    cl_csv_free(&b);
}

Test(study_mlab, other_losses_refused_on_multilabel_data)
{
    mtoy t;
    mtoy_make(&t);
    cl_model *m = mlp(MD, MK, 3);
    cl_train_config cfg = toy_cfg(NULL, 1);
    cfg.loss = (cl_loss_cfg){CL_LOSS_MSE, 1};
    cl_train_result res;
    cr_assert_eq(cl_train_run(&cfg, m, &t.train, NULL, NULL, &res), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "--loss mse") && strstr(cl_errmsg(), "pal"), "%s",
              cl_errmsg());
    cr_assert_eq(res.steps, 0);
    cl_model_destroy(m);
}

/* The trainer's own evaluation on K-hot data: exact-set accuracy and F1 in
 * [0, 1], and cl_train_evaluate gives the same loss and accuracy. */
Test(study_mlab, evaluate_khot)
{
    mtoy t;
    mtoy_make(&t);
    cl_model *m = mlp(MD, MK, 3);
    cl_train_config cfg = toy_cfg(NULL, 3);
    cfg.loss = (cl_loss_cfg){CL_LOSS_PAL, CL_LOSS_PAL_SUM};
    cl_train_result res;
    cr_assert_eq(cl_train_run(&cfg, m, &t.train, &t.test, NULL, &res), CL_OK, "%s",
                 cl_errmsg());
    cl_khot_eval e;
    cr_assert_eq(cl_train_evaluate_khot(m, &t.test, &cfg.loss, &e), CL_OK, "%s", cl_errmsg());
    cr_assert(e.acc >= 0 && e.acc <= 1 && e.macro_f1 >= 0 && e.macro_f1 <= 1);
    cr_assert_eq(e.loss, res.test_loss);
    cr_assert_eq(e.acc, res.test_acc);
    double l, a;
    cr_assert_eq(cl_train_evaluate(m, &t.test, &cfg.loss, &l, &a), CL_OK);
    cr_assert(l == e.loss && a == e.acc);
    cl_model_destroy(m);
}

/* BN train mode: the eval values (and F1) come from the eval passes, also
 * at epoch 0 (analysed outside the trainer). */
Test(study_mlab, bn_train_mode_has_f1)
{
    mtoy t;
    mtoy_make(&t);
    cl_csv c;
    run_bn(&t, tpath("bn"), (cl_loss_cfg){CL_LOSS_PAL, CL_LOSS_PAL_MEAN}, 1, 1, &c);
    for (int r = 0; r < c.nrows; r++) {
        cr_assert(isfinite(metric_of(&c, r, "train_f1")), "row %d", r);
        cr_assert(isfinite(metric_of(&c, r, "test_f1")), "row %d", r);
        cr_assert(isfinite(metric_of(&c, r, "train_acc")), "row %d", r);
        cr_assert(isfinite(metric_of(&c, r, "mlab_angle")), "row %d", r);
    }
    cl_csv_free(&c);
}

/* Drops the last line of a text file (the final epoch's row). */
static void drop_last_line(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    cr_assert(n > 1 && n < sizeof buf - 1 && buf[n - 1] == '\n');
    size_t cut = n - 1;
    while (cut > 0 && buf[cut - 1] != '\n') cut--;
    f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(buf, 1, cut, f), cut);
    fclose(f);
}

/* A resumed multi-label run whose final row is missing (cl_study_finish)
 * writes it at the lr of the epoch's last batch as the trainer reports it:
 * the batches of the whole training split (96 samples: 6), not of its
 * single-label rows (72: 5). */
Test(study_mlab, finish_row_has_the_trainers_lr)
{
    mtoy t;
    mtoy_make(&t);
    const char *dir = tpath("fin");
    cl_model *m = mlp(MD, MK, 3);
    cl_train_config cfg = toy_cfg(dir, 4);
    cfg.loss = (cl_loss_cfg){CL_LOSS_PAL, CL_LOSS_PAL_SUM};
    cfg.sched = cl_sched_make(CL_SCHED_COSINE, 0.2, 4);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    o.layers = 0;
    cl_study *st;
    cr_assert_eq(cl_study_create(&st, &o, m, &t.train, &t.test, dir, 4), CL_OK, "%s",
                 cl_errmsg());
    cl_train_callback cb = {cl_study_epoch, st};
    cl_train_hooks hooks = {&cb, 1, NULL, NULL};
    cl_train_result res;
    cr_assert_eq(cl_train_run(&cfg, m, &t.train, &t.test, &hooks, &res), CL_OK, "%s",
                 cl_errmsg());
    cl_study_destroy(st);
    char p[512];
    snprintf(p, sizeof p, "%s/metrics.csv", dir);
    cl_csv c;
    cr_assert_eq(cl_csv_read(p, "", &c), CL_OK, "%s", cl_errmsg());
    const double lr = metric_of(&c, c.nrows - 1, "lr");
    cr_assert_eq(metric_of(&c, c.nrows - 1, "epoch"), 4);
    cl_csv_free(&c);
    drop_last_line(p);
    o.resume = 1;
    cr_assert_eq(cl_study_create(&st, &o, m, &t.train, &t.test, dir, 4), CL_OK, "%s",
                 cl_errmsg());
    int done = 0;
    cr_assert_eq(cl_study_finish(st, m, &cfg, &done), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(done, 1);
    cl_study_destroy(st);
    cr_assert_eq(cl_csv_read(p, "", &c), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(metric_of(&c, c.nrows - 1, "epoch"), 4);
    cr_assert(metric_of(&c, c.nrows - 1, "lr") == lr, "lr %.17g, the trainer's %.17g",
              metric_of(&c, c.nrows - 1, "lr"), lr);
    cl_csv_free(&c);
    cl_model_destroy(m);
}
