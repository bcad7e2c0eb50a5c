/* Kernels of the convolution and pooling layers: pure functions over raw
 * pointers plus dimensions, no allocation (scratch comes from the caller's
 * workspace). Each has a plain `_naive` twin (direct loops, double
 * accumulation) used as the reference in tests/test_conv.c.
 *
 * Layouts: activations NCHW float32. Conv weights W [OC, C, k, k] and bias
 * b [OC] (PyTorch layout). Output size per spatial dim:
 *   OH = (H + 2*pad - k) / stride + 1   (floor; callers check H + 2*pad >= k)
 * Gradients: dx is OVERWRITTEN, dW and db are ACCUMULATED (+=), as
 * everywhere in collapse (nn.h). */
#ifndef COLLAPSE_KERNELS_CONV_H
#define COLLAPSE_KERNELS_CONV_H

#include <stdint.h>

#include "collapse/error.h"

/* Scratch slots of the fast convolution: images are processed by up to this
 * many threads at once, each with its own slice of the workspace, so the
 * workspace size does not depend on the thread count at run time. */
#define CL_CONV_SLOTS 8

typedef struct {
    int N, C, H, W;         /* input x [N, C, H, W] */
    int OC, k, stride, pad; /* weights W [OC, C, k, k] */
    int OH, OW;             /* output y [N, OC, OH, OW] */
} cl_conv_dims;

/* Fills OH/OW from the rest (no validation: the layer checked the shapes). */
cl_conv_dims cl_conv_dims_make(int N, int C, int H, int W, int OC, int k, int stride, int pad);

/* ---- im2col / col2im, one image ---- */

/* x [C, H, W] -> col [C*k*k, OH*OW]; row (c*k + i)*k + j holds
 * x[c, oh*stride - pad + i, ow*stride - pad + j] (0 outside the image). */
void cl_im2col(const float *x, int C, int H, int W, int k, int stride, int pad, int OH, int OW,
               float *col);
/* cl_im2col into columns [0, OH*OW) of a wider matrix col [C*k*k, ld]
 * (ld >= OH*OW; the grouped-images path puts image g at col + g*OH*OW).
 * Writes only those columns of each row. */
void cl_im2col_ld(const float *x, int C, int H, int W, int k, int stride, int pad, int OH,
                  int OW, float *col, int64_t ld);
void cl_im2col_naive(const float *x, int C, int H, int W, int k, int stride, int pad, int OH,
                     int OW, float *col);

/* Adjoint of cl_im2col: dx [C, H, W] = sum of the col [C*k*k, OH*OW]
 * entries that im2col copied from each position (overwritten). */
void cl_col2im(const float *col, int C, int H, int W, int k, int stride, int pad, int OH, int OW,
               float *dx);
void cl_col2im_naive(const float *col, int C, int H, int W, int k, int stride, int pad, int OH,
                     int OW, float *dx);

/* ---- convolution, whole batch ---- */

/* Name of the algorithm cl_conv2d_forward uses for these dimensions
 * ("direct", "im2col", "im2col-grouped", "shifted", "winograd-F4",
 * "winograd-F2", "strided-kgemm"; static string), for benchmarks and logs.
 * Backward uses the same family (Winograd for dx and dW when the forward is
 * Winograd). */
const char *cl_conv2d_algo(const cl_conv_dims *d);

/* Stride-1 3x3 convolutions with pad 1 (OH = H, OW = W) and C*OC up to
 * 128*128 are eligible for Winograd F(4x4, 3x3) or F(2x2, 3x3)
 * (src/kernels/conv_winograd.c; F(4) is up to ~50 FLT_EPSILON less accurate
 * relative to sum |W||x|, see tests/test_conv_winograd.c). By default they
 * run F(4) from 3 channels in and out and 3x3 planes on (the measured rule
 * in conv.c); the environment variable forces the choice, read on each call:
 *   COLLAPSE_CONV=auto (or unset)  the measured rule
 *   COLLAPSE_CONV=winograd         Winograd for every eligible shape (F(2)
 *                                  on planes below 3 pixels per side)
 *   COLLAPSE_CONV=gemm             the im2col / shifted-products paths
 * An unknown value runs as auto; cl_conv_check_env returns CL_EINVAL with
 * a one-line message naming the variable (programs call it at start-up). */
cl_status cl_conv_check_env(void);

/* Floats of workspace cl_conv2d_forward / cl_conv2d_backward need. */
int64_t cl_conv2d_ws_floats(const cl_conv_dims *d);

/* y [N, OC, OH, OW] = conv(x [N, C, H, W], W [OC, C, k, k]) + b [OC]
 * (b NULL = no bias). Per image: im2col then one sgemm
 * W [OC, C*k*k] @ col [C*k*k, OH*OW] straight into y's NCHW slice (no
 * im2col for 1x1 stride-1 unpadded kernels); several images per sgemm when
 * OH*OW is small; k*k shifted products over a padded plane instead of
 * im2col for wide stride-1 "same" convs (see src/kernels/conv.c).
 * ws [cl_conv2d_ws_floats]. */
void cl_conv2d_forward(const cl_conv_dims *d, const float *x, const float *W, const float *b,
                       float *y, float *ws);
void cl_conv2d_forward_naive(const cl_conv_dims *d, const float *x, const float *W,
                             const float *b, float *y);

/* dy [N, OC, OH, OW] -> dx [N, C, H, W] (overwritten; NULL = skip),
 * dW [OC, C, k, k] += sum_n dy_n @ col_n^T, db [OC] += sum dy (NULL = no
 * bias). dW is summed per thread slot, then the slots in a fixed order:
 * deterministic for a given thread count. dx: W^T @ dy_n then col2im, or,
 * for stride-1 "same" convs, im2col(dy_n) times the flipped kernel.
 * ws [cl_conv2d_ws_floats]. */
void cl_conv2d_backward(const cl_conv_dims *d, const float *x, const float *W, const float *dy,
                        float *dx, float *dW, float *db, float *ws);
void cl_conv2d_backward_naive(const cl_conv_dims *d, const float *x, const float *W,
                              const float *dy, float *dx, float *dW, float *db);

/* ---- pooling over [N*C planes of H x W] -> [N*C planes of OH x OW] ---- */

/* y = max over each k x k window (padding never wins: it is -inf, as
 * PyTorch). Ties: the first maximum in row-major window order wins; NaN
 * wins over numbers (the last NaN, as PyTorch's CPU kernel: replace when
 * v > max or v is NaN). */
void cl_maxpool_forward(const float *x, float *y, int64_t planes, int H, int W, int k, int stride,
                        int pad, int OH, int OW);
void cl_maxpool_forward_naive(const float *x, float *y, int64_t planes, int H, int W, int k,
                              int stride, int pad, int OH, int OW);
/* dx = dy routed to the argmax of each window, recomputed from x with the
 * same rule as forward (overwritten). */
void cl_maxpool_backward(const float *x, const float *dy, float *dx, int64_t planes, int H, int W,
                         int k, int stride, int pad, int OH, int OW);
void cl_maxpool_backward_naive(const float *x, const float *dy, float *dx, int64_t planes, int H,
                               int W, int k, int stride, int pad, int OH, int OW);

/* y = mean over each k x k window, padding counted as zeros in the divisor
 * (count_include_pad = true: divisor k*k whenever OH follows the formula
 * above). */
void cl_avgpool_forward(const float *x, float *y, int64_t planes, int H, int W, int k, int stride,
                        int pad, int OH, int OW);
void cl_avgpool_forward_naive(const float *x, float *y, int64_t planes, int H, int W, int k,
                              int stride, int pad, int OH, int OW);
/* dx = sum over the windows covering each input of dy / (k*k) (overwritten). */
void cl_avgpool_backward(const float *dy, float *dx, int64_t planes, int H, int W, int k,
                         int stride, int pad, int OH, int OW);
void cl_avgpool_backward_naive(const float *dy, float *dx, int64_t planes, int H, int W, int k,
                               int stride, int pad, int OH, int OW);

/* Global average pool: y [planes] = mean of each x plane [HW] (double sums). */
void cl_gap_forward(const float *x, float *y, int64_t planes, int HW);
void cl_gap_forward_naive(const float *x, float *y, int64_t planes, int HW);
/* dx [planes, HW] = dy [planes] / HW (overwritten). */
void cl_gap_backward(const float *dy, float *dx, int64_t planes, int HW);
void cl_gap_backward_naive(const float *dy, float *dx, int64_t planes, int HW);

#endif
