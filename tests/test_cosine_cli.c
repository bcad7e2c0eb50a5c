/* The cosine classifier head end to end: `collapse train --classifier cosine`
 * writes a study whose NC4 is the cosine head's own decision. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "cli_common.h"
#include "common.h"
#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"

/* A run with the cosine head: the study's nc4/acc are the cosine decision's,
 * reproduced from the saved features with opts.nc4_cosine (and differ from
 * argmax W h when the row norms differ). */
Test(cosine_cli, study_uses_the_cosine_decision, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "cosrun");
    char model[256], run[256], p[320];
    sub(model, sizeof model, "%s/m.cfg", c.dir);
    FILE *f = fopen(model, "w");
    fputs("[flat]\nkind = flatten\n[fc1]\nkind = linear\nout = 32\n[relu]\nkind = relu\n"
          "[feat]\nkind = linear\nout = 2\n[fc]\nkind = linear\n",
          f);
    fclose(f);
    sub(run, sizeof run, "%s/run", c.dir);
    const char *a[] = {"train",       "--model",
                       model,         "--data",
                       "fashion",     "--train-per-class",
                       "30",          "--test-per-class",
                       "5",           "--epochs",
                       "2",           "--batch",
                       "50",          "--classifier",
                       "cosine",      "--temperature",
                       "5",           "--optimizer",
                       "adam",        "--lr",
                       "1e-3",        "--no-plots",
                       "--no-layers", "--out",
                       run,           NULL};
    run_ok(&c, a);
    cl_csv m;
    sub(p, sizeof p, "%s/metrics.csv", run);
    cr_assert_eq(cl_csv_read(p, "", &m), CL_OK, "%s", cl_errmsg());
    int cn;
    cr_assert_eq(cl_csv_need(&m, "nc4", &cn), CL_OK);
    const double nc4 = m.num[(m.nrows - 1) * m.ncols + cn];
    cl_csv_free(&m);
    float *H, *W;
    int32_t *y;
    int nd;
    int64_t sh[4], sw[4], sy[4];
    sub(p, sizeof p, "%s/features_train.npy", run);
    cr_assert_eq(cl_npy_read_f32(p, &H, &nd, sh), CL_OK, "%s", cl_errmsg());
    sub(p, sizeof p, "%s/W.npy", run);
    cr_assert_eq(cl_npy_read_f32(p, &W, &nd, sw), CL_OK);
    sub(p, sizeof p, "%s/labels_train.npy", run);
    cr_assert_eq(cl_npy_read_i32(p, &y, &nd, sy), CL_OK);
    cr_assert(sh[1] == 2 && sw[0] == 10 && sw[1] == 2);
    cl_nc_opts o = cl_nc_opts_default();
    o.nc4_cosine = 1;
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(H, sh[0], 2, y, 10, W, NULL, &o, &r), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_float_eq(r.nc4, nc4, 1e-12, "study nc4 %g, cosine decision %g", nc4, r.nc4);
    cl_free(H);
    cl_free(W);
    cl_free(y);
    ctx_done(&c);
}
