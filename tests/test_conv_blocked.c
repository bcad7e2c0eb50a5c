/* The channel-blocked Winograd F(4x4, 3x3) convolution (kernels_blocked.h,
 * src/kernels/conv_blocked*.c) against the naive NCHW twins of
 * kernels_conv.h, through the layout conversions: forward, dx and dW.
 *
 * Error as in tests/test_conv_winograd.c: ratio = max |a - naive| / max R
 * with R the naive convolution of the magnitudes (|W| |x|; dx: |W| |dy|;
 * dW: |x| |dy|), bound F4_BOUND = 128 FLT_EPSILON (the NCHW F(4) measured
 * up to 47 on trained-like data; an indexing bug gives ratios of order 1).
 * The kernels need the AVX-512 path: on another one (COLLAPSE_ISA=avx2 or
 * generic in CI) the tests check that cl_blocked_conv_ok says no and skip
 * the rest. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/isa.h"
#include "collapse/kernels_blocked.h"
#include "collapse/mem.h"
#include "collapse/rng.h"
#include "common.h"

#define F4_BOUND (128 * FLT_EPSILON)

static float *arr(int64_t n, float fill)
{
    float *a = cl_alloc_array((size_t)n + 1, sizeof(float), "test");
    cr_assert(a);
    for (int64_t i = 0; i < n; i++)
        a[i] = fill;
    return a;
}

static float *absv(const float *x, int64_t n)
{
    float *a = arr(n, 0);
    for (int64_t i = 0; i < n; i++)
        a[i] = fabsf(x[i]);
    return a;
}

/* 1 when the gate admits the blocked kernels here: the AVX-512 path and
 * COLLAPSE_CONV auto (CI runs the suite with COLLAPSE_ISA=avx2|generic and
 * with COLLAPSE_CONV=gemm). */
static int blocked_here(void)
{
    const char *e = getenv("COLLAPSE_CONV");
    return cl_isa_current() == CL_ISA_AVX512 && (!e || !*e || !strcmp(e, "auto"));
}

/* Skips (after checking the gate says no) unless the blocked path runs. */
static void need_avx512(void)
{
    cl_conv_dims d = cl_conv_dims_make(2, 16, 8, 8, 16, 3, 1, 1);
    cr_assert_eq(cl_blocked_conv_ok(&d), blocked_here());
    if (blocked_here()) return;
    cr_skip_test("the blocked kernels need the AVX-512 path and COLLAPSE_CONV=auto (isa %s)",
                 cl_isa_name(cl_isa_current()));
}

typedef struct {
    double y, dx, dW;
} errs;

/* One shape: x, W, dy N(0, 1) (trained: ReLU inputs, per-channel weight
 * scales over two decades and a 30x channel); dW starts non-zero (it must
 * accumulate). */
static errs run_case(cl_conv_dims d, int trained, cl_rng *r)
{
    const int64_t HW = (int64_t)d.H * d.W, nx = d.N * d.C * HW, ny = d.N * d.OC * HW;
    const int64_t nw = (int64_t)d.OC * d.C * 9;
    cr_assert(cl_blocked_conv_ok(&d));
    float *x = tc_randn(nx, r, 1, 0), *W = tc_randn(nw, r, 1, 0),
          *dy = tc_randn(ny, r, 1, 0);
    if (trained) {
        for (int64_t i = 0; i < nx; i++)
            x[i] = x[i] > 0 ? x[i] : 0.0f;
        for (int o = 0; o < d.OC; o++) {
            float sc = (float)pow(10.0, -2.0 * cl_rng_uniform(r)) *
                       (o == d.OC / 2 ? 30.0f : 1.0f);
            for (int64_t i = 0; i < (int64_t)d.C * 9; i++)
                W[o * (int64_t)d.C * 9 + i] *= sc;
        }
    }
    float *ws = arr(cl_blocked_conv_ws_floats(&d), NAN);
    float *xb = arr(nx, NAN), *dyb = arr(ny, NAN), *yb = arr(ny, NAN),
          *dxb = arr(nx, NAN);
    float *y = arr(ny, NAN), *dx = arr(nx, NAN), *y0 = arr(ny, NAN), *dx0 = arr(nx, NAN);
    float *dW = tc_randn(nw, r, 1, 0), *dW0 = arr(nw, 0), *R = arr(nx > ny ? nx : ny, 0);
    float *RW = arr(nw, 0);
    memcpy(dW0, dW, sizeof(float) * (size_t)nw);
    cl_to_blocked(x, d.N, d.C, HW, xb);
    cl_to_blocked(dy, d.N, d.OC, HW, dyb);
    cl_blocked_conv_forward(&d, xb, W, yb, ws);
    cl_blocked_conv_backward(&d, xb, W, dyb, dxb, dW, ws);
    cl_from_blocked(yb, NULL, d.N, d.OC, HW, y);
    cl_from_blocked(dxb, NULL, d.N, d.C, HW, dx);
    cl_conv2d_forward_naive(&d, x, W, NULL, y0);
    cl_conv2d_backward_naive(&d, x, W, dy, dx0, dW0, NULL);
    float *ax = absv(x, nx), *aW = absv(W, nw), *ady = absv(dy, ny);
    errs e;
    cl_conv2d_forward_naive(&d, ax, aW, NULL, R);
    e.y = tc_err_ratio(y, y0, R, ny);
    cl_conv2d_backward_naive(&d, ax, aW, ady, R, RW, NULL);
    e.dx = tc_err_ratio(dx, dx0, R, nx);
    e.dW = tc_err_ratio(dW, dW0, RW, nw);
    float *all[] = {x,  W,   dy, ws,  xb, dyb, yb, dxb, y,  dx,
                    y0, dx0, dW, dW0, R,  RW,  ax, aW,  ady};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cl_free(all[i]);
    return e;
}

static const int shapes[][5] = {
    /* N, C, H, W, OC: whole-image chunks (several images each), planes with
     * tiles over the bottom / right edge, 1x1 and 2x3 planes, planes of
     * more tiles than a chunk holds (chunks end mid-image), C != OC both
     * ways, the ResNet-20 shapes at a small batch */
    {3, 16, 8, 8, 32}, {2, 32, 7, 10, 16},  {4, 16, 3, 5, 16},   {5, 16, 1, 1, 16},
    {3, 32, 2, 3, 48}, {2, 16, 40, 37, 48}, {2, 16, 32, 32, 16}, {3, 32, 16, 16, 32},
    {4, 64, 8, 8, 64}, {1, 48, 13, 11, 16},
};
#define NSHAPES ((int)(sizeof shapes / sizeof *shapes))

static void check_all(int trained, uint64_t seed)
{
    need_avx512();
    cl_rng r;
    cl_rng_seed(&r, seed);
    double worst = 0;
    for (int s = 0; s < NSHAPES; s++) {
        cl_conv_dims d = cl_conv_dims_make(shapes[s][0], shapes[s][1], shapes[s][2],
                                           shapes[s][3], shapes[s][4], 3, 1, 1);
        errs e = run_case(d, trained, &r);
        const double v[3] = {e.y, e.dx, e.dW};
        const char *nm[3] = {"y", "dx", "dW"};
        for (int k = 0; k < 3; k++) {
            cr_assert(v[k] <= F4_BOUND,
                      "N%d C%d %dx%d OC%d trained %d: %s ratio %.3g eps", d.N, d.C, d.H,
                      d.W, d.OC, trained, nm[k], v[k] / FLT_EPSILON);
            if (v[k] > worst) worst = v[k];
        }
    }
    cr_log_info("blocked F(4): worst ratio %.2f eps (trained %d)", worst / FLT_EPSILON,
                trained);
}

Test(conv_blocked, random_match_naive, .timeout = TC_TIMEOUT)
{
    check_all(0, 111);
}

Test(conv_blocked, trained_like_match_naive, .timeout = TC_TIMEOUT)
{
    check_all(1, 222);
}

/* Forward and dx do not depend on the thread count (chunks follow the
 * shape); dW is the same bits on every run at one thread count. */
Test(conv_blocked, threads, .timeout = TC_TIMEOUT)
{
    need_avx512();
    cl_rng r;
    cl_rng_seed(&r, 333);
    cl_conv_dims d = cl_conv_dims_make(5, 32, 16, 16, 16, 3, 1, 1);
    const int64_t HW = 256, nx = 5 * 32 * HW, ny = 5 * 16 * HW, nw = 16 * 32 * 9;
    float *xb = tc_randn(nx, &r, 1, 0), *dyb = tc_randn(ny, &r, 1, 0),
          *W = tc_randn(nw, &r, 1, 0);
    float *ws = arr(cl_blocked_conv_ws_floats(&d), NAN);
    float *y[3], *dx[3], *dW[3];
    const int th[3] = {1, 2, 2};
    const int saved = omp_get_max_threads();
    for (int k = 0; k < 3; k++) {
        omp_set_num_threads(th[k]);
        y[k] = arr(ny, NAN), dx[k] = arr(nx, NAN), dW[k] = arr(nw, 0);
        cl_blocked_conv_forward(&d, xb, W, y[k], ws);
        cl_blocked_conv_backward(&d, xb, W, dyb, dx[k], dW[k], ws);
    }
    omp_set_num_threads(saved);
    for (int k = 1; k < 3; k++) {
        cr_assert(memcmp(y[0], y[k], sizeof(float) * (size_t)ny) == 0,
                  "y differs (run %d)", k);
        cr_assert(memcmp(dx[0], dx[k], sizeof(float) * (size_t)nx) == 0,
                  "dx differs (run %d)", k);
    }
    cr_assert(memcmp(dW[1], dW[2], sizeof(float) * (size_t)nw) == 0,
              "dW differs at 2 threads");
    float *all[] = {xb,    dyb,   W,     ws,    y[0],  y[1], y[2],
                    dx[0], dx[1], dx[2], dW[0], dW[1], dW[2]};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cl_free(all[i]);
}

/* dxb NULL: dW alone, the same bits as with dx. */
Test(conv_blocked, dw_without_dx, .timeout = TC_TIMEOUT)
{
    need_avx512();
    cl_rng r;
    cl_rng_seed(&r, 444);
    cl_conv_dims d = cl_conv_dims_make(2, 16, 9, 9, 32, 3, 1, 1);
    const int64_t nx = 2 * 16 * 81, ny = 2 * 32 * 81, nw = 32 * 16 * 9;
    float *xb = tc_randn(nx, &r, 1, 0), *dyb = tc_randn(ny, &r, 1, 0),
          *W = tc_randn(nw, &r, 1, 0);
    float *ws = arr(cl_blocked_conv_ws_floats(&d), NAN), *dx = arr(nx, NAN);
    float *a = arr(nw, 0), *b = arr(nw, 0);
    cl_blocked_conv_backward(&d, xb, W, dyb, dx, a, ws);
    cl_blocked_conv_backward(&d, xb, W, dyb, NULL, b, ws);
    cr_assert(memcmp(a, b, sizeof(float) * (size_t)nw) == 0);
    float *all[] = {xb, dyb, W, ws, dx, a, b};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cl_free(all[i]);
}

/* Outputs of 6 MiB and more are written with non-temporal stores
 * (conv_blocked.c STREAM_BYTES), smaller ones normally; every tile is
 * computed on its own, so a batch of 100 at 16 x 32 x 32 (6.25 MiB out,
 * streamed) must give the bits of its two halves (3.1 MiB each, not), in
 * the forward and in dx; with the BN input and output applies as well. */
Test(conv_blocked, streamed_outputs_same_bits, .timeout = TC_TIMEOUT)
{
    need_avx512();
    cl_rng r;
    cl_rng_seed(&r, 777);
    const int N = 100, C = 16, H = 32;
    const int64_t per = (int64_t)C * H * H, n = N * per, nw = (int64_t)C * C * 9;
    cl_conv_dims d = cl_conv_dims_make(N, C, H, H, C, 3, 1, 1),
                 h = cl_conv_dims_make(N / 2, C, H, H, C, 3, 1, 1);
    float *xb = tc_randn(n, &r, 1, 0), *res = tc_randn(n, &r, 1, 0), *W = tc_randn(nw, &r, 1, 0);
    float *gm = tc_randn(C, &r, 1, 1), *bt = tc_randn(C, &r, 1, 0), *mu = tc_randn(C, &r, 1, 0),
          *is = tc_randn(C, &r, 0.1, 1);
    const cl_blk_bn pro = {gm, bt, mu, is, NULL, 1}, epi = {gm, bt, mu, is, res, 1};
    float *ws = arr(cl_blocked_conv_ws_floats(&d), NAN), *dW = arr(nw, 0);
    float *ya = arr(n, NAN), *yb = arr(n, NAN), *dxa = arr(n, NAN), *dxb = arr(n, NAN);
    for (int fused = 0; fused < 2; fused++) {
        const cl_blk_bn *p = fused ? &pro : NULL, *e = fused ? &epi : NULL;
        cl_blocked_conv_forward_bn(&d, xb, p, W, ya, e, ws);
        cl_blocked_conv_backward_bn(&d, xb, p, W, res, dxa, dW, ws);
        for (int k = 0; k < 2; k++) {
            const cl_blk_bn eh = {gm, bt, mu, is, res + k * (N / 2) * per, 1};
            cl_blocked_conv_forward_bn(&h, xb + k * (N / 2) * per, p, W, yb + k * (N / 2) * per,
                                       fused ? &eh : NULL, ws);
            cl_blocked_conv_backward_bn(&h, xb + k * (N / 2) * per, p, W,
                                        res + k * (N / 2) * per, dxb + k * (N / 2) * per, dW, ws);
        }
        cr_assert(memcmp(ya, yb, sizeof(float) * (size_t)n) == 0, "forward, fused %d", fused);
        cr_assert(memcmp(dxa, dxb, sizeof(float) * (size_t)n) == 0, "dx, fused %d", fused);
    }
    float *all[] = {xb, res, W, gm, bt, mu, is, ws, dW, ya, yb, dxa, dxb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cl_free(all[i]);
}

/* The conversions are exact inverses and put channel c of pixel i of image
 * n at ((n * C/16 + c/16) * HW + i) * 16 + c % 16. */
Test(conv_blocked, layout_round_trip)
{
    const int N = 3, C = 32;
    const int64_t HW = 35, n = N * C * HW;
    float *x = arr(n, 0), *xb = arr(n, NAN), *back = arr(n, NAN);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)i;
    cl_to_blocked(x, N, C, HW, xb);
    for (int im = 0; im < N; im++)
        for (int c = 0; c < C; c++)
            for (int64_t i = 0; i < HW; i++)
                cr_assert_eq(xb[((im * (C / 16) + c / 16) * HW + i) * 16 + c % 16],
                             x[(im * C + c) * HW + i]);
    cl_from_blocked(xb, NULL, N, C, HW, back);
    cr_assert(memcmp(x, back, sizeof(float) * (size_t)n) == 0);
    cl_free(x), cl_free(xb), cl_free(back);
}

/* The gate: stride 1, 3x3, pad 1, channels in multiples of 16, C * OC up
 * to 128 * 128, the AVX-512 path, COLLAPSE_CONV auto. */
Test(conv_blocked, gate)
{
    cl_conv_dims ok = cl_conv_dims_make(2, 16, 8, 8, 32, 3, 1, 1);
    cr_assert_eq(cl_blocked_conv_ok(&ok), blocked_here());
    const char *e = getenv("COLLAPSE_CONV");
    char *saved = e ? strdup(e) : NULL;
    cr_assert(cl_blocked_conv_shape_ok(&ok));
    setenv("COLLAPSE_CONV", "winograd", 1);
    cr_assert_not(cl_blocked_conv_ok(&ok));
    cr_assert(cl_blocked_conv_shape_ok(&ok), "the shape test ignores COLLAPSE_CONV");
    setenv("COLLAPSE_CONV", "gemm", 1);
    cr_assert_not(cl_blocked_conv_ok(&ok));
    if (saved) setenv("COLLAPSE_CONV", saved, 1);
    else unsetenv("COLLAPSE_CONV");
    free(saved);
    cl_conv_dims bad[] = {
        cl_conv_dims_make(2, 16, 8, 8, 32, 3, 2, 1),
        cl_conv_dims_make(2, 16, 8, 8, 32, 1, 1, 0),
        cl_conv_dims_make(2, 16, 8, 8, 32, 3, 1, 0),
        cl_conv_dims_make(2, 3, 8, 8, 16, 3, 1, 1),
        cl_conv_dims_make(2, 16, 8, 8, 24, 3, 1, 1),
        cl_conv_dims_make(2, 256, 8, 8, 128, 3, 1, 1),
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert(!cl_blocked_conv_ok(&bad[i]) && !cl_blocked_conv_shape_ok(&bad[i]), "case %zu",
                  i);
}
