/* Collapse analyzer, error paths: empty class, label out of range, pass
 * order and counts, degenerate means, non-finite features. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "nc_common.h"

Test(nc_errors, error_empty_class)
{
    ncase c;
    load_case("tall", &c);
    /* K = 7 while labels only reach 5: class 6 is empty. */
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K + 1, NULL, NULL, NULL, &r),
                 CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "class 6 has no samples"), "%s", cl_errmsg());
    free_case(&c);
}

Test(nc_errors, error_label_out_of_range)
{
    ncase c;
    load_case("tall", &c);
    c.y[17] = c.K;
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, NULL, &r), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "sample 17"), "%s", cl_errmsg());
    c.y[17] = -1;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, c.b, NULL, &r), CL_EINVAL);
    free_case(&c);
}

Test(nc_errors, error_pass_order_and_counts)
{
    ncase c;
    load_case("tall", &c);
    cl_nc_stream *s;
    cl_nc_result r;
    cr_assert_eq(cl_nc_stream_create(&s, c.dim, c.K, NULL, NULL, NULL), CL_OK);
    cr_assert_eq(cl_nc_stream_feed2(s, c.H, c.N, c.dim, c.y), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "before end1"), "%s", cl_errmsg());
    cr_assert_eq(cl_nc_stream_result(s, &r), CL_EINVAL);
    cr_assert_eq(cl_nc_stream_feed1(s, c.H, c.N, c.dim, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_EINVAL);
    cr_assert_eq(cl_nc_stream_feed1(s, c.H, c.N, c.dim, c.y), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "after end1"), "%s", cl_errmsg());
    /* Pass 2 short of samples. */
    cr_assert_eq(cl_nc_stream_feed2(s, c.H, c.N - 1, c.dim, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_result(s, &r), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "pass 2 saw"), "%s", cl_errmsg());
    /* Same total, different labels. */
    cl_nc_stream_reset(s);
    cr_assert_eq(cl_nc_stream_feed1(s, c.H, c.N, c.dim, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    int32_t *y2 = cl_alloc_array((size_t)c.N, sizeof(int32_t), "y2");
    memcpy(y2, c.y, (size_t)c.N * sizeof(int32_t));
    y2[0] = (y2[0] + 1) % c.K;
    cr_assert_eq(cl_nc_stream_feed2(s, c.H, c.N, c.dim, y2), CL_OK);
    cr_assert_eq(cl_nc_stream_result(s, &r), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "in pass 2 but"), "%s", cl_errmsg());
    cl_nc_stream_destroy(s);
    cl_free(y2);
    /* Bad sizes. */
    cr_assert_eq(cl_nc_stream_create(&s, 0, 3, NULL, NULL, NULL), CL_EINVAL);
    cr_assert_eq(cl_nc_stream_create(&s, 4, 1, NULL, NULL, NULL), CL_EINVAL);
    free_case(&c);
}

Test(nc_errors, degenerate_means_are_not_an_error)
{
    /* Classes 1 and 2 share a mean: the means span fewer than K-1 dimensions.
     * Not an error since the rank-deficient contract: NC1 and D are NAN,
     * rank_M = 1, the rest is computed (tests/test_nc_rank.c has the keys). */
    enum { K = 3, D = 4, N = 6 };
    float H[N * D] = {1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0,
                      0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0};
    int32_t y[N] = {0, 0, 1, 1, 2, 2};
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(H, N, D, y, K, NULL, NULL, NULL, &r), CL_OK, "%s", cl_errmsg());
    cr_expect_eq(r.rank_M, 1);
    cr_expect_eq(r.nc1_defined, 0);
    cr_expect(isnan(r.nc1) && isnan(r.fuzz));
    /* every sample sits on its class mean: tr(Sw) = 0 */
    cr_expect_eq(r.nc1_quotient, 0.0, "%g", r.nc1_quotient);
    cr_expect_eq(r.ncc_acc, 2.0 / 3.0, "%g", r.ncc_acc); /* class 2 ties with 1: first wins */
}

Test(nc_errors, error_non_finite)
{
    ncase c;
    load_case("tall", &c);
    cl_nc_stream *s;
    cl_nc_result r;
    /* Finite in pass 1, NaN in pass 2. */
    cr_assert_eq(cl_nc_stream_create(&s, c.dim, c.K, NULL, NULL, NULL), CL_OK);
    cr_assert_eq(cl_nc_stream_feed1(s, c.H, c.N, c.dim, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    c.H[5 * c.dim + 2] = NAN;
    cr_assert_eq(cl_nc_stream_feed2(s, c.H, c.N, c.dim, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_result(s, &r), CL_ENUMERIC);
    cr_assert(strstr(cl_errmsg(), "pass 2 are not finite"), "%s", cl_errmsg());
    /* NaN in pass 1: end1 fails and the stream refuses work until reset. */
    cl_nc_stream_reset(s);
    cr_assert_eq(cl_nc_stream_feed1(s, c.H, c.N, c.dim, c.y), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_ENUMERIC);
    cr_assert(strstr(cl_errmsg(), "not finite"), "%s", cl_errmsg());
    cr_assert_eq(cl_nc_stream_end1(s), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "reset"), "%s", cl_errmsg());
    cr_assert_eq(cl_nc_stream_feed2(s, c.H, c.N, c.dim, c.y), CL_EINVAL);
    cl_nc_stream_destroy(s);
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.dim, c.y, c.K, NULL, NULL, NULL, &r),
                 CL_ENUMERIC);
    cr_assert(strstr(cl_errmsg(), "not finite"), "%s", cl_errmsg());
    free_case(&c);
}
