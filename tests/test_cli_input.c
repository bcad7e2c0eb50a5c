/* Float input data through the CLI ($COLLAPSE_BIN): NaN or Inf in the .npy
 * files of `collapse analyze` is refused when they are loaded. (The
 * datasets, IDX/CIFAR/PNG, are bytes and cannot hold NaN.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "collapse/npy.h"
#include "common.h"

/* NaN or Inf in a float .npy input of `collapse analyze` is refused at
 * load time: one line naming the file and the first bad element. */
Test(cli_input, nan_in_npy_input_is_refused_at_load)
{
    ctx c;
    ctx_init(&c, "cknan");
    char fp[300], yp[300], wp[300];
    sub(fp, sizeof fp, "%s/features.npy", c.dir);
    sub(yp, sizeof yp, "%s/labels.npy", c.dir);
    sub(wp, sizeof wp, "%s/W.npy", c.dir);
    float h[12], w[4] = {1, 0, 0, 1};
    int32_t y[6] = {0, 1, 0, 1, 0, 1};
    for (int i = 0; i < 12; i++) h[i] = (float)(i % 5) - 1.5f;
    h[7] = NAN; /* [3, 1] */
    int64_t sh[2] = {6, 2}, sy[1] = {6}, sw[2] = {2, 2};
    cr_assert_eq(cl_npy_write(fp, CL_NPY_F32, h, 2, sh), CL_OK);
    cr_assert_eq(cl_npy_write(yp, CL_NPY_I32, y, 1, sy), CL_OK);
    const char *a[] = {"analyze", "--features", fp, "--labels", yp, NULL};
    cr_assert_eq(run(&c, a), 1);
    char *err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, fp) && strstr(err, "[3, 1]") && strstr(err, "nan") &&
                  !strchr(err, '\n')[1],
              "%s", err);
    free(err);
    h[7] = 0.5f;
    w[2] = INFINITY; /* [1, 0] */
    cr_assert_eq(cl_npy_write(fp, CL_NPY_F32, h, 2, sh), CL_OK);
    cr_assert_eq(cl_npy_write(wp, CL_NPY_F32, w, 2, sw), CL_OK);
    const char *b[] = {"analyze", "--features", fp, "--labels", yp, "--weights", wp, NULL};
    cr_assert_eq(run(&c, b), 1);
    err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, wp) && strstr(err, "[1, 0]") && strstr(err, "inf"), "%s", err);
    free(err);
    ctx_done(&c);
}
