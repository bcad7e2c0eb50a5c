/* Closed-form global optima of the balanced UFM (derivations: docs/THEORY.md). */
#include <math.h>

#include "internal.h"

const char *cl_ufm_cf_name(int kind)
{
    static const char *names[] = {"none", "ce", "mse_no_bias", "mse_free_bias"};
    return kind >= 0 && kind <= 3 ? names[kind] : "none";
}

/* CE, d >= K-1, LB = 0 (Zhu et al. 2021, Thm. 3.1; the scalar problem
 * solved in closed form): beta = sqrt(n LW LH), m* = ln(1/beta - (K-1)),
 * ||w||^2 = ((K-1)/K) sqrt(n LH/LW) m*, h_ki = sqrt(LW/(n LH)) w_k,
 * objective ln(1 + (K-1) e^{-m*}) + (K-1) beta m*; beta >= 1/K: W = H = 0. */
static void ce(const cl_ufm_config *c, double n, cl_ufm_cf *cf)
{
    int K = c->K;
    double beta = sqrt(n * c->wd_w * c->wd_h);
    cf->kind = 1;
    cf->bias = 0; /* b - mean(b) */
    if (beta >= 1.0 / K) {
        cf->objective = log((double)K);
        cf->norm_w = cf->norm_h = cf->margin = cf->s = 0;
        return;
    }
    double m = log(1 / beta - (K - 1));
    double w2 = (K - 1.0) / K * sqrt(n * c->wd_h / c->wd_w) * m;
    cf->norm_w = sqrt(w2);
    cf->norm_h = sqrt(c->wd_w / (n * c->wd_h)) * cf->norm_w;
    cf->margin = m;
    cf->objective = log(1 + (K - 1) * exp(-m)) + (K - 1) * beta * m;
    cf->s = w2 * K / (K - 1.0); /* W W^T = s (I - 11^T/K) */
}

/* MSE (Zhou et al. 2022; Tirer & Bruna 2022): H = (W^T W + N LH I)^{-1}
 * W^T (Y - b 1^T) and the singular values sqrt(n) of the (centred) target
 * give W W^T = s G0 with s = sqrt(LH/LW) (sqrt(n) - N sqrt(LW LH)), where
 * G0 = I (no bias) or I - 11^T/K (free bias, b = 1/K); s <= 0: W = H = 0.
 * The free-bias optimum is (1 - 1/K) times the bias-free one. */
static void mse(const cl_ufm_config *c, double n, int free_bias, cl_ufm_cf *cf)
{
    int K = c->K;
    double N = n * K, lw = c->wd_w, lh = c->wd_h;
    double s = sqrt(lh / lw) * (sqrt(n) - N * sqrt(lw * lh));
    double f = free_bias ? 1 - 1.0 / K : 1;
    cf->kind = free_bias ? 3 : 2;
    cf->bias = free_bias ? 1.0 / K : 0;
    if (s <= 0) {
        cf->s = cf->norm_w = cf->norm_h = cf->margin = 0;
        cf->objective = 0.5 * f;
        return;
    }
    double q = s + N * lh;
    cf->s = s;
    cf->norm_w = sqrt(s * f);
    cf->norm_h = cf->norm_w / q;
    cf->margin = s / q;
    double r = N * lh / q;
    cf->objective = f * (0.5 * r * r + 0.5 * lw * K * s + 0.5 * lh * N * s / (q * q));
}

void cl_ufm_closed_form(const cl_ufm_config *c, cl_ufm_cf *cf)
{
    *cf = (cl_ufm_cf){.objective = NAN, .norm_w = NAN, .norm_h = NAN, .margin = NAN,
                      .bias = NAN, .s = NAN};
    if (!c->counts || c->K < 2 || c->depth > 1 || c->lpm || c->sphere || c->pairs) return;
    for (int k = 1; k < c->K; k++)
        if (c->counts[k] != c->counts[0]) return;
    if (!(c->wd_w > 0 && c->wd_h > 0)) return;
    double n = (double)c->counts[0];
    if (c->loss == CL_UFM_CE) {
        if (c->d >= c->K - 1 && (!c->bias || c->wd_b == 0)) ce(c, n, cf);
    } else if (!c->bias) {
        if (c->d >= c->K) mse(c, n, 0, cf);
    } else if (c->wd_b == 0 && c->d >= c->K - 1) {
        mse(c, n, 1, cf);
    }
}
