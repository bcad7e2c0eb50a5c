/* Convolution and pooling: fast kernels against their naive twins over many
 * shapes, and finite-difference gradient checks of the conv2d, maxpool,
 * avgpool, gap and block layers (tests/gradcheck.h, train mode).
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

/* ---- finite-difference gradient checks through the ops table ---- */

static cl_layer_spec lspec(cl_layer_kind kind, int out, int k, int stride, int pad, int bias)
{
    cl_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.out = out, s.k = k, s.stride = stride, s.pad = pad, s.bias = bias;
    snprintf(s.name, sizeof s.name, "%s", cl_layer_kind_name(kind));
    return s;
}

static void gc_run(cl_layer_spec s, cl_shape in, gc_opts *o, const char *what)
{
    gc_result res;
    cr_assert_eq(gc_layer(&s, in, o, &res), CL_OK, "%s: %s", what, cl_errmsg());
    if (getenv("GC_VERBOSE"))
        fprintf(stderr, "%s: dx %.3g dp %.3g\n", what, res.err_dx, res.err_dp);
    cr_assert(res.nx > 0, "%s: nothing checked", what);
    gc_assert(&res, what);
}

Test(conv, gradcheck_conv2d)
{
    gc_opts o = gc_opts_default(2);
    gc_run(lspec(CL_LAYER_CONV2D, 3, 3, 1, 1, 1), (cl_shape){2, 5, 5}, &o, "conv k3 s1 p1 bias");
    gc_run(lspec(CL_LAYER_CONV2D, 4, 3, 2, 1, 0), (cl_shape){3, 6, 7}, &o, "conv k3 s2 p1");
    gc_run(lspec(CL_LAYER_CONV2D, 2, 5, 3, 2, 1), (cl_shape){1, 7, 6}, &o, "conv k5 s3 p2 bias");
    gc_run(lspec(CL_LAYER_CONV2D, 5, 1, 1, 0, 1), (cl_shape){3, 4, 4}, &o, "conv 1x1");
    o.n = 1;
    gc_run(lspec(CL_LAYER_CONV2D, 2, 2, 1, 0, 1), (cl_shape){2, 3, 3}, &o, "conv k2 n1");
}

/* Inputs: a shuffled grid of distinct values 0.1 apart, so with h = 1e-2 no
 * finite-difference step changes which element is the window maximum. */
static float *distinct_input(int64_t n, uint64_t seed)
{
    cl_rng r;
    cl_rng_seed(&r, seed);
    int32_t *idx = cl_alloc_array((size_t)n, sizeof(int32_t), "t");
    float *x = cl_alloc_array((size_t)n, sizeof(float), "t");
    for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)i;
    cl_rng_shuffle_i32(&r, idx, n);
    for (int64_t i = 0; i < n; i++) x[i] = 0.1f * (float)(idx[i] - n / 2);
    cl_free(idx);
    return x;
}

Test(conv, gradcheck_pools)
{
    gc_opts o = gc_opts_default(2);
    float *x = distinct_input(2 * 3 * 7 * 7, 9);
    o.x = x;
    gc_run(lspec(CL_LAYER_MAXPOOL, 0, 3, 2, 1, 0), (cl_shape){3, 7, 7}, &o, "maxpool k3 s2 p1");
    gc_run(lspec(CL_LAYER_MAXPOOL, 0, 2, 0, 0, 0), (cl_shape){3, 6, 6}, &o, "maxpool k2");
    gc_run(lspec(CL_LAYER_AVGPOOL, 0, 3, 2, 1, 0), (cl_shape){3, 7, 7}, &o, "avgpool k3 s2 p1");
    gc_run(lspec(CL_LAYER_AVGPOOL, 0, 2, 1, 0, 0), (cl_shape){3, 5, 6}, &o, "avgpool k2 s1");
    gc_run(lspec(CL_LAYER_GAP, 0, 0, 0, 0, 0), (cl_shape){3, 4, 5}, &o, "gap");
    cl_free(x);
}

/* Blocks in train mode (BN batch statistics). The ReLUs inside have kinks:
 * a step that moves a pre-activation across 0 spoils that coordinate's
 * difference quotient (errors ~1e-2..1e-1 for one seed in ten in a scan of
 * seeds 1..10), and the chance grows with h and the problem size. So the
 * problems are tiny (batch 2, 2-3 channels, 4x4 / 5x5), h = 1e-3 (float32
 * rounding then gives ~5e-4 on dx, ~1e-4 on the params; at 3e-4 dx rounding
 * rises to ~2e-3) and the seed is fixed (these measured 1e-4..6e-4). BN
 * gamma/beta are jittered so the check is not at the symmetric init. A
 * wrong term (say, a missing shortcut gradient) gives errors of order 1. */
static void gc_block(int out, int stride, cl_shape in, const char *what)
{
    gc_opts o = gc_opts_default(2);
    o.h = 1e-3;
    o.param_jitter = 0.2f;
    o.seed = 1;
    gc_run(lspec(CL_LAYER_BLOCK, out, 0, stride, 0, 0), in, &o, what);
}

Test(conv, gradcheck_block_identity)
{
    gc_block(3, 1, (cl_shape){3, 4, 4}, "block identity");
}

Test(conv, gradcheck_block_projection)
{
    gc_block(3, 2, (cl_shape){2, 5, 5}, "block projection stride 2");
    gc_block(3, 1, (cl_shape){2, 4, 4}, "block projection channels");
}

/* ---- layer spec validation ---- */

Test(conv, infer_rejects_bad_specs)
{
    struct {
        cl_layer_spec s;
        cl_shape in;
        const char *why;
    } bad[] = {
        {lspec(CL_LAYER_CONV2D, 0, 3, 1, 1, 0), {3, 8, 8}, "out 0"},
        {lspec(CL_LAYER_CONV2D, 4, 0, 1, 1, 0), {3, 8, 8}, "k 0"},
        {lspec(CL_LAYER_CONV2D, 4, 3, -1, 1, 0), {3, 8, 8}, "stride -1"},
        {lspec(CL_LAYER_CONV2D, 4, 3, 1, -1, 0), {3, 8, 8}, "pad -1"},
        {lspec(CL_LAYER_CONV2D, 4, 3, 1, 0, 2), {3, 8, 8}, "bias 2"},
        {lspec(CL_LAYER_CONV2D, 4, 11, 1, 1, 0), {3, 8, 8}, "kernel > padded input"},
        {lspec(CL_LAYER_CONV2D, 1 << 30, 3, 1, 1, 0), {3, 8, 8}, "too many channels"},
        {lspec(CL_LAYER_CONV2D, 4, 3, 1, 1 << 30, 0), {3, 8, 8}, "huge pad"},
        {lspec(CL_LAYER_MAXPOOL, 0, 3, 2, 2, 0), {3, 8, 8}, "pool pad > k/2"},
        {lspec(CL_LAYER_AVGPOOL, 0, 9, 1, 0, 0), {3, 8, 8}, "pool kernel too big"},
        {lspec(CL_LAYER_AVGPOOL, 0, 0, 1, 0, 0), {3, 8, 8}, "pool k 0"},
        {lspec(CL_LAYER_GAP, 0, 2, 0, 0, 0), {3, 8, 8}, "gap with k"},
        {lspec(CL_LAYER_BLOCK, 0, 0, 1, 0, 0), {3, 8, 8}, "block out 0"},
        {lspec(CL_LAYER_BLOCK, 4, 5, 1, 0, 0), {3, 8, 8}, "block k 5"},
        {lspec(CL_LAYER_BLOCK, 4, 0, -2, 0, 0), {3, 8, 8}, "block stride -2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cl_layer l;
        memset(&l, 0, sizeof l);
        l.spec = bad[i].s;
        cl_errclear();
        const cl_layer_ops *ops = cl_layer_ops_table[l.spec.kind];
        cr_assert_eq(ops->infer(&l, bad[i].in), CL_EINVAL, "%s accepted", bad[i].why);
        cr_assert(strstr(cl_errmsg(), l.spec.name), "%s: message '%s' does not name the layer",
                  bad[i].why, cl_errmsg());
        if (ops->destroy) ops->destroy(&l);
    }
}

Test(conv, infer_shapes)
{
    struct {
        cl_layer_spec s;
        cl_shape in, out;
        int64_t np;
    } ok[] = {
        {lspec(CL_LAYER_CONV2D, 4, 3, 2, 1, 1), {3, 7, 7}, {4, 4, 4}, 4 * 27 + 4},
        {lspec(CL_LAYER_CONV2D, 4, 3, 0, 0, 0), {3, 7, 5}, {4, 5, 3}, 4 * 27},
        {lspec(CL_LAYER_MAXPOOL, 0, 2, 0, 0, 1), {3, 7, 6}, {3, 3, 3}, 0},
        {lspec(CL_LAYER_AVGPOOL, 0, 3, 2, 1, 0), {2, 7, 7}, {2, 4, 4}, 0},
        {lspec(CL_LAYER_GAP, 0, 0, 0, 0, 1), {5, 3, 2}, {5, 1, 1}, 0},
        {lspec(CL_LAYER_BLOCK, 4, 0, 1, 0, 0), {4, 6, 6}, {4, 6, 6}, 2 * (16 * 9 + 8)},
        {lspec(CL_LAYER_BLOCK, 8, 0, 2, 0, 0), {4, 7, 7}, {8, 4, 4},
         4 * 8 * 9 + 16 + 8 * 8 * 9 + 16 + 8 * 4 + 16},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        cl_layer l;
        memset(&l, 0, sizeof l);
        l.spec = ok[i].s;
        const cl_layer_ops *ops = cl_layer_ops_table[l.spec.kind];
        cr_assert_eq(ops->infer(&l, ok[i].in), CL_OK, "case %zu: %s", i, cl_errmsg());
        cr_assert(l.out.c == ok[i].out.c && l.out.h == ok[i].out.h && l.out.w == ok[i].out.w,
                  "case %zu: out %dx%dx%d", i, l.out.c, l.out.h, l.out.w);
        cr_assert_eq(l.nparams, ok[i].np, "case %zu: %lld params", i, (long long)l.nparams);
        if (ops->destroy) ops->destroy(&l);
    }
}

Test(conv, kind_names_roundtrip)
{
    for (int k = 0; k < CL_LAYER_KIND_COUNT; k++) {
        cr_assert(cl_layer_ops_table[k], "kind %d has no ops", k);
        cl_layer_kind got = CL_LAYER_KIND_COUNT;
        cr_assert_eq(cl_layer_kind_parse(cl_layer_kind_name((cl_layer_kind)k), &got), CL_OK);
        cr_assert_eq(got, k);
    }
    cl_layer_kind got = CL_LAYER_LINEAR;
    cr_assert_eq(cl_layer_kind_parse("conv2d", &got), CL_OK);
    cr_assert_eq(got, CL_LAYER_CONV2D);
    cr_assert_eq(cl_layer_kind_parse("block", &got), CL_OK);
    cr_assert_eq(got, CL_LAYER_BLOCK);
    cr_assert_eq(cl_layer_kind_parse("Conv2d", &got), CL_EINVAL);
    cr_assert_eq(cl_layer_kind_parse("", &got), CL_EINVAL);
    cr_assert_eq(cl_layer_kind_parse("softmax", &got), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "'softmax'") && strstr(cl_errmsg(), "batchnorm"), "%s",
              cl_errmsg());
    cr_assert_eq(got, CL_LAYER_BLOCK, "unchanged on error");
}
