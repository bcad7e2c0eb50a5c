/* ReLU: y = max(x, 0) elementwise, any shape. No params, no saved state:
 * backward reads the forward output y (dx = dy where y > 0). */
#include "collapse/kernels_dense.h"
#include "layers.h"

static cl_status relu_infer(cl_layer *l, cl_shape in)
{
    const cl_layer_spec *s = &l->spec;
    const char *nm = s->name[0] ? s->name : "(unnamed)";
    CL_TRY(cl_layer_check_keys(l));
    if (in.c < 1 || in.h < 1 || in.w < 1)
        return cl_error(CL_EINVAL, "layer '%s' (relu): bad input shape {%d,%d,%d}", nm, in.c,
                        in.h, in.w);
    l->in = in;
    l->out = in;
    l->nparams = 0;
    l->nbufs = 0;
    return CL_OK;
}

static void relu_init(const cl_layer *l, float *p, float *b, cl_rng *rng) {}
static int64_t relu_zero(const cl_layer *l, int n) { return 0; }

static void relu_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                         const float *x, float *y, float *saved)
{
    cl_relu_forward(x, y, (int64_t)r->n * cl_shape_size(l->in));
}

static void relu_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                          const float *y, const float *saved, const float *dy, float *dx,
                          float *dp)
{
    if (dx) cl_relu_backward(y, dy, dx, (int64_t)r->n * cl_shape_size(l->in));
}

static int64_t relu_flops(const cl_layer *l) { return 0; }

const cl_layer_ops cl_relu_ops = {
    .name = "relu",
    .keys = 0,
    .infer = relu_infer,
    .init = relu_init,
    .saved_floats = relu_zero,
    .ws_floats = relu_zero,
    .forward = relu_forward,
    .backward = relu_backward,
    .destroy = NULL,
    .flops = relu_flops,
};
