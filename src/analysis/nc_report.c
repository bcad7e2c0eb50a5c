/* The analyzer's output keys (one table) and its JSON form. */
#include <math.h>
#include <stddef.h>

#include "collapse/nc.h"

static const struct {
    const char *name;
    size_t off;
    int needs_W;
} keys[] = {
    {"nc1", offsetof(cl_nc_result, nc1), 0},
    {"D", offsetof(cl_nc_result, fuzz), 0},
    {"nc1_quotient", offsetof(cl_nc_result, nc1_quotient), 0},
    {"cdnv", offsetof(cl_nc_result, cdnv), 0},
    {"equinorm_M", offsetof(cl_nc_result, equinorm_M), 0},
    {"equinorm_W", offsetof(cl_nc_result, equinorm_W), 1},
    {"equiangular_M", offsetof(cl_nc_result, equiangular_M), 0},
    {"equiangular_W", offsetof(cl_nc_result, equiangular_W), 1},
    {"maxangle_M", offsetof(cl_nc_result, maxangle_M), 0},
    {"maxangle_W", offsetof(cl_nc_result, maxangle_W), 1},
    {"etf_M", offsetof(cl_nc_result, etf_M), 0},
    {"etf_W", offsetof(cl_nc_result, etf_W), 1},
    {"nc3", offsetof(cl_nc_result, nc3), 1},
    {"nc3_zhu", offsetof(cl_nc_result, nc3_zhu), 1},
    {"nc4", offsetof(cl_nc_result, nc4), 1},
    {"ncc_acc", offsetof(cl_nc_result, ncc_acc), 0},
    {"acc", offsetof(cl_nc_result, acc), 1},
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

void cl_nc_result_json(cl_json *j, const cl_nc_result *r)
{
    cl_json_int(j, "N", r->N);
    cl_json_int(j, "D", r->D);
    cl_json_int(j, "K", r->K);
    cl_json_bool(j, "has_W", r->has_W);
    cl_json_bool(j, "has_b", r->has_b);
    cl_json_obj_begin(j, "conventions");
    cl_json_str(j, "mu_G", r->opts.weighted_mean ? "weighted" : "unweighted");
    cl_json_bool(j, "nc4_bias", r->has_W && r->has_b && r->opts.nc4_bias);
    cl_json_str(j, "std", "population");
    cl_json_str(j, "sb_pinv", "top K-1 eigenpairs");
    cl_json_obj_end(j);
    cl_json_obj_begin(j, "metrics");
    for (int i = 0; i < NKEYS; i++)
        cl_json_num(j, keys[i].name, cl_nc_key_value(r, i));
    cl_json_obj_end(j);
}
