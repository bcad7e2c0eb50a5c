/* The convolution-family layers through the ops table: finite-difference
 * gradient checks of conv2d, maxpool, avgpool, gap and block (tests/gradcheck.h,
 * train mode), shape inference, spec validation and kind names. The kernels
 * themselves are tested against their naive twins in test_conv.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/rng.h"
#include "common.h"
#include "gradcheck.h"

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

Test(conv_layers, gradcheck_conv2d)
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

Test(conv_layers, gradcheck_pools)
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

Test(conv_layers, gradcheck_block_identity)
{
    gc_block(3, 1, (cl_shape){3, 4, 4}, "block identity");
}

Test(conv_layers, gradcheck_block_projection)
{
    gc_block(3, 2, (cl_shape){2, 5, 5}, "block projection stride 2");
    gc_block(3, 1, (cl_shape){2, 4, 4}, "block projection channels");
}

/* ---- layer spec validation ---- */

Test(conv_layers, infer_rejects_bad_specs)
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

Test(conv_layers, infer_shapes)
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

Test(conv_layers, kind_names_roundtrip)
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
