/* Flatten: {C,H,W} -> {C*H*W,1,1}. NCHW rows are already in this order, so
 * the data is unchanged: forward copies x to y (the model keeps one output
 * buffer per layer, read later by taps and backward) and backward copies
 * dy to dx. No params, no saved state. */
#include <string.h>

#include "layers.h"

static cl_status flatten_infer(cl_layer *l, cl_shape in)
{
    const cl_layer_spec *s = &l->spec;
    const char *nm = s->name[0] ? s->name : "(unnamed)";
    CL_TRY(cl_layer_check_keys(l));
    if (in.c < 1 || in.h < 1 || in.w < 1)
        return cl_error(CL_EINVAL, "layer '%s' (flatten): bad input shape {%d,%d,%d}", nm, in.c,
                        in.h, in.w);
    int64_t d = cl_shape_size(in);
    if (d > (1 << 30))
        return cl_error(CL_EINVAL, "layer '%s' (flatten): %lld features is too many", nm,
                        (long long)d);
    l->in = in;
    l->out = (cl_shape){(int)d, 1, 1};
    l->nparams = 0;
    l->nbufs = 0;
    return CL_OK;
}

static void flatten_init(const cl_layer *l, float *p, float *b, cl_rng *rng) {}
static int64_t flatten_zero(const cl_layer *l, int n) { return 0; }

static void flatten_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                            const float *x, float *y, float *saved)
{
    if (y != x) memcpy(y, x, (size_t)r->n * (size_t)cl_shape_size(l->in) * sizeof(float));
}

static void flatten_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                             const float *y, const float *saved, const float *dy, float *dx,
                             float *dp)
{
    if (dx && dx != dy)
        memcpy(dx, dy, (size_t)r->n * (size_t)cl_shape_size(l->in) * sizeof(float));
}

static int64_t flatten_flops(const cl_layer *l) { return 0; }

const cl_layer_ops cl_flatten_ops = {
    .name = "flatten",
    .keys = 0,
    .infer = flatten_infer,
    .init = flatten_init,
    .saved_floats = flatten_zero,
    .ws_floats = flatten_zero,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .destroy = NULL,
    .flops = flatten_flops,
};
