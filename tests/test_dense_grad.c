/* Dense layers (linear, batchnorm, relu, flatten): finite-difference
 * gradient checks of every layer and of a whole MLP (tests/gradcheck.h), and
 * a check that the checker catches a missing gradient. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/kernels_dense.h"
#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/rng.h"
#include "common.h"
#include "dense_common.h"
#include "gradcheck.h"

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
    cl_linear_backward(x, p, dy, dx, dp, NULL, r->n, IN, OUT, r->ws);
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
