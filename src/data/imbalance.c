/* Class imbalance of the training split, for minority-collapse studies:
 *   step imbalance (Fang et al. PNAS 2021): the last M classes keep 1/R of
 *     their samples, max(1, round(n_c / R));
 *   long tail (Cao et al. NeurIPS 2019, exponential profile): class c keeps
 *     n_max R^(-c/(K-1)) samples (rounded, at least 1, at most what it has),
 *     so largest/smallest = R when the classes start balanced.
 * Which samples stay is a seeded choice (cl_data_keep_quota), by true class. */
#include <math.h>

#include "internal.h"

cl_status cl_data_imbalance_check(const cl_data_opts *o, int K)
{
    const int imb = o->imbalance != 0, tail = o->long_tail != 0;
    if (imb && tail)
        return cl_error(CL_EINVAL, "--imbalance and --long-tail exclude each other");
    if (imb && !(o->imbalance >= 1 && isfinite(o->imbalance)))
        return cl_error(CL_EINVAL, "--imbalance %g: the ratio R must be >= 1",
                        o->imbalance);
    if (tail && !(o->long_tail >= 1 && isfinite(o->long_tail)))
        return cl_error(CL_EINVAL, "--long-tail %g: the ratio R must be >= 1",
                        o->long_tail);
    if (tail && K < 2) /* the profile n_max R^(-c/(K-1)) needs two classes */
        return cl_error(CL_EINVAL, "--long-tail: needs at least 2 classes (got %d)", K);
    if (imb && (o->minority < 1 || o->minority > K - 1))
        return cl_error(CL_EINVAL, "--minority %d: must be in [1, %d] (K = %d classes)",
                        o->minority, K - 1, K);
    if (!imb && o->minority) return cl_error(CL_EINVAL, "--minority needs --imbalance R");
    return CL_OK;
}

cl_status cl_data_imbalance_counts(const int64_t *have, int K, const cl_data_opts *o,
                                   int64_t *want)
{
    CL_TRY(cl_data_imbalance_check(o, K));
    int64_t nmax = 0;
    for (int c = 0; c < K; c++) {
        want[c] = have[c];
        if (have[c] > nmax) nmax = have[c];
    }
    for (int c = 0; c < K; c++) {
        double t;
        if (o->imbalance != 0 && c >= K - o->minority)
            t = (double)have[c] / o->imbalance;
        else if (o->long_tail != 0)
            t = (double)nmax * pow(o->long_tail, -(double)c / (K - 1));
        else
            continue;
        int64_t k = (int64_t)llround(t);
        if (k < 1) k = 1;
        if (k < want[c]) want[c] = k;
    }
    return CL_OK;
}

cl_status cl_data_imbalance(cl_dataset *d, const cl_data_opts *o, cl_rng *rng)
{
    if (o->imbalance == 0 && o->long_tail == 0) return CL_OK;
    int64_t have[CL_DATA_MAX_CLASSES] = {0}, want[CL_DATA_MAX_CLASSES] = {0};
    for (int64_t i = 0; i < d->n; i++)
        have[d->y_true[i]]++;
    CL_TRY(cl_data_imbalance_counts(have, d->classes, o, want));
    return cl_data_keep_quota(d, want, rng);
}
