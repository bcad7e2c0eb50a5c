/* Unconstrained-features model (UFM) simulator: the model that the theory
 * of neural collapse is stated on, solved by full-batch gradient descent,
 * with the closed-form optima it must reach. Objectives, closed forms and
 * sources: docs/THEORY.md.
 *
 * Notation: K classes, n_k samples of class k (balanced: n each), N = sum
 * n_k, d the free features' dimension. Samples are stored class by class
 * (labels 0..0, 1..1, ...). Row-major, one sample per row:
 *   H1 [N, d]       the free features,
 *   V_l [width, in] the L-1 extra layers of the deep UFM (in = d for l = 1,
 *                   width after), no bias: Z_{l+1} = act(Z_l V_l^T), Z_1 = H1,
 *   W [K, dl], b [K] the classifier (dl = d, or width when depth > 1),
 *   logits Z_L W^T + 1 b^T (sphere: T Z W^T with unit rows, no bias).
 * Objective (Zhu et al. 2021): (1/N) sum_i loss(W h_i + b, y_i)
 *   + LW/2 (||W||^2 + sum_l ||V_l||^2) + LH/2 ||H1||^2 + LB/2 ||b||^2,
 * H penalty not divided by N; MSE loss is (1/(2N)) ||logits - Y||_F^2.
 * LPM (Fang et al. 2021): CE, no penalties, no bias, subject to
 * (1/K) sum ||w_k||^2 <= EW and (1/K) sum_k (1/n_k) sum_i ||h_ki||^2 <= EH.
 * All computation in double. */
#ifndef COLLAPSE_UFM_H
#define COLLAPSE_UFM_H

#include <stdint.h>

#include "collapse/error.h"
#include "collapse/nc.h"

#define CL_UFM_MAX_CLASSES 4096
#define CL_UFM_MAX_DEPTH 16
/* A singular value of a class-mean matrix counts for its numerical rank if
 * it is above this fraction of the largest one. */
#define CL_UFM_RANK_RTOL 1e-3

/* PAL, PAL_MEAN: the pick-all-label losses of multi-label samples (Li, Wang,
 * Li & Qu, ICML 2024), for c.pairs > 0: a sample with label set S, m = |S|,
 * p = softmax(z) has loss sum_{k in S} CE(z, k) (gradient m p - y) or
 * (1/m) sum_{k in S} CE(z, k) (soft targets y/m, gradient p - y/m); on a
 * single-label sample both are CE. */
typedef enum { CL_UFM_CE, CL_UFM_MSE, CL_UFM_PAL, CL_UFM_PAL_MEAN } cl_ufm_loss;
typedef enum { CL_UFM_RELU, CL_UFM_LINEAR } cl_ufm_act;

typedef struct {
    int K, d;
    int64_t *counts;      /* [K] samples per class; owned by the caller */
    cl_ufm_loss loss;
    int bias;             /* 1: learn b (default) */
    double wd_w, wd_h, wd_b;
    int depth;            /* 1 = plain UFM; L: L-1 extra layers */
    cl_ufm_act act;
    int width;            /* width of the extra layers */
    int lpm;              /* 1: Layer-Peeled Model constraints instead of wd */
    double ew, eh;
    int sphere;           /* 1: unit-norm w_k, h_i, logits T <w_k, h_i> */
    double temperature;
    int64_t steps;
    double lr, momentum;
    uint64_t seed;
    double init_std;      /* N(0, init_std^2) start; default 0.1 */
    int dnc_start;        /* deep UFM: start from the deep-neural-collapse point */
    int64_t log_every;    /* metrics row every this many steps (and the last) */
    int64_t pairs;        /* multi-label: samples per two-label set {i, j}, every one of
                             the K(K-1)/2 sets, stored after the single-label samples
                             (sets in order (0,1), (0,2), ..); 0 = none. Needs loss PAL or
                             PAL_MEAN, depth 1, no LPM/sphere */
} cl_ufm_config;

/* Defaults: CE with bias, wd 5e-4 (W, H), 0 (b), depth 1, ReLU, lr 0.5,
 * no momentum, seed 1, init_std 0.1, log_every 0 (= steps/100, at least 1).
 * K, d, counts and steps must be set by the caller. */
cl_ufm_config cl_ufm_config_default(void);

/* Checks a configuration. Errors: CL_EINVAL with one line naming the flag
 * ("--dim: ...", "--counts: ..."), also when the run would need more memory
 * than the machine has (cl_ufm_config_bytes vs cl_sys_memory_bytes). */
cl_status cl_ufm_config_check(const cl_ufm_config *c);

/* Estimated bytes a run of this configuration allocates (its parameters,
 * gradient, velocity, activations, logits, scratch and the float copies of
 * the features); counts must be valid. */
int64_t cl_ufm_config_bytes(const cl_ufm_config *c);

typedef struct cl_ufm cl_ufm;

/* Allocates the model and draws the start from c->seed (or builds the DNC
 * start). The config is copied (counts too). Errors: CL_EINVAL (as
 * cl_ufm_config_check), CL_ENOMEM. */
cl_status cl_ufm_create(cl_ufm **u, const cl_ufm_config *c);
void cl_ufm_destroy(cl_ufm *u);

/* The flat parameter vector theta [n] (W, b, H1, V_1..V_{L-1} in that
 * order) and its gradient buffer; for tests and checks. */
double *cl_ufm_params(cl_ufm *u, int64_t *n);
const double *cl_ufm_grad(const cl_ufm *u);

/* Objective and loss at theta; with grad != 0 also the gradient into the
 * gradient buffer, OVERWRITTEN (the LPM's and the sphere's constraints are not part of
 * it: that is the Euclidean gradient). */
void cl_ufm_eval(cl_ufm *u, int grad, double *objective, double *loss);

/* One step of (projected / Riemannian) gradient descent with momentum.
 * Errors: CL_ENUMERIC (non-finite objective). */
cl_status cl_ufm_step(cl_ufm *u);

/* K-hot labels [N, K] of the samples (cl_alloc'ed, cl_free it): one label
 * for the single-label samples, two for the pairs. Errors: CL_ENOMEM. */
cl_status cl_ufm_labels_khot(const cl_ufm *u, uint8_t **Yk);

/* Closed-form optimum of the configuration, when one is known. */
typedef struct {
    int kind;          /* 0 none, 1 CE (LB = 0 or no bias), 2 MSE no bias, 3 MSE free bias */
    double objective;  /* optimal objective */
    double norm_w;     /* ||w_k|| */
    double norm_h;     /* ||h_i|| */
    double margin;     /* logit margin (CE), NAN otherwise */
    double bias;       /* b_k (MSE free bias: 1/K; MSE no bias: 0; CE: b - mean b = 0) */
    double s;          /* Gram scale: W W^T = s G0 (G0 = I or I - 11^T/K) */
} cl_ufm_cf;

/* Fills cf (kind 0 when no closed form applies: unequal counts, d < K-1
 * (CE) or d < K (MSE without bias), depth > 1, LPM, sphere, CE with bias
 * and LB > 0). */
void cl_ufm_closed_form(const cl_ufm_config *c, cl_ufm_cf *cf);
const char *cl_ufm_cf_name(int kind);

/* Measurements at the current parameters. */
typedef struct {
    int64_t step;
    double objective, loss, mean_norm_w, mean_norm_h, margin;
    double gap_objective, gap_norm_w, gap_norm_h, gap_margin, gap_bias, gap_gram;
    double nc1; /* the analyzer's nc1 of the classifier's input (NAN if undefined) */
    double minority_cos_W, majority_cos_W; /* the analyzer's imbalance keys (NAN with equal
                                              counts or when the analyzer refuses) */
    int rank[CL_UFM_MAX_DEPTH];   /* per layer: numerical rank of the class-mean matrix */
    double nc1_layer[CL_UFM_MAX_DEPTH];  /* analyzer's nc1 (NAN: class means of rank < K-1) */
    double nc1q_layer[CL_UFM_MAX_DEPTH]; /* tr(Sw)/tr(Sb), always defined */
    double mlab_angle, mlab_scale_mean, mlab_scale_cv; /* pairs > 0 (else NAN) */
} cl_ufm_summary;

/* Progress hook for long runs (may be NULL): called after each logged row. */
typedef void (*cl_ufm_log_fn)(void *ctx, const cl_ufm_summary *s);

/* Runs c->steps steps, appending a row to dir/metrics.csv at step 0, every
 * log_every steps and at the last step; then writes dir/W.npy [K, dl],
 * dir/H.npy [N, dl] (the classifier's input features), dir/b.npy [K] (zeros
 * without a bias), dir/labels.npy [N] (int32) and, for depth > 1,
 * dir/H1.npy and dir/V<l>.npy; with pairs > 0 also dir/labels_khot.npy
 * [N, K] (uint8) and the mlab columns in metrics.csv. `collapse analyze --features H.npy --labels
 * labels.npy --weights W.npy --bias b.npy` reproduces the last row's keys.
 * Every file is written atomically; dir must exist. *out gets the last
 * row. Errors: CL_EIO naming the file, CL_ENUMERIC (divergence: the message
 * names the step), CL_ENOMEM. */
cl_status cl_ufm_run(cl_ufm *u, const char *dir, cl_ufm_log_fn log, void *ctx,
                     cl_ufm_summary *out);

/* The analyzer's conventions used for the rows: cl_nc_opts_default() plus
 * the gnc group, i.e. what `collapse analyze` computes by default. */
cl_nc_opts cl_ufm_nc_opts(void);

/* The current measurements without a run (for tests). */
cl_status cl_ufm_measure(cl_ufm *u, cl_ufm_summary *s);

/* The classifier's input features [N, dl] and W [K, dl], b [K], labels [N]
 * as float32, the way cl_ufm_run writes them (cl_alloc'ed; free with
 * cl_free). Errors: CL_ENOMEM. */
cl_status cl_ufm_export(cl_ufm *u, float **H, float **W, float **b, int32_t **y, int64_t *N,
                        int *dl);

#endif
