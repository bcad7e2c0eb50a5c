/* Batch normalisation over channels: BatchNorm1d on {C,1,1}, BatchNorm2d on
 * {C,H,W} (statistics over N*H*W values per channel).
 * Params: gamma [C], beta [C]. Bufs: running_mean [C], running_var [C].
 * Saved for backward: mean [C], invstd [C] of the forward that ran (batch
 * statistics in train mode, running statistics in eval mode).
 *
 * Train mode (PyTorch semantics): normalise with the batch mean and the
 * BIASED batch variance; update running_mean = (1-m)*running_mean + m*mean
 * and running_var = (1-m)*running_var + m*var*M/(M-1) (the UNBIASED
 * variance), M = N*H*W. PyTorch refuses M = 1 in train mode; here the
 * running variance is then left unchanged (the unbiased variance is
 * undefined) and the output is beta. Eval mode: running statistics. */
#include <math.h>

#include "collapse/kernels_dense.h"
#include "layers.h"

static double bn_eps(const cl_layer *l) { return l->spec.eps == 0 ? 1e-5 : l->spec.eps; }
static double bn_momentum(const cl_layer *l)
{
    return l->spec.momentum == 0 ? 0.1 : l->spec.momentum;
}

static cl_status bn_infer(cl_layer *l, cl_shape in)
{
    const cl_layer_spec *s = &l->spec;
    const char *nm = s->name[0] ? s->name : "(unnamed)";
    CL_TRY(cl_layer_check_keys(l));
    /* 0 selects the default (bn_eps, bn_momentum), so 0 is accepted */
    if (!(isfinite(s->eps) && s->eps >= 0))
        return cl_error(CL_EINVAL, "layer '%s' (batchnorm): eps must be >= 0 (0 = 1e-5; got %g)",
                        nm, (double)s->eps);
    if (!(s->momentum >= 0 && s->momentum <= 1))
        return cl_error(CL_EINVAL,
                        "layer '%s' (batchnorm): momentum must be in [0, 1] (0 = 0.1; got %g)", nm,
                        (double)s->momentum);
    if (in.c < 1 || in.h < 1 || in.w < 1)
        return cl_error(CL_EINVAL, "layer '%s' (batchnorm): bad input shape {%d,%d,%d}", nm, in.c,
                        in.h, in.w);
    l->in = in;
    l->out = in;
    l->nparams = 2 * (int64_t)in.c;
    l->nbufs = 2 * (int64_t)in.c;
    return CL_OK;
}

static void bn_init(const cl_layer *l, float *p, float *b, cl_rng *rng)
{
    (void)rng;
    int C = l->in.c;
    for (int c = 0; c < C; c++) {
        p[c] = 1.0f;     /* gamma */
        p[C + c] = 0.0f; /* beta */
        b[c] = 0.0f;     /* running mean */
        b[C + c] = 1.0f; /* running var */
    }
}

static int64_t bn_saved(const cl_layer *l, int n) { return 2 * (int64_t)l->in.c; }
static int64_t bn_ws(const cl_layer *l, int n) { return 0; }

static void bn_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                       const float *x, float *y, float *saved)
{
    int C = l->in.c, HW = l->in.h * l->in.w;
    float *mean = saved, *invstd = saved + C, *rm = b, *rv = b + C;
    double eps = bn_eps(l);
    if (r->train) {
        double mom = bn_momentum(l), M = (double)r->n * HW;
        cl_bn_stats(x, r->n, C, HW, mean, invstd); /* invstd holds var for now */
        for (int c = 0; c < C; c++) {
            double var = invstd[c];
            rm[c] = (float)((1 - mom) * rm[c] + mom * mean[c]);
            if (M > 1) rv[c] = (float)((1 - mom) * rv[c] + mom * var * M / (M - 1));
            invstd[c] = (float)(1.0 / sqrt(var + eps));
        }
    } else {
        for (int c = 0; c < C; c++) {
            mean[c] = rm[c];
            invstd[c] = (float)(1.0 / sqrt((double)rv[c] + eps));
        }
    }
    cl_bn_apply(x, y, p, p + C, mean, invstd, r->n, C, HW);
}

static void bn_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                        const float *y, const float *saved, const float *dy, float *dx, float *dp)
{
    int C = l->in.c, HW = l->in.h * l->in.w;
    cl_bn_backward(x, dy, dx, p, saved, saved + C, r->train, r->n, C, HW, dp, dp + C);
}

static int64_t bn_flops(const cl_layer *l) { return cl_shape_size(l->in); }

const cl_layer_ops cl_batchnorm_ops = {
    .name = "batchnorm",
    .prefix = "bn",
    .keys = CL_LAYER_KEY_EPS | CL_LAYER_KEY_MOMENTUM | CL_LAYER_KEY_FROZEN | CL_LAYER_KEY_CLASSIFIER,
    .infer = bn_infer,
    .init = bn_init,
    .saved_floats = bn_saved,
    .ws_floats = bn_ws,
    .forward = bn_forward,
    .backward = bn_backward,
    .destroy = NULL,
    .flops = bn_flops,
};
