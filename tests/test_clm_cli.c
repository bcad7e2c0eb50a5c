/* --loss clm end to end, run as a child process ($COLLAPSE_BIN): the
 * ordinal head (1-unit latent + learned thresholds), metrics.csv with the
 * onc columns and NAN classifier keys, `collapse analyze --thresholds`
 * reproducing the last row from the saved .npy files, a bit-exact resume,
 * and the thresholds mode in the resume hash. Fashion-MNIST subsets (its
 * ten classes taken as ordered). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "collapse/csv.h"
#include "common.h"

#define CLM_RUN(model, out, thr)                                                           \
    "train", "--model", model, "--data", "fashion", "--train-per-class", "30",             \
        "--test-per-class", "10", "--batch", "50", "--epochs", "4", "--lr", "0.02",        \
        "--seed", "5", "--threads", "1", "--analyze", "all", "--no-plots", "--loss", "clm", \
        "--clm-thresholds", thr, "--out", out

static const char *mlp_model(ctx *c, char *buf, size_t cap)
{
    sub(buf, cap, "%s/mlp.cfg", c->dir);
    FILE *f = fopen(buf, "w");
    cr_assert(f);
    fputs("[model]\ntype = mlp\nwidth = 48\ndepth = 2\n", f);
    fclose(f);
    return buf;
}

/* Column `name` of the last row of DIR/metrics.csv. */
static double last_value(const char *dir, const char *name)
{
    char p[300];
    sub(p, sizeof p, "%s/metrics.csv", dir);
    cl_csv t;
    cr_assert_eq(cl_csv_read(p, "", &t), CL_OK, "%s", cl_errmsg());
    int col;
    cr_assert_eq(cl_csv_need(&t, name, &col), CL_OK, "%s", cl_errmsg());
    double v = t.num[(t.nrows - 1) * t.ncols + col];
    cl_csv_free(&t);
    return v;
}

/* metrics.csv without the two timing columns (epoch_seconds and
 * analysis_seconds, right after test_ncc_acc_train_means). */
static char *rows_without_times(const char *dir)
{
    char p[300];
    sub(p, sizeof p, "%s/metrics.csv", dir);
    char *s = tc_slurp(p, NULL), *o = malloc(strlen(s) + 1), *w = o;
    cr_assert(s && o);
    char *h = strstr(s, "test_ncc_acc_train_means");
    cr_assert(h && h < strchr(s, '\n'));
    int tcol = 0, col = 0;
    for (char *q = s; q < h; q++) tcol += *q == ',';
    for (char *q = s; *q; q++) {
        if (*q == '\n') { /* always kept; the next line starts at column 0 */
            *w++ = *q;
            col = 0;
            continue;
        }
        if (col != tcol + 1 && col != tcol + 2) *w++ = *q; /* a field and its comma */
        col += *q == ',';
    }
    *w = 0;
    free(s);
    return o;
}

Test(clm_cli, ordinal_run_rows_analyze_and_resume, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "clm");
    char model[256], ra[256], rb[256];
    mlp_model(&c, model, sizeof model);
    sub(ra, sizeof ra, "%s/a", c.dir);
    sub(rb, sizeof rb, "%s/b", c.dir);
    const char *a[] = {CLM_RUN(model, ra, "learned=0.5"), NULL};
    run_ok(&c, a);
    char *so = tc_slurp(c.out, NULL);
    cr_assert(strstr(so, "cumlink") && strstr(so, "learned thresholds"), "%s", so);
    free(so);

    /* the classifier keys that need a K x dim W are nan; the onc keys are numbers */
    cr_assert(isnan(last_value(ra, "nc3")) && isnan(last_value(ra, "test_nc4")));
    cr_assert(isfinite(last_value(ra, "nc1")));
    const char *keys[] = {"onc1", "onc2", "onc3_tau", "onc3_mid"};
    for (int i = 0; i < 4; i++) {
        char tk[32];
        sub(tk, sizeof tk, "test_%s", keys[i]);
        cr_assert(isfinite(last_value(ra, keys[i])) && isfinite(last_value(ra, tk)), "%s",
                  keys[i]);
    }
    cr_assert_eq(last_value(ra, "onc1"), last_value(ra, "nc1_quotient"), "onc1 = nc1_quotient");

    /* collapse analyze --thresholds on the saved files gives the last row */
    char f[300], y[300], w[300], b[300];
    sub(f, sizeof f, "%s/features_train.npy", ra);
    sub(y, sizeof y, "%s/labels_train.npy", ra);
    sub(w, sizeof w, "%s/W.npy", ra);
    sub(b, sizeof b, "%s/thresholds.npy", ra);
    const char *an[] = {"analyze", "--features", f, "--labels", y, "--weights", w,
                        "--thresholds", b, "--json", NULL};
    run_ok(&c, an);
    char *js = tc_slurp(c.out, NULL);
    for (int i = 0; i < 4; i++) {
        char key[32];
        sub(key, sizeof key, "\"%s\":", keys[i]);
        char *p = strstr(js, key);
        cr_assert(p, "%s missing: %s", key, js);
        double v = strtod(p + strlen(key), NULL);
        cr_assert_eq(v, last_value(ra, keys[i]), "%s: analyze %.17g, row %.17g", keys[i], v,
                     last_value(ra, keys[i]));
    }
    free(js);

    /* stopped after 2 of 4 epochs (6 steps each) and resumed: the same rows */
    const char *b1[] = {CLM_RUN(model, rb, "learned=0.5"), "--max-steps", "12", NULL};
    run_ok(&c, b1);
    const char *b2[] = {CLM_RUN(model, rb, "learned=0.5"), "--resume", NULL};
    run_ok(&c, b2);
    char *ta = rows_without_times(ra), *tb = rows_without_times(rb);
    int lines = 0;
    for (char *q = ta; *q; q++) lines += *q == '\n';
    cr_assert(lines == 6 && strstr(ta, ",test_onc3_mid\n"), "header + epochs 0..4: %s", ta);
    cr_assert_str_eq(ta, tb, "resumed rows differ");
    free(ta);
    free(tb);
    char pa[300], pb[300];
    sub(pa, sizeof pa, "%s/thresholds.npy", ra);
    sub(pb, sizeof pb, "%s/thresholds.npy", rb);
    size_t la, lb;
    char *xa = tc_slurp(pa, &la), *xb = tc_slurp(pb, &lb);
    cr_assert(la == lb && !memcmp(xa, xb, la), "learned thresholds differ after resume");
    free(xa);
    free(xb);

    /* the thresholds mode is part of the run: a resume with another is refused */
    const char *other[] = {CLM_RUN(model, rb, "fixed=0.5"), "--resume", NULL};
    cr_assert_neq(run(&c, other), 0);
    ctx_done(&c);
}

Test(clm_cli, flag_errors)
{
    ctx c;
    ctx_init(&c, "clmflags");
    char model[256], out[256];
    mlp_model(&c, model, sizeof model);
    sub(out, sizeof out, "%s/x", c.dir);
    const struct {
        const char *flag, *val, *flag2, *val2, *want;
    } cases[] = {
        {"--loss", "ce", "--clm-thresholds", "fixed", "needs --loss clm"},
        {"--loss", "clm", "--clm-thresholds", "sorted", "unknown mode 'sorted'"},
        {"--loss", "clm", "--clm-thresholds", "fixed=-1", "--clm-thresholds"},
        {"--loss", "clm", "--classifier", "etf", "builds its own head"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *a[] = {"train", "--model", model, "--data", "fashion", "--epochs", "1",
                           cases[i].flag, cases[i].val, cases[i].flag2, cases[i].val2,
                           "--out", out, NULL};
        cr_assert_eq(run(&c, a), 2, "case %zu", i);
        char *err = tc_slurp(c.err, NULL);
        cr_assert(strstr(err, cases[i].want), "case %zu: %s", i, err);
        free(err);
    }
    ctx_done(&c);
}
