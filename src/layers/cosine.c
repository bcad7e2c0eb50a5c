/* Cosine classifier layer (Jiang, Zhou et al. ICML 2024, generalized neural
 * collapse): y = T <x/|x|, w_o/|w_o|> on vector activations {IN,1,1} ->
 * {OUT,1,1}, no bias. Params: W [OUT, IN] (the linear layout, so the study
 * and `collapse features` read the classifier rows the same way). The
 * temperature T is a fixed hyper-parameter (spec.temperature > 0), not
 * trained. Saved for backward: the clamped norms |x_n| [n] and |w_o| [OUT]. */
#include <math.h>

#include "collapse/kernels_dense.h"
#include "layers.h"

static cl_status cosine_infer(cl_layer *l, cl_shape in)
{
    cl_layer_spec *s = &l->spec;
    const char *nm = s->name[0] ? s->name : "(unnamed)";
    CL_TRY(cl_layer_check_keys(l)); /* keys the kind does not use first */
    if (s->out < 1)
        return cl_error(CL_EINVAL, "layer '%s' (cosine): out must be >= 1 (got %d)", nm,
                        s->out);
    if (!(s->temperature > 0) || !isfinite(s->temperature))
        return cl_error(CL_EINVAL,
                        "layer '%s' (cosine): temperature must be > 0 (got %g)", nm,
                        (double)s->temperature);
    if (in.c < 1 || in.h != 1 || in.w != 1)
        return cl_error(
            CL_EINVAL,
            "layer '%s' (cosine): needs a vector input {D,1,1}, got {%d,%d,%d} "
            "(put a flatten or gap layer before it)",
            nm, in.c, in.h, in.w);
    s->bias = 0; /* never a bias: readers of the classifier see only W */
    l->in = in;
    l->out = (cl_shape){s->out, 1, 1};
    l->nparams = (int64_t)s->out * in.c;
    l->nbufs = 0;
    return CL_OK;
}

/* As nn.Linear's weight: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
static void cosine_init(const cl_layer *l, float *p, float *b, cl_rng *rng)
{
    (void)b;
    double bound = 1.0 / sqrt((double)l->in.c);
    for (int64_t i = 0; i < l->nparams; i++)
        p[i] = (float)((2.0 * cl_rng_uniform(rng) - 1.0) * bound);
}

static int64_t cosine_saved(const cl_layer *l, int n)
{
    return (int64_t)n + l->out.c;
}
static int64_t cosine_ws(const cl_layer *l, int n)
{
    return (int64_t)n * l->out.c;
}

static void cosine_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                           const float *x, float *y, float *saved)
{
    cl_cosine_forward(x, p, l->spec.temperature, y, saved, saved + r->n, r->n, l->in.c,
                      l->out.c);
}

static void cosine_backward(const cl_layer *l, const cl_run *r, const float *p,
                            const float *x, const float *y, const float *saved,
                            const float *dy, float *dx, float *dp)
{
    cl_cosine_backward(x, p, l->spec.temperature, y, saved, saved + r->n, dy, dx, dp,
                       r->ws, r->n, l->in.c, l->out.c);
}

static int64_t cosine_flops(const cl_layer *l)
{
    return (int64_t)l->in.c * l->out.c;
}

const cl_layer_ops cl_cosine_ops = {
    .name = "cosine",
    .keys = CL_LAYER_KEY_OUT | CL_LAYER_KEY_TEMPERATURE | CL_LAYER_KEY_BIAS |
            CL_LAYER_KEY_FROZEN | CL_LAYER_KEY_CLASSIFIER,
    .infer = cosine_infer,
    .init = cosine_init,
    .saved_floats = cosine_saved,
    .ws_floats = cosine_ws,
    .forward = cosine_forward,
    .backward = cosine_backward,
    .destroy = NULL,
    .flops = cosine_flops,
};
