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
    /* gnc1 (opts.gnc): the same sums over the L2-normalised rows h/||h|| */
    double *nsum;    /* [K, dim] normalised class sums, then their means */
    double *nA;      /* [K, dim] centred normalised means */
    double *nG, *nevec, *neval; /* [K, K] nA nA^T, its eigenvectors, [K] eigenvalues */
    double *nC;      /* [K, K] sum over samples of (nA r')(nA r')^T */
    double *nCth;    /* [nthr, K, K] per-thread nC */
    double *blk2, *P2; /* [blk_cap, dim] normalised residuals, [blk_cap, K] */
    double *inv;     /* [inv_cap] 1/||h|| of a pass-1 batch */
    int64_t inv_cap;
    cl_nc_result res;
};

/* Fills s->res from the state after pass 2 (runs on the calling thread,
 * see on_caller in nc.c). Errors: CL_ENUMERIC. */
cl_status cl_nc_finish(cl_nc_stream *s);

/* Numerical rank from eigenvalues eval [n] (ascending): how many of the
 * top `keep` exceed CL_NC_RANK_TOL times the largest (0 when it is not
 * > 0). Used by the fast and the naive analyzer alike. */
int cl_nc_rank(const double *eval, int n, int keep);

/* The imbalance group into r (nc_metrics.c): minority flags minor [K]
 * (explicit, or cnt[c] < max cnt when minor is NULL; then only if the
 * counts differ), Gram matrices G = A A^T and WW = W W^T (NULL without W). */
void cl_nc_imbalance(const unsigned char *minor, const int64_t *cnt, int K, const double *G,
                     const double *WW, cl_nc_result *r);

/* ---- gnc group (nc_gnc.c) ---- */
/* Allocates / frees the gnc1 accumulators above (nothing without opts.gnc). */
cl_status cl_nc_gnc_alloc(cl_nc_stream *s);
void cl_nc_gnc_free(cl_nc_stream *s);
/* s->inv[i] = 1/||h_i|| for the n rows of H (0 for a zero row). */
cl_status cl_nc_gnc_inv_norms(cl_nc_stream *s, const float *H, int64_t n, int64_t ld);
/* End of pass 1 for gnc1: normalised means, nA, nG and its eigenpairs.
 * Errors: CL_ENUMERIC. */
cl_status cl_nc_gnc_end1(cl_nc_stream *s);
/* Pass 2 of gnc1 over nb rows of H (labels y): residuals of the normalised
 * rows against the normalised means into blk2 [nb, dim], projected on nA
 * into P2 [nb, K], accumulated into nCt [K, K]. */
void cl_nc_gnc_feed2_block(const cl_nc_stream *s, const float *H, int nb, int64_t ld,
                           const int32_t *y, double *blk2, double *P2, double *nCt);
/* gnc2 of W [K, dim] into *gnc2 (Wolfe's min-norm point, exact).
 * Errors: CL_ENOMEM, CL_ENUMERIC (no convergence). */
cl_status cl_nc_gnc2(const double *W, int K, int dim, double *gnc2);
/* gnc3 and hsu_log_mean/var into r from G = A A^T, WW = W W^T and
 * WM = W A^T (WW, WM NULL without W). */
void cl_nc_gnc_from_grams(const double *G, const double *WW, const double *WM, int K,
                          cl_nc_result *r);

/* ---- naive twins of the extra groups (nc_gnc_naive.c), for
 * cl_nc_analyze_naive: M, Wd [K, dim] centred means and classifier (Wd
 * NULL without W), cnt [K] class counts, minority the explicit set or NULL.
 * Errors: CL_ENOMEM. */
cl_status cl_nc_imbalance_naive(const double *M, const double *Wd, const int64_t *cnt, int K,
                                int dim, const unsigned char *minority, cl_nc_result *r);
/* nc1_naive of nc_naive.c: fuzz, nc1, nc1_quotient from the dim x dim Sw
 * and Sb (Sp [dim, dim], lam [dim] scratch). Errors: CL_ENUMERIC. */
cl_status cl_nc_nc1_naive(const double *Sw, const double *Sb, double *Sp, double *lam, int dim,
                          int K, cl_nc_result *r);
/* The gnc group the slow way (H [N, dim], labels y; o the run's options). */
cl_status cl_nc_gnc_naive(const float *H, int64_t N, int dim, const int32_t *y, int K,
                          const double *M, const double *Wd, const cl_nc_opts *o,
                          cl_nc_result *r);

#endif
