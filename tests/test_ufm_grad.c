/* Finite-difference checks of the UFM gradient (src/ufm/objective.c) for
 * every objective variant: CE and MSE with and without bias and with bias
 * decay, unequal class sizes, the deep UFM (ReLU and linear), the sphere's
 * temperature-scaled logits and the LPM's objective. All in double:
 * central differences with h = 1e-6 agree to ~1e-9 relative; a missing
 * term or a wrong factor gives errors of order 1e-2..1. */
#include <criterion/criterion.h>
#include <math.h>

#include "collapse/ufm.h"
#include "common.h"

static void check(cl_ufm_config c, const char *what)
{
    int64_t counts[5] = {3, 2, 4, 3, 2};
    if (!c.counts) c.counts = counts;
    cl_ufm *u;
    cr_assert_eq(cl_ufm_create(&u, &c), CL_OK, "%s: %s", what, cl_errmsg());
    int64_t n;
    double *th = cl_ufm_params(u, &n), f, fp, fm;
    /* a start away from ReLU kinks and with logits of order 1 */
    cl_rng r;
    cl_rng_seed(&r, 7);
    for (int64_t j = 0; j < n; j++)
        th[j] = 0.7 * cl_rng_normal(&r);
    cl_ufm_eval(u, 1, &f, NULL);
    const double *g = cl_ufm_grad(u);
    double num = 0, den = 0;
    for (int64_t j = 0; j < n; j++) {
        double keep = th[j], h = 1e-6;
        th[j] = keep + h;
        cl_ufm_eval(u, 0, &fp, NULL);
        th[j] = keep - h;
        cl_ufm_eval(u, 0, &fm, NULL);
        th[j] = keep;
        double fd = (fp - fm) / (2 * h);
        /* bias entries of a bias-free model are not parameters */
        num += (g[j] - fd) * (g[j] - fd);
        den += fd * fd;
    }
    cl_ufm_eval(u, 1, &f, NULL);
    double err = sqrt(num / den);
    cr_expect_lt(err, 1e-6, "%s: gradient relative error %g", what, err);
    cl_ufm_destroy(u);
}

static cl_ufm_config base(cl_ufm_loss loss, int bias)
{
    cl_ufm_config c = cl_ufm_config_default();
    c.K = 5;
    c.d = 4;
    c.loss = loss;
    c.bias = bias;
    c.wd_w = 0.03;
    c.wd_h = 0.02;
    c.wd_b = 0.05;
    c.steps = 1;
    return c;
}

Test(ufm_grad, ce_and_mse_with_and_without_bias)
{
    check(base(CL_UFM_CE, 1), "ce bias");
    check(base(CL_UFM_CE, 0), "ce no bias");
    check(base(CL_UFM_MSE, 1), "mse bias");
    check(base(CL_UFM_MSE, 0), "mse no bias");
}

Test(ufm_grad, deep_relu_and_linear)
{
    cl_ufm_config c = base(CL_UFM_MSE, 0);
    c.depth = 3;
    c.width = 6;
    check(c, "deep relu mse");
    c.act = CL_UFM_LINEAR;
    check(c, "deep linear mse");
    c = base(CL_UFM_CE, 1);
    c.depth = 2;
    c.width = 3;
    check(c, "deep relu ce");
}

Test(ufm_grad, sphere_and_lpm)
{
    cl_ufm_config c = base(CL_UFM_CE, 0);
    c.wd_w = c.wd_h = c.wd_b = 0;
    c.sphere = 1;
    c.temperature = 3;
    check(c, "sphere");
    c.sphere = 0;
    c.temperature = 1;
    c.lpm = 1;
    c.ew = 1;
    c.eh = 2;
    check(c, "lpm");
}
