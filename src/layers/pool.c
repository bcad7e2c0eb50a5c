/* Pooling layers, no params and no saved state:
 *   maxpool  k x k windows, stride (0 = k), zero-free padding pad <= k/2
 *            (padding is -inf, as PyTorch); backward recomputes the argmax
 *            from x.
 *   avgpool  same windows, count_include_pad = true (PyTorch's default).
 *   gap      global average pool {C,H,W} -> {C,1,1}. */
#include <limits.h>

#include "collapse/kernels_conv.h"
#include "layers.h"

static int pool_stride(const cl_layer *l) { return l->spec.stride ? l->spec.stride : l->spec.k; }

static cl_status pool_infer(cl_layer *l, cl_shape in)
{
    const cl_layer_spec *s = &l->spec;
    const char *nm = s->name[0] ? s->name : "(unnamed)";
    const char *kind = cl_layer_kind_name(s->kind);
    CL_TRY(cl_layer_check_keys(l));
    if (s->k < 1)
        return cl_error(CL_EINVAL, "layer '%s' (%s): k must be >= 1 (got %d)", nm, kind, s->k);
    if (s->stride < 0 || s->pad < 0)
        return cl_error(CL_EINVAL, "layer '%s' (%s): stride (%d) and pad (%d) must be >= 0", nm,
                        kind, s->stride, s->pad);
    if (s->pad > s->k / 2)
        return cl_error(CL_EINVAL, "layer '%s' (%s): pad %d is more than half the kernel %d", nm,
                        kind, s->pad, s->k);
    if (in.c < 1 || in.h < 1 || in.w < 1)
        return cl_error(CL_EINVAL, "layer '%s' (%s): bad input shape {%d,%d,%d}", nm, kind, in.c,
                        in.h, in.w);
    int64_t ph = (int64_t)in.h + 2 * (int64_t)s->pad, pw = (int64_t)in.w + 2 * (int64_t)s->pad;
    if (s->k > ph || s->k > pw)
        return cl_error(CL_EINVAL,
                        "layer '%s' (%s): kernel %d is larger than the padded input %lldx%lld", nm,
                        kind, s->k, (long long)ph, (long long)pw);
    if (cl_shape_size(in) > ((int64_t)1 << 30))
        return cl_error(CL_EINVAL, "layer '%s' (%s): input {%d,%d,%d} is too large", nm, kind,
                        in.c, in.h, in.w);
    int st = pool_stride(l);
    l->out = (cl_shape){in.c, (int)((ph - s->k) / st + 1), (int)((pw - s->k) / st + 1)};
    l->nparams = 0;
    l->nbufs = 0;
    return CL_OK;
}

static void pool_init(const cl_layer *l, float *p, float *b, cl_rng *rng) {}
static int64_t pool_zero(const cl_layer *l, int n) { return 0; }

static int64_t pool_flops(const cl_layer *l)
{
    return cl_shape_size(l->out) * l->spec.k * l->spec.k;
}

#define POOL_ARGS                                                                         \
    (int64_t) r->n *l->in.c, l->in.h, l->in.w, l->spec.k, pool_stride(l), l->spec.pad,    \
        l->out.h, l->out.w

static void maxpool_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                            const float *x, float *y, float *saved)
{
    cl_maxpool_forward(x, y, POOL_ARGS);
}

static void maxpool_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                             const float *y, const float *saved, const float *dy, float *dx,
                             float *dp)
{
    if (dx) cl_maxpool_backward(x, dy, dx, POOL_ARGS);
}

static void avgpool_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                            const float *x, float *y, float *saved)
{
    cl_avgpool_forward(x, y, POOL_ARGS);
}

static void avgpool_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                             const float *y, const float *saved, const float *dy, float *dx,
                             float *dp)
{
    if (dx) cl_avgpool_backward(dy, dx, POOL_ARGS);
}

const cl_layer_ops cl_maxpool_ops = {
    .name = "maxpool",
    .keys = CL_LAYER_KEY_K | CL_LAYER_KEY_STRIDE | CL_LAYER_KEY_PAD,
    .infer = pool_infer,
    .init = pool_init,
    .saved_floats = pool_zero,
    .ws_floats = pool_zero,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .destroy = NULL,
    .flops = pool_flops,
};

const cl_layer_ops cl_avgpool_ops = {
    .name = "avgpool",
    .keys = CL_LAYER_KEY_K | CL_LAYER_KEY_STRIDE | CL_LAYER_KEY_PAD,
    .infer = pool_infer,
    .init = pool_init,
    .saved_floats = pool_zero,
    .ws_floats = pool_zero,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .destroy = NULL,
    .flops = pool_flops,
};

/* ---- global average pool ---- */

static cl_status gap_infer(cl_layer *l, cl_shape in)
{
    const cl_layer_spec *s = &l->spec;
    const char *nm = s->name[0] ? s->name : "(unnamed)";
    CL_TRY(cl_layer_check_keys(l));
    if (in.c < 1 || in.h < 1 || in.w < 1)
        return cl_error(CL_EINVAL, "layer '%s' (gap): bad input shape {%d,%d,%d}", nm, in.c,
                        in.h, in.w);
    if (cl_shape_size(in) > ((int64_t)1 << 30))
        return cl_error(CL_EINVAL, "layer '%s' (gap): input {%d,%d,%d} is too large", nm, in.c,
                        in.h, in.w);
    l->out = (cl_shape){in.c, 1, 1};
    l->nparams = 0;
    l->nbufs = 0;
    return CL_OK;
}

static void gap_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                        const float *x, float *y, float *saved)
{
    cl_gap_forward(x, y, (int64_t)r->n * l->in.c, l->in.h * l->in.w);
}

static void gap_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                         const float *y, const float *saved, const float *dy, float *dx,
                         float *dp)
{
    if (dx) cl_gap_backward(dy, dx, (int64_t)r->n * l->in.c, l->in.h * l->in.w);
}

static int64_t gap_flops(const cl_layer *l) { return cl_shape_size(l->in); }

const cl_layer_ops cl_gap_ops = {
    .name = "gap",
    .keys = 0,
    .infer = gap_infer,
    .init = pool_init,
    .saved_floats = pool_zero,
    .ws_floats = pool_zero,
    .forward = gap_forward,
    .backward = gap_backward,
    .destroy = NULL,
    .flops = gap_flops,
};
