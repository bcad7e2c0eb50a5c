/* Winograd convolution (src/kernels/conv_winograd.c, conv_wino_tf.c):
 * forward, dx and dW of stride-1 3x3 pad-1 convs, F(4x4, 3x3) and
 * F(2x2, 3x3), against the naive twins (double accumulation).
 *
 * Error bound. Winograd's error is relative to the magnitudes that enter
 * each output, not to the output itself, so it is measured as
 *     ratio = max_i |y_i - y_naive_i| / max_i R_i,
 *     R = sum over the receptive field of |W| |x|  (+ |b|),
 * computed with the naive twin on |W|, |x| (for dx: |W|, |dy|; for dW:
 * |x|, |dy|). Measured on this Zen 4 (AVX-512, OpenBLAS element-wise
 * stage), worst over the shapes below and y, dx, dW:
 *     F(4): 20 FLT_EPSILON (random N(0,1) data), 47 (trained-like: mixed
 *           per-channel weight scales, a 30x outlier channel, ReLU inputs)
 *     F(2): 1.0 and 1.6 FLT_EPSILON, about what a direct convolution gives.
 * F(4)'s transform entries (up to 8 in A^T, 5 in B^T, 1/24 in G) and the
 * cancellation of large transformed values make it one to two orders of
 * magnitude less accurate than a direct convolution (Lavin & Gray 2016
 * note the accuracy cost of larger tiles), and the error follows the
 * largest magnitudes in a tile, so mixed scales cost most. The tests
 * assert F4_BOUND = 128 and F2_BOUND = 8 FLT_EPSILON, 2.5-5x the
 * measured values, while an indexing bug gives ratios of order 1. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/kernels/internal.h"
#include "collapse/kernels_conv.h"
#include "collapse/mem.h"
#include "collapse/rng.h"
#include "common.h"

#define F4_BOUND (128 * FLT_EPSILON)
#define F2_BOUND (8 * FLT_EPSILON)
#define BLAS (CL_WINO_BLAS_NN | CL_WINO_BLAS_NT) /* as conv.c's rule today */

static float *arr(int64_t n)
{
    float *a = cl_alloc_array((size_t)n + 1, sizeof(float), "test");
    cr_assert(a);
    for (int64_t i = 0; i < n; i++) a[i] = NAN;
    return a;
}

static float *absv(const float *x, int64_t n)
{
    float *a = arr(n);
    for (int64_t i = 0; i < n; i++) a[i] = fabsf(x[i]);
    return a;
}

typedef struct {
    double y, dx, dW, db;
} errs;

/* One shape through the library entry points (the algorithm COLLAPSE_CONV
 * and the auto rule pick) or, with m > 0, through cl_wino_* with that tile.
 * trained: weights with mixed per-channel scales and one large outlier
 * channel, inputs after a ReLU. dW/db start non-zero (must accumulate). */
static errs run_case_b(cl_conv_dims d, int m, int blas, int bias, int with_dx, int trained,
                       cl_rng *r)
{
    const int64_t nx = (int64_t)d.N * d.C * d.H * d.W, ny = (int64_t)d.N * d.OC * d.H * d.W;
    const int64_t nw = (int64_t)d.OC * d.C * 9;
    float *x = tc_randn(nx, r, 1, 0), *W = tc_randn(nw, r, 1, 0), *dy = tc_randn(ny, r, 1, 0);
    float *b = tc_randn(d.OC, r, 1, 0);
    if (trained) {
        for (int64_t i = 0; i < nx; i++) x[i] = x[i] > 0 ? x[i] : 0.0f;
        for (int o = 0; o < d.OC; o++) {
            float sc = (float)pow(10.0, -2.0 * cl_rng_uniform(r)) * (o == d.OC / 2 ? 30.0f : 1.0f);
            for (int64_t i = 0; i < (int64_t)d.C * 9; i++) W[o * (int64_t)d.C * 9 + i] *= sc;
        }
    }
    int64_t nws = m ? cl_wino_ws_floats(&d, m) : cl_conv2d_ws_floats(&d);
    float *ws = arr(nws), *y = arr(ny), *y0 = arr(ny), *dx = arr(nx), *dx0 = arr(nx);
    float *dW = tc_randn(nw, r, 1, 0), *dW0 = arr(nw), *db = tc_randn(d.OC, r, 1, 0);
    float *db0 = arr(d.OC), *R = arr(nx > ny ? nx : ny), *RW = arr(nw), *Rb = arr(d.OC);
    memcpy(dW0, dW, sizeof(float) * (size_t)nw);
    memcpy(db0, db, sizeof(float) * (size_t)d.OC);
    const float *bb = bias ? b : NULL;
    if (m) cl_wino_forward(&d, m, blas, x, W, bb, y, ws);
    else cl_conv2d_forward(&d, x, W, bb, y, ws);
    cl_conv2d_forward_naive(&d, x, W, bb, y0);
    float *ax = absv(x, nx), *aW = absv(W, nw), *ady = absv(dy, ny), *ab = absv(b, d.OC);
    errs e = {0, 0, 0, 0};
    cl_conv2d_forward_naive(&d, ax, aW, bias ? ab : NULL, R);
    e.y = tc_err_ratio(y, y0, R, ny);
    for (int64_t i = 0; i < nws; i++) ws[i] = NAN;
    float *dxp = with_dx ? dx : NULL;
    if (m) cl_wino_backward(&d, m, blas, x, W, dy, dxp, dW, bias ? db : NULL, ws);
    else cl_conv2d_backward(&d, x, W, dy, dxp, dW, bias ? db : NULL, ws);
    cl_conv2d_backward_naive(&d, x, W, dy, dxp ? dx0 : NULL, dW0, bias ? db0 : NULL);
    memset(RW, 0, sizeof(float) * (size_t)nw);
    memset(Rb, 0, sizeof(float) * (size_t)d.OC);
    cl_conv2d_backward_naive(&d, ax, aW, ady, dxp ? R : NULL, RW, Rb);
    if (dxp) e.dx = tc_err_ratio(dx, dx0, R, nx);
    e.dW = tc_err_ratio(dW, dW0, RW, nw);
    if (bias) e.db = tc_err_ratio(db, db0, Rb, d.OC);
    else cr_assert(memcmp(db, db0, sizeof(float) * (size_t)d.OC) == 0, "db touched");
    float *all[] = {x, W, dy, b, ws, y, y0, dx, dx0, dW, dW0, db, db0, R, RW, Rb, ax, aW, ady, ab};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) cl_free(all[i]);
    return e;
}

/* run_case_b with the element-wise stage conv.c uses. */
static errs run_case(cl_conv_dims d, int m, int bias, int with_dx, int trained, cl_rng *r)
{
    return run_case_b(d, m, BLAS, bias, with_dx, trained, r);
}

static const int shapes[][5] = {
    /* N, C, H, W, OC: odd sizes (tiles over the edge), tiny maps, channel
     * counts not multiples of 16, batch 1, several chunks; planes of 1-8
     * F(4) tiles per row (each AVX-512 read-out: per row, grouped, none), and
     * more than 8 (several 8-tile groups, the last one partial) */
    {2, 5, 7, 3, 4},  {3, 16, 16, 8, 8}, {1, 17, 5, 5, 7},  {2, 4, 8, 8, 16},  {5, 3, 1, 1, 3},
    {2, 6, 2, 2, 5},  {3, 9, 3, 3, 4},   {4, 16, 32, 32, 16}, {1, 3, 9, 11, 17}, {7, 32, 6, 5, 24},
    {9, 64, 8, 8, 64}, {2, 20, 13, 1, 6}, {3, 12, 10, 14, 9}, {5, 8, 16, 16, 8},
    {2, 5, 11, 37, 6}, {1, 4, 6, 70, 3}, /* 10 and 18 tiles per row: partial 8-tile groups */
};
#define NSHAPES ((int)(sizeof shapes / sizeof *shapes))

static void check_all(int trained, uint64_t seed)
{
    cl_rng r;
    cl_rng_seed(&r, seed);
    double worst[2] = {0, 0};
    for (int s = 0; s < NSHAPES; s++)
        for (int m = 2; m <= 4; m += 2) {
            cl_conv_dims d = cl_conv_dims_make(shapes[s][0], shapes[s][1], shapes[s][2],
                                               shapes[s][3], shapes[s][4], 3, 1, 1);
            const int bias = s % 2, with_dx = s != 3;
            errs e = run_case(d, m, bias, with_dx, trained, &r);
            const double bound = m == 4 ? F4_BOUND : F2_BOUND;
            const double v[4] = {e.y, e.dx, e.dW, e.db};
            const char *nm[4] = {"y", "dx", "dW", "db"};
            for (int k = 0; k < 4; k++) {
                cr_assert(v[k] <= bound, "F(%d) N%d C%d %dx%d OC%d trained%d: %s ratio %.3g eps",
                          m, d.N, d.C, d.H, d.W, d.OC, trained, nm[k], v[k] / FLT_EPSILON);
                if (k < 3 && v[k] > worst[m / 4]) worst[m / 4] = v[k];
            }
        }
    cr_log_info("worst ratio: F(2) %.2f eps, F(4) %.2f eps (trained %d)",
                worst[0] / FLT_EPSILON, worst[1] / FLT_EPSILON, trained);
}

Test(conv_winograd, random_match_naive, .timeout = TC_TIMEOUT) { check_all(0, 101); }

Test(conv_winograd, trained_like_match_naive, .timeout = TC_TIMEOUT) { check_all(1, 202); }

/* COLLAPSE_CONV through the public entry points: both algorithms match
 * naive; the names follow the choice (auto: F(4) from 3 channels and 3x3
 * planes on; forced: F(2) below 3 pixels per side). */
Test(conv_winograd, env_forcing, .timeout = TC_TIMEOUT)
{
    cl_rng r;
    cl_rng_seed(&r, 303);
    cl_conv_dims d = cl_conv_dims_make(2, 16, 16, 16, 16, 3, 1, 1);
    cl_conv_dims stem = cl_conv_dims_make(2, 3, 8, 8, 16, 3, 1, 1);
    cl_conv_dims gray = cl_conv_dims_make(2, 1, 8, 8, 16, 3, 1, 1);
    cl_conv_dims s2 = cl_conv_dims_make(2, 16, 8, 8, 16, 3, 2, 1);
    cl_conv_dims tiny = cl_conv_dims_make(3, 16, 2, 5, 8, 3, 1, 1);
    setenv("COLLAPSE_CONV", "gemm", 1);
    cr_assert_str_eq(cl_conv2d_algo(&d), "shifted");
    errs e = run_case(d, 0, 1, 1, 0, &r);
    cr_assert(e.y <= F2_BOUND && e.dx <= F2_BOUND && e.dW <= F2_BOUND);
    setenv("COLLAPSE_CONV", "winograd", 1);
    cr_assert_str_eq(cl_conv2d_algo(&d), "winograd-F4");
    cr_assert_str_eq(cl_conv2d_algo(&gray), "winograd-F4");
    cr_assert_str_eq(cl_conv2d_algo(&tiny), "winograd-F2");
    cr_assert_str_neq(cl_conv2d_algo(&s2), "winograd-F4");
    e = run_case(d, 0, 1, 1, 0, &r);
    cr_assert(e.y <= F4_BOUND && e.dx <= F4_BOUND && e.dW <= F4_BOUND);
    e = run_case(gray, 0, 0, 1, 0, &r);
    cr_assert(e.y <= F4_BOUND && e.dx <= F4_BOUND && e.dW <= F4_BOUND);
    e = run_case(tiny, 0, 1, 1, 0, &r);
    cr_assert(e.y <= F2_BOUND && e.dx <= F2_BOUND && e.dW <= F2_BOUND);
    cr_assert_eq(cl_conv_check_env(), CL_OK);
    setenv("COLLAPSE_CONV", "auto", 1);
    cr_assert_str_eq(cl_conv2d_algo(&d), "winograd-F4");
    cr_assert_str_eq(cl_conv2d_algo(&stem), "winograd-F4");
    cr_assert_str_neq(cl_conv2d_algo(&gray), "winograd-F4");
    cr_assert_str_neq(cl_conv2d_algo(&tiny), "winograd-F2");
    cr_assert_eq(cl_conv_check_env(), CL_OK);
    setenv("COLLAPSE_CONV", "fast", 1); /* unknown: auto, and the checker says so */
    cr_assert_str_eq(cl_conv2d_algo(&d), "winograd-F4");
    tc_expect_err(cl_conv_check_env(), CL_EINVAL, "COLLAPSE_CONV=fast", NULL);
    unsetenv("COLLAPSE_CONV");
    cr_assert_eq(cl_conv_check_env(), CL_OK);
}

/* Two runs of the pipeline on the same data give bit-identical y, dx, dW;
 * threads[k] > 0: run k with that many threads (the caller's otherwise). */
static void check_repeat(cl_conv_dims d, int blas, const int threads[2], uint64_t seed)
{
    cl_rng r;
    cl_rng_seed(&r, seed);
    const int64_t nx = (int64_t)d.N * d.C * d.H * d.W, ny = (int64_t)d.N * d.OC * d.H * d.W;
    const int64_t nw = (int64_t)d.OC * d.C * 9;
    float *x = tc_randn(nx, &r, 1, 0), *W = tc_randn(nw, &r, 1, 0), *dy = tc_randn(ny, &r, 1, 0);
    const int saved = omp_get_max_threads();
    for (int m = 2; m <= 4; m += 2) {
        float *ws = arr(cl_wino_ws_floats(&d, m)), *out[2][3];
        for (int k = 0; k < 2; k++) {
            omp_set_num_threads(threads[k] > 0 ? threads[k] : saved);
            out[k][0] = arr(ny);
            out[k][1] = arr(nx);
            out[k][2] = cl_alloc_array((size_t)nw, sizeof(float), "t");
            memset(out[k][2], 0, sizeof(float) * (size_t)nw);
            cl_wino_forward(&d, m, blas, x, W, NULL, out[k][0], ws);
            cl_wino_backward(&d, m, blas, x, W, dy, out[k][1], out[k][2], NULL, ws);
        }
        omp_set_num_threads(saved);
        cr_assert(memcmp(out[0][0], out[1][0], sizeof(float) * (size_t)ny) == 0);
        cr_assert(memcmp(out[0][1], out[1][1], sizeof(float) * (size_t)nx) == 0);
        cr_assert(memcmp(out[0][2], out[1][2], sizeof(float) * (size_t)nw) == 0);
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < 3; j++) cl_free(out[k][j]);
        cl_free(ws);
    }
    cl_free(x);
    cl_free(W);
    cl_free(dy);
}

/* Two calls give bit-identical y, dx, dW (fixed chunks and slot order). */
Test(conv_winograd, deterministic, .timeout = TC_TIMEOUT)
{
    const int same[2] = {0, 0};
    check_repeat(cl_conv_dims_make(13, 16, 10, 9, 24, 3, 1, 1), BLAS, same, 404);
}

/* F(2) (m0 = 2) and F(4) on the shapes sh[n] (trained-like data on odd entries)
 * with the given element-wise stage, within the bounds. */
static void check_list_m(const int (*sh)[5], int n, int blas, uint64_t seed, int m0)
{
    cl_rng r;
    cl_rng_seed(&r, seed);
    for (int s = 0; s < n; s++)
        for (int m = m0; m <= 4; m += 2) {
            cl_conv_dims d = cl_conv_dims_make(sh[s][0], sh[s][1], sh[s][2], sh[s][3], sh[s][4],
                                               3, 1, 1);
            errs e = run_case_b(d, m, blas, s % 2, 1, s % 2, &r);
            const double bound = m == 4 ? F4_BOUND : F2_BOUND;
            cr_assert(e.y <= bound && e.dx <= bound && e.dW <= bound && e.db <= bound,
                      "F(%d) shape %d blas %d: %.3g %.3g %.3g eps", m, s, blas, e.y / FLT_EPSILON,
                      e.dx / FLT_EPSILON, e.dW / FLT_EPSILON);
        }
}

static void check_list(const int (*sh)[5], int n, int blas, uint64_t seed)
{
    check_list_m(sh, n, blas, seed, 2);
}

/* The element-wise stage through cl_kgemm (blas = 0) matches too; the
 * last shape's F(4) chunks are 58 tiles (cl_kgemm_nn once skipped 49..63
 * column tails, as 64-channel layers' 56-tile chunks hit). */
Test(conv_winograd, kgemm_stage_matches_naive, .timeout = TC_TIMEOUT)
{
    const int sh[][5] = {{3, 17, 9, 7, 5}, {2, 16, 32, 32, 16}, {58, 31, 4, 4, 31}};
    check_list(sh, 3, 0, 505);
}

/* The portable tile read-out / write-back (COLLAPSE_ISA=generic; the
 * AVX-512 one runs by default on this machine) gives the same bounds. */
Test(conv_winograd, portable_path_matches_naive, .timeout = TC_TIMEOUT)
{
    const int sh[][5] = {{2, 16, 32, 32, 8}, {3, 5, 7, 9, 6}, {2, 8, 16, 11, 16}};
    setenv("COLLAPSE_ISA", "generic", 1);
    check_list(sh, 3, BLAS, 606);
    unsetenv("COLLAPSE_ISA");
}

/* Wide layers (C*OC > 128^2) run the "big" pipeline (shared chunk buffers,
 * dW accumulated per position xi). wide_512_4x4: ResNet-18's 512@4x4 with
 * F(4) (one tile per image, as the auto rule picks; the naive twins take
 * ~1.5 s here). wide_match_naive (F(4) as auto picks; F(2) with several
 * chunks): 256 channels at 4x4, an odd wide shape, and with
 * CL_WINO_TEST_CHUNK several chunks of 16 tiles at N = 5, both
 * element-wise stages. */
Test(conv_winograd, wide_512_4x4, .timeout = TC_TIMEOUT)
{
    cl_rng r;
    cl_rng_seed(&r, 706);
    cl_conv_dims d = cl_conv_dims_make(1, 512, 4, 4, 512, 3, 1, 1);
    errs e = run_case(d, 4, 1, 1, 1, &r);
    cr_assert(e.y <= F4_BOUND && e.dx <= F4_BOUND && e.dW <= F4_BOUND && e.db <= F4_BOUND,
              "%.3g %.3g %.3g eps", e.y / FLT_EPSILON, e.dx / FLT_EPSILON, e.dW / FLT_EPSILON);
    cl_conv_dims a = cl_conv_dims_make(128, 512, 4, 4, 512, 3, 1, 1);
    cl_conv_dims b = cl_conv_dims_make(128, 256, 8, 8, 256, 3, 1, 1);
    setenv("COLLAPSE_CONV", "auto", 1); /* the rule, also when CI forces gemm */
    cr_assert_str_eq(cl_conv2d_algo(&a), "winograd-F4");
    cr_assert_str_eq(cl_conv2d_algo(&b), "winograd-F4");
    unsetenv("COLLAPSE_CONV");
}

Test(conv_winograd, wide_match_naive, .timeout = TC_TIMEOUT)
{
    const int sh[][5] = {{1, 256, 4, 4, 136}, {2, 144, 5, 7, 160}};
    check_list_m(sh, 2, BLAS, 707, 4);
    const int ch[][5] = {{5, 129, 5, 5, 128}}; /* F(4): 20 tiles, F(2): 45 */
    check_list(ch, 1, CL_WINO_TEST_CHUNK, 709);
    check_list_m(ch, 1, CL_WINO_TEST_CHUNK | BLAS, 710, 4);
}

/* The big pipeline gives bit-identical y, dx and dW at 1 and 2 threads
 * (each position's dW accumulator belongs to one thread; chunks in order). */
Test(conv_winograd, wide_thread_independent, .timeout = TC_TIMEOUT)
{
    const int one_two[2] = {1, 2};
    check_repeat(cl_conv_dims_make(3, 136, 6, 10, 130, 3, 1, 1), CL_WINO_TEST_CHUNK, one_two,
                 808);
}
