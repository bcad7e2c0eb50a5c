/* Internals shared by the convolution kernels of src/kernels/ (not a
 * public header): small helpers and the shifted-products path
 * (conv_shifted.c) that conv.c calls. Shapes as in kernels_conv.h. */
#ifndef COLLAPSE_KERNELS_INTERNAL_H
#define COLLAPSE_KERNELS_INTERNAL_H

#include <stdint.h>

#include "collapse/kernels_conv.h"

/* OpenMP only above PAR_MIN elements (a fork/join costs microseconds). */
#define PAR_MIN 32768

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Stride-1 "same" convolution of one image by k*k shifted products (no
 * im2col): y [OC, H, W] = conv(x [C, H, W], Wr [k*k, OC, C]).
 * scr: C*Hp*Wp + k + OC*H*Wp floats (Hp = H + 2*pad, Wp = W + 2*pad). */
void cl_conv_shifted(const float *x, int C, int H, int W, int OC, int k, int pad,
                     const float *Wr, float *y, float *scr);

/* dW of one image of a stride-1 "same" convolution by shifted products:
 * dWq [k*k, OC, C] += taps of dyn [OC, H, W] against x [C, H, W]. scr as
 * cl_conv_shifted. */
void cl_conv_dw_shifted(const cl_conv_dims *d, const float *x, const float *dyn, float *dWq,
                        float *scr);

/* Wr [k*k, O, I] = Ws [O, I, k, k] (flip_io: Wr [k*k, I, O] of the flipped
 * kernel, tap k*k-1-q). */
void cl_conv_repack_taps(const float *Ws, int O, int I, int KK, int flip_io, float *Wr);

#endif
