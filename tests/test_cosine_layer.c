/* The cosine classifier layer (nn.h CL_LAYER_COSINE, Jiang et al. ICML
 * 2024): finite-difference gradients, the kernel against its naive twin,
 * known values, eps-safe norms, model files and the --classifier head, and
 * the analyzer's cosine NC4 decision. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/kernels_dense.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "collapse/nc.h"
#include "collapse/nn.h"
#include "collapse/rng.h"
#include "dense_common.h"
#include "gradcheck.h"

static cl_layer_spec cosine(int out, float T)
{
    cl_layer_spec s = mk(CL_LAYER_COSINE);
    s.out = out;
    s.temperature = T;
    return s;
}

Test(cosine_layer, gradients_match_finite_differences)
{
    const struct {
        int n, in, out;
        float T;
    } cases[] = {{5, 9, 7, 3.0f}, {3, 2, 10, 10.0f}, {4, 3, 12, 1.0f}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        gc_opts o = gc_opts_default(cases[k].n);
        o.h = 1e-3;
        gc_result r;
        cl_layer_spec s = cosine(cases[k].out, cases[k].T);
        cr_assert_eq(gc_layer(&s, (cl_shape){cases[k].in, 1, 1}, &o, &r), CL_OK, "%s",
                     cl_errmsg());
        cr_assert(r.nx > 0 && r.np == (int64_t)cases[k].in * cases[k].out);
        gc_assert(&r, "cosine");
    }
}

Test(cosine_layer, kernel_matches_naive_twin)
{
    const int N = 33, IN = 17, OUT = 10;
    cl_rng rng;
    cl_rng_seed(&rng, 5);
    float *x = cl_alloc_array(N * IN, sizeof(float), "x"),
          *W = cl_alloc_array(OUT * IN, 4, "W");
    float *y = cl_alloc_array(N * OUT, 4, "y"), *y2 = cl_alloc_array(N * OUT, 4, "y2");
    float *dy = cl_alloc_array(N * OUT, 4, "dy"), *ws = cl_alloc_array(N * OUT, 4, "ws");
    float *dx = cl_alloc_array(N * IN, 4, "dx"), *dx2 = cl_alloc_array(N * IN, 4, "dx2");
    float *dW = cl_alloc_array(OUT * IN, 4, "dW"),
          *dW2 = cl_alloc_array(OUT * IN, 4, "dW2");
    float xn[33], wn[10], xn2[33], wn2[10];
    for (int i = 0; i < N * IN; i++)
        x[i] = (float)cl_rng_normal(&rng);
    for (int i = 0; i < OUT * IN; i++)
        W[i] = (float)cl_rng_normal(&rng);
    for (int i = 0; i < N * OUT; i++)
        dy[i] = (float)cl_rng_normal(&rng);
    for (int i = 0; i < OUT * IN; i++)
        dW[i] = dW2[i] = 0.5f; /* accumulated */
    cl_cosine_forward(x, W, 4.0f, y, xn, wn, N, IN, OUT);
    cl_cosine_forward_naive(x, W, 4.0f, y2, xn2, wn2, N, IN, OUT);
    for (int i = 0; i < N * OUT; i++) {
        cr_assert_float_eq(y[i], y2[i], 1e-5, "y[%d] %g vs %g", i, y[i], y2[i]);
        cr_assert_leq(fabsf(y[i]), 4.0f + 1e-5f);
    }
    cl_cosine_backward(x, W, 4.0f, y, xn, wn, dy, dx, dW, ws, N, IN, OUT);
    cl_cosine_backward_naive(x, W, 4.0f, y2, xn2, wn2, dy, dx2, dW2, N, IN, OUT);
    for (int i = 0; i < N * IN; i++)
        cr_assert_float_eq(dx[i], dx2[i], 1e-4, "dx[%d]", i);
    for (int i = 0; i < OUT * IN; i++)
        cr_assert_float_eq(dW[i], dW2[i], 1e-4, "dW[%d]", i);
    float *all[] = {x, W, y, y2, dy, ws, dx, dx2, dW, dW2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cl_free(all[i]);
}

Test(cosine_layer, known_values_and_zero_rows)
{
    /* x = (2, 0) and (0, 0); rows w at 0, 60 and 180 degrees with different norms */
    const float x[4] = {2, 0, 0, 0};
    const float W[6] = {3, 0, 0.5f, 0.5f * sqrtf(3.0f), -0.1f, 0};
    float y[6], xn[2], wn[3], dy[6] = {1, 1, 1, 1, 1, 1}, dx[4], dW[6] = {0}, ws[6];
    cl_cosine_forward(x, W, 5.0f, y, xn, wn, 2, 2, 3);
    cr_assert_float_eq(y[0], 5.0f, 1e-6);
    cr_assert_float_eq(y[1], 2.5f, 1e-6);
    cr_assert_float_eq(y[2], -5.0f, 1e-6);
    for (int o = 0; o < 3; o++)
        cr_assert_eq(y[3 + o], 0.0f, "a zero feature gives 0 logits");
    cr_assert_eq(xn[1], CL_COSINE_EPS);
    cl_cosine_backward(x, W, 5.0f, y, xn, wn, dy, dx, dW, ws, 2, 2, 3);
    for (int i = 0; i < 4; i++)
        cr_assert(isfinite(dx[i]), "dx[%d] = %g", i, dx[i]);
    for (int i = 0; i < 6; i++)
        cr_assert(isfinite(dW[i]), "dW[%d] = %g", i, dW[i]);
    /* radial directions get no gradient: d y / d x along x itself is 0 */
    cr_assert_float_eq(dx[0], 0.0f, 1e-6);
}

Test(cosine_layer, bad_specs)
{
    cl_layer l;
    memset(&l, 0, sizeof l);
    l.spec = cosine(4, 0);
    cr_assert_eq(cl_layer_ops_table[CL_LAYER_COSINE]->infer(&l, (cl_shape){3, 1, 1}),
                 CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "temperature"), "%s", cl_errmsg());
    l.spec = cosine(4, 2);
    l.spec.k = 3;
    cr_assert_eq(cl_layer_ops_table[CL_LAYER_COSINE]->infer(&l, (cl_shape){3, 1, 1}),
                 CL_EINVAL);
    l.spec = cosine(4, 2);
    cr_assert_eq(cl_layer_ops_table[CL_LAYER_COSINE]->infer(&l, (cl_shape){3, 2, 2}),
                 CL_EINVAL);
    l.spec = mk(CL_LAYER_LINEAR);
    l.spec.out = 3;
    l.spec.temperature = 2; /* not a linear key */
    cr_assert_eq(cl_layer_ops_table[CL_LAYER_LINEAR]->infer(&l, (cl_shape){3, 1, 1}),
                 CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "temperature"), "%s", cl_errmsg());
}

static const char *file_text =
    "[flat]\nkind = flatten\n[fc]\nkind = linear\nout = 6\n"
    "[relu]\nkind = relu\n[head]\nkind = cosine\ntemperature = 7.5\n";

Test(cosine_layer, model_file_round_trip)
{
    cl_modelcfg c;
    cr_assert_eq(cl_modelcfg_parse_text(file_text, "cos.cfg", &c), CL_OK, "%s",
                 cl_errmsg());
    cl_head_opts h = {.classes = 4, .bias = 1};
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    cl_model *m = NULL;
    char *text = NULL;
    cr_assert_eq(cl_modelcfg_build(&c, (cl_shape){1, 3, 3}, &h, &rng, &m, &text), CL_OK,
                 "%s", cl_errmsg());
    int ci = cl_model_classifier_index(m);
    cr_assert_eq(ci, 3);
    cr_assert_eq(m->layers[ci].spec.kind, CL_LAYER_COSINE);
    cr_assert_eq(m->layers[ci].spec.bias, 0);
    cr_assert_eq(m->layers[ci].nparams, 4 * 6);
    cr_assert(strstr(text, "kind = cosine") && strstr(text, "temperature = 7.5"), "%s",
              text);
    cl_model *m2 = NULL;
    cr_assert_eq(cl_modelcfg_rebuild(text, "ckpt", &m2), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(m2->nparams, m->nparams);
    cr_assert_float_eq(m2->layers[3].spec.temperature, 7.5f, 0);
    cl_model_destroy(m);
    cl_model_destroy(m2);
    cl_free(text);
    cl_modelcfg_free(&c);
    cr_assert_eq(
        cl_modelcfg_parse_text("[h]\nkind = cosine\ntemperature = -1\n", "bad.cfg", &c),
        CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "bad.cfg:3") && strstr(cl_errmsg(), "temperature"),
              "%s", cl_errmsg());
}

Test(cosine_layer, classifier_head_option)
{
    cl_modelcfg c;
    cr_assert_eq(cl_modelcfg_from_arch("mlp", &c), CL_OK);
    cl_head_opts h = {
        .classes = 10, .feature_dim = 2, .bias = 1, .cosine = 1, .temperature = 4};
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    cl_model *m = NULL;
    cr_assert_eq(cl_modelcfg_build(&c, (cl_shape){1, 28, 28}, &h, &rng, &m, NULL), CL_OK,
                 "%s", cl_errmsg());
    const cl_layer *l = &m->layers[cl_model_classifier_index(m)];
    cr_assert_eq(l->spec.kind, CL_LAYER_COSINE);
    cr_assert_eq(l->spec.bias, 0);
    cr_assert_eq(l->nparams, 20);
    cr_assert_float_eq(l->spec.temperature, 4.0f, 0);
    cl_model_destroy(m);
    cl_modelcfg_free(&c);
}

/* NC4 with a cosine head: the decision is argmax <w_c, h>/|w_c|, which
 * differs from argmax W h when the rows have different norms. */
Test(cosine_layer, nc4_uses_the_cosine_decision)
{
    /* K = 3 classes in 2-D; w_0 is long, so argmax W h picks 0 for the class-1 samples */
    const float W[6] = {10, 0, 0, 1, -1, -1};
    const float H[12] = {1, 0.1f, 1, -0.1f, 0.2f, 1, 0.15f, 1, -1, -0.9f, -0.9f, -1};
    const int32_t y[6] = {0, 0, 1, 1, 2, 2};
    cl_nc_opts o = cl_nc_opts_default();
    cl_nc_result plain, cos, naive;
    cr_assert_eq(cl_nc_analyze(H, 6, 2, y, 3, W, NULL, &o, &plain), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_float_eq(plain.acc, 4.0 / 6, 1e-12, "acc %g", plain.acc);
    o.nc4_cosine = 1;
    cr_assert_eq(cl_nc_analyze(H, 6, 2, y, 3, W, NULL, &o, &cos), CL_OK);
    cr_assert_float_eq(cos.acc, 1.0, 1e-12, "acc %g", cos.acc);
    cr_assert_float_eq(cos.nc4, 0.0, 1e-12);
    cr_assert_float_eq(cos.nc3, plain.nc3, 1e-12, "NC3 uses the raw rows");
    cr_assert_eq(cl_nc_analyze_naive(H, 6, 2, y, 3, W, NULL, &o, &naive), CL_OK);
    cr_assert_float_eq(naive.acc, cos.acc, 1e-12);
    cr_assert_float_eq(naive.nc4, cos.nc4, 1e-12);
}
