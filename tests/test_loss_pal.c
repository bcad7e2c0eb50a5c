/* The pick-all-label loss on K-hot targets (loss.h, CL_LOSS_PAL; Li, Wang,
 * Li & Qu, ICML 2024), the top-m exact-set rule and per-label F1. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/loss.h"
#include "collapse/rng.h"

static const cl_loss_cfg PAL_SUM = {CL_LOSS_PAL, CL_LOSS_PAL_SUM};
static const cl_loss_cfg PAL_MEAN = {CL_LOSS_PAL, CL_LOSS_PAL_MEAN};

/* Central differences of the mean PAL loss around float logits, rows with
 * 1, 2 and 3 labels (one row confidently right, to exercise p ~ 1). */
static void gradcheck(cl_loss_cfg c)
{
    enum { N = 6, K = 7 };
    cl_rng rng;
    cl_rng_seed(&rng, 11);
    float z[N * K], d[N * K];
    uint8_t yk[N * K] = {0};
    for (int i = 0; i < N * K; i++) z[i] = (float)(2.0 * cl_rng_normal(&rng));
    for (int i = 0; i < N; i++)
        for (int m = 0; m < 1 + i % 3; m++) yk[i * K + (int)cl_rng_below(&rng, K)] = 1;
    for (int j = 0; j < K; j++)
        if (yk[j]) z[j] = 12.f;
    double loss;
    cr_assert_eq(cl_loss_compute_khot(&c, z, yk, N, K, &loss, d, NULL), CL_OK, "%s",
                 cl_errmsg());
    const float h = 1e-2f;
    double maxerr = 0;
    for (int i = 0; i < N * K; i++) {
        float keep = z[i], hi = keep + h, lo = keep - h;
        double lp, lm;
        z[i] = hi;
        cl_loss_compute_khot(&c, z, yk, N, K, &lp, NULL, NULL);
        z[i] = lo;
        cl_loss_compute_khot(&c, z, yk, N, K, &lm, NULL, NULL);
        z[i] = keep;
        double num = (lp - lm) / ((double)hi - (double)lo);
        double err = fabs(num - d[i]) / fmax(1e-3, fabs(num) + fabs(d[i]));
        if (err > maxerr) maxerr = err;
    }
    cr_assert(maxerr < 2e-3, "pal param %g: max relative gradient error %g", c.param, maxerr);
}

Test(loss_pal, gradcheck_sum) { gradcheck(PAL_SUM); }
Test(loss_pal, gradcheck_mean) { gradcheck(PAL_MEAN); }

/* A two-label row by hand: z = (1, 2, 3), S = {1, 2}: with
 * lse = log(e + e^2 + e^3), sum = 2 lse - 5, mean = (2 lse - 5) / 2; the
 * gradient of sum is 2 p - yk. */
Test(loss_pal, two_labels_by_hand)
{
    const float z[3] = {1, 2, 3};
    const uint8_t yk[3] = {0, 1, 1};
    double lse = log(exp(1.0) + exp(2.0) + exp(3.0)), loss;
    float d[3];
    int64_t nc = -1;
    cr_assert_eq(cl_loss_compute_khot(&PAL_SUM, z, yk, 1, 3, &loss, d, &nc), CL_OK);
    cr_assert(fabs(loss - (2 * lse - 5)) < 1e-12, "sum %.15g", loss);
    for (int j = 0; j < 3; j++) {
        double want = 2 * exp(z[j] - lse) - yk[j];
        cr_assert(fabs(d[j] - want) < 1e-6, "d[%d] %g want %g", j, d[j], want);
    }
    cr_assert_eq(nc, 1); /* top-2 of (1, 2, 3) is {1, 2} */
    cr_assert_eq(cl_loss_compute_khot(&PAL_MEAN, z, yk, 1, 3, &loss, d, NULL), CL_OK);
    cr_assert(fabs(loss - (2 * lse - 5) / 2) < 1e-12, "mean %.15g", loss);
    for (int j = 0; j < 3; j++) {
        double want = exp(z[j] - lse) - yk[j] / 2.0;
        cr_assert(fabs(d[j] - want) < 1e-6, "d[%d] %g want %g", j, d[j], want);
    }
}

/* On single-label rows both weightings equal CE: loss, gradient and the
 * count of correct predictions (top-1 = argmax); and PAL with int labels
 * (cl_loss_compute) is CE. */
Test(loss_pal, single_label_rows_are_ce)
{
    enum { N = 5, K = 4 };
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    float z[N * K], dce[N * K], d[N * K];
    int32_t y[N];
    uint8_t yk[N * K] = {0};
    for (int i = 0; i < N * K; i++) z[i] = (float)cl_rng_normal(&rng);
    for (int i = 0; i < N; i++) {
        y[i] = (int32_t)cl_rng_below(&rng, K);
        yk[i * K + y[i]] = 1;
    }
    const cl_loss_cfg ce = {CL_LOSS_CE, 0};
    double lce, l;
    int64_t cce, c;
    cr_assert_eq(cl_loss_compute(&ce, z, y, N, K, &lce, dce, &cce), CL_OK);
    const cl_loss_cfg *cfgs[2] = {&PAL_SUM, &PAL_MEAN};
    for (int v = 0; v < 2; v++) {
        cr_assert_eq(cl_loss_compute_khot(cfgs[v], z, yk, N, K, &l, d, &c), CL_OK);
        cr_assert(fabs(l - lce) < 1e-12, "pal %d: %.15g vs ce %.15g", v, l, lce);
        cr_assert_eq(c, cce);
        for (int i = 0; i < N * K; i++) cr_assert(fabs(d[i] - dce[i]) < 1e-7);
        cr_assert_eq(cl_loss_compute(cfgs[v], z, y, N, K, &l, d, &c), CL_OK);
        cr_assert(fabs(l - lce) < 1e-12 && c == cce);
        for (int i = 0; i < N * K; i++) cr_assert(d[i] == dce[i]);
    }
}

Test(loss_pal, parse_and_format)
{
    cl_loss_cfg c;
    char buf[32];
    cr_assert_eq(cl_loss_parse("pal", &c), CL_OK);
    cr_assert(c.kind == CL_LOSS_PAL && c.param == CL_LOSS_PAL_SUM);
    cl_loss_format(&c, buf, sizeof buf);
    cr_assert_str_eq(buf, "pal");
    cr_assert_eq(cl_loss_parse("pal=mean", &c), CL_OK);
    cr_assert(c.param == CL_LOSS_PAL_MEAN);
    cl_loss_format(&c, buf, sizeof buf);
    cr_assert_str_eq(buf, "pal=mean");
    cr_assert_eq(cl_loss_parse("pal=sum", &c), CL_OK);
    cr_assert(c.param == CL_LOSS_PAL_SUM);
    cr_assert_str_eq(cl_loss_kind_name(CL_LOSS_PAL), "pal");
    cr_assert_eq(cl_loss_parse("pal=2", &c), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "sum or mean"), "%s", cl_errmsg());
    cr_assert_eq(cl_loss_parse("pal=", &c), CL_EINVAL);
}

Test(loss_pal, refuses_bad_targets_and_other_losses)
{
    const float z[6] = {0, 1, 2, 3, 4, 5};
    uint8_t yk[6] = {1, 0, 0, 0, 0, 0};
    double l;
    const cl_loss_cfg ce = {CL_LOSS_CE, 0};
    cr_assert_eq(cl_loss_compute_khot(&ce, z, yk, 2, 3, &l, NULL, NULL), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "--loss ce") && strstr(cl_errmsg(), "pal"), "%s",
              cl_errmsg());
    cr_assert_eq(cl_loss_compute_khot(&PAL_SUM, z, yk, 2, 3, &l, NULL, NULL), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "sample 1 has no label"), "%s", cl_errmsg());
    yk[3] = 2;
    cr_assert_eq(cl_loss_compute_khot(&PAL_SUM, z, yk, 2, 3, &l, NULL, NULL), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "sample 1"), "%s", cl_errmsg());
}

/* Five samples, K = 5 (label 4 never true nor predicted):
 *   s0 z (3,1,2,0) S {0,2}: top-2 {0,2}, exact
 *   s1 z (0,5,4,1) S {1,3}: top-2 {1,2}: tp 1, fp 2, fn 3
 *   s2 z (2,2,0,0) S {1}:   top-1 {0} (tie to the lower index): fp 0, fn 1
 *   s3 z (0,0,0,9) S {3}:   exact
 *   s4 z (1,0,0,0) S {0}:   exact
 * F1: label 0: tp 2, fp 1 -> 4/5; labels 1-3: 2/3; label 4: nan.
 * Macro-F1 = (0.8 + 2) / 4 = 0.7; exact-set accuracy 3/5. */
Test(loss_pal, topm_exact_set_and_f1_by_hand)
{
    enum { N = 5, K = 5 };
    const float z[N * K] = {3, 1, 2, 0, -9, 0, 5, 4, 1, -9, 2, 2, 0, 0, -9,
                            0, 0, 0, 9, -9, 1, 0, 0, 0, -9};
    const uint8_t yk[N * K] = {1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0,
                               0, 0, 0, 1, 0, 1, 0, 0, 0, 0};
    int64_t tp[K] = {0}, fp[K] = {0}, fn[K] = {0};
    cr_assert_eq(cl_loss_topm_score(z, yk, N, K, tp, fp, fn), 3);
    const int64_t wtp[K] = {2, 1, 1, 1, 0}, wfp[K] = {1, 0, 1, 0, 0}, wfn[K] = {0, 1, 0, 1, 0};
    for (int j = 0; j < K; j++)
        cr_assert(tp[j] == wtp[j] && fp[j] == wfp[j] && fn[j] == wfn[j], "label %d", j);
    double f1[K];
    double macro = cl_loss_f1(tp, fp, fn, K, f1);
    cr_assert(fabs(f1[0] - 0.8) < 1e-12);
    for (int j = 1; j < 4; j++) cr_assert(fabs(f1[j] - 2.0 / 3) < 1e-12);
    cr_assert(isnan(f1[4]));
    cr_assert(fabs(macro - 0.7) < 1e-12, "macro %g", macro);
    /* the loss's count is the same rule */
    double l;
    int64_t nc;
    cr_assert_eq(cl_loss_compute_khot(&PAL_MEAN, z, yk, N, K, &l, NULL, &nc), CL_OK);
    cr_assert_eq(nc, 3);
}
