/* The analyzer's output keys: one table of name, field, whether it needs
 * the classifier W, and a one-line description. */
#include <math.h>
#include <stddef.h>

#include "collapse/nc.h"

static const struct {
    const char *name;
    size_t off;
    int needs_W;
    const char *descr; /* one line, for `collapse analyze`'s table */
} keys[] = {
    {"nc1", offsetof(cl_nc_result, nc1), 0,
     "tr(Sw Sb^+)/K (Papyan)"},
    {"D", offsetof(cl_nc_result, fuzz), 0,
     "tr(Sw Sb^+), separation fuzziness (He & Su)"},
    {"nc1_quotient", offsetof(cl_nc_result, nc1_quotient), 0,
     "tr(Sw)/tr(Sb)"},
    {"cdnv", offsetof(cl_nc_result, cdnv), 0,
     "class-distance normalized variance (Galanti)"},
    {"equinorm_M", offsetof(cl_nc_result, equinorm_M), 0,
     "std/mean of ||mu_c - mu_G||"},
    {"equinorm_W", offsetof(cl_nc_result, equinorm_W), 1,
     "std/mean of ||w_c||"},
    {"equiangular_M", offsetof(cl_nc_result, equiangular_M), 0,
     "std of cosines between centred means"},
    {"equiangular_W", offsetof(cl_nc_result, equiangular_W), 1,
     "std of cosines between classifier rows"},
    {"maxangle_M", offsetof(cl_nc_result, maxangle_M), 0,
     "mean |cos + 1/(K-1)|, centred means"},
    {"maxangle_W", offsetof(cl_nc_result, maxangle_W), 1,
     "mean |cos + 1/(K-1)|, classifier rows"},
    {"etf_M", offsetof(cl_nc_result, etf_M), 0,
     "ETF distance of M M^T"},
    {"etf_W", offsetof(cl_nc_result, etf_W), 1,
     "ETF distance of W W^T"},
    {"nc3", offsetof(cl_nc_result, nc3), 1,
     "||W/||W|| - M/||M||||^2 (Papyan)"},
    {"nc3_zhu", offsetof(cl_nc_result, nc3_zhu), 1,
     "ETF distance of W M^T (Zhu et al.)"},
    {"nc4", offsetof(cl_nc_result, nc4), 1,
     "classifier vs nearest-class-mean disagreement"},
    {"ncc_acc", offsetof(cl_nc_result, ncc_acc), 0,
     "nearest-class-mean accuracy"},
    {"acc", offsetof(cl_nc_result, acc), 1,
     "classifier accuracy"},
};
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

int cl_nc_nkeys(void)
{
    return NKEYS;
}

const char *cl_nc_key_name(int i)
{
    CL_ASSERT(i >= 0 && i < NKEYS);
    return keys[i].name;
}

int cl_nc_key_needs_W(int i)
{
    CL_ASSERT(i >= 0 && i < NKEYS);
    return keys[i].needs_W;
}

double cl_nc_key_value(const cl_nc_result *r, int i)
{
    CL_ASSERT(i >= 0 && i < NKEYS);
    if (keys[i].needs_W && !r->has_W) return NAN;
    return *(const double *)((const char *)r + keys[i].off);
}

const char *cl_nc_key_descr(int i)
{
    CL_ASSERT(i >= 0 && i < NKEYS);
    return keys[i].descr;
}
