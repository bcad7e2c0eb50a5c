/* Transfer measures (analysis/transfer.c, ridge.c; transfer.h): CDNV against
 * a direct computation, its naive twin and cl_nc_analyze's cdnv; a hand-made
 * CDNV; few-shot NCC determinism, a case with a known answer and errors;
 * the ridge probe on separable data. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/rng.h"
#include "collapse/transfer.h"

/* N samples of K Gaussian clusters in dim dimensions, centres of norm `sep`. */
static void clusters(int N, int dim, int K, double sep, uint64_t seed, float *H, int32_t *y)
{
    cl_rng r;
    cl_rng_seed(&r, seed);
    double c[8][16];
    for (int k = 0; k < K; k++)
        for (int d = 0; d < dim; d++) c[k][d] = sep * cl_rng_normal(&r);
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        for (int d = 0; d < dim; d++)
            H[i * dim + d] = (float)(c[y[i]][d] + cl_rng_normal(&r) * (1 + 0.3 * y[i]));
    }
}

Test(transfer, cdnv_matches_direct_twin_and_nc)
{
    enum { N = 90, DIM = 7, K = 4 };
    float H[N * DIM];
    int32_t y[N];
    clusters(N, DIM, K, 2.0, 3, H, y);
    double mean, max, mn, mxn;
    cr_assert_eq(cl_cdnv(H, N, DIM, y, K, &mean, &max), CL_OK);
    cr_assert_eq(cl_cdnv_naive(H, N, DIM, y, K, &mn, &mxn), CL_OK);
    /* direct: written out here from the definition (Galanti et al. eq. 1) */
    double mu[K][DIM] = {{0}}, var[K] = {0}, n[K] = {0}, sum = 0, big = 0;
    for (int i = 0; i < N; i++) {
        n[y[i]]++;
        for (int d = 0; d < DIM; d++) mu[y[i]][d] += H[i * DIM + d];
    }
    for (int k = 0; k < K; k++)
        for (int d = 0; d < DIM; d++) mu[k][d] /= n[k];
    for (int i = 0; i < N; i++)
        for (int d = 0; d < DIM; d++)
            var[y[i]] += pow(H[i * DIM + d] - mu[y[i]][d], 2) / n[y[i]];
    for (int a = 0; a < K; a++)
        for (int b = a + 1; b < K; b++) {
            double d2 = 0;
            for (int d = 0; d < DIM; d++) d2 += pow(mu[a][d] - mu[b][d], 2);
            double v = (var[a] + var[b]) / (2 * d2);
            sum += v;
            if (v > big) big = v;
        }
    sum /= K * (K - 1) / 2;
    cr_assert(fabs(mean - sum) < 1e-9 * sum, "%.17g vs %.17g", mean, sum);
    cr_assert(fabs(max - big) < 1e-9 * big, "%.17g vs %.17g", max, big);
    cr_assert(fabs(mn - sum) < 1e-9 * sum && fabs(mxn - big) < 1e-9 * big);
    cl_nc_opts o = cl_nc_opts_default();
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(H, N, DIM, y, K, NULL, NULL, &o, &r), CL_OK);
    cr_assert(fabs(r.cdnv - sum) < 1e-6 * sum, "nc %.17g vs %.17g", r.cdnv, sum);
}

Test(transfer, cdnv_hand_made)
{
    /* class 0 at (0,0),(2,0): mean (1,0), Var 1; class 1 at (5,0),(5,0):
     * mean (5,0), Var 0; distance^2 16: V = 1/32 */
    float H[] = {0, 0, 2, 0, 5, 0, 5, 0};
    int32_t y[] = {0, 0, 1, 1};
    double mean, max;
    cr_assert_eq(cl_cdnv(H, 4, 2, y, 2, &mean, &max), CL_OK);
    cr_assert_float_eq(mean, 1.0 / 32, 1e-15);
    cr_assert_float_eq(max, 1.0 / 32, 1e-15);
    int32_t bad[] = {0, 0, 0, 2};
    cr_assert_eq(cl_cdnv(H, 4, 2, bad, 2, &mean, &max), CL_EINVAL);
    int32_t one[] = {0, 0, 0, 0};
    cr_assert_eq(cl_cdnv(H, 4, 2, one, 2, &mean, &max), CL_EINVAL); /* class 1 empty */
    H[0] = NAN;
    cr_assert_eq(cl_cdnv(H, 4, 2, y, 2, &mean, &max), CL_ENUMERIC);
}

Test(transfer, fewshot_known_answer)
{
    /* 1-D support: class 0 at {0, 1}, class 1 at {10, 11}. With 2 shots the
     * centres are always 0.5 and 10.5: queries 2 (0) and 9 (1) are right,
     * 5.6 labelled 0 (4.9 from 10.5, 5.1 from 0.5) and 5.4 labelled 1 are
     * wrong: every episode scores 1/2. With 1 shot (centres in {0, 1} and
     * {10, 11}) the queries 2 and 9 are always right. */
    float S[] = {0, 1, 10, 11}, Q[] = {2, 9, 5.6f, 5.4f};
    int32_t ys[] = {0, 0, 1, 1}, yq[] = {0, 1, 0, 1};
    double mean, ci, acc[20];
    cr_assert_eq(cl_fewshot_ncc(S, 4, ys, Q, 4, yq, 1, 2, 2, 20, 7, &mean, &ci, acc), CL_OK);
    for (int e = 0; e < 20; e++) cr_assert_float_eq(acc[e], 0.5, 1e-15);
    cr_assert_float_eq(mean, 0.5, 1e-15);
    cr_assert_float_eq(ci, 0, 1e-15);
    cr_assert_eq(cl_fewshot_ncc(S, 4, ys, Q, 2, yq, 1, 2, 1, 30, 7, &mean, &ci, NULL), CL_OK);
    cr_assert_float_eq(mean, 1.0, 1e-15);
    /* errors: more shots than samples, bad label, no episodes */
    cr_assert_eq(cl_fewshot_ncc(S, 4, ys, Q, 4, yq, 1, 2, 3, 3, 7, &mean, &ci, NULL), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "fewer than 3 shots"), "%s", cl_errmsg());
    int32_t bad[] = {0, 0, 1, 2};
    cr_assert_eq(cl_fewshot_ncc(S, 4, bad, Q, 4, yq, 1, 2, 1, 3, 7, &mean, &ci, NULL),
                 CL_EINVAL);
    cr_assert_eq(cl_fewshot_ncc(S, 4, ys, Q, 4, yq, 1, 2, 1, 0, 7, &mean, &ci, NULL), CL_EINVAL);
}

Test(transfer, fewshot_deterministic_and_seeded)
{
    enum { N = 120, DIM = 5, K = 3, E = 40 };
    float H[N * DIM], Q[N * DIM];
    int32_t y[N], yq[N];
    clusters(N, DIM, K, 1.0, 5, H, y);
    clusters(N, DIM, K, 1.0, 5, Q, yq);
    double a[E], b[E], c[E], m1, m2, m3, ci1, ci2, ci3;
    cr_assert_eq(cl_fewshot_ncc(H, N, y, Q, N, yq, DIM, K, 1, E, 11, &m1, &ci1, a), CL_OK);
    cr_assert_eq(cl_fewshot_ncc(H, N, y, Q, N, yq, DIM, K, 1, E, 11, &m2, &ci2, b), CL_OK);
    cr_assert_eq(cl_fewshot_ncc(H, N, y, Q, N, yq, DIM, K, 1, E, 12, &m3, &ci3, c), CL_OK);
    cr_assert(!memcmp(a, b, sizeof a) && m1 == m2 && ci1 == ci2);
    cr_assert(memcmp(a, c, sizeof a), "another seed gives the same episodes");
    double s = 0, s2 = 0;
    for (int e = 0; e < E; e++) s += a[e];
    s /= E;
    for (int e = 0; e < E; e++) s2 += (a[e] - s) * (a[e] - s);
    cr_assert_float_eq(m1, s, 1e-12);
    cr_assert_float_eq(ci1, 1.96 * sqrt(s2 / (E - 1) / E), 1e-12);
    /* the first episodes do not depend on how many follow */
    double d[5], m4, ci4;
    cr_assert_eq(cl_fewshot_ncc(H, N, y, Q, N, yq, DIM, K, 1, 5, 11, &m4, &ci4, d), CL_OK);
    cr_assert(!memcmp(a, d, sizeof d));
}

Test(transfer, ridge_separable_and_errors)
{
    enum { N = 200, DIM = 6, K = 4 };
    float H[N * DIM], T[N * DIM];
    int32_t y[N], yt[N];
    clusters(N, DIM, K, 0, 9, H, y); /* sep 0: centres at 0; place them apart */
    clusters(N, DIM, K, 0, 10, T, yt);
    for (int i = 0; i < N; i++) {
        H[i * DIM + y[i]] += 40; /* class k far along axis k: separable */
        T[i * DIM + yt[i]] += 40;
    }
    double acc, lam;
    cr_assert_eq(cl_ridge_probe(H, N, y, T, N, yt, DIM, K, -1, 1, &acc, &lam), CL_OK);
    cr_assert_float_eq(acc, 1.0, 1e-15);
    cr_assert(lam >= 1e-6 && lam <= 1, "%g", lam);
    cr_assert_eq(cl_ridge_probe(H, N, y, T, N, yt, DIM, K, 1e-3, 1, &acc, &lam), CL_OK);
    cr_assert_float_eq(acc, 1.0, 1e-15);
    cr_assert_float_eq(lam, 1e-3, 0);
    /* labels through a random projection: no better than chance by much */
    for (int i = 0; i < N; i++) yt[i] = (yt[i] + 1) % K;
    cr_assert_eq(cl_ridge_probe(H, N, y, T, N, yt, DIM, K, 1e-3, 1, &acc, &lam), CL_OK);
    cr_assert(acc < 0.05, "%g", acc);
    yt[3] = K;
    cr_assert_eq(cl_ridge_probe(H, N, y, T, N, yt, DIM, K, 1e-3, 1, &acc, &lam), CL_EINVAL);
    cr_assert_eq(cl_ridge_probe(H, 1, y, T, N, yt, DIM, K, 1e-3, 1, &acc, &lam), CL_EINVAL);
}
