/* Learning-rate schedules: constant, Papyan's multistep, explicit
 * milestones and cosine against PyTorch, linear warmup, parse errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/sched.h"

static void near(double a, double b) { cr_assert(fabs(a - b) <= 1e-12 * fabs(b) + 1e-15, "%.17g vs %.17g", a, b); }

Test(sched, constant_and_papyan_multistep)
{
    cl_sched s = cl_sched_make(CL_SCHED_CONST, 0.1, 10);
    cr_assert_eq(cl_sched_check(&s), CL_OK);
    near(cl_sched_lr(&s, 0), 0.1);
    near(cl_sched_lr(&s, 9), 0.1);
    /* 350 epochs (Papyan): milestones 116 and 233 */
    s = cl_sched_make(CL_SCHED_MULTISTEP, 0.1, 350);
    near(cl_sched_lr(&s, 115), 0.1);
    near(cl_sched_lr(&s, 116), 0.1 * 0.1);
    near(cl_sched_lr(&s, 232), 0.1 * 0.1);
    near(cl_sched_lr(&s, 233), 0.1 * 0.1 * 0.1);
    near(cl_sched_lr(&s, 349), 0.1 * 0.1 * 0.1);
    /* short runs: a milestone at epoch 0 is dropped (2 epochs: only m2 = 1) */
    s = cl_sched_make(CL_SCHED_MULTISTEP, 0.1, 2);
    near(cl_sched_lr(&s, 0), 0.1);
    near(cl_sched_lr(&s, 0.5), 0.1);
    near(cl_sched_lr(&s, 1), 0.1 * 0.1);
    s = cl_sched_make(CL_SCHED_MULTISTEP, 0.1, 1);
    near(cl_sched_lr(&s, 0), 0.1);
    near(cl_sched_lr(&s, 0.9), 0.1);
}

Test(sched, explicit_milestones_pytorch)
{
    /* MultiStepLR(milestones=[2,5], gamma=0.5): epochs 0,1 -> 1; 2,3,4 -> 0.5; 5.. -> 0.25 */
    cl_sched s = cl_sched_make(CL_SCHED_MULTISTEP, 1.0, 10);
    cr_assert_eq(cl_sched_parse("step=2,5", &s), CL_OK, "%s", cl_errmsg());
    s.gamma = 0.5;
    cr_assert_eq(cl_sched_check(&s), CL_OK);
    const double want[7] = {1, 1, 0.5, 0.5, 0.5, 0.25, 0.25};
    for (int e = 0; e < 7; e++) near(cl_sched_lr(&s, e), want[e]);
}

Test(sched, cosine_pytorch)
{
    /* CosineAnnealingLR(T_max=4, eta_min=0.01), base 0.1: closed form at t = 0..4 */
    cl_sched s = cl_sched_make(CL_SCHED_COSINE, 0.1, 4);
    cr_assert_eq(cl_sched_parse("cosine=0.01", &s), CL_OK);
    cr_assert_eq(cl_sched_check(&s), CL_OK);
    near(cl_sched_lr(&s, 0), 0.1);
    near(cl_sched_lr(&s, 1), 0.01 + 0.09 * (1 + sqrt(0.5)) / 2);
    near(cl_sched_lr(&s, 2), 0.055);
    near(cl_sched_lr(&s, 4), 0.01);
    near(cl_sched_lr(&s, 9), 0.01);
}

Test(sched, warmup_linear_then_main)
{
    cl_sched s = cl_sched_make(CL_SCHED_COSINE, 0.2, 12);
    s.warmup = 4;
    s.warmup_start = 0.0;
    cr_assert_eq(cl_sched_check(&s), CL_OK);
    near(cl_sched_lr(&s, 0), 0.0);
    near(cl_sched_lr(&s, 1), 0.05);
    near(cl_sched_lr(&s, 3), 0.15);
    near(cl_sched_lr(&s, 4), 0.2);            /* cosine starts after warmup */
    near(cl_sched_lr(&s, 8), 0.1);            /* halfway through [4, 12] */
    near(cl_sched_lr(&s, 12), 0.0);
    s = cl_sched_make(CL_SCHED_CONST, 1.0, 10);
    s.warmup = 2;
    s.warmup_start = 0.5;
    near(cl_sched_lr(&s, 0), 0.5);
    near(cl_sched_lr(&s, 1), 0.75);
    near(cl_sched_lr(&s, 2), 1.0);
}

Test(sched, parse_errors)
{
    cl_sched s = cl_sched_make(CL_SCHED_CONST, 0.1, 10);
    const char *bad[] = {"linear", "step=3,2", "step=a", "step=1,", "cosine=-1", "const=2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(cl_sched_parse(bad[i], &s), CL_EINVAL, "'%s' accepted", bad[i]);
        cr_assert_neq(strstr(cl_errmsg(), bad[i]), NULL, "%s", cl_errmsg());
    }
    cr_assert_eq(s.kind, CL_SCHED_CONST);
    s.lr = 0;
    cr_assert_eq(cl_sched_check(&s), CL_EINVAL);
    s = cl_sched_make(CL_SCHED_COSINE, 0.1, 10);
    s.min_lr = 0.5;
    cr_assert_eq(cl_sched_check(&s), CL_EINVAL);
}
