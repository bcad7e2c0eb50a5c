/* Dense kernels (linear, batchnorm, relu, bias): the fast kernels against
 * their naive twins, NaN propagation, thread-count independence. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "collapse/kernels_dense.h"
#include "collapse/mem.h"
#include "collapse/rng.h"
#include "common.h"
#include "dense_common.h"

/* Shapes: vector [N, D] (HW = 1) with D not a multiple of the 64-channel
 * block, large enough for the OpenMP path; and planes [N, C, HW]. */
static const int SH[][3] = {{3, 5, 1}, {300, 130, 1}, {7, 64, 1}, {2, 3, 7}, {8, 5, 1000},
                            {4, 17, 49}, {3, 130, 4}};
#define NSH ((int)(sizeof SH / sizeof SH[0]))

/* ---- kernels: fast vs naive ---- */

Test(dense_kernels, bias_add_and_reduce)
{
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    for (int t = 0; t < NSH; t++) {
        int N = SH[t][0], C = SH[t][1], HW = SH[t][2];
        int64_t m = (int64_t)N * C * HW;
        float *y = tc_randn(m, &rng, 1, 0), *b = tc_randn(C, &rng, 1, 0),
              *y2 = copy(y, m);
        cl_bias_add(y, b, N, C, HW);
        cl_bias_add_naive(y2, b, N, C, HW);
        expect_near("bias_add", y, y2, m, 0);
        float *db = tc_randn(C, &rng, 1, 0), *db2 = copy(db, C);
        cl_bias_reduce(db, y, N, C, HW);
        cl_bias_reduce_naive(db2, y, N, C, HW);
        expect_near("bias_reduce", db, db2, C, 1e-6);
        cl_free(y), cl_free(y2), cl_free(b), cl_free(db), cl_free(db2);
    }
}

/* The OpenBLAS path (no scratch); the kgemm path: test_kgemm_par.c. */
Test(dense_kernels, linear_fast_vs_naive)
{
    cl_rng rng;
    cl_rng_seed(&rng, 2);
    const int cases[][3] = {{3, 5, 4}, {128, 200, 70}, {1, 33, 1}, {17, 1, 9}};
    for (int t = 0; t < 4; t++) {
        int N = cases[t][0], IN = cases[t][1], OUT = cases[t][2];
        float *x = tc_randn((int64_t)N * IN, &rng, 1, 0),
              *W = tc_randn((int64_t)OUT * IN, &rng, 0.1, 0),
              *b = tc_randn(OUT, &rng, 1, 0),
              *dy = tc_randn((int64_t)N * OUT, &rng, 1, 0);
        float *y = tc_randn((int64_t)N * OUT, &rng, 1, 0),
              *y2 = copy(y, (int64_t)N * OUT);
        for (int bias = 0; bias < 2; bias++) {
            cl_linear_forward(x, W, bias ? b : NULL, y, N, IN, OUT, NULL);
            cl_linear_forward_naive(x, W, bias ? b : NULL, y2, N, IN, OUT);
            expect_near("linear y", y, y2, (int64_t)N * OUT, KTOL);
            float *dx = tc_randn((int64_t)N * IN, &rng, 1, 0),
                  *dx2 = copy(dx, (int64_t)N * IN);
            float *dW = tc_randn((int64_t)OUT * IN, &rng, 1, 0),
                  *dW2 = copy(dW, (int64_t)OUT * IN);
            float *db = tc_randn(OUT, &rng, 1, 0), *db2 = copy(db, OUT);
            cl_linear_backward(x, W, dy, dx, dW, bias ? db : NULL, N, IN, OUT, NULL);
            cl_linear_backward_naive(x, W, dy, dx2, dW2, bias ? db2 : NULL, N, IN, OUT);
            expect_near("linear dx", dx, dx2, (int64_t)N * IN, KTOL);
            expect_near("linear dW", dW, dW2, (int64_t)OUT * IN, KTOL);
            expect_near("linear db", db, db2, OUT, KTOL);
            /* dx = NULL skips dx only */
            cl_linear_backward(x, W, dy, NULL, dW, bias ? db : NULL, N, IN, OUT, NULL);
            cl_linear_backward_naive(x, W, dy, NULL, dW2, bias ? db2 : NULL, N, IN, OUT);
            expect_near("linear dW (dx NULL)", dW, dW2, (int64_t)OUT * IN, KTOL);
            cl_free(dx), cl_free(dx2), cl_free(dW), cl_free(dW2), cl_free(db), cl_free(db2);
        }
        cl_free(x), cl_free(W), cl_free(b), cl_free(dy), cl_free(y), cl_free(y2);
    }
}

Test(dense_kernels, relu_fast_vs_naive_and_nan)
{
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    int64_t n = 70001;
    float *x = tc_randn(n, &rng, 1, 0), *dy = tc_randn(n, &rng, 1, 0);
    x[5] = NAN, x[6] = 0.0f, x[7] = -0.0f;
    float *y = tc_randn(n, &rng, 1, 0), *y2 = tc_randn(n, &rng, 1, 0);
    cl_relu_forward(x, y, n);
    cl_relu_forward_naive(x, y2, n);
    cr_assert(isnan(y[5]) && isnan(y2[5]), "relu must propagate NaN");
    y[5] = y2[5] = 0;
    expect_near("relu y", y, y2, n, 0);
    for (int64_t i = 0; i < n; i++)
        if (i != 5) cr_assert(y[i] >= 0 && (x[i] <= 0 || y[i] == x[i]));
    float *dx = tc_randn(n, &rng, 1, 0), *dx2 = tc_randn(n, &rng, 1, 0);
    cl_relu_backward(y, dy, dx, n);
    cl_relu_backward_naive(y, dy, dx2, n);
    expect_near("relu dx", dx, dx2, n, 0);
    cr_assert(dx[6] == 0.0f, "gradient at 0 must be 0 (PyTorch)");
    /* in place: y == x, dx == dy */
    cl_relu_forward(x, x, n);
    x[5] = 0;
    expect_near("relu in place", x, y, n, 0);
    cl_relu_backward(y, dy, dy, n);
    expect_near("relu backward in place", dy, dx, n, 0);
    cl_free(x), cl_free(dy), cl_free(y), cl_free(y2), cl_free(dx), cl_free(dx2);
}

Test(dense_kernels, bn_fast_vs_naive)
{
    cl_rng rng;
    cl_rng_seed(&rng, 4);
    for (int t = 0; t < NSH; t++) {
        int N = SH[t][0], C = SH[t][1], HW = SH[t][2];
        int64_t m = (int64_t)N * C * HW;
        float *x = tc_randn(m, &rng, 2, 0.5), *dy = tc_randn(m, &rng, 1, 0);
        float *g = tc_randn(C, &rng, 0.3, 1), *be = tc_randn(C, &rng, 0.2, 0);
        float mean[130], var[130], mean2[130], var2[130], is[130];
        cl_bn_stats(x, N, C, HW, mean, var);
        cl_bn_stats_naive(x, N, C, HW, mean2, var2);
        expect_near("bn mean", mean, mean2, C, 1e-6);
        expect_near("bn var", var, var2, C, 1e-6);
        for (int c = 0; c < C; c++) is[c] = (float)(1 / sqrt(var2[c] + 1e-5));
        float *y = tc_randn(m, &rng, 1, 0), *y2 = tc_randn(m, &rng, 1, 0);
        cl_bn_apply(x, y, g, be, mean2, is, N, C, HW);
        cl_bn_apply_naive(x, y2, g, be, mean2, is, N, C, HW);
        expect_near("bn y", y, y2, m, KTOL);
        for (int bs = 0; bs < 2; bs++) {
            float *dx = tc_randn(m, &rng, 1, 0), *dx2 = tc_randn(m, &rng, 1, 0);
            float dg[130], db[130], dg2[130], db2[130];
            for (int c = 0; c < C; c++) dg[c] = dg2[c] = 0.5f, db[c] = db2[c] = -0.25f;
            cl_bn_backward(x, dy, dx, g, mean2, is, bs, N, C, HW, dg, db);
            cl_bn_backward_naive(x, dy, dx2, g, mean2, is, bs, N, C, HW, dg2, db2);
            expect_near("bn dx", dx, dx2, m, KTOL);
            expect_near("bn dgamma", dg, dg2, C, KTOL);
            expect_near("bn dbeta", db, db2, C, KTOL);
            cl_bn_backward(x, dy, NULL, g, mean2, is, bs, N, C, HW, dg, db);
            cl_bn_backward_naive(x, dy, NULL, g, mean2, is, bs, N, C, HW, dg2, db2);
            expect_near("bn dgamma (dx NULL)", dg, dg2, C, KTOL);
            cl_free(dx), cl_free(dx2);
        }
        cl_free(x), cl_free(dy), cl_free(g), cl_free(be), cl_free(y), cl_free(y2);
    }
}

/* Every per-channel sum runs in the same order whatever the thread count
 * (threads own whole channels), so results are bit-identical with 1, 2 or
 * 3 threads: resumed runs must not depend on the machine's core count. */
Test(dense_kernels, bn_and_bias_independent_of_thread_count)
{
    cl_rng rng;
    cl_rng_seed(&rng, 6);
    int saved_threads = omp_get_max_threads();
    for (int t = 0; t < NSH; t++) {
        int N = SH[t][0], C = SH[t][1], HW = SH[t][2];
        int64_t m = (int64_t)N * C * HW;
        float *x = tc_randn(m, &rng, 1, 0.3), *dy = tc_randn(m, &rng, 1, 0);
        float g[130], is[130], out[3][5][130];
        float *dx[3];
        for (int c = 0; c < C; c++) g[c] = 1.5f, is[c] = 0.8f;
        for (int k = 0; k < 3; k++) {
            omp_set_num_threads(k + 1);
            memset(out[k], 0, sizeof out[k]);
            dx[k] = tc_randn(m, &rng, 1, 0);
            cl_bn_stats(x, N, C, HW, out[k][0], out[k][1]);
            cl_bn_backward(x, dy, dx[k], g, out[k][0], is, 1, N, C, HW, out[k][2], out[k][3]);
            cl_bias_reduce(out[k][4], dy, N, C, HW);
        }
        omp_set_num_threads(saved_threads);
        for (int k = 1; k < 3; k++) {
            cr_assert(memcmp(out[0], out[k], sizeof out[0]) == 0,
                      "shape %dx%dx%d: stats/gradients differ with %d threads", N, C, HW, k + 1);
            cr_assert(memcmp(dx[0], dx[k], (size_t)m * sizeof(float)) == 0,
                      "shape %dx%dx%d: dx differs with %d threads", N, C, HW, k + 1);
        }
        cl_free(x), cl_free(dy), cl_free(dx[0]), cl_free(dx[1]), cl_free(dx[2]);
    }
}

/* A large mean over a small spread: the one-pass shifted sums must still
 * give the variance (a plain sum of squares in float would not). */
Test(dense_kernels, bn_stats_large_mean)
{
    cl_rng rng;
    cl_rng_seed(&rng, 5);
    for (int hw = 1; hw <= 50; hw += 49) {
        int N = 200, C = 3;
        int64_t m = (int64_t)N * C * hw;
        float *x = tc_randn(m, &rng, 0.01, 1000.0);
        float mean[3], var[3], mean2[3], var2[3];
        cl_bn_stats(x, N, C, hw, mean, var);
        cl_bn_stats_naive(x, N, C, hw, mean2, var2);
        for (int c = 0; c < C; c++) {
            cr_assert(fabs(mean[c] - mean2[c]) <= 1e-4, "mean %g vs %g", mean[c], mean2[c]);
            cr_assert(fabs(var[c] - var2[c]) <= 1e-3 * var2[c], "var %g vs %g", var[c], var2[c]);
            cr_assert(fabs(var2[c] - 1e-4) < 2e-5, "var %g, want ~1e-4", var2[c]);
        }
        cl_free(x);
    }
}
