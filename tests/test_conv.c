/* Convolution and pooling: fast kernels against their naive twins over many
 * shapes (the layers' gradient checks and spec validation are in
 * test_conv_layers.c).
 *
 * Kernel comparisons use the normwise relative error in the max norm,
 *     rel(a, ref) = max_i |a_i - ref_i| / max(max_i |ref_i|, 1e-6),
 * against the double-accumulating naive twin. The fast paths sum in float
 * (sgemm, col2im, per-slot dW partials), so with sums of at most a few
 * thousand N(0,1) products the expected error is ~1e-6; KTOL = 1e-5 leaves
 * a margin while an indexing bug gives errors of order 1. Max pool picks
 * values, so it must match exactly. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/kernels_conv.h"
#include "collapse/mem.h"
#include "collapse/rng.h"
#include "common.h"
#include "gradcheck.h"

#define KTOL 1e-5

static double rel(const float *a, const float *ref, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= num)) num = isnan(d) ? INFINITY : d;
        if (fabs(ref[i]) > den) den = fabs(ref[i]);
    }
    return num / fmax(den, 1e-6);
}

static float *randn(int64_t n, cl_rng *r)
{
    return tc_randn(n, r, 1, 0);
}

static float *nans(int64_t n)
{
    float *a = cl_alloc_array((size_t)n + 1, sizeof(float), "test");
    cr_assert(a);
    for (int64_t i = 0; i < n; i++) a[i] = NAN;
    return a;
}

/* ---- im2col / col2im ---- */

Test(conv, im2col_col2im_match_naive)
{
    cl_rng r;
    cl_rng_seed(&r, 7);
    int ks[] = {1, 2, 3, 5, 7};
    for (int t = 0; t < 60; t++) {
        int k = ks[t % 5], s = 1 + (t / 5) % 3, p = (t / 15) % 4;
        int C = 1 + (int)cl_rng_below(&r, 3), H = 1 + (int)cl_rng_below(&r, 9),
            W = 1 + (int)cl_rng_below(&r, 9);
        if (H + 2 * p < k || W + 2 * p < k) continue;
        cl_conv_dims d = cl_conv_dims_make(1, C, H, W, 1, k, s, p);
        int64_t nx = (int64_t)C * H * W, nc = (int64_t)C * k * k * d.OH * d.OW;
        float *x = randn(nx, &r), *c1 = nans(nc), *c2 = nans(nc), *col = randn(nc, &r);
        float *d1 = nans(nx), *d2 = nans(nx);
        cl_im2col(x, C, H, W, k, s, p, d.OH, d.OW, c1);
        cl_im2col_naive(x, C, H, W, k, s, p, d.OH, d.OW, c2);
        cr_assert(memcmp(c1, c2, sizeof(float) * (size_t)nc) == 0,
                  "im2col C%d H%d W%d k%d s%d p%d", C, H, W, k, s, p);
        cl_col2im(col, C, H, W, k, s, p, d.OH, d.OW, d1);
        cl_col2im_naive(col, C, H, W, k, s, p, d.OH, d.OW, d2);
        double e = rel(d1, d2, nx);
        cr_assert(e <= KTOL, "col2im C%d H%d W%d k%d s%d p%d: rel %.3g", C, H, W, k, s, p, e);
        float *all[] = {x, c1, c2, col, d1, d2};
        for (int i = 0; i < 6; i++) cl_free(all[i]);
    }
}

/* ---- convolution, fast vs naive ---- */

static void conv_case(cl_conv_dims d, int bias, cl_rng *r)
{
    int64_t nx = (int64_t)d.N * d.C * d.H * d.W, ny = (int64_t)d.N * d.OC * d.OH * d.OW;
    int64_t nw = (int64_t)d.OC * d.C * d.k * d.k, nws = cl_conv2d_ws_floats(&d);
    float *x = randn(nx, r), *W = randn(nw, r), *b = bias ? randn(d.OC, r) : NULL;
    float *dy = randn(ny, r), *ws = nans(nws);
    float *y1 = nans(ny), *y2 = nans(ny), *dx1 = nans(nx), *dx2 = nans(nx);
    /* dW/db start from the same nonzero values: both must accumulate */
    float *dW1 = randn(nw, r), *dW2 = cl_alloc_array((size_t)nw, sizeof(float), "t");
    float *db1 = randn(d.OC, r), *db2 = cl_alloc_array((size_t)d.OC, sizeof(float), "t");
    memcpy(dW2, dW1, sizeof(float) * (size_t)nw);
    memcpy(db2, db1, sizeof(float) * (size_t)d.OC);
    char what[128];
    snprintf(what, sizeof what, "N%d C%d %dx%d OC%d k%d s%d p%d bias%d", d.N, d.C, d.H, d.W, d.OC,
             d.k, d.stride, d.pad, bias);

    cl_conv2d_forward(&d, x, W, b, y1, ws);
    cl_conv2d_forward_naive(&d, x, W, b, y2);
    double e = rel(y1, y2, ny);
    cr_assert(e <= KTOL, "%s: forward rel %.3g", what, e);

    for (int64_t i = 0; i < nws; i++) ws[i] = NAN;
    cl_conv2d_backward(&d, x, W, dy, dx1, dW1, bias ? db1 : NULL, ws);
    cl_conv2d_backward_naive(&d, x, W, dy, dx2, dW2, bias ? db2 : NULL);
    cr_assert((e = rel(dx1, dx2, nx)) <= KTOL, "%s: dx rel %.3g", what, e);
    cr_assert((e = rel(dW1, dW2, nw)) <= KTOL, "%s: dW rel %.3g", what, e);
    if (bias) cr_assert((e = rel(db1, db2, d.OC)) <= KTOL, "%s: db rel %.3g", what, e);
    else cr_assert(memcmp(db1, db2, sizeof(float) * (size_t)d.OC) == 0);
    float *all[] = {x, W, b, dy, ws, y1, y2, dx1, dx2, dW1, dW2, db1, db2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) cl_free(all[i]);
}

Test(conv, forward_backward_match_naive)
{
    cl_rng r;
    cl_rng_seed(&r, 11);
    int ks[] = {1, 3, 5, 7}, n = 0;
    for (int ki = 0; ki < 4; ki++)
        for (int s = 1; s <= 3; s++)
            for (int p = 0; p <= 3; p++) {
                int k = ks[ki];
                int N = (s + p) % 2 ? 1 : 3, C = 1 + 2 * (int)cl_rng_below(&r, 3),
                    OC = 1 + 2 * (int)cl_rng_below(&r, 4);
                int H = k + (int)cl_rng_below(&r, 6) - p, W = k + (int)cl_rng_below(&r, 5) - p;
                if (H < 1) H = 1;
                if (W < 1) W = 1;
                if (H + 2 * p < k || W + 2 * p < k) continue;
                conv_case(cl_conv_dims_make(N, C, H, W, OC, k, s, p), (k + s + p) % 2, &r);
                n++;
            }
    /* the 1x1 stride-1 path (no im2col), more images than slots */
    conv_case(cl_conv_dims_make(CL_CONV_SLOTS + 3, 5, 4, 3, 7, 1, 1, 0), 1, &r);
    conv_case(cl_conv_dims_make(CL_CONV_SLOTS + 1, 3, 6, 6, 5, 3, 1, 1), 0, &r);
    cr_assert(n >= 40, "only %d configurations ran", n);
}

/* "Same" padding on maps no larger than the padding (a 1x1 map at the end
 * of ResNet-18 on 8x8 inputs): im2col into the middle block of a wider
 * matrix must equal the naive twin and leave the neighbouring blocks (the
 * other images of a group) untouched (issue 11: it wrote past its row). */
Test(conv, im2col_same_tiny_maps_stay_in_row)
{
    cl_rng r;
    cl_rng_seed(&r, 13);
    for (int HW = 1; HW <= 2; HW++)
        for (int pad = 1; pad <= 2; pad++) {
            const int C = 2, k = 2 * pad + 1, rows = C * k * k, ohw = HW * HW;
            const int64_t ld = 3 * (int64_t)ohw;
            float *x = randn((int64_t)C * ohw, &r), *col = nans(rows * ld);
            float *ref = nans((int64_t)rows * ohw);
            cl_im2col_naive(x, C, HW, HW, k, 1, pad, HW, HW, ref);
            cl_im2col_ld(x, C, HW, HW, k, 1, pad, HW, HW, col + ohw, ld);
            for (int row = 0; row < rows; row++)
                for (int t = 0; t < 3 * ohw; t++) {
                    float v = col[row * ld + t];
                    if (t >= ohw && t < 2 * ohw)
                        cr_assert_eq(v, ref[row * ohw + t - ohw],
                                     "%dx%d pad %d: row %d col %d", HW, HW, pad, row, t);
                    else
                        cr_assert(isnan(v), "%dx%d pad %d: row %d col %d outside the block "
                                  "written (%g)", HW, HW, pad, row, t, v);
                }
            cl_free(x);
            cl_free(col);
            cl_free(ref);
        }
}

/* Small output planes put several images side by side in one sgemm
 * (forward, dW, and dx of stride-1 "same" convs): full groups, a partial
 * last group, more groups than slots, strided and same convs, plus the
 * grouped dW without dx. */
Test(conv, grouped_images_match_naive)
{
    cl_rng r;
    cl_rng_seed(&r, 31);
    conv_case(cl_conv_dims_make(8 * CL_CONV_SLOTS + 3, 4, 4, 4, 6, 3, 1, 1), 1, &r);
    conv_case(cl_conv_dims_make(19, 6, 3, 3, 5, 3, 1, 1), 0, &r);
    conv_case(cl_conv_dims_make(13, 3, 8, 8, 4, 3, 2, 1), 1, &r);
    conv_case(cl_conv_dims_make(5, 7, 2, 2, 3, 1, 2, 0), 0, &r);
    conv_case(cl_conv_dims_make(11, 5, 4, 4, 3, 3, 1, 1), 0, &r);

    cl_conv_dims d = cl_conv_dims_make(21, 4, 4, 4, 6, 3, 1, 1);
    int64_t nx = (int64_t)d.N * 64, ny = (int64_t)d.N * 6 * 16, nw = 6 * 36;
    float *x = randn(nx, &r), *W = randn(nw, &r), *dy = randn(ny, &r);
    float *ws = nans(cl_conv2d_ws_floats(&d));
    float *dW1 = cl_alloc_array((size_t)nw, sizeof(float), "t");
    float *dW2 = cl_alloc_array((size_t)nw, sizeof(float), "t");
    cl_conv2d_backward(&d, x, W, dy, NULL, dW1, NULL, ws);
    cl_conv2d_backward_naive(&d, x, W, dy, NULL, dW2, NULL);
    double e = rel(dW1, dW2, nw);
    cr_assert(e <= KTOL, "grouped dW without dx: rel %.3g", e);
    float *all[] = {x, W, dy, ws, dW1, dW2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) cl_free(all[i]);
}

/* Stride-1 "same" convolutions with >= 16 input (forward) or output (dx)
 * channels and no grouping run k*k shifted products over a padded plane
 * instead of im2col: k 3 and 5, bias or not, only one of the two sides
 * wide enough, more images than slots. */
Test(conv, shifted_same_conv_match_naive)
{
    cl_rng r;
    cl_rng_seed(&r, 41);
    conv_case(cl_conv_dims_make(3, 16, 16, 16, 17, 3, 1, 1), 1, &r);
    conv_case(cl_conv_dims_make(2, 18, 17, 15, 16, 5, 1, 2), 0, &r);
    conv_case(cl_conv_dims_make(2, 16, 16, 16, 5, 3, 1, 1), 0, &r);
    conv_case(cl_conv_dims_make(2, 3, 16, 16, 16, 3, 1, 1), 1, &r);
    conv_case(cl_conv_dims_make(CL_CONV_SLOTS + 2, 16, 16, 16, 16, 3, 1, 1), 0, &r);
    conv_case(cl_conv_dims_make(1, 16, 16, 16, 16, 3, 1, 1), 1, &r);
    /* dW by shifted products too (8..16 channels in and out) */
    conv_case(cl_conv_dims_make(5, 9, 16, 17, 12, 5, 1, 2), 1, &r);
    conv_case(cl_conv_dims_make(CL_CONV_SLOTS + 1, 8, 16, 16, 16, 3, 1, 1), 0, &r);
}

/* dx == NULL must still accumulate dW (and leave dx alone). */
Test(conv, backward_without_dx_accumulates)
{
    cl_rng r;
    cl_rng_seed(&r, 3);
    cl_conv_dims d = cl_conv_dims_make(2, 3, 5, 5, 4, 3, 2, 1);
    int64_t nx = 2 * 3 * 25, ny = (int64_t)2 * 4 * d.OH * d.OW, nw = 4 * 3 * 9;
    float *x = randn(nx, &r), *W = randn(nw, &r), *dy = randn(ny, &r);
    float *ws = nans(cl_conv2d_ws_floats(&d)), *dx = nans(nx);
    float *dW1 = cl_alloc_array((size_t)nw, sizeof(float), "t");
    float *dW2 = cl_alloc_array((size_t)nw, sizeof(float), "t");
    cl_conv2d_backward(&d, x, W, dy, dx, dW1, NULL, ws);
    cl_conv2d_backward(&d, x, W, dy, NULL, dW2, NULL, ws);
    cl_conv2d_backward(&d, x, W, dy, NULL, dW2, NULL, ws);
    for (int64_t i = 0; i < nw; i++)
        cr_assert(fabsf(dW2[i] - 2 * dW1[i]) <= 1e-5f * (1 + fabsf(dW1[i])), "dW[%lld]",
                  (long long)i);
    float *all[] = {x, W, dy, ws, dx, dW1, dW2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) cl_free(all[i]);
}

/* Slots and thread teams: 1, 3 and 5 threads (more than the slots some
 * batches use, fewer than others) must give the same results up to the
 * order of the per-slot dW sums. */
Test(conv, thread_count_independent)
{
    cl_rng r;
    cl_rng_seed(&r, 21);
    int saved = omp_get_max_threads();
    int batches[] = {1, 2, 7, CL_CONV_SLOTS + 5};
    for (int bi = 0; bi < 4; bi++) {
        cl_conv_dims d = cl_conv_dims_make(batches[bi], 3, 6, 5, 4, 3, 1, 1);
        int64_t nx = (int64_t)d.N * 3 * 30, ny = (int64_t)d.N * 4 * d.OH * d.OW, nw = 4 * 27;
        float *x = randn(nx, &r), *W = randn(nw, &r), *b = randn(4, &r), *dy = randn(ny, &r);
        float *ws = nans(cl_conv2d_ws_floats(&d));
        float *y[3], *dx[3], *dW[3];
        int threads[3] = {1, 3, 5};
        for (int t = 0; t < 3; t++) {
            omp_set_num_threads(threads[t]);
            y[t] = nans(ny), dx[t] = nans(nx);
            dW[t] = cl_alloc_array((size_t)nw, sizeof(float), "t");
            cl_conv2d_forward(&d, x, W, b, y[t], ws);
            cl_conv2d_backward(&d, x, W, dy, dx[t], dW[t], NULL, ws);
        }
        omp_set_num_threads(saved);
        for (int t = 1; t < 3; t++) {
            double e;
            cr_assert((e = rel(y[t], y[0], ny)) <= KTOL, "N %d, %d threads: y %.3g", d.N,
                      threads[t], e);
            cr_assert((e = rel(dx[t], dx[0], nx)) <= KTOL, "N %d, %d threads: dx %.3g", d.N,
                      threads[t], e);
            cr_assert((e = rel(dW[t], dW[0], nw)) <= KTOL, "N %d, %d threads: dW %.3g", d.N,
                      threads[t], e);
        }
        for (int t = 0; t < 3; t++) {
            cl_free(y[t]);
            cl_free(dx[t]);
            cl_free(dW[t]);
        }
        float *all[] = {x, W, b, dy, ws};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) cl_free(all[i]);
    }
}

/* ---- pooling kernels ---- */

Test(conv, pools_match_naive)
{
    cl_rng r;
    cl_rng_seed(&r, 5);
    for (int t = 0; t < 48; t++) {
        int k = 1 + t % 4, s = 1 + (t / 4) % 3, p = (t / 12) % 3;
        if (p > k / 2) continue;
        int64_t planes = 1 + (int64_t)cl_rng_below(&r, 5);
        int H = k + (int)cl_rng_below(&r, 6), W = k + (int)cl_rng_below(&r, 6);
        int OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
        int64_t nx = planes * H * W, ny = planes * OH * OW;
        float *x = randn(nx, &r), *dy = randn(ny, &r);
        /* small integers: many ties, so the argmax rule must agree too */
        if (t % 2)
            for (int64_t i = 0; i < nx; i++) x[i] = (float)(int)(2 * x[i]);
        float *y1 = nans(ny), *y2 = nans(ny), *d1 = nans(nx), *d2 = nans(nx);
        char what[96];
        snprintf(what, sizeof what, "planes %lld %dx%d k%d s%d p%d", (long long)planes, H, W, k, s,
                 p);
        cl_maxpool_forward(x, y1, planes, H, W, k, s, p, OH, OW);
        cl_maxpool_forward_naive(x, y2, planes, H, W, k, s, p, OH, OW);
        cr_assert(memcmp(y1, y2, sizeof(float) * (size_t)ny) == 0, "maxpool %s", what);
        cl_maxpool_backward(x, dy, d1, planes, H, W, k, s, p, OH, OW);
        cl_maxpool_backward_naive(x, dy, d2, planes, H, W, k, s, p, OH, OW);
        double e = rel(d1, d2, nx);
        cr_assert(e <= KTOL, "maxpool backward %s: rel %.3g", what, e);
        cl_avgpool_forward(x, y1, planes, H, W, k, s, p, OH, OW);
        cl_avgpool_forward_naive(x, y2, planes, H, W, k, s, p, OH, OW);
        cr_assert((e = rel(y1, y2, ny)) <= KTOL, "avgpool %s: rel %.3g", what, e);
        cl_avgpool_backward(dy, d1, planes, H, W, k, s, p, OH, OW);
        cl_avgpool_backward_naive(dy, d2, planes, H, W, k, s, p, OH, OW);
        cr_assert((e = rel(d1, d2, nx)) <= KTOL, "avgpool backward %s: rel %.3g", what, e);
        cl_gap_forward(x, y1, planes, H * W);
        cl_gap_forward_naive(x, y2, planes, H * W);
        cr_assert((e = rel(y1, y2, planes)) <= KTOL, "gap %s: rel %.3g", what, e);
        cl_gap_backward(dy, d1, planes, H * W);
        cl_gap_backward_naive(dy, d2, planes, H * W);
        cr_assert((e = rel(d1, d2, nx)) <= KTOL, "gap backward %s: rel %.3g", what, e);
        float *all[] = {x, dy, y1, y2, d1, d2};
        for (int i = 0; i < 6; i++) cl_free(all[i]);
    }
}

/* Hand-computed values: PyTorch semantics of padding and ties. */
Test(conv, pool_semantics)
{
    /* 1 plane 2x2, k 3, s 1, pad 1 -> 2x2 output; every window covers the
     * whole image, so max = 4 everywhere; avg divides by 9 (padding counts) */
    float x[4] = {1, 4, 3, 2}, y[4], dy[4] = {1, 1, 1, 1}, dx[4];
    cl_maxpool_forward(x, y, 1, 2, 2, 3, 1, 1, 2, 2);
    for (int i = 0; i < 4; i++) cr_assert_eq(y[i], 4.0f);
    cl_maxpool_backward(x, dy, dx, 1, 2, 2, 3, 1, 1, 2, 2);
    cr_assert(dx[0] == 0 && dx[1] == 4 && dx[2] == 0 && dx[3] == 0);
    cl_avgpool_forward(x, y, 1, 2, 2, 3, 1, 1, 2, 2);
    for (int i = 0; i < 4; i++) cr_assert(fabsf(y[i] - 10.0f / 9) < 1e-6f, "avg %g", y[i]);
    /* all-negative input with padding: padding never wins the max */
    float xn[4] = {-5, -2, -3, -4};
    cl_maxpool_forward(xn, y, 1, 2, 2, 3, 1, 1, 2, 2);
    for (int i = 0; i < 4; i++) cr_assert_eq(y[i], -2.0f);
    /* ties: the first maximum (row-major) gets the gradient */
    float xt[4] = {7, 7, 7, 7};
    cl_maxpool_backward(xt, dy, dx, 1, 2, 2, 2, 2, 0, 1, 1);
    cr_assert(dx[0] == 1 && dx[1] == 0 && dx[2] == 0 && dx[3] == 0);
    /* NaN wins (propagates), as torch */
    float xq[4] = {1, NAN, 3, 2};
    cl_maxpool_forward(xq, y, 1, 2, 2, 2, 2, 0, 1, 1);
    cr_assert(isnan(y[0]));
}

/* The 2x2 stride-2 unpadded max pool has its own AVX-512 path
 * (pool_avx512.c): the same bits as the naive twin, forward and backward,
 * on planes up to 33 wide (steps of 16 windows, masked tails, odd H and W),
 * with ties, signed zeros, NaNs and -inf in the data. CI runs this under
 * COLLAPSE_ISA=avx2 and generic too (the general loops). */
Test(conv, maxpool2_bits)
{
    cl_rng r;
    cl_rng_seed(&r, 9);
    const float special[] = {0.0f, -0.0f, NAN, -INFINITY, 1.0f, 1.0f};
    for (int t = 0; t < 40; t++) {
        int64_t planes = 1 + (int64_t)cl_rng_below(&r, 4);
        int H = 2 + (int)cl_rng_below(&r, 32), W = 2 + (int)cl_rng_below(&r, 32);
        int OH = H / 2, OW = W / 2;
        int64_t nx = planes * H * W, ny = planes * OH * OW;
        float *x = randn(nx, &r), *dy = randn(ny, &r);
        for (int64_t i = 0; i < nx; i++) {
            if (t % 2) x[i] = (float)(int)(2 * x[i]); /* ties */
            if (cl_rng_below(&r, 8) == 0) x[i] = special[cl_rng_below(&r, 6)];
        }
        for (int64_t i = 0; i < ny; i++)
            if (cl_rng_below(&r, 8) == 0) dy[i] = -0.0f;
        float *y1 = nans(ny), *y2 = nans(ny), *d1 = nans(nx), *d2 = nans(nx);
        cl_maxpool_forward(x, y1, planes, H, W, 2, 2, 0, OH, OW);
        cl_maxpool_forward_naive(x, y2, planes, H, W, 2, 2, 0, OH, OW);
        cr_assert(memcmp(y1, y2, sizeof(float) * (size_t)ny) == 0, "maxpool2 %lldx%dx%d",
                  (long long)planes, H, W);
        cl_maxpool_backward(x, dy, d1, planes, H, W, 2, 2, 0, OH, OW);
        cl_maxpool_backward_naive(x, dy, d2, planes, H, W, 2, 2, 0, OH, OW);
        cr_assert(memcmp(d1, d2, sizeof(float) * (size_t)nx) == 0, "maxpool2 backward %lldx%dx%d",
                  (long long)planes, H, W);
        float *all[] = {x, dy, y1, y2, d1, d2};
        for (int i = 0; i < 6; i++) cl_free(all[i]);
    }
}
