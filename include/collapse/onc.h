/* Ordinal neural collapse (ONC) of a cumulative-link head (Ma, Obuchi &
 * Tanaka, arXiv 2506.05801): features collapse to their class means, the
 * class means lie on the line of w, and the class-mean latents z_q = w^T mu_q
 * are ordered and sit at the threshold midpoints. Formulas, sources and
 * conventions: docs/METRICS.md, "Ordinal (ONC)".
 *
 * Notation: H features [N, dim] (float32), y labels [N] in [0, K) (ORDERED
 * classes), w the 1-unit head [dim] (the latent is z = w^T h; no bias),
 * b the K-1 thresholds [K-1] (double, increasing), mu_q the class means,
 * mu_G their unweighted mean (or, with cl_nc_opts.weighted_mean, the sample
 * mean), m_q = mu_q - mu_G.
 *
 *   onc1      within-class variability tr(Sw)/tr(Sb), Sb = (1/K) sum_q m_q m_q^T:
 *             cl_nc_analyze's nc1_quotient (one source). Not Papyan's
 *             tr(Sw Sb^+)/K: ordinal collapse puts the means on a line, so Sb
 *             tends to rank 1 and the pseudo-inverse over the top K-1
 *             eigenpairs blows up (nc1 grows as the means align); the
 *             quotient stays defined
 *   onc2      sum_q (w.m_q)^2 / (||w||^2 sum_q ||m_q||^2): the fraction of the
 *             between-class scatter of the centred class means along w (1 =
 *             the means lie on a line parallel to w)
 *   onc3_tau  Kendall's tau-a of (z_q, q): (concordant - discordant pairs) /
 *             (K(K-1)/2), z_q = w^T mu_q (uncentred: the thresholds are
 *             absolute); 1 = the latents are in class order; ties count 0
 *   onc3_mid  mean over the interior classes q = 1..K-2 of
 *             |z_q - (b_{q-1} + b_q)/2| / g, g = (b_{K-2} - b_0)/(K-2) the
 *             mean threshold gap; NAN for K = 2 (no interior class)
 * All sums in double. */
#ifndef COLLAPSE_ONC_H
#define COLLAPSE_ONC_H

#include <stdint.h>

#include "collapse/error.h"
#include "collapse/nc.h"

typedef struct {
    int64_t N;
    int dim, K;
    int weighted_mean; /* the mu_G convention used */
    double onc1, onc2, onc3_tau, onc3_mid;
    double gap;        /* mean threshold gap g (NAN for K = 2) */
} cl_onc_result;

/* From class means: mu [K, dim] (double), count [K] samples per class (only
 * read for opts->weighted_mean), w [dim], b [K-1]; onc1 as given (the
 * caller's cl_nc_result.nc1_quotient of the same features; NAN if unknown). z [K] receives z_q = w^T mu_q (NULL = not
 * needed). Errors: CL_EINVAL (K < 2, dim < 1, w = 0, thresholds not
 * increasing or not finite). opts NULL = cl_nc_opts_default(). */
cl_status cl_onc_from_means(const double *mu, const int64_t *count, int K, int dim,
                            const float *w, const double *b, const cl_nc_opts *opts, double onc1,
                            double *z, cl_onc_result *r);

/* In memory: onc1 from cl_nc_analyze(H, ..., W = NULL) (so its errors too;
 * means spanning fewer than min(K-1, dim) dimensions, e.g. exactly
 * collinear, are not one: onc1 is still the trace quotient) and the class means
 * (cl_nc_class_sums_add in sample order, cl_nc_class_means), then
 * cl_onc_from_means. Errors: those of both (empty class, non-finite
 * features), CL_ENOMEM. */
cl_status cl_onc_analyze(const float *H, int64_t N, int dim, const int32_t *y, int K,
                         const float *w, const double *b, const cl_nc_opts *opts, double *z,
                         cl_onc_result *r);

/* Reference twin for tests: the same numbers by direct loops (class means by
 * one pass per class, explicit projections, O(K^2) tau); onc1 from
 * cl_nc_analyze_naive's nc1_quotient. Small inputs only. */
cl_status cl_onc_analyze_naive(const float *H, int64_t N, int dim, const int32_t *y, int K,
                               const float *w, const double *b, const cl_nc_opts *opts,
                               double *z, cl_onc_result *r);

/* The output keys, in a fixed order (metrics.csv columns, `collapse analyze
 * --thresholds` output): onc1, onc2, onc3_tau, onc3_mid. */
int cl_onc_nkeys(void);
const char *cl_onc_key_name(int i);                     /* 0 <= i < cl_onc_nkeys() */
double cl_onc_key_value(const cl_onc_result *r, int i);
const char *cl_onc_key_descr(int i);

#endif
