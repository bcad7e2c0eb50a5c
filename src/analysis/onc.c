/* Ordinal neural collapse keys (onc.h; Ma, Obuchi & Tanaka, arXiv
 * 2506.05801): onc1 (tr(Sw)/tr(Sb), from nc.c), onc2 (scatter of the centred class
 * means along w), onc3_tau and onc3_mid (order of the class-mean latents and
 * their distance to the threshold midpoints). The key table is at the end. */
#include "collapse/onc.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "collapse/mem.h"

/* Kendall's tau-a of (z_q, q), q = 0..K-1: ties in z count 0. */
static double kendall_tau(const double *z, int K)
{
    int64_t s = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++) s += (z[j] > z[i]) - (z[j] < z[i]);
    return (double)s / (0.5 * (double)K * (double)(K - 1));
}

/* Checks of w and b shared with the naive twin. */
static cl_status check_head(int K, int dim, const float *w, const double *b)
{
    if (K < 2 || dim < 1)
        return cl_error(CL_EINVAL, "onc: need K >= 2 classes and dim >= 1 (got K=%d, dim=%d)", K,
                        dim);
    double ww = 0;
    for (int d = 0; d < dim; d++) ww += (double)w[d] * w[d];
    if (!(ww > 0) || !isfinite(ww))
        return cl_error(CL_EINVAL, "onc: the head w is zero or not finite");
    for (int q = 0; q < K - 1; q++)
        if (!isfinite(b[q]) || (q > 0 && !(b[q] > b[q - 1])))
            return cl_error(CL_EINVAL, "onc: thresholds must be finite and increasing "
                                       "(b[%d] = %g)", q, b[q]);
    return CL_OK;
}

/* onc3_mid: mean over q = 1..K-2 of |z_q - (b_{q-1} + b_q)/2| / gap. */
static double mid_distance(const double *z, const double *b, int K, double *gap)
{
    if (K < 3) {
        *gap = NAN;
        return NAN;
    }
    *gap = (b[K - 2] - b[0]) / (K - 2);
    double s = 0;
    for (int q = 1; q <= K - 2; q++) s += fabs(z[q] - 0.5 * (b[q - 1] + b[q]));
    return s / (K - 2) / *gap;
}

cl_status cl_onc_from_means(const double *mu, const int64_t *count, int K, int dim,
                            const float *w, const double *b, const cl_nc_opts *opts, double onc1,
                            double *z, cl_onc_result *r)
{
    cl_nc_opts o = opts ? *opts : cl_nc_opts_default();
    CL_TRY(check_head(K, dim, w, b));
    double *g = cl_alloc_array((size_t)dim + (size_t)K, sizeof(double), "onc scratch");
    if (!g) return CL_ENOMEM;
    double *zq = g + dim; /* [K] */
    /* mu_G: mean of the class means (Papyan), or weighted by the counts */
    double tot = 0;
    for (int q = 0; q < K; q++) tot += o.weighted_mean ? (double)count[q] : 1.0;
    memset(g, 0, sizeof(double) * (size_t)dim);
    for (int q = 0; q < K; q++) {
        double a = (o.weighted_mean ? (double)count[q] : 1.0) / tot;
        for (int d = 0; d < dim; d++) g[d] += a * mu[(size_t)q * dim + d];
    }
    double ww = 0, num = 0, den = 0;
    for (int d = 0; d < dim; d++) ww += (double)w[d] * w[d];
    for (int q = 0; q < K; q++) {
        const double *m = mu + (size_t)q * dim;
        double wm = 0, mm = 0, wz = 0;
        for (int d = 0; d < dim; d++) {
            double c = m[d] - g[d];
            wm += (double)w[d] * c;
            mm += c * c;
            wz += (double)w[d] * m[d];
        }
        num += wm * wm;
        den += mm;
        zq[q] = wz;
    }
    memset(r, 0, sizeof *r);
    r->dim = dim;
    r->K = K;
    r->weighted_mean = o.weighted_mean;
    r->onc1 = onc1;
    r->onc2 = den > 0 ? num / (ww * den) : NAN;
    r->onc3_tau = kendall_tau(zq, K);
    r->onc3_mid = mid_distance(zq, b, K, &r->gap);
    if (z) memcpy(z, zq, sizeof(double) * (size_t)K);
    cl_free(g);
    return CL_OK;
}

cl_status cl_onc_analyze(const float *H, int64_t N, int dim, const int32_t *y, int K,
                         const float *w, const double *b, const cl_nc_opts *opts, double *z,
                         cl_onc_result *r)
{
    CL_TRY(check_head(K, dim, w, b));
    cl_nc_result nr;
    CL_TRY(cl_nc_analyze(H, N, dim, y, K, NULL, NULL, opts, &nr)); /* checks y, N, classes */
    double *mu = cl_alloc_array((size_t)K * ((size_t)dim + 1), sizeof(double), "class means");
    int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "class counts");
    cl_status st = CL_ENOMEM;
    if (mu && cnt) {
        cl_nc_class_sums_add(mu, H, N, dim, y);
        for (int64_t i = 0; i < N; i++) cnt[y[i]]++;
        cl_nc_class_means(mu, mu + (size_t)K * dim, cnt, K, dim);
        st = cl_onc_from_means(mu, cnt, K, dim, w, b, opts, nr.nc1_quotient, z, r);
        r->N = N;
    }
    cl_free(mu);
    cl_free(cnt);
    return st;
}

/* ---- keys ---- */

static const struct {
    const char *name;
    size_t off;
    const char *descr;
} keys[] = {
    {"onc1", offsetof(cl_onc_result, onc1), "within-class variability tr(Sw)/tr(Sb)"},
    {"onc2", offsetof(cl_onc_result, onc2), "fraction of the centred means' scatter along w"},
    {"onc3_tau", offsetof(cl_onc_result, onc3_tau), "Kendall tau of z_q = w.mu_q against q"},
    {"onc3_mid", offsetof(cl_onc_result, onc3_mid),
     "mean |z_q - threshold midpoint| / gap, interior q"},
};
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

int cl_onc_nkeys(void) { return NKEYS; }

const char *cl_onc_key_name(int i)
{
    CL_ASSERT(i >= 0 && i < NKEYS);
    return keys[i].name;
}

double cl_onc_key_value(const cl_onc_result *r, int i)
{
    CL_ASSERT(i >= 0 && i < NKEYS);
    return *(const double *)((const char *)r + keys[i].off);
}

const char *cl_onc_key_descr(int i)
{
    CL_ASSERT(i >= 0 && i < NKEYS);
    return keys[i].descr;
}
