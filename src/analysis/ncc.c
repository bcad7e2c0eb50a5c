/* Held-out nearest-class-centre accuracy (nc.h): test features classified
 * by the nearest mean of the training features. The distance is expanded
 * as ||h - mu_c||^2 = ||h||^2 + ||mu_c||^2 - 2 h.mu_c, and ||h||^2 does not
 * depend on c, so the rule compares ||mu_c||^2 - 2 h.mu_c only. */
#include <math.h>

#include "collapse/mem.h"
#include "collapse/nc.h"

void cl_nc_class_sums_add(double *sum, const float *h, int64_t n, int64_t dim,
                          const int32_t *y)
{
    for (int64_t i = 0; i < n; i++) {
        double *s = sum + (int64_t)y[i] * dim;
        const float *hi = h + i * dim;
        for (int64_t d = 0; d < dim; d++) s[d] += hi[d];
    }
}

void cl_nc_class_means(double *mu, double *mu2, const int64_t *count, int K, int64_t dim)
{
    for (int c = 0; c < K; c++) {
        double *m = mu + (int64_t)c * dim;
        double n = (double)(count[c] ? count[c] : 1);
        mu2[c] = 0;
        for (int64_t d = 0; d < dim; d++) {
            m[d] /= n;
            mu2[c] += m[d] * m[d];
        }
    }
}

int64_t cl_nc_ncc_correct(const float *h, int64_t n, int64_t dim, const int32_t *y,
                          const double *mu, const double *mu2, int K)
{
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *hi = h + i * dim;
        int best = 0;
        double bv = INFINITY;
        for (int c = 0; c < K; c++) {
            const double *m = mu + (int64_t)c * dim;
            double dot = 0;
            for (int64_t d = 0; d < dim; d++) dot += hi[d] * m[d];
            double v = mu2[c] - 2 * dot;
            if (v < bv) {
                bv = v;
                best = c;
            }
        }
        ok += best == y[i];
    }
    return ok;
}

/* CL_EINVAL unless every label of y [n] is in [0, K). */
cl_status cl_nc_labels_in_range(const int32_t *y, int64_t n, int K, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= K)
            return cl_error(CL_EINVAL, "%s label %d of sample %lld not in [0, %d)", what,
                            (int)y[i], (long long)i, K);
    return CL_OK;
}

cl_status cl_nc_heldout_ncc_acc(const float *htr, int64_t ntr, const int32_t *ytr,
                                const float *hte, int64_t nte, const int32_t *yte, int64_t dim,
                                int K, double *acc)
{
    *acc = NAN;
    if (ntr < 1 || nte < 1 || dim < 1 || K < 2)
        return cl_error(CL_EINVAL, "held-out NCC: need samples, dim >= 1 and K >= 2");
    CL_TRY(cl_nc_labels_in_range(ytr, ntr, K, "held-out NCC: training"));
    CL_TRY(cl_nc_labels_in_range(yte, nte, K, "held-out NCC: test"));
    double *mu = cl_alloc_array((size_t)K * ((size_t)dim + 1), sizeof(double), "class means");
    int64_t *count = cl_alloc_array((size_t)K, sizeof(int64_t), "class counts");
    cl_status st = CL_OK;
    if (!mu || !count) {
        st = CL_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < ntr; i++) count[ytr[i]]++;
    for (int c = 0; c < K; c++)
        if (!count[c]) {
            st = cl_error(CL_EINVAL, "held-out NCC: class %d has no training sample", c);
            goto done;
        }
    double *mu2 = mu + (size_t)K * (size_t)dim;
    cl_nc_class_sums_add(mu, htr, ntr, dim, ytr);
    cl_nc_class_means(mu, mu2, count, K, dim);
    *acc = (double)cl_nc_ncc_correct(hte, nte, dim, yte, mu, mu2, K) / (double)nte;
done:
    cl_free(mu);
    cl_free(count);
    return st;
}
