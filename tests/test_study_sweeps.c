/* The study's forward sweeps: the streamed (two-sweep) path against the
 * cached one, BN in train mode (He & Su), and sweeps that replace the
 * trainer's eval passes giving the same rows. */
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

TestSuite(study_sweeps, .init = tc_tmp_init, .fini = tc_tmp_fini);

Test(study_sweeps, streamed_matches_cached)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    o.save_features = 0;
    toy_run(&t, tpath("cached"), &o, 2, NULL);
    o.cache_mb = 0; /* every tap streamed: two sweeps per split */
    toy_run(&t, tpath("streamed"), &o, 2, NULL);
    cl_csv a, b;
    cr_assert_eq(cl_csv_read(tpath("cached/metrics.csv"), "", &a), CL_OK);
    cr_assert_eq(cl_csv_read(tpath("streamed/metrics.csv"), "", &b), CL_OK);
    cr_assert_eq(a.nrows, 3);
    cr_assert_eq(b.nrows, 3);
    for (int64_t r = 0; r < 3; r++)
        for (int k = 0; k < a.ncols - 2; k++) { /* not the timings */
            double x = a.num[r * a.ncols + k], z = b.num[r * b.ncols + k];
            cr_assert(fabs(x - z) <= 1e-9 * fmax(1, fabs(x)) || (isnan(x) && isnan(z)),
                      "row %ld %s: %.17g vs %.17g", (long)r, a.names[k], x, z);
        }
    cr_assert_eq(access(tpath("cached/features_train.npy"), F_OK), -1); /* save_features = 0 */
    cl_csv_free(&a);
    cl_csv_free(&b);
}

/* BN in train mode for the sweeps (He & Su): batch statistics change the
 * features (so the metrics), the model's running statistics are untouched,
 * and the two-sweep path agrees with the cached one. */
Test(study_sweeps, bn_train_mode)
{
    toy t;
    toy_make(&t);
    cl_layer_spec s[4] = {tc_spec(CL_LAYER_LINEAR, 8), tc_spec(CL_LAYER_BATCHNORM, 0),
                          tc_spec(CL_LAYER_RELU, 0), tc_spec(CL_LAYER_LINEAR, KC)};
    s[3].classifier = 1;
    cl_rng rng;
    cl_rng_seed(&rng, 5);
    cl_model *m;
    cr_assert_eq(cl_model_create(&m, (cl_shape){DIN, 1, 1}, s, 4, &rng), CL_OK, "%s",
                 cl_errmsg());
    cl_train_config cfg = toy_cfg(tpath("x"), 2);
    cfg.epochs = 1;
    cl_train_result res;
    cr_assert_eq(cl_train_run(&cfg, m, &t.train, &t.test, NULL, &res), CL_OK, "%s", cl_errmsg());
    float *bufs = malloc(sizeof(float) * (size_t)m->nbufs);
    memcpy(bufs, m->bufs, sizeof(float) * (size_t)m->nbufs);

    const char *names[3] = {"eval", "train", "train_streamed"};
    for (int v = 0; v < 3; v++) {
        cl_study_opts o = cl_study_opts_default();
        o.plots = 0;
        o.bn_train = v > 0;
        o.cache_mb = v == 2 ? 0 : 512;
        o.save_features = 0;
        cl_study *st;
        cr_assert_eq(cl_study_create(&st, &o, m, &t.train, &t.test, tpath(names[v]), 1), CL_OK);
        cl_epoch_info info = {0};
        info.epoch = 1;
        info.epochs = 1;
        info.model = m;
        info.train = &t.train;
        info.test = &t.test;
        info.cfg = &cfg;
        /* not measured by the trainer: the study's eval-mode sweep fills them in */
        info.train_loss = info.train_acc = info.test_loss = info.test_acc = NAN;
        cr_assert_eq(cl_study_epoch(&info, st), CL_OK, "%s", cl_errmsg());
        cl_study_destroy(st);
        cr_assert_eq(memcmp(bufs, m->bufs, sizeof(float) * (size_t)m->nbufs), 0);
    }
    cl_csv c[3];
    char p[300];
    for (int v = 0; v < 3; v++) {
        snprintf(p, sizeof p, "%s/metrics.csv", tpath(names[v]));
        cr_assert_eq(cl_csv_read(p, "", &c[v]), CL_OK, "%s", cl_errmsg());
        cr_assert_eq(c[v].nrows, 1);
    }
    double tl, ta, sl, sa;
    cr_assert_eq(cl_train_evaluate(m, &t.train, &cfg.loss, &tl, &ta), CL_OK);
    cr_assert_eq(cl_train_evaluate(m, &t.test, &cfg.loss, &sl, &sa), CL_OK);
    cr_assert_eq(metric_of(&c[0], 0, "train_loss"), tl);
    cr_assert_eq(metric_of(&c[0], 0, "train_acc"), ta);
    cr_assert_eq(metric_of(&c[0], 0, "test_loss"), sl);
    cr_assert_eq(metric_of(&c[0], 0, "test_acc"), sa);
    cr_assert(isnan(metric_of(&c[1], 0, "train_loss"))); /* BN train mode: not eval logits */
    double nc1_eval = metric_of(&c[0], 0, "nc1"), nc1_train = metric_of(&c[1], 0, "nc1");
    cr_assert_neq(nc1_eval, nc1_train);
    cr_assert_float_eq(nc1_train, metric_of(&c[2], 0, "nc1"), 1e-9 * nc1_train);
    for (int v = 0; v < 3; v++) cl_csv_free(&c[v]);
    free(bufs);
    cl_model_destroy(m);
}

/* With cfg.skip_eval = cl_study_skip_eval the trainer runs no eval passes on
 * analyzed epochs; the rows must hold exactly the values the trainer's
 * passes give. */
Test(study_sweeps, skip_eval_gives_the_same_rows)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    o.every = 2;
    char d1[256], d2[256];
    snprintf(d1, sizeof d1, "%s", tpath("noskip"));
    snprintf(d2, sizeof d2, "%s", tpath("skip"));
    toy_run_ex(&t, d1, &o, 4, NULL, 0);
    toy_run_ex(&t, d2, &o, 4, NULL, 1);
    cl_csv a, b;
    cr_assert_eq(cl_csv_read(tpath("noskip/metrics.csv"), "", &a), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_csv_read(tpath("skip/metrics.csv"), "", &b), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(a.nrows, 3); /* epochs 0, 2, 4 */
    cr_assert_eq(b.nrows, a.nrows);
    for (int64_t r = 0; r < a.nrows; r++)
        for (int k = 0; k < a.ncols - 2; k++) /* all but the two timing columns */
            cr_assert_eq(a.num[r * a.ncols + k], b.num[r * b.ncols + k], "row %lld col %s",
                         (long long)r, a.names[k]);
    cl_csv_free(&a);
    cl_csv_free(&b);

    /* which epochs are skipped: analyzed ones, and never in BN train mode */
    cl_model *m = mlp(DIN, KC, 3);
    cl_study *st;
    cr_assert_eq(cl_study_create(&st, &o, m, &t.train, &t.test, tpath("q"), 4), CL_OK);
    cr_assert_eq(cl_study_skip_eval(st, 1), 0);
    cr_assert_eq(cl_study_skip_eval(st, 2), 1);
    cr_assert_eq(cl_study_skip_eval(st, 4), 1);
    double v[4];
    cr_assert_eq(cl_study_eval_values(st, 2, v), 0); /* nothing analyzed yet */
    cl_study_destroy(st);
    o.bn_train = 1;
    cr_assert_eq(cl_study_create(&st, &o, m, &t.train, &t.test, tpath("q2"), 4), CL_OK);
    cr_assert_eq(cl_study_skip_eval(st, 2), 0);
    cl_study_destroy(st);
    cl_model_destroy(m);
}
