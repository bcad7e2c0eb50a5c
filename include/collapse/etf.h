/* Fixed simplex equiangular tight frame (ETF) classifier weights.
 *
 * The K rows of a simplex ETF are sqrt(K/(K-1)) (e_k - 1/K 1): unit norm,
 * pairwise cosine -1/(K-1). Placed in dim >= K dimensions either
 *   CL_ETF_PAD     zero-padded: row k = [sqrt(K/(K-1))(e_k - 1/K), 0...0]
 *                  (Zhu et al. 2021), or
 *   CL_ETF_ROTATE  rotated: W = (U M)^T with U [dim, K] having orthonormal
 *                  columns, the Q factor of a seeded Gaussian matrix
 *                  (Yang et al. 2022). Same seed = same U on any machine. */
#ifndef COLLAPSE_ETF_H
#define COLLAPSE_ETF_H

#include <stdint.h>

#include "collapse/error.h"

typedef enum { CL_ETF_PAD, CL_ETF_ROTATE } cl_etf_mode;

/* "pad" / "rotate" -> *mode. Error: CL_EINVAL (unknown name; *mode
 * unchanged). */
cl_status cl_etf_mode_parse(const char *s, cl_etf_mode *mode);
const char *cl_etf_mode_name(cl_etf_mode m);

/* Writes W [K, dim] (row-major, PyTorch Linear layout). K >= 2, dim >= K.
 * Errors: CL_EINVAL (sizes), CL_ENOMEM, CL_ENUMERIC (QR failed). */
cl_status cl_etf_fill(float *W, int K, int dim, cl_etf_mode mode, uint64_t seed);

/* Nonnegative margin of class k under a classifier W [K, dim] without bias
 * (src/model/etf_reach.c has the derivation):
 *   m_k = max { min_{j != k} (w_k - w_j).h : h >= 0, |h|_2 <= 1 }.
 * m_k = 0: no nonnegative (post-ReLU) feature is ever predicted as class k.
 * A zero-padded simplex ETF gives every class sqrt(K/(K-1)); a free h would
 * get K/(K-1). Both bounds are rigorous: lo <= m_k <= hi. hi == 0: class k
 * is certainly unreachable; lo > 0: certainly reachable. converged: the
 * bounds agree to rtol (relative) or hi == 0; else max_iter ran out.
 * Errors: CL_EINVAL (K < 2, dim < 1, k outside [0, K), max_iter < 1,
 * rtol <= 0), CL_ENOMEM. */
typedef struct {
    double lo, hi;
    int iters, converged;
} cl_etf_margin;
cl_status cl_etf_nonneg_margin(const float *W, int K, int dim, int k, int max_iter, double rtol,
                               cl_etf_margin *out);

#endif
