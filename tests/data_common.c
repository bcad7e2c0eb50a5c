/* Helpers shared by the data module's tests: see data_common.h. */
#include "data_common.h"

#include <criterion/criterion.h>
#include <stdlib.h>

void assert_hist(const cl_dataset *d, const int64_t *want)
{
    int64_t h[CL_DATA_MAX_CLASSES];
    cl_data_histogram(d, h);
    for (int k = 0; k < d->classes; k++)
        cr_assert_eq(h[k], want[k], "%s class %d: %lld, want %lld", d->name, k,
                     (long long)h[k], (long long)want[k]);
}

void load_or_fail(const char *name, const char *dir, int train, cl_dataset *d)
{
    cl_status st = cl_data_load(name, dir, train, d);
    cr_assert_eq(st, CL_OK, "%s: %s (COLLAPSE_DATA=%s; run make data)", name, cl_errmsg(),
                 getenv("COLLAPSE_DATA") ? getenv("COLLAPSE_DATA") : "unset");
}
