/* Reference twin of cl_nc_analyze: the slow, obvious way, for tests.
 * Forms Sw and Sb as dim x dim matrices, takes the pseudo-inverse of Sb on its
 * top min(K-1, dim) eigenpairs, and loops over samples, classes and pairs.
 * Shares no code with nc.c beyond the key table. */
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "nc_internal.h"

static double dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* equinorm, equiangular, maxangle, etf of the K rows of V [K, dim]. */
static void nc2_naive(const double *V, int K, int dim, double *en, double *ea, double *ma,
                      double *etf)
{
    double nm = 0, ns = 0, cm = 0, cs = 0, mx = 0, fro = 0, e = 0;
    int np = 0;
    for (int c = 0; c < K; c++)
        nm += sqrt(dot(V + c * dim, V + c * dim, dim)) / K;
    for (int c = 0; c < K; c++) {
        double d = sqrt(dot(V + c * dim, V + c * dim, dim)) - nm;
        ns += d * d / K;
    }
    *en = sqrt(ns) / nm;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double g = dot(V + i * dim, V + j * dim, dim);
            fro += g * g;
            if (i == j) continue;
            double cij = g / sqrt(dot(V + i * dim, V + i * dim, dim) *
                                  dot(V + j * dim, V + j * dim, dim));
            cm += cij;
            np++;
        }
    cm /= np;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            if (i == j) continue;
            double cij =
                dot(V + i * dim, V + j * dim, dim) /
                sqrt(dot(V + i * dim, V + i * dim, dim) * dot(V + j * dim, V + j * dim, dim));
            cs += (cij - cm) * (cij - cm) / np;
            mx += fabs(cij + 1.0 / (K - 1)) / np;
        }
    *ea = sqrt(cs);
    *ma = mx;
    fro = sqrt(fro);
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double t = ((i == j) - 1.0 / K) / sqrt(K - 1.0);
            double v = dot(V + i * dim, V + j * dim, dim) / fro - t;
            e += v * v;
        }
    *etf = sqrt(e);
}

/* NCC and classifier decisions of every sample: ncc_acc, and with W nc4
 * and acc (bias: b enters the decision; cosine: argmax <w_c, h>/||w_c||). */
static void predictions_naive(const float *H, int64_t N, int dim, const int32_t *y, int K,
                              const double *mu, const float *W, const float *b, int bias,
                              int cosine, cl_nc_result *r)
{
    int64_t ncc_ok = 0, cls_ok = 0, agree = 0;
    for (int64_t i = 0; i < N; i++) {
        int ncc = 0, cls = 0;
        double best = INFINITY, top = -INFINITY;
        for (int c = 0; c < K; c++) {
            double d2 = 0;
            for (int d = 0; d < dim; d++)
                d2 += pow(H[i * dim + d] - mu[c * dim + d], 2);
            if (d2 < best) {
                best = d2;
                ncc = c;
            }
            if (W) {
                double z = (b && bias && !cosine) ? b[c] : 0, wn = 0;
                for (int d = 0; d < dim; d++) {
                    z += (double)W[c * dim + d] * H[i * dim + d];
                    wn += (double)W[c * dim + d] * W[c * dim + d];
                }
                if (cosine) z /= fmax(sqrt(wn), 1e-12); /* cosine head's argmax */
                if (z > top) {
                    top = z;
                    cls = c;
                }
            }
        }
        ncc_ok += ncc == y[i];
        cls_ok += cls == y[i];
        agree += cls == ncc;
    }
    r->ncc_acc = (double)ncc_ok / (double)N;
    if (W) {
        r->nc4 = 1.0 - (double)agree / (double)N;
        r->acc = (double)cls_ok / (double)N;
    }
}

/* NC3 of the classifier Wd against the centred means M, both [K, dim]. */
static void nc3_naive(const double *Wd, const double *M, int K, int dim, cl_nc_result *r)
{
    double nw = sqrt(dot(Wd, Wd, K * dim)), nm = sqrt(dot(M, M, K * dim)), e = 0, fro = 0;
    for (size_t i = 0; i < (size_t)K * dim; i++)
        e += pow(Wd[i] / nw - M[i] / nm, 2);
    r->nc3 = e;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            fro += pow(dot(Wd + i * dim, M + j * dim, dim), 2);
    fro = sqrt(fro);
    e = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            e += pow(dot(Wd + i * dim, M + j * dim, dim) / fro -
                         ((i == j) - 1.0 / K) / sqrt(K - 1.0),
                     2);
    r->nc3_zhu = sqrt(e);
}

/* NC1 from Sw and Sb [dim, dim]: fuzz, nc1, nc1_quotient. Sp, lam: scratch
 * for the eigenvectors [dim, dim] and eigenvalues [dim] of Sb. */
cl_status cl_nc_nc1_naive(const double *Sw, const double *Sb, double *Sp, double *lam, int dim,
                          int K, cl_nc_result *r)
{
    memcpy(Sp, Sb, (size_t)dim * dim * sizeof(double));
    /* Inside an active parallel region OpenBLAS stays single-threaded (see nc.c). */
    lapack_int info = 0;
#pragma omp parallel num_threads(2)
    {
#pragma omp master
        info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', dim, Sp, dim, lam);
    }
    if (info != 0) return cl_error(CL_ENUMERIC, "nc naive: eigendecomposition failed");
    /* Numerical rank of Sb = M^T M / K (the eigenvalues of M M^T over K,
     * same ratios): eigenvalues above CL_NC_RANK_TOL times the largest. */
    int keep = K - 1 < dim ? K - 1 : dim;
    r->rank_M = 0;
    for (int j = dim - 1; j >= dim - keep; j--)
        if (lam[dim - 1] > 0 && lam[j] > CL_NC_RANK_TOL * lam[dim - 1]) r->rank_M++;
    r->nc1_defined = r->rank_M == keep;
    /* tr(Sw Sb^+) with Sb^+ = sum over the top min(K-1, dim) of v v^T / lambda
     * (NAN when one of them is numerically zero). */
    double tr = 0;
    for (int j = dim - keep; j < dim; j++) {
        double q = 0;
        for (int a = 0; a < dim; a++)
            for (int c = 0; c < dim; c++)
                q += Sp[(size_t)a * dim + j] * Sw[(size_t)a * dim + c] *
                     Sp[(size_t)c * dim + j];
        tr += q / lam[j];
    }
    r->fuzz = r->nc1_defined ? tr : NAN;
    r->nc1 = r->fuzz / K;
    double trw = 0, trb = 0;
    for (int a = 0; a < dim; a++) {
        trw += Sw[(size_t)a * dim + a];
        trb += Sb[(size_t)a * dim + a];
    }
    r->nc1_quotient = trw / trb;
    return CL_OK;
}

cl_status cl_nc_analyze_naive(const float *H, int64_t N, int dim, const int32_t *y, int K,
                              const float *W, const float *b, const cl_nc_opts *opts,
                              cl_nc_result *r)
{
    cl_nc_opts o = opts ? *opts : cl_nc_opts_default();
    cl_status st = CL_OK;
    size_t DD = (size_t)dim * dim;
    double *mu = cl_alloc_array((size_t)K * dim, sizeof(double), "naive mu");
    double *M = cl_alloc_array((size_t)K * dim, sizeof(double), "naive M");
    double *Wd = cl_alloc_array((size_t)K * dim, sizeof(double), "naive W");
    double *Sw = cl_alloc_array(DD, sizeof(double), "naive Sw");
    double *Sb = cl_alloc_array(DD, sizeof(double), "naive Sb");
    double *Sp = cl_alloc_array(DD, sizeof(double), "naive Sb+");
    double *lam = cl_alloc_array((size_t)dim, sizeof(double), "naive eig");
    double *res = cl_alloc_array((size_t)dim, sizeof(double), "naive r");
    double *var = cl_alloc_array((size_t)K, sizeof(double), "naive var");
    int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "naive counts");
    if (!mu || !M || !Wd || !Sw || !Sb || !Sp || !lam || !res || !var || !cnt) {
        st = CL_ENOMEM;
        goto fail;
    }
    memset(r, 0, sizeof *r);
    r->N = N;
    r->dim = dim;
    r->K = K;
    r->has_W = W != NULL;
    r->has_b = W && b;
    r->opts = o;
    for (int64_t i = 0; i < N; i++) {
        if (y[i] < 0 || y[i] >= K) {
            st = cl_error(CL_EINVAL, "nc naive: label out of range");
            goto fail;
        }
        cnt[y[i]]++;
        for (int d = 0; d < dim; d++)
            mu[y[i] * dim + d] += H[i * dim + d];
    }
    for (int c = 0; c < K; c++) {
        if (!cnt[c]) {
            st = cl_error(CL_EINVAL, "nc naive: class %d has no samples", c);
            goto fail;
        }
        for (int d = 0; d < dim; d++)
            mu[c * dim + d] /= (double)cnt[c];
    }
    for (int d = 0; d < dim; d++) {
        double g = 0;
        for (int c = 0; c < K; c++)
            g += mu[c * dim + d] * (o.weighted_mean ? (double)cnt[c] / (double)N : 1.0 / K);
        for (int c = 0; c < K; c++)
            M[c * dim + d] = mu[c * dim + d] - g;
    }
    for (int64_t i = 0; i < N; i++) {
        for (int d = 0; d < dim; d++)
            res[d] = H[i * dim + d] - mu[y[i] * dim + d];
        var[y[i]] += dot(res, res, dim) / (double)cnt[y[i]];
        for (int a = 0; a < dim; a++)
            for (int c = 0; c < dim; c++)
                Sw[(size_t)a * dim + c] += res[a] * res[c] / (double)N;
    }
    for (int k = 0; k < K; k++)
        for (int a = 0; a < dim; a++)
            for (int c = 0; c < dim; c++)
                Sb[(size_t)a * dim + c] += M[k * dim + a] * M[k * dim + c] / K;
    if ((st = cl_nc_nc1_naive(Sw, Sb, Sp, lam, dim, K, r)) != CL_OK) goto fail;
    double cd = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++) {
            double d2 = 0;
            for (int d = 0; d < dim; d++)
                d2 += pow(mu[i * dim + d] - mu[j * dim + d], 2);
            cd += (var[i] + var[j]) / (2 * d2);
        }
    r->cdnv = cd / (K * (K - 1) / 2);
    nc2_naive(M, K, dim, &r->equinorm_M, &r->equiangular_M, &r->maxangle_M, &r->etf_M);

    predictions_naive(H, N, dim, y, K, mu, W, b, o.nc4_bias, o.nc4_cosine, r);
    if (W) {
        for (size_t i = 0; i < (size_t)K * dim; i++)
            Wd[i] = W[i];
        nc2_naive(Wd, K, dim, &r->equinorm_W, &r->equiangular_W, &r->maxangle_W, &r->etf_W);
        nc3_naive(Wd, M, K, dim, r);
    } else {
        r->equinorm_W = r->equiangular_W = r->maxangle_W = r->etf_W = NAN;
        r->nc3 = r->nc3_zhu = r->nc4 = r->acc = NAN;
    }
    st = cl_nc_imbalance_naive(M, W ? Wd : NULL, cnt, K, dim, o.minority, r);
    r->opts.minority = NULL;
    if (st == CL_OK && o.gnc) st = cl_nc_gnc_naive(H, N, dim, y, K, M, W ? Wd : NULL, &o, r);
fail:
    cl_free(mu);
    cl_free(M);
    cl_free(Wd);
    cl_free(Sw);
    cl_free(Sb);
    cl_free(Sp);
    cl_free(lam);
    cl_free(res);
    cl_free(var);
    cl_free(cnt);
    return st;
}
