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
    float *H, *W, *b;
    int32_t *y;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f32(tpath("run/features_train.npy"), &H, &nd, sh), CL_OK);
    cr_assert_eq(cl_npy_read_f32(tpath("run/W.npy"), &W, &nd, sh), CL_OK);
    cr_assert_eq(cl_npy_read_f32(tpath("run/b.npy"), &b, &nd, sh), CL_OK);
    cr_assert_eq(cl_npy_read_i32(tpath("run/labels_train.npy"), &y, &nd, sh), CL_OK);
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
    cl_free(H);
    cl_free(W);
    cl_free(b);
    cl_free(y);
}
