/* Regression-collapse analyzer: NumPy reference fixtures (tools/nrc_reference.py,
 * explicit matrices and a grid + golden-section NRC3), the naive twin,
 * streaming in batches == in memory, the NRC3 closed form against a brute
 * grid, the key table and errors. The regression UFM is in test_nrc_ufm.c. */
#include <criterion/criterion.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/npy.h"
#include "collapse/nrc.h"
#include "collapse/rng.h"

#define FIX "fixtures/nrc/"

typedef struct {
    float *H, *Y, *W, *b;
    int64_t M;
    int dim, n;
} rcase;

static float *load(const char *name, const char *what, int64_t *sh)
{
    char p[256];
    float *x;
    int nd;
    snprintf(p, sizeof p, FIX "%s/%s.npy", name, what);
    cr_assert_eq(cl_npy_read_f32(p, &x, &nd, sh), CL_OK, "%s", cl_errmsg());
    return x;
}

static void load_rcase(const char *name, rcase *c)
{
    int64_t sh[8];
    c->H = load(name, "H", sh);
    c->M = sh[0];
    c->dim = (int)sh[1];
    c->Y = load(name, "Y", sh);
    c->n = (int)sh[1];
    c->W = load(name, "W", sh);
    c->b = load(name, "b", sh);
}

static void free_rcase(rcase *c)
{
    cl_free(c->H);
    cl_free(c->Y);
    cl_free(c->W);
    cl_free(c->b);
}

static int close7(double a, double e)
{
    if (isnan(a) || isnan(e)) return isnan(a) && isnan(e);
    return fabs(a - e) <= 1e-7 * fmax(1.0, fabs(e));
}

/* Every key and the per-target values against expected_<which>.npy. */
static void check(const char *name, const char *which, const cl_nrc_result *r, int n)
{
    char p[256];
    double *e;
    int nd;
    int64_t sh[4];
    snprintf(p, sizeof p, FIX "%s/expected_%s.npy", name, which);
    cr_assert_eq(cl_npy_read_f64(p, &e, &nd, sh), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(sh[0], cl_nrc_nkeys() + 2 * n);
    for (int i = 0; i < cl_nrc_nkeys(); i++)
        cr_expect(close7(cl_nrc_key_value(r, i), e[i]), "%s %s: %s = %.12g, reference %.12g",
                  name, which, cl_nrc_key_name(i), cl_nrc_key_value(r, i), e[i]);
    for (int j = 0; j < n; j++) {
        cr_expect(close7(r->mse_t[j], e[6 + j]), "%s %s mse_%d", name, which, j);
        cr_expect(close7(r->r2_t[j], e[6 + n + j]), "%s %s r2_%d", name, which, j);
    }
    cl_free(e);
}

typedef cl_status (*analyze_fn)(const float *, int64_t, int, const float *, int, const float *,
                                const float *, const cl_nrc_opts *, cl_nrc_result *);

static void reference_case(const char *name, analyze_fn fn)
{
    rcase c;
    load_rcase(name, &c);
    cl_nrc_result r;
    cl_nrc_opts o = cl_nrc_opts_default();
    cr_assert_eq(fn(c.H, c.M, c.dim, c.Y, c.n, c.W, c.b, &o, &r), CL_OK, "%s", cl_errmsg());
    check(name, "centred", &r, c.n);
    o.uncentred = 1;
    cr_assert_eq(fn(c.H, c.M, c.dim, c.Y, c.n, c.W, c.b, &o, &r), CL_OK);
    check(name, "uncentred", &r, c.n);
    cr_assert_eq(fn(c.H, c.M, c.dim, c.Y, c.n, c.W, NULL, NULL, &r), CL_OK);
    check(name, "nobias", &r, c.n);
    cr_assert_eq(fn(c.H, c.M, c.dim, NULL, c.n, c.W, c.b, NULL, &r), CL_OK);
    check(name, "noY", &r, c.n);
    cr_assert_eq(fn(c.H, c.M, c.dim, c.Y, c.n, NULL, NULL, NULL, &r), CL_OK);
    check(name, "noW", &r, c.n);
    free_rcase(&c);
}

Test(nrc, keys_match_reference_order)
{
    FILE *f = fopen(FIX "keys.txt", "r");
    cr_assert_not_null(f);
    char line[64];
    int i = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        cr_assert_lt(i, cl_nrc_nkeys());
        cr_assert_str_eq(cl_nrc_key_name(i), line);
        cr_assert_gt(strlen(cl_nrc_key_descr(i)), 5);
        i++;
    }
    fclose(f);
    cr_assert_eq(i, cl_nrc_nkeys());
}

Test(nrc, reference_tall)
{
    reference_case("tall", cl_nrc_analyze);
}
Test(nrc, reference_interior_gamma)
{
    reference_case("near", cl_nrc_analyze);
}
Test(nrc, reference_dim_greater_than_M)
{
    reference_case("wide", cl_nrc_analyze);
}
Test(nrc, naive_twin_matches_reference)
{
    reference_case("tall", cl_nrc_analyze_naive);
    reference_case("near", cl_nrc_analyze_naive);
    reference_case("wide", cl_nrc_analyze_naive);
}

Test(nrc, interior_gamma_fixture_is_interior)
{
    rcase c;
    load_rcase("near", &c);
    cl_nrc_result r;
    cr_assert_eq(cl_nrc_analyze(c.H, c.M, c.dim, c.Y, c.n, c.W, c.b, NULL, &r), CL_OK);
    cr_assert_gt(r.nrc3_gamma, 0.1 * r.sigma_min);
    cr_assert_lt(r.nrc3_gamma, 0.9 * r.sigma_min);
    cr_assert_lt(r.nrc3, 1e-3);
    free_rcase(&c);
}

/* Batches of uneven size and a row stride give the in-memory result. */
Test(nrc, streaming_equals_in_memory)
{
    rcase c;
    load_rcase("tall", &c);
    const int ld = c.dim + 3;
    float *Hs = cl_alloc_array((size_t)c.M * ld, sizeof(float), "t");
    for (int64_t i = 0; i < c.M; i++)
        memcpy(Hs + i * ld, c.H + i * c.dim, sizeof(float) * c.dim);
    cl_nrc_stream *s;
    cr_assert_eq(cl_nrc_stream_create(&s, c.dim, c.n, c.W, c.b, NULL), CL_OK);
    for (int pass = 1; pass <= 2; pass++) {
        for (int64_t i = 0; i < c.M;) {
            int64_t m = i + 7 > c.M ? c.M - i : (pass == 1 ? 7 : 13);
            if (i + m > c.M) m = c.M - i;
            cl_status st = pass == 1 ? cl_nrc_stream_feed1(s, Hs + i * ld, m, ld, c.Y + i * c.n)
                                     : cl_nrc_stream_feed2(s, Hs + i * ld, m, ld, c.Y + i * c.n);
            cr_assert_eq(st, CL_OK);
            i += m;
        }
        if (pass == 1) cr_assert_eq(cl_nrc_stream_end1(s), CL_OK);
    }
    cl_nrc_result a, b;
    cr_assert_eq(cl_nrc_stream_result(s, &a), CL_OK);
    cr_assert_eq(cl_nrc_analyze(c.H, c.M, c.dim, c.Y, c.n, c.W, c.b, NULL, &b), CL_OK);
    for (int i = 0; i < cl_nrc_nkeys(); i++)
        cr_expect(close7(cl_nrc_key_value(&a, i), cl_nrc_key_value(&b, i)), "%s",
                  cl_nrc_key_name(i));
    cl_nrc_stream_destroy(s);
    cl_free(Hs);
    free_rcase(&c);
}

/* ||A/||A|| - B/||B|| ||_F^2 with B = Q diag(sqrt(lam) - s) Q^T. */
static double scan_dist(const double *A, const double *Q, const double *lam, int n, double s)
{
    double B[16], fa = 0, fb = 0, d = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double v = 0;
            for (int k = 0; k < n; k++)
                v += Q[i * n + k] * (sqrt(lam[k]) - s) * Q[j * n + k];
            B[i * n + j] = v;
            fa += A[i * n + j] * A[i * n + j];
            fb += v * v;
        }
    for (int i = 0; i < n * n; i++)
        d += (A[i] / sqrt(fa) - B[i] / sqrt(fb)) * (A[i] / sqrt(fa) - B[i] / sqrt(fb));
    return d;
}

/* Closed-form NRC3 against a brute-force scan over sqrt(gamma). */
Test(nrc, nrc3_closed_form_vs_scan)
{
    cl_rng rng;
    cl_rng_seed(&rng, 7);
    int interior = 0;
    for (int t = 0; t < 30; t++) {
        int n = 2 + t % 3;
        double X[16], Z[16], A[16], S[16], Q[16], lam[4];
        for (int i = 0; i < n * n; i++) {
            X[i] = cl_rng_normal(&rng);
            Z[i] = 0.3 * cl_rng_normal(&rng);
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++)
                    s += X[k * n + i] * X[k * n + j];
                S[i * n + j] = Q[i * n + j] = s + (i == j) * 0.5;
            }
        cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', n, Q, n, lam), 0);
        /* A = Sigma^{1/2} - s0 I plus a symmetric perturbation Z + Z^T */
        double s0 = (t % 4) * 0.3 * sqrt(lam[0]);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double v = 0;
                for (int k = 0; k < n; k++)
                    v += Q[i * n + k] * (sqrt(lam[k]) - s0) * Q[j * n + k];
                A[i * n + j] = v + (t % 2) * (Z[i * n + j] + Z[j * n + i]);
            }
        double f, g;
        cr_assert_eq(cl_nrc3_from_gram(A, S, n, &f, &g), CL_OK);
        double best = INFINITY, hi = sqrt(lam[0]);
        for (int k = 0; k <= 20000; k++)
            best = fmin(best, scan_dist(A, Q, lam, n, hi * k / 20000.0));
        cr_expect(f <= best + 1e-12, "t %d: closed form %.15g above the scan %.15g", t, f, best);
        cr_expect(f >= best - 1e-6, "t %d: closed form %.15g far below the scan %.15g", t, f, best);
        cr_expect(fabs(scan_dist(A, Q, lam, n, sqrt(g)) - f) < 1e-12);
        cr_assert(g >= 0 && g <= lam[0] * (1 + 1e-12));
        interior += g > 1e-9 && g < lam[0] * (1 - 1e-9);
        if (t % 2 == 0) cr_expect(f < 1e-20 + 1e-9 * best + 1e-12, "exact form: nrc3 %g", f);
    }
    cr_assert_gt(interior, 5);
}

Test(nrc, errors)
{
    float H[12] = {0}, W[6] = {1, 0, 0, 0, 1, 0};
    cl_nrc_result r;
    cl_nrc_stream *s;
    cr_assert_eq(cl_nrc_stream_create(&s, 3, 4, NULL, NULL, NULL), CL_EINVAL); /* n > dim */
    cr_assert_eq(cl_nrc_stream_create(&s, 0, 1, NULL, NULL, NULL), CL_EINVAL);
    cr_assert_eq(cl_nrc_analyze(H, 1, 3, NULL, 2, W, NULL, NULL, &r), CL_EINVAL); /* M < 2 */
    cr_assert_eq(cl_nrc_stream_create(&s, 3, 2, W, NULL, NULL), CL_OK);
    cr_assert_eq(cl_nrc_stream_feed2(s, H, 4, 3, NULL), CL_EINVAL); /* before end1 */
    cr_assert_eq(cl_nrc_stream_feed1(s, H, 2, 3, NULL), CL_OK);
    cr_assert_eq(cl_nrc_stream_feed1(s, H + 6, 2, 3, H), CL_EINVAL); /* Y in some batches */
    cr_assert_eq(cl_nrc_stream_end1(s), CL_OK);
    cr_assert_eq(cl_nrc_stream_feed2(s, H, 3, 3, NULL), CL_OK);
    cr_assert_eq(cl_nrc_stream_result(s, &r), CL_EINVAL); /* 2 vs 3 samples */
    cl_nrc_stream_destroy(s);
    H[4] = NAN;
    cr_assert_eq(cl_nrc_analyze(H, 4, 3, NULL, 2, W, NULL, NULL, &r), CL_ENUMERIC);
    /* a zero head: NRC3 undefined (NAN), the rest defined */
    float Hz[8] = {1, 0, 0, 1, 2, 1, 0, 3}, Wz[4] = {0}, Yz[8] = {1, 2, 0, 1, 3, 1, 2, 0};
    cr_assert_eq(cl_nrc_analyze(Hz, 4, 2, Yz, 2, Wz, NULL, NULL, &r), CL_OK, "%s", cl_errmsg());
    cr_assert(isnan(r.nrc3) && isnan(r.nrc3_gamma) && isfinite(r.nrc1) && isfinite(r.nrc2));
}
