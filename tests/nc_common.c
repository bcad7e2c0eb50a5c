/* Helpers shared by the collapse analyzer's tests: see nc_common.h. */
#include "nc_common.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
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
    return fabs(a - b) <= rel * fmax(fabs(b), 1e-9);
}
