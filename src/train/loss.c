/* Classification losses: mean over the batch, gradient of the mean. */
#include "collapse/loss.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[CL_LOSS_KIND_COUNT] = {
    [CL_LOSS_CE] = "ce",
    [CL_LOSS_MSE] = "mse",
    [CL_LOSS_LS] = "ls",
    [CL_LOSS_FOCAL] = "focal",
};

const char *cl_loss_kind_name(cl_loss_kind k)
{
    return (k >= 0 && k < CL_LOSS_KIND_COUNT) ? kind_names[k] : "?";
}

static cl_status check_param(const cl_loss_cfg *c, const char *what)
{
    double v = c->param;
    switch (c->kind) {
    case CL_LOSS_CE:
        return CL_OK;
    case CL_LOSS_MSE:
        if (!(isfinite(v) && v > 0))
            return cl_error(CL_EINVAL, "loss '%s': mse scale must be > 0 (got %g)", what, v);
        return CL_OK;
    case CL_LOSS_LS:
        if (!(v >= 0 && v <= 1))
            return cl_error(CL_EINVAL, "loss '%s': label smoothing must be in [0, 1] (got %g)",
                            what, v);
        return CL_OK;
    case CL_LOSS_FOCAL:
        if (!(isfinite(v) && v >= 0))
            return cl_error(CL_EINVAL, "loss '%s': focal gamma must be >= 0 (got %g)", what, v);
        return CL_OK;
    default:
        return cl_error(CL_EINVAL, "loss '%s': unknown kind %d", what, (int)c->kind);
    }
}

cl_status cl_loss_parse(const char *s, cl_loss_cfg *cfg)
{
    if (!s || !*s) return cl_error(CL_EINVAL, "loss: empty name (expected ce, mse, mse=SCALE, ls=A or focal=G)");
    const char *eq = strchr(s, '=');
    size_t nlen = eq ? (size_t)(eq - s) : strlen(s);
    cl_loss_cfg c = {.kind = CL_LOSS_KIND_COUNT, .param = 0};
    for (int k = 0; k < CL_LOSS_KIND_COUNT; k++)
        if (strlen(kind_names[k]) == nlen && strncmp(s, kind_names[k], nlen) == 0)
            c.kind = (cl_loss_kind)k;
    if (c.kind == CL_LOSS_KIND_COUNT)
        return cl_error(CL_EINVAL, "loss '%s': unknown (expected ce, mse, mse=SCALE, ls=A or focal=G)",
                        s);
    if (c.kind == CL_LOSS_MSE) c.param = 1.0;
    if (eq) {
        if (c.kind == CL_LOSS_CE) return cl_error(CL_EINVAL, "loss '%s': ce takes no value", s);
        char *end = NULL;
        errno = 0;
        c.param = strtod(eq + 1, &end);
        if (end == eq + 1 || *end != '\0' || errno == ERANGE)
            return cl_error(CL_EINVAL, "loss '%s': '%s' is not a number", s, eq + 1);
    } else if (c.kind == CL_LOSS_LS || c.kind == CL_LOSS_FOCAL) {
        return cl_error(CL_EINVAL, "loss '%s': needs a value (%s=%s)", s, kind_names[c.kind],
                        c.kind == CL_LOSS_LS ? "A" : "G");
    }
    CL_TRY(check_param(&c, s));
    *cfg = c;
    return CL_OK;
}

int cl_loss_format(const cl_loss_cfg *cfg, char *buf, int cap)
{
    if (cfg->kind == CL_LOSS_CE) return snprintf(buf, (size_t)cap, "ce");
    return snprintf(buf, (size_t)cap, "%s=%.17g", cl_loss_kind_name(cfg->kind), cfg->param);
}

/* Index of the first maximum of z [k]. */
static int argmax(const float *z, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (z[j] > z[best]) best = j;
    return best;
}

/* log-softmax of one row: lp[j] = z[j] - max - log(sum exp(z - max)). */
static void log_softmax(const float *z, int k, double *lp)
{
    double mx = z[0];
    for (int j = 1; j < k; j++)
        if (z[j] > mx) mx = z[j];
    double s = 0;
    for (int j = 0; j < k; j++) s += exp((double)z[j] - mx);
    double lse = mx + log(s);
    for (int j = 0; j < k; j++) lp[j] = (double)z[j] - lse;
}

/* Per-sample loss of one row; writes the per-sample gradient (not yet
 * divided by n) into g [k] if g != NULL. lp is scratch [k]. */
static double row_loss(const cl_loss_cfg *c, const float *z, int y, int k, double *lp,
                       float *g, double inv_n)
{
    double loss = 0;
    switch (c->kind) {
    case CL_LOSS_MSE: {
        double M = c->param;
        for (int j = 0; j < k; j++) {
            double d = (double)z[j] - (j == y ? M : 0.0);
            loss += d * d;
            if (g) g[j] = (float)(2.0 * d * inv_n);
        }
        return loss;
    }
    case CL_LOSS_CE:
    case CL_LOSS_LS: {
        double a = c->kind == CL_LOSS_LS ? c->param : 0.0;
        log_softmax(z, k, lp);
        double sum_lp = 0;
        for (int j = 0; j < k; j++) sum_lp += lp[j];
        loss = -(1.0 - a) * lp[y] - a / k * sum_lp;
        if (g)
            for (int j = 0; j < k; j++) {
                double q = a / k + (j == y ? 1.0 - a : 0.0);
                g[j] = (float)((exp(lp[j]) - q) * inv_n);
            }
        return loss;
    }
    case CL_LOSS_FOCAL: {
        double gm = c->param;
        log_softmax(z, k, lp);
        /* 1 - p_y as the sum of the other probabilities: exact when p_y ~ 1. */
        double q = 0;
        for (int j = 0; j < k; j++)
            if (j != y) q += exp(lp[j]);
        double lpy = lp[y], py = exp(lpy);
        double qg = gm == 0 ? 1.0 : pow(q, gm);
        loss = -qg * lpy;
        if (g) {
            /* dL/dz_j = (gm q^(gm-1) p_y log p_y - q^gm) (delta_jy - p_j);
             * q^(gm-1) p_y log p_y -> 0 as q -> 0 for gm > 0. */
            double t1 = (gm == 0 || q <= 0) ? 0.0 : gm * pow(q, gm - 1.0) * py * lpy;
            double coef = t1 - qg;
            for (int j = 0; j < k; j++) {
                double dj = (j == y ? 1.0 : 0.0) - exp(lp[j]);
                g[j] = (float)(coef * dj * inv_n);
            }
        }
        return loss;
    }
    default:
        CL_ASSERT(0);
        return 0;
    }
}

cl_status cl_loss_compute(const cl_loss_cfg *cfg, const float *logits, const int32_t *labels,
                          int n, int k, double *loss, float *dlogits, int64_t *ncorrect)
{
    if (n < 1 || k < 2)
        return cl_error(CL_EINVAL, "loss %s: need n >= 1 and k >= 2 (got n=%d, k=%d)",
                        cl_loss_kind_name(cfg->kind), n, k);
    CL_TRY(check_param(cfg, cl_loss_kind_name(cfg->kind)));
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return cl_error(CL_EINVAL, "loss %s: label %d of sample %d is outside [0, %d)",
                            cl_loss_kind_name(cfg->kind), (int)labels[i], i, k);
    /* Scratch for one row of log-probabilities lives on the stack (no
     * allocation per batch), so K is capped generously. */
    enum { KMAX = 4096 };
    if (k > KMAX && cfg->kind != CL_LOSS_MSE)
        return cl_error(CL_EINVAL, "loss %s: k=%d classes exceeds the supported %d",
                        cl_loss_kind_name(cfg->kind), k, KMAX);
    double lp[KMAX];
    double inv_n = 1.0 / n, sum = 0;
    int64_t correct = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (int64_t)i * k;
        sum += row_loss(cfg, z, labels[i], k, lp, dlogits ? dlogits + (int64_t)i * k : NULL, inv_n);
        correct += argmax(z, k) == labels[i];
    }
    *loss = sum * inv_n;
    if (ncorrect) *ncorrect = correct;
    return CL_OK;
}

/* Regression loss: (1/n) sum_i (1/2) sum_j (p_ij - t_ij)^2 (double sums). */
cl_status cl_loss_regress(const float *pred, const float *t, int n, int m, double *loss,
                          float *dpred, double *sse)
{
    if (n < 1 || m < 1)
        return cl_error(CL_EINVAL, "regression loss: need n >= 1 and m >= 1 (got n=%d, m=%d)",
                        n, m);
    double sum = 0, inv_n = 1.0 / n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double e = (double)pred[(int64_t)i * m + j] - t[(int64_t)i * m + j];
            sum += 0.5 * e * e;
            if (sse) sse[j] += e * e;
            if (dpred) dpred[(int64_t)i * m + j] = (float)(e * inv_n);
        }
    *loss = sum * inv_n;
    return CL_OK;
}
