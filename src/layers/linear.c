/* Linear layer: y = x W^T + b on vector activations {IN,1,1} -> {OUT,1,1}.
 * Params: W [OUT, IN] (PyTorch layout), then b [OUT] if spec.bias. */
#include <math.h>

#include "collapse/kernels_dense.h"
#include "layers.h"

static cl_status linear_infer(cl_layer *l, cl_shape in)
{
    const cl_layer_spec *s = &l->spec;
    const char *nm = s->name[0] ? s->name : "(unnamed)";
    if (s->out < 1)
        return cl_error(CL_EINVAL, "layer '%s' (linear): out must be >= 1 (got %d)", nm, s->out);
    if (s->bias != 0 && s->bias != 1)
        return cl_error(CL_EINVAL, "layer '%s' (linear): bias must be 0 or 1 (got %d)", nm,
                        s->bias);
    CL_TRY(cl_layer_check_keys(l));
    if (in.c < 1 || in.h != 1 || in.w != 1)
        return cl_error(CL_EINVAL,
                        "layer '%s' (linear): needs a vector input {D,1,1}, got {%d,%d,%d} "
                        "(put a flatten or gap layer before it)",
                        nm, in.c, in.h, in.w);
    l->in = in;
    l->out = (cl_shape){s->out, 1, 1};
    l->nparams = (int64_t)s->out * in.c + (s->bias ? s->out : 0);
    l->nbufs = 0;
    return CL_OK;
}

/* PyTorch nn.Linear.reset_parameters: kaiming_uniform_(a = sqrt(5)) gives
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W, and the same bound for b. */
static void linear_init(const cl_layer *l, float *p, float *b, cl_rng *rng)
{
    (void)b;
    double bound = 1.0 / sqrt((double)l->in.c);
    for (int64_t i = 0; i < l->nparams; i++)
        p[i] = (float)((2.0 * cl_rng_uniform(rng) - 1.0) * bound);
}

static int64_t linear_zero(const cl_layer *l, int n) { return 0; }

static int64_t linear_ws(const cl_layer *l, int n)
{
    return cl_linear_ws_floats(n, l->in.c, l->out.c);
}

static void linear_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                           const float *x, float *y, float *saved)
{
    int IN = l->in.c, OUT = l->out.c;
    cl_linear_forward(x, p, l->spec.bias ? p + (int64_t)OUT * IN : NULL, y, r->n, IN, OUT,
                      r->ws);
}

static void linear_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                            const float *y, const float *saved, const float *dy, float *dx,
                            float *dp)
{
    int IN = l->in.c, OUT = l->out.c;
    cl_linear_backward(x, p, dy, dx, dp, l->spec.bias ? dp + (int64_t)OUT * IN : NULL, r->n, IN,
                       OUT, r->ws);
}

static int64_t linear_flops(const cl_layer *l) { return (int64_t)l->in.c * l->out.c; }

const cl_layer_ops cl_linear_ops = {
    .name = "linear",
    .keys = CL_LAYER_KEY_OUT | CL_LAYER_KEY_BIAS | CL_LAYER_KEY_FROZEN | CL_LAYER_KEY_CLASSIFIER,
    .infer = linear_infer,
    .init = linear_init,
    .saved_floats = linear_zero,
    .ws_floats = linear_ws,
    .forward = linear_forward,
    .backward = linear_backward,
    .destroy = NULL,
    .flops = linear_flops,
};
