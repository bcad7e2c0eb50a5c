/* src/cli/npyin.c through `collapse analyze`: the three modes (labels,
 * --targets, --thresholds) read their float inputs with one helper, so a
 * NaN is refused the same way, naming the flag, file and [row, col]; in
 * --thresholds mode also in the head w, before any analysis. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "collapse/npy.h"
#include "common.h"

static void put(ctx *c, char *path, size_t cap, const char *name, cl_npy_dtype t,
                const void *v, int nd, const int64_t *sh)
{
    sub(path, cap, "%s/%s", c->dir, name);
    cr_assert_eq(cl_npy_write(path, t, v, nd, sh), CL_OK, "%s", cl_errmsg());
}

static void refused(ctx *c, const char *const *args, const char *want)
{
    cr_assert_eq(run(c, args), 1);
    char *err = tc_slurp(c->err, NULL);
    cr_assert(err && strstr(err, want), "want '%s' in: %s", want, err);
    free(err);
}

Test(cli_npyin, nan_refused_by_every_analyze_mode, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "npyin_nan");
    float H[6 * 3], Y[6 * 2], w[3] = {1, NAN, 0};
    for (int i = 0; i < 18; i++) H[i] = (float)((i * 7) % 5) - 2.0f;
    for (int i = 0; i < 12; i++) Y[i] = (float)((i * 3) % 4);
    Y[5] = NAN; /* row 2, column 1 */
    int32_t y[6] = {0, 0, 1, 1, 2, 2};
    double b[2] = {-1, 1};
    char hp[200], yp[200], lp[200], wp[200], bp[200], want[300];
    put(&c, hp, sizeof hp, "H.npy", CL_NPY_F32, H, 2, (int64_t[]){6, 3});
    put(&c, yp, sizeof yp, "Y.npy", CL_NPY_F32, Y, 2, (int64_t[]){6, 2});
    put(&c, lp, sizeof lp, "y.npy", CL_NPY_I32, y, 1, (int64_t[]){6});
    put(&c, wp, sizeof wp, "w.npy", CL_NPY_F32, w, 2, (int64_t[]){1, 3});
    put(&c, bp, sizeof bp, "b.npy", CL_NPY_F64, b, 1, (int64_t[]){2});
    const char *reg[] = {"analyze", "--features", hp, "--targets", yp, NULL};
    sub(want, sizeof want, "--targets %s: non-finite value nan at index [2, 1]", yp);
    refused(&c, reg, want);
    const char *onc[] = {"analyze", "--features", hp, "--labels", lp, "--weights", wp,
                         "--thresholds", bp, NULL};
    sub(want, sizeof want, "--weights %s: non-finite value nan at index [0, 1]", wp);
    refused(&c, onc, want);
    const char *nc[] = {"analyze", "--features", yp, "--labels", lp, NULL};
    sub(want, sizeof want, "--features %s: non-finite value nan at index [2, 1]", yp);
    refused(&c, nc, want);
    ctx_done(&c);
}

/* cl_opt_value takes "--flag=VALUE"; the mode switch of analyze did not
 * (it sent "--thresholds=b.npy" to the labels mode as an unknown flag). */
Test(cli_npyin, mode_flags_with_equals, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "npyin_eq");
    float H[6 * 3], Y[6], w[3] = {1, 0.5f, 0};
    for (int i = 0; i < 18; i++) H[i] = (float)((i * 7) % 5) - 2.0f + (float)(i / 6);
    for (int i = 0; i < 6; i++) Y[i] = (float)i;
    int32_t y[6] = {0, 0, 1, 1, 2, 2};
    double b[2] = {-1, 1};
    char hp[200], yp[200], lp[200], wp[200], bp[200], eq[240];
    put(&c, hp, sizeof hp, "H.npy", CL_NPY_F32, H, 2, (int64_t[]){6, 3});
    put(&c, yp, sizeof yp, "Y.npy", CL_NPY_F32, Y, 1, (int64_t[]){6});
    put(&c, lp, sizeof lp, "y.npy", CL_NPY_I32, y, 1, (int64_t[]){6});
    put(&c, wp, sizeof wp, "w.npy", CL_NPY_F32, w, 2, (int64_t[]){1, 3});
    put(&c, bp, sizeof bp, "b.npy", CL_NPY_F64, b, 1, (int64_t[]){2});
    sub(eq, sizeof eq, "--thresholds=%s", bp);
    const char *onc[] = {"analyze", "--features", hp, "--labels", lp, "--weights", wp, eq, NULL};
    run_ok(&c, onc);
    char *out = tc_slurp(c.out, NULL);
    cr_assert(out && strstr(out, "onc3_tau"), "%s", out);
    free(out);
    sub(eq, sizeof eq, "--targets=%s", yp);
    const char *reg[] = {"analyze", "--features", hp, eq, NULL};
    run_ok(&c, reg);
    out = tc_slurp(c.out, NULL);
    cr_assert(out && strstr(out, "nrc1"), "%s", out);
    free(out);
    ctx_done(&c);
}
