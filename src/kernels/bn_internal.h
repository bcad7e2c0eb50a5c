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

#include <math.h>
#include <stdint.h>

#include "collapse/kernels_dense.h"

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

/* ---- the per-channel finishing steps, shared by bn.c and bn_blocked.c
 * (one source for the formulas) ---- */

/* mean and biased var from the shifted sums s = sum (x - K), ss = sum
 * (x - K)^2 over M elements. */
static inline void cl_bn_finish_stats(double s, double ss, double K, double M, float *mean,
                                      float *var)
{
    double m = s / M, v = ss / M - m * m;
    *mean = (float)(K + m);
    *var = (float)(v > 0 ? v : 0);
}

/* batchnorm.c's finish of a train-mode channel, the same double
 * operations: running statistics, then invstd from the float var. */
static inline void cl_bn_finish_running(const cl_bn_running *run, int c, double M, float mean,
                                        float var, float *invstd)
{
    double mom = run->momentum, v = var;
    float *rm = run->running_mean, *rv = run->running_var;
    rm[c] = (float)((1 - mom) * rm[c] + mom * mean);
    if (M > 1) rv[c] = (float)((1 - mom) * rv[c] + mom * v * M / (M - 1));
    *invstd = (float)(1.0 / sqrt(v + run->eps));
}

/* dx = a*dy + b*(x - mu) + c0 per channel (see the header for the formula):
 * a = gamma*invstd, b = -a*invstd^2*sum(dy*(x-mu))/M, c0 = -a*sum(dy)/M in
 * train mode, b = c0 = 0 in eval mode. Also accumulates dgamma, dbeta. */
static inline void cl_bn_coefs(double s, double sx, double g, double is, double M,
                               int batch_stats, float *dgamma, float *dbeta, float *a, float *b,
                               float *c0)
{
    *dbeta += (float)s;
    *dgamma += (float)(sx * is);
    double k = g * is;
    *a = (float)k;
    *b = batch_stats ? (float)(-k * is * is * sx / M) : 0.0f;
    *c0 = batch_stats ? (float)(-k * s / M) : 0.0f;
}

#endif
