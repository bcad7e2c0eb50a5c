/* Helpers shared by the dense layer tests: see dense_common.h. */
#include "dense_common.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/mem.h"

float *copy(const float *a, int64_t n)
{
    float *b = cl_alloc_array((size_t)n + 1, sizeof(float), "test");
    cr_assert(b);
    memcpy(b, a, (size_t)n * sizeof(float));
    return b;
}

double nrel(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= num)) num = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return num / fmax(den, 1e-30);
}

void expect_near(const char *what, const float *got, const float *want, int64_t n,
                 double tol)
{
    double e = nrel(got, want, n);
    cr_assert(e <= tol, "%s: normwise relative difference %.3g > %g", what, e, tol);
}

cl_layer_spec mk(cl_layer_kind kind)
{
    cl_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    return s;
}
