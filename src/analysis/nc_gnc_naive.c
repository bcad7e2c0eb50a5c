/* Reference twin of the analyzer's imbalance and gnc groups (the slow,
 * obvious way, for tests): cosines from explicit dot products of dim-long
 * rows, no Gram matrices. Called by cl_nc_analyze_naive (nc_naive.c).
 * Formulas: docs/METRICS.md. */
#include <math.h>

#include "collapse/mem.h"
#include "nc_internal.h"

static double cosine(const double *a, const double *b, int dim)
{
    double ab = 0, aa = 0, bb = 0;
    for (int d = 0; d < dim; d++) {
        ab += a[d] * b[d];
        aa += a[d] * a[d];
        bb += b[d] * b[d];
    }
    return ab / sqrt(aa * bb);
}

/* Mean pairwise cosine of the rows V [K, dim] with flag[c] == want. */
static double pair_cos(const double *V, const unsigned char *flag, int want, int K, int dim)
{
    double s = 0;
    int np = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++)
            if (flag[i] == want && flag[j] == want) {
                s += cosine(V + (size_t)i * dim, V + (size_t)j * dim, dim);
                np++;
            }
    return np ? s / np : NAN;
}

/* Minority collapse (Fang, He, Long & Su, PNAS 2021). */
cl_status cl_nc_imbalance_naive(const double *M, const double *Wd, const int64_t *cnt, int K,
                                int dim, const unsigned char *minority, cl_nc_result *r)
{
    int64_t top = 0;
    int differ = 0;
    for (int c = 0; c < K; c++)
        if (cnt[c] > top) top = cnt[c];
    for (int c = 0; c < K; c++)
        differ |= cnt[c] != top;
    if (!minority && !differ) return CL_OK;
    unsigned char *flag = cl_alloc_array((size_t)K, 1, "naive minority");
    if (!flag) return CL_ENOMEM;
    r->nminority = 0;
    for (int c = 0; c < K; c++) {
        flag[c] = minority ? minority[c] != 0 : cnt[c] < top;
        r->nminority += flag[c];
    }
    r->groups |= CL_NC_GROUP_BIT(CL_NC_GROUP_IMBALANCE);
    r->minority_cos_M = pair_cos(M, flag, 1, K, dim);
    r->majority_cos_M = pair_cos(M, flag, 0, K, dim);
    r->minority_cos_W = Wd ? pair_cos(Wd, flag, 1, K, dim) : NAN;
    r->majority_cos_W = Wd ? pair_cos(Wd, flag, 0, K, dim) : NAN;
    cl_free(flag);
    return CL_OK;
}
