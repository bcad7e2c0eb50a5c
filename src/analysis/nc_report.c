/* The analyzer's output keys: one table of name, field, whether it needs
 * the classifier W, its group (base, imbalance, gnc) and a one-line
 * description. */
#include <math.h>
#include <stddef.h>

#include "collapse/nc.h"

static const struct {
    const char *name;
    size_t off;
    int needs_W;
    const char *descr; /* one line, for `collapse analyze`'s table */
    int group;         /* CL_NC_GROUP_* */
} keys[] = {
    {"nc1", offsetof(cl_nc_result, nc1), 0,
     "tr(Sw Sb^+)/K (Papyan)", CL_NC_GROUP_BASE},
    {"D", offsetof(cl_nc_result, fuzz), 0,
     "tr(Sw Sb^+), separation fuzziness (He & Su)", CL_NC_GROUP_BASE},
    {"nc1_quotient", offsetof(cl_nc_result, nc1_quotient), 0,
     "tr(Sw)/tr(Sb)", CL_NC_GROUP_BASE},
    {"cdnv", offsetof(cl_nc_result, cdnv), 0,
     "class-distance normalized variance (Galanti)", CL_NC_GROUP_BASE},
    {"equinorm_M", offsetof(cl_nc_result, equinorm_M), 0,
     "std/mean of ||mu_c - mu_G||", CL_NC_GROUP_BASE},
    {"equinorm_W", offsetof(cl_nc_result, equinorm_W), 1,
     "std/mean of ||w_c||", CL_NC_GROUP_BASE},
    {"equiangular_M", offsetof(cl_nc_result, equiangular_M), 0,
     "std of cosines between centred means", CL_NC_GROUP_BASE},
    {"equiangular_W", offsetof(cl_nc_result, equiangular_W), 1,
     "std of cosines between classifier rows", CL_NC_GROUP_BASE},
    {"maxangle_M", offsetof(cl_nc_result, maxangle_M), 0,
     "mean |cos + 1/(K-1)|, centred means", CL_NC_GROUP_BASE},
    {"maxangle_W", offsetof(cl_nc_result, maxangle_W), 1,
     "mean |cos + 1/(K-1)|, classifier rows", CL_NC_GROUP_BASE},
    {"etf_M", offsetof(cl_nc_result, etf_M), 0,
     "ETF distance of M M^T", CL_NC_GROUP_BASE},
    {"etf_W", offsetof(cl_nc_result, etf_W), 1,
     "ETF distance of W W^T", CL_NC_GROUP_BASE},
    {"nc3", offsetof(cl_nc_result, nc3), 1,
     "||W/||W|| - M/||M||||^2 (Papyan)", CL_NC_GROUP_BASE},
    {"nc3_zhu", offsetof(cl_nc_result, nc3_zhu), 1,
     "ETF distance of W M^T (Zhu et al.)", CL_NC_GROUP_BASE},
    {"nc4", offsetof(cl_nc_result, nc4), 1,
     "classifier vs nearest-class-mean disagreement", CL_NC_GROUP_BASE},
    {"ncc_acc", offsetof(cl_nc_result, ncc_acc), 0,
     "nearest-class-mean accuracy", CL_NC_GROUP_BASE},
    {"acc", offsetof(cl_nc_result, acc), 1,
     "classifier accuracy", CL_NC_GROUP_BASE},
    /* imbalance: Fang, He, Long & Su, PNAS 2021 (minority collapse) */
    {"minority_cos_W", offsetof(cl_nc_result, minority_cos_W), 1,
     "mean pairwise cos of minority classifier rows", CL_NC_GROUP_IMBALANCE},
    {"minority_cos_M", offsetof(cl_nc_result, minority_cos_M), 0,
     "mean pairwise cos of minority centred means", CL_NC_GROUP_IMBALANCE},
    {"majority_cos_W", offsetof(cl_nc_result, majority_cos_W), 1,
     "mean pairwise cos of majority classifier rows", CL_NC_GROUP_IMBALANCE},
    {"majority_cos_M", offsetof(cl_nc_result, majority_cos_M), 0,
     "mean pairwise cos of majority centred means", CL_NC_GROUP_IMBALANCE},
    /* gnc: Jiang, Zhou et al. ICML 2024; Liu et al. 2023 */
    {"gnc1", offsetof(cl_nc_result, gnc1), 0,
     "nc1 of L2-normalised features", CL_NC_GROUP_GNC},
    {"gnc2", offsetof(cl_nc_result, gnc2), 1,
     "min_k dist(w_k, hull of other rows), rows normalised", CL_NC_GROUP_GNC},
    {"gnc3", offsetof(cl_nc_result, gnc3), 1,
     "mean of 1 - cos(w_k, mu_k - mu_G)", CL_NC_GROUP_GNC},
    {"hsu_log_mean", offsetof(cl_nc_result, hsu_log_mean), 0,
     "mean over pairs of log 1/||u_i - u_j||", CL_NC_GROUP_GNC},
    {"hsu_log_var", offsetof(cl_nc_result, hsu_log_var), 0,
     "variance over pairs of log 1/||u_i - u_j||", CL_NC_GROUP_GNC},
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
    if (!cl_nc_has_group(r, keys[i].group)) return NAN;
    return *(const double *)((const char *)r + keys[i].off);
}

const char *cl_nc_key_descr(int i)
{
    CL_ASSERT(i >= 0 && i < NKEYS);
    return keys[i].descr;
}

int cl_nc_key_group(int i)
{
    CL_ASSERT(i >= 0 && i < NKEYS);
    return keys[i].group;
}

const char *cl_nc_group_name(int g)
{
    static const char *const names[CL_NC_NGROUPS] = {"base", "imbalance", "gnc"};
    CL_ASSERT(g >= 0 && g < CL_NC_NGROUPS);
    return names[g];
}

int cl_nc_has_group(const cl_nc_result *r, int g)
{
    CL_ASSERT(g >= 0 && g < CL_NC_NGROUPS);
    return g == CL_NC_GROUP_BASE || (r->groups & CL_NC_GROUP_BIT(g)) != 0;
}
