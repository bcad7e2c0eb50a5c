/* The study's metrics.csv column groups (issue 15): an unbalanced training
 * split adds the imbalance columns for both splits, with the training
 * split's minority set, reproduced by cl_nc_analyze on the saved features;
 * a balanced run keeps the base columns only. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "collapse/study.h"
#include "common.h"
#include "study_common.h"

TestSuite(nc_study, .init = tc_tmp_init, .fini = tc_tmp_fini);

/* The run's saved last-epoch features, W, b and training labels. */
typedef struct {
    float *H, *W, *b;
    int32_t *y;
} saved;

static void load_saved(saved *v)
{
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f32(tpath("run/features_train.npy"), &v->H, &nd, sh), CL_OK);
    cr_assert_eq(cl_npy_read_f32(tpath("run/W.npy"), &v->W, &nd, sh), CL_OK);
    cr_assert_eq(cl_npy_read_f32(tpath("run/b.npy"), &v->b, &nd, sh), CL_OK);
    cr_assert_eq(cl_npy_read_i32(tpath("run/labels_train.npy"), &v->y, &nd, sh), CL_OK);
}

static void free_saved(saved *v)
{
    cl_free(v->H);
    cl_free(v->W);
    cl_free(v->b);
    cl_free(v->y);
}

Test(nc_study, unbalanced_run_has_imbalance_columns)
{
    toy t;
    toy_make(&t);
    /* class 2 loses 12 of its 20 training samples to class 0: counts 32, 20, 8 */
    for (int i = 0, moved = 0; i < NTR && moved < 12; i++)
        if (t.ytr[i] == 2) {
            t.ytr[i] = 0;
            moved++;
        }
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    o.layers = 0;
    toy_run(&t, tpath("run"), &o, 2, NULL);
    cl_csv c;
    cr_assert_eq(cl_csv_read(tpath("run/metrics.csv"), "", &c), CL_OK, "%s", cl_errmsg());
    cr_assert_geq(cl_csv_col(&c, "test_majority_cos_M"), 0);
    cr_assert_lt(cl_csv_col(&c, "gnc1"), 0);
    saved sv;
    load_saved(&sv);
    float *H = sv.H, *W = sv.W, *b = sv.b;
    int32_t *y = sv.y;
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(H, NTR, 6, y, KC, W, b, NULL, &r), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(r.nminority, 2);
    int64_t last = c.nrows - 1;
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        if (cl_nc_key_group(i) != CL_NC_GROUP_IMBALANCE) continue;
        double want = cl_nc_key_value(&r, i), got = metric_of(&c, last, cl_nc_key_name(i));
        cr_assert(want == got || (isnan(want) && isnan(got)), "%s: %.17g vs %.17g",
                  cl_nc_key_name(i), want, got);
    }
    /* two minority classes: one pair; one majority class: NAN */
    cr_assert(isfinite(metric_of(&c, last, "minority_cos_W")));
    cr_assert(isnan(metric_of(&c, last, "majority_cos_W")));
    /* the test split (balanced) uses the training split's minority set */
    cr_assert(isfinite(metric_of(&c, last, "test_minority_cos_M")));
    cl_csv_free(&c);
    free_saved(&sv);
}

/* o.nc.gnc (`collapse train --gnc`): gnc columns for both splits, the last
 * row reproduced by cl_nc_analyze with gnc on the saved features. */
Test(nc_study, gnc_columns)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    o.layers = 0;
    o.nc.gnc = 1;
    toy_run(&t, tpath("run"), &o, 2, NULL);
    cl_csv c;
    cr_assert_eq(cl_csv_read(tpath("run/metrics.csv"), "", &c), CL_OK, "%s", cl_errmsg());
    cr_assert_lt(cl_csv_col(&c, "minority_cos_W"), 0); /* balanced */
    cr_assert_geq(cl_csv_col(&c, "test_hsu_log_var"), 0);
    saved sv;
    load_saved(&sv);
    float *H = sv.H, *W = sv.W, *b = sv.b;
    int32_t *y = sv.y;
    cl_nc_opts no = cl_nc_opts_default();
    no.gnc = 1;
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(H, NTR, 6, y, KC, W, b, &no, &r), CL_OK, "%s", cl_errmsg());
    int64_t last = c.nrows - 1;
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        if (cl_nc_key_group(i) != CL_NC_GROUP_GNC) continue;
        double want = cl_nc_key_value(&r, i), got = metric_of(&c, last, cl_nc_key_name(i));
        cr_assert(want == got, "%s: %.17g vs %.17g", cl_nc_key_name(i), want, got);
        cr_assert(isfinite(metric_of(&c, last, cl_nc_key_name(i))));
    }
    cl_csv_free(&c);
    free_saved(&sv);
}

/* K = 8 classes through a 6-dim classifier input (dim < K-1): the gnc
 * columns are on by themselves (the header is written at create). */
Test(nc_study, gnc_on_when_dim_below_K_minus_1)
{
    toy t;
    toy_make(&t);
    for (int i = 0; i < NTR; i++) t.ytr[i] = i % 8;
    for (int i = 0; i < NTE; i++) t.yte[i] = i % 8;
    t.train.classes = t.test.classes = 8;
    cl_model *m = mlp(DIN, 8, 3);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    cl_study *st;
    cr_assert_eq(cl_study_create(&st, &o, m, &t.train, &t.test, tpath("run"), 2), CL_OK, "%s",
                 cl_errmsg());
    cl_study_destroy(st);
    cl_model_destroy(m);
    FILE *f = fopen(tpath("run/metrics.csv"), "r");
    cr_assert_not_null(f);
    char line[8192];
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    cr_assert(strstr(line, ",gnc1,gnc2,gnc3,hsu_log_mean,hsu_log_var,test_nc1,"), "%s", line);
    /* 60 samples in 8 classes: counts 8 and 7, so the imbalance group too */
    cr_assert(strstr(line, ",majority_cos_M,gnc1,"), "%s", line);
}

static void count_warning(void *user, const char *msg)
{
    int *n = user;
    if (strstr(msg, "rank") && strstr(msg, "nc1 and D are nan")) n[0]++;
    n[1]++;
}

/* Classes 1 and 2 get the same inputs (each class-2 sample copies the
 * class-1 sample before it), so at every layer their means coincide: rank
 * 1 < K-1 = 2. The study goes on (it stopped with an error before): nc1 and
 * D are nan in metrics.csv and layers.csv, the fit row is nan, the other
 * keys are finite, and the run warns once. */
Test(nc_study, rank_deficient_means_give_nan_rows, .timeout = TC_TIMEOUT)
{
    toy t;
    toy_make(&t);
    for (int i = 0; i < NTR; i++)
        if (t.ytr[i] == 2) memcpy(t.xtr + i * DIN, t.xtr + (i - 1) * DIN, DIN * sizeof(float));
    for (int i = 0; i < NTE; i++)
        if (t.yte[i] == 2) memcpy(t.xte + i * DIN, t.xte + (i - 1) * DIN, DIN * sizeof(float));
    int warned[2] = {0, 0};
    cl_study_opts o = cl_study_opts_default();
    o.plots = 1; /* figures with nan D: drawn without those points, no warning */
    o.warn = count_warning;
    o.warn_user = warned;
    toy_run(&t, tpath("run"), &o, 2, NULL);
    cr_expect_eq(warned[0], 1, "rank warnings %d (all warnings %d)", warned[0], warned[1]);
    cr_expect_eq(warned[1], 1, "other warnings: %d", warned[1] - warned[0]);
    cl_csv c;
    cr_assert_eq(cl_csv_read(tpath("run/metrics.csv"), "", &c), CL_OK, "%s", cl_errmsg());
    for (int64_t r = 0; r < c.nrows; r++) {
        cr_expect(isnan(metric_of(&c, r, "nc1")) && isnan(metric_of(&c, r, "D")), "row %lld",
                  (long long)r);
        cr_expect(isnan(metric_of(&c, r, "test_nc1")));
        cr_expect(isfinite(metric_of(&c, r, "nc1_quotient")), "row %lld", (long long)r);
        cr_expect(isfinite(metric_of(&c, r, "etf_W")) && isfinite(metric_of(&c, r, "ncc_acc")));
    }
    cl_csv_free(&c);
    cr_assert_eq(cl_csv_read(tpath("run/layers.csv"), "layer,name", &c), CL_OK, "%s",
                 cl_errmsg());
    int64_t fits = 0;
    for (int64_t r = 0; r < c.nrows; r++) {
        cr_expect(isnan(metric_of(&c, r, "D")), "row %lld", (long long)r);
        if (!strcmp(c.txt[r * c.ncols + cl_csv_col(&c, "layer")], "fit")) {
            fits++;
            cr_expect(isnan(metric_of(&c, r, "rho")));
        }
    }
    cr_expect_gt(fits, 0);
    cl_csv_free(&c);
}
