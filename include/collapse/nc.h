/* Neural-collapse analyzer: NC1-NC4 and layer-wise separation fuzziness.
 * Pure functions over matrices: no dependency on layers, training or data.
 * Formulas, sources and conventions: docs/METRICS.md.
 *
 * Notation: H features [N, dim] (row-major float32), y labels [N] in [0, K),
 * W classifier [K, dim], b bias [K]. mu_c class means, mu_G the global mean
 * (convention below), M the centred class means [K, dim], Sw the within-class
 * covariance (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T, Sb = (1/K) M^T M.
 *
 * Never forms a dim x dim matrix: with A = M, tr(Sw Sb^+) = K tr((A A^T)^{+2} A Sw A^T)
 * where A Sw A^T is a K x K sum over samples, and (A A^T)^+ keeps only the top
 * K-1 eigenpairs. All accumulation in double.
 *
 * The streaming interface sees the data twice (pass 1: class sums; pass 2:
 * K x K products, variances, NCC/NC4 predictions), in batches of any size, so
 * a trainer never stores a large layer's features. cl_nc_analyze is the same
 * computation over an in-memory matrix. */
#ifndef COLLAPSE_NC_H
#define COLLAPSE_NC_H

#include <stdint.h>

#include "collapse/comm.h"
#include "collapse/error.h"

typedef struct {
    int weighted_mean; /* 0 (default): mu_G = unweighted mean of the class means
                          (Papyan et al.); 1: sample mean of all features */
    int nc4_bias;      /* 1 (default): the classifier's decision is argmax(W h + b);
                          0: argmax(W h) */
    int nc4_cosine;    /* 1: the decision of a cosine head (nn.h CL_LAYER_COSINE),
                          argmax_c <w_c, h> / ||w_c|| = the argmax of its logits
                          T <h/|h|, w_c/|w_c|>; b is not used. NC2_W/NC3 still use
                          the raw rows W. Default 0 */
    int gnc;           /* 1: also the gnc group (generalized NC, Jiang et al. 2024);
                          0 (default): not computed */
    /* Explicit minority set for the imbalance group: minority[c] != 0 marks
     * class c, K entries (copied by cl_nc_stream_create; NULL in results).
     * NULL (default): the minority classes are those with fewer samples
     * than the largest class, and the group is computed only when the class
     * counts differ. */
    const unsigned char *minority;
} cl_nc_opts;

/* Key groups (cl_nc_key_group) and the bits of cl_nc_result.groups. */
enum { CL_NC_GROUP_BASE = 0, CL_NC_GROUP_IMBALANCE = 1, CL_NC_GROUP_GNC = 2, CL_NC_NGROUPS = 3 };
#define CL_NC_GROUP_BIT(g) (1u << (g))

cl_nc_opts cl_nc_opts_default(void);

typedef struct {
    int64_t N;
    int dim, K; /* feature dimension, classes */
    int has_W, has_b;  /* which classifier inputs were given */
    cl_nc_opts opts;   /* conventions used */
    /* NC1. rank_M: numerical rank of the centred class means M, the number
     * of eigenvalues of M M^T above CL_NC_RANK_TOL times the largest (none
     * when M = 0), at most min(K-1, dim). nc1_defined = (rank_M ==
     * min(K-1, dim)); when 0, tr(Sw Sb^+) over the top min(K-1, dim)
     * eigenpairs would divide by a zero eigenvalue, so nc1 and fuzz are NAN
     * (every other key is still computed). */
    int rank_M, nc1_defined;
    double nc1;        /* tr(Sw Sb^+)/K */
    double fuzz;       /* He & Su separation fuzziness D = tr(Sw Sb^+) = K nc1 */
    double nc1_quotient; /* tr(Sw)/tr(Sb) */
    double cdnv;       /* Galanti: mean over pairs of (var_i + var_j)/(2||mu_i - mu_j||^2) */
    /* NC2 */
    double equinorm_M, equinorm_W;
    double equiangular_M, equiangular_W;
    double maxangle_M, maxangle_W;
    double etf_M, etf_W;
    /* NC3 */
    double nc3, nc3_zhu;
    /* NC4 */
    double nc4, ncc_acc;
    double acc;        /* classifier accuracy argmax(W h (+ b)) vs labels (NAN without W) */
    unsigned groups;   /* CL_NC_GROUP_BIT of each computed group (base always) */
    /* imbalance group (Fang, He, Long & Su, PNAS 2021): mean pairwise cosine
     * of the classifier rows / centred means of the minority and of the
     * majority classes (NAN for a group of < 2 classes, _W without W) */
    int nminority;     /* classes in the minority set (0 when not computed) */
    double minority_cos_W, minority_cos_M, majority_cos_W, majority_cos_M;
    /* gnc group (Jiang, Zhou et al. ICML 2024; Liu et al. 2023) */
    double gnc1;       /* nc1 of the L2-normalised features */
    double gnc2;       /* min_k distance of w_k to conv{w_j, j != k}, rows normalised */
    double gnc3;       /* (1/K) sum_k (1 - cos(w_k, mu_k - mu_G)) */
    double hsu_log_mean, hsu_log_var; /* log(1/||u_i - u_j||) over pairs i < j */
} cl_nc_result;
/* Keys that need W are NAN when W is not given; keys of a group that was
 * not computed are NAN; nc1 and fuzz (key D) are NAN when nc1_defined = 0. */

/* Relative eigenvalue tolerance of the rank test above (eigenvalues of
 * M M^T, i.e. squared singular values of M: singular values below 1e-6 of
 * the largest do not count). The same tolerance decides gnc1. */
#define CL_NC_RANK_TOL 1e-12

typedef struct cl_nc_stream cl_nc_stream;

/* dim >= 1, K >= 2. W [K, dim] and b [K] are copied (either may be NULL; b is
 * ignored without W). opts NULL means cl_nc_opts_default(). Memory: about
 * 3 K dim doubles plus a residual block of at most 512 KB per thread,
 * independent of the number of samples.
 * Not thread-safe: one stream per thread. Errors: CL_EINVAL (sizes), CL_ENOMEM. */
cl_status cl_nc_stream_create(cl_nc_stream **s, int dim, int K, const float *W, const float *b,
                              const cl_nc_opts *opts);
void cl_nc_stream_destroy(cl_nc_stream *s);
/* Starts over (both passes), keeping dim, K, W, b. */
void cl_nc_stream_reset(cl_nc_stream *s);
/* Pass 1: feed every sample once, in any batches. H [n, dim] with row stride
 * ld (>= dim; ld = dim for contiguous). Errors: CL_EINVAL (label out of range,
 * called in the wrong pass). */
cl_status cl_nc_stream_feed1(cl_nc_stream *s, const float *H, int64_t n, int64_t ld,
                             const int32_t *y);
/* Ends pass 1: class means, M, eigendecomposition of M M^T.
 * Errors: CL_EINVAL (a class has no samples; message names it; or called
 * twice), CL_ENUMERIC (non-finite features, failed eigendecomposition). */
cl_status cl_nc_stream_end1(cl_nc_stream *s);
/* Pass 2: the same samples again (any batching/order). Errors: CL_EINVAL
 * (label out of range, called before end1 or after the result). */
cl_status cl_nc_stream_feed2(cl_nc_stream *s, const float *H, int64_t n, int64_t ld,
                             const int32_t *y);
/* Ends pass 2 and fills every metric; may be called again for the same
 * result. Class means spanning fewer than min(K-1, dim) dimensions are not
 * an error: r->nc1_defined = 0, nc1 and fuzz are NAN, the rest is filled.
 * Errors: CL_EINVAL (called before end1; per-class sample counts of the two
 * passes differ), CL_ENUMERIC (features of pass 2 not finite). */
cl_status cl_nc_stream_result(cl_nc_stream *s, cl_nc_result *r);

/* Data-parallel streams (issue 12): each rank of comm feeds its own shard
 * of the samples, then the accumulators are summed over the ranks, so that
 * every rank holds the single-process totals (up to the rounding of the
 * per-rank partial sums, all in double): reduce1 after the last feed1 and
 * before end1 (class sums, counts, the gnc sums), reduce2 after the last
 * feed2 and before the result (the K x K products, the per-class sums of
 * squared residuals, the pass-2 counts and the NCC/NC4 counts). Call each
 * once per pass, on every rank in the same order (collectives, comm.h).
 * NULL comm or one rank: nothing changes. Errors: CL_EINVAL (wrong pass),
 * CL_EIO (the collective failed). */
cl_status cl_nc_stream_reduce1(cl_nc_stream *s, cl_comm *comm);
cl_status cl_nc_stream_reduce2(cl_nc_stream *s, cl_comm *comm);

/* In-memory: both passes over H [N, dim] (contiguous), same errors. */
cl_status cl_nc_analyze(const float *H, int64_t N, int dim, const int32_t *y, int K, const float *W,
                        const float *b, const cl_nc_opts *opts, cl_nc_result *r);

/* Reference twin of cl_nc_analyze for tests: explicit dim x dim Sw and Sb,
 * eigen-truncated pseudo-inverse of Sb, loops. O(N dim^2 + dim^3): small dim only. */
cl_status cl_nc_analyze_naive(const float *H, int64_t N, int dim, const int32_t *y, int K,
                              const float *W, const float *b, const cl_nc_opts *opts,
                              cl_nc_result *r);

/* He & Su fit of ln D_l against layer index l = 0..L-1 (L >= 2, every D_l
 * finite and > 0; a NAN D_l of a layer whose NC1 is undefined is CL_EINVAL):
 * slope, intercept, rho = exp(slope), R^2 of the least-squares line, Pearson r. */
typedef struct {
    int L;
    double slope, intercept, rho, r2, pearson_r;
} cl_nc_fit;

cl_status cl_nc_fit_layers(const double *fuzz, int L, cl_nc_fit *fit);

/* ---- held-out nearest class centre (ncc.c) ----
 * The NCC rule classifies a feature vector by the nearest training class
 * mean (Euclidean; the first class on ties). The held-out accuracy applies
 * it to test features with the means of the training features. Shapes use
 * dim = features per sample; labels are in [0, K). The three pieces let a
 * caller stream both splits in batches (the study does); the last function
 * composes them over in-memory matrices. All sums in double. */

/* CL_EINVAL "WHAT label L of sample I not in [0, K)" for the first label
 * y[i] outside [0, K); the one range check of the label vectors of the
 * NCC, CDNV, few-shot and ridge-probe functions (what names the caller and
 * the split, e.g. "ridge probe: test"). */
cl_status cl_nc_labels_in_range(const int32_t *y, int64_t n, int K, const char *what);

/* Adds row i of h [n, dim] to row y[i] of sum [K, dim]. */
void cl_nc_class_sums_add(double *sum, const float *h, int64_t n, int64_t dim,
                          const int32_t *y);

/* In place: mu [K, dim] holds the class sums on entry and the class means
 * (sum / count[c]; an empty class keeps its sum, zero) on return; mu2 [K]
 * receives ||mu_c||^2. count [K] = samples per class. */
void cl_nc_class_means(double *mu, double *mu2, const int64_t *count, int K, int64_t dim);

/* How many of the n rows of h [n, dim] the NCC rule puts in their class
 * y[i]: argmin_c ||mu_c||^2 - 2 h_i.mu_c (= argmin_c ||h_i - mu_c||^2),
 * first class on ties; mu [K, dim], mu2 [K] from cl_nc_class_means. */
int64_t cl_nc_ncc_correct(const float *h, int64_t n, int64_t dim, const int32_t *y,
                          const double *mu, const double *mu2, int K);

/* Held-out NCC accuracy into *acc: test features hte [nte, dim] with labels
 * yte [nte] against the class means of training features htr [ntr, dim]
 * with labels ytr [ntr]. Errors: CL_EINVAL (ntr, nte, dim < 1, K < 2, a
 * label outside [0, K), a class without training samples), CL_ENOMEM. */
cl_status cl_nc_heldout_ncc_acc(const float *htr, int64_t ntr, const int32_t *ytr,
                                const float *hte, int64_t nte, const int32_t *yte, int64_t dim,
                                int K, double *acc);

/* The output keys, in a fixed order (the names used by `collapse analyze
 * --json` and docs/METRICS.md): nc1, D, nc1_quotient, cdnv, equinorm_M,
 * equinorm_W, equiangular_M, equiangular_W, maxangle_M, maxangle_W, etf_M,
 * etf_W, nc3, nc3_zhu, nc4, ncc_acc, acc. Handy for CSV columns. Each has a
 * one-line description (the analyze table's "meaning" column). Formatting
 * results (tables, JSON) is the CLI's job. */
int cl_nc_nkeys(void);
const char *cl_nc_key_name(int i);                    /* 0 <= i < cl_nc_nkeys() */
double cl_nc_key_value(const cl_nc_result *r, int i); /* NAN if it needs W and W was absent */
int cl_nc_key_needs_W(int i);
const char *cl_nc_key_descr(int i);                   /* e.g. "nearest-class-mean accuracy" */
/* The key's group: CL_NC_GROUP_BASE, _IMBALANCE or _GNC. Base keys come
 * first, in the order above; then minority_cos_W, minority_cos_M,
 * majority_cos_W, majority_cos_M; then gnc1, gnc2, gnc3, hsu_log_mean,
 * hsu_log_var. */
int cl_nc_key_group(int i);
const char *cl_nc_group_name(int g);                  /* "base", "imbalance", "gnc" */
/* 1 if result r has group g. */
int cl_nc_has_group(const cl_nc_result *r, int g);

#endif
