#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/loss.h"
#include "collapse/rng.h"

static const float Z[6] = {1.f, 2.f, 3.f, 0.5f, -1.f, 0.25f};
static const int32_t Y[2] = {2, 0};

/* Expected values from torch 1.13 in float64 (F.cross_entropy, label_smoothing,
 * mse_loss(reduction='sum')/N with target 2*one_hot, focal by hand). */
static void check(cl_loss_cfg c, double want, const double *dwant)
{
    double loss;
    float d[6];
    int64_t nc = -1;
    cr_assert_eq(cl_loss_compute(&c, Z, Y, 2, 3, &loss, d, &nc), CL_OK, "%s", cl_errmsg());
    cr_assert(fabs(loss - want) < 1e-6, "%s: loss %.9g want %.9g", cl_loss_kind_name(c.kind), loss,
              want);
    for (int i = 0; i < 6; i++)
        cr_assert(fabs(d[i] - dwant[i]) < 1e-6, "%s: d[%d] %.9g want %.9g",
                  cl_loss_kind_name(c.kind), i, d[i], dwant[i]);
    cr_assert_eq(nc, 2);
}

Test(loss, ce_reference)
{
    const double d[6] = {0.04501528658519022, 0.12236423552739882, -0.1673795221125891,
                         -0.2502411350933925, 0.055728735525101374, 0.19451239956829108};
    check((cl_loss_cfg){CL_LOSS_CE, 0}, 0.5508590754231474, d);
    /* Hand check of sample 0 alone: -log softmax(1,2,3)[2] = log(1 + e^-1 + e^-2). */
    cl_loss_cfg c = {CL_LOSS_CE, 0};
    double loss;
    cr_assert_eq(cl_loss_compute(&c, Z, Y, 1, 3, &loss, NULL, NULL), CL_OK);
    cr_assert(fabs(loss - log(1 + exp(-1.0) + exp(-2.0))) < 1e-12);
}

Test(loss, label_smoothing_reference)
{
    const double d[6] = {0.02834861991852355, 0.10569756886073216, -0.13404618877925578,
                         -0.21690780176005922, 0.039062068858434704, 0.17784573290162442};
    check((cl_loss_cfg){CL_LOSS_LS, 0.1}, 0.6300257420898141, d);
}

Test(loss, mse_scaled_reference)
{
    /* sample 0: (1-0)^2 + (2-0)^2 + (3-2)^2 = 6; sample 1: (0.5-2)^2 + 1 + 0.0625 = 3.3125 */
    const double d[6] = {1.0, 2.0, 1.0, -1.5, -1.0, 0.25};
    check((cl_loss_cfg){CL_LOSS_MSE, 2.0}, (6.0 + 3.3125) / 2, d);
}

Test(loss, focal_reference)
{
    const double d[6] = {0.013216829623349288, 0.03592706779498958, -0.0491438974183389,
                         -0.14952865572047727, 0.033300052387312096, 0.11622860333316515};
    check((cl_loss_cfg){CL_LOSS_FOCAL, 2.0}, 0.10977037831095407, d);
}

Test(loss, focal_gamma0_is_ce_and_ls0_is_ce)
{
    cl_loss_cfg ce = {CL_LOSS_CE, 0}, f0 = {CL_LOSS_FOCAL, 0}, l0 = {CL_LOSS_LS, 0};
    double a, b, c;
    float da[6], db[6], dc[6];
    cl_loss_compute(&ce, Z, Y, 2, 3, &a, da, NULL);
    cl_loss_compute(&f0, Z, Y, 2, 3, &b, db, NULL);
    cl_loss_compute(&l0, Z, Y, 2, 3, &c, dc, NULL);
    cr_assert(fabs(a - b) < 1e-12 && fabs(a - c) < 1e-12);
    for (int i = 0; i < 6; i++) cr_assert(fabs(da[i] - db[i]) < 1e-7 && fabs(da[i] - dc[i]) < 1e-7);
}

/* Central differences of the mean loss in double around float logits. */
static void gradcheck(cl_loss_cfg c)
{
    enum { N = 5, K = 7 };
    cl_rng rng;
    cl_rng_seed(&rng, 7);
    float z[N * K], d[N * K];
    int32_t y[N];
    for (int i = 0; i < N * K; i++) z[i] = (float)(2.0 * cl_rng_normal(&rng));
    for (int i = 0; i < N; i++) y[i] = (int32_t)cl_rng_below(&rng, K);
    /* make one sample confidently right, to exercise p_y ~ 1 */
    z[y[0]] = 12.f;
    double loss;
    cr_assert_eq(cl_loss_compute(&c, z, y, N, K, &loss, d, NULL), CL_OK);
    const float h = 1e-2f;
    double maxerr = 0;
    for (int i = 0; i < N * K; i++) {
        float keep = z[i];
        double lp, lm;
        float hi = keep + h, lo = keep - h; /* the step actually taken in float */
        z[i] = hi;
        cl_loss_compute(&c, z, y, N, K, &lp, NULL, NULL);
        z[i] = lo;
        cl_loss_compute(&c, z, y, N, K, &lm, NULL, NULL);
        z[i] = keep;
        double num = (lp - lm) / ((double)hi - (double)lo);
        double err = fabs(num - d[i]) / fmax(1e-3, fabs(num) + fabs(d[i]));
        if (err > maxerr) maxerr = err;
    }
    cr_assert(maxerr < 2e-3, "%s=%g: max relative gradient error %g", cl_loss_kind_name(c.kind),
              c.param, maxerr);
}

Test(loss, gradcheck_ce) { gradcheck((cl_loss_cfg){CL_LOSS_CE, 0}); }
Test(loss, gradcheck_mse) { gradcheck((cl_loss_cfg){CL_LOSS_MSE, 3.0}); }
Test(loss, gradcheck_ls) { gradcheck((cl_loss_cfg){CL_LOSS_LS, 0.2}); }
Test(loss, gradcheck_focal) { gradcheck((cl_loss_cfg){CL_LOSS_FOCAL, 2.0}); }
Test(loss, gradcheck_focal_fractional) { gradcheck((cl_loss_cfg){CL_LOSS_FOCAL, 0.5}); }

Test(loss, focal_saturated_is_finite)
{
    /* p_y rounds to 1 in double: gradient must be 0, not NaN, for gamma < 1 */
    const float z[3] = {0.f, 0.f, 800.f};
    const int32_t y = 2;
    cl_loss_cfg c = {CL_LOSS_FOCAL, 0.5};
    double loss;
    float d[3];
    cr_assert_eq(cl_loss_compute(&c, z, &y, 1, 3, &loss, d, NULL), CL_OK);
    cr_assert(isfinite(loss) && loss >= 0);
    for (int i = 0; i < 3; i++) cr_assert(isfinite(d[i]) && fabs(d[i]) < 1e-30);
}

Test(loss, ncorrect_first_max_on_ties)
{
    const float z[6] = {1.f, 1.f, 0.f, 0.f, 2.f, 1.f};
    const int32_t y[2] = {1, 1};
    cl_loss_cfg c = {CL_LOSS_CE, 0};
    double loss;
    int64_t nc;
    cr_assert_eq(cl_loss_compute(&c, z, y, 2, 3, &loss, NULL, &nc), CL_OK);
    cr_assert_eq(nc, 1); /* sample 0 tie -> class 0 (wrong); sample 1 right */
}

Test(loss, parse_good)
{
    cl_loss_cfg c;
    char buf[64];
    cr_assert_eq(cl_loss_parse("ce", &c), CL_OK);
    cr_assert_eq(c.kind, CL_LOSS_CE);
    cr_assert_eq(cl_loss_parse("mse", &c), CL_OK);
    cr_assert(c.kind == CL_LOSS_MSE && c.param == 1.0);
    cr_assert_eq(cl_loss_parse("mse=15", &c), CL_OK);
    cr_assert(c.kind == CL_LOSS_MSE && c.param == 15.0);
    cl_loss_format(&c, buf, sizeof buf);
    cr_assert_str_eq(buf, "mse=15");
    cr_assert_eq(cl_loss_parse("ls=0.1", &c), CL_OK);
    cr_assert(c.kind == CL_LOSS_LS && c.param == 0.1);
    cr_assert_eq(cl_loss_parse("focal=2", &c), CL_OK);
    cr_assert(c.kind == CL_LOSS_FOCAL && c.param == 2.0);
    cl_loss_format(&c, buf, sizeof buf);
    cr_assert_str_eq(buf, "focal=2");
}

Test(loss, parse_bad_names_value)
{
    const char *bad[] = {"", "hinge", "ls", "ls=1.5", "ls=abc", "focal=-1", "mse=0", "ce=3",
                         "mse=2x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cl_loss_cfg c = {CL_LOSS_CE, 0};
        cr_assert_eq(cl_loss_parse(bad[i], &c), CL_EINVAL, "'%s' accepted", bad[i]);
        if (*bad[i]) cr_assert_neq(strstr(cl_errmsg(), bad[i]), NULL, "%s", cl_errmsg());
    }
    cl_loss_cfg c;
    cl_loss_parse("ls=abc", &c);
    cr_assert_neq(strstr(cl_errmsg(), "'abc'"), NULL, "%s", cl_errmsg());
}

Test(loss, bad_label_and_sizes)
{
    const int32_t y[2] = {0, 3};
    cl_loss_cfg c = {CL_LOSS_CE, 0};
    double loss;
    cr_assert_eq(cl_loss_compute(&c, Z, y, 2, 3, &loss, NULL, NULL), CL_EINVAL);
    cr_assert_neq(strstr(cl_errmsg(), "label 3 of sample 1"), NULL, "%s", cl_errmsg());
    cr_assert_eq(cl_loss_compute(&c, Z, Y, 0, 3, &loss, NULL, NULL), CL_EINVAL);
    cr_assert_eq(cl_loss_compute(&c, Z, Y, 2, 1, &loss, NULL, NULL), CL_EINVAL);
}
