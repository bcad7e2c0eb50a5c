/* Dense layers (linear, batchnorm, relu, flatten) and their kernels:
 * fast kernels against their naive twins, finite-difference gradient checks
 * of every layer (tests/gradcheck.h), BN running statistics and eval mode
 * against hand formulas, PyTorch init ranges, and spec validation. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "collapse/kernels_dense.h"
#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/rng.h"
#include "common.h"
#include "gradcheck.h"

/* ---- helpers ---- */

static float *copy(const float *a, int64_t n)
{
    float *b = cl_alloc_array((size_t)n + 1, sizeof(float), "test");
    cr_assert(b);
    memcpy(b, a, (size_t)n * sizeof(float));
    return b;
}

/* max_i |a_i - b_i| / max(max_i |b_i|, 1e-30); NaN counts as infinite */
static double nrel(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= num)) num = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return num / fmax(den, 1e-30);
}

#define KTOL 2e-5 /* fast vs naive: float32 rounding in a different order */

static void expect_near(const char *what, const float *got, const float *want, int64_t n,
                        double tol)
{
    double e = nrel(got, want, n);
    cr_assert(e <= tol, "%s: normwise relative difference %.3g > %g", what, e, tol);
}

static cl_layer_spec mk(cl_layer_kind kind)
{
    cl_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    return s;
}

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
            cl_linear_forward(x, W, bias ? b : NULL, y, N, IN, OUT);
            cl_linear_forward_naive(x, W, bias ? b : NULL, y2, N, IN, OUT);
            expect_near("linear y", y, y2, (int64_t)N * OUT, KTOL);
            float *dx = tc_randn((int64_t)N * IN, &rng, 1, 0),
                  *dx2 = copy(dx, (int64_t)N * IN);
            float *dW = tc_randn((int64_t)OUT * IN, &rng, 1, 0),
                  *dW2 = copy(dW, (int64_t)OUT * IN);
            float *db = tc_randn(OUT, &rng, 1, 0), *db2 = copy(db, OUT);
            cl_linear_backward(x, W, dy, dx, dW, bias ? db : NULL, N, IN, OUT);
            cl_linear_backward_naive(x, W, dy, dx2, dW2, bias ? db2 : NULL, N, IN, OUT);
            expect_near("linear dx", dx, dx2, (int64_t)N * IN, KTOL);
            expect_near("linear dW", dW, dW2, (int64_t)OUT * IN, KTOL);
            expect_near("linear db", db, db2, OUT, KTOL);
            /* dx = NULL skips dx only */
            cl_linear_backward(x, W, dy, NULL, dW, bias ? db : NULL, N, IN, OUT);
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

/* ---- layers: gradient checks ---- */

/* Tighter than GC_TOL: these problems are tiny (<= 200 outputs) and the
 * dense layers measure 1e-6..5e-5 at h = 1e-2 (truncation-free for linear,
 * h^2 terms for BN), so 1e-3 still leaves a 20x margin. */
#define DTOL 1e-3

static void gc_case(cl_layer_spec s, cl_shape in, gc_opts o, const char *what)
{
    gc_result r;
    cr_assert_eq(gc_layer(&s, in, &o, &r), CL_OK, "%s: %s", what, cl_errmsg());
    cr_assert(r.nx > 0, "%s: nothing checked", what);
    gc_assert_tol(&r, what, DTOL);
}

Test(dense_grad, linear_bias)
{
    cl_layer_spec s = mk(CL_LAYER_LINEAR);
    s.out = 7, s.bias = 1;
    gc_case(s, (cl_shape){9, 1, 1}, gc_opts_default(5), "linear bias");
}

Test(dense_grad, linear_nobias)
{
    cl_layer_spec s = mk(CL_LAYER_LINEAR);
    s.out = 6;
    gc_result r;
    gc_opts o = gc_opts_default(4);
    cr_assert_eq(gc_layer(&s, (cl_shape){11, 1, 1}, &o, &r), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(r.np, 66, "no-bias linear has W only");
    gc_assert_tol(&r, "linear no bias", DTOL);
}

Test(dense_grad, batchnorm1d_train)
{
    gc_opts o = gc_opts_default(6);
    o.param_jitter = 0.3f;
    gc_case(mk(CL_LAYER_BATCHNORM), (cl_shape){5, 1, 1}, o, "bn1d train");
}

Test(dense_grad, batchnorm2d_train)
{
    gc_opts o = gc_opts_default(3);
    o.param_jitter = 0.3f;
    gc_case(mk(CL_LAYER_BATCHNORM), (cl_shape){3, 4, 5}, o, "bn2d train");
}

Test(dense_grad, batchnorm_eval)
{
    gc_opts o = gc_opts_default(4);
    o.train = 0;
    o.param_jitter = 0.3f;
    o.buf_jitter = 0.5f;
    gc_case(mk(CL_LAYER_BATCHNORM), (cl_shape){5, 1, 1}, o, "bn1d eval");
    gc_case(mk(CL_LAYER_BATCHNORM), (cl_shape){3, 3, 3}, o, "bn2d eval");
}

Test(dense_grad, batchnorm2d_custom_eps_momentum)
{
    cl_layer_spec s = mk(CL_LAYER_BATCHNORM);
    s.eps = 0.1f, s.momentum = 0.5f;
    gc_opts o = gc_opts_default(2);
    o.param_jitter = 0.3f;
    gc_case(s, (cl_shape){2, 3, 3}, o, "bn2d eps 0.1");
}

Test(dense_grad, relu)
{
    gc_opts o = gc_opts_default(3);
    o.kink_margin = 0.05f; /* > h = 1e-2: no input within a step of the kink */
    gc_case(mk(CL_LAYER_RELU), (cl_shape){2, 3, 4}, o, "relu");
}

Test(dense_grad, flatten)
{
    gc_case(mk(CL_LAYER_FLATTEN), (cl_shape){2, 3, 4}, gc_opts_default(2), "flatten");
}

/* The checker itself must catch a wrong gradient: a linear layer whose
 * backward forgets the bias gradient fails the dparams check. */
static void bad_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                         const float *y, const float *saved, const float *dy, float *dx, float *dp)
{
    int IN = l->in.c, OUT = l->out.c;
    cl_linear_backward(x, p, dy, dx, dp, NULL, r->n, IN, OUT);
}

Test(dense_grad, checker_catches_a_missing_bias_gradient)
{
    cl_layer_spec s = mk(CL_LAYER_LINEAR);
    s.out = 3, s.bias = 1;
    cl_layer l;
    memset(&l, 0, sizeof l);
    l.spec = s;
    cr_assert_eq(cl_layer_ops_table[CL_LAYER_LINEAR]->infer(&l, (cl_shape){4, 1, 1}), CL_OK);
    /* run the real forward with the broken backward through a copied table */
    cl_layer_ops bad = *cl_layer_ops_table[CL_LAYER_LINEAR];
    bad.backward = bad_backward;
    cl_rng rng;
    cl_rng_seed(&rng, 9);
    float p[15], x[8], y[6], R[6], dx[8], dp[15] = {0};
    bad.init(&l, p, NULL, &rng);
    for (int i = 0; i < 8; i++) x[i] = (float)cl_rng_normal(&rng);
    for (int i = 0; i < 6; i++) R[i] = (float)cl_rng_normal(&rng);
    cl_run run = {.n = 2, .train = 1, .ws = NULL};
    bad.forward(&l, &run, p, NULL, x, y, NULL);
    bad.backward(&l, &run, p, x, y, NULL, R, dx, dp);
    /* numeric bias gradient = sum_n R[n, o], which the broken layer left 0 */
    int64_t idx[3] = {12, 13, 14};
    double fd[3];
    for (int o = 0; o < 3; o++) fd[o] = (double)R[o] + R[3 + o];
    int64_t w;
    double a, nmr;
    double e = gc_compare(dp, idx, fd, 3, &w, &a, &nmr);
    cr_assert(e > 0.5, "gc_compare missed a zero gradient (err %g)", e);
}

/* ---- layers: values ---- */

typedef struct {
    cl_layer l;
    const cl_layer_ops *ops;
    float *p, *b;
} built;

static built build(cl_layer_spec s, cl_shape in, uint64_t seed)
{
    built B;
    memset(&B, 0, sizeof B);
    B.l.spec = s;
    B.ops = cl_layer_ops_table[s.kind];
    cr_assert_eq(B.ops->infer(&B.l, in), CL_OK, "%s", cl_errmsg());
    B.l.in = in;
    B.p = cl_alloc_array((size_t)B.l.nparams + 1, sizeof(float), "p");
    B.b = cl_alloc_array((size_t)B.l.nbufs + 1, sizeof(float), "b");
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    B.ops->init(&B.l, B.p, B.b, &rng);
    return B;
}

static void unbuild(built *B)
{
    cl_free(B->p);
    cl_free(B->b);
}

Test(dense_layers, linear_init_pytorch_ranges)
{
    cl_layer_spec s = mk(CL_LAYER_LINEAR);
    s.out = 200, s.bias = 1;
    built B = build(s, (cl_shape){100, 1, 1}, 11);
    cr_assert_eq(B.l.nparams, 200 * 100 + 200);
    cr_assert(B.l.out.c == 200 && B.l.out.h == 1 && B.l.out.w == 1);
    double bound = 0.1, s1 = 0, s2 = 0;
    for (int64_t i = 0; i < B.l.nparams; i++) {
        cr_assert(fabs(B.p[i]) <= bound, "param %lld = %g outside +-1/sqrt(100)", (long long)i,
                  B.p[i]);
        s1 += B.p[i], s2 += (double)B.p[i] * B.p[i];
    }
    double n = (double)B.l.nparams, mean = s1 / n, var = s2 / n - mean * mean;
    cr_assert(fabs(mean) < 3e-3, "mean %g", mean);
    /* U(-a, a) has variance a^2/3 */
    cr_assert(fabs(var - bound * bound / 3) < 0.03 * bound * bound / 3, "var %g", var);
    cr_assert_eq(B.ops->flops(&B.l), 200 * 100);
    unbuild(&B);
}

Test(dense_layers, bn_init_defaults)
{
    built B = build(mk(CL_LAYER_BATCHNORM), (cl_shape){4, 3, 3}, 1);
    cr_assert_eq(B.l.nparams, 8);
    cr_assert_eq(B.l.nbufs, 8);
    for (int c = 0; c < 4; c++) {
        cr_assert(B.p[c] == 1 && B.p[4 + c] == 0, "gamma 1, beta 0");
        cr_assert(B.b[c] == 0 && B.b[4 + c] == 1, "running mean 0, running var 1");
    }
    cr_assert_eq(B.ops->saved_floats(&B.l, 100), 8);
    unbuild(&B);
}

/* Train forward: output per channel has mean beta and biased variance
 * gamma^2 var/(var+eps); running stats follow PyTorch's momentum rule with
 * the UNBIASED variance; eval forward uses the running stats. */
static void bn_values(cl_shape in, int N, float momentum, float eps)
{
    cl_layer_spec s = mk(CL_LAYER_BATCHNORM);
    s.momentum = momentum, s.eps = eps;
    double mom = momentum == 0 ? 0.1 : momentum, ep = eps == 0 ? 1e-5 : eps;
    built B = build(s, in, 1);
    int C = in.c, HW = in.h * in.w;
    int64_t m = (int64_t)N * C * HW;
    cl_rng rng;
    cl_rng_seed(&rng, 21);
    float *x = tc_randn(m, &rng, 1.5, 0.7), *y = tc_randn(m, &rng, 1, 0),
          *saved = tc_randn(2 * C, &rng, 1, 0);
    for (int c = 0; c < C; c++) {
        B.p[c] = (float)(1 + 0.1 * c), B.p[C + c] = (float)(0.2 * c - 0.3);
        B.b[c] = (float)(0.1 * c), B.b[C + c] = (float)(0.5 + 0.25 * c);
    }
    float *b0 = copy(B.b, 2 * C);
    cl_run r = {.n = N, .train = 1, .ws = NULL};
    B.ops->forward(&B.l, &r, B.p, B.b, x, y, saved);
    double M = (double)N * HW;
    for (int c = 0; c < C; c++) {
        double mx = 0, vx = 0, my = 0, vy = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) mx += x[((int64_t)n * C + c) * HW + i];
        mx /= M;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                int64_t j = ((int64_t)n * C + c) * HW + i;
                vx += (x[j] - mx) * (x[j] - mx);
                my += y[j];
            }
        vx /= M, my /= M;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                double d = y[((int64_t)n * C + c) * HW + i] - my;
                vy += d * d;
            }
        vy /= M;
        double g = B.p[c], be = B.p[C + c];
        cr_assert(fabs(my - be) < 1e-5, "c%d: output mean %g, want beta %g", c, my, be);
        cr_assert(fabs(vy - g * g * vx / (vx + ep)) < 1e-5 * g * g, "c%d: output var %g", c, vy);
        double rm = (1 - mom) * b0[c] + mom * mx, rv = (1 - mom) * b0[C + c] + mom * vx * M / (M - 1);
        cr_assert(fabs(B.b[c] - rm) < 1e-6, "c%d: running mean %g want %g", c, B.b[c], rm);
        cr_assert(fabs(B.b[C + c] - rv) < 1e-6 * rv, "c%d: running var %g want %g (unbiased)", c,
                  B.b[C + c], rv);
    }
    /* eval: y = (x - rm) / sqrt(rv + eps) * gamma + beta, bufs unchanged */
    float *b1 = copy(B.b, 2 * C);
    r.train = 0;
    B.ops->forward(&B.l, &r, B.p, B.b, x, y, saved);
    expect_near("bufs unchanged in eval", B.b, b1, 2 * C, 0);
    double worst = 0;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < HW; i++) {
                int64_t j = ((int64_t)n * C + c) * HW + i;
                double want = (x[j] - (double)B.b[c]) / sqrt((double)B.b[C + c] + ep) * B.p[c] +
                              B.p[C + c];
                worst = fmax(worst, fabs(y[j] - want));
            }
    cr_assert(worst < 1e-5, "eval output off by %g", worst);
    cl_free(x), cl_free(y), cl_free(saved), cl_free(b0), cl_free(b1);
    unbuild(&B);
}

Test(dense_layers, bn1d_stats_and_eval) { bn_values((cl_shape){70, 1, 1}, 16, 0, 0); }
Test(dense_layers, bn2d_stats_and_eval) { bn_values((cl_shape){3, 5, 4}, 4, 0, 0); }
Test(dense_layers, bn2d_momentum_eps) { bn_values((cl_shape){2, 8, 8}, 2, 0.3f, 1e-3f); }

Test(dense_layers, bn_single_value_per_channel)
{
    built B = build(mk(CL_LAYER_BATCHNORM), (cl_shape){3, 1, 1}, 1);
    float x[3] = {1, -2, 5}, y[3], saved[6];
    B.p[3] = 0.5f;
    cl_run r = {.n = 1, .train = 1, .ws = NULL};
    B.ops->forward(&B.l, &r, B.p, B.b, x, y, saved);
    cr_assert(y[0] == 0.5f && y[1] == 0 && y[2] == 0, "output = beta");
    cr_assert(B.b[3] == 1 && B.b[4] == 1 && B.b[5] == 1, "running var unchanged with M = 1");
    cr_assert(fabsf(B.b[2] - 0.5f) < 1e-7, "running mean updated");
    unbuild(&B);
}

Test(dense_layers, flatten_and_relu_shapes)
{
    built F = build(mk(CL_LAYER_FLATTEN), (cl_shape){2, 3, 4}, 1);
    cr_assert(F.l.out.c == 24 && F.l.out.h == 1 && F.l.out.w == 1);
    cr_assert_eq(F.l.nparams, 0);
    float x[48], y[48], dx[48];
    for (int i = 0; i < 48; i++) x[i] = (float)i - 20;
    cl_run r = {.n = 2, .train = 1, .ws = NULL};
    F.ops->forward(&F.l, &r, F.p, F.b, x, y, NULL);
    cr_assert(memcmp(x, y, sizeof x) == 0);
    F.ops->backward(&F.l, &r, F.p, x, y, NULL, y, dx, NULL);
    cr_assert(memcmp(x, dx, sizeof x) == 0);
    unbuild(&F);
    built R = build(mk(CL_LAYER_RELU), (cl_shape){2, 3, 4}, 1);
    cr_assert(R.l.out.c == 2 && R.l.out.h == 3 && R.l.out.w == 4);
    R.ops->forward(&R.l, &r, R.p, R.b, x, y, NULL);
    for (int i = 0; i < 48; i++) cr_assert(y[i] == (x[i] > 0 ? x[i] : 0));
    unbuild(&R);
}

/* ---- bad specs ---- */

static void expect_einval(cl_layer_spec s, cl_shape in, const char *needle)
{
    cl_layer l;
    memset(&l, 0, sizeof l);
    l.spec = s;
    cl_errclear();
    cl_status st = cl_layer_ops_table[s.kind]->infer(&l, in);
    cr_assert_eq(st, CL_EINVAL, "%s: want CL_EINVAL, got %d", needle, st);
    cr_assert(strstr(cl_errmsg(), needle), "message '%s' lacks '%s'", cl_errmsg(), needle);
    cr_assert(strstr(cl_errmsg(), "bad_layer"), "message '%s' does not name the layer",
              cl_errmsg());
}

Test(dense_layers, bad_specs_are_einval_with_messages)
{
    cl_layer_spec s = mk(CL_LAYER_LINEAR);
    strcpy(s.name, "bad_layer");
    cl_shape v = {10, 1, 1};
    expect_einval(s, v, "out must be >= 1");
    s.out = 4;
    expect_einval(s, (cl_shape){3, 4, 4}, "flatten");
    s.bias = 2;
    expect_einval(s, v, "bias must be 0 or 1");
    s.bias = 1, s.k = 3;
    expect_einval(s, v, "do not apply");

    s = mk(CL_LAYER_BATCHNORM);
    strcpy(s.name, "bad_layer");
    s.eps = -1e-5f;
    expect_einval(s, v, "eps");
    s.eps = NAN;
    expect_einval(s, v, "eps");
    s.eps = 0, s.momentum = 1.5f;
    expect_einval(s, v, "momentum");
    s.momentum = -0.1f;
    expect_einval(s, v, "momentum");
    s.momentum = 0, s.out = 3;
    expect_einval(s, v, "do not apply");

    s = mk(CL_LAYER_RELU);
    strcpy(s.name, "bad_layer");
    s.classifier = 1;
    expect_einval(s, v, "classifier");
    s.classifier = 0, s.stride = 2;
    expect_einval(s, v, "no options");

    s = mk(CL_LAYER_FLATTEN);
    strcpy(s.name, "bad_layer");
    s.k = 2;
    expect_einval(s, v, "no options");

    /* builders set bias = 1 on every spec: accepted where it does not apply */
    s = mk(CL_LAYER_RELU);
    s.bias = 1;
    cl_layer l;
    memset(&l, 0, sizeof l);
    l.spec = s;
    cr_assert_eq(cl_layer_ops_table[CL_LAYER_RELU]->infer(&l, v), CL_OK, "%s", cl_errmsg());
}

/* ---- whole models through cl_model_forward/backward ---- */

/* flatten -> linear -> BN1d -> ReLU -> linear (no bias) -> ReLU -> linear.
 * ReLU kinks inside the model cannot be steered away from, so h = 1e-3
 * (fewer pre-activations within a step of 0); the seed is fixed. */
static void mlp_model_case(int train, const char *what)
{
    cl_layer_spec s[7];
    for (int i = 0; i < 7; i++) s[i] = mk((cl_layer_kind[]){CL_LAYER_FLATTEN, CL_LAYER_LINEAR,
                                                           CL_LAYER_BATCHNORM, CL_LAYER_RELU,
                                                           CL_LAYER_LINEAR, CL_LAYER_RELU,
                                                           CL_LAYER_LINEAR}[i]);
    s[1].out = 6, s[1].bias = 1;
    s[4].out = 5;
    s[6].out = 3, s[6].bias = 1;
    gc_opts o = gc_opts_default(4);
    o.train = train;
    o.h = 1e-3;
    o.param_jitter = 0.2f;
    o.buf_jitter = 0.3f;
    gc_result r;
    cr_assert_eq(gc_model(s, 7, (cl_shape){2, 2, 2}, &o, &r), CL_OK, "%s: %s", what, cl_errmsg());
    cr_assert_eq(r.np, 8 * 6 + 6 + 12 + 6 * 5 + 5 * 3 + 3, "%s: params checked", what);
    gc_assert_tol(&r, what, DTOL);
}

Test(dense_grad, mlp_model_train) { mlp_model_case(1, "mlp model train"); }
Test(dense_grad, mlp_model_eval) { mlp_model_case(0, "mlp model eval"); }
