/* Reference twin of cl_onc_analyze (onc.h): class means by one pass per
 * class, the projection onto w as an explicit dim x dim matrix
 * P = w w^T / ||w||^2, tau by counting pairs, midpoints tabulated first.
 * Small dim only. */
#include <math.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/onc.h"

cl_status cl_onc_analyze_naive(const float *H, int64_t N, int dim, const int32_t *y, int K,
                               const float *w, const double *b, const cl_nc_opts *opts,
                               double *z, cl_onc_result *r)
{
    cl_nc_opts o = opts ? *opts : cl_nc_opts_default();
    cl_nc_result nr;
    CL_TRY(cl_nc_analyze_naive(H, N, dim, y, K, NULL, NULL, &o, &nr));
    for (int q = 0; q < K - 1; q++)
        if (!isfinite(b[q]) || (q > 0 && !(b[q] > b[q - 1])))
            return cl_error(CL_EINVAL, "onc: thresholds must be finite and increasing");
    size_t kd = (size_t)K * dim;
    double *mu = cl_alloc_array(kd + (size_t)dim * dim + dim + 2 * (size_t)K, sizeof(double),
                                "onc naive");
    if (!mu) return CL_ENOMEM;
    double *P = mu + kd, *g = P + (size_t)dim * dim, *zq = g + dim, *n = zq + K;
    for (int q = 0; q < K; q++) {
        n[q] = 0;
        for (int d = 0; d < dim; d++) mu[(size_t)q * dim + d] = 0;
        for (int64_t i = 0; i < N; i++)
            if (y[i] == q) {
                n[q]++;
                for (int d = 0; d < dim; d++) mu[(size_t)q * dim + d] += H[i * dim + d];
            }
        for (int d = 0; d < dim; d++) mu[(size_t)q * dim + d] /= n[q];
    }
    double ww = 0;
    for (int d = 0; d < dim; d++) ww += (double)w[d] * w[d];
    for (int i = 0; i < dim; i++)
        for (int j = 0; j < dim; j++) P[(size_t)i * dim + j] = (double)w[i] * w[j] / ww;
    for (int d = 0; d < dim; d++) {
        double s = 0, t = 0;
        for (int q = 0; q < K; q++) {
            double a = o.weighted_mean ? n[q] : 1.0;
            s += a * mu[(size_t)q * dim + d];
            t += a;
        }
        g[d] = s / t;
    }
    double num = 0, den = 0;
    for (int q = 0; q < K; q++) {
        for (int i = 0; i < dim; i++) {
            double pi = 0;
            for (int j = 0; j < dim; j++) pi += P[(size_t)i * dim + j] * (mu[(size_t)q * dim + j] - g[j]);
            num += pi * pi;
            double c = mu[(size_t)q * dim + i] - g[i];
            den += c * c;
        }
        zq[q] = 0;
        for (int d = 0; d < dim; d++) zq[q] += (double)w[d] * mu[(size_t)q * dim + d];
    }
    int conc = 0, disc = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            if (i < j) {
                conc += zq[j] > zq[i];
                disc += zq[j] < zq[i];
            }
    memset(r, 0, sizeof *r);
    r->N = N;
    r->dim = dim;
    r->K = K;
    r->weighted_mean = o.weighted_mean;
    r->onc1 = nr.nc1_quotient;
    r->onc2 = num / den;
    r->onc3_tau = (conc - disc) / (K * (K - 1) / 2.0);
    r->onc3_mid = r->gap = NAN;
    if (K >= 3) {
        r->gap = (b[K - 2] - b[0]) / (K - 2);
        double s = 0;
        for (int q = 1; q <= K - 2; q++) {
            double mid = (b[q - 1] + b[q]) / 2;
            s += fabs(zq[q] - mid) / r->gap;
        }
        r->onc3_mid = s / (K - 2);
    }
    if (z) memcpy(z, zq, sizeof(double) * (size_t)K);
    cl_free(mu);
    return CL_OK;
}
