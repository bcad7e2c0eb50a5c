/* Data module, multi-label representation (cl_dataset.yk): K-hot rows set
 * y to the lowest label, label counts and label sets, subsets keep the rows
 * (per label set, scaled), the view carries yk, and the transforms that make
 * no sense on multi-label data refuse it in one line. */
#include <criterion/criterion.h>
#include <string.h>

#include "../src/data/internal.h"
#include "collapse/data.h"
#include "common.h"

TestSuite(data_khot, .timeout = TC_TIMEOUT);

/* A K = 4 dataset: 40 copies of {0}, {1}, {2}, {3} and 20 of {0,2}, {1,3}
 * (200 rows), x[i] = i, rows interleaved so the sets are mixed. */
static void make(cl_dataset *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "toy");
    cl_shape sh = {1, 1, 2};
    cr_assert_eq(cl_data_alloc(d, 200, sh), CL_OK);
    d->classes = 4;
    uint8_t yk[200 * 4] = {0};
    for (int i = 0; i < 200; i++) {
        int r = i % 20;
        if (r < 16)
            yk[i * 4 + r % 4] = 1;
        else if (r < 18)
            yk[i * 4 + 0] = yk[i * 4 + 2] = 1;
        else
            yk[i * 4 + 1] = yk[i * 4 + 3] = 1;
        d->x[2 * i] = (float)i;
        d->x[2 * i + 1] = (float)-i;
    }
    cr_assert_eq(cl_data_set_khot(d, yk, 200, 4, "toy"), CL_OK, "%s", cl_errmsg());
}

Test(data_khot, lowest_label_counts_and_sets)
{
    cl_dataset d;
    make(&d);
    cr_assert_eq(d.y[16], 0); /* {0,2} */
    cr_assert_eq(d.y[18], 1); /* {1,3} */
    cr_assert_eq(d.y_true[19], 1);
    cr_assert_eq(d.y[3], 3);
    cr_assert_eq(cl_data_label_count(&d, 3), 1);
    cr_assert_eq(cl_data_label_count(&d, 17), 2);
    int32_t set[200];
    int64_t ns, first[200];
    cr_assert_eq(cl_data_label_sets(d.yk, d.n, 4, set, &ns, first), CL_OK);
    cr_assert_eq(ns, 6);
    /* singles first by label, then {0,2} before {1,3} */
    cr_assert_eq(set[0], 0);
    cr_assert_eq(set[3], 3);
    cr_assert_eq(set[16], 4);
    cr_assert_eq(set[18], 5);
    cr_assert_eq(first[4], 16);
    cr_assert_eq(first[5], 18);
    char nm[32];
    cl_data_label_set_name(&d, 19, nm, sizeof nm);
    cr_assert_str_eq(nm, "{1,3}");
    cl_train_data v;
    cl_data_view(&d, NULL, &v);
    cr_assert_eq(v.yk, d.yk);
    cl_dataset_free(&d);
    cr_assert_null(d.yk);
    cl_dataset_free(&d); /* twice is fine */
}

Test(data_khot, bad_rows_refused)
{
    cl_dataset d;
    make(&d);
    uint8_t yk[200 * 4] = {0};
    cr_assert_eq(cl_data_set_khot(&d, yk, 200, 4, "y.npy"), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "y.npy: row 0 has no label"), "%s", cl_errmsg());
    memset(yk, 1, sizeof yk);
    yk[7] = 2;
    cr_assert_eq(cl_data_set_khot(&d, yk, 200, 4, "y.npy"), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "row 1 has the value 2"), "%s", cl_errmsg());
    cr_assert_eq(cl_data_set_khot(&d, yk, 199, 4, "y.npy"), CL_EINVAL);
    cr_assert_eq(cl_data_set_khot(&d, yk, 200, 3, "y.npy"), CL_EINVAL);
    cl_dataset_free(&d);
}

Test(data_khot, subset_keeps_rows_per_label_set)
{
    cl_dataset d, orig;
    make(&d);
    make(&orig);
    cl_data_opts o = cl_data_opts_default();
    o.train_per_class = 20; /* half of every set: 20 per single, 10 per pair */
    o.seed = 3;
    cr_assert_eq(cl_data_prepare(&d, NULL, &o), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(d.n, 4 * 20 + 2 * 10);
    cr_assert_not_null(d.yk);
    int64_t per[6] = {0};
    int32_t set[200];
    int64_t ns;
    cr_assert_eq(cl_data_label_sets(d.yk, d.n, 4, set, &ns, NULL), CL_OK);
    cr_assert_eq(ns, 6);
    for (int64_t i = 0; i < d.n; i++) {
        int64_t j = d.index[i]; /* the row it came from */
        per[set[i]]++;
        cr_assert_eq(memcmp(d.yk + i * 4, orig.yk + j * 4, 4), 0, "row %lld", (long long)i);
        cr_assert_eq(d.x[2 * i], (float)j);
        cr_assert_eq(d.y[i], orig.y[j]);
        if (i) cr_assert_lt(d.index[i - 1], j);
    }
    for (int s = 0; s < 6; s++)
        cr_assert_eq(per[s], s < 4 ? 20 : 10, "set %d: %lld", s, (long long)per[s]);
    cl_dataset_free(&d);
    make(&d);
    o.train_per_class = 41;
    cr_assert_eq(cl_data_prepare(&d, NULL, &o), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "largest label set {0} has 40 training samples, fewer than the 41"),
              "%s", cl_errmsg());
    cl_dataset_free(&d);
    cl_dataset_free(&orig);
}

Test(data_khot, transforms_refuse_or_keep)
{
    cl_dataset d;
    make(&d);
    cl_data_opts o = cl_data_opts_default();
    o.random_labels = 0.5;
    cr_assert_eq(cl_data_prepare(&d, NULL, &o), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "--random-labels is not defined for multi-label data"), "%s",
              cl_errmsg());
    o = cl_data_opts_default();
    o.imbalance = 2;
    o.minority = 1;
    cr_assert_eq(cl_data_prepare(&d, NULL, &o), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "--imbalance is not defined"), "%s", cl_errmsg());
    o = cl_data_opts_default();
    o.long_tail = 2;
    cr_assert_eq(cl_data_prepare(&d, NULL, &o), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "--long-tail is not defined"), "%s", cl_errmsg());
    float t[200];
    for (int i = 0; i < 200; i++)
        t[i] = (float)i;
    cr_assert_eq(cl_data_set_targets(&d, t, 200, 1, "t"), CL_OK);
    cr_assert_eq(cl_data_ordinal_bins(&d, NULL, 3, 0), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "--ordinal-bins"), "%s", cl_errmsg());
    /* pixel transforms keep the labels */
    o = cl_data_opts_default();
    o.resize = 4;
    o.random_pixels = 1;
    o.normalize = 1;
    uint8_t before[200 * 4];
    memcpy(before, d.yk, sizeof before);
    cr_assert_eq(cl_data_prepare(&d, NULL, &o), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(memcmp(before, d.yk, sizeof before), 0);
    cl_dataset_free(&d);
}
