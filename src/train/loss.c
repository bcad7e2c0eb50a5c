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
    [CL_LOSS_CLM] = "clm",
    [CL_LOSS_PAL] = "pal",
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
    case CL_LOSS_CLM:
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
    case CL_LOSS_PAL:
        if (v != CL_LOSS_PAL_SUM && v != CL_LOSS_PAL_MEAN)
            return cl_error(CL_EINVAL, "loss '%s': pal weighting must be sum or mean", what);
        return CL_OK;
    default:
        return cl_error(CL_EINVAL, "loss '%s': unknown kind %d", what, (int)c->kind);
    }
}

cl_status cl_loss_parse(const char *s, cl_loss_cfg *cfg)
{
    if (!s || !*s) return cl_error(CL_EINVAL, "loss: empty name (expected ce, mse, mse=SCALE, ls=A, focal=G, clm, pal or pal=mean)");
    const char *eq = strchr(s, '=');
    size_t nlen = eq ? (size_t)(eq - s) : strlen(s);
    cl_loss_cfg c = {.kind = CL_LOSS_KIND_COUNT, .param = 0};
    for (int k = 0; k < CL_LOSS_KIND_COUNT; k++)
        if (strlen(kind_names[k]) == nlen && strncmp(s, kind_names[k], nlen) == 0)
            c.kind = (cl_loss_kind)k;
    if (c.kind == CL_LOSS_KIND_COUNT)
        return cl_error(CL_EINVAL, "loss '%s': unknown (expected ce, mse, mse=SCALE, ls=A, focal=G, clm, pal or "
                                    "pal=mean)",
                        s);
    if (c.kind == CL_LOSS_MSE) c.param = 1.0;
    if (c.kind == CL_LOSS_PAL && eq) {
        if (strcmp(eq + 1, "sum") && strcmp(eq + 1, "mean"))
            return cl_error(CL_EINVAL, "loss '%s': pal takes sum or mean (got '%s')", s, eq + 1);
        c.param = strcmp(eq + 1, "mean") ? CL_LOSS_PAL_SUM : CL_LOSS_PAL_MEAN;
    } else if (eq) {
        if (c.kind == CL_LOSS_CE || c.kind == CL_LOSS_CLM)
            return cl_error(CL_EINVAL, "loss '%s': %s takes no value", s, kind_names[c.kind]);
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
    if (cfg->kind == CL_LOSS_CE || cfg->kind == CL_LOSS_CLM)
        return snprintf(buf, (size_t)cap, "%s", cl_loss_kind_name(cfg->kind));
    if (cfg->kind == CL_LOSS_PAL)
        return snprintf(buf, (size_t)cap, "pal%s",
                        cfg->param == CL_LOSS_PAL_MEAN ? "=mean" : "");
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
    case CL_LOSS_PAL: /* one label: m = 1, both weightings are CE (loss.h) */
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

/* ---- CLM: cumulative link model (loss.h) ---- */

/* log sigmoid(x) = -log(1 + e^-x), without overflow. */
static double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }

static double sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

/* log P(y = q) from the k = K-1 cumulative logits o (Ma, Obuchi & Tanaka
 * 2025, eq. of the cumulative link model): P = sigmoid(o_q) -
 * sigmoid(o_{q-1}) = sigmoid(o_q) sigmoid(-o_{q-1}) (1 - e^{o_{q-1} - o_q}). */
static double clm_log_prob(const float *o, int k, int q)
{
    if (q == 0) return log_sigmoid(o[0]);
    if (q == k) return log_sigmoid(-(double)o[k - 1]);
    double a = o[q], c = o[q - 1];
    if (!(a > c)) return -INFINITY;
    return log_sigmoid(a) + log_sigmoid(-c) + log(-expm1(c - a));
}

/* Per-sample CLM loss of one row o [k] with label y in [0, k]; the gradient
 * (times inv_n) into g [k] if g != NULL; *pred = argmax_q P(y = q). */
static double clm_row(const float *o, int y, int k, float *g, double inv_n, int *pred)
{
    double best = -INFINITY;
    *pred = 0;
    for (int q = 0; q <= k; q++) {
        double lp = clm_log_prob(o, k, q);
        if (lp > best) {
            best = lp;
            *pred = q;
        }
    }
    if (g) {
        for (int j = 0; j < k; j++) g[j] = 0;
        if (y == 0) {
            g[0] = (float)(-sigmoid(-(double)o[0]) * inv_n);
        } else if (y == k) {
            g[k - 1] = (float)(sigmoid(o[k - 1]) * inv_n);
        } else if (o[y] > o[y - 1]) {
            /* d/da = -sigmoid(-a) - 1/expm1(a - c), d/dc = sigmoid(c) + 1/expm1(a - c) */
            double a = o[y], c = o[y - 1], r = 1.0 / expm1(a - c);
            g[y] = (float)((-sigmoid(-a) - r) * inv_n);
            g[y - 1] = (float)((sigmoid(c) + r) * inv_n);
        } /* else P(y) = 0: infinite loss, no gradient */
    }
    return -clm_log_prob(o, k, y);
}

int cl_loss_classes(const cl_loss_cfg *cfg, int k)
{
    return cfg->kind == CL_LOSS_CLM ? k + 1 : k;
}

cl_status cl_loss_compute(const cl_loss_cfg *cfg, const float *logits, const int32_t *labels,
                          int n, int k, double *loss, float *dlogits, int64_t *ncorrect)
{
    const int kmin = cfg->kind == CL_LOSS_CLM ? 1 : 2;
    if (n < 1 || k < kmin)
        return cl_error(CL_EINVAL, "loss %s: need n >= 1 and k >= %d (got n=%d, k=%d)",
                        cl_loss_kind_name(cfg->kind), kmin, n, k);
    CL_TRY(check_param(cfg, cl_loss_kind_name(cfg->kind)));
    const int K = cl_loss_classes(cfg, k); /* classes: labels in [0, K) */
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return cl_error(CL_EINVAL, "loss %s: label %d of sample %d is outside [0, %d)",
                            cl_loss_kind_name(cfg->kind), (int)labels[i], i, K);
    /* Scratch for one row of log-probabilities lives on the stack (no
     * allocation per batch), so K is capped generously. */
    enum { KMAX = 4096 };
    if (k > KMAX && cfg->kind != CL_LOSS_MSE)
        return cl_error(CL_EINVAL, "loss %s: k=%d classes exceeds the supported %d",
                        cl_loss_kind_name(cfg->kind), k, KMAX);
    double lp[KMAX];
    double inv_n = 1.0 / n, sum = 0;
    int64_t correct = 0;
    for (int i = 0; cfg->kind == CL_LOSS_CLM && i < n; i++) {
        int pred;
        sum += clm_row(logits + (int64_t)i * k, labels[i], k,
                       dlogits ? dlogits + (int64_t)i * k : NULL, inv_n, &pred);
        correct += pred == labels[i];
    }
    for (int i = 0; cfg->kind != CL_LOSS_CLM && i < n; i++) {
        const float *z = logits + (int64_t)i * k;
        sum += row_loss(cfg, z, labels[i], k, lp, dlogits ? dlogits + (int64_t)i * k : NULL, inv_n);
        correct += argmax(z, k) == labels[i];
    }
    *loss = sum * inv_n;
    if (ncorrect) *ncorrect = correct;
    return CL_OK;
}

/* ---- PAL on K-hot targets (loss.h; Li, Wang, Li & Qu, ICML 2024) ---- */

/* The scratch of one row lives on the stack: K is capped. */
enum { KHOT_KMAX = 4096 };

/* pred [k] = the top-m set of z [k]: the m largest, ties to the lower index. */
static void topm(const float *z, int k, int m, uint8_t *pred)
{
    for (int j = 0; j < k; j++) pred[j] = 0;
    for (int r = 0; r < m && r < k; r++) {
        int best = -1;
        for (int j = 0; j < k; j++)
            if (!pred[j] && (best < 0 || z[j] > z[best])) best = j;
        pred[best] = 1;
    }
}

int64_t cl_loss_topm_score(const float *logits, const uint8_t *yk, int n, int k, int64_t *tp,
                           int64_t *fp, int64_t *fn)
{
    CL_ASSERT(k >= 1 && k <= KHOT_KMAX);
    uint8_t pred[KHOT_KMAX];
    int64_t exact = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *t = yk + (int64_t)i * k;
        int m = 0, same = 1;
        for (int j = 0; j < k; j++) m += t[j] != 0;
        topm(logits + (int64_t)i * k, k, m, pred);
        for (int j = 0; j < k; j++) {
            int a = t[j] != 0, b = pred[j];
            same &= a == b;
            if (tp) tp[j] += a && b;
            if (fp) fp[j] += !a && b;
            if (fn) fn[j] += a && !b;
        }
        exact += same;
    }
    return exact;
}

double cl_loss_f1(const int64_t *tp, const int64_t *fp, const int64_t *fn, int k, double *f1)
{
    double sum = 0;
    int defined = 0;
    for (int j = 0; j < k; j++) {
        int64_t den = 2 * tp[j] + fp[j] + fn[j];
        double v = den > 0 ? 2.0 * (double)tp[j] / (double)den : NAN;
        if (f1) f1[j] = v;
        if (den > 0) {
            sum += v;
            defined++;
        }
    }
    return defined ? sum / defined : NAN;
}

cl_status cl_loss_compute_khot(const cl_loss_cfg *cfg, const float *logits, const uint8_t *yk,
                               int n, int k, double *loss, float *dlogits, int64_t *ncorrect)
{
    if (cfg->kind != CL_LOSS_PAL)
        return cl_error(CL_EINVAL, "--loss %s cannot train on multi-label (K-hot) data; use "
                                   "--loss pal or pal=mean", cl_loss_kind_name(cfg->kind));
    CL_TRY(check_param(cfg, "pal"));
    if (n < 1 || k < 2 || k > KHOT_KMAX)
        return cl_error(CL_EINVAL, "loss pal: need n >= 1 and 2 <= k <= %d (got n=%d, k=%d)",
                        KHOT_KMAX, n, k);
    for (int64_t i = 0; i < (int64_t)n * k; i++)
        if (yk[i] > 1)
            return cl_error(CL_EINVAL, "loss pal: sample %lld has a K-hot value %d (not 0/1)",
                            (long long)(i / k), (int)yk[i]);
    double lp[KHOT_KMAX];
    double inv_n = 1.0 / n, sum = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (int64_t)i * k;
        const uint8_t *t = yk + (int64_t)i * k;
        int m = 0;
        for (int j = 0; j < k; j++) m += t[j];
        if (m == 0) return cl_error(CL_EINVAL, "loss pal: sample %d has no label", i);
        /* sum: -sum_S log p_l, d = m p - yk; mean: both divided by m */
        double w = cfg->param == CL_LOSS_PAL_MEAN ? 1.0 / m : 1.0, l = 0;
        log_softmax(z, k, lp);
        for (int j = 0; j < k; j++)
            if (t[j]) l -= lp[j];
        sum += w * l;
        if (dlogits)
            for (int j = 0; j < k; j++)
                dlogits[(int64_t)i * k + j] = (float)(w * (m * exp(lp[j]) - t[j]) * inv_n);
    }
    *loss = sum * inv_n;
    if (ncorrect) *ncorrect = cl_loss_topm_score(logits, yk, n, k, NULL, NULL, NULL);
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
