/* --ordinal-bins on tied targets (data/pose.c): quantile edges that
 * coincide would leave a bin, i.e. a training class, without samples (the
 * study then failed later on an empty class); they are refused up front. */
#include <criterion/criterion.h>
#include <string.h>

#include "../src/data/internal.h"
#include "collapse/data.h"
#include "collapse/error.h"

static void tied_set(cl_dataset *d, int n, int ones)
{
    memset(d, 0, sizeof *d);
    cr_assert_eq(cl_data_alloc(d, n, (cl_shape){1, 1, 1}), CL_OK, "%s", cl_errmsg());
    d->classes = 2;
    float t[64];
    for (int i = 0; i < n; i++) {
        t[i] = i < n - ones ? 0.0f : 1.0f;
        d->y[i] = d->y_true[i] = 0;
    }
    cr_assert_eq(cl_data_set_targets(d, t, n, 1, "--targets t.npy"), CL_OK, "%s", cl_errmsg());
}

Test(pose_bins, tied_targets_refused)
{
    cl_dataset tr;
    tied_set(&tr, 20, 5); /* 15 zeros: the 4-quantile edges are 0, 0, 1 */
    cr_assert_eq(cl_data_ordinal_bins(&tr, NULL, 4, 0), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "--ordinal-bins 4") && strstr(cl_errmsg(), "empty"), "%s",
              cl_errmsg());
    cl_dataset_free(&tr);
    tied_set(&tr, 20, 10); /* two bins of 10 */
    cr_assert_eq(cl_data_ordinal_bins(&tr, NULL, 2, 0), CL_OK, "%s", cl_errmsg());
    int64_t c1 = 0;
    for (int i = 0; i < 20; i++) c1 += tr.y[i];
    cr_assert_eq(c1, 10);
    cl_dataset_free(&tr);
}
