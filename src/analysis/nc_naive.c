/* Reference twin of cl_nc_analyze: the slow, obvious way, for tests.
 * Forms Sw and Sb as D x D matrices, takes the pseudo-inverse of Sb on its
 * top min(K-1, D) eigenpairs, and loops over samples, classes and pairs.
 * Shares no code with nc.c beyond the key table. */
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"

static double dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* equinorm, equiangular, maxangle, etf of the K rows of V [K, D]. */
static void nc2_naive(const double *V, int K, int D, double *en, double *ea, double *ma,
                      double *etf)
{
    double nm = 0, ns = 0, cm = 0, cs = 0, mx = 0, fro = 0, e = 0;
    int np = 0;
    for (int c = 0; c < K; c++)
        nm += sqrt(dot(V + c * D, V + c * D, D)) / K;
    for (int c = 0; c < K; c++) {
        double d = sqrt(dot(V + c * D, V + c * D, D)) - nm;
        ns += d * d / K;
    }
    *en = sqrt(ns) / nm;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double g = dot(V + i * D, V + j * D, D);
            fro += g * g;
            if (i == j) continue;
            double cij =
                g / sqrt(dot(V + i * D, V + i * D, D) * dot(V + j * D, V + j * D, D));
            cm += cij;
            np++;
        }
    cm /= np;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            if (i == j) continue;
            double cij =
                dot(V + i * D, V + j * D, D) /
                sqrt(dot(V + i * D, V + i * D, D) * dot(V + j * D, V + j * D, D));
            cs += (cij - cm) * (cij - cm) / np;
            mx += fabs(cij + 1.0 / (K - 1)) / np;
        }
    *ea = sqrt(cs);
    *ma = mx;
    fro = sqrt(fro);
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double t = ((i == j) - 1.0 / K) / sqrt(K - 1.0);
            double v = dot(V + i * D, V + j * D, D) / fro - t;
            e += v * v;
        }
    *etf = sqrt(e);
}

cl_status cl_nc_analyze_naive(const float *H, int64_t N, int D, const int32_t *y, int K,
                              const float *W, const float *b, const cl_nc_opts *opts,
                              cl_nc_result *r)
{
    cl_nc_opts o = opts ? *opts : cl_nc_opts_default();
    cl_status st = CL_OK;
    size_t DD = (size_t)D * D;
    double *mu = cl_alloc_array((size_t)K * D, sizeof(double), "naive mu");
    double *M = cl_alloc_array((size_t)K * D, sizeof(double), "naive M");
    double *Wd = cl_alloc_array((size_t)K * D, sizeof(double), "naive W");
    double *Sw = cl_alloc_array(DD, sizeof(double), "naive Sw");
    double *Sb = cl_alloc_array(DD, sizeof(double), "naive Sb");
    double *Sp = cl_alloc_array(DD, sizeof(double), "naive Sb+");
    double *lam = cl_alloc_array((size_t)D, sizeof(double), "naive eig");
    double *res = cl_alloc_array((size_t)D, sizeof(double), "naive r");
    double *var = cl_alloc_array((size_t)K, sizeof(double), "naive var");
    int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "naive counts");
    if (!mu || !M || !Wd || !Sw || !Sb || !Sp || !lam || !res || !var || !cnt) {
        st = CL_ENOMEM;
        goto fail;
    }
    memset(r, 0, sizeof *r);
    r->N = N;
    r->D = D;
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
        for (int d = 0; d < D; d++)
            mu[y[i] * D + d] += H[i * D + d];
    }
    for (int c = 0; c < K; c++) {
        if (!cnt[c]) {
            st = cl_error(CL_EINVAL, "nc naive: class %d has no samples", c);
            goto fail;
        }
        for (int d = 0; d < D; d++)
            mu[c * D + d] /= (double)cnt[c];
    }
    for (int d = 0; d < D; d++) {
        double g = 0;
        for (int c = 0; c < K; c++)
            g += mu[c * D + d] * (o.weighted_mean ? (double)cnt[c] / (double)N : 1.0 / K);
        for (int c = 0; c < K; c++)
            M[c * D + d] = mu[c * D + d] - g;
    }
    for (int64_t i = 0; i < N; i++) {
        for (int d = 0; d < D; d++)
            res[d] = H[i * D + d] - mu[y[i] * D + d];
        var[y[i]] += dot(res, res, D) / (double)cnt[y[i]];
        for (int a = 0; a < D; a++)
            for (int c = 0; c < D; c++)
                Sw[(size_t)a * D + c] += res[a] * res[c] / (double)N;
    }
    for (int k = 0; k < K; k++)
        for (int a = 0; a < D; a++)
            for (int c = 0; c < D; c++)
                Sb[(size_t)a * D + c] += M[k * D + a] * M[k * D + c] / K;
    memcpy(Sp, Sb, DD * sizeof(double));
    /* Inside an active parallel region OpenBLAS stays single-threaded (see nc.c). */
    lapack_int info = 0;
#pragma omp parallel num_threads(2)
    {
#pragma omp master
        info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', D, Sp, D, lam);
    }
    if (info != 0) {
        st = cl_error(CL_ENUMERIC, "nc naive: eigendecomposition failed");
        goto fail;
    }
    /* tr(Sw Sb^+) with Sb^+ = sum over the top min(K-1, D) of v v^T / lambda. */
    int keep = K - 1 < D ? K - 1 : D;
    double tr = 0;
    for (int j = D - keep; j < D; j++) {
        double q = 0;
        for (int a = 0; a < D; a++)
            for (int c = 0; c < D; c++)
                q +=
                    Sp[(size_t)a * D + j] * Sw[(size_t)a * D + c] * Sp[(size_t)c * D + j];
        tr += q / lam[j];
    }
    r->fuzz = tr;
    r->nc1 = tr / K;
    double trw = 0, trb = 0;
    for (int a = 0; a < D; a++) {
        trw += Sw[(size_t)a * D + a];
        trb += Sb[(size_t)a * D + a];
    }
    r->nc1_quotient = trw / trb;
    double cd = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++) {
            double d2 = 0;
            for (int d = 0; d < D; d++)
                d2 += pow(mu[i * D + d] - mu[j * D + d], 2);
            cd += (var[i] + var[j]) / (2 * d2);
        }
    r->cdnv = cd / (K * (K - 1) / 2);
    nc2_naive(M, K, D, &r->equinorm_M, &r->equiangular_M, &r->maxangle_M, &r->etf_M);

    int64_t ncc_ok = 0, cls_ok = 0, agree = 0;
    for (int64_t i = 0; i < N; i++) {
        int ncc = 0, cls = 0;
        double best = INFINITY, top = -INFINITY;
        for (int c = 0; c < K; c++) {
            double d2 = 0;
            for (int d = 0; d < D; d++)
                d2 += pow(H[i * D + d] - mu[c * D + d], 2);
            if (d2 < best) {
                best = d2;
                ncc = c;
            }
            if (W) {
                double z = (b && o.nc4_bias) ? b[c] : 0;
                for (int d = 0; d < D; d++)
                    z += (double)W[c * D + d] * H[i * D + d];
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
        for (size_t i = 0; i < (size_t)K * D; i++)
            Wd[i] = W[i];
        nc2_naive(Wd, K, D, &r->equinorm_W, &r->equiangular_W, &r->maxangle_W, &r->etf_W);
        double nw = sqrt(dot(Wd, Wd, K * D)), nm = sqrt(dot(M, M, K * D)), e = 0, fro = 0;
        for (size_t i = 0; i < (size_t)K * D; i++)
            e += pow(Wd[i] / nw - M[i] / nm, 2);
        r->nc3 = e;
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++)
                fro += pow(dot(Wd + i * D, M + j * D, D), 2);
        fro = sqrt(fro);
        e = 0;
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++)
                e += pow(dot(Wd + i * D, M + j * D, D) / fro -
                             ((i == j) - 1.0 / K) / sqrt(K - 1.0),
                         2);
        r->nc3_zhu = sqrt(e);
        r->nc4 = 1.0 - (double)agree / (double)N;
        r->acc = (double)cls_ok / (double)N;
    } else {
        r->equinorm_W = r->equiangular_W = r->maxangle_W = r->etf_W = NAN;
        r->nc3 = r->nc3_zhu = r->nc4 = r->acc = NAN;
    }
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
