/* Dense layers: BN running statistics and eval mode against hand formulas,
 * PyTorch init ranges, shapes, and spec validation. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/rng.h"
#include "common.h"
#include "dense_common.h"

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
