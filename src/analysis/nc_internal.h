/* Internals of the streaming neural-collapse analyzer shared by nc.c (the
 * two passes) and nc_metrics.c (the metrics from the K x K products); not a
 * public header. */
#ifndef COLLAPSE_ANALYSIS_NC_INTERNAL_H
#define COLLAPSE_ANALYSIS_NC_INTERNAL_H

#include <stdint.h>

#include "collapse/nc.h"

enum { NC_PASS1, NC_PASS2, NC_DONE, NC_BROKEN /* end1 failed half-way: reset first */ };

struct cl_nc_stream {
    int dim, K;
    cl_nc_opts opts;
    int has_W, has_b;
    int R; /* rows of B: K, or 2K with W */
    int state;
    int64_t n1, n2; /* samples seen in each pass */
    int64_t *cnt1;  /* [K] per-class counts, pass 1 */
    int64_t *cnt2;  /* [K] pass 2 */
    double *sum;    /* [K, dim] class sums, then class means mu */
    double *B;      /* [R, dim] rows 0..K-1: A = mu - mu_G; rows K..2K-1: W */
    double *bias;   /* [K] (zeros without b or with opts.nc4_bias = 0) */
    double *dscale; /* [K] decision scale: 1, or 1/||w_c|| with opts.nc4_cosine */
    double *G;      /* [K, K] A A^T */
    double *evec;   /* [K, K] eigenvectors of G (columns), ascending eigenvalues */
    double *eval;   /* [K] */
    double *T;      /* [K, K] T[y, c] = W_c . mu_y + b_c */
    double *AD;     /* [K, K] ||A_y - A_c||^2 */
    double *C;      /* [K, K] sum over samples of (A r)(A r)^T */
    double *ssq;    /* [K] per-class sum of ||r||^2 */
    int64_t ncc_ok, cls_ok, agree;
    int64_t blk_rows; /* rows per thread's pass-2 block (about NC_BLOCK_BYTES) */
    int64_t blk_cap;  /* rows allocated, all threads: grows with the batches seen */
    double *blk;      /* [blk_cap, dim] residuals */
    double *P;        /* [blk_cap, R] */
    int nthr;      /* per-thread accumulators allocated (omp_get_max_threads at create) */
    double *Cth;   /* [nthr, K, K] per-thread C */
    double *ssqth; /* [nthr, K] per-thread sums of ||r||^2 */
    int64_t *cntth;  /* [nthr, K + 3] per-thread class counts, ncc_ok, cls_ok, agree */
    double *scratch; /* [2 K^2 + K(K-1)/2 + K]: W W^T, W M^T, cosines, norms */
    unsigned char *minor; /* [K] explicit minority set (opts.minority), or NULL */
    cl_nc_result res;
};

/* Fills s->res from the state after pass 2 (runs on the calling thread,
 * see on_caller in nc.c). Errors: CL_ENUMERIC. */
cl_status cl_nc_finish(cl_nc_stream *s);

/* The imbalance group into r (nc_metrics.c): minority flags minor [K]
 * (explicit, or cnt[c] < max cnt when minor is NULL; then only if the
 * counts differ), Gram matrices G = A A^T and WW = W W^T (NULL without W). */
void cl_nc_imbalance(const unsigned char *minor, const int64_t *cnt, int K, const double *G,
                     const double *WW, cl_nc_result *r);

/* ---- naive twins of the extra groups (nc_gnc_naive.c), for
 * cl_nc_analyze_naive: M, Wd [K, dim] centred means and classifier (Wd
 * NULL without W), cnt [K] class counts, minority the explicit set or NULL.
 * Errors: CL_ENOMEM. */
cl_status cl_nc_imbalance_naive(const double *M, const double *Wd, const int64_t *cnt, int K,
                                int dim, const unsigned char *minority, cl_nc_result *r);

#endif
