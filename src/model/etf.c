/* Simplex ETF classifier rows, zero-padded or randomly rotated. */
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "collapse/etf.h"
#include "collapse/mem.h"
#include "collapse/rng.h"

cl_status cl_etf_mode_parse(const char *s, cl_etf_mode *mode)
{
    if (s && !strcmp(s, "pad")) *mode = CL_ETF_PAD;
    else if (s && !strcmp(s, "rotate")) *mode = CL_ETF_ROTATE;
    else return cl_error(CL_EINVAL, "unknown ETF mode '%s' (pad or rotate)", s ? s : "(null)");
    return CL_OK;
}

const char *cl_etf_mode_name(cl_etf_mode m) { return m == CL_ETF_ROTATE ? "rotate" : "pad"; }

cl_status cl_etf_fill(float *W, int K, int dim, cl_etf_mode mode, uint64_t seed)
{
    if (K < 2 || dim < K)
        return cl_error(CL_EINVAL, "ETF classifier needs K >= 2 classes and feature dim D >= K "
                                   "(got K=%d, D=%d; use --feature-dim)", K, dim);
    const double s = sqrt((double)K / (K - 1));
    /* M [K, K]: M[k][j] = s (delta_kj - 1/K) */
    if (mode == CL_ETF_PAD) {
        for (int k = 0; k < K; k++)
            for (int j = 0; j < dim; j++)
                W[(int64_t)k * dim + j] = j < K ? (float)(s * ((k == j) - 1.0 / K)) : 0.0f;
        return CL_OK;
    }
    /* U [dim, K] row-major: Q factor of a Gaussian matrix. */
    double *U = cl_alloc_array((size_t)dim * K, sizeof(double), "ETF rotation");
    double *tau = cl_alloc_array((size_t)K, sizeof(double), "ETF rotation");
    cl_status st = CL_OK;
    if (!U || !tau) {
        st = CL_ENOMEM;
        goto done;
    }
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    for (int64_t i = 0; i < (int64_t)dim * K; i++) U[i] = cl_rng_normal(&rng);
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, dim, K, U, K, tau) != 0 ||
        LAPACKE_dorgqr(LAPACK_ROW_MAJOR, dim, K, K, U, K, tau) != 0) {
        st = cl_error(CL_ENUMERIC, "ETF rotation: QR factorization failed");
        goto done;
    }
    /* W[k][d] = sum_j U[d][j] M[j][k] = s (U[d][k] - mean_j U[d][j]) */
    for (int d = 0; d < dim; d++) {
        double mean = 0;
        for (int j = 0; j < K; j++) mean += U[(int64_t)d * K + j];
        mean /= K;
        for (int k = 0; k < K; k++)
            W[(int64_t)k * dim + d] = (float)(s * (U[(int64_t)d * K + k] - mean));
    }
done:
    cl_free(U);
    cl_free(tau);
    return st;
}
