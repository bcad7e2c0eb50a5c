/* Neural regression collapse (NRC1-NRC3) and regression error per target.
 * Pure functions over matrices: no dependency on layers, training or data.
 * Source: Andriopoulos, Dong, Guo, Zhao, Ross, "The prevalence of neural
 * collapse in neural multivariate regression", NeurIPS 2024. Formulas and
 * conventions: docs/METRICS.md, section "Regression (NRC)".
 *
 * Notation: M samples, features H [M, dim] (row-major float32), targets
 * Y [M, n], regression head W [n, dim] and bias b [n] (prediction W h + b).
 *
 * Conventions (all accumulation in double):
 *   - normalised features: h~_i = (h_i - h_bar)/||h_i - h_bar|| with h_bar
 *     the sample mean (default, "centred"), or h~_i = h_i/||h_i||
 *     (opts.uncentred); a zero vector stays zero;
 *   - G = (1/M) sum_i h~_i h~_i^T  [dim, dim], the second moment of the
 *     normalised features; the PCA directions are its top-n eigenvectors;
 *   - NRC1 = (1/M) sum ||h~_i - P_pca,n h~_i||^2 = tr G - (sum of the n
 *     largest eigenvalues of G);
 *   - NRC2 = (1/M) sum ||h~_i - P_row(W) h~_i||^2, P_row(W) =
 *     W^T (W W^T)^+ W (pseudo-inverse: eigenvalues above 1e-12 * the largest);
 *   - Sigma = (1/M) sum (y_i - y_bar)(y_i - y_bar)^T (population, 1/M);
 *   - NRC3 = min over gamma in [0, lambda_min(Sigma)] of
 *     ||W W^T/||W W^T||_F - (Sigma^{1/2} - sqrt(gamma) I)/||Sigma^{1/2} -
 *     sqrt(gamma) I||_F||_F^2, minimised exactly (closed form: the stationary
 *     point in s = sqrt(gamma) is unique, so the minimum is there or at an end);
 *     nrc3_gamma is the minimiser;
 *   - per target j: mse_j = (1/M) sum_i (w_j.h_i + b_j - y_ij)^2 and
 *     r2_j = 1 - M mse_j / sum_i (y_ij - y_bar_j)^2; "mse" and "r2" are their
 *     means over the targets. */
#ifndef COLLAPSE_NRC_H
#define COLLAPSE_NRC_H

#include <stdint.h>

#include "collapse/comm.h"
#include "collapse/error.h"

#define CL_NRC_MAX_TARGETS 32 /* n <= this */
#define CL_NRC_MAX_DIM 4096   /* dim <= this: G is dim x dim doubles */

typedef struct {
    int uncentred; /* 0 (default): centre the features before normalising */
} cl_nrc_opts;

cl_nrc_opts cl_nrc_opts_default(void);

typedef struct {
    int64_t M;
    int dim, n;
    int has_W, has_b, has_Y; /* which inputs were given */
    cl_nrc_opts opts;
    double nrc1;             /* always defined */
    double nrc2;             /* needs W */
    double nrc3, nrc3_gamma; /* need W and Y */
    double mse, r2;          /* need W and Y: means over targets */
    double sigma_min, sigma_max; /* extreme eigenvalues of Sigma (needs Y) */
    double mse_t[CL_NRC_MAX_TARGETS], r2_t[CL_NRC_MAX_TARGETS]; /* per target */
} cl_nrc_result;
/* Keys whose inputs are missing are NAN; r2_j is NAN for a constant target. */

typedef struct cl_nrc_stream cl_nrc_stream;

/* 1 <= n <= min(dim, CL_NRC_MAX_TARGETS), dim <= CL_NRC_MAX_DIM. W [n, dim]
 * and b [n] are copied; either may be NULL (b is ignored without W). opts
 * NULL means cl_nrc_opts_default(). Memory: dim^2 + O(n dim) doubles.
 * Not thread-safe. Errors: CL_EINVAL (sizes), CL_ENOMEM. */
cl_status cl_nrc_stream_create(cl_nrc_stream **s, int dim, int n, const float *W,
                               const float *b, const cl_nrc_opts *opts);
void cl_nrc_stream_destroy(cl_nrc_stream *s);
/* Starts over (both passes), keeping the sizes, W, b and opts. */
void cl_nrc_stream_reset(cl_nrc_stream *s);
/* Pass 1, then pass 2: every sample once per pass, in any batches.
 * H [m, dim] with row stride ld (>= dim); Y [m, n] contiguous, or NULL in
 * every call of both passes (then nrc3, mse and r2 are NAN).
 * Errors: CL_EINVAL (wrong pass, Y given in some calls only). */
cl_status cl_nrc_stream_feed1(cl_nrc_stream *s, const float *H, int64_t m, int64_t ld,
                              const float *Y);
cl_status cl_nrc_stream_end1(cl_nrc_stream *s);
cl_status cl_nrc_stream_feed2(cl_nrc_stream *s, const float *H, int64_t m, int64_t ld,
                              const float *Y);
/* Ends pass 2 and fills every key. Errors: CL_EINVAL (pass order, sample
 * counts of the passes differ, M < 2), CL_ENUMERIC (non-finite input or a
 * failed eigendecomposition). W = 0 gives nrc3 = nrc3_gamma = NAN. */
cl_status cl_nrc_stream_result(cl_nrc_stream *s, cl_nrc_result *r);

/* Data-parallel streams (issue 12), as cl_nc_stream_reduce1/2 (nc.h): each
 * rank feeds its shard; reduce1 (after the last feed1, before end1) sums the
 * feature and target sums, squared errors and counts over the ranks of
 * comm, reduce2 (after the last feed2, before the result) the Gram of the
 * normalised features and the target scatter. Once per pass, on every rank.
 * NULL comm or one rank: nothing changes. Errors: CL_EINVAL (wrong pass),
 * CL_EIO (the collective failed). */
cl_status cl_nrc_stream_reduce1(cl_nrc_stream *s, cl_comm *comm);
cl_status cl_nrc_stream_reduce2(cl_nrc_stream *s, cl_comm *comm);

/* In memory: both passes over H [M, dim] (contiguous), Y [M, n] or NULL. */
cl_status cl_nrc_analyze(const float *H, int64_t M, int dim, const float *Y, int n,
                         const float *W, const float *b, const cl_nrc_opts *opts,
                         cl_nrc_result *r);

/* Reference twin for tests: explicit normalised feature matrix, eigenvectors
 * and projection matrices, and a golden-section search over gamma on the
 * explicit matrix distance. O(M dim^2 + dim^3): small sizes only. */
cl_status cl_nrc_analyze_naive(const float *H, int64_t M, int dim, const float *Y, int n,
                               const float *W, const float *b, const cl_nrc_opts *opts,
                               cl_nrc_result *r);

/* NRC3 alone from W W^T [n, n] (A) and Sigma [n, n], both symmetric: the
 * exact minimum over gamma in [0, lambda_min(Sigma)] into *nrc3 and its
 * minimiser into *gamma; both NAN when A = 0 or Sigma = 0 (undefined).
 * Errors: CL_ENUMERIC (non-finite A, failed eigensolver). */
cl_status cl_nrc3_from_gram(const double *A, const double *Sigma, int n, double *nrc3,
                            double *gamma);

/* The scalar output keys in a fixed order: nrc1, nrc2, nrc3, nrc3_gamma,
 * mse, r2 (the per-target values are in mse_t/r2_t). */
int cl_nrc_nkeys(void);
const char *cl_nrc_key_name(int i);                     /* 0 <= i < cl_nrc_nkeys() */
double cl_nrc_key_value(const cl_nrc_result *r, int i); /* NAN if undefined */
const char *cl_nrc_key_descr(int i);

#endif
