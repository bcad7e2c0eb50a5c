/* Collapse analyzer, gnc group (generalized NC, Jiang, Zhou et al. 2024;
 * hyperspherical uniformity, Liu et al. 2023): the NumPy reference (face
 * enumeration for gnc2), the naive twin on random shapes with K > dim, the
 * closed forms (regular K-gon, simplex), streaming, threads and the CLI. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "collapse/rng.h"
#include "common.h"
#include "nc_common.h"

#define NC_PI 3.14159265358979323846

static cl_nc_opts gnc_opts(int weighted)
{
    cl_nc_opts o = cl_nc_opts_default();
    o.gnc = 1;
    o.weighted_mean = weighted;
    return o;
}

static void check_file(const char *name, const char *which, const cl_nc_result *r)
{
    char p[256];
    snprintf(p, sizeof p, FIX "%s/expected_%s.npy", name, which);
    double *e;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f64(p, &e, &nd, sh), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(sh[0], cl_nc_nkeys());
    for (int i = 0; i < cl_nc_nkeys(); i++)
        cr_expect(close_rel(cl_nc_key_value(r, i), e[i], 1e-7), "%s %s: %s = %.12g, ref %.12g",
                  name, which, cl_nc_key_name(i), cl_nc_key_value(r, i), e[i]);
    cl_free(e);
}

/* expected_gnc: unweighted mu_G with W and b; expected_gnc_noW: weighted, no W. */
Test(nc_gnc, reference_fast_and_naive)
{
    const char *names[] = {"tall", "wide", "unbal", "conv"};
    for (int t = 0; t < 4; t++) {
        ncase c;
        load_case(names[t], &c);
        cl_nc_opts o = gnc_opts(0);
        cl_nc_result r;
        cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r), CL_OK, "%s",
                     cl_errmsg());
        cr_assert(cl_nc_has_group(&r, CL_NC_GROUP_GNC));
        check_file(names[t], "gnc", &r);
        cr_assert_eq(cl_nc_analyze_naive(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r), CL_OK);
        check_file(names[t], "gnc", &r);
        o = gnc_opts(1);
        cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, NULL, NULL, &o, &r), CL_OK);
        check_file(names[t], "gnc_noW", &r);
        cr_assert_eq(cl_nc_analyze_naive(c.H, c.N, c.dim, c.y, c.K, NULL, NULL, &o, &r), CL_OK);
        check_file(names[t], "gnc_noW", &r);
        /* off by default: the group is absent, its keys NAN */
        cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, NULL, &r), CL_OK);
        cr_assert_not(cl_nc_has_group(&r, CL_NC_GROUP_GNC));
        for (int i = 0; i < cl_nc_nkeys(); i++)
            if (cl_nc_key_group(i) == CL_NC_GROUP_GNC) cr_assert(isnan(cl_nc_key_value(&r, i)));
        free_case(&c);
    }
}

/* Random problems, many with K > dim + 1 (the GNC regime), unbalanced,
 * both conventions: fast (Wolfe) vs naive (face enumeration) to 1e-7. */
Test(nc_gnc, fast_matches_naive_random_shapes)
{
    const int shapes[][3] = {{80, 2, 8},  {90, 3, 12}, {60, 2, 5},  {70, 3, 13},
                             {50, 4, 9},  {40, 10, 5}, {45, 1, 3},  {120, 5, 14}};
    cl_rng g;
    cl_rng_seed(&g, 2024);
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        int N = shapes[t][0], D = shapes[t][1], K = shapes[t][2];
        float *H = cl_alloc_array((size_t)N * D, sizeof(float), "H");
        float *W = cl_alloc_array((size_t)K * D, sizeof(float), "W");
        int32_t *y = cl_alloc_array((size_t)N, sizeof(int32_t), "y");
        for (int i = 0; i < N; i++) {
            y[i] = i < K ? i : (int)(cl_rng_uniform(&g) * K * cl_rng_uniform(&g));
            for (int d = 0; d < D; d++)
                H[i * D + d] = (float)(0.3 * cl_rng_normal(&g) + 2 * cos(2.3 * y[i] + 1.1 * d) + 0.5);
        }
        for (int i = 0; i < K * D; i++) W[i] = (float)cl_rng_normal(&g);
        for (int w = 0; w < 2; w++) {
            cl_nc_opts o = gnc_opts(w);
            cl_nc_result f, n;
            cr_assert_eq(cl_nc_analyze(H, N, D, y, K, W, NULL, &o, &f), CL_OK, "%s", cl_errmsg());
            cr_assert_eq(cl_nc_analyze_naive(H, N, D, y, K, W, NULL, &o, &n), CL_OK, "%s",
                         cl_errmsg());
            for (int i = 0; i < cl_nc_nkeys(); i++)
                cr_expect(cl_nc_key_value(&f, i) == cl_nc_key_value(&n, i) || /* inf: D = 1 */
                              close_rel(cl_nc_key_value(&f, i), cl_nc_key_value(&n, i), 1e-7) ||
                              fabs(cl_nc_key_value(&f, i) - cl_nc_key_value(&n, i)) < 1e-12,
                          "N %d D %d K %d w %d: %s fast %.14g naive %.14g", N, D, K, w,
                          cl_nc_key_name(i), cl_nc_key_value(&f, i), cl_nc_key_value(&n, i));
        }
        cl_free(H);
        cl_free(W);
        cl_free(y);
    }
}

/* n samples per class at mean_c + small symmetric offsets (so the class
 * means are exactly mean_c up to rounding). */
static void around(const double *mean, int K, int D, int n, float *H, int32_t *y, double eps)
{
    for (int c = 0, i = 0; c < K; c++)
        for (int k = 0; k < n; k++, i++) {
            y[i] = c;
            for (int d = 0; d < D; d++)
                H[i * D + d] = (float)(mean[c * D + d] + (d == k / 2 % D ? (k % 2 ? eps : -eps) : 0));
        }
}

/* d = 2, W the regular K-gon (rows scaled and rotated): the distance of a
 * unit vertex to the hull of the others is 1 - cos(2 pi/K) (the midpoint of
 * its two neighbours), so gnc2 = 1 - cos(2 pi/K). gnc3 = 0 with W along the
 * centred means (the K-gon centred at 0). */
Test(nc_gnc, regular_polygon_closed_form)
{
    for (int K = 3; K <= 12; K++) {
        enum { n = 4 };
        double mean[12 * 2];
        float W[12 * 2], H[12 * n * 2];
        int32_t y[12 * n];
        for (int c = 0; c < K; c++) {
            double a = 2 * NC_PI * c / K + 0.3;
            mean[2 * c] = 3 * cos(a);
            mean[2 * c + 1] = 3 * sin(a);
            W[2 * c] = (float)((1 + 0.1 * c) * cos(a));
            W[2 * c + 1] = (float)((1 + 0.1 * c) * sin(a));
        }
        around(mean, K, 2, n, H, y, 0.05);
        cl_nc_opts o = gnc_opts(0);
        cl_nc_result r;
        cr_assert_eq(cl_nc_analyze(H, K * n, 2, y, K, W, NULL, &o, &r), CL_OK, "%s", cl_errmsg());
        double want = 1 - cos(2 * NC_PI / K);
        cr_expect(fabs(r.gnc2 - want) <= 1e-6 * want, "K %d: gnc2 %.12g, 1 - cos(2pi/K) %.12g", K,
                  r.gnc2, want);
        cr_expect(fabs(r.gnc3) < 1e-6, "K %d: gnc3 %.3g", K, r.gnc3);
    }
}

/* K <= d + 1, W a simplex ETF: the nearest point of the others' hull is
 * their centroid -w_k/(K-1), so gnc2 = K/(K-1); the centred means are the
 * same simplex, ||u_i - u_j||^2 = 2K/(K-1): hsu_log_mean = -log(2K/(K-1))/2,
 * hsu_log_var = 0; features at the means give gnc1 = 0 and gnc3 = 0. */
Test(nc_gnc, simplex_closed_form)
{
    const int cases[][2] = {{2, 1}, {3, 2}, {4, 3}, {5, 4}, {6, 10}, {10, 9}};
    for (int t = 0; t < 6; t++) {
        int K = cases[t][0], D = cases[t][1];
        double *E = cl_alloc_array((size_t)K * D, sizeof(double), "etf");
        float *W = cl_alloc_array((size_t)K * D, sizeof(float), "W");
        float *H = cl_alloc_array((size_t)K * 2 * D, sizeof(float), "H");
        int32_t *y = cl_alloc_array((size_t)K * 2, sizeof(int32_t), "y");
        /* the centred standard basis of R^K, written in an orthonormal basis
         * of the sum-zero subspace (Gram-Schmidt), padded to D dims */
        double *B = cl_alloc_array((size_t)K * K, sizeof(double), "basis");
        for (int j = 0; j < K - 1; j++) { /* Helmert basis vector j */
            double s = sqrt((j + 1.0) * (j + 2.0));
            for (int c = 0; c <= j; c++) B[j * K + c] = 1 / s;
            B[j * K + j + 1] = -(j + 1) / s;
        }
        for (int c = 0; c < K; c++)
            for (int j = 0; j < K - 1; j++) E[c * D + j] = 2 * B[j * K + c]; /* scale 2 */
        for (int i = 0; i < K * D; i++) W[i] = (float)(E[i] * 0.7);
        for (int c = 0; c < K; c++)
            for (int k = 0; k < 2; k++) {
                y[2 * c + k] = c;
                for (int d = 0; d < D; d++) H[(2 * c + k) * D + d] = (float)E[c * D + d];
            }
        cl_nc_opts o = gnc_opts(0);
        cl_nc_result r;
        cr_assert_eq(cl_nc_analyze(H, 2 * K, D, y, K, W, NULL, &o, &r), CL_OK, "%s", cl_errmsg());
        cr_expect(fabs(r.gnc2 - K / (K - 1.0)) < 1e-6, "K %d D %d: gnc2 %.12g", K, D, r.gnc2);
        cr_expect(fabs(r.hsu_log_mean + 0.5 * log(2.0 * K / (K - 1))) < 1e-6, "K %d: %.12g", K,
                  r.hsu_log_mean);
        cr_expect(fabs(r.hsu_log_var) < 1e-10);
        cr_expect(fabs(r.gnc3) < 1e-6);
        cr_expect(fabs(r.gnc1) < 1e-10, "K %d: gnc1 %.3g", K, r.gnc1);
        cl_free(E);
        cl_free(W);
        cl_free(H);
        cl_free(y);
        cl_free(B);
    }
}

/* Streaming with odd batches in both passes == in memory; a big threaded
 * batch == the one-row-at-a-time stream; reset keeps gnc. */
Test(nc_gnc, streaming_and_threads)
{
    enum { N = 700, D = 96, K = 7 };
    cl_rng g;
    cl_rng_seed(&g, 11);
    float *H = cl_alloc_array((size_t)N * D, sizeof(float), "H");
    float *W = cl_alloc_array((size_t)K * D, sizeof(float), "W");
    int32_t *y = cl_alloc_array(N, sizeof(int32_t), "y");
    for (int i = 0; i < N; i++) {
        y[i] = i < K ? i : (int)(cl_rng_uniform(&g) * K);
        for (int d = 0; d < D; d++)
            H[(size_t)i * D + d] = (float)(cl_rng_normal(&g) + 1.5 * cos(0.9 * y[i] * (d + 1)));
    }
    for (int i = 0; i < K * D; i++) W[i] = (float)cl_rng_normal(&g);
    cl_nc_opts o = gnc_opts(0);
    cl_nc_result mem, st, nv;
    cr_assert_eq(cl_nc_analyze(H, N, D, y, K, W, NULL, &o, &mem), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_nc_analyze_naive(H, N, D, y, K, W, NULL, &o, &nv), CL_OK);
    cl_nc_stream *s;
    cr_assert_eq(cl_nc_stream_create(&s, D, K, W, NULL, &o), CL_OK);
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0, b = 1; i < N; i += b, b = b % 37 + 3) {
            int n = b < N - i ? b : N - i;
            cr_assert_eq(cl_nc_stream_feed1(s, H + (size_t)i * D, n, D, y + i), CL_OK);
        }
        cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
        for (int i = 0; i < N; i++)
            cr_assert_eq(cl_nc_stream_feed2(s, H + (size_t)i * D, 1, D, y + i), CL_OK);
        cr_assert_eq(cl_nc_stream_result(s, &st), CL_OK, "%s", cl_errmsg());
        for (int i = 0; i < cl_nc_nkeys(); i++) {
            cr_expect(close_rel(cl_nc_key_value(&st, i), cl_nc_key_value(&mem, i), 1e-11),
                      "%s stream %.15g memory %.15g", cl_nc_key_name(i), cl_nc_key_value(&st, i),
                      cl_nc_key_value(&mem, i));
            cr_expect(close_rel(cl_nc_key_value(&nv, i), cl_nc_key_value(&mem, i), 1e-7),
                      "%s naive %.15g fast %.15g", cl_nc_key_name(i), cl_nc_key_value(&nv, i),
                      cl_nc_key_value(&mem, i));
        }
        cl_nc_stream_reset(s);
    }
    cl_nc_stream_destroy(s);
    cl_free(H);
    cl_free(W);
    cl_free(y);
}

/* `collapse analyze` computes gnc by default (JSON group and keys against
 * the reference); --no-gnc leaves them out. */
Test(nc_gnc, cli)
{
    static char out[1 << 16];
    cr_assert_eq(tc_run_capture("analyze --json --features " FIX "unbal/H.npy --labels " FIX
                                "unbal/y.npy --weights " FIX "unbal/W.npy --bias " FIX "unbal/b.npy",
                                out, sizeof out),
                 0, "%s", out);
    cr_assert(strstr(out, "\"gnc\""), "%s", out);
    double *e;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f64(FIX "unbal/expected_gnc.npy", &e, &nd, sh), CL_OK);
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\": ", cl_nc_key_name(i));
        const char *k = strstr(out, pat);
        cr_assert_not_null(k, "%s lacks %s", out, pat);
        double v = strncmp(k + strlen(pat), "null", 4) ? strtod(k + strlen(pat), NULL) : NAN;
        cr_expect(close_rel(v, e[i], 1e-7), "%s %.12g vs %.12g", pat, v, e[i]);
    }
    cl_free(e);
    cr_assert_eq(tc_run_capture("analyze --no-gnc --features " FIX "tall/H.npy --labels " FIX
                                "tall/y.npy",
                                out, sizeof out),
                 0, "%s", out);
    cr_assert_null(strstr(out, "gnc1"), "%s", out);
    cr_assert_eq(tc_run_capture("analyze --features " FIX "tall/H.npy --labels " FIX
                                "tall/y.npy",
                                out, sizeof out),
                 0, "%s", out);
    cr_assert(strstr(out, "gnc1 ") && strstr(out, "hsu_log_var"), "%s", out);
}
