/* 2-D convolution: {C,H,W} -> {OC,OH,OW}, any kernel size k, stride and
 * zero padding. Params: W [OC, C, k, k] (PyTorch layout), then b [OC] if
 * spec.bias. No saved state (backward recomputes im2col from x); scratch
 * for the column matrices and dW partials comes from r->ws. */
#include <limits.h>
#include <math.h>

#include "collapse/kernels_conv.h"
#include "layers.h"

#define CONV_MAX ((int64_t)1 << 30) /* cap on per-sample sizes and params */

static int conv_stride(const cl_layer *l) { return l->spec.stride ? l->spec.stride : 1; }

static cl_conv_dims dims(const cl_layer *l, int n)
{
    return cl_conv_dims_make(n, l->in.c, l->in.h, l->in.w, l->spec.out, l->spec.k,
                             conv_stride(l), l->spec.pad);
}

static cl_status conv_infer(cl_layer *l, cl_shape in)
{
    const cl_layer_spec *s = &l->spec;
    const char *nm = s->name[0] ? s->name : "(unnamed)";
    if (s->out < 1)
        return cl_error(CL_EINVAL, "layer '%s' (conv2d): out must be >= 1 (got %d)", nm, s->out);
    if (s->k < 1)
        return cl_error(CL_EINVAL, "layer '%s' (conv2d): k must be >= 1 (got %d)", nm, s->k);
    if (s->stride < 0 || s->pad < 0)
        return cl_error(CL_EINVAL, "layer '%s' (conv2d): stride (%d) and pad (%d) must be >= 0",
                        nm, s->stride, s->pad);
    if (s->bias != 0 && s->bias != 1)
        return cl_error(CL_EINVAL, "layer '%s' (conv2d): bias must be 0 or 1 (got %d)", nm,
                        s->bias);
    CL_TRY(cl_layer_check_keys(l));
    if (in.c < 1 || in.h < 1 || in.w < 1)
        return cl_error(CL_EINVAL, "layer '%s' (conv2d): bad input shape {%d,%d,%d}", nm, in.c,
                        in.h, in.w);
    int64_t ph = (int64_t)in.h + 2 * (int64_t)s->pad, pw = (int64_t)in.w + 2 * (int64_t)s->pad;
    if (s->k > ph || s->k > pw)
        return cl_error(CL_EINVAL,
                        "layer '%s' (conv2d): kernel %d is larger than the padded input %lldx%lld",
                        nm, s->k, (long long)ph, (long long)pw);
    if (ph > INT_MAX / 2 || pw > INT_MAX / 2)
        return cl_error(CL_EINVAL, "layer '%s' (conv2d): padding %d is too large", nm, s->pad);
    int64_t OH = (ph - s->k) / conv_stride(l) + 1, OW = (pw - s->k) / conv_stride(l) + 1;
    int64_t ckk = (int64_t)in.c * s->k * s->k; /* k <= ph < 2^30 */
    if (ckk > CONV_MAX || (int64_t)s->out * ckk > CONV_MAX || OH * OW > CONV_MAX ||
        (int64_t)s->out * OH * OW > CONV_MAX || ckk * OH * OW > CONV_MAX ||
        cl_shape_size(in) > CONV_MAX)
        return cl_error(CL_EINVAL,
                        "layer '%s' (conv2d): too large (%d -> %d channels, k %d, output %lldx%lld)",
                        nm, in.c, s->out, s->k, (long long)OH, (long long)OW);
    l->out = (cl_shape){s->out, (int)OH, (int)OW};
    l->nparams = (int64_t)s->out * ckk + (s->bias ? s->out : 0);
    l->nbufs = 0;
    return CL_OK;
}

/* PyTorch nn.Conv2d.reset_parameters: kaiming_uniform_(a = sqrt(5)) gives
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W, fan_in = C*k*k, and the same
 * bound for b. */
static void conv_init(const cl_layer *l, float *p, float *b, cl_rng *rng)
{
    (void)b;
    double bound = 1.0 / sqrt((double)l->in.c * l->spec.k * l->spec.k);
    for (int64_t i = 0; i < l->nparams; i++)
        p[i] = (float)((2.0 * cl_rng_uniform(rng) - 1.0) * bound);
}

static int64_t conv_saved(const cl_layer *l, int n) { return 0; }

static int64_t conv_ws(const cl_layer *l, int n)
{
    cl_conv_dims d = dims(l, n);
    return cl_conv2d_ws_floats(&d);
}

static void conv_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                         const float *x, float *y, float *saved)
{
    cl_conv_dims d = dims(l, r->n);
    int64_t nw = (int64_t)l->spec.out * l->in.c * l->spec.k * l->spec.k;
    cl_conv2d_forward(&d, x, p, l->spec.bias ? p + nw : NULL, y, r->ws);
}

static void conv_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                          const float *y, const float *saved, const float *dy, float *dx,
                          float *dp)
{
    cl_conv_dims d = dims(l, r->n);
    int64_t nw = (int64_t)l->spec.out * l->in.c * l->spec.k * l->spec.k;
    cl_conv2d_backward(&d, x, p, dy, dx, dp, l->spec.bias ? dp + nw : NULL, r->ws);
}

static int64_t conv_flops(const cl_layer *l)
{
    return cl_shape_size(l->out) * l->in.c * l->spec.k * l->spec.k;
}

const cl_layer_ops cl_conv2d_ops = {
    .name = "conv2d",
    .prefix = "conv",
    .keys = CL_LAYER_KEY_OUT | CL_LAYER_KEY_K | CL_LAYER_KEY_STRIDE | CL_LAYER_KEY_PAD |
            CL_LAYER_KEY_BIAS | CL_LAYER_KEY_FROZEN | CL_LAYER_KEY_CLASSIFIER,
    .infer = conv_infer,
    .init = conv_init,
    .saved_floats = conv_saved,
    .ws_floats = conv_ws,
    .forward = conv_forward,
    .backward = conv_backward,
    .destroy = NULL,
    .flops = conv_flops,
};
