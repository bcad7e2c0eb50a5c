/* Helpers shared by the collapse analyzer's tests: see nc_common.h. */
#include "nc_common.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"

void load_case(const char *name, ncase *c)
{
    char p[256];
    int nd;
    int64_t sh[8];
    memset(c, 0, sizeof *c);
    snprintf(p, sizeof p, FIX "%s/H.npy", name);
    cr_assert_eq(cl_npy_read_f32(p, &c->H, &nd, sh), CL_OK, "%s", cl_errmsg());
    c->N = sh[0];
    c->dim = 1;
    for (int i = 1; i < nd; i++)
        c->dim *= (int)sh[i];
    snprintf(p, sizeof p, FIX "%s/y.npy", name);
    cr_assert_eq(cl_npy_read_i32(p, &c->y, &nd, sh), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(sh[0], c->N);
    snprintf(p, sizeof p, FIX "%s/W.npy", name);
    cr_assert_eq(cl_npy_read_f32(p, &c->W, &nd, sh), CL_OK, "%s", cl_errmsg());
    c->K = (int)sh[0];
    cr_assert_eq(sh[1], c->dim);
    snprintf(p, sizeof p, FIX "%s/b.npy", name);
    cr_assert_eq(cl_npy_read_f32(p, &c->b, &nd, sh), CL_OK, "%s", cl_errmsg());
}

void free_case(ncase *c)
{
    cl_free(c->H);
    cl_free(c->W);
    cl_free(c->b);
    cl_free(c->y);
}

int close_rel(double a, double b, double rel)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b)) return a == b;
    return fabs(a - b) <= rel * fmax(fabs(b), 1e-9);
}

void check_expected_rel(const char *name, const char *which, const cl_nc_result *r,
                        double rel)
{
    char p[256];
    snprintf(p, sizeof p, FIX "%s/expected_%s.npy", name, which);
    double *e;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f64(p, &e, &nd, sh), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(sh[0], cl_nc_nkeys());
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        double v = cl_nc_key_value(r, i);
        cr_expect(close_rel(v, e[i], rel), "%s %s: %s = %.12g, reference %.12g", name, which,
                  cl_nc_key_name(i), v, e[i]);
    }
    cl_free(e);
}
