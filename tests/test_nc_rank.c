/* Collapse analyzer on rank-deficient class means (NC1 and D undefined,
 * every other key computed): the NumPy fixtures "shared" (K = 6, two classes
 * with the same mean, rank 4 < 5) and "collinear" (K = 5, means on a line,
 * rank 1 < 4) of tools/nc_reference.py, fast == naive == NumPy to 1e-7;
 * the rank tolerance CL_NC_RANK_TOL; streaming. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "common.h"
#include "nc_common.h"

static const char *const names[] = {"shared", "collinear"};

typedef cl_status (*analyze_fn)(const float *, int64_t, int, const int32_t *, int, const float *,
                                const float *, const cl_nc_opts *, cl_nc_result *);

/* expected_rank.npy: rank_M with the unweighted and the weighted mu_G. */
static void check_rank(const char *name, int weighted, const cl_nc_result *r)
{
    char p[256];
    snprintf(p, sizeof p, FIX "%s/expected_rank.npy", name);
    double *e;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f64(p, &e, &nd, sh), CL_OK, "%s", cl_errmsg());
    cr_expect_eq(r->rank_M, (int)e[weighted], "%s: rank_M %d, reference %g", name, r->rank_M,
                 e[weighted]);
    cl_free(e);
    int keep = r->K - 1 < r->dim ? r->K - 1 : r->dim;
    cr_expect_lt(r->rank_M, keep, "%s", name);
    cr_expect_eq(r->nc1_defined, 0, "%s", name);
    cr_expect(isnan(r->nc1) && isnan(r->fuzz), "%s: nc1 %g D %g", name, r->nc1, r->fuzz);
    cr_expect(isfinite(r->nc1_quotient) && r->nc1_quotient > 0, "%s", name);
}

static void run_variants(analyze_fn fn, const char *fname)
{
    for (int t = 0; t < 2; t++) {
        ncase c;
        load_case(names[t], &c);
        cl_nc_opts o = cl_nc_opts_default();
        cl_nc_result r;
        cr_assert_eq(fn(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r), CL_OK, "%s %s: %s", fname,
                     names[t], cl_errmsg());
        check_expected_rel(names[t], "unweighted", &r, 1e-7);
        check_rank(names[t], 0, &r);
        o.weighted_mean = 1;
        cr_assert_eq(fn(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r), CL_OK);
        check_expected_rel(names[t], "weighted", &r, 1e-7);
        check_rank(names[t], 1, &r);
        o = cl_nc_opts_default();
        o.nc4_bias = 0;
        cr_assert_eq(fn(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r), CL_OK);
        check_expected_rel(names[t], "nobias", &r, 1e-7);
        cr_assert_eq(fn(c.H, c.N, c.dim, c.y, c.K, NULL, NULL, NULL, &r), CL_OK);
        check_expected_rel(names[t], "noW", &r, 1e-7);
        check_rank(names[t], 0, &r);
        unsigned char minor[8] = {0};
        for (int k = 0; k < c.K; k++) minor[k] = k % 2 == 1;
        o = cl_nc_opts_default();
        o.minority = minor;
        cr_assert_eq(fn(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r), CL_OK);
        check_expected_rel(names[t], "minority", &r, 1e-7);
        free_case(&c);
    }
}

Test(nc_rank, fast_matches_reference, .timeout = TC_TIMEOUT)
{
    run_variants(cl_nc_analyze, "fast");
}

Test(nc_rank, naive_matches_reference, .timeout = TC_TIMEOUT)
{
    run_variants(cl_nc_analyze_naive, "naive");
}

/* The gnc group on the same cases: gnc1 has its own rank condition (the
 * normalised means), the hsu keys are -log of distances of unit vectors
 * (inf where two centred means point the same way). */
static void gnc_case(const char *name, analyze_fn fn)
{
    ncase c;
    load_case(name, &c);
    cl_nc_opts o = cl_nc_opts_default();
    o.gnc = 1;
    cl_nc_result r;
    cr_assert_eq(fn(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r), CL_OK, "%s", cl_errmsg());
    check_expected_rel(name, "gnc", &r, 1e-7);
    o.weighted_mean = 1; /* expected_gnc_noW: weighted mu_G, no classifier */
    cr_assert_eq(fn(c.H, c.N, c.dim, c.y, c.K, NULL, NULL, &o, &r), CL_OK, "%s", cl_errmsg());
    check_expected_rel(name, "gnc_noW", &r, 1e-7);
    free_case(&c);
}

Test(nc_rank, gnc_fast_naive_reference, .timeout = TC_TIMEOUT)
{
    const analyze_fn fns[2] = {cl_nc_analyze, cl_nc_analyze_naive};
    for (int k = 0; k < 4; k++) gnc_case(names[k / 2], fns[k % 2]);
}

/* Streaming in odd batches gives the in-memory result, rank flags included. */
Test(nc_rank, streaming_equals_in_memory, .timeout = TC_TIMEOUT)
{
    ncase c;
    load_case("shared", &c);
    cl_nc_result a, b;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, NULL, &a), CL_OK);
    cl_nc_stream *s;
    cr_assert_eq(cl_nc_stream_create(&s, c.dim, c.K, c.W, c.b, NULL), CL_OK);
    for (int pass = 1; pass <= 2; pass++) {
        for (int64_t i = 0; i < c.N; i += 7) {
            int64_t n = c.N - i < 7 ? c.N - i : 7;
            cr_assert_eq(pass == 1 ? cl_nc_stream_feed1(s, c.H + i * c.dim, n, c.dim, c.y + i)
                                   : cl_nc_stream_feed2(s, c.H + i * c.dim, n, c.dim, c.y + i),
                         CL_OK);
        }
        if (pass == 1) cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    }
    cr_assert_eq(cl_nc_stream_result(s, &b), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_nc_stream_result(s, &b), CL_OK); /* asked again: same result */
    cl_nc_stream_destroy(s);
    cr_expect_eq(b.rank_M, a.rank_M);
    cr_expect_eq(b.nc1_defined, 0);
    for (int i = 0; i < cl_nc_nkeys(); i++)
        cr_expect(close_rel(cl_nc_key_value(&b, i), cl_nc_key_value(&a, i), 1e-12), "%s",
                  cl_nc_key_name(i));
    free_case(&c);
}

/* The tolerance: K = 4 means in dim 3, the third direction scaled by eps.
 * The singular values of M are about 1, 1, eps, so the eigenvalue ratio is
 * about eps^2: defined (rank 3) at eps = 1e-4 (ratio 1e-8 > CL_NC_RANK_TOL),
 * undefined (rank 2) at eps = 1e-8 (ratio 1e-16); a full-rank problem has
 * rank_M = min(K-1, dim) and nc1_defined = 1. Fast and naive agree. */
Test(nc_rank, tolerance, .timeout = TC_TIMEOUT)
{
    enum { K = 4, D = 3, PER = 5, N = K * PER };
    const double eps[2] = {1e-4, 1e-8};
    for (int e = 0; e < 2; e++) {
        /* tetrahedron-like means (1,0,0), (0,1,0), (-1,-1,0) and (0,0,eps) */
        const double mu[K][D] = {{1, 0, 0}, {0, 1, 0}, {-1, -1, 0}, {0, 0, eps[e]}};
        float H[N * D];
        int32_t y[N];
        for (int i = 0; i < N; i++) {
            y[i] = i % K;
            int j = i / K; /* noise +-0.25 in each direction, zero mean per class */
            for (int d = 0; d < D; d++)
                H[i * D + d] = (float)(mu[y[i]][d] + (j == 2 * d + 1 ? 0.25 : j == 2 * d + 2 ? -0.25 : 0));
        }
        cl_nc_result r, n;
        cr_assert_eq(cl_nc_analyze(H, N, D, y, K, NULL, NULL, NULL, &r), CL_OK);
        cr_assert_eq(cl_nc_analyze_naive(H, N, D, y, K, NULL, NULL, NULL, &n), CL_OK);
        cr_expect_eq(r.rank_M, e == 0 ? 3 : 2, "eps %g: rank %d", eps[e], r.rank_M);
        cr_expect_eq(n.rank_M, r.rank_M);
        cr_expect_eq(r.nc1_defined, e == 0);
        cr_expect_eq(n.nc1_defined, e == 0);
        cr_expect(e == 0 ? isfinite(r.nc1) && r.nc1 > 0 : isnan(r.nc1), "nc1 %g", r.nc1);
        cr_expect(close_rel(r.nc1_quotient, n.nc1_quotient, 1e-9));
    }
}

/* `collapse ufm --lpm` past minority collapse (R = 100, n_minor = 1): the
 * minority features coincide, the class means lose rank, and the rows keep
 * the cosines (minority ~ 1, majority ~ -0.23; they were all NaN when the
 * analyzer refused such rows) while nc1 and D are NaN. */
Test(nc_rank, ufm_lpm_rows_after_minority_collapse, .timeout = TC_TIMEOUT)
{
    char dir[128], line[512], path[192];
    static char out[1 << 14];
    tc_tmpdir_make(dir, sizeof dir, "ncrank");
    snprintf(line, sizeof line,
             "ufm --classes 10 --dim 20 --counts 100,100,100,100,100,1,1,1,1,1 --loss ce --lpm "
             "--ew 1 --eh 5 --steps 3000 --lr 1 --log-every 500 --out %s/u",
             dir);
    cr_assert_eq(tc_run_capture(line, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/u/metrics.csv", dir);
    cl_csv c;
    cr_assert_eq(cl_csv_read(path, "", &c), CL_OK, "%s", cl_errmsg());
    int64_t last = c.nrows - 1;
    double mino = c.num[last * c.ncols + cl_csv_col(&c, "minority_cos_W")];
    double majo = c.num[last * c.ncols + cl_csv_col(&c, "majority_cos_W")];
    cr_expect(isnan(c.num[last * c.ncols + cl_csv_col(&c, "nc1")]));
    cr_expect(mino > 0.999999, "minority_cos_W %.9g", mino);
    cr_expect(majo > -0.24 && majo < -0.22, "majority_cos_W %.9g", majo);
    cr_expect(isfinite(c.num[last * c.ncols + cl_csv_col(&c, "nc1_quotient")]));
    cl_csv_free(&c);
    tc_tmpdir_remove(dir);
}
