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

#endif
