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

/* Solves the n x n system A x = b in place (partial pivoting); 0 if singular. */
static int solve(double *A, double *b, int n)
{
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(A[r * n + c]) > fabs(A[p * n + c])) p = r;
        if (fabs(A[p * n + c]) < 1e-13) return 0;
        for (int j = 0; j < n; j++) {
            double t = A[c * n + j];
            A[c * n + j] = A[p * n + j];
            A[p * n + j] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < n; r++) {
            double f = A[r * n + c] / A[c * n + c];
            for (int j = c; j < n; j++) A[r * n + j] -= f * A[c * n + j];
            b[r] -= f * b[c];
        }
    }
    for (int c = n - 1; c >= 0; c--) {
        for (int j = c + 1; j < n; j++) b[c] -= A[c * n + j] * b[j];
        b[c] /= A[c * n + c];
    }
    return 1;
}

/* Distance from row k of the unit rows U [K, dim] to the hull of the
 * others by enumerating faces: every subset S of at most dim + 1 other
 * rows; the projection of u_k on aff(S) (normal equations) counts when its
 * barycentric weights are >= 0. The nearest counted point is the nearest
 * point of the hull (it lies in the relative interior of some affinely
 * independent face). work: [(dim + 2)^2 + 2 (dim + 2) + dim]. */
static double hull_dist_naive(const double *U, int K, int dim, int k, double *work)
{
    const int m = K - 1;
    const int lim = dim + 1 < m ? dim + 1 : m;
    double best = INFINITY;
    int idx[64];
    for (long mask = 1; mask < (1L << m); mask++) {
        int n = 0;
        for (int j = 0; j < m && n <= lim; j++)
            if (mask >> j & 1) idx[n++] = j < k ? j : j + 1;
        if (n > lim) continue;
        const double *s0 = U + (size_t)idx[0] * dim;
        double *A = work, *t = work + (size_t)(dim + 2) * (dim + 2), *x = t + dim + 2;
        for (int a = 1; a < n; a++) {
            const double *pa = U + (size_t)idx[a] * dim, *uk = U + (size_t)k * dim;
            t[a - 1] = 0;
            for (int d = 0; d < dim; d++) t[a - 1] += (pa[d] - s0[d]) * (uk[d] - s0[d]);
            for (int b = 1; b < n; b++) {
                const double *pb = U + (size_t)idx[b] * dim;
                double v = 0;
                for (int d = 0; d < dim; d++) v += (pa[d] - s0[d]) * (pb[d] - s0[d]);
                A[(a - 1) * (n - 1) + b - 1] = v;
            }
        }
        if (n > 1 && !solve(A, t, n - 1)) continue;
        double l0 = 1, neg = 0;
        for (int a = 1; a < n; a++) {
            l0 -= t[a - 1];
            neg = fmin(neg, t[a - 1]);
        }
        if (fmin(neg, l0) < -1e-12) continue;
        double dd = 0;
        for (int d = 0; d < dim; d++) {
            x[d] = l0 * s0[d] - U[(size_t)k * dim + d];
            for (int a = 1; a < n; a++) x[d] += t[a - 1] * U[(size_t)idx[a] * dim + d];
            dd += x[d] * x[d];
        }
        best = fmin(best, sqrt(dd));
    }
    return best;
}

/* gnc1 the slow way: NC1 of the rows h/||h|| (0 for a zero row), with
 * dim x dim Sw and Sb in double, the run's mu_G convention. NAN if the
 * normalised means span too few dimensions. */
static cl_status gnc1_naive(const float *H, int64_t N, int dim, const int32_t *y, int K,
                            int weighted, cl_nc_result *r)
{
    cl_status st = CL_OK;
    size_t DD = (size_t)dim * dim;
    double *mu = cl_alloc_array((size_t)K * dim, sizeof(double), "gnc naive mu");
    double *h = cl_alloc_array((size_t)dim, sizeof(double), "gnc naive h");
    double *Sw = cl_alloc_array(DD, sizeof(double), "gnc naive Sw");
    double *Sb = cl_alloc_array(DD, sizeof(double), "gnc naive Sb");
    double *Sp = cl_alloc_array(DD, sizeof(double), "gnc naive Sp");
    double *lam = cl_alloc_array((size_t)dim, sizeof(double), "gnc naive eig");
    int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "gnc naive counts");
    if (!mu || !h || !Sw || !Sb || !Sp || !lam || !cnt) {
        st = CL_ENOMEM;
        goto out;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int64_t i = 0; i < N; i++) {
            double q = 0;
            for (int d = 0; d < dim; d++) q += (double)H[i * dim + d] * H[i * dim + d];
            for (int d = 0; d < dim; d++) h[d] = q > 0 ? H[i * dim + d] / sqrt(q) : 0;
            if (pass == 0) {
                cnt[y[i]]++;
                for (int d = 0; d < dim; d++) mu[y[i] * dim + d] += h[d];
                continue;
            }
            if (i == 0) /* between the passes: class means */
                for (int c = 0; c < K; c++)
                    for (int d = 0; d < dim; d++) mu[c * dim + d] /= (double)cnt[c];
            for (int a = 0; a < dim; a++)
                for (int b = 0; b < dim; b++)
                    Sw[(size_t)a * dim + b] += (h[a] - mu[y[i] * dim + a]) *
                                               (h[b] - mu[y[i] * dim + b]) / (double)N;
        }
    for (int a = 0; a < dim; a++) { /* centre the means */
        double g = 0;
        for (int c = 0; c < K; c++)
            g += mu[c * dim + a] * (weighted ? (double)cnt[c] / (double)N : 1.0 / K);
        for (int c = 0; c < K; c++) mu[c * dim + a] -= g;
    }
    for (int c = 0; c < K; c++)
        for (int a = 0; a < dim; a++)
            for (int b = 0; b < dim; b++)
                Sb[(size_t)a * dim + b] += mu[c * dim + a] * mu[c * dim + b] / K;
    cl_nc_result t;
    r->gnc1 = NAN;
    /* NAN when the normalised means are rank-deficient (CL_NC_RANK_TOL) */
    if (cl_nc_nc1_naive(Sw, Sb, Sp, lam, dim, K, &t) == CL_OK) r->gnc1 = t.nc1;
    cl_errclear();
out:
    cl_free(mu);
    cl_free(h);
    cl_free(Sw);
    cl_free(Sb);
    cl_free(Sp);
    cl_free(lam);
    cl_free(cnt);
    return st;
}

/* log(1/||u_i - u_j||), u_c = M_c/||M_c|| (Liu et al. 2023's log kernel). */
static double pair_log(const double *M, int i, int j, int dim)
{
    double a = 0, na = 0, nb = 0;
    for (int d = 0; d < dim; d++) {
        na += M[i * dim + d] * M[i * dim + d];
        nb += M[j * dim + d] * M[j * dim + d];
    }
    for (int d = 0; d < dim; d++) {
        double v = M[i * dim + d] / sqrt(na) - M[j * dim + d] / sqrt(nb);
        a += v * v;
    }
    return -0.5 * log(a);
}

/* Generalized NC (Jiang, Zhou et al. 2024; Liu et al. 2023) the slow way.
 * gnc2 by face enumeration (K <= 16, else NAN). */
cl_status cl_nc_gnc_naive(const float *H, int64_t N, int dim, const int32_t *y, int K,
                          const double *M, const double *Wd, const cl_nc_opts *o,
                          cl_nc_result *r)
{
    cl_status st = CL_OK;
    double *U = cl_alloc_array((size_t)K * dim, sizeof(double), "naive unit rows");
    double *work = cl_alloc_array((size_t)(dim + 4) * (dim + 4) + 2 * (size_t)dim + 8,
                                  sizeof(double), "naive hull");
    if (!U || !work) {
        st = CL_ENOMEM;
        goto out;
    }
    r->groups |= CL_NC_GROUP_BIT(CL_NC_GROUP_GNC);
    if ((st = gnc1_naive(H, N, dim, y, K, o->weighted_mean, r)) != CL_OK) goto out;
    double s = 0, s2 = 0;
    int np = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++, np++) s += pair_log(M, i, j, dim);
    r->hsu_log_mean = s / np;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++) s2 += pow(pair_log(M, i, j, dim) - r->hsu_log_mean, 2);
    r->hsu_log_var = s2 / np;
    r->gnc2 = r->gnc3 = NAN;
    if (!Wd) goto out;
    double g3 = 0;
    for (int k = 0; k < K; k++) {
        g3 += 1 - cosine(Wd + (size_t)k * dim, M + (size_t)k * dim, dim);
        double nn = 0;
        for (int d = 0; d < dim; d++) nn += Wd[k * dim + d] * Wd[k * dim + d];
        for (int d = 0; d < dim; d++) U[k * dim + d] = Wd[k * dim + d] / sqrt(nn);
    }
    r->gnc3 = g3 / K;
    if (K <= 16) {
        r->gnc2 = INFINITY;
        for (int k = 0; k < K; k++) r->gnc2 = fmin(r->gnc2, hull_dist_naive(U, K, dim, k, work));
    }
out:
    cl_free(U);
    cl_free(work);
    return st;
}
