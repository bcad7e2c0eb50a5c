/* Ridge linear probe on frozen features (transfer.h): least squares onto
 * centred one-hot targets with a Tikhonov term, solved in closed form by a
 * Cholesky factorisation of the dim x dim system (LAPACK dposv). Linear
 * probes of frozen features as in Li et al., TMLR 2024 (arXiv 2212.12206). */
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "collapse/blas.h"
#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/rng.h"
#include "collapse/transfer.h"

/* The normal equations of rows idx[0..n) of H: G = Xc^T Xc [dim, dim] and
 * R = Xc^T Yc [dim, K] with Xc = H - mean (mean [dim] of those rows) and
 * Yc = onehot(y) - 1/K. X [n, dim] and Y [n, K] are scratch. */
static void normal_eq(const float *H, const int32_t *y, const int32_t *idx, int64_t n, int dim,
                      int K, double *mean, double *X, double *Y, double *G, double *R)
{
    memset(mean, 0, sizeof(double) * (size_t)dim);
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < dim; d++) mean[d] += H[(int64_t)idx[i] * dim + d];
    for (int d = 0; d < dim; d++) mean[d] /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        const float *h = H + (int64_t)idx[i] * dim;
        for (int d = 0; d < dim; d++) X[i * dim + d] = h[d] - mean[d];
        for (int c = 0; c < K; c++) Y[i * K + c] = (c == y[idx[i]]) - 1.0 / K;
    }
    cl_dgemm(1, 0, dim, dim, (int)n, 1.0, X, dim, X, dim, 0.0, G, dim);
    cl_dgemm(1, 0, dim, K, (int)n, 1.0, X, dim, Y, K, 0.0, R, K);
}

/* Solves (G + lam_rel tr(G)/dim I) W = R into W [dim, K] (A [dim, dim]
 * scratch). Returns 0, or -1 if the system is not positive definite. */
static int solve(const double *G, const double *R, int dim, int K, double lam_rel, double *A,
                 double *W)
{
    double tr = 0;
    for (int d = 0; d < dim; d++) tr += G[(int64_t)d * dim + d];
    double lam = lam_rel * (tr > 0 ? tr / dim : 1.0);
    memcpy(A, G, sizeof(double) * (size_t)dim * (size_t)dim);
    for (int d = 0; d < dim; d++) A[(int64_t)d * dim + d] += lam;
    memcpy(W, R, sizeof(double) * (size_t)dim * (size_t)K);
    return LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', dim, K, A, dim, W, K) == 0 ? 0 : -1;
}

/* Correct predictions argmax_c (h - mean) W over rows idx[0..n) of H. */
static int64_t correct(const float *H, const int32_t *y, const int32_t *idx, int64_t n, int dim,
                       int K, const double *mean, const double *W, double *score)
{
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *h = H + (int64_t)(idx ? idx[i] : i) * dim;
        memset(score, 0, sizeof(double) * (size_t)K);
        for (int d = 0; d < dim; d++) {
            double v = h[d] - mean[d];
            for (int c = 0; c < K; c++) score[c] += v * W[(int64_t)d * K + c];
        }
        int best = 0;
        for (int c = 1; c < K; c++)
            if (score[c] > score[best]) best = c;
        ok += best == y[idx ? idx[i] : i];
    }
    return ok;
}

cl_status cl_ridge_probe(const float *Htr, int64_t ntr, const int32_t *ytr, const float *Hte,
                         int64_t nte, const int32_t *yte, int dim, int K, double lam_rel,
                         uint64_t seed, double *acc, double *lam_used)
{
    *acc = *lam_used = NAN;
    if (ntr < 2 || nte < 1 || dim < 1 || K < 2 || ntr > INT32_MAX)
        return cl_error(CL_EINVAL, "ridge probe: need >= 2 training samples, test samples, "
                                   "dim >= 1 and K >= 2");
    CL_TRY(cl_nc_labels_in_range(ytr, ntr, K, "ridge probe: training"));
    CL_TRY(cl_nc_labels_in_range(yte, nte, K, "ridge probe: test"));
    size_t D = (size_t)dim, KK = (size_t)K;
    int32_t *idx = cl_alloc_array((size_t)ntr, sizeof(int32_t), "ridge rows");
    double *X = cl_alloc_array((size_t)ntr, D * sizeof(double), "ridge features");
    double *Y = cl_alloc_array((size_t)ntr, KK * sizeof(double), "ridge targets");
    double *G = cl_alloc_array(2 * D * D + 2 * D * KK + D + KK, sizeof(double), "ridge system");
    cl_status st = CL_OK;
    if (!idx || !X || !Y || !G) {
        st = CL_ENOMEM;
        goto done;
    }
    double *A = G + D * D, *R = A + D * D, *W = R + D * KK, *mean = W + D * KK,
           *score = mean + D;
    for (int64_t i = 0; i < ntr; i++) idx[i] = (int32_t)i;
    double lam = lam_rel;
    if (lam_rel <= 0) { /* hold out a seeded 20% of the training set */
        cl_rng r;
        cl_rng_seed(&r, seed);
        cl_rng_shuffle_i32(&r, idx, ntr);
        int64_t nho = ntr / 5 > 0 ? ntr / 5 : 1, nfit = ntr - nho;
        normal_eq(Htr, ytr, idx + nho, nfit, dim, K, mean, X, Y, G, R);
        int64_t best = -1;
        static const double grid[] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1};
        for (int p = 0; p < 7; p++) {
            double l = grid[p];
            if (solve(G, R, dim, K, l, A, W)) continue;
            int64_t ok = correct(Htr, ytr, idx, nho, dim, K, mean, W, score);
            if (ok >= best) best = ok, lam = l;
        }
        if (best < 0) {
            st = cl_error(CL_ENUMERIC, "ridge probe: the system is singular (features not "
                                       "finite?)");
            goto done;
        }
        for (int64_t i = 0; i < ntr; i++) idx[i] = (int32_t)i;
    }
    normal_eq(Htr, ytr, idx, ntr, dim, K, mean, X, Y, G, R);
    if (solve(G, R, dim, K, lam, A, W)) {
        st = cl_error(CL_ENUMERIC, "ridge probe: the system is singular (features not "
                                   "finite?)");
        goto done;
    }
    *acc = (double)correct(Hte, yte, NULL, nte, dim, K, mean, W, score) / (double)nte;
    *lam_used = lam;
done:
    cl_free(idx);
    cl_free(X);
    cl_free(Y);
    cl_free(G);
    return st;
}
