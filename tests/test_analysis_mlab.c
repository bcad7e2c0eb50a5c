/* Multi-label collapse keys (Li, Wang, Li & Qu, ICML 2024): NumPy reference
 * fixtures (tools/mlab_reference.py: boolean masks, arccos), the naive twin
 * on random data to 1e-10, an exact geometry (angle 0, known scale), the
 * single-label row selection, the key table and the edge cases (no pairs,
 * a missing class, rows with no label or a bad value, K' = 2). The UFM
 * check is in test_analysis_mlab_ufm.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/mlab.h"
#include "collapse/npy.h"
#include "collapse/rng.h"

#include "common.h"

#define FIX "fixtures/mlab/"

TestSuite(mlab, .timeout = TC_TIMEOUT);

static int close_rel(double a, double e, double tol)
{
    if (isnan(a) || isnan(e)) return isnan(a) && isnan(e);
    return fabs(a - e) <= tol * fmax(1.0, fabs(e));
}

typedef cl_status (*mlab_fn)(const float *, int64_t, int, const uint8_t *, int,
                             cl_mlab_result *);

static void reference_case(const char *name, mlab_fn fn)
{
    char p[256];
    float *H;
    double *e;
    int nd;
    int64_t sh[8], esh[8];
    cl_npy Y;
    snprintf(p, sizeof p, FIX "%s/H.npy", name);
    cr_assert_eq(cl_npy_read_f32(p, &H, &nd, sh), CL_OK, "%s", cl_errmsg());
    snprintf(p, sizeof p, FIX "%s/Yk.npy", name);
    cr_assert_eq(cl_npy_read(p, &Y), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(Y.dtype, CL_NPY_U8);
    cr_assert_eq(Y.ndim, 2);
    cr_assert_eq(Y.shape[0], sh[0]);
    snprintf(p, sizeof p, FIX "%s/expected.npy", name);
    cr_assert_eq(cl_npy_read_f64(p, &e, &nd, esh), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(esh[0], cl_mlab_key_count() + 5);
    cl_mlab_result r;
    cr_assert_eq(fn(H, sh[0], (int)sh[1], Y.data, (int)Y.shape[1], &r), CL_OK, "%s",
                 cl_errmsg());
    for (int i = 0; i < cl_mlab_key_count(); i++)
        cr_expect(close_rel(cl_mlab_key_value(&r, i), e[i], 1e-9),
                  "%s: %s = %.15g, reference %.15g", name, cl_mlab_key_name(i),
                  cl_mlab_key_value(&r, i), e[i]);
    const double *c = e + cl_mlab_key_count();
    cr_expect_eq(r.n_single, (int64_t)c[0], "%s n_single", name);
    cr_expect_eq(r.n_pair, (int64_t)c[1], "%s n_pair", name);
    cr_expect_eq(r.n_multi, (int64_t)c[2], "%s n_multi", name);
    cr_expect_eq(r.sets_present, (int)c[3], "%s sets_present", name);
    cr_expect_eq(r.sets_skipped, (int)c[4], "%s sets_skipped", name);
    cr_expect_eq(r.N, sh[0]);
    cr_expect_eq(r.dim, (int)sh[1]);
    cl_free(H);
    cl_free(e);
    cl_npy_free(&Y);
}

Test(mlab, keys_match_reference_order)
{
    FILE *f = fopen(FIX "keys.txt", "r");
    cr_assert_not_null(f);
    char line[64];
    int i = 0;
    while (fgets(line, sizeof line, f) && i < cl_mlab_key_count()) {
        line[strcspn(line, "\n")] = 0;
        cr_assert_str_eq(cl_mlab_key_name(i), line);
        cr_assert_gt(strlen(cl_mlab_key_desc(i)), 5);
        i++;
    }
    fclose(f);
    cr_assert_eq(i, cl_mlab_key_count());
}

Test(mlab, reference_missing_class_and_triples)
{
    reference_case("mixed", cl_mlab_analyze);
}
Test(mlab, reference_dim_greater_than_sets)
{
    reference_case("wide", cl_mlab_analyze);
}
Test(mlab, reference_ten_classes)
{
    reference_case("ten", cl_mlab_analyze);
}
Test(mlab, naive_twin_matches_reference)
{
    reference_case("mixed", cl_mlab_analyze_naive);
    reference_case("wide", cl_mlab_analyze_naive);
    reference_case("ten", cl_mlab_analyze_naive);
}

/* Random features and label sets of multiplicity 1-3 (class `skip` has no
 * single-label rows when >= 0). */
static void random_data(cl_rng *g, int64_t N, int dim, int K, int skip, float *H, uint8_t *Y)
{
    for (int64_t i = 0; i < N * dim; i++)
        H[i] = (float)(cl_rng_normal(g) + 0.5);
    memset(Y, 0, (size_t)(N * K));
    for (int64_t i = 0; i < N; i++) {
        uint64_t u = cl_rng_below(g, 10);
        int m = u < 5 ? 1 : u < 9 || K < 3 ? 2 : 3;
        for (int c = 0; c < m;) {
            int k = (int)cl_rng_below(g, (uint64_t)K);
            if (m == 1 && k == skip) continue;
            if (!Y[i * K + k]) {
                Y[i * K + k] = 1;
                c++;
            }
        }
    }
}

Test(mlab, fast_equals_naive_random)
{
    cl_rng g;
    cl_rng_seed(&g, 13);
    const int Ks[] = {2, 3, 6, 11}, dims[] = {1, 5, 33, 8};
    for (int t = 0; t < 4; t++) {
        const int K = Ks[t], dim = dims[t];
        const int64_t N = 300;
        float *H = cl_alloc_array((size_t)(N * dim), sizeof(float), "H");
        uint8_t *Y = cl_alloc_array((size_t)(N * K), 1, "Y");
        random_data(&g, N, dim, K, t == 2 ? 4 : -1, H, Y);
        cl_mlab_result a, b;
        cr_assert_eq(cl_mlab_analyze(H, N, dim, Y, K, &a), CL_OK, "%s", cl_errmsg());
        cr_assert_eq(cl_mlab_analyze_naive(H, N, dim, Y, K, &b), CL_OK, "%s", cl_errmsg());
        for (int i = 0; i < cl_mlab_key_count(); i++)
            cr_expect(close_rel(cl_mlab_key_value(&a, i), cl_mlab_key_value(&b, i), 1e-10),
                      "K %d dim %d %s: fast %.15g naive %.15g", K, dim, cl_mlab_key_name(i),
                      cl_mlab_key_value(&a, i), cl_mlab_key_value(&b, i));
        cr_expect_eq(a.n_single, b.n_single);
        cr_expect_eq(a.n_pair, b.n_pair);
        cr_expect_eq(a.n_multi, b.n_multi);
        cr_expect_eq(a.sets_present, b.sets_present);
        cr_expect_eq(a.sets_skipped, b.sets_skipped);
        if (t == 2) cr_expect_gt(a.sets_skipped, 0, "class 4 has no single-label rows");
        if (t == 3) cr_expect(isfinite(a.angle) && a.sets > 20);
        cl_free(H);
        cl_free(Y);
    }
}

/* mu_k - g = the vertices of a simplex in R^dim (K <= dim), mu_ij - g =
 * c_ij (mu_i + mu_j - 2g) exactly: every angle 0 and the scale 2 c_ij. */
Test(mlab, exact_geometry)
{
    enum { K = 4, D = 6, NS = 3, NP = 2 };
    const double c[6] = {0.8, 0.8, 0.8, 0.8, 0.8, 0.8};
    const float off[D] = {3, -2, 1, 0.5f, 7, -1};
    float H[(K * NS + 6 * NP) * D];
    uint8_t Y[(K * NS + 6 * NP) * K] = {0};
    int64_t n = 0;
    for (int k = 0; k < K; k++)
        for (int s = 0; s < NS; s++, n++) {
            for (int d = 0; d < D; d++) /* e_k - 1/K, plus +-0.1 noise that averages out */
                H[n * D + d] = off[d] + (float)((d == k) - (d < K ? 0.25 : 0.0)) +
                               (d == 5 ? 0.1f * (float)(s - 1) : 0.0f);
            Y[n * K + k] = 1;
        }
    int p = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++, p++)
            for (int s = 0; s < NP; s++, n++) {
                for (int d = 0; d < D; d++) {
                    double v = (d == i) + (d == j) - (d < K ? 0.5 : 0.0);
                    H[n * D + d] = off[d] + (float)(c[p] * v) + (d == 4 ? (s ? 0.25f : -0.25f) : 0);
                }
                Y[n * K + i] = Y[n * K + j] = 1;
            }
    cl_mlab_result r;
    cr_assert_eq(cl_mlab_analyze(H, n, D, Y, K, &r), CL_OK, "%s", cl_errmsg());
    cr_expect_eq(r.sets, 6);
    cr_expect_eq(r.classes, 4);
    cr_expect_lt(r.angle, 1e-3, "angle %g", r.angle);
    cr_expect(fabs(r.scale_mean - 1.6) < 1e-5, "scale %g", r.scale_mean);
    cr_expect_lt(r.scale_cv, 1e-5);
    cr_expect_gt(r.angle_uncentred, 1.0, "the offset turns the uncentred means");
    cr_expect(r.angle_ratio > 0 && r.angle_ratio < 1);
}

Test(mlab, single_rows_and_subset)
{
    const uint8_t Y[] = {0, 1, 0, /**/ 1, 1, 0, /**/ 0, 0, 1, /**/ 1, 1, 1, /**/ 1, 0, 0};
    const float H[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    int64_t idx[5], n;
    int32_t y[5];
    cr_assert_eq(cl_mlab_single_rows(Y, 5, 3, idx, y, &n), CL_OK);
    cr_assert_eq(n, 3);
    cr_expect(idx[0] == 0 && idx[1] == 2 && idx[2] == 4);
    cr_expect(y[0] == 1 && y[1] == 2 && y[2] == 0);
    float *Hs;
    int32_t *ys;
    cr_assert_eq(cl_mlab_single_subset(H, 5, 2, Y, 3, &Hs, &ys, &n), CL_OK);
    cr_assert_eq(n, 3);
    cr_expect(Hs[0] == 1 && Hs[1] == 2 && Hs[2] == 5 && Hs[3] == 6 && Hs[4] == 9);
    cr_expect(ys[0] == 1 && ys[2] == 0);
    cl_free(Hs);
    cl_free(ys);
    const uint8_t P[] = {1, 1, 0, 1, 1, 0};
    cr_assert_eq(cl_mlab_single_subset(H, 2, 2, P, 3, &Hs, &ys, &n), CL_OK);
    cr_expect(n == 0 && Hs == NULL && ys == NULL);
}

Test(mlab, no_pairs_gives_nan)
{
    const uint8_t Y[] = {1, 0, 0, /**/ 0, 1, 0, /**/ 0, 0, 1, /**/ 1, 1, 1};
    const float H[] = {1, 0, 0, 1, 2, 2, 5, 5};
    cl_mlab_result r;
    cr_assert_eq(cl_mlab_analyze(H, 4, 2, Y, 3, &r), CL_OK);
    cr_expect_eq(r.sets, 0);
    cr_expect_eq(r.classes, 3);
    cr_expect_eq(r.n_multi, 1);
    for (int i = 2; i < cl_mlab_key_count(); i++)
        cr_expect(isnan(cl_mlab_key_value(&r, i)), "%s", cl_mlab_key_name(i));
    cr_expect_eq(cl_mlab_key_value(&r, 0), 0.0);
    cr_expect_eq(cl_mlab_key_value(&r, 1), 3.0);
}

Test(mlab, missing_class_skips_its_sets)
{
    /* class 2 has no single-label row: {0,2} is skipped, {0,1} measured */
    const uint8_t Y[] = {1, 0, 0, /**/ 0, 1, 0, /**/ 1, 1, 0, /**/ 1, 0, 1, /**/ 1, 0, 1};
    const float H[] = {1, 0, 0, 1, 2, 2, 9, 9, 9, 9};
    cl_mlab_result r, q;
    cr_assert_eq(cl_mlab_analyze(H, 5, 2, Y, 3, &r), CL_OK);
    cr_expect_eq(r.sets_present, 2);
    cr_expect_eq(r.sets_skipped, 1);
    cr_expect_eq(r.sets, 1);
    cr_expect_eq(r.classes, 2);
    /* two classes: centred mu_0 + mu_1 = 0, so the centred keys are undefined */
    cr_expect(isnan(r.angle) && isnan(r.scale_mean) && isnan(r.scale_cv));
    cr_expect(fabs(r.angle_uncentred) < 1e-6, "(2,2) is along (1,0)+(0,1)");
    cr_expect(isnan(r.angle_ratio) || r.angle_ratio == 0, "denominator angle 0: %g",
              r.angle_ratio);
    cr_assert_eq(cl_mlab_analyze_naive(H, 5, 2, Y, 3, &q), CL_OK);
    cr_expect_eq(q.sets_skipped, 1);
    cr_expect(isnan(q.angle));
}

Test(mlab, bad_labels_one_line_errors)
{
    const float H[] = {1, 2, 3, 4, 5, 6};
    const uint8_t zero[] = {1, 0, /**/ 0, 0, /**/ 0, 1};
    const uint8_t two[] = {1, 0, /**/ 0, 2, /**/ 0, 1};
    cl_mlab_result r;
    int64_t n;
    cr_assert_eq(cl_mlab_analyze(H, 3, 2, zero, 2, &r), CL_EINVAL);
    cr_expect(strstr(cl_errmsg(), "row 1 has no label") && !strchr(cl_errmsg(), '\n'), "%s",
              cl_errmsg());
    cr_assert_eq(cl_mlab_analyze_naive(H, 3, 2, zero, 2, &r), CL_EINVAL);
    cr_assert_eq(cl_mlab_single_rows(zero, 3, 2, NULL, NULL, &n), CL_EINVAL);
    cr_assert_eq(cl_mlab_analyze(H, 3, 2, two, 2, &r), CL_EINVAL);
    cr_expect(strstr(cl_errmsg(), "row 1 has value 2 at column 1"), "%s", cl_errmsg());
    cr_assert_eq(cl_mlab_analyze(H, 3, 2, two, 1, &r), CL_EINVAL);
    cr_assert_eq(cl_mlab_analyze(H, 0, 2, two, 2, &r), CL_EINVAL);
    cr_assert_eq(cl_mlab_analyze(H, 3, 0, two, 2, &r), CL_EINVAL);
    const float bad[] = {1, 2, NAN, 4, 5, 6};
    const uint8_t ok[] = {1, 0, /**/ 0, 1, /**/ 1, 1};
    cr_assert_eq(cl_mlab_analyze(bad, 3, 2, ok, 2, &r), CL_ENUMERIC);
    cr_expect(strstr(cl_errmsg(), "row 1"), "%s", cl_errmsg());
}
