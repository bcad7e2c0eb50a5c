/* The He & Su fit of the per-layer fuzziness: against the NumPy reference,
 * an exact geometric sequence, and its errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "nc_common.h"

Test(nc_fit, fit_matches_reference)
{
    double *Ds, *e;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f64(FIX "fit_D.npy", &Ds, &nd, sh), CL_OK);
    cr_assert_eq(cl_npy_read_f64(FIX "fit_expected.npy", &e, &nd, sh), CL_OK);
    cl_nc_fit f;
    cr_assert_eq(cl_nc_fit_layers(Ds, 8, &f), CL_OK);
    cr_expect(close_rel(f.slope, e[0], 1e-10), "%.12g %.12g", f.slope, e[0]);
    cr_expect(close_rel(f.intercept, e[1], 1e-10));
    cr_expect(close_rel(f.rho, e[2], 1e-10));
    cr_expect(close_rel(f.r2, e[3], 1e-10));
    cr_expect(close_rel(f.pearson_r, e[4], 1e-10));
    cr_expect_eq(f.L, 8);
    cl_free(Ds);
    cl_free(e);
}

Test(nc_fit, fit_exact_geometric_and_errors)
{
    double Ds[5];
    for (int l = 0; l < 5; l++)
        Ds[l] = 20.0 * pow(0.6, l);
    cl_nc_fit f;
    cr_assert_eq(cl_nc_fit_layers(Ds, 5, &f), CL_OK);
    cr_expect(fabs(f.rho - 0.6) < 1e-12);
    cr_expect(fabs(f.r2 - 1) < 1e-12);
    cr_expect(fabs(f.pearson_r + 1) < 1e-12);
    cr_expect(fabs(f.intercept - log(20.0)) < 1e-12);
    cr_assert_eq(cl_nc_fit_layers(Ds, 1, &f), CL_EINVAL);
    Ds[3] = 0;
    cr_assert_eq(cl_nc_fit_layers(Ds, 5, &f), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "layer 3"), "%s", cl_errmsg());
    Ds[3] = NAN; /* a layer with rank-deficient class means */
    cr_assert_eq(cl_nc_fit_layers(Ds, 5, &f), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "layer 3 is nan") && strstr(cl_errmsg(), "rank-deficient"),
              "%s", cl_errmsg());
}
