/* Collapse analyzer, exact cases: closed forms (simplex ETF, identity
 * classifier), the affine invariance of the fuzziness D, NaN keys without W,
 * and D < K-1 against a direct D x D computation. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/rng.h"
#include "nc_common.h"

/* Features exactly at the vertices of a simplex ETF (rotated into D = 9
 * dimensions, shifted by a global mean) with W = 3 M: every NC quantity is 0. */
Test(nc_closed, closed_form_simplex_etf)
{
    enum { K = 5, D = 9, PER = 4, N = K * PER };
    double Q[D][D]; /* a fixed orthogonal matrix: Householder I - 2 v v^T / v^T v */
    double v[D], vv = 0;
    for (int i = 0; i < D; i++) {
        v[i] = 1.0 + 0.5 * i;
        vv += v[i] * v[i];
    }
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++)
            Q[i][j] = (i == j) - 2 * v[i] * v[j] / vv;
    float M[K * D], W[K * D], H[N * D];
    int32_t y[N];
    for (int c = 0; c < K; c++)
        for (int d = 0; d < D; d++) {
            double m = 0; /* row c of (I - 11^T/K) padded to D, rotated by Q */
            for (int k = 0; k < K; k++)
                m += ((c == k) - 1.0 / K) * Q[k][d];
            M[c * D + d] = (float)(2.0 * m);
            W[c * D + d] = (float)(6.0 * m);
        }
    for (int i = 0; i < N; i++) {
        y[i] = (i * 3) % K;
        for (int d = 0; d < D; d++)
            H[i * D + d] = M[y[i] * D + d] + 0.25f * (float)d;
    }
    float b[K] = {0};
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(H, N, D, y, K, W, b, NULL, &r), CL_OK, "%s", cl_errmsg());
    const double tol = 1e-6;
    cr_expect_lt(fabs(r.nc1), tol, "nc1 %g", r.nc1);
    cr_expect_lt(fabs(r.fuzz), tol, "D %g", r.fuzz);
    cr_expect_lt(fabs(r.nc1_quotient), tol);
    cr_expect_lt(fabs(r.cdnv), tol);
    cr_expect_lt(r.equinorm_M, tol, "%g", r.equinorm_M);
    cr_expect_lt(r.equinorm_W, tol, "%g", r.equinorm_W);
    cr_expect_lt(r.equiangular_M, tol, "%g", r.equiangular_M);
    cr_expect_lt(r.equiangular_W, tol, "%g", r.equiangular_W);
    cr_expect_lt(r.maxangle_M, tol, "%g", r.maxangle_M);
    cr_expect_lt(r.maxangle_W, tol, "%g", r.maxangle_W);
    cr_expect_lt(r.etf_M, tol, "%g", r.etf_M);
    cr_expect_lt(r.etf_W, tol, "%g", r.etf_W);
    cr_expect_lt(r.nc3, tol, "%g", r.nc3);
    cr_expect_lt(r.nc3_zhu, tol, "%g", r.nc3_zhu);
    cr_expect_eq(r.nc4, 0.0);
    cr_expect_eq(r.ncc_acc, 1.0);
    cr_expect_eq(r.acc, 1.0);
}

/* W = I (K = D = 10): etf_W = || I/sqrt(10) - (I - 11^T/10)/3 ||_F = 0.3204,
 * maxangle_W = 1/9, equinorm_W = equiangular_W = 0. */
Test(nc_closed, closed_form_identity_classifier)
{
    enum { K = 10, D = 10, N = 40 };
    float W[K * D] = {0}, H[N * D];
    int32_t y[N];
    for (int c = 0; c < K; c++)
        W[c * D + c] = 1;
    cl_rng g;
    cl_rng_seed(&g, 3);
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        for (int d = 0; d < D; d++)
            H[i * D + d] = (float)cl_rng_normal(&g) + 3.0f * (d == y[i]);
    }
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(H, N, D, y, K, W, NULL, NULL, &r), CL_OK, "%s",
                 cl_errmsg());
    double exact = sqrt(10 * pow(1 / sqrt(10.0) - 0.3, 2) + 90 * pow(0.1 / 3, 2));
    cr_expect(fabs(r.etf_W - exact) < 1e-12, "etf_W %.15g vs %.15g", r.etf_W, exact);
    cr_expect(fabs(r.etf_W - 0.3204) < 5e-5, "etf_W %.6g", r.etf_W);
    cr_expect(fabs(r.maxangle_W - 1.0 / 9) < 1e-12, "maxangle_W %.15g", r.maxangle_W);
    cr_expect_lt(r.equinorm_W, 1e-15);
    cr_expect_lt(r.equiangular_W, 1e-15);
    cr_expect_eq(r.has_b, 0);
}

/* D (and nc1) is invariant to h -> a h + c. */
Test(nc_closed, fuzziness_affine_invariant)
{
    ncase c;
    load_case("tall", &c);
    cl_nc_result r0, r1;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, NULL, NULL, NULL, &r0), CL_OK);
    float *X = cl_alloc_array((size_t)(c.N * c.dim), sizeof(float), "X");
    for (int64_t i = 0; i < c.N; i++)
        for (int d = 0; d < c.dim; d++)
            X[i * c.dim + d] = 2.5f * c.H[i * c.dim + d] + 0.75f * (d - 7);
    cr_assert_eq(cl_nc_analyze(X, c.N, c.dim, c.y, c.K, NULL, NULL, NULL, &r1), CL_OK);
    cr_expect(close_rel(r1.fuzz, r0.fuzz, 1e-5), "%.10g vs %.10g", r1.fuzz, r0.fuzz);
    cr_expect(close_rel(r1.nc1_quotient, r0.nc1_quotient, 1e-5));
    cr_expect(close_rel(r1.cdnv, r0.cdnv, 1e-5));
    cr_expect_eq(r1.ncc_acc, r0.ncc_acc);
    cl_free(X);
    free_case(&c);
}

Test(nc_closed, without_W_keys_are_nan)
{
    ncase c;
    load_case("unbal", &c);
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, NULL, NULL, NULL, &r), CL_OK);
    cr_assert_eq(r.has_W, 0);
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        double v = cl_nc_key_value(&r, i);
        if (cl_nc_key_needs_W(i))
            cr_expect(isnan(v), "%s", cl_nc_key_name(i));
        else if (cl_nc_key_group(i) == CL_NC_GROUP_BASE)
            cr_expect(isfinite(v), "%s", cl_nc_key_name(i));
    }
    free_case(&c);
}

/* D < K-1: the truncation keeps min(K-1, D) eigenpairs (matches the reference
 * rule on the D x D Sb); checked here against a direct D x D computation. */
Test(nc_closed, narrow_features_D_less_than_K_minus_1)
{
    enum { K = 5, D = 2, N = 50 };
    float H[N * D];
    int32_t y[N];
    cl_rng g;
    cl_rng_seed(&g, 11);
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        H[i * D + 0] = (float)(cos(1.3 * y[i]) * 3 + cl_rng_normal(&g));
        H[i * D + 1] = (float)(sin(1.3 * y[i]) * 2 + cl_rng_normal(&g));
    }
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(H, N, D, y, K, NULL, NULL, NULL, &r), CL_OK, "%s",
                 cl_errmsg());
    /* Direct: 2 x 2 Sw, Sb, tr(Sw Sb^{-1}). */
    double mu[K][D] = {{0}}, muG[D] = {0}, Sw[2][2] = {{0}}, Sb[2][2] = {{0}};
    int cnt[K] = {0};
    for (int i = 0; i < N; i++) {
        cnt[y[i]]++;
        for (int d = 0; d < D; d++)
            mu[y[i]][d] += H[i * D + d];
    }
    for (int k = 0; k < K; k++)
        for (int d = 0; d < D; d++) {
            mu[k][d] /= cnt[k];
            muG[d] += mu[k][d] / K;
        }
    for (int i = 0; i < N; i++)
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++)
                Sw[a][b] +=
                    (H[i * D + a] - mu[y[i]][a]) * (H[i * D + b] - mu[y[i]][b]) / N;
    for (int k = 0; k < K; k++)
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++)
                Sb[a][b] += (mu[k][a] - muG[a]) * (mu[k][b] - muG[b]) / K;
    double det = Sb[0][0] * Sb[1][1] - Sb[0][1] * Sb[1][0];
    double inv[2][2] = {{Sb[1][1] / det, -Sb[0][1] / det},
                        {-Sb[1][0] / det, Sb[0][0] / det}};
    double tr = 0;
    for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++)
            tr += Sw[a][b] * inv[b][a];
    cr_expect(close_rel(r.fuzz, tr, 1e-9), "%.12g vs %.12g", r.fuzz, tr);
}
