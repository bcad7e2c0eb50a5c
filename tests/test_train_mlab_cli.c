/* Multi-label training end to end, run as a child process ($COLLAPSE_BIN):
 * a small mlab-mnist made by `collapse data make`, `collapse train --loss
 * pal` writing the multi-label columns (macro-F1, mlab keys) and mlab.png,
 * the refusal of another loss before --out exists, `collapse eval` with the
 * exact-set accuracy and per-label F1, features + analyze reproducing the
 * last row's mlab keys, and pal on single-label data = ce. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "collapse/csv.h"
#include "collapse/data.h"
#include "common.h"

static void make_data(ctx *c, char *dir, size_t cap)
{
    sub(dir, cap, "%s/d", c->dir);
    const char *a[] = {"data", "make", "mlab-mnist", "--to", dir, "--train-sizes", "12,3",
                       "--test-sizes", "6,2", NULL};
    run_ok(c, a);
}

static void train(ctx *c, const char *data, const char *loss, const char *out)
{
    char model[160];
    small_model(c, model, sizeof model);
    const char *a[] = {"train", "--model", model, "--data", data, "--loss", loss, "--epochs", "2",
                       "--batch", "64", "--lr", "0.05", "--threads", "1", "--analyze", "all",
                       "--no-layers", "--normalize", "--out", out, NULL};
    run_ok(c, a);
}

Test(train_mlab_cli, pal_train_eval_and_refusal, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "mlab");
    char data[128], out[160], p[200];
    make_data(&c, data, sizeof data);
    sub(out, sizeof out, "%s/run", c.dir);
    train(&c, data, "pal", out);
    char *o = tc_slurp(c.out, NULL);
    cr_assert(o && strstr(o, "  F1 "), "%s", o);
    free(o);
    sub(p, sizeof p, "%s/metrics.csv", out);
    cl_csv t;
    cr_assert_eq(cl_csv_read(p, "", &t), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(t.nrows, 3); /* epochs 0, 1, 2 */
    const char *cols[] = {"train_f1", "test_f1", "mlab_sets", "test_mlab_sets", "mlab_angle",
                          "test_mlab_angle", "mlab_scale_mean", "mlab_scale_cv"};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        int col;
        cr_assert_eq(cl_csv_need(&t, cols[i], &col), CL_OK, "%s", cols[i]);
        for (int r = 0; r < t.nrows; r++)
            cr_assert(isfinite(t.num[r * t.ncols + col]), "%s row %d", cols[i], r);
    }
    int col;
    cr_assert_eq(cl_csv_need(&t, "mlab_sets", &col), CL_OK);
    cr_assert_eq(t.num[col], 45); /* every pair of digits */
    cr_assert_eq(cl_csv_need(&t, "mlab_angle", &col), CL_OK);
    double angle = t.num[(t.nrows - 1) * t.ncols + col];
    cl_csv_free(&t);

    /* features (labels_khot.npy) + analyze give the last row's mlab keys */
    char feat[160], fa[200], fy[200], fw[200], fb[200];
    sub(feat, sizeof feat, "%s/feat", c.dir);
    const char *fe[] = {"features", out, "--out", feat, NULL};
    run_ok(&c, fe);
    sub(fa, sizeof fa, "%s/features.npy", feat);
    sub(fy, sizeof fy, "%s/labels_khot.npy", feat);
    sub(fw, sizeof fw, "%s/W.npy", feat);
    sub(fb, sizeof fb, "%s/b.npy", feat);
    const char *an[] = {"analyze", "--features", fa, "--labels", fy, "--weights", fw,
                        "--bias", fb, "--json", NULL};
    run_ok(&c, an);
    char *js = tc_slurp(c.out, NULL), *k = js ? strstr(js, "\"mlab_angle\":") : NULL;
    cr_assert(k, "%s", js);
    double a2 = strtod(k + strlen("\"mlab_angle\":"), NULL);
    cr_assert(fabs(a2 - angle) <= 1e-4 * angle, "analyze %.9g, study %.9g", a2, angle);
    free(js);
    sub(p, sizeof p, "%s/mlab.png", out);
    cr_assert_eq(access(p, F_OK), 0);

    /* eval: exact-set accuracy, macro-F1 and the F1 of each of the 10 labels */
    const char *ev[] = {"eval", out, "--split", "test", NULL};
    run_ok(&c, ev);
    o = tc_slurp(c.out, NULL);
    cr_assert(o && strstr(o, "loss pal") && strstr(o, "macro-F1") &&
                  strstr(o, "F1 per label:"),
              "%s", o);
    free(o);

    /* another loss: one line naming --loss, nothing written */
    char out2[160];
    sub(out2, sizeof out2, "%s/ce", c.dir);
    const char *bad[] = {"train", "--arch", "mlp", "--data", data, "--loss", "ce",
                         "--epochs", "1", "--out", out2, NULL};
    cr_assert_eq(run(&c, bad), 2);
    char *e = tc_slurp(c.err, NULL);
    cr_assert(e && strstr(e, "--loss ce cannot train on multi-label data"), "%s", e);
    free(e);
    cr_assert_neq(access(out2, F_OK), 0);
    ctx_done(&c);
}

/* On single-label data pal is CE: the same metrics, bit for bit. */
Test(train_mlab_cli, pal_on_single_label_data_is_ce, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "palce");
    char a[160], b[160];
    sub(a, sizeof a, "%s/ce", c.dir);
    sub(b, sizeof b, "%s/pal", c.dir);
    char model[160];
    small_model(&c, model, sizeof model);
    const char *base[] = {"train", "--model", model, "--data", "mnist", "--train-per-class", "10",
                          "--test-per-class", "5", "--epochs", "1", "--batch", "50",
                          "--threads", "1", "--no-plots", "--no-layers", "--loss", NULL, "--out",
                          NULL, NULL};
    base[18] = "ce";
    base[20] = a;
    run_ok(&c, base);
    base[18] = "pal";
    base[20] = b;
    run_ok(&c, base);
    char pa[200], pb[200];
    sub(pa, sizeof pa, "%s/metrics.csv", a);
    sub(pb, sizeof pb, "%s/metrics.csv", b);
    cl_csv ta, tb;
    cr_assert_eq(cl_csv_read(pa, "", &ta), CL_OK);
    cr_assert_eq(cl_csv_read(pb, "", &tb), CL_OK);
    cr_assert_eq(ta.ncols, tb.ncols); /* no multi-label columns */
    cr_assert_eq(cl_csv_col(&tb, "train_f1"), -1);
    const char *keys[] = {"train_loss", "train_acc", "test_loss", "nc1", "etf_M"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int ca = cl_csv_col(&ta, keys[i]);
        for (int r = 0; r < ta.nrows; r++)
            cr_assert(ta.num[r * ta.ncols + ca] == tb.num[r * tb.ncols + ca], "%s", keys[i]);
    }
    cl_csv_free(&ta);
    cl_csv_free(&tb);
    ctx_done(&c);
}

/* Multi-label data without single-label samples: the study cannot measure
 * its NC keys; one line naming --data, before --out exists. */
Test(train_mlab_cli, no_single_label_samples_refused_before_out, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "nosingle");
    char data[128], out[160];
    sub(data, sizeof data, "%s/d", c.dir);
    const char *mk[] = {"data", "make", "mlab-mnist", "--to", data, "--train-sizes", "0,1",
                        "--test-sizes", "0,1", NULL};
    run_ok(&c, mk);
    sub(out, sizeof out, "%s/run", c.dir);
    const char *a[] = {"train", "--arch", "mlp", "--data", data, "--loss", "pal", "--epochs", "1",
                       "--threads", "1", "--out", out, NULL};
    cr_assert_eq(run(&c, a), 1);
    char *e = tc_slurp(c.err, NULL);
    cr_assert(e && strstr(e, "--data") && strstr(e, "class 0 has no single-label sample in the training"), "%s", e);
    free(e);
    cr_assert_neq(access(out, F_OK), 0);
    ctx_done(&c);
}

/* A K-hot IDX folder where class 0 appears only with another label: the
 * study could not measure class 0's NC keys (it failed at epoch 0 after
 * writing config.json and the first rows); refused before --out. */
Test(train_mlab_cli, class_without_single_label_samples_refused, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "noclass0");
    enum { N = 8, K = 3 };
    static float x[N * 4];
    static int32_t y[N];
    static uint8_t yk[N * K];
    static const uint8_t rows[N][K] = {{1, 1, 0}, {0, 1, 0}, {0, 0, 1}, {0, 1, 1},
                                       {1, 0, 1}, {0, 1, 0}, {0, 0, 1}, {0, 1, 1}};
    for (int i = 0; i < N; i++) {
        for (int k = K - 1; k >= 0; k--)
            if ((yk[i * K + k] = rows[i][k])) y[i] = k;
        for (int j = 0; j < 4; j++) x[i * 4 + j] = (float)((i + j) % 3) / 2.0f;
    }
    cl_dataset d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "toy");
    d.n = N;
    d.shape = (cl_shape){1, 2, 2};
    d.classes = K;
    d.x = x;
    d.y = y;
    d.yk = yk;
    char data[128], out[160];
    sub(data, sizeof data, "%s/d", c.dir);
    cr_assert_eq(cl_data_save_idx(&d, &d, data), CL_OK, "%s", cl_errmsg());
    sub(out, sizeof out, "%s/run", c.dir);
    const char *a[] = {"train", "--arch", "mlp", "--data", data, "--loss", "pal", "--epochs", "1",
                       "--threads", "1", "--out", out, NULL};
    cr_assert_eq(run(&c, a), 1);
    char *e = tc_slurp(c.err, NULL);
    cr_assert(e && strstr(e, "class 0 has no single-label sample"), "%s", e);
    free(e);
    cr_assert_neq(access(out, F_OK), 0);
    ctx_done(&c);
}
