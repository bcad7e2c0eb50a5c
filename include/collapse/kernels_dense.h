/* Kernels of the dense layers (linear, batch norm, ReLU, bias): pure
 * functions over raw pointers plus dimensions, no allocation. Each has a
 * plain `_naive` twin (double accumulation, obvious loops) used as the
 * reference in tests/test_dense.c.
 *
 * Layouts: activations NCHW float32, written [N, C, HW] below (HW = H*W;
 * a vector activation [N, dim] is the case HW = 1). Gradients: dx-type
 * outputs are OVERWRITTEN, parameter gradients (dW, db, dgamma, dbeta) are
 * ACCUMULATED (+=), as everywhere in collapse (nn.h). Sums that feed
 * statistics or parameter gradients accumulate in double, except inside
 * sgemm. The fast versions use OpenMP when the work is large enough. */
#ifndef COLLAPSE_KERNELS_DENSE_H
#define COLLAPSE_KERNELS_DENSE_H

#include <stdint.h>

/* ---- bias over channels ---- */

/* y [N, C, HW] += b [C] (broadcast over n and hw). */
void cl_bias_add(float *y, const float *b, int N, int C, int HW);
void cl_bias_add_naive(float *y, const float *b, int N, int C, int HW);

/* db [C] += sum over n, hw of dy [N, C, HW]. */
void cl_bias_reduce(float *db, const float *dy, int N, int C, int HW);
void cl_bias_reduce_naive(float *db, const float *dy, int N, int C, int HW);

/* ---- linear: y = x W^T + b ---- */

/* Scratch floats the fast products need at batch N (N x IN, the
 * transposed input; 0: N < 16, the OpenBLAS path). ws below: that many
 * floats, or NULL (OpenBLAS). The fast path (the SIMD instruction sets,
 * N >= 16) multiplies with the threaded products of kernels_gemm.h on
 * transposed activations: each output is summed in order, the same bits for
 * any thread count. */
int64_t cl_linear_ws_floats(int N, int IN, int OUT);

/* x [N, IN], W [OUT, IN] (PyTorch layout), b [OUT] or NULL, y [N, OUT]. */
void cl_linear_forward(const float *x, const float *W, const float *b, float *y, int N, int IN,
                       int OUT, float *ws);
void cl_linear_forward_naive(const float *x, const float *W, const float *b, float *y, int N,
                             int IN, int OUT);

/* dy [N, OUT] -> dx [N, IN] = dy W (overwritten; NULL = skip),
 * dW [OUT, IN] += dy^T x, db [OUT] += sum_n dy (NULL = no bias). */
void cl_linear_backward(const float *x, const float *W, const float *dy, float *dx, float *dW,
                        float *db, int N, int IN, int OUT, float *ws);
void cl_linear_backward_naive(const float *x, const float *W, const float *dy, float *dx,
                              float *dW, float *db, int N, int IN, int OUT);

/* ---- ReLU ---- */

/* y [n] = max(x, 0), NaN propagates (as torch.relu). y may equal x. */
void cl_relu_forward(const float *x, float *y, int64_t n);
void cl_relu_forward_naive(const float *x, float *y, int64_t n);

/* dx [n] = dy where y > 0, else 0 (y = the forward output; the gradient at
 * 0 is 0, as PyTorch). dx may equal dy. */
void cl_relu_backward(const float *y, const float *dy, float *dx, int64_t n);
void cl_relu_backward_naive(const float *y, const float *dy, float *dx, int64_t n);

/* ---- batch normalisation over [N, C, HW], statistics per channel ---- */

/* Batch statistics of x [N, C, HW] per channel: mean [C] and the BIASED
 * variance var [C] (divisor M = N*HW), accumulated in double. The fast
 * version sums (x - x[0,c,0]) and its square in one pass (the shift removes
 * the cancellation of a large mean). M >= 1. */
void cl_bn_stats(const float *x, int N, int C, int HW, float *mean, float *var);
void cl_bn_stats_naive(const float *x, int N, int C, int HW, float *mean, float *var);

/* y [N, C, HW] = (x - mean[c]) * invstd[c] * gamma[c] + beta[c].
 * Train mode passes the batch mean and 1/sqrt(var + eps); eval mode the
 * running statistics. */
void cl_bn_apply(const float *x, float *y, const float *gamma, const float *beta,
                 const float *mean, const float *invstd, int N, int C, int HW);
void cl_bn_apply_naive(const float *x, float *y, const float *gamma, const float *beta,
                       const float *mean, const float *invstd, int N, int C, int HW);

/* Backward of cl_bn_apply. With M = N*HW, xhat = (x - mean) * invstd:
 *   dbeta [C]  += sum dy
 *   dgamma [C] += sum dy * xhat
 *   dx = gamma*invstd * (dy - sum(dy)/M - xhat * sum(dy*xhat)/M)
 *        if batch_stats (train: mean/invstd depend on x), else
 *   dx = gamma*invstd * dy    (eval: running statistics are constants).
 * dx [N, C, HW] is overwritten (NULL = skip). */
void cl_bn_backward(const float *x, const float *dy, float *dx, const float *gamma,
                    const float *mean, const float *invstd, int batch_stats, int N, int C, int HW,
                    float *dgamma, float *dbeta);
void cl_bn_backward_naive(const float *x, const float *dy, float *dx, const float *gamma,
                          const float *mean, const float *invstd, int batch_stats, int N, int C,
                          int HW, float *dgamma, float *dbeta);

/* ---- batch norm fused with the rest of a BasicBlock (bn.c) ----
 * Forward: y = act((x - mean[c]) * invstd[c] * gamma[c] + beta[c] + res),
 * res [N, C, HW] the residual (NULL = none), act = ReLU if relu (NaN
 * propagates) else identity. The float operations are those of
 * cl_bn_apply followed by the add and cl_relu_forward, so the result is
 * bit-identical to the separate passes; it saves one write and read of the
 * normalised tensor per fused step. */
void cl_bn_apply_act(const float *x, const float *res, float *y, const float *gamma,
                     const float *beta, const float *mean, const float *invstd, int relu, int N,
                     int C, int HW);
void cl_bn_apply_act_naive(const float *x, const float *res, float *y, const float *gamma,
                           const float *beta, const float *mean, const float *invstd, int relu,
                           int N, int C, int HW);

/* Running statistics of a train-mode batch norm (PyTorch semantics, see
 * layers/batchnorm.c): r = (1 - momentum) * r + momentum * batch value,
 * the UNBIASED variance var * M/(M-1) (unchanged when M = N*HW = 1); eps
 * for invstd = 1/sqrt(var + eps). */
typedef struct {
    float *running_mean, *running_var;
    double momentum, eps;
} cl_bn_running;

/* Train-mode forward: the batch statistics (as cl_bn_stats), the running
 * statistics update, mean [C] and invstd [C] (what the backward reads),
 * then cl_bn_apply_act with them. The fast version runs it in one
 * parallel region (one fork/join less per layer; the same bits as the
 * separate steps). */
void cl_bn_forward_train(const float *x, const float *res, float *y, const float *gamma,
                         const float *beta, const cl_bn_running *run, int relu, int N, int C,
                         int HW, float *mean, float *invstd);
void cl_bn_forward_train_naive(const float *x, const float *res, float *y, const float *gamma,
                               const float *beta, const cl_bn_running *run, int relu, int N,
                               int C, int HW, float *mean, float *invstd);

/* Backward of cl_bn_apply_act with relu = 1: g = dy where y > 0 else 0
 * (y = that forward's output; g is written, and is also the gradient of
 * the residual input; g may equal dy; g = NULL: not written, the dx pass
 * masks dy again), then cl_bn_backward of g (dx, dgamma, dbeta as there).
 * Bit-identical to cl_relu_backward + cl_bn_backward, in two passes over
 * memory instead of three. */
void cl_bn_backward_relu(const float *x, const float *y, const float *dy, float *g, float *dx,
                         const float *gamma, const float *mean, const float *invstd,
                         int batch_stats, int N, int C, int HW, float *dgamma, float *dbeta);
void cl_bn_backward_relu_naive(const float *x, const float *y, const float *dy, float *g,
                               float *dx, const float *gamma, const float *mean,
                               const float *invstd, int batch_stats, int N, int C, int HW,
                               float *dgamma, float *dbeta);

/* The same backward for relu = 1 and no residual, with the mask redone
 * from x instead of read from y: the forward's float operations
 * v = (x - mean) * (gamma * invstd) + beta give y > 0 exactly when v > 0.
 * Needs beta and the forward's mean/invstd; no g is written. Bit-identical
 * to cl_bn_backward_relu (and so to ReLU backward + BN backward), with the
 * memory traffic of a plain cl_bn_backward. */
void cl_bn_backward_relu_x(const float *x, const float *dy, float *dx, const float *gamma,
                           const float *beta, const float *mean, const float *invstd,
                           int batch_stats, int N, int C, int HW, float *dgamma, float *dbeta);
void cl_bn_backward_relu_x_naive(const float *x, const float *dy, float *dx, const float *gamma,
                                 const float *beta, const float *mean, const float *invstd,
                                 int batch_stats, int N, int C, int HW, float *dgamma,
                                 float *dbeta);

/* ---- cosine classifier (kernels/cosine.c; Jiang et al. ICML 2024) ----
 * y [N, OUT] = T <x_n / |x_n|, w_o / |w_o|>, norms clamped below at
 * CL_COSINE_EPS (as torch.nn.functional.normalize), no bias.
 * Forward writes the clamped norms xn [N] and wn [OUT] (kept for backward).
 * Backward, with A = T dy / (xn wn^T) and c_n = sum_o dy_no y_no:
 *   dx = A W - diag(c / xn^2) x   (the second term only where |x_n| > eps)
 *   dW += A^T x - diag(d / wn^2) W, d_o = sum_n dy_no y_no (same rule);
 * dx overwritten (NULL = skip), dW accumulated; ws holds N*OUT floats.
 * The naive twins accumulate in double and need no ws. */
#define CL_COSINE_EPS 1e-12f
void cl_cosine_forward(const float *x, const float *W, float T, float *y, float *xn, float *wn,
                       int N, int IN, int OUT);
void cl_cosine_forward_naive(const float *x, const float *W, float T, float *y, float *xn,
                             float *wn, int N, int IN, int OUT);
void cl_cosine_backward(const float *x, const float *W, float T, const float *y,
                        const float *xn, const float *wn, const float *dy, float *dx, float *dW,
                        float *ws, int N, int IN, int OUT);
void cl_cosine_backward_naive(const float *x, const float *W, float T, const float *y,
                              const float *xn, const float *wn, const float *dy, float *dx,
                              float *dW, int N, int IN, int OUT);

#endif
