/* The channel-blocked activation layout, its convolution and batch-norm
 * kernels (issue 10; measured in bench/bench_9_blocked.c, see
 * docs/blocked-layout.md). The ResNets' BasicBlocks run blocked inside
 * (layers/block_blocked.c), and consecutive blocks pass blocked tensors
 * (nn.h cl_model_forward_taps); the other layers stay NCHW.
 *
 * A blocked tensor xb [N][C/16][H][W][16] holds x[n][c][h][w] at
 *     ((n * (C/16) + c/16) * H*W + h*W + w) * 16 + c % 16,
 * the 16 channels of a pixel in one AVX-512 vector (oneDNN's nChw16c).
 * C must be a multiple of 16.
 *
 * The convolutions are stride-1 3x3 "same" convolutions (pad 1) by
 * Winograd F(4x4, 3x3) (Lavin & Gray 2016), with the transforms of
 * conv_winograd.c but vectorised over channels: B^T d B and A^T m A are
 * vector adds and FMAs on 16 channels at once, and the element-wise stage
 * at each of the 36 positions is M[t][oc] = sum_c V[t][c] U[c][oc]
 * (forward, dx) or Macc[c][oc] += sum_t V[t][c] Z[t][oc] (dW). They need
 * the AVX-512 path: call them only when cl_blocked_conv_ok() says so.
 * Error as F(4) in conv_winograd.c (tests/test_conv_blocked.c asserts the
 * same bound as tests/test_conv_winograd.c). */
#ifndef COLLAPSE_KERNELS_BLOCKED_H
#define COLLAPSE_KERNELS_BLOCKED_H

#include <stdint.h>

#include "collapse/kernels_conv.h"
#include "collapse/kernels_dense.h"

/* 1 when d is a stride-1 3x3 pad-1 convolution with C and OC multiples of
 * 16 and C * OC <= 128 * 128 (the shape alone: what workspace planning
 * needs), and when moreover the current ISA path is AVX-512
 * (cl_isa_current()) and COLLAPSE_CONV is auto (winograd and gemm force
 * the NCHW kernels; kernels_conv.h): the kernels below may run. */
int cl_blocked_conv_shape_ok(const cl_conv_dims *d);
int cl_blocked_conv_ok(const cl_conv_dims *d);

/* xb [N][C/16][HW][16] <- x [N][C][HW], and x <- xb (+ add, blocked too,
 * unless NULL: the residual add of a block's backward in the same pass);
 * overwritten. */
void cl_to_blocked(const float *x, int N, int C, int64_t HW, float *xb);
void cl_from_blocked(const float *xb, const float *add, int N, int C, int64_t HW, float *x);

/* A BatchNorm apply fused into a convolution's input or output (per
 * channel [C] vectors; the float operations of cl_bnb_apply_act, so a
 * fused apply gives its bits): v = (x - mean) * (gamma * invstd) + beta,
 * + res (blocked like the output; NULL = none; outputs only), then
 * max(0, v) if relu. */
typedef struct {
    const float *gamma, *beta, *mean, *invstd, *res;
    int relu;
} cl_blk_bn;

/* Floats of workspace the calls below need (the same for all). */
int64_t cl_blocked_conv_ws_floats(const cl_conv_dims *d);

/* yb [N][OC/16][H][W][16] = conv(xb [N][C/16][H][W][16], W [OC, C, 3, 3])
 * (overwritten; no bias). ws [cl_blocked_conv_ws_floats]. The result does
 * not depend on the thread count. */
void cl_blocked_conv_forward(const cl_conv_dims *d, const float *xb, const float *W,
                             float *yb, float *ws);
/* The same with the BN apply pro on every input pixel (the padding stays
 * 0: the convolution of relu(bn(x)) without storing it) and epi on every
 * output pixel (y = relu(bn(conv) + res) in the same pass); either NULL. */
void cl_blocked_conv_forward_bn(const cl_conv_dims *d, const float *xb, const cl_blk_bn *pro,
                                const float *W, float *yb, const cl_blk_bn *epi, float *ws);

/* dyb [N][OC/16][H][W][16] -> dxb [N][C/16][H][W][16] (overwritten; NULL =
 * skip) and dW [OC, C, 3, 3] += the weight gradient (summed per thread
 * slot, then the slots in order: deterministic for a thread count). */
void cl_blocked_conv_backward(const cl_conv_dims *d, const float *xb, const float *W,
                              const float *dyb, float *dxb, float *dW, float *ws);
/* The same for the forward with the input apply pro (NULL = none): dW is
 * the gradient of the convolution of pro(xb). (dx is the gradient with
 * respect to the convolution's input, pro's output.) */
void cl_blocked_conv_backward_bn(const cl_conv_dims *d, const float *xb, const cl_blk_bn *pro,
                                 const float *W, const float *dyb, float *dxb, float *dW,
                                 float *ws);

/* ---- batch normalisation of blocked tensors (bn_blocked.c): the
 * formulas and float operations of kernels_dense.h's cl_bn_* (statistics
 * per channel, biased variance, the running update); every tensor
 * blocked. AVX-512 only; C a multiple of 16 up to 512, HW a multiple of
 * 16. Sums: 16-pixel float sums added in double; the threads split the
 * images and their partial sums are added in thread order: deterministic
 * for a thread count (not across thread counts, unlike cl_bn_*: at 16
 * channels there are no channels to split). ---- */

/* Train forward: statistics of xb, the running update (run), mean [C] and
 * invstd [C] (what the backward reads), then yb = act((x - mean) * (gamma *
 * invstd) + beta [+ res]) (res blocked or NULL; yb NULL: no apply, the
 * statistics only, for an apply fused into a convolution, cl_blk_bn). */
void cl_bnb_forward_train(const float *xb, const float *res, float *yb, const float *gamma,
                          const float *beta, const cl_bn_running *run, int relu, int N, int C,
                          int HW, float *mean, float *invstd);
/* The apply alone with given statistics (eval mode: the running ones). */
void cl_bnb_apply_act(const float *xb, const float *res, float *yb, const float *gamma,
                      const float *beta, const float *mean, const float *invstd, int relu, int N,
                      int C, int HW);
/* Backward of the forward with relu = 1: g = dy where the ReLU was on (yb
 * > 0, the forward's output; or, without yb, the forward's pre-ReLU value
 * recomputed from xb, beta and res (the same float operations, so the same
 * mask; as cl_bn_backward_relu_x); g written to gb unless NULL (a block's
 * shortcut gradient); dgamma, dbeta [C] += the sums; dxb (overwritten;
 * NULL = skip; may be dyb itself) = gamma*invstd * (g - sum g / M - xhat
 * sum(g xhat) / M) with batch_stats, gamma*invstd * g without. */
void cl_bnb_backward_relu(const float *xb, const float *res, const float *yb, const float *dyb,
                          float *gb, float *dxb, const float *gamma, const float *beta,
                          const float *mean, const float *invstd, int batch_stats, int N, int C,
                          int HW, float *dgamma, float *dbeta);

#endif
