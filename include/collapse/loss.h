/* Classification losses on logits.
 *
 * Shapes: logits [N, K] (row-major float32), labels [N] int32 in [0, K),
 * dlogits [N, K]. Every loss is the MEAN over the batch of a per-sample loss;
 * dlogits is the gradient of that mean (so it carries the 1/N), and is
 * OVERWRITTEN. Softmax/log-softmax and all sums are computed in double.
 *
 * Per-sample losses, with z the logits of one sample, y its label,
 * p = softmax(z), e_y the one-hot vector:
 *   CE     -log p_y
 *   MSE    sum_j (z_j - M e_y,j)^2        (param M = target scale, default 1;
 *          SUM over classes, MEAN over batch, no 1/2 factor. This is the
 *          Hui & Belkin target rescaling "one-hot times M"; PyTorch equivalent:
 *          mse_loss(z, M*one_hot(y), reduction='sum') / N)
 *   LS     -sum_j q_j log p_j with q = (1-A) e_y + A/K  (param A in [0,1];
 *          PyTorch CrossEntropyLoss(label_smoothing=A))
 *   FOCAL  -(1-p_y)^G log p_y              (param G >= 0; G = 0 is CE;
 *          Lin et al. 2017 without the alpha weight)
 * "Correct" means argmax_j z_j == y (first maximum on ties), for every kind
 * but CLM.
 *
 *   CLM    cumulative link model for K ORDERED classes (Ma, Obuchi & Tanaka,
 *          arXiv 2506.05801; McCullagh 1980), logistic link. The logits are
 *          the K-1 = k cumulative logits o_q = b_q - z of a cumlink layer
 *          (nn.h), so the logit width k is K-1 and labels are in [0, k]
 *          (cl_loss_classes). P(y <= q) = sigmoid(o_q), and
 *            P(y = q) = sigmoid(o_q) - sigmoid(o_{q-1}),
 *          sigmoid(o_{-1}) = 0, sigmoid(o_{K-1}) = 1; loss -log P(y).
 *          Computed in double without cancellation: for 0 < q < K-1 with
 *          a = o_q > c = o_{q-1},
 *            log P = log sigmoid(a) + log sigmoid(-c) + log(-expm1(c - a)),
 *          and a <= c (non-increasing logits) gives P = 0, loss +inf.
 *          "Correct": argmax_q P(y = q) == y (first maximum on ties).
 *
 *   PAL    pick-all-label (Li, Wang, Li & Qu, ICML 2024, "Neural collapse in
 *          multi-label learning with pick-all-label loss"): for a sample with
 *          the label set S of m = |S| labels (K-hot row yk),
 *            sum  (param 0):  -sum_{l in S} log p_l,        gradient m p - yk
 *            mean (param 1):  -(1/m) sum_{l in S} log p_l,  gradient p - yk/m
 *          "mean" is CE against the soft target yk/m, the weighting of the
 *          authors' code (Heimine/NC_MLab). With one label (m = 1) both are
 *          CE, so cl_loss_compute (int labels) computes CE for PAL. K-hot
 *          targets go through cl_loss_compute_khot; "correct" there is the
 *          exact-set match of the top-m rule (cl_loss_topm_score). */
#ifndef COLLAPSE_LOSS_H
#define COLLAPSE_LOSS_H

#include <stdint.h>

#include "collapse/error.h"

typedef enum {
    CL_LOSS_CE,
    CL_LOSS_MSE,
    CL_LOSS_LS,
    CL_LOSS_FOCAL,
    CL_LOSS_CLM, /* appended: cumulative link, logits are K-1 cumulative logits */
    CL_LOSS_PAL, /* appended: pick-all-label for K-hot targets (param 0 sum, 1 mean) */
    CL_LOSS_KIND_COUNT
} cl_loss_kind;

typedef struct {
    cl_loss_kind kind;
    double param; /* MSE: target scale M; LS: alpha; FOCAL: gamma; PAL: 0 = sum, 1 = mean
                     (CL_LOSS_PAL_*); CE, CLM: unused */
} cl_loss_cfg;

/* Parses "ce", "mse", "mse=SCALE" (SCALE > 0), "ls=A" (0 <= A <= 1),
 * "focal=G" (G >= 0), "clm", "pal", "pal=sum" (= "pal"), "pal=mean" into *cfg. Errors: CL_EINVAL with a message quoting the
 * bad string or value. */
cl_status cl_loss_parse(const char *s, cl_loss_cfg *cfg);

/* Writes the canonical text form ("ce", "mse=1", "ls=0.1", ...) into buf
 * (always NUL-terminated). Returns the length it needed (snprintf). */
int cl_loss_format(const cl_loss_cfg *cfg, char *buf, int cap);

/* "ce", "mse", "ls", "focal", "clm", "pal". */
const char *cl_loss_kind_name(cl_loss_kind k);

/* The number of classes K for logits of width k: k + 1 for CLM, else k. */
int cl_loss_classes(const cl_loss_cfg *cfg, int k);

/* Computes the mean loss over the n samples into *loss, the gradient of that
 * mean into dlogits [n, k] (NULL = not needed), and the number of correct
 * predictions into *ncorrect (NULL = not needed). No allocation.
 * k is the logit width (K for every kind but CLM, K-1 for CLM).
 * Errors: CL_EINVAL for n < 1, k < 2 (CLM: k < 1), a label outside [0, K)
 * (message names the sample index and value) or a bad cfg param. A non-finite loss is NOT an
 * error here: the trainer checks *loss with isfinite(). */
cl_status cl_loss_compute(const cl_loss_cfg *cfg, const float *logits, const int32_t *labels,
                          int n, int k, double *loss, float *dlogits, int64_t *ncorrect);

/* K-hot targets yk [n, k] (0/1 bytes, k = K): the PAL loss of the n samples
 * (mean over the batch) into *loss, its gradient into dlogits [n, k] (NULL =
 * not needed, overwritten), the exact-set matches of the top-m rule into
 * *ncorrect (NULL = not needed). No allocation. Errors: CL_EINVAL for a
 * kind other than PAL (message names --loss), n < 1, k < 2 or k too large,
 * a row without labels or with a value other than 0/1 (names the sample). */
#define CL_LOSS_PAL_SUM 0
#define CL_LOSS_PAL_MEAN 1
cl_status cl_loss_compute_khot(const cl_loss_cfg *cfg, const float *logits, const uint8_t *yk,
                               int n, int k, double *loss, float *dlogits, int64_t *ncorrect);

/* The top-m rule (Li et al. 2024; m = the number of true labels of the
 * sample): the predicted set of a sample is its m largest logits (ties to
 * the lower index). For logits [n, k] and K-hot yk [n, k], ADDS per label
 * j the true positives, false positives and false negatives to tp, fp,
 * fn [k] (each NULL = not needed) and returns the number of samples whose
 * predicted set equals their label set. k <= 4096. */
int64_t cl_loss_topm_score(const float *logits, const uint8_t *yk, int n, int k, int64_t *tp,
                           int64_t *fp, int64_t *fn);

/* Per-label F1 = 2 tp / (2 tp + fp + fn) into f1 [k] (NULL = not needed;
 * NAN for a label never true nor predicted) from counts [k]; returns the
 * macro-F1, the mean over the labels whose F1 is defined (NAN if none). */
double cl_loss_f1(const int64_t *tp, const int64_t *fp, const int64_t *fn, int k, double *f1);

/* Regression (separate from the classification kinds above): predictions
 * pred [n, m] against targets t [n, m]; per sample (1/2) sum_j (p_j - t_j)^2
 * (HALF the squared error SUMMED over the m targets), MEAN over the batch;
 * dpred [n, m] (NULL = not needed) gets the gradient of that mean,
 * (p - t)/n, overwritten. sse [m] (NULL = not needed) gets the squared
 * errors per target ADDED (for MSE and R^2). Errors: CL_EINVAL (n, m < 1). */
cl_status cl_loss_regress(const float *pred, const float *t, int n, int m, double *loss,
                          float *dpred, double *sse);

#endif
