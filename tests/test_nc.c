/* Collapse analyzer: NumPy reference fixtures (tools/nc_reference.py, the
 * slow D x D way), closed forms, invariances, streaming == in-memory, error
 * paths, the He & Su fit, the JSON form and the `collapse analyze` CLI. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "collapse/rng.h"

#define FIX "fixtures/nc/"

typedef struct {
    float *H, *W, *b;
    int32_t *y;
    int64_t N;
    int D, K;
} ncase;

static void load_case(const char *name, ncase *c)
{
    char p[256];
    int nd;
    int64_t sh[8];
    memset(c, 0, sizeof *c);
    snprintf(p, sizeof p, FIX "%s/H.npy", name);
    cr_assert_eq(cl_npy_read_f32(p, &c->H, &nd, sh), CL_OK, "%s", cl_errmsg());
    c->N = sh[0];
    c->D = 1;
    for (int i = 1; i < nd; i++)
        c->D *= (int)sh[i];
    snprintf(p, sizeof p, FIX "%s/y.npy", name);
    cr_assert_eq(cl_npy_read_i32(p, &c->y, &nd, sh), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(sh[0], c->N);
    snprintf(p, sizeof p, FIX "%s/W.npy", name);
    cr_assert_eq(cl_npy_read_f32(p, &c->W, &nd, sh), CL_OK, "%s", cl_errmsg());
    c->K = (int)sh[0];
    cr_assert_eq(sh[1], c->D);
    snprintf(p, sizeof p, FIX "%s/b.npy", name);
    cr_assert_eq(cl_npy_read_f32(p, &c->b, &nd, sh), CL_OK, "%s", cl_errmsg());
}

static void free_case(ncase *c)
{
    cl_free(c->H);
    cl_free(c->W);
    cl_free(c->b);
    cl_free(c->y);
}

static int close_rel(double a, double b, double rel)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fabs(a - b) <= rel * fmax(fabs(b), 1e-9);
}

static void check_expected(const char *name, const char *which, const cl_nc_result *r)
{
    char p[256];
    snprintf(p, sizeof p, FIX "%s/expected_%s.npy", name, which);
    double *e;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f64(p, &e, &nd, sh), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(sh[0], cl_nc_nkeys());
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        double v = cl_nc_key_value(r, i);
        cr_expect(close_rel(v, e[i], 1e-6), "%s %s: %s = %.12g, reference %.12g", name,
                  which, cl_nc_key_name(i), v, e[i]);
    }
    cl_free(e);
}

Test(nc, keys_match_reference_order)
{
    FILE *f = fopen(FIX "keys.txt", "r");
    cr_assert_not_null(f);
    char line[64];
    int i = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        cr_assert_lt(i, cl_nc_nkeys());
        cr_assert_str_eq(cl_nc_key_name(i), line);
        i++;
    }
    fclose(f);
    cr_assert_eq(i, cl_nc_nkeys());
}

static void reference_case(const char *name)
{
    ncase c;
    load_case(name, &c);
    cl_nc_opts o = cl_nc_opts_default();
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, c.W, c.b, &o, &r), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(r.N, c.N);
    cr_assert_eq(r.D, c.D);
    cr_assert_eq(r.K, c.K);
    check_expected(name, "unweighted", &r);
    o.weighted_mean = 1;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, c.W, c.b, &o, &r), CL_OK);
    check_expected(name, "weighted", &r);
    o = cl_nc_opts_default();
    o.nc4_bias = 0;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, c.W, c.b, &o, &r), CL_OK);
    check_expected(name, "nobias", &r);
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, NULL, NULL, NULL, &r), CL_OK);
    check_expected(name, "noW", &r);
    free_case(&c);
}

Test(nc, reference_D_less_than_N)
{
    reference_case("tall");
}
Test(nc, reference_D_greater_than_N)
{
    reference_case("wide");
}
Test(nc, reference_unbalanced)
{
    reference_case("unbal");
}
Test(nc, reference_conv_features)
{
    reference_case("conv");
}

/* The naive twin itself agrees with the NumPy reference. */
Test(nc, naive_twin_matches_reference)
{
    const char *names[] = {"tall", "wide", "unbal"};
    for (int t = 0; t < 3; t++) {
        ncase c;
        load_case(names[t], &c);
        cl_nc_opts o = cl_nc_opts_default();
        o.weighted_mean = 1;
        cl_nc_result r;
        cr_assert_eq(cl_nc_analyze_naive(c.H, c.N, c.D, c.y, c.K, c.W, c.b, &o, &r),
                     CL_OK);
        check_expected(names[t], "weighted", &r);
        free_case(&c);
    }
}

/* Fast vs naive on random problems of many shapes: D < N, D > N, D < K-1,
 * unbalanced, both mu_G conventions, with and without bias and W. */
Test(nc, fast_matches_naive_random_shapes)
{
    const int shapes[][3] = {{60, 7, 3},   {25, 40, 5}, {90, 3, 6}, {33, 16, 2},
                             {120, 12, 8}, {18, 50, 4}, {64, 1, 2}};
    cl_rng g;
    cl_rng_seed(&g, 77);
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        int N = shapes[t][0], D = shapes[t][1], K = shapes[t][2];
        float *H = cl_alloc_array((size_t)N * D, sizeof(float), "H");
        float *W = cl_alloc_array((size_t)K * D, sizeof(float), "W");
        float *b = cl_alloc_array((size_t)K, sizeof(float), "b");
        int32_t *y = cl_alloc_array((size_t)N, sizeof(int32_t), "y");
        /* Unbalanced: class c drawn with weight c + 1 (every class gets sample c first).
         */
        for (int i = 0; i < N; i++) {
            double u = cl_rng_uniform(&g) * K * (K + 1) / 2.0;
            int c = 0;
            while (c < K - 1 && u >= c + 1)
                u -= ++c;
            y[i] = i < K ? i : c;
        }
        for (int i = 0; i < N; i++)
            for (int d = 0; d < D; d++)
                H[i * D + d] =
                    (float)(cl_rng_normal(&g) + 2.0 * sin(1.7 * y[i] * (d + 1)) + 5);
        for (int i = 0; i < K * D; i++)
            W[i] = (float)cl_rng_normal(&g);
        for (int c = 0; c < K; c++)
            b[c] = (float)cl_rng_normal(&g);
        for (int conv = 0; conv < 4; conv++) {
            cl_nc_opts o = cl_nc_opts_default();
            o.weighted_mean = conv & 1;
            o.nc4_bias = !(conv & 2);
            const float *Wp = conv == 3 ? NULL : W;
            cl_nc_result f, n;
            cr_assert_eq(cl_nc_analyze(H, N, D, y, K, Wp, b, &o, &f), CL_OK, "%s",
                         cl_errmsg());
            cr_assert_eq(cl_nc_analyze_naive(H, N, D, y, K, Wp, b, &o, &n), CL_OK, "%s",
                         cl_errmsg());
            for (int i = 0; i < cl_nc_nkeys(); i++)
                cr_expect(
                    close_rel(cl_nc_key_value(&f, i), cl_nc_key_value(&n, i), 1e-8) ||
                        fabs(cl_nc_key_value(&f, i) - cl_nc_key_value(&n, i)) < 1e-12,
                    "N %d D %d K %d conv %d: %s fast %.12g naive %.12g", N, D, K, conv,
                    cl_nc_key_name(i), cl_nc_key_value(&f, i), cl_nc_key_value(&n, i));
        }
        cl_free(H);
        cl_free(W);
        cl_free(b);
        cl_free(y);
    }
}

static void random_problem(cl_rng *g, int N, int D, int K, float *H, int32_t *y, float *W,
                           float *b)
{
    for (int i = 0; i < N; i++) {
        y[i] = i < K ? i : (int)(cl_rng_uniform(g) * K);
        for (int d = 0; d < D; d++)
            H[(size_t)i * D + d] =
                (float)(cl_rng_normal(g) + 1.5 * cos(0.9 * y[i] * (d + 1)) - 2.0);
    }
    for (int i = 0; i < K * D; i++) W[i] = (float)cl_rng_normal(g);
    for (int c = 0; c < K; c++) b[c] = (float)cl_rng_normal(g);
}

/* Batches big enough for the threaded pass 2 (several threads, several
 * blocks per thread) against the naive twin, and against one-row-at-a-time
 * streaming (the single-threaded path). */
Test(nc, threaded_pass2_matches_naive_and_serial)
{
    const int shapes[][3] = {{700, 128, 7}, {300, 1024, 5}};
    cl_rng g;
    cl_rng_seed(&g, 5);
    for (int t = 0; t < 2; t++) {
        int N = shapes[t][0], D = shapes[t][1], K = shapes[t][2];
        float *H = cl_alloc_array((size_t)N * D, sizeof(float), "H");
        float *W = cl_alloc_array((size_t)K * D, sizeof(float), "W");
        float *b = cl_alloc_array((size_t)K, sizeof(float), "b");
        int32_t *y = cl_alloc_array((size_t)N, sizeof(int32_t), "y");
        random_problem(&g, N, D, K, H, y, W, b);
        cl_nc_result f, n;
        cr_assert_eq(cl_nc_analyze(H, N, D, y, K, W, b, NULL, &f), CL_OK, "%s", cl_errmsg());
        if (D <= 128) {
            cr_assert_eq(cl_nc_analyze_naive(H, N, D, y, K, W, b, NULL, &n), CL_OK);
        } else {
            cl_nc_stream *s;
            cr_assert_eq(cl_nc_stream_create(&s, D, K, W, b, NULL), CL_OK);
            for (int i = 0; i < N; i++)
                cr_assert_eq(cl_nc_stream_feed1(s, H + (size_t)i * D, 1, D, y + i), CL_OK);
            cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
            for (int i = 0; i < N; i++)
                cr_assert_eq(cl_nc_stream_feed2(s, H + (size_t)i * D, 1, D, y + i), CL_OK);
            cr_assert_eq(cl_nc_stream_result(s, &n), CL_OK);
            cl_nc_stream_destroy(s);
        }
        for (int i = 0; i < cl_nc_nkeys(); i++)
            cr_expect(close_rel(cl_nc_key_value(&f, i), cl_nc_key_value(&n, i), 1e-8),
                      "N %d D %d: %s %.12g vs %.12g", N, D, cl_nc_key_name(i),
                      cl_nc_key_value(&f, i), cl_nc_key_value(&n, i));
        cl_free(H);
        cl_free(W);
        cl_free(b);
        cl_free(y);
    }
}

/* Unbalanced data: the two mu_G conventions really differ (so the option is wired). */
Test(nc, weighted_mean_differs_when_unbalanced)
{
    ncase c;
    load_case("unbal", &c);
    cl_nc_opts o = cl_nc_opts_default();
    cl_nc_result a, b;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, c.W, c.b, &o, &a), CL_OK);
    o.weighted_mean = 1;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, c.W, c.b, &o, &b), CL_OK);
    cr_assert_gt(fabs(a.nc1 - b.nc1), 1e-3 * a.nc1);
    cr_assert_eq(b.opts.weighted_mean, 1);
    cr_assert_eq(a.opts.weighted_mean, 0);
    free_case(&c);
}

/* Streams the case with the given batch sizes (cycled) in each pass; pass 2
 * visits the batches in reverse order. */
static void stream_case(const ncase *c, const int *b1, int nb1, const int *b2, int nb2,
                        cl_nc_result *r)
{
    cl_nc_stream *s;
    cr_assert_eq(cl_nc_stream_create(&s, c->D, c->K, c->W, c->b, NULL), CL_OK);
    for (int64_t i = 0, k = 0; i < c->N; k++) {
        int64_t n = b1[k % nb1];
        if (n > c->N - i) n = c->N - i;
        cr_assert_eq(cl_nc_stream_feed1(s, c->H + i * c->D, n, c->D, c->y + i), CL_OK);
        i += n;
    }
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK, "%s", cl_errmsg());
    for (int64_t end = c->N, k = 0; end > 0; k++) {
        int64_t n = b2[k % nb2];
        if (n > end) n = end;
        cr_assert_eq(
            cl_nc_stream_feed2(s, c->H + (end - n) * c->D, n, c->D, c->y + end - n),
            CL_OK);
        end -= n;
    }
    cr_assert_eq(cl_nc_stream_result(s, r), CL_OK, "%s", cl_errmsg());
    /* The result can be asked again; reset starts over. */
    cl_nc_result again;
    cr_assert_eq(cl_nc_stream_result(s, &again), CL_OK);
    cr_assert_eq(memcmp(&again, r, sizeof again), 0);
    cl_nc_stream_reset(s);
    cr_assert_eq(cl_nc_stream_feed1(s, c->H, c->N, c->D, c->y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    cr_assert_eq(cl_nc_stream_feed2(s, c->H, c->N, c->D, c->y), CL_OK);
    cr_assert_eq(cl_nc_stream_result(s, &again), CL_OK);
    for (int i = 0; i < cl_nc_nkeys(); i++)
        cr_assert(close_rel(cl_nc_key_value(&again, i), cl_nc_key_value(r, i), 1e-12));
    cl_nc_stream_destroy(s);
}

Test(nc, streaming_odd_batches_equal_in_memory)
{
    const char *names[] = {"tall", "wide", "unbal"};
    for (int t = 0; t < 3; t++) {
        ncase c;
        load_case(names[t], &c);
        cl_nc_result mem, st;
        cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, c.W, c.b, NULL, &mem), CL_OK);
        const int b1[] = {1, 7, 0, 13, 2}, b2[] = {5, 31, 1};
        stream_case(&c, b1, 5, b2, 3, &st);
        for (int i = 0; i < cl_nc_nkeys(); i++)
            cr_expect(close_rel(cl_nc_key_value(&st, i), cl_nc_key_value(&mem, i), 1e-12),
                      "%s %s: stream %.15g vs memory %.15g", names[t], cl_nc_key_name(i),
                      cl_nc_key_value(&st, i), cl_nc_key_value(&mem, i));
        free_case(&c);
    }
}

/* Row stride ld > D: analyse the left half of a wider matrix. */
Test(nc, row_stride)
{
    ncase c;
    load_case("tall", &c);
    int64_t ld = 2 * c.D + 3;
    float *X = cl_alloc_array((size_t)(c.N * ld), sizeof(float), "X");
    for (int64_t i = 0; i < c.N; i++)
        for (int64_t j = 0; j < ld; j++)
            X[i * ld + j] = j < c.D ? c.H[i * c.D + j] : (float)(i * 1000 + j);
    cl_nc_stream *s;
    cl_nc_result a, b;
    cr_assert_eq(cl_nc_stream_create(&s, c.D, c.K, c.W, c.b, NULL), CL_OK);
    cr_assert_eq(cl_nc_stream_feed1(s, X, c.N, ld, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    cr_assert_eq(cl_nc_stream_feed2(s, X, c.N, ld, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_result(s, &a), CL_OK);
    cl_nc_stream_destroy(s);
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, c.W, c.b, NULL, &b), CL_OK);
    for (int i = 0; i < cl_nc_nkeys(); i++)
        cr_expect(close_rel(cl_nc_key_value(&a, i), cl_nc_key_value(&b, i), 1e-12), "%s",
                  cl_nc_key_name(i));
    cl_free(X);
    free_case(&c);
}

/* Features exactly at the vertices of a simplex ETF (rotated into D = 9
 * dimensions, shifted by a global mean) with W = 3 M: every NC quantity is 0. */
Test(nc, closed_form_simplex_etf)
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
Test(nc, closed_form_identity_classifier)
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
Test(nc, fuzziness_affine_invariant)
{
    ncase c;
    load_case("tall", &c);
    cl_nc_result r0, r1;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, NULL, NULL, NULL, &r0), CL_OK);
    float *X = cl_alloc_array((size_t)(c.N * c.D), sizeof(float), "X");
    for (int64_t i = 0; i < c.N; i++)
        for (int d = 0; d < c.D; d++)
            X[i * c.D + d] = 2.5f * c.H[i * c.D + d] + 0.75f * (d - 7);
    cr_assert_eq(cl_nc_analyze(X, c.N, c.D, c.y, c.K, NULL, NULL, NULL, &r1), CL_OK);
    cr_expect(close_rel(r1.fuzz, r0.fuzz, 1e-5), "%.10g vs %.10g", r1.fuzz, r0.fuzz);
    cr_expect(close_rel(r1.nc1_quotient, r0.nc1_quotient, 1e-5));
    cr_expect(close_rel(r1.cdnv, r0.cdnv, 1e-5));
    cr_expect_eq(r1.ncc_acc, r0.ncc_acc);
    cl_free(X);
    free_case(&c);
}

Test(nc, without_W_keys_are_nan)
{
    ncase c;
    load_case("unbal", &c);
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, NULL, NULL, NULL, &r), CL_OK);
    cr_assert_eq(r.has_W, 0);
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        double v = cl_nc_key_value(&r, i);
        if (cl_nc_key_needs_W(i))
            cr_expect(isnan(v), "%s", cl_nc_key_name(i));
        else
            cr_expect(isfinite(v), "%s", cl_nc_key_name(i));
    }
    free_case(&c);
}

Test(nc, error_empty_class)
{
    ncase c;
    load_case("tall", &c);
    /* K = 7 while labels only reach 5: class 6 is empty. */
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K + 1, NULL, NULL, NULL, &r),
                 CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "class 6 has no samples"), "%s", cl_errmsg());
    free_case(&c);
}

Test(nc, error_label_out_of_range)
{
    ncase c;
    load_case("tall", &c);
    c.y[17] = c.K;
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, c.W, c.b, NULL, &r), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "sample 17"), "%s", cl_errmsg());
    c.y[17] = -1;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, c.W, c.b, NULL, &r), CL_EINVAL);
    free_case(&c);
}

Test(nc, error_pass_order_and_counts)
{
    ncase c;
    load_case("tall", &c);
    cl_nc_stream *s;
    cl_nc_result r;
    cr_assert_eq(cl_nc_stream_create(&s, c.D, c.K, NULL, NULL, NULL), CL_OK);
    cr_assert_eq(cl_nc_stream_feed2(s, c.H, c.N, c.D, c.y), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "before end1"), "%s", cl_errmsg());
    cr_assert_eq(cl_nc_stream_result(s, &r), CL_EINVAL);
    cr_assert_eq(cl_nc_stream_feed1(s, c.H, c.N, c.D, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_EINVAL);
    cr_assert_eq(cl_nc_stream_feed1(s, c.H, c.N, c.D, c.y), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "after end1"), "%s", cl_errmsg());
    /* Pass 2 short of samples. */
    cr_assert_eq(cl_nc_stream_feed2(s, c.H, c.N - 1, c.D, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_result(s, &r), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "pass 2 saw"), "%s", cl_errmsg());
    /* Same total, different labels. */
    cl_nc_stream_reset(s);
    cr_assert_eq(cl_nc_stream_feed1(s, c.H, c.N, c.D, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    int32_t *y2 = cl_alloc_array((size_t)c.N, sizeof(int32_t), "y2");
    memcpy(y2, c.y, (size_t)c.N * sizeof(int32_t));
    y2[0] = (y2[0] + 1) % c.K;
    cr_assert_eq(cl_nc_stream_feed2(s, c.H, c.N, c.D, y2), CL_OK);
    cr_assert_eq(cl_nc_stream_result(s, &r), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "in pass 2 but"), "%s", cl_errmsg());
    cl_nc_stream_destroy(s);
    cl_free(y2);
    /* Bad sizes. */
    cr_assert_eq(cl_nc_stream_create(&s, 0, 3, NULL, NULL, NULL), CL_EINVAL);
    cr_assert_eq(cl_nc_stream_create(&s, 4, 1, NULL, NULL, NULL), CL_EINVAL);
    free_case(&c);
}

Test(nc, error_degenerate_means)
{
    /* Classes 1 and 2 share a mean: the means span fewer than K-1 dimensions. */
    enum { K = 3, D = 4, N = 6 };
    float H[N * D] = {1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0,
                      0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0};
    int32_t y[N] = {0, 0, 1, 1, 2, 2};
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(H, N, D, y, K, NULL, NULL, NULL, &r), CL_ENUMERIC);
    cr_assert(strstr(cl_errmsg(), "fewer than"), "%s", cl_errmsg());
}

Test(nc, error_non_finite)
{
    ncase c;
    load_case("tall", &c);
    cl_nc_stream *s;
    cl_nc_result r;
    /* Finite in pass 1, NaN in pass 2. */
    cr_assert_eq(cl_nc_stream_create(&s, c.D, c.K, NULL, NULL, NULL), CL_OK);
    cr_assert_eq(cl_nc_stream_feed1(s, c.H, c.N, c.D, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    c.H[5 * c.D + 2] = NAN;
    cr_assert_eq(cl_nc_stream_feed2(s, c.H, c.N, c.D, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_result(s, &r), CL_ENUMERIC);
    cr_assert(strstr(cl_errmsg(), "pass 2 are not finite"), "%s", cl_errmsg());
    /* NaN in pass 1: end1 fails and the stream refuses work until reset. */
    cl_nc_stream_reset(s);
    cr_assert_eq(cl_nc_stream_feed1(s, c.H, c.N, c.D, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_ENUMERIC);
    cr_assert(strstr(cl_errmsg(), "not finite"), "%s", cl_errmsg());
    cr_assert_eq(cl_nc_stream_end1(s), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "reset"), "%s", cl_errmsg());
    cr_assert_eq(cl_nc_stream_feed2(s, c.H, c.N, c.D, c.y), CL_EINVAL);
    cl_nc_stream_destroy(s);
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, NULL, NULL, NULL, &r),
                 CL_ENUMERIC);
    cr_assert(strstr(cl_errmsg(), "not finite"), "%s", cl_errmsg());
    free_case(&c);
}

/* D < K-1: the truncation keeps min(K-1, D) eigenpairs (matches the reference
 * rule on the D x D Sb); checked here against a direct D x D computation. */
Test(nc, narrow_features_D_less_than_K_minus_1)
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

Test(nc, fit_matches_reference)
{
    double *Ds, *e;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f64(FIX "fit_D.npy", &Ds, &nd, sh), CL_OK);
    cr_assert_eq(cl_npy_read_f64(FIX "fit_expected.npy", &e, &nd, sh), CL_OK);
    cl_nc_fit f;
    cr_assert_eq(cl_nc_fit_layers(Ds, 8, &f), CL_OK);
    cr_expect(close_rel(f.slope, e[0], 1e-10), "%.12g %.12g", f.slope, e[0]);
    cr_expect(close_rel(f.intercept, e[1], 1e-10));
    cr_expect(close_rel(f.rho, e[2], 1e-10));
    cr_expect(close_rel(f.r2, e[3], 1e-10));
    cr_expect(close_rel(f.pearson_r, e[4], 1e-10));
    cr_expect_eq(f.L, 8);
    cl_free(Ds);
    cl_free(e);
}

Test(nc, fit_exact_geometric_and_errors)
{
    double Ds[5];
    for (int l = 0; l < 5; l++)
        Ds[l] = 20.0 * pow(0.6, l);
    cl_nc_fit f;
    cr_assert_eq(cl_nc_fit_layers(Ds, 5, &f), CL_OK);
    cr_expect(fabs(f.rho - 0.6) < 1e-12);
    cr_expect(fabs(f.r2 - 1) < 1e-12);
    cr_expect(fabs(f.pearson_r + 1) < 1e-12);
    cr_expect(fabs(f.intercept - log(20.0)) < 1e-12);
    cr_assert_eq(cl_nc_fit_layers(Ds, 1, &f), CL_EINVAL);
    Ds[3] = 0;
    cr_assert_eq(cl_nc_fit_layers(Ds, 5, &f), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "layer 3"), "%s", cl_errmsg());
    Ds[3] = NAN;
    cr_assert_eq(cl_nc_fit_layers(Ds, 5, &f), CL_EINVAL);
}

/* ---- CLI ---- */

static int run(const char *args, char *out, size_t cap)
{
    const char *bin = getenv("COLLAPSE_BIN");
    cr_assert_not_null(bin, "COLLAPSE_BIN not set");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s analyze %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double json_metric(const char *out, const char *key)
{
    const char *m = strstr(out, "\"metrics\"");
    cr_assert_not_null(m, "%s", out);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *k = strstr(m, pat);
    cr_assert_not_null(k, "%s lacks %s", out, key);
    if (!strncmp(k + strlen(pat), "null", 4)) return NAN;
    return strtod(k + strlen(pat), NULL);
}

Test(nc, cli_json_matches_reference)
{
    static char out[1 << 16];
    const char *cases[] = {"unbal", "conv"};
    for (int t = 0; t < 2; t++) {
        char args[1024], p[256];
        snprintf(args, sizeof args,
                 "--json --features " FIX "%s/H.npy --labels " FIX
                 "%s/y.npy --weights " FIX "%s/W.npy --bias " FIX
                 "%s/b.npy --weighted-mean",
                 cases[t], cases[t], cases[t], cases[t]);
        cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
        cr_assert(strstr(out, "\"mu_G\": \"weighted\""), "%s", out);
        cr_assert(strstr(out, "\"nc4_bias\": true"), "%s", out);
        snprintf(p, sizeof p, FIX "%s/expected_weighted.npy", cases[t]);
        double *e;
        int nd;
        int64_t sh[8];
        cr_assert_eq(cl_npy_read_f64(p, &e, &nd, sh), CL_OK);
        for (int i = 0; i < cl_nc_nkeys(); i++)
            cr_expect(close_rel(json_metric(out, cl_nc_key_name(i)), e[i], 1e-6), "%s %s",
                      cases[t], cl_nc_key_name(i));
        cl_free(e);
    }
    cr_assert_eq(run("--json --nc4-no-bias --features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --weights " FIX "tall/W.npy --bias " FIX "tall/b.npy",
                     out, sizeof out),
                 0, "%s", out);
    cr_assert(strstr(out, "\"nc4_bias\": false"), "%s", out);
    cr_assert(strstr(out, "\"N\": 300,") && strstr(out, "\"D\": 24,") &&
                  strstr(out, "\"K\": 6,"),
              "%s", out);
    double *e;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f64(FIX "tall/expected_nobias.npy", &e, &nd, sh), CL_OK);
    cr_expect(close_rel(json_metric(out, "nc4"), e[14], 1e-6));
    cl_free(e);
}

Test(nc, cli_table_and_no_weights)
{
    static char out[1 << 16];
    cr_assert_eq(
        run("--features " FIX "wide/H.npy --labels " FIX "wide/y.npy", out, sizeof out),
        0, "%s", out);
    cr_assert(strstr(out, "N = 40, D = 120, K = 4"), "%s", out);
    cr_assert(strstr(out, "nc1 "), "%s", out);
    cr_assert(strstr(out, "mu_G unweighted"), "%s", out);
    cr_assert_eq(run("--json --features " FIX "wide/H.npy --labels " FIX "wide/y.npy",
                     out, sizeof out),
                 0, "%s", out);
    cr_assert(isnan(json_metric(out, "nc3")));
    cr_assert(isfinite(json_metric(out, "nc1")));
    cr_assert(strstr(out, "\"weights\": null"), "%s", out);
}

/* Writes a hand-made .npy (header dict + raw data) into dir. */
static void write_npy(const char *path, const char *dict, const void *data, size_t nbytes)
{
    char hdr[128];
    memset(hdr, ' ', sizeof hdr);
    size_t n = strlen(dict);
    memcpy(hdr, dict, n);
    size_t hlen = 128 - 10;
    hdr[hlen - 1] = '\n';
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    unsigned char m[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)hlen, 0};
    fwrite(m, 1, 10, f);
    fwrite(hdr, 1, hlen, f);
    fwrite(data, 1, nbytes, f);
    fclose(f);
}

Test(nc, cli_errors)
{
    static char out[1 << 16];
    char dir[64], args[1024], p[128];
    snprintf(dir, sizeof dir, "/tmp/cl_nc_cli_%d", (int)getpid());
    snprintf(args, sizeof args, "mkdir -p %s", dir);
    cr_assert_eq(system(args), 0);

    /* Usage errors: exit 2. */
    cr_assert_eq(run("--features " FIX "tall/H.npy", out, sizeof out), 2, "%s", out);
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --frobnicate",
                     out, sizeof out),
                 2, "%s", out);
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX "tall/y.npy --bias " FIX
                     "tall/b.npy",
                     out, sizeof out),
                 2, "%s", out);
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --classes x",
                     out, sizeof out),
                 2, "%s", out);

    /* Fortran-order features: exit 1, one line naming the flag and file. */
    float d[4] = {0};
    snprintf(p, sizeof p, "%s/fortran.npy", dir);
    write_npy(p, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", d,
              sizeof d);
    snprintf(args, sizeof args, "--features %s --labels " FIX "tall/y.npy", p);
    cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--features") && strstr(out, p) && strstr(out, "Fortran"), "%s",
              out);
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "not one line: %s", out);

    /* Big-endian labels. */
    snprintf(p, sizeof p, "%s/be.npy", dir);
    write_npy(p, "{'descr': '>i8', 'fortran_order': False, 'shape': (300,), }",
              (char[2400]){0}, 2400);
    snprintf(args, sizeof args, "--features " FIX "tall/H.npy --labels %s", p);
    cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--labels") && strstr(out, "big-endian"), "%s", out);

    /* Shape mismatch: labels of another case. */
    cr_assert_eq(
        run("--features " FIX "tall/H.npy --labels " FIX "wide/y.npy", out, sizeof out),
        1, "%s", out);
    cr_assert(strstr(out, "--labels") && strstr(out, "300 labels"), "%s", out);
    /* W of the wrong width. */
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --weights " FIX "wide/W.npy",
                     out, sizeof out),
                 1, "%s", out);
    cr_assert(strstr(out, "--weights"), "%s", out);
    /* A class with no samples (K forced to 8). */
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --classes 8",
                     out, sizeof out),
                 1, "%s", out);
    cr_assert(strstr(out, "class 6 has no samples") && strstr(out, "--labels"), "%s",
              out);
    /* Labels out of range for --classes. */
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --classes 3",
                     out, sizeof out),
                 1, "%s", out);
    cr_assert(strstr(out, "out of range"), "%s", out);
    /* Missing file. */
    cr_assert_eq(
        run("--features /nonexistent/H.npy --labels " FIX "tall/y.npy", out, sizeof out),
        1, "%s", out);
    cr_assert(strstr(out, "/nonexistent/H.npy"), "%s", out);

    snprintf(args, sizeof args, "rm -rf %s", dir);
    cr_assert_eq(system(args), 0);
}
