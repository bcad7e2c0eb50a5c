/* Transfer measures of frozen features on new classes (analysis/transfer.c):
 * the class-distance normalised variance (CDNV), few-shot nearest-class-
 * centre accuracy over seeded episodes, and a ridge linear probe. Shapes:
 * H [N, dim] row-major float features, y [N] labels in [0, K). Library
 * code: no printing; accumulation in double.
 *
 * Galanti, Gyorgy & Hutter, "On the role of neural collapse in transfer
 * learning", ICLR 2022: lower CDNV of the source network's features on the
 * target classes goes with higher few-shot NCC accuracy there. */
#ifndef COLLAPSE_TRANSFER_H
#define COLLAPSE_TRANSFER_H

#include <stdint.h>

#include "collapse/error.h"

/* CDNV (Galanti et al. 2022, eq. 1): for classes i != j,
 *   V(i, j) = (Var_i + Var_j) / (2 ||mu_i - mu_j||^2),
 * Var_c = mean over class-c samples of ||h - mu_c||^2 (population). *mean
 * = the mean of V over the K(K-1)/2 pairs, *max = the largest V (a pair
 * with equal means gives inf). The same mean as cl_nc_result.cdnv.
 * Errors: CL_EINVAL (N < 1, dim < 1, K < 2, a label outside [0, K), a class
 * without samples), CL_ENOMEM, CL_ENUMERIC (features not finite). */
cl_status cl_cdnv(const float *H, int64_t N, int dim, const int32_t *y, int K, double *mean,
                  double *max);
/* Reference twin for tests: each pair straight from its definition, loops
 * over all samples per pair (O(K^2 N dim)). Same errors. */
cl_status cl_cdnv_naive(const float *H, int64_t N, int dim, const int32_t *y, int K,
                        double *mean, double *max);

/* Few-shot nearest-class-centre accuracy (Galanti et al. 2022, sec. 4):
 * `episodes` episodes; in each, `shots` distinct samples of every class are
 * drawn from the support set (Hs [ns, dim], ys), the class centres are
 * their means, and every query (Hq [nq, dim], yq) is classified by the
 * nearest centre (Euclidean; ties to the lower class). Draws come from a
 * cl_rng seeded with `seed` (one split stream per episode), so the same
 * inputs and seed give the same numbers. *mean = mean accuracy over
 * episodes, *ci95 = 1.96 s / sqrt(E) (s the sample standard deviation over
 * episodes; 0 for E = 1). acc [episodes] receives each episode's accuracy
 * when not NULL. Errors: CL_EINVAL (shots < 1, episodes < 1, K < 2, labels
 * outside [0, K), a class with fewer than `shots` support samples: the
 * message names it), CL_ENOMEM. */
cl_status cl_fewshot_ncc(const float *Hs, int64_t ns, const int32_t *ys, const float *Hq,
                         int64_t nq, const int32_t *yq, int dim, int K, int shots,
                         int episodes, uint64_t seed, double *mean, double *ci95,
                         double *acc);

/* The support draws of cl_fewshot_ncc with the same ys, K, shots,
 * episodes and seed: idx [episodes, K, shots], idx[(e K + c) shots + s] =
 * the row of Hs of the s-th draw of class c in episode e. So the episodes
 * can be exported and recomputed elsewhere (tools/transfer_reference.py).
 * Errors: those of cl_fewshot_ncc's support checks. */
cl_status cl_fewshot_draws(const int32_t *ys, int64_t ns, int K, int shots, int episodes,
                           uint64_t seed, int32_t *idx);
/* One NCC episode with given support rows idx [K, shots] of Hs [ns, dim]:
 * class c's centre is the mean of rows idx[c shots .. (c+1) shots), every
 * query is classified by the nearest centre (as cl_fewshot_ncc; its
 * episode e equals this on its draws). *acc = the fraction correct.
 * Errors: CL_EINVAL (shots < 1, an index outside [0, ns), bad query labels). */
cl_status cl_ncc_episode(const float *Hs, int64_t ns, const int32_t *idx, const float *Hq,
                         int64_t nq, const int32_t *yq, int dim, int K, int shots, double *acc);

/* Ridge linear probe (least squares onto one-hot targets, a closed form):
 * features centred by the training mean, targets one-hot minus 1/K (so no
 * bias term is needed), W = (X^T X + lambda I)^-1 X^T Y with lambda =
 * lam_rel * tr(X^T X) / dim; the class is argmax of (h - mean) W. lam_rel
 * > 0 fixes it; lam_rel <= 0 chooses it from 10^-6 .. 10^0 (7 values) by
 * the accuracy on a seeded 20% hold-out of the training set (ties: the
 * larger), then refits on the whole training set. *acc = test accuracy,
 * *lam_used = the lam_rel used. Errors: CL_EINVAL (ntr < 2, nte < 1, K < 2,
 * labels outside [0, K)), CL_ENOMEM, CL_ENUMERIC (the system is singular
 * or the features are not finite). */
cl_status cl_ridge_probe(const float *Htr, int64_t ntr, const int32_t *ytr, const float *Hte,
                         int64_t nte, const int32_t *yte, int dim, int K, double lam_rel,
                         uint64_t seed, double *acc, double *lam_used);

#endif
