/* Internal: the AVX-512 channel sums of the batch-norm kernels (bn.c calls
 * them; bn_avx512.c). Not a public header.
 *
 * Each function is the AVX-512 form of the portable loop of the same name
 * in bn.c (lanes_shifted, lanes_grad, lanes_grad_mask) and gives the same
 * bits: lane j of a[8] and b[8] (one zmm of doubles) adds the elements
 * i = j (mod 8) in order, the tail of the plane goes to lane 0, and every
 * product and sum is the same double (or float, for the ReLU mask)
 * operation as in the portable loop (no FMA: the project builds with
 * -std=c11, so the portable loop is not contracted either). Only call them
 * when cl_isa_current() is CL_ISA_AVX512. */
#ifndef COLLAPSE_KERNELS_BN_INTERNAL_H
#define COLLAPSE_KERNELS_BN_INTERNAL_H

#include <stdint.h>

/* a += p - K, b += (p - K)^2 over p[0..n) */
void cl_bn_lanes_shifted_avx512(const float *p, int64_t n, double K, double *a, double *b);
/* a += g, b += g * (x - mu) over [0..n), g = dy */
void cl_bn_lanes_grad_avx512(const float *x, const float *dy, int64_t n, double mu, double *a,
                             double *b);
/* The same with g = dy where the ReLU was on: y > 0 (y != NULL), else
 * (x - m) * k + bb > 0 in float; g written to gout unless NULL. */
void cl_bn_lanes_grad_mask_avx512(const float *x, const float *dy, const float *y, float m,
                                  float k, float bb, float *gout, int64_t n, double mu, double *a,
                                  double *b);

#endif
