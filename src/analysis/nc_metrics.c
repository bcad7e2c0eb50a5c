/* Neural-collapse metrics from the streaming analyzer's state after both
 * passes (nc.c): NC1 from the K x K products and the eigendecomposition of
 * G = A A^T, NC2 from Gram matrices, NC3, NC4. Formulas: docs/METRICS.md. */
#include <math.h>
#include <string.h>

#include "collapse/blas.h"
#include "nc_internal.h"

static double mean_std(const double *x, int n, double *sd)
{
    double m = 0, v = 0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= n;
    for (int i = 0; i < n; i++)
        v += (x[i] - m) * (x[i] - m);
    *sd = sqrt(v / n); /* population std: see docs/METRICS.md */
    return m;
}

/* ETF distance of a general K x K matrix Z: || Z/||Z||_F - (I - 11^T/K)/sqrt(K-1) ||_F.
 */
static double etf_dist(const double *Z, int K)
{
    double fro = 0;
    for (int i = 0; i < K * K; i++)
        fro += Z[i] * Z[i];
    fro = sqrt(fro);
    double e = 0, sk = sqrt((double)(K - 1));
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double v = Z[i * K + j] / fro - ((i == j ? 1.0 : 0.0) - 1.0 / K) / sk;
            e += v * v;
        }
    return sqrt(e);
}

/* NC2 of a K x K Gram matrix (of M or W): equinorm, equiangular, maxangle, etf. */
static void nc2(const double *G, int K, double *work, double *equinorm,
                double *equiangular, double *maxangle, double *etf)
{
    double *norms = work, sd;
    for (int c = 0; c < K; c++)
        norms[c] = sqrt(G[c * K + c] > 0 ? G[c * K + c] : 0);
    double m = mean_std(norms, K, &sd);
    *equinorm = sd / m;
    int npairs = K * (K - 1) / 2, k = 0;
    double *cosv = work + K, dev = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++) {
            double cs = G[i * K + j] / (norms[i] * norms[j]);
            cosv[k++] = cs;
            dev += fabs(cs + 1.0 / (K - 1));
        }
    mean_std(cosv, npairs, &sd);
    *equiangular = sd;
    *maxangle = dev / npairs;
    *etf = etf_dist(G, K);
}

/* Minority collapse (Fang, He, Long & Su, PNAS 2021): with enough
 * imbalance the minority classifier rows (and centred means) collapse to
 * one direction, their mean pairwise cosine -> 1. The minority flag of a
 * class is read from minor, else recomputed from the counts. */
void cl_nc_imbalance(const unsigned char *minor, const int64_t *cnt, int K, const double *G,
                     const double *WW, cl_nc_result *r)
{
    int64_t top = 0, low = INT64_MAX;
    for (int c = 0; c < K; c++) {
        top = cnt[c] > top ? cnt[c] : top;
        low = cnt[c] < low ? cnt[c] : low;
    }
    if (!minor && low == top) return; /* balanced, no explicit set: not computed */
    r->groups |= CL_NC_GROUP_BIT(CL_NC_GROUP_IMBALANCE);
    r->nminority = 0;
    /* Minority flags: explicit, else fewer samples than the largest class. */
    double cM[2], cW[2];
    for (int want = 0; want < 2; want++) {
        double sM = 0, sW = 0;
        int64_t np = 0;
        for (int i = 0; i < K; i++) {
            int mi = minor ? minor[i] != 0 : cnt[i] < top;
            if (want) r->nminority += mi;
            if (mi != want) continue;
            for (int j = i + 1; j < K; j++) {
                int mj = minor ? minor[j] != 0 : cnt[j] < top;
                if (mj != want) continue;
                sM += G[i * K + j] / sqrt(G[i * K + i] * G[j * K + j]);
                if (WW) sW += WW[i * K + j] / sqrt(WW[i * K + i] * WW[j * K + j]);
                np++;
            }
        }
        cM[want] = np ? sM / (double)np : NAN;
        cW[want] = np && WW ? sW / (double)np : NAN;
    }
    r->minority_cos_M = cM[1];
    r->minority_cos_W = cW[1];
    r->majority_cos_M = cM[0];
    r->majority_cos_W = cW[0];
}

int cl_nc_rank(const double *eval, int n, int keep)
{
    const double lmax = eval[n - 1];
    int rank = 0;
    for (int j = n - 1; j >= n - keep && lmax > 0 && eval[j] > CL_NC_RANK_TOL * lmax; j--)
        rank++;
    return rank;
}

/* tr(Sw Sb^+)/K = sum_i u_i^T (C/N) u_i / lambda_i^2 over the top `keep`
 * eigenpairs (u_i, lambda_i) of G = A A^T (columns of evec, ascending). */
static double sw_sb_trace(const double *C, const double *evec, const double *eval, int K,
                          int keep, double N)
{
    double tr = 0;
    for (int j = K - keep; j < K; j++) {
        double q = 0;
        for (int a = 0; a < K; a++) {
            double ca = 0;
            for (int b = 0; b < K; b++)
                ca += C[a * K + b] * evec[b * K + j];
            q += evec[a * K + j] * ca;
        }
        tr += q / N / (eval[j] * eval[j]);
    }
    return tr;
}

/* The gnc group (Jiang, Zhou et al. 2024; Liu et al. 2023) into r: gnc1
 * from the normalised accumulators (NAN when the normalised means span
 * fewer than keep dimensions), gnc2 from W, gnc3 and hsu from the Grams. */
static cl_status gnc_keys(cl_nc_stream *s, const double *WW, const double *WM, int keep,
                          cl_nc_result *r)
{
    const int K = s->K;
    r->groups |= CL_NC_GROUP_BIT(CL_NC_GROUP_GNC);
    r->gnc1 = cl_nc_rank(s->neval, K, keep) == keep
                  ? sw_sb_trace(s->nC, s->nevec, s->neval, K, keep, (double)s->n1)
                  : NAN;
    r->gnc2 = NAN;
    if (s->has_W) CL_TRY(cl_nc_gnc2(s->B + (size_t)K * s->dim, K, s->dim, &r->gnc2));
    cl_nc_gnc_from_grams(s->G, s->has_W ? WW : NULL, s->has_W ? WM : NULL, K, r);
    return CL_OK;
}

cl_status cl_nc_finish(cl_nc_stream *s)
{
    const int K = s->K, dim = s->dim;
    const size_t KD = (size_t)K * dim;
    cl_nc_result *r = &s->res;
    memset(r, 0, sizeof *r);
    r->N = s->n1;
    r->dim = dim;
    r->K = K;
    r->has_W = s->has_W;
    r->has_b = s->has_b;
    r->opts = s->opts;
    const double N = (double)s->n1;

    /* NC1: tr(Sw Sb^+) = K sum_i u_i^T (C/N) u_i / lambda_i^2 over the top
     * min(K-1, dim) eigenpairs of G = A A^T; undefined (NAN) when fewer of
     * them exceed CL_NC_RANK_TOL lambda_max (rank-deficient class means). */
    int keep = K - 1 < dim ? K - 1 : dim;
    r->rank_M = cl_nc_rank(s->eval, K, keep);
    r->nc1_defined = r->rank_M == keep;
    r->fuzz = r->nc1_defined ? K * sw_sb_trace(s->C, s->evec, s->eval, K, keep, N) : NAN;
    r->nc1 = r->fuzz / K;

    double trSw = 0, trG = 0;
    for (int c = 0; c < K; c++)
        trSw += s->ssq[c];
    trSw /= N;
    if (!isfinite(trSw) || (r->nc1_defined && !isfinite(r->fuzz)))
        return cl_error(CL_ENUMERIC, "nc: features of pass 2 are not finite");
    for (int c = 0; c < K; c++)
        trG += s->G[c * K + c];
    r->nc1_quotient = trSw / (trG / K);

    double cd = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++) {
            double vi = s->ssq[i] / (double)s->cnt1[i],
                   vj = s->ssq[j] / (double)s->cnt1[j];
            cd += (vi + vj) / (2 * s->AD[i * K + j]);
        }
    r->cdnv = cd / (K * (K - 1) / 2);

    double *WW = s->scratch, *WM = WW + (size_t)K * K, *work = WM + (size_t)K * K;
    nc2(s->G, K, work, &r->equinorm_M, &r->equiangular_M, &r->maxangle_M, &r->etf_M);
    r->ncc_acc = (double)s->ncc_ok / N;

    if (s->has_W) {
        const double *A = s->B, *W = s->B + KD;
        cl_dgemm(0, 1, K, K, dim, 1.0, W, dim, W, dim, 0.0, WW, K);
        cl_dgemm(0, 1, K, K, dim, 1.0, W, dim, A, dim, 0.0, WM, K);
        nc2(WW, K, work, &r->equinorm_W, &r->equiangular_W, &r->maxangle_W, &r->etf_W);
        double nw = 0, nm = 0;
        for (int c = 0; c < K; c++) {
            nw += WW[c * K + c];
            nm += s->G[c * K + c];
        }
        nw = sqrt(nw);
        nm = sqrt(nm);
        double e = 0;
        for (size_t i = 0; i < KD; i++) {
            double v = W[i] / nw - A[i] / nm;
            e += v * v;
        }
        r->nc3 = e;
        r->nc3_zhu = etf_dist(WM, K);
        r->nc4 = 1.0 - (double)s->agree / N;
        r->acc = (double)s->cls_ok / N;
    } else {
        r->equinorm_W = r->equiangular_W = r->maxangle_W = r->etf_W = NAN;
        r->nc3 = r->nc3_zhu = r->nc4 = r->acc = NAN;
    }
    cl_nc_imbalance(s->minor, s->cnt1, K, s->G, s->has_W ? WW : NULL, r);
    if (s->opts.gnc) return gnc_keys(s, WW, WM, keep, r);
    return CL_OK;
}

