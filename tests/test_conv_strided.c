/* Stride-2 convolutions by packed im2col + cl_kgemm (src/kernels/
 * conv_strided.c): forward, dx, dW, db of 3x3 pad-1 and 1x1 pad-0 stride-2
 * convs through the library entry points, against the naive twins
 * (double accumulation), on every kgemm path (COLLAPSE_ISA) and with
 * COLLAPSE_CONV=gemm (the im2col + OpenBLAS paths).
 *
 * Error bound: ratio = max |out - naive| / max R, R = the naive twin on the
 * absolute values (sum over the receptive field of |W| |x| (+ |b|); for
 * dx |W| |dy|, for dW |x| |dy|; the dW/db accumulators start non-zero and
 * their |start| is added to R). A float sum of K terms errs by at most
 * about K * FLT_EPSILON relative to R (the recursive-summation bound);
 * measured ratios are 0.5-1.5 FLT_EPSILON on these shapes (all below 3,
 * on the AVX-512, AVX2 and portable paths and the gemm path); the tests
 * assert BOUND = 8 FLT_EPSILON, while an indexing bug gives ratios of
 * order 1 (a wrong tap: 1e6 and more, NaN from unwritten workspace). */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/kernels/internal.h"
#include "collapse/kernels_conv.h"
#include "collapse/kernels_gemm.h"
#include "collapse/mem.h"
#include "collapse/rng.h"
#include "common.h"

#define BOUND (8 * FLT_EPSILON)

/* n floats (+1 so n = 0 is fine), NaN, or |src| when src is given. */
static float *buf(int64_t n, const float *src)
{
    float *p = cl_alloc_array((size_t)n + 1, sizeof(float), "test");
    cr_assert(p);
    for (int64_t i = 0; i < n; i++) p[i] = src ? fabsf(src[i]) : NAN;
    return p;
}
static float *arr(int64_t n) { return buf(n, NULL); }
static float *absv(const float *x, int64_t n) { return buf(n, x); }

/* The error of out against ref relative to the largest magnitude bound R
 * (a NaN in out gives infinity). */
static double ratio(const float *out, const float *ref, const float *R, int64_t n)
{
    double rmax = 1e-30, err = 0;
    for (int64_t i = 0; i < n; i++) rmax = fmax(rmax, R[i]);
    for (int64_t i = 0; i < n; i++) {
        const double diff = fabs((double)out[i] - (double)ref[i]);
        err = isnan(diff) ? INFINITY : fmax(err, diff);
    }
    return err / rmax;
}

/* One shape, both directions; returns the worst ratio of y, dx, dW, db. */
static double run_case(cl_conv_dims d, int bias, int with_dx, cl_rng *r)
{
    const int64_t nx = (int64_t)d.N * d.C * d.H * d.W, ny = (int64_t)d.N * d.OC * d.OH * d.OW;
    const int64_t nw = (int64_t)d.OC * d.C * d.k * d.k;
    float *x = tc_randn(nx, r, 1, 0), *W = tc_randn(nw, r, 1, 0), *dy = tc_randn(ny, r, 1, 0);
    float *b = tc_randn(d.OC, r, 1, 0);
    const int64_t nws = cl_conv2d_ws_floats(&d);
    float *ws = arr(nws), *y = arr(ny), *y0 = arr(ny), *dx = arr(nx), *dx0 = arr(nx);
    float *dW = tc_randn(nw, r, 1, 0), *dW0 = arr(nw), *db = tc_randn(d.OC, r, 1, 0);
    float *db0 = arr(d.OC), *R = arr(nx > ny ? nx : ny), *RW = absv(dW, nw), *Rb = absv(db, d.OC);
    memcpy(dW0, dW, sizeof(float) * (size_t)nw);
    memcpy(db0, db, sizeof(float) * (size_t)d.OC);
    const float *bb = bias ? b : NULL;
    cl_conv2d_forward(&d, x, W, bb, y, ws);
    cl_conv2d_forward_naive(&d, x, W, bb, y0);
    float *ax = absv(x, nx), *aW = absv(W, nw), *ady = absv(dy, ny), *ab = absv(b, d.OC);
    cl_conv2d_forward_naive(&d, ax, aW, bias ? ab : NULL, R);
    double e = ratio(y, y0, R, ny);
    for (int64_t i = 0; i < nws; i++) ws[i] = NAN;
    float *dxp = with_dx ? dx : NULL;
    cl_conv2d_backward(&d, x, W, dy, dxp, dW, bias ? db : NULL, ws);
    cl_conv2d_backward_naive(&d, x, W, dy, dxp ? dx0 : NULL, dW0, bias ? db0 : NULL);
    cl_conv2d_backward_naive(&d, ax, aW, ady, dxp ? R : NULL, RW, Rb);
    if (dxp) e = fmax(e, ratio(dx, dx0, R, nx));
    e = fmax(e, ratio(dW, dW0, RW, nw));
    if (bias) e = fmax(e, ratio(db, db0, Rb, d.OC));
    else cr_assert(memcmp(db, db0, sizeof(float) * (size_t)d.OC) == 0, "db touched");
    float *all[] = {x, W, dy, b, ws, y, y0, dx, dx0, dW, dW0, db, db0, R, RW, Rb, ax, aW, ady, ab};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) cl_free(all[i]);
    return e;
}

/* N, C, H, W, OC: odd/even planes, 1x1 and 2x2 maps, channels not
 * multiples of 16, batch 1 and more images than CL_CONV_SLOTS (several
 * groups of several images, a partial last group; products 50, 49 and 130
 * columns wide, past cl_kgemm's 48-column tails). */
static const int shapes[][5] = {
    {2, 5, 7, 7, 4},  {3, 16, 8, 8, 8},  {1, 17, 5, 9, 7}, {4, 3, 2, 2, 5},  {5, 6, 1, 1, 3},
    {11, 9, 8, 8, 19}, {1, 32, 16, 16, 24}, {20, 8, 4, 4, 6}, {3, 12, 9, 6, 33},
    {2, 20, 13, 1, 6}, {3, 3, 9, 9, 6}, {2, 4, 14, 14, 5}, {1, 7, 20, 26, 9},
};
#define NSHAPES ((int)(sizeof shapes / sizeof *shapes))

static void check_all(uint64_t seed, int expect_strided)
{
    cl_rng r;
    cl_rng_seed(&r, seed);
    for (int s = 0; s < NSHAPES; s++)
        for (int k = 1; k <= 3; k += 2) {
            const int *p = shapes[s];
            cl_conv_dims d = cl_conv_dims_make(p[0], p[1], p[2], p[3], p[4], k, 2, k / 2);
            cr_assert_str_eq(cl_conv2d_algo(&d), expect_strided ? "strided-kgemm" : "im2col",
                             "algo of %dx%d k %d", p[2], p[3], k);
            for (int v = 0; v < 3; v++) {
                double e = run_case(d, v != 1, v != 2, &r);
                cr_assert(e <= BOUND, "N%d C%d %dx%d OC%d k%d case %d: ratio %.3g eps", p[0],
                          p[1], p[2], p[3], p[4], k, v, e / FLT_EPSILON);
            }
        }
}

/* the grouped gemm path names itself "im2col-grouped" on small planes */
static void check_gemm(uint64_t seed)
{
    cl_rng r;
    cl_rng_seed(&r, seed);
    for (int s = 0; s < NSHAPES; s++) {
        const int *p = shapes[s];
        cl_conv_dims d = cl_conv_dims_make(p[0], p[1], p[2], p[3], p[4], 3, 2, 1);
        cr_assert_str_neq(cl_conv2d_algo(&d), "strided-kgemm");
        cr_assert(run_case(d, 1, 1, &r) <= BOUND);
    }
}

Test(conv_strided, auto_isa, .timeout = TC_TIMEOUT)
{
    unsetenv("COLLAPSE_CONV");
    unsetenv("COLLAPSE_ISA");
    check_all(11, 1);
}

Test(conv_strided, avx2_isa, .timeout = TC_TIMEOUT)
{
    unsetenv("COLLAPSE_CONV");
    setenv("COLLAPSE_ISA", "avx2", 1); /* falls back on a CPU without it */
    check_all(12, 1);
    unsetenv("COLLAPSE_ISA");
}

Test(conv_strided, generic_isa, .timeout = TC_TIMEOUT)
{
    unsetenv("COLLAPSE_CONV");
    setenv("COLLAPSE_ISA", "generic", 1);
    check_all(13, 1);
    unsetenv("COLLAPSE_ISA");
}

Test(conv_strided, conv_gemm_forces_old_path, .timeout = TC_TIMEOUT)
{
    setenv("COLLAPSE_CONV", "gemm", 1);
    check_gemm(14);
    unsetenv("COLLAPSE_CONV");
}

/* Same inputs, two calls: identical bits (fixed partition and slot order). */
Test(conv_strided, deterministic, .timeout = TC_TIMEOUT)
{
    unsetenv("COLLAPSE_CONV");
    cl_rng r;
    cl_rng_seed(&r, 15);
    cl_conv_dims d = cl_conv_dims_make(19, 12, 8, 8, 20, 3, 2, 1);
    const int64_t nx = (int64_t)d.N * d.C * d.H * d.W, ny = (int64_t)d.N * d.OC * d.OH * d.OW;
    const int64_t nw = (int64_t)d.OC * d.C * 9, nws = cl_conv2d_ws_floats(&d);
    float *x = tc_randn(nx, &r, 1, 0), *W = tc_randn(nw, &r, 1, 0), *dy = tc_randn(ny, &r, 1, 0);
    float *ws = arr(nws), *dx[2] = {arr(nx), arr(nx)}, *dW[2] = {arr(nw), arr(nw)};
    for (int t = 0; t < 2; t++) {
        memset(dW[t], 0, sizeof(float) * (size_t)nw);
        cl_conv2d_backward(&d, x, W, dy, dx[t], dW[t], NULL, ws);
    }
    cr_assert(memcmp(dx[0], dx[1], sizeof(float) * (size_t)nx) == 0);
    cr_assert(memcmp(dW[0], dW[1], sizeof(float) * (size_t)nw) == 0);
    float *all[] = {x, W, dy, ws, dx[0], dx[1], dW[0], dW[1]};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) cl_free(all[i]);
}

/* The products' widths here are arbitrary (G * OH * OW): cl_kgemm_nn on
 * every path for all tails of 1..64 columns (the AVX-512 path once
 * computed only N % 64 - 48 columns of a 49..63-column tail). */
Test(conv_strided, kgemm_nn_all_tails, .timeout = TC_TIMEOUT)
{
    cl_rng r;
    cl_rng_seed(&r, 16);
    enum { MM = 7, KK = 5, NN = 140 };
    float *A = tc_randn(MM * KK, &r, 1, 0), *B = tc_randn(KK * NN, &r, 1, 0);
    float *C = arr(MM * NN), *R = arr(MM * NN);
    for (int isa = CL_ISA_GENERIC; isa <= CL_ISA_AVX512; isa++)
        for (int n = 1; n <= NN; n++) {
            cl_kgemm_nn((cl_isa)isa, MM, n, KK, A, KK, B, NN, C, NN, 0);
            cl_kgemm_nn_naive(MM, n, KK, A, KK, B, NN, R, NN, 0);
            for (int i = 0; i < MM; i++)
                for (int j = 0; j < n; j++)
                    cr_assert(fabsf(C[i * NN + j] - R[i * NN + j]) <= 1e-4f,
                              "isa %d N %d at (%d, %d)", isa, n, i, j);
        }
    cl_free(A), cl_free(B), cl_free(C), cl_free(R);
}
