/* Held-out nearest-class-centre accuracy (analysis/ncc.c, nc.h): against a
 * direct computation of every distance, a hand-made case, the batched
 * pieces against the whole, and the argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/nc.h"
#include "collapse/rng.h"

static double sqdist(const float *h, const double *mu, int dim)
{
    double s = 0;
    for (int d = 0; d < dim; d++) s += (h[d] - mu[d]) * (h[d] - mu[d]);
    return s;
}

/* The direct rule: full squared distances to the class means of htr. */
static double direct_acc(const float *htr, int ntr, const int32_t *ytr, const float *hte, int nte,
                         const int32_t *yte, int dim, int K)
{
    double mu[8 * 16] = {0};
    int cnt[8] = {0};
    for (int i = 0; i < ntr; i++) {
        cnt[ytr[i]]++;
        for (int d = 0; d < dim; d++) mu[ytr[i] * dim + d] += htr[i * dim + d];
    }
    for (int c = 0; c < K; c++)
        for (int d = 0; d < dim; d++) mu[c * dim + d] /= cnt[c];
    int ok = 0;
    for (int i = 0; i < nte; i++) {
        int best = 0;
        const float *h = hte + i * dim;
        for (int c = 1; c < K; c++)
            if (sqdist(h, mu + c * dim, dim) < sqdist(h, mu + best * dim, dim)) best = c;
        ok += best == yte[i];
    }
    return (double)ok / nte;
}

Test(ncc, heldout_matches_direct)
{
    enum { NTR = 90, NTE = 70, DIM = 7, K = 5 };
    float htr[NTR * DIM], hte[NTE * DIM];
    int32_t ytr[NTR], yte[NTE];
    cl_rng rng;
    cl_rng_seed(&rng, 11);
    for (int i = 0; i < NTR + NTE; i++) {
        int c = i % K;
        float *h = i < NTR ? htr + i * DIM : hte + (i - NTR) * DIM;
        for (int d = 0; d < DIM; d++)
            h[d] = (float)((d == c ? 1.0 : 0.0) + 0.8 * cl_rng_normal(&rng));
        if (i < NTR)
            ytr[i] = c;
        else
            yte[i - NTR] = (i * 7) % 3 ? c : (c + 1) % K; /* some test labels wrong */
    }
    double acc, want = direct_acc(htr, NTR, ytr, hte, NTE, yte, DIM, K);
    cr_assert_eq(cl_nc_heldout_ncc_acc(htr, NTR, ytr, hte, NTE, yte, DIM, K, &acc), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(acc, want, "%.17g vs %.17g", acc, want);
    cr_assert(acc > 0.2 && acc < 0.9, "a case with right and wrong answers: %g", acc);

    /* the pieces, fed in uneven batches, give the same count */
    double mu[K * DIM + K] = {0};
    int64_t cnt[K] = {0};
    for (int i = 0; i < NTR; i++) cnt[ytr[i]]++;
    for (int i0 = 0; i0 < NTR; i0 += 13)
        cl_nc_class_sums_add(mu, htr + i0 * DIM, NTR - i0 < 13 ? NTR - i0 : 13, DIM, ytr + i0);
    cl_nc_class_means(mu, mu + K * DIM, cnt, K, DIM);
    int64_t ok = 0;
    for (int i0 = 0; i0 < NTE; i0 += 16)
        ok += cl_nc_ncc_correct(hte + i0 * DIM, NTE - i0 < 16 ? NTE - i0 : 16, DIM, yte + i0, mu,
                                mu + K * DIM, K);
    cr_assert_eq((double)ok / NTE, acc);
}

Test(ncc, hand_made_case)
{
    /* means (0,0), (4,0), (0,4); test points near each, one of them labelled wrong */
    const float htr[] = {-1, 0, 1, 0, 3, 0, 5, 0, 0, 3, 0, 5};
    const int32_t ytr[] = {0, 0, 1, 1, 2, 2};
    const float hte[] = {0.5f, 0.5f, 3.5f, 0.2f, 0.1f, 3.0f, 1.9f, 0.0f};
    const int32_t yte[] = {0, 1, 2, 1}; /* (1.9, 0) is nearer (0,0): wrong */
    double acc;
    cr_assert_eq(cl_nc_heldout_ncc_acc(htr, 6, ytr, hte, 4, yte, 2, 3, &acc), CL_OK);
    cr_assert_eq(acc, 0.75);
    double mu[3 * 2 + 3] = {0};
    int64_t cnt[3] = {2, 2, 2};
    cl_nc_class_sums_add(mu, htr, 6, 2, ytr);
    cl_nc_class_means(mu, mu + 6, cnt, 3, 2);
    const double want[] = {0, 0, 4, 0, 0, 4, 0, 16, 16};
    for (int i = 0; i < 9; i++) cr_assert_eq(mu[i], want[i], "mu[%d] = %g", i, mu[i]);
}

Test(ncc, errors)
{
    const float h[] = {0, 1, 2, 3};
    const int32_t y_ok[] = {0, 1, 0, 1}, y_bad[] = {0, 2, 0, 1}, y_one[] = {0, 0, 0, 0};
    double acc = 0;
    cr_assert_eq(cl_nc_heldout_ncc_acc(h, 4, y_bad, h, 4, y_ok, 1, 2, &acc), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "training label 2"), "%s", cl_errmsg());
    cr_assert(isnan(acc));
    cr_assert_eq(cl_nc_heldout_ncc_acc(h, 4, y_ok, h, 4, y_bad, 1, 2, &acc), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "test label 2"), "%s", cl_errmsg());
    cr_assert_eq(cl_nc_heldout_ncc_acc(h, 4, y_one, h, 4, y_ok, 1, 2, &acc), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "class 1 has no training sample"), "%s", cl_errmsg());
    cr_assert_eq(cl_nc_heldout_ncc_acc(h, 0, y_ok, h, 4, y_ok, 1, 2, &acc), CL_EINVAL);
    cr_assert_eq(cl_nc_heldout_ncc_acc(h, 4, y_ok, h, 4, y_ok, 1, 1, &acc), CL_EINVAL);
    cr_assert_eq(cl_nc_heldout_ncc_acc(h, 4, y_ok, h, 4, y_ok, 1, 2, &acc), CL_OK);
    cr_assert_eq(acc, 0.5); /* means 1 and 2: 0, 1 -> class 0; 2, 3 -> class 1 */
}
