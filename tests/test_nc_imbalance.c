/* Collapse analyzer, imbalance group (minority collapse, Fang et al. 2021):
 * the NumPy reference with an explicit minority set, the naive twin, the
 * automatic set from unequal counts, key groups, and a closed form. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "common.h"
#include "nc_common.h"

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

/* Odd classes are the minority (as tools/nc_reference.py --write). */
Test(nc_imbalance, explicit_minority_matches_reference_fast_and_naive)
{
    const char *names[] = {"tall", "wide", "unbal", "conv"};
    for (int t = 0; t < 4; t++) {
        ncase c;
        load_case(names[t], &c);
        unsigned char *mino = cl_alloc_array((size_t)c.K, 1, "minority");
        for (int k = 0; k < c.K; k++) mino[k] = k % 2 == 1;
        cl_nc_opts o = cl_nc_opts_default();
        o.minority = mino;
        cl_nc_result r, n;
        cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &r), CL_OK);
        cr_assert_eq(cl_nc_analyze_naive(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, &o, &n), CL_OK);
        cr_assert(cl_nc_has_group(&r, CL_NC_GROUP_IMBALANCE));
        cr_assert_eq(r.nminority, c.K / 2);
        cr_assert_null(r.opts.minority);
        check_file(names[t], "minority", &r);
        check_file(names[t], "minority", &n);
        cl_free(mino);
        free_case(&c);
    }
}

/* Balanced without a set: the group is absent and its keys NAN; unequal
 * counts: present, minority = fewer samples than the largest class. */
Test(nc_imbalance, automatic_set)
{
    ncase c;
    load_case("tall", &c);
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, NULL, &r), CL_OK);
    cr_assert_not(cl_nc_has_group(&r, CL_NC_GROUP_IMBALANCE));
    cr_assert(cl_nc_has_group(&r, CL_NC_GROUP_BASE));
    for (int i = 0; i < cl_nc_nkeys(); i++)
        if (cl_nc_key_group(i) == CL_NC_GROUP_IMBALANCE)
            cr_assert(isnan(cl_nc_key_value(&r, i)), "%s", cl_nc_key_name(i));
    free_case(&c);
    load_case("unbal", &c); /* counts 5, 12, 30, 50, 60: four minority classes */
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, NULL, &r), CL_OK);
    cr_assert(cl_nc_has_group(&r, CL_NC_GROUP_IMBALANCE));
    cr_assert_eq(r.nminority, 4);
    cr_assert(isfinite(r.minority_cos_W) && isfinite(r.minority_cos_M));
    cr_assert(isnan(r.majority_cos_W) && isnan(r.majority_cos_M)); /* one majority class */
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, NULL, NULL, NULL, &r), CL_OK);
    cr_assert(isnan(r.minority_cos_W) && isfinite(r.minority_cos_M));
    free_case(&c);
}

/* Keys and groups: base keys first in the published order, then the
 * imbalance and gnc keys; every group has a name. */
Test(nc_imbalance, key_groups)
{
    int seen[CL_NC_NGROUPS] = {0}, last = 0;
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        int g = cl_nc_key_group(i);
        cr_assert(g >= last, "%s out of group order", cl_nc_key_name(i));
        last = g;
        seen[g]++;
    }
    cr_assert_eq(seen[CL_NC_GROUP_BASE], 17);
    cr_assert_eq(seen[CL_NC_GROUP_IMBALANCE], 4);
    cr_assert_eq(seen[CL_NC_GROUP_GNC], 5);
    cr_assert_str_eq(cl_nc_group_name(CL_NC_GROUP_IMBALANCE), "imbalance");
    cr_assert_str_eq(cl_nc_key_name(17), "minority_cos_W");
}

/* Closed form (D = 3 < K-1, so NC1 keeps 3 eigenpairs): the majority
 * means a unit triangle in the xy plane, the minority means (0,0,1) and
 * (0,0,2). mu_G = (0,0,0.6): the centred minority means stay on one ray
 * (cosine 1), the majority ones get z = -0.6, cosine (-0.5 + 0.36)/1.36.
 * W: the same directions, rows scaled. The stream copies the set, so the
 * caller's array may go before the result. */
Test(nc_imbalance, collapsed_minority_closed_form)
{
    enum { K = 5, D = 3, N = 22 };
    const double mean[K][D] = {{1, 0, 0}, {-0.5, 0.8660254037844386, 0},
                               {-0.5, -0.8660254037844386, 0}, {0, 0, 1}, {0, 0, 2}};
    const int cnt[K] = {6, 6, 6, 2, 2};
    float H[N * D], W[K * D];
    int32_t y[N];
    for (int c = 0, i = 0; c < K; c++)
        for (int k = 0; k < cnt[c]; k++, i++) {
            y[i] = c;
            for (int d = 0; d < D; d++) /* +-0.1 noise, zero mean per class */
                H[i * D + d] = (float)(mean[c][d] + (d != c % D ? 0 : k % 2 ? 0.1 : -0.1));
        }
    for (int c = 0; c < K; c++)
        for (int d = 0; d < D; d++) W[c * D + d] = (float)(mean[c][d] * (c + 1));
    cl_nc_stream *s;
    unsigned char *mino = cl_alloc_array(K, 1, "minority");
    mino[3] = mino[4] = 1;
    cl_nc_opts o = cl_nc_opts_default();
    o.minority = mino;
    cr_assert_eq(cl_nc_stream_create(&s, D, K, W, NULL, &o), CL_OK);
    cl_free(mino);
    cl_nc_result r;
    cr_assert_eq(cl_nc_stream_feed1(s, H, N, D, y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    cr_assert_eq(cl_nc_stream_feed2(s, H, N, D, y), CL_OK);
    cr_assert_eq(cl_nc_stream_result(s, &r), CL_OK, "%s", cl_errmsg());
    cl_nc_stream_destroy(s);
    cr_assert_float_eq(r.minority_cos_W, 1.0, 1e-6);
    cr_assert_float_eq(r.majority_cos_W, -0.5, 1e-6);
    cr_assert_float_eq(r.minority_cos_M, 1.0, 1e-6);
    cr_assert_float_eq(r.majority_cos_M, (-0.5 + 0.36) / 1.36, 1e-6);
}

/* `collapse analyze --minority-classes`: the JSON against the reference;
 * bad lists are one-line errors naming the flag. */
Test(nc_imbalance, cli_minority_classes)
{
    static char out[1 << 16];
    cr_assert_eq(tc_run_capture("analyze --json --no-gnc --features " FIX "tall/H.npy --labels " FIX
                                "tall/y.npy --weights " FIX "tall/W.npy --bias " FIX
                                "tall/b.npy --minority-classes 1,3-3,5",
                                out, sizeof out),
                 0, "%s", out);
    cr_assert(strstr(out, "\"nminority\": 3"), "%s", out);
    double *e;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f64(FIX "tall/expected_minority.npy", &e, &nd, sh), CL_OK);
    for (int i = 17; i < 21; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\": ", cl_nc_key_name(i));
        const char *k = strstr(out, pat);
        cr_assert_not_null(k, "%s", out);
        cr_expect(close_rel(strtod(k + strlen(pat), NULL), e[i], 1e-9), "%s", pat);
    }
    cl_free(e);
    const char *bad[] = {"3-1", "a", "1,,2", "2-", "-1"};
    for (int t = 0; t < 5; t++) {
        char args[512];
        snprintf(args, sizeof args,
                 "analyze --features " FIX "tall/H.npy --labels " FIX
                 "tall/y.npy --minority-classes=%s", bad[t]);
        cr_assert_eq(tc_run_capture(args, out, sizeof out), 2, "%s: %s", bad[t], out);
        cr_assert(strstr(out, "--minority-classes") && strchr(out, '\n') == strrchr(out, '\n'),
                  "%s", out);
    }
    cr_assert_eq(tc_run_capture("analyze --features " FIX "tall/H.npy --labels " FIX
                                "tall/y.npy --minority-classes 4-6",
                                out, sizeof out),
                 1, "%s", out);
    cr_assert(strstr(out, "--minority-classes 4-6: class 6 is out of range"), "%s", out);
}
