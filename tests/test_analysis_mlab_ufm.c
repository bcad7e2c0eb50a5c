/* The multi-label UFM check (Li, Wang, Li & Qu, ICML 2024) on `collapse
 * ufm --pairs`: the pick-all-label losses (value at the zero start, gradient
 * by central differences), then K = 4, d = 8, 10 single-label samples per
 * class and 5 per two-label set, LW = LH = 5e-4: at the optimum the
 * single-label means and W form a simplex ETF, mu_ij is parallel to
 * mu_i + mu_j (angle ~0) and the scale ratio is the same for every set,
 * 1.6172 with pal=mean and 1.8090 with pal (the reference notes' numbers). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/mlab.h"
#include "collapse/nc.h"
#include "collapse/ufm.h"
#include "common.h"

TestSuite(mlab_ufm, .timeout = TC_TIMEOUT);

static cl_ufm *make(cl_ufm_loss loss, int K, int d, int64_t n, int64_t pairs, int64_t *counts)
{
    cl_ufm_config c = cl_ufm_config_default();
    c.K = K;
    c.d = d;
    for (int k = 0; k < K; k++)
        counts[k] = n;
    c.counts = counts;
    c.pairs = pairs;
    c.loss = loss;
    c.lr = 1.0;
    c.momentum = 0.9;
    c.steps = 3000;
    cl_ufm *u;
    cr_assert_eq(cl_ufm_create(&u, &c), CL_OK, "%s", cl_errmsg());
    return u;
}

Test(mlab_ufm, loss_at_zero_start)
{
    int64_t counts[4];
    const double lk = log(4.0);
    for (int mean = 0; mean < 2; mean++) {
        cl_ufm *u = make(mean ? CL_UFM_PAL_MEAN : CL_UFM_PAL, 4, 8, 10, 5, counts);
        int64_t n;
        double *th = cl_ufm_params(u, &n), obj, loss;
        memset(th, 0, sizeof(double) * (size_t)n);
        cl_ufm_eval(u, 0, &obj, &loss);
        /* p = 1/4: CE = log 4 per label; 40 single rows, 30 pair rows */
        double want = mean ? lk : (40 * lk + 30 * 2 * lk) / 70;
        cr_expect(fabs(loss - want) < 1e-12, "%s: %.15g vs %.15g", mean ? "mean" : "sum", loss,
                  want);
        cl_ufm_destroy(u);
    }
}

Test(mlab_ufm, pal_gradients)
{
    int64_t counts[3];
    for (int mean = 0; mean < 2; mean++) {
        cl_ufm *u = make(mean ? CL_UFM_PAL_MEAN : CL_UFM_PAL, 3, 4, 2, 2, counts);
        int64_t n;
        double *th = cl_ufm_params(u, &n), f0, fp, fm;
        for (int64_t j = 0; j < n; j++) /* larger logits than the start */
            th[j] *= 10;
        cl_ufm_eval(u, 1, &f0, NULL);
        double *g = cl_alloc_array((size_t)n, sizeof(double), "grad");
        memcpy(g, cl_ufm_grad(u), sizeof(double) * (size_t)n);
        double worst = 0;
        for (int64_t j = 0; j < n; j++) {
            double t = th[j], h = 1e-5;
            th[j] = t + h;
            cl_ufm_eval(u, 0, &fp, NULL);
            th[j] = t - h;
            cl_ufm_eval(u, 0, &fm, NULL);
            th[j] = t;
            double fd = (fp - fm) / (2 * h);
            worst = fmax(worst, fabs(fd - g[j]) / fmax(1e-3, fabs(fd) + fabs(g[j])));
        }
        cr_expect_lt(worst, 1e-6, "%s: worst relative gradient error %g", mean ? "mean" : "sum",
                     worst);
        cl_free(g);
        cl_ufm_destroy(u);
    }
}

/* Runs the K = 4, d = 8 problem to its optimum and checks the geometry;
 * returns mlab_scale_mean. */
static double optimum(cl_ufm_loss loss, double want)
{
    int64_t counts[4];
    cl_ufm *u = make(loss, 4, 8, 10, 5, counts);
    for (int s = 0; s < 3000; s++)
        cr_assert_eq(cl_ufm_step(u), CL_OK, "%s", cl_errmsg());
    float *H, *W, *b;
    int32_t *y;
    int64_t N;
    int dl;
    uint8_t *Yk;
    cr_assert_eq(cl_ufm_export(u, &H, &W, &b, &y, &N, &dl), CL_OK);
    cr_assert_eq(cl_ufm_labels_khot(u, &Yk), CL_OK);
    cr_assert_eq(N, 40 + 6 * 5);
    cl_mlab_result m;
    cr_assert_eq(cl_mlab_analyze(H, N, dl, Yk, 4, &m), CL_OK, "%s", cl_errmsg());
    cr_expect_eq(m.sets, 6);
    cr_expect_eq(m.n_single, 40);
    cr_expect_lt(m.angle, 1e-3, "angle %g deg", m.angle);
    cr_expect_lt(m.angle_uncentred, 1e-2, "uncentred angle %g deg", m.angle_uncentred);
    cr_expect_lt(m.scale_cv, 1e-5, "every pair the same ratio: cv %g", m.scale_cv);
    cr_expect(fabs(m.scale_mean - want) < 1e-3, "scale %.6f, notes %.4f", m.scale_mean, want);
    /* the single-label samples: NC1 ~0, their means and W a simplex ETF, self-dual */
    float *Hs;
    int32_t *ys;
    int64_t ns;
    cr_assert_eq(cl_mlab_single_subset(H, N, dl, Yk, 4, &Hs, &ys, &ns), CL_OK);
    cr_assert_eq(ns, 40);
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(Hs, ns, dl, ys, 4, W, b, NULL, &r), CL_OK, "%s", cl_errmsg());
    cr_expect_lt(r.nc1, 1e-6);
    cr_expect_lt(r.etf_M, 1e-3, "etf_M %g", r.etf_M);
    cr_expect_lt(r.etf_W, 1e-3, "etf_W %g", r.etf_W);
    cr_expect_lt(r.nc3, 1e-3, "nc3 %g", r.nc3);
    cl_ufm_summary s;
    cr_assert_eq(cl_ufm_measure(u, &s), CL_OK);
    cr_expect(fabs(s.mlab_scale_mean - m.scale_mean) < 1e-12 && s.nc1 < 1e-6);
    double v = m.scale_mean;
    cl_free(H), cl_free(W), cl_free(b), cl_free(y), cl_free(Yk), cl_free(Hs), cl_free(ys);
    cl_ufm_destroy(u);
    return v;
}

Test(mlab_ufm, optimum_pal_mean)
{
    double a = optimum(CL_UFM_PAL_MEAN, 1.6172);
    cr_expect_gt(a, 1.0, "a two-label mean is longer than the mean of its members' means");
}

Test(mlab_ufm, optimum_pal_sum)
{
    optimum(CL_UFM_PAL, 1.8090);
}

Test(mlab_ufm, config_errors)
{
    int64_t counts[4] = {3, 3, 3, 3};
    cl_ufm_config c = cl_ufm_config_default();
    c.K = 4;
    c.d = 8;
    c.counts = counts;
    c.steps = 1;
    c.pairs = 2;
    cr_expect_eq(cl_ufm_config_check(&c), CL_EINVAL, "--pairs with --loss ce");
    cr_expect(strstr(cl_errmsg(), "--pairs"), "%s", cl_errmsg());
    c.loss = CL_UFM_PAL;
    cr_expect_eq(cl_ufm_config_check(&c), CL_OK, "%s", cl_errmsg());
    c.pairs = 0;
    cr_expect_eq(cl_ufm_config_check(&c), CL_EINVAL, "pal without pairs");
    cr_expect(strstr(cl_errmsg(), "--loss pal"), "%s", cl_errmsg());
    c.pairs = 2;
    c.depth = 2;
    c.width = 8;
    cr_expect_eq(cl_ufm_config_check(&c), CL_EINVAL, "deep");
    c.depth = 1;
    c.width = 0;
    c.pairs = -1;
    cr_expect_eq(cl_ufm_config_check(&c), CL_EINVAL);
    cl_ufm_cf cf;
    c.pairs = 2;
    cl_ufm_closed_form(&c, &cf);
    cr_expect_eq(cf.kind, 0, "no closed form with pairs");
}
