/* Collapse analyzer: NumPy reference fixtures (tools/nc_reference.py, the
 * slow D x D way), the naive twin, fast vs naive (threaded too), both mu_G
 * conventions, streaming == in-memory, row strides. Closed forms, errors,
 * the fit, JSON and the CLI are in test_nc_*.c. */
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
#include "nc_common.h"

static void check_expected(const char *name, const char *which, const cl_nc_result *r)
{
    check_expected_rel(name, which, r, 1e-6);
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
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(r.N, c.N);
    cr_assert_eq(r.dim, c.dim);
    cr_assert_eq(r.K, c.K);
    check_expected(name, "unweighted", &r);
    o.weighted_mean = 1;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r), CL_OK);
    check_expected(name, "weighted", &r);
    o = cl_nc_opts_default();
    o.nc4_bias = 0;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r), CL_OK);
    check_expected(name, "nobias", &r);
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, NULL, NULL, NULL, &r), CL_OK);
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
        cr_assert_eq(cl_nc_analyze_naive(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r),
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
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &a), CL_OK);
    o.weighted_mean = 1;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &b), CL_OK);
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
    cr_assert_eq(cl_nc_stream_create(&s, c->dim, c->K, c->W, c->b, NULL), CL_OK);
    for (int64_t i = 0, k = 0; i < c->N; k++) {
        int64_t n = b1[k % nb1];
        if (n > c->N - i) n = c->N - i;
        cr_assert_eq(cl_nc_stream_feed1(s, c->H + i * c->dim, n, c->dim, c->y + i), CL_OK);
        i += n;
    }
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK, "%s", cl_errmsg());
    for (int64_t end = c->N, k = 0; end > 0; k++) {
        int64_t n = b2[k % nb2];
        if (n > end) n = end;
        cr_assert_eq(
            cl_nc_stream_feed2(s, c->H + (end - n) * c->dim, n, c->dim, c->y + end - n),
            CL_OK);
        end -= n;
    }
    cr_assert_eq(cl_nc_stream_result(s, r), CL_OK, "%s", cl_errmsg());
    /* The result can be asked again; reset starts over. */
    cl_nc_result again;
    cr_assert_eq(cl_nc_stream_result(s, &again), CL_OK);
    cr_assert_eq(memcmp(&again, r, sizeof again), 0);
    cl_nc_stream_reset(s);
    cr_assert_eq(cl_nc_stream_feed1(s, c->H, c->N, c->dim, c->y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    cr_assert_eq(cl_nc_stream_feed2(s, c->H, c->N, c->dim, c->y), CL_OK);
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
        cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, NULL, &mem), CL_OK);
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
    int64_t ld = 2 * c.dim + 3;
    float *X = cl_alloc_array((size_t)(c.N * ld), sizeof(float), "X");
    for (int64_t i = 0; i < c.N; i++)
        for (int64_t j = 0; j < ld; j++)
            X[i * ld + j] = j < c.dim ? c.H[i * c.dim + j] : (float)(i * 1000 + j);
    cl_nc_stream *s;
    cl_nc_result a, b;
    cr_assert_eq(cl_nc_stream_create(&s, c.dim, c.K, c.W, c.b, NULL), CL_OK);
    cr_assert_eq(cl_nc_stream_feed1(s, X, c.N, ld, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    cr_assert_eq(cl_nc_stream_feed2(s, X, c.N, ld, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_result(s, &a), CL_OK);
    cl_nc_stream_destroy(s);
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, NULL, &b), CL_OK);
    for (int i = 0; i < cl_nc_nkeys(); i++)
        cr_expect(close_rel(cl_nc_key_value(&a, i), cl_nc_key_value(&b, i), 1e-12), "%s",
                  cl_nc_key_name(i));
    cl_free(X);
    free_case(&c);
}
