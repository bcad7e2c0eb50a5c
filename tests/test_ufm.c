/* UFM simulator against its closed forms (docs/THEORY.md), each to 1e-4
 * relative: CE with LB = 0 (simplex ETF, h = sqrt(LW/(n LH)) w, ||w||^2,
 * optimal objective), the beta >= 1/K collapse to zero, MSE without bias
 * (W W^T = s I) and with a free bias (b = 1/K, W W^T = s (I - 11^T/K)); and
 * the closed-form numbers of /work/shared/notes (K = 4, n = 10, 5e-4). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/sys.h"
#include "collapse/ufm.h"
#include "common.h"

#define REL 1e-4

static int64_t counts10[4] = {10, 10, 10, 10};

static cl_ufm_config cfg(cl_ufm_loss loss, int bias, double wd, int64_t steps, double lr,
                         double mom)
{
    cl_ufm_config c = cl_ufm_config_default();
    c.K = 4;
    c.d = 8;
    c.counts = counts10;
    c.loss = loss;
    c.bias = bias;
    c.wd_w = c.wd_h = wd;
    c.steps = steps;
    c.lr = lr;
    c.momentum = mom;
    return c;
}

static void expect_rel(double got, double want, const char *what)
{
    cr_expect_leq(fabs(got - want), REL * fabs(want), "%s: %.10g, want %.10g", what, got, want);
}

static cl_ufm *solve(const cl_ufm_config *c)
{
    cl_ufm *u;
    cr_assert_eq(cl_ufm_create(&u, c), CL_OK, "%s", cl_errmsg());
    for (int64_t t = 0; t < c->steps; t++)
        cr_assert_eq(cl_ufm_step(u), CL_OK, "%s", cl_errmsg());
    return u;
}

/* Runs c to the end and checks the objective and both norms against the
 * closed form, which it returns in cf. */
static cl_ufm *converge(const cl_ufm_config *c, cl_ufm_cf *cf, cl_ufm_summary *s)
{
    cl_ufm *u = solve(c);
    cl_ufm_closed_form(c, cf);
    cr_assert_neq(cf->kind, 0);
    cr_assert_eq(cl_ufm_measure(u, s), CL_OK, "%s", cl_errmsg());
    expect_rel(s->objective, cf->objective, "objective");
    expect_rel(s->mean_norm_w, cf->norm_w, "||w||");
    expect_rel(s->mean_norm_h, cf->norm_h, "||h||");
    return u;
}

/* max over samples of ||h_i - a w_{y_i}|| / ||h_i||, and the Gram gap
 * ||W W^T - s G0||_F / ||s G0||_F with G0 = I - c 11^T. */
static void check_geometry(cl_ufm *u, const cl_ufm_config *c, double a, double s, double cc)
{
    int K = c->K, d = c->d;
    const double *W = cl_ufm_params(u, NULL), *H = W + K * d + K;
    double worst = 0;
    for (int i = 0; i < 40; i++) {
        double e = 0, n = 0;
        for (int j = 0; j < d; j++) {
            double r = H[i * d + j] - a * W[(i / 10) * d + j];
            e += r * r;
            n += H[i * d + j] * H[i * d + j];
        }
        worst = fmax(worst, sqrt(e / n));
    }
    cr_expect_lt(worst, REL, "h_i vs %g w_y: relative error %g", a, worst);
    double num = 0, den = 0;
    for (int p = 0; p < K; p++)
        for (int q = 0; q < K; q++) {
            double g = 0;
            for (int j = 0; j < d; j++)
                g += W[p * d + j] * W[q * d + j];
            double ref = s * ((p == q) - cc);
            num += (g - ref) * (g - ref);
            den += ref * ref;
        }
    cr_expect_lt(sqrt(num / den), REL, "W W^T gap %g", sqrt(num / den));
}

Test(ufm, closed_form_numbers_of_the_notes)
{
    cl_ufm_config c = cfg(CL_UFM_CE, 1, 5e-4, 0, 1, 0);
    c.wd_b = 0;
    cl_ufm_cf cf;
    cl_ufm_closed_form(&c, &cf);
    cr_assert_eq(cf.kind, 1);
    expect_rel(cf.norm_w, 3.90964, "ce ||w||");
    expect_rel(cf.norm_h, 1.23634, "ce ||h||");
    expect_rel(cf.margin, 6.44486, "ce margin");
    expect_rel(cf.objective, 0.035325, "ce objective");
    c = cfg(CL_UFM_MSE, 0, 5e-4, 0, 1, 0);
    cl_ufm_closed_form(&c, &cf);
    cr_assert_eq(cf.kind, 2);
    expect_rel(cf.norm_w, 1.77265, "mse ||w||");
    expect_rel(cf.norm_h, 0.56056, "mse ||h||");
    expect_rel(cf.objective, 0.0063046, "mse objective");
    c = cfg(CL_UFM_MSE, 1, 5e-4, 0, 1, 0);
    cl_ufm_closed_form(&c, &cf);
    cr_assert_eq(cf.kind, 3);
    expect_rel(cf.norm_w, 1.53516, "mse+b ||w||");
    expect_rel(cf.norm_h, 0.48546, "mse+b ||h||");
    expect_rel(cf.objective, 0.0047284, "mse+b objective");
    /* no closed form: unequal counts, d < K-1, depth > 1 */
    int64_t un[4] = {10, 10, 10, 9};
    c.counts = un;
    cl_ufm_closed_form(&c, &cf);
    cr_expect_eq(cf.kind, 0);
}

Test(ufm, ce_reaches_the_simplex_etf, .timeout = TC_TIMEOUT)
{
    cl_ufm_config c = cfg(CL_UFM_CE, 1, 5e-4, 6000, 5, 0);
    cl_ufm_cf cf;
    cl_ufm_summary s;
    cl_ufm *u = converge(&c, &cf, &s);
    expect_rel(s.margin, cf.margin, "margin");
    cr_expect_lt(s.gap_objective, REL);
    /* W^T a simplex ETF: W W^T = (K/(K-1)) ||w||^2 (I - 11^T/K); h_ki = sqrt(LW/(n LH)) w_k */
    check_geometry(u, &c, sqrt(c.wd_w / (10 * c.wd_h)), cf.s, 1.0 / c.K);
    cl_ufm_destroy(u);
}

Test(ufm, ce_large_beta_collapses_to_zero, .timeout = TC_TIMEOUT)
{
    /* beta = sqrt(10 * 0.1 * 0.1) = 0.316 >= 1/K = 0.25 */
    cl_ufm_config c = cfg(CL_UFM_CE, 0, 0.1, 3000, 1, 0);
    cl_ufm_cf cf;
    cl_ufm_closed_form(&c, &cf);
    cr_assert_eq(cf.kind, 1);
    cr_expect_eq(cf.norm_w, 0);
    cl_ufm *u = solve(&c);
    cl_ufm_summary s;
    cr_assert_eq(cl_ufm_measure(u, &s), CL_OK, "%s", cl_errmsg());
    cr_expect_lt(s.mean_norm_w, 1e-6, "||w|| %g", s.mean_norm_w);
    cr_expect_lt(s.mean_norm_h, 1e-6, "||h|| %g", s.mean_norm_h);
    expect_rel(s.objective, log(4.0), "objective ln K");
    cl_ufm_destroy(u);
}

Test(ufm, mse_without_bias_is_an_orthogonal_frame, .timeout = TC_TIMEOUT)
{
    cl_ufm_config c = cfg(CL_UFM_MSE, 0, 5e-4, 6000, 1, 0.9);
    cl_ufm_cf cf;
    cl_ufm_summary s;
    cl_ufm *u = converge(&c, &cf, &s);
    /* W W^T = s I; h_k = w_k / (s + N LH) */
    check_geometry(u, &c, 1 / (cf.s + 40 * c.wd_h), cf.s, 0);
    cl_ufm_destroy(u);
}

Test(ufm, mse_free_bias_is_centred_with_b_one_over_K, .timeout = TC_TIMEOUT)
{
    cl_ufm_config c = cfg(CL_UFM_MSE, 1, 5e-4, 6000, 1, 0.9);
    c.wd_b = 0;
    cl_ufm_cf cf;
    cl_ufm_summary s;
    cl_ufm *u = converge(&c, &cf, &s);
    const double *b = cl_ufm_params(u, NULL) + c.K * c.d;
    for (int k = 0; k < c.K; k++)
        expect_rel(b[k], 1.0 / c.K, "b_k");
    check_geometry(u, &c, 1 / (cf.s + 40 * c.wd_h), cf.s, 1.0 / c.K);
    cl_ufm_destroy(u);
}

/* A run that cannot fit in memory is refused up front with one line naming
 * the flag (not killed later by the kernel when it touches its arrays). */
Test(ufm, refuses_runs_larger_than_the_machine)
{
    static int64_t huge[4] = {100000000, 100000000, 100000000, 100000000};
    cl_ufm_config c = cfg(CL_UFM_CE, 0, 5e-4, 1, 1, 0);
    c.d = 2;
    c.counts = huge;
    int64_t need = cl_ufm_config_bytes(&c), have = cl_sys_memory_bytes();
    /* params 8e8 doubles x 3 plus logits and scratch: tens of GiB */
    cr_assert_gt(need, (int64_t)40 << 30, "estimate %lld bytes", (long long)need);
    cr_assert_lt(need, (int64_t)100 << 30, "estimate %lld bytes", (long long)need);
    if (have > 0 && have < need) {
        cr_assert_eq(cl_ufm_config_check(&c), CL_EINVAL);
        cr_expect(strstr(cl_errmsg(), "--counts: N = 400000000") &&
                      strstr(cl_errmsg(), "GiB"),
                  "%s", cl_errmsg());
    } else {
        cr_expect_eq(cl_ufm_config_check(&c), CL_OK, "%s", cl_errmsg());
    }
    c.counts = counts10; /* the small run fits */
    cr_expect_eq(cl_ufm_config_check(&c), CL_OK, "%s", cl_errmsg());
}
