/* Multi-label neural collapse: how the features of two-label samples sit
 * relative to the single-label class means.
 * Pure functions over matrices: no dependency on layers, training or data.
 * Source: Li, Wang, Li & Qu, "Neural collapse in multi-label learning with
 * pick-all-label loss", ICML 2024 (their Theorem: at the optimum the
 * single-label means form an ETF and the mean of a label set is parallel to
 * the sum of its members' means, with the same norm ratio for every set).
 * Formulas and conventions: docs/METRICS.md, section "Multi-label (mlab)".
 *
 * Notation: N samples, features H [N, dim] (row-major float32), K-hot labels
 * Yk [N, K] (row-major uint8, each entry 0 or 1). The multiplicity of a row
 * is its number of labels. mu_k is the mean of the single-label rows of
 * class k; mu_ij (i < j) the mean of the rows whose label set is exactly
 * {i, j}.
 *
 * Conventions (all accumulation in double):
 *   - centring: g = (1/K') sum_k mu_k over the K' single-label classes
 *     present (the unweighted mean of the single-label class means, as the
 *     default mu_G of the NC keys). At the optimum the centred mu_k are the
 *     vertices of a simplex ETF, and g does not depend on how many two-label
 *     samples the data has (the mean of all samples would);
 *   - a two-label set {i, j} is measured when it has rows and both mu_i and
 *     mu_j exist; a set with a missing single-label class is skipped (and
 *     counted in sets_skipped); rows of multiplicity > 2 are skipped and
 *     counted (n_multi); a row with no label is an error;
 *   - angle_ij = angle(mu_ij - g, (mu_i - g) + (mu_j - g)) in degrees;
 *     mlab_angle is its mean over the measured sets;
 *   - scale_ij = ||mu_ij - g|| / ||((mu_i - g) + (mu_j - g))/2||;
 *     mlab_scale_mean is its mean and mlab_scale_cv = std/mean (population
 *     std, 1/P) over the measured sets;
 *   - the authors' variants (uncentred means, as their code): mlab_angle_uncentred
 *     is the mean over the sets of angle(mu_ij, mu_i + mu_j), and
 *     mlab_angle_ratio = mlab_angle_uncentred / (the mean over every pair a < b of
 *     present single-label classes and every measured set s of
 *     angle(mu_a + mu_b, mu_s)); 0 when every set points along its own sum.
 *   A set whose vectors are (numerically) zero makes the keys of that
 *   convention NAN (for example K' = 2: the centred mu_1 + mu_2 = 0). */
#ifndef COLLAPSE_MLAB_H
#define COLLAPSE_MLAB_H

#include <stdint.h>

#include "collapse/error.h"

#define CL_MLAB_MAX_CLASSES 46340 /* K <= this (K^2 fits in 31 bits) */
/* mlab_angle_ratio is NAN when (pairs of classes) x (sets) exceeds this. */
#define CL_MLAB_RATIO_MAX_TERMS (1 << 22)
#define CL_MLAB_DEG (180.0 / 3.14159265358979323846) /* degrees per radian */

typedef struct {
    int64_t N;
    int dim, K;
    int64_t n_single, n_pair, n_multi; /* rows of multiplicity 1, 2, > 2 */
    int classes;      /* single-label classes with at least one row */
    int sets_present; /* distinct two-label sets with at least one row */
    int sets_skipped; /* of them, skipped: mu_i or mu_j missing */
    int sets;         /* measured: sets_present - sets_skipped (key mlab_sets) */
    double angle;         /* centred, degrees */
    double scale_mean;    /* centred */
    double scale_cv;      /* centred */
    double angle_uncentred;     /* uncentred, degrees */
    double angle_ratio;   /* the authors' ratio of mean angles, uncentred */
} cl_mlab_result;
/* The angle and scale keys are NAN when no set is measured. */

/* Zeroes r, stores the sizes and sets every angle/scale key to NAN. */
void cl_mlab_result_init(cl_mlab_result *r, int64_t N, int dim, int K);

/* Checks Yk [N, K]: every entry 0 or 1, every row at least one label.
 * Errors: CL_EINVAL, one line naming the first bad row. */
cl_status cl_mlab_check_labels(const uint8_t *Yk, int64_t N, int K);

/* The single-label rows of Yk [N, K], in order: their indices into idx and
 * their labels into y (both with room for N entries; either may be NULL),
 * their count into *n. Errors: as cl_mlab_check_labels. */
cl_status cl_mlab_single_rows(const uint8_t *Yk, int64_t N, int K, int64_t *idx, int32_t *y,
                              int64_t *n);

/* The single-label rows gathered: *Hs [n, dim] and *ys [n] cl_alloc'ed (the
 * caller cl_free's both; NULL when n = 0), for cl_nc_analyze (the NC keys
 * of multi-label data are those of its single-label samples, Li et al.
 * 2024). Errors: as cl_mlab_check_labels, CL_ENOMEM. */
cl_status cl_mlab_single_subset(const float *H, int64_t N, int dim, const uint8_t *Yk, int K,
                                float **Hs, int32_t **ys, int64_t *n);

/* Every key over H [N, dim] and Yk [N, K] (2 <= K <= CL_MLAB_MAX_CLASSES,
 * dim >= 1, N >= 1). One pass over the rows plus a sort of the two-label
 * rows' sets. Errors: CL_EINVAL (sizes, labels as cl_mlab_check_labels),
 * CL_ENUMERIC (non-finite features), CL_ENOMEM. */
cl_status cl_mlab_analyze(const float *H, int64_t N, int dim, const uint8_t *Yk, int K,
                          cl_mlab_result *r);

/* Reference twin for tests: per class and per candidate set a full scan of
 * the rows, the angle by acos of the cosine. O(K^2 N dim): small sizes. */
cl_status cl_mlab_analyze_naive(const float *H, int64_t N, int dim, const uint8_t *Yk, int K,
                                cl_mlab_result *r);

/* The output keys in a fixed order: mlab_sets, mlab_classes, mlab_angle,
 * mlab_scale_mean, mlab_scale_cv, mlab_angle_uncentred, mlab_angle_ratio. */
int cl_mlab_key_count(void);
const char *cl_mlab_key_name(int i);                      /* 0 <= i < count */
double cl_mlab_key_value(const cl_mlab_result *r, int i); /* NAN if undefined */
const char *cl_mlab_key_desc(int i);

#endif
