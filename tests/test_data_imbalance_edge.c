/* Edge cases of the imbalance profiles (data/imbalance.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "collapse/data.h"
#include "collapse/error.h"

/* The long-tail profile n_max R^(-c/(K-1)) divided 0 by 0 for K = 1 (a
 * one-class PNG folder) and rounded a NaN; it is now refused. */
Test(data_imbalance_edge, long_tail_needs_two_classes)
{
    cl_data_opts o = {0};
    o.long_tail = 10;
    int64_t have[2] = {50, 50}, want[2];
    cr_assert_eq(cl_data_imbalance_counts(have, 1, &o, want), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "--long-tail"), "%s", cl_errmsg());
    cr_assert_eq(cl_data_imbalance_counts(have, 2, &o, want), CL_OK);
    cr_assert_eq(want[0], 50);
    cr_assert_eq(want[1], 5);
}
