/* Cumulative-link thresholds for ordinal regression (Ma, Obuchi & Tanaka,
 * arXiv 2506.05801): the latent z [N, 1] (a 1-unit linear head without bias:
 * a bias would shift every threshold at once and is confounded with them)
 * -> o [N, T] with o_q = b_q - z, T = K-1 thresholds, so that
 * P(y <= q) = sigmoid(o_q) (the loss `clm`, loss.h, turns o into class
 * probabilities).
 *
 * Params p [T]: p[0] = b_0 and raw gaps r_q (q >= 1) with
 * b_q = b_{q-1} + softplus(r_q): learned thresholds stay strictly increasing
 * whatever the optimizer does. Fixed thresholds are the same parameters
 * with spec.frozen = 1. */
#include <math.h>

#include "layers.h"

/* log(1 + e^r) without overflow. */
static double softplus(double r) { return r > 0 ? r + log1p(exp(-r)) : log1p(exp(r)); }

static double sigmoid(double r)
{
    return r >= 0 ? 1.0 / (1.0 + exp(-r)) : exp(r) / (1.0 + exp(r));
}

void cl_cumlink_thresholds(const float *p, int nthr, double *b)
{
    CL_ASSERT(nthr >= 1);
    b[0] = p[0];
    for (int q = 1; q < nthr; q++) b[q] = b[q - 1] + softplus(p[q]);
}

void cl_cumlink_set_even(float *p, int nthr, double spacing)
{
    CL_ASSERT(nthr >= 1 && spacing > 0);
    p[0] = (float)(-0.5 * (nthr - 1) * spacing);
    /* softplus^-1(s) = log(e^s - 1) = s + log(1 - e^-s), stable for any s > 0 */
    float r = (float)(spacing + log(-expm1(-spacing)));
    for (int q = 1; q < nthr; q++) p[q] = r;
}

static cl_status cumlink_infer(cl_layer *l, cl_shape in)
{
    const cl_layer_spec *s = &l->spec;
    const char *nm = s->name[0] ? s->name : "(unnamed)";
    CL_TRY(cl_layer_check_keys(l));
    if (s->out < 1)
        return cl_error(CL_EINVAL,
                        "layer '%s' (cumlink): out = K-1 thresholds must be >= 1 (got %d)", nm,
                        s->out);
    if (in.c != 1 || in.h != 1 || in.w != 1)
        return cl_error(CL_EINVAL,
                        "layer '%s' (cumlink): needs the 1-unit latent {1,1,1} of a linear "
                        "layer with out = 1, got {%d,%d,%d}",
                        nm, in.c, in.h, in.w);
    l->in = in;
    l->out = (cl_shape){s->out, 1, 1};
    l->nparams = s->out;
    l->nbufs = 0;
    return CL_OK;
}

static void cumlink_init(const cl_layer *l, float *p, float *b, cl_rng *rng)
{
    (void)b;
    (void)rng;
    cl_cumlink_set_even(p, l->out.c, CL_CUMLINK_SPACING);
}

static int64_t cumlink_zero(const cl_layer *l, int n) { return 0; }

static void cumlink_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                            const float *x, float *y, float *saved)
{
    const int T = l->out.c;
    /* thresholds decoded in double as in cl_cumlink_thresholds (T per
     * sample, the cost of writing the output anyway) */
    for (int i = 0; i < r->n; i++) {
        float *o = y + (int64_t)i * T;
        double bq = p[0];
        for (int q = 0; q < T; q++) {
            if (q) bq += softplus(p[q]);
            o[q] = (float)(bq - (double)x[i]);
        }
    }
}

/* dx_i = -sum_q dy_iq; with G_q = sum_i dy_iq = dL/db_q:
 * dL/dp_0 = sum_q G_q, dL/dr_j = sigmoid(r_j) sum_{q >= j} G_q. */
static void cumlink_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                             const float *y, const float *saved, const float *dy, float *dx,
                             float *dp)
{
    const int T = l->out.c;
    for (int i = 0; i < r->n; i++) {
        double s = 0;
        for (int q = 0; q < T; q++) s += dy[(int64_t)i * T + q];
        if (dx) dx[i] = (float)-s;
    }
    double tail = 0; /* sum_{q >= j} G_q, from the top */
    for (int j = T - 1; j >= 0; j--) {
        double g = 0;
        for (int i = 0; i < r->n; i++) g += dy[(int64_t)i * T + j];
        tail += g;
        dp[j] += (float)(j ? sigmoid(p[j]) * tail : tail);
    }
}

static int64_t cumlink_flops(const cl_layer *l) { return l->out.c; }

const cl_layer_ops cl_cumlink_ops = {
    .name = "cumlink",
    .keys = CL_LAYER_KEY_OUT | CL_LAYER_KEY_FROZEN,
    .infer = cumlink_infer,
    .init = cumlink_init,
    .saved_floats = cumlink_zero,
    .ws_floats = cumlink_zero,
    .forward = cumlink_forward,
    .backward = cumlink_backward,
    .destroy = NULL,
    .flops = cumlink_flops,
};
