#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/optim.h"

/* Layout: [0,2) body (group 0), [2,3) classifier (group 1), [3,4) frozen,
 * [4,5) in no range. lr 0.1, wd 0.01 (body) / 0.1 (classifier); gradients
 * g0 = 0.1, g1 = 0.2*(s+1), g2 = -0.3 + 0.1*s at step s = 0, 1, 2.
 * Expected rows: torch 1.13 float32 (two param groups), after each step. */
static void run(cl_optim_cfg c, const double want[3][3])
{
    const cl_param_range R[3] = {
        {.off = 0, .len = 2, .group = 0}, {.off = 2, .len = 1, .group = 1},
        {.off = 3, .len = 1, .group = 0, .frozen = 1}};
    c.wd[0] = 0.01;
    c.wd[1] = 0.1;
    cl_optim *o;
    cr_assert_eq(cl_optim_create(&o, &c, 5, R, 3), CL_OK, "%s", cl_errmsg());
    float p[5] = {1.f, -2.f, 0.5f, 3.f, 7.f};
    for (int s = 0; s < 3; s++) {
        float g[5] = {0.1f, 0.2f * (s + 1), -0.3f + 0.1f * s, 1.f, 1.f};
        cl_optim_step(o, p, g, 0.1);
        for (int i = 0; i < 3; i++)
            cr_assert(fabs(p[i] - want[s][i]) <= 1e-6 * fabs(want[s][i]),
                      "%s step %d p[%d] = %.9g want %.9g", cl_optim_kind_name(c.kind), s, i, p[i],
                      want[s][i]);
        cr_assert(p[3] == 3.f && p[4] == 7.f, "frozen/unranged parameter changed");
    }
    cr_assert_eq(o->step, 3);
    int64_t n = o->state_len / 5;
    for (int64_t k = 0; k < n; k++)
        cr_assert(o->state[k * 5 + 3] == 0.f && o->state[k * 5 + 4] == 0.f, "frozen state changed");
    cl_optim_reset(o);
    cr_assert_eq(o->step, 0);
    for (int64_t i = 0; i < o->state_len; i++) cr_assert(o->state[i] == 0.f);
    cl_optim_destroy(o);
}

Test(optim, sgd_momentum)
{
    /* step 0 by hand: d = 0.1 + 0.01*1 = 0.11, buf = d, p = 1 - 0.1*0.11 = 0.989;
     * step 1: d = 0.1 + 0.01*0.989 = 0.10989, buf = 0.9*0.11 + d = 0.20889,
     *         p = 0.989 - 0.020889 = 0.968111 */
    const double want[3][3] = {{0.989, -2.018, 0.525},
                               {0.968111, -2.07218194, 0.562249959},
                               {0.93834281, -2.17887354, 0.600152433}};
    cl_optim_cfg c = cl_optim_cfg_default(CL_OPTIM_SGD);
    run(c, want);
}

Test(optim, sgd_nesterov)
{
    /* step 0: d = 0.11, buf = 0.11, d = 0.11 + 0.9*0.11 = 0.209, p = 0.9791 */
    const double want[3][3] = {{0.9791, -2.0342, 0.5475},
                               {0.949329674, -2.12091494, 0.595347524},
                               {0.911613882, -2.27475953, 0.633026183}};
    cl_optim_cfg c = cl_optim_cfg_default(CL_OPTIM_SGD);
    c.nesterov = 1;
    run(c, want);
}

Test(optim, sgd_plain_has_no_state)
{
    const double want[3][3] = {{0.989, -2.018, 0.525},
                               {0.978011012, -2.05598187, 0.53974998},
                               {0.967033029, -2.11392593, 0.544352472}};
    cl_optim_cfg c = cl_optim_cfg_default(CL_OPTIM_SGD);
    c.momentum = 0;
    run(c, want);
    cl_optim *o;
    cr_assert_eq(cl_optim_create(&o, &c, 5, NULL, 0), CL_OK);
    cr_assert_eq(o->state_len, 0);
    cl_optim_destroy(o);
}

Test(optim, adam)
{
    /* step 0: m/(1-b1) = g', v/(1-b2) = g'^2, so p -= lr * g'/(|g'| + eps) = 0.1 */
    const double want[3][3] = {{0.900000036, -2.0999999, 0.599999964},
                               {0.800024867, -2.19595838, 0.69482857},
                               {0.700091362, -2.29122257, 0.77448976}};
    run(cl_optim_cfg_default(CL_OPTIM_ADAM), want);
}

Test(optim, adamw)
{
    /* step 0: p = 1*(1 - 0.1*0.01) - 0.1 = 0.899 */
    const double want[3][3] = {{0.899000049, -2.09800005, 0.594999969},
                               {0.798101008, -2.19242024, 0.686085224},
                               {0.697302938, -2.28602791, 0.768586457}};
    cl_optim_cfg c = cl_optim_cfg_default(CL_OPTIM_ADAMW);
    run(c, want);
    cl_optim *o;
    cr_assert_eq(cl_optim_create(&o, &c, 5, NULL, 0), CL_OK);
    cr_assert_eq(o->state_len, 10);
    cl_optim_destroy(o);
}

Test(optim, bad_config_and_ranges)
{
    cl_optim *o = (cl_optim *)1;
    cl_optim_cfg c = cl_optim_cfg_default(CL_OPTIM_SGD);
    cl_param_range r = {.off = 3, .len = 3, .group = 0};
    cr_assert_eq(cl_optim_create(&o, &c, 5, &r, 1), CL_EINVAL);
    cr_assert_null(o);
    cr_assert_neq(strstr(cl_errmsg(), "outside"), NULL, "%s", cl_errmsg());
    cl_param_range two[2] = {{.off = 0, .len = 3}, {.off = 2, .len = 2}};
    cr_assert_eq(cl_optim_create(&o, &c, 5, two, 2), CL_EINVAL);
    cr_assert_neq(strstr(cl_errmsg(), "overlap"), NULL, "%s", cl_errmsg());
    cl_param_range g2 = {.off = 0, .len = 1, .group = 2};
    cr_assert_eq(cl_optim_create(&o, &c, 5, &g2, 1), CL_EINVAL);
    c.wd[1] = -1;
    cr_assert_eq(cl_optim_create(&o, &c, 5, NULL, 0), CL_EINVAL);
    cr_assert_neq(strstr(cl_errmsg(), "group 1"), NULL, "%s", cl_errmsg());
    c = cl_optim_cfg_default(CL_OPTIM_SGD);
    c.momentum = 0;
    c.nesterov = 1;
    cr_assert_eq(cl_optim_create(&o, &c, 5, NULL, 0), CL_EINVAL);
    c = cl_optim_cfg_default(CL_OPTIM_ADAM);
    c.beta2 = 1.0;
    cr_assert_eq(cl_optim_create(&o, &c, 5, NULL, 0), CL_EINVAL);
    cl_optim_kind kind = CL_OPTIM_SGD;
    cr_assert_eq(cl_optim_kind_parse("adamw", &kind), CL_OK);
    cr_assert_eq(kind, CL_OPTIM_ADAMW);
    cr_assert_eq(cl_optim_kind_parse("rmsprop", &kind), CL_EINVAL);
    cr_assert_neq(strstr(cl_errmsg(), "rmsprop"), NULL);
}

Test(optim, big_range_parallel_matches_serial_formula)
{
    /* Long enough to take the OpenMP path; every element must follow the
     * same formula as the scalar reference. */
    enum { N = 100003 };
    float *p = malloc(N * sizeof *p), *g = malloc(N * sizeof *g);
    for (int i = 0; i < N; i++) {
        p[i] = (float)(i % 17) * 0.1f - 0.8f;
        g[i] = (float)(i % 13) * 0.01f - 0.06f;
    }
    cl_param_range r = {.off = 0, .len = N, .group = 0};
    cl_optim_cfg c = cl_optim_cfg_default(CL_OPTIM_SGD);
    cl_optim *o;
    cr_assert_eq(cl_optim_create(&o, &c, N, &r, 1), CL_OK);
    cl_optim_step(o, p, g, 0.05);
    for (int i = 0; i < N; i++) {
        float p0 = (float)(i % 17) * 0.1f - 0.8f, g0 = (float)(i % 13) * 0.01f - 0.06f;
        float d = g0 + 5e-4f * p0;
        cr_assert(p[i] == p0 - 0.05f * d, "element %d", i);
        cr_assert(o->state[i] == d);
    }
    cl_optim_destroy(o);
    free(p);
    free(g);
}

Test(optim, grad_norm_and_finite)
{
    float x[5] = {3.f, 0.f, -4.f, 0.f, 0.f};
    cr_assert(fabs(cl_grad_norm(x, 5) - 5.0) < 1e-12);
    cr_assert_eq(cl_grad_norm(x, 0), 0.0);
    cr_assert_eq(cl_all_finite(x, 5), 1);
    x[3] = NAN;
    cr_assert_eq(cl_all_finite(x, 5), 0);
    x[3] = -INFINITY;
    cr_assert_eq(cl_all_finite(x, 5), 0);
    x[3] = 3.4e38f; /* huge but finite: x*0 == 0 */
    cr_assert_eq(cl_all_finite(x, 5), 1);
    /* long vectors (the vector-lane path and its tail): one bad value anywhere */
    enum { L = 1003 };
    static float v[L];
    for (int i = 0; i < L; i++) v[i] = (float)(i % 7) - 3.0f;
    cr_assert_eq(cl_all_finite(v, L), 1);
    const int at[] = {0, 1, 15, 16, 517, 1000, 1002};
    for (int k = 0; k < 7; k++) {
        float keep = v[at[k]];
        v[at[k]] = k % 2 ? INFINITY : NAN;
        cr_assert_eq(cl_all_finite(v, L), 0, "bad value at %d", at[k]);
        v[at[k]] = keep;
    }
    cr_assert_eq(cl_all_finite(v, L), 1);
}
