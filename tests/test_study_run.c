/* The per-epoch collapse study inside a real (tiny) training run: the
 * callback writing metrics.csv / layers.csv / .npy / PNGs, exact
 * reproduction of the last row from the saved .npy files, and resume
 * without duplicated rows. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "collapse/study.h"
#include "collapse/train.h"
#include "common.h"
#include "study_common.h"

TestSuite(study_run, .init = tc_tmp_init, .fini = tc_tmp_fini);

static const char metrics_hdr[] =
    "epoch,lr,train_loss,train_acc,test_loss,test_acc,nc1,D,nc1_quotient,cdnv,equinorm_M,"
    "equinorm_W,equiangular_M,equiangular_W,maxangle_M,maxangle_W,etf_M,etf_W,nc3,nc3_zhu,"
    "nc4,ncc_acc,test_nc1,test_D,test_nc1_quotient,test_cdnv,test_equinorm_M,test_equinorm_W,"
    "test_equiangular_M,test_equiangular_W,test_maxangle_M,test_maxangle_W,test_etf_M,"
    "test_etf_W,test_nc3,test_nc3_zhu,test_nc4,test_ncc_acc,test_ncc_acc_train_means,"
    "epoch_seconds,analysis_seconds";

static void first_line(const char *path, char *buf, int cap)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s missing", path);
    cr_assert(fgets(buf, cap, f));
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
}

Test(study_run, callback_writes_results)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tpath("run"));
    toy_run(&t, dir, &o, 4, NULL);

    char line[2048];
    first_line(tpath("run/metrics.csv"), line, sizeof line);
    cr_assert_str_eq(line, metrics_hdr);
    first_line(tpath("run/layers.csv"), line, sizeof line);
    cr_assert_str_eq(line, "epoch,layer,name,dim,D,nc1,rho,r2,r,intercept");

    cl_csv c;
    cr_assert_eq(cl_csv_read(tpath("run/metrics.csv"), "", &c), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(c.nrows, 5); /* epochs 0 (initial), 1, 2, 3, 4 */
    for (int r = 0; r < 5; r++) {
        cr_assert_eq(c.num[r * c.ncols], r);
        for (int k = 1; k < c.ncols; k++)
            cr_assert(isfinite(c.num[r * c.ncols + k]), "row %d col %s", r, c.names[k]);
        /* nc1 = D / K, train acc in [0, 1] */
        double nc1 = c.num[r * c.ncols + cl_csv_col(&c, "nc1")];
        double D = c.num[r * c.ncols + cl_csv_col(&c, "D")];
        cr_assert_float_eq(nc1 * KC, D, 1e-9 * D);
        double acc = c.num[r * c.ncols + cl_csv_col(&c, "train_acc")];
        cr_assert(acc >= 0 && acc <= 1);
    }
    /* learning happened: the last epoch separates the toy classes */
    cr_assert_gt(c.num[4 * c.ncols + cl_csv_col(&c, "train_acc")], 0.8);
    cl_csv_free(&c);

    cr_assert_eq(cl_csv_read(tpath("run/layers.csv"), "layer,name", &c), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(c.nrows, 5 * 4); /* 3 taps + 1 fit row per analyzed epoch */
    int cl = cl_csv_col(&c, "layer"), cn = cl_csv_col(&c, "name"), cd = cl_csv_col(&c, "dim");
    int crho = cl_csv_col(&c, "rho");
    for (int r = 0; r < 20; r++) {
        int e = r / 4, l = r % 4;
        cr_assert_eq(c.num[r * c.ncols], e);
        if (l < 3) {
            cr_assert_eq(c.num[r * c.ncols + cl], l);
            cr_assert(isnan(c.num[r * c.ncols + crho])); /* empty on layer rows */
            cr_assert_gt(c.num[r * c.ncols + cl_csv_col(&c, "D")], 0);
        } else {
            cr_assert_str_eq(c.txt[r * c.ncols + cl], "fit");
            cr_assert_str_eq(c.txt[r * c.ncols + cn], "fit");
            cr_assert(isnan(c.num[r * c.ncols + cd]));
            cr_assert_gt(c.num[r * c.ncols + crho], 0);
            double r2 = c.num[r * c.ncols + cl_csv_col(&c, "r2")];
            cr_assert(r2 >= 0 && r2 <= 1 + 1e-12);
        }
    }
    cr_assert_str_eq(c.txt[0 * c.ncols + cn], "input");
    cr_assert_eq(c.num[0 * c.ncols + cd], DIN);
    cr_assert_eq(c.num[2 * c.ncols + cd], 6);
    cl_csv_free(&c);

    const char *figs[] = {"nc1.png", "nc2.png", "nc3.png", "nc4.png", "accuracy.png",
                          "layers.png"};
    for (int i = 0; i < 6; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", dir, figs[i]);
        cr_assert(tc_is_png(p), "%s", p);
    }
}

Test(study_run, npy_reproduce_last_row_exactly)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    cl_model *m;
    toy_run(&t, tpath("run"), &o, 3, &m);

    float *H, *W, *b;
    int32_t *y;
    int nd;
    int64_t sh[8], shw[8], shb[8], shy[8];
    cr_assert_eq(cl_npy_read_f32(tpath("run/features_train.npy"), &H, &nd, sh), CL_OK, "%s",
                 cl_errmsg());
    cr_assert(nd == 2 && sh[0] == NTR && sh[1] == 6);
    cr_assert_eq(cl_npy_read_f32(tpath("run/W.npy"), &W, &nd, shw), CL_OK);
    cr_assert(nd == 2 && shw[0] == KC && shw[1] == 6);
    cr_assert_eq(cl_npy_read_f32(tpath("run/b.npy"), &b, &nd, shb), CL_OK);
    cr_assert(nd == 1 && shb[0] == KC);
    cr_assert_eq(cl_npy_read_i32(tpath("run/labels_train.npy"), &y, &nd, shy), CL_OK);
    cr_assert(nd == 1 && shy[0] == NTR);
    cr_assert_eq(memcmp(y, t.ytr, sizeof t.ytr), 0);

    cl_nc_opts no = cl_nc_opts_default();
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(H, NTR, 6, y, KC, W, b, &no, &r), CL_OK, "%s", cl_errmsg());
    cl_csv c;
    cr_assert_eq(cl_csv_read(tpath("run/metrics.csv"), "", &c), CL_OK);
    int64_t last = c.nrows - 1;
    cr_assert_eq(metric_of(&c, last, "epoch"), 3);
    int checked = 0;
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        if (!strcmp(cl_nc_key_name(i), "acc")) continue;
        if (!cl_nc_has_group(&r, cl_nc_key_group(i))) continue; /* balanced: base columns */
        double want = cl_nc_key_value(&r, i), got = metric_of(&c, last, cl_nc_key_name(i));
        cr_assert(want == got || (isnan(want) && isnan(got)), "%s: %.17g vs %.17g",
                  cl_nc_key_name(i), want, got);
        checked++;
    }
    cr_assert_eq(checked, 16);
    /* classifier accuracy from the analyzer = the eval-mode train accuracy */
    cr_assert_float_eq(r.acc, metric_of(&c, last, "train_acc"), 1e-12);

    /* held-out nearest-class-mean accuracy: test features of the final model
     * against the class means of the saved training features */
    double mu[KC * 6] = {0}, mu2[KC] = {0};
    int64_t cnt[KC] = {0};
    for (int i = 0; i < NTR; i++) {
        cnt[y[i]]++;
        for (int d = 0; d < 6; d++) mu[y[i] * 6 + d] += H[i * 6 + d];
    }
    for (int k = 0; k < KC; k++)
        for (int d = 0; d < 6; d++) {
            mu[k * 6 + d] /= (double)cnt[k];
            mu2[k] += mu[k * 6 + d] * mu[k * 6 + d];
        }
    cr_assert_eq(cl_model_alloc(m, NTE), CL_OK);
    cl_model_forward(m, t.xte, NTE, 0);
    const float *Hte = m->acts[cl_model_classifier_index(m) - 1]; /* [NTE, 6] */
    int ok = 0;
    for (int i = 0; i < NTE; i++) {
        int best = 0;
        double bv = INFINITY;
        for (int k = 0; k < KC; k++) {
            double dist = 0;
            for (int d = 0; d < 6; d++) {
                double v = Hte[i * 6 + d] - mu[k * 6 + d];
                dist += v * v;
            }
            if (dist < bv) {
                bv = dist;
                best = k;
            }
        }
        ok += best == t.yte[i];
    }
    cr_assert_float_eq(metric_of(&c, last, "test_ncc_acc_train_means"), (double)ok / NTE, 1e-12,
                       "held-out NCC %g vs %g", metric_of(&c, last, "test_ncc_acc_train_means"),
                       (double)ok / NTE);
    cl_model_destroy(m);
    cl_csv_free(&c);
    cl_free(H);
    cl_free(W);
    cl_free(b);
    cl_free(y);
}

Test(study_run, resume_appends_without_duplicates)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    cl_model *m;
    toy_run(&t, tpath("run"), &o, 4, &m); /* rows 0..4 */
    cr_assert_eq(tc_count_lines(tpath("run/metrics.csv")), 6);
    /* a half-written last line from a killed run is dropped too */
    FILE *f = fopen(tpath("run/metrics.csv"), "a");
    fputs("5,0.1,0.3", f);
    fclose(f);

    /* a resumed session whose first finished epoch is 3: rows 3, 4 go, 3 is rewritten */
    o.resume = 1;
    cl_study *st;
    cr_assert_eq(cl_study_create(&st, &o, m, &t.train, &t.test, tpath("run"), 4), CL_OK);
    cl_train_config cfg = toy_cfg(tpath("run"), 4);
    cr_assert_eq(cl_study_initial(st, m, &cfg), CL_OK); /* no-op when resuming */
    cl_epoch_info info = {0};
    info.epoch = 3;
    info.epochs = 4;
    info.lr = 0.05;
    info.train_loss = 0.5;
    info.train_acc = 0.9;
    info.test_loss = 0.6;
    info.test_acc = 0.8;
    info.model = m;
    info.train = &t.train;
    info.test = &t.test;
    info.cfg = &cfg;
    cr_assert_eq(cl_study_epoch(&info, st), CL_OK, "%s", cl_errmsg());
    info.epoch = 4;
    cr_assert_eq(cl_study_epoch(&info, st), CL_OK, "%s", cl_errmsg());
    cl_study_destroy(st);

    cl_csv c;
    cr_assert_eq(cl_csv_read(tpath("run/metrics.csv"), "", &c), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(c.nrows, 5);
    for (int r = 0; r < 5; r++) cr_assert_eq(c.num[r * c.ncols], r);
    cr_assert_eq(metric_of(&c, 3, "train_loss"), 0.5); /* the new row */
    cl_csv_free(&c);
    cr_assert_eq(cl_csv_read(tpath("run/layers.csv"), "layer,name", &c), CL_OK);
    cr_assert_eq(c.nrows, 20);
    for (int r = 0; r < 20; r++) cr_assert_eq(c.num[r * c.ncols], r / 4);
    cl_csv_free(&c);
    cl_model_destroy(m);

    /* a file from another version cannot be resumed into */
    f = fopen(tpath("run/metrics.csv"), "w");
    fputs("epoch,something_else\n1,2\n", f);
    fclose(f);
    cl_model *m2 = mlp(DIN, KC, 3);
    cr_assert_eq(cl_model_alloc(m2, 16), CL_OK);
    cr_assert_eq(cl_study_create(&st, &o, m2, &t.train, &t.test, tpath("run"), 4), CL_OK);
    info.model = m2;
    cr_assert_eq(cl_study_epoch(&info, st), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "metrics.csv"), "%s", cl_errmsg());
    cl_study_destroy(st);
    cl_model_destroy(m2);
}
