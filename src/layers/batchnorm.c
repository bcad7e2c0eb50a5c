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
 * undefined) and the output is beta. Eval mode: running statistics.
 *
 * Synchronised BN (--sync-bn, cl_run.comm of a group of more than one
 * process): in train mode the statistics are those of the global batch
 * (Ioffe & Szegedy 2015, eq. in Alg. 1, over every rank's slice): forward
 * sums x and x^2 per channel and the count over the ranks; backward sums
 * dy and dy*(x - mean) per channel, the two batch terms of dx (PyTorch's
 * SyncBatchNorm does the same). dgamma, dbeta stay this rank's share (the
 * data-parallel gradient sum adds them up). An MPI failure inside a layer
 * cannot be returned: it is an assertion (the launcher ends every rank). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "collapse/kernels_blocked.h"
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
/* Sync BN: 2C+1 doubles of sums (as floats, 64-byte rounded). */
static int64_t bn_ws(const cl_layer *l, int n) { return 2 * (2 * (int64_t)l->in.c + 1) + 16; }

static int bn_sync(const cl_run *r) { return r->train && r->comm && cl_comm_size(r->comm) > 1; }

/* Global batch mean and biased variance (sums in double over all ranks);
 * returns the global count M. */
static double bn_sync_stats(const cl_layer *l, const cl_run *r, const float *x, float *mean,
                            float *var)
{
    int C = l->in.c, HW = l->in.h * l->in.w;
    double *acc = (double *)r->ws; /* s [C], ss [C], count */
    for (int c = 0; c < C; c++) {
        double s = 0, ss = 0;
        for (int n = 0; n < r->n; n++) {
            const float *xp = x + ((int64_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                s += xp[i];
                ss += (double)xp[i] * xp[i];
            }
        }
        acc[c] = s;
        acc[C + c] = ss;
    }
    acc[2 * C] = (double)r->n * HW;
    CL_ASSERT(cl_comm_sum_f64(r->comm, acc, 2 * (int64_t)C + 1) == CL_OK);
    double M = acc[2 * C];
    for (int c = 0; c < C; c++) {
        double mu = acc[c] / M, v = acc[C + c] / M - mu * mu;
        mean[c] = (float)mu;
        var[c] = (float)(v > 0 ? v : 0);
    }
    return M;
}

/* Backward with global batch terms: dx = k dy + b (x - mean) + c0 per
 * channel, k = gamma invstd, b = -k invstd^2 sum(dy (x - mean)) / M,
 * c0 = -k sum(dy) / M, the sums and M over all ranks. */
static void bn_sync_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                             const float *saved, const float *dy, float *dx, float *dp)
{
    int C = l->in.c, HW = l->in.h * l->in.w;
    const float *mean = saved, *invstd = saved + C;
    double *acc = (double *)r->ws; /* sum dy [C], sum dy (x - mean) [C], count */
    for (int c = 0; c < C; c++) {
        double s = 0, sx = 0;
        for (int n = 0; n < r->n; n++) {
            int64_t o = ((int64_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                s += dy[o + i];
                sx += (double)dy[o + i] * ((double)x[o + i] - mean[c]);
            }
        }
        dp[C + c] += (float)s;             /* dbeta: this rank's share */
        dp[c] += (float)(sx * invstd[c]); /* dgamma */
        acc[c] = s;
        acc[C + c] = sx;
    }
    acc[2 * C] = (double)r->n * HW;
    CL_ASSERT(cl_comm_sum_f64(r->comm, acc, 2 * (int64_t)C + 1) == CL_OK);
    if (!dx) return;
    double M = acc[2 * C];
    for (int c = 0; c < C; c++) {
        double is = invstd[c], k = p[c] * is;
        float a = (float)k, b = (float)(-k * is * is * acc[C + c] / M), c0 = (float)(-k * acc[c] / M);
        for (int n = 0; n < r->n; n++) {
            int64_t o = ((int64_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) dx[o + i] = a * dy[o + i] + b * (x[o + i] - mean[c]) + c0;
        }
    }
}

/* The statistics half of the forward: fills saved = mean [C], invstd [C]
 * (batch statistics and the running-stat update in train mode, the
 * running statistics in eval mode). */
static void bn_stats_phase(const cl_layer *l, const cl_run *r, float *b, const float *x,
                           float *saved)
{
    int C = l->in.c, HW = l->in.h * l->in.w;
    float *mean = saved, *invstd = saved + C, *rm = b, *rv = b + C;
    double eps = bn_eps(l);
    if (r->train) {
        double mom = bn_momentum(l), M = (double)r->n * HW;
        if (bn_sync(r))
            M = bn_sync_stats(l, r, x, mean, invstd);
        else
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
}

/* The forward: y = act(bn(x) + res). Train mode without synchronised BN
 * runs the statistics, the running-stat update and the apply in one
 * kernel (cl_bn_forward_train: the same bits as bn_stats_phase and
 * cl_bn_apply_act, one parallel region). */
static void bn_forward_act(const cl_layer *l, const cl_run *r, const float *p, float *b,
                           const float *x, const float *res, int relu, float *y, float *saved)
{
    int C = l->in.c, HW = l->in.h * l->in.w;
    if (r->train && !bn_sync(r)) {
        cl_bn_running run = {b, b + C, bn_momentum(l), bn_eps(l)};
        cl_bn_forward_train(x, res, y, p, p + C, &run, relu, r->n, C, HW, saved, saved + C);
        return;
    }
    bn_stats_phase(l, r, b, x, saved);
    cl_bn_apply_act(x, res, y, p, p + C, saved, saved + C, relu, r->n, C, HW);
}

static void bn_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                       const float *x, float *y, float *saved)
{
    bn_forward_act(l, r, p, b, x, NULL, 0, y, saved);
}

static void bn_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                        const float *y, const float *saved, const float *dy, float *dx, float *dp)
{
    int C = l->in.c, HW = l->in.h * l->in.w;
    if (bn_sync(r)) {
        bn_sync_backward(l, r, p, x, saved, dy, dx, dp);
        return;
    }
    cl_bn_backward(x, dy, dx, p, saved, saved + C, r->train, r->n, C, HW, dp, dp + C);
}

void cl_bn_forward_relu(const cl_layer *l, const cl_run *r, const float *p, float *b,
                        const float *x, const float *res, float *y, float *saved)
{
    bn_forward_act(l, r, p, b, x, res, 1, y, saved);
}

void cl_bn_backward_relu_layer(const cl_layer *l, const cl_run *r, const float *p,
                               const float *x, const float *y, const float *saved,
                               const float *dy, float *g, int keep_g, float *dx, float *dp)
{
    int C = l->in.c, HW = l->in.h * l->in.w;
    const float *mean = saved, *invstd = saved + C;
    if (bn_sync(r)) {
        for (int64_t pl = 0; pl < (int64_t)r->n * C; pl++) {
            int c = (int)(pl % C);
            float m = mean[c], k = p[c] * invstd[c], b = p[C + c];
            for (int64_t i = pl * HW; i < (pl + 1) * HW; i++) {
                int on = y ? y[i] > 0.0f : (x[i] - m) * k + b > 0.0f;
                g[i] = on ? dy[i] : 0.0f;
            }
        }
        bn_sync_backward(l, r, p, x, saved, g, dx, dp);
        return;
    }
    if (y)
        cl_bn_backward_relu(x, y, dy, keep_g ? g : NULL, dx, p, mean, invstd, r->train, r->n, C,
                            HW, dp, dp + C);
    else
        cl_bn_backward_relu_x(x, dy, dx, p, p + C, mean, invstd, r->train, r->n, C, HW, dp,
                              dp + C);
}

int cl_bn_sync_on(const cl_run *r) { return bn_sync(r); }

/* The blocked forward: statistics into saved, then (yb not NULL) yb =
 * relu(bn(xb) + res) with parameters p. */
static void bn_forward_blocked(const cl_layer *l, const cl_run *r, const float *p, float *b,
                               const float *xb, const float *res, float *yb, float *saved)
{
    int C = l->in.c, HW = l->in.h * l->in.w;
    CL_ASSERT(!bn_sync(r) && (!yb || p));
    if (r->train) {
        cl_bn_running run = {b, b + C, bn_momentum(l), bn_eps(l)};
        cl_bnb_forward_train(xb, res, yb, p, p ? p + C : NULL, &run, 1, r->n, C, HW, saved,
                             saved + C);
        return;
    }
    bn_stats_phase(l, r, b, NULL, saved); /* eval: the running statistics, x not read */
    if (yb) cl_bnb_apply_act(xb, res, yb, p, p + C, saved, saved + C, 1, r->n, C, HW);
}

void cl_bn_forward_relu_blocked(const cl_layer *l, const cl_run *r, const float *p, float *b,
                                const float *xb, const float *res, float *yb, float *saved)
{
    bn_forward_blocked(l, r, p, b, xb, res, yb, saved);
}

void cl_bn_stats_blocked(const cl_layer *l, const cl_run *r, float *b, const float *xb,
                         float *saved)
{
    bn_forward_blocked(l, r, NULL, b, xb, NULL, NULL, saved);
}

void cl_bn_backward_relu_blocked(const cl_layer *l, const cl_run *r, const float *p,
                                 const float *xb, const float *res, const float *dyb,
                                 const float *saved, float *gb, float *dxb, float *dp)
{
    int C = l->in.c, HW = l->in.h * l->in.w;
    CL_ASSERT(!bn_sync(r));
    cl_bnb_backward_relu(xb, res, NULL, dyb, gb, dxb, p, p + C, saved, saved + C, r->train, r->n,
                         C, HW, dp, dp + C);
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
